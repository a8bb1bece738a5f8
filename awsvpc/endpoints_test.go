package awsvpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

const (
	atlasService = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	motoAccount  = "123456789012"
	// A well-formed id that no test creates.
	missingID = "vpce-0000000000000dead"
)

// lookupCase is what a table entry's setup hands to the test.
type lookupCase struct {
	api   awsvpc.EC2API
	id    string
	want  *awsvpc.Endpoint
	check func(t *testing.T) // extra assertions after the lookup
}

func TestLookupEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	tests := []struct {
		name         string
		notFoundWait time.Duration
		timeout      time.Duration // on the caller's ctx; 0 means 30s
		setup        func(t *testing.T) lookupCase
		wantErr      error // errors.Is must hold
		wantNotErr   error // errors.Is must not hold
		wantDeadline bool  // errors.Is(err, context.DeadlineExceeded)
	}{
		{
			name: "seeded interface endpoint",
			setup: func(t *testing.T) lookupCase {
				cfg := sharedConfig(t)
				s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: atlasService})
				if err != nil {
					t.Fatal(err)
				}
				return lookupCase{api: ec2.NewFromConfig(cfg), id: s.EndpointID, want: &awsvpc.Endpoint{
					ID: s.EndpointID, VPCID: s.VPCID, ServiceName: atlasService, State: "available",
					Type: "Interface", OwnerID: motoAccount, SubnetIDs: s.SubnetIDs,
				}}
			},
		},
		{
			name: "gateway endpoint for an aws service",
			setup: func(t *testing.T) lookupCase {
				cfg := sharedConfig(t)
				s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{})
				if err != nil {
					t.Fatal(err)
				}
				id, err := motoserver.CreateEndpoint(ctx, cfg, s.VPCID, nil, "com.amazonaws.us-east-1.s3", "Gateway")
				if err != nil {
					t.Fatal(err)
				}
				return lookupCase{api: ec2.NewFromConfig(cfg), id: id, want: &awsvpc.Endpoint{
					ID: id, VPCID: s.VPCID, ServiceName: "com.amazonaws.us-east-1.s3", State: "available",
					Type: "Gateway", OwnerID: motoAccount,
				}}
			},
		},
		{
			name: "deleted endpoint is still described",
			setup: func(t *testing.T) lookupCase {
				cfg := sharedConfig(t)
				s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: atlasService})
				if err != nil {
					t.Fatal(err)
				}
				c := ec2.NewFromConfig(cfg)
				if _, err := c.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{s.EndpointID}}); err != nil {
					t.Fatal(err)
				}
				return lookupCase{api: c, id: s.EndpointID, want: &awsvpc.Endpoint{
					ID: s.EndpointID, VPCID: s.VPCID, ServiceName: atlasService, State: "deleted",
					Type: "Interface", OwnerID: motoAccount, SubnetIDs: s.SubnetIDs,
				}}
			},
		},
		{
			name:         "missing id is retried then not found",
			notFoundWait: 2 * time.Second, // roomy: the first call can be slow while moto warms up
			setup: func(t *testing.T) lookupCase {
				api := &countingEC2{EC2API: ec2.NewFromConfig(sharedConfig(t))}
				return lookupCase{api: api, id: missingID, check: func(t *testing.T) {
					if n := api.calls.Load(); n < 2 {
						t.Errorf("DescribeVpcEndpoints called %d times, want a retry", n)
					}
				}}
			},
			wantErr: awsvpc.ErrEndpointNotFound,
		},
		{
			name:         "negative wait means one try",
			notFoundWait: -1,
			setup: func(t *testing.T) lookupCase {
				api := &countingEC2{EC2API: ec2.NewFromConfig(sharedConfig(t))}
				return lookupCase{api: api, id: missingID, check: func(t *testing.T) {
					if n := api.calls.Load(); n != 1 {
						t.Errorf("DescribeVpcEndpoints called %d times, want 1", n)
					}
				}}
			},
			wantErr: awsvpc.ErrEndpointNotFound,
		},
		{
			name:         "caller's deadline ends the wait without claiming not found",
			notFoundWait: 20 * time.Second,
			timeout:      400 * time.Millisecond,
			setup: func(t *testing.T) lookupCase {
				return lookupCase{api: ec2.NewFromConfig(sharedConfig(t)), id: missingID}
			},
			wantNotErr:   awsvpc.ErrEndpointNotFound,
			wantDeadline: true,
		},
		{
			name:         "not found on the first call, then created",
			notFoundWait: 5 * time.Second,
			setup:        setupAppearsLater,
		},
		{
			name:         "empty or foreign result counts as not found",
			notFoundWait: time.Second, // above the first backoff interval (250ms ± 30%)
			setup: func(t *testing.T) lookupCase {
				var calls int
				api := describeFunc(func(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
					calls++
					if calls == 1 {
						return &ec2.DescribeVpcEndpointsOutput{}, nil
					}
					// A response for some other endpoint must never be taken for ours.
					return &ec2.DescribeVpcEndpointsOutput{VpcEndpoints: []ec2types.VpcEndpoint{{VpcEndpointId: aws.String("vpce-0123456789abcdef0")}}}, nil
				})
				return lookupCase{api: api, id: missingID, check: func(t *testing.T) {
					if calls < 2 {
						t.Errorf("called %d times, want a retry", calls)
					}
				}}
			},
			wantErr: awsvpc.ErrEndpointNotFound,
		},
		{
			name: "throttling is retried by the SDK",
			setup: func(t *testing.T) lookupCase {
				cfg := sharedConfig(t)
				s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: atlasService})
				if err != nil {
					t.Fatal(err)
				}
				p := startFaultProxy(t, motoserver.Shared(t).URL, &faultProxy{
					match: ec2Action("DescribeVpcEndpoints"), faults: 1,
					status: http.StatusServiceUnavailable, ctype: "text/xml;charset=UTF-8",
					body: ec2Error("RequestLimitExceeded", "Request limit exceeded."),
				})
				return lookupCase{api: ec2Via(cfg, p.URL), id: s.EndpointID, want: &awsvpc.Endpoint{
					ID: s.EndpointID, VPCID: s.VPCID, ServiceName: atlasService, State: "available",
					Type: "Interface", OwnerID: motoAccount, SubnetIDs: s.SubnetIDs,
				}, check: func(t *testing.T) {
					if n := p.Matched(); n != 2 {
						t.Errorf("proxy saw %d DescribeVpcEndpoints requests, want 2", n)
					}
				}}
			},
		},
		{
			name:         "other API errors are not retried",
			notFoundWait: 5 * time.Second,
			setup: func(t *testing.T) lookupCase {
				p := startFaultProxy(t, motoserver.Shared(t).URL, &faultProxy{
					match: ec2Action("DescribeVpcEndpoints"), faults: 1,
					status: http.StatusForbidden, ctype: "text/xml;charset=UTF-8",
					body: ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation."),
				})
				return lookupCase{api: ec2Via(sharedConfig(t), p.URL), id: missingID, check: func(t *testing.T) {
					if n := p.Matched(); n != 1 {
						t.Errorf("proxy saw %d requests, want 1", n)
					}
				}}
			},
			wantNotErr: awsvpc.ErrEndpointNotFound,
		},
		{
			name: "empty id is refused",
			setup: func(t *testing.T) lookupCase {
				api := describeFunc(func(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
					t.Error("DescribeVpcEndpoints called for an empty id")
					return nil, errors.New("unexpected call")
				})
				return lookupCase{api: api}
			},
			wantNotErr: awsvpc.ErrEndpointNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lc := tt.setup(t)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()

			e := &awsvpc.Endpoints{EC2: lc.api, NotFoundWait: tt.notFoundWait}
			got, err := e.LookupEndpoint(ctx, lc.id)
			if lc.check != nil {
				defer lc.check(t)
			}

			if lc.want != nil {
				if err != nil {
					t.Fatalf("LookupEndpoint() error = %v", err)
				}
				if len(got.SubnetIDs) == 0 {
					got.SubnetIDs = nil // nil and empty mean the same here
				}
				// An interface endpoint has DNS names (the first is what Atlas
				// Data Federation takes); moto makes them up, from the id.
				if got.Type == "Interface" && (len(got.DNSNames) == 0 || !strings.HasPrefix(got.DNSNames[0], got.ID+"-")) {
					t.Errorf("DNSNames = %q, want the endpoint's own first", got.DNSNames)
				}
				got.DNSNames = nil
				if !reflect.DeepEqual(got, lc.want) {
					t.Errorf("LookupEndpoint() = %+v\nwant %+v", got, lc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("LookupEndpoint() = %+v, want an error", got)
			}
			t.Logf("error: %v", err)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not match %v", err, tt.wantErr)
			}
			if tt.wantNotErr != nil && errors.Is(err, tt.wantNotErr) {
				t.Errorf("error %v must not match %v", err, tt.wantNotErr)
			}
			if tt.wantDeadline != errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v: errors.Is(DeadlineExceeded) = %v, want %v", err, !tt.wantDeadline, tt.wantDeadline)
			}
			if !strings.HasPrefix(err.Error(), "describe vpc endpoint") || !strings.Contains(err.Error(), lc.id) {
				t.Errorf("error %q lacks context (operation and id)", err)
			}
		})
	}
}

// setupAppearsLater makes the endpoint exist only after the first
// DescribeVpcEndpoints call, which meets moto's real NotFound answer, as EC2
// does right after CreateVpcEndpoint. The id is known in advance because moto
// repeats its ids after the same random seed; that needs a server of its own.
func setupAppearsLater(t *testing.T) lookupCase {
	ctx := context.Background()
	srv := motoserver.StartT(t)
	cfg, err := srv.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() *motoserver.Seeded {
		t.Helper()
		if err := srv.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	create := func(s *motoserver.Seeded) (string, error) {
		if err := srv.SeedRandom(ctx, 42); err != nil {
			return "", err
		}
		return motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs, atlasService, "Interface")
	}
	// A rehearsal learns the id, then the state is wiped.
	id, err := create(fresh())
	if err != nil {
		t.Fatal(err)
	}
	s := fresh()

	var firstErr error
	api := &countingEC2{EC2API: ec2.NewFromConfig(cfg), after: func(call int32, err error) error {
		if call != 1 {
			return nil
		}
		firstErr = err
		got, cerr := create(s)
		if cerr != nil {
			return cerr
		}
		if got != id {
			return fmt.Errorf("moto created %s, rehearsal gave %s: ids no longer repeat after a seed", got, id)
		}
		return nil
	}}
	return lookupCase{api: api, id: id, want: &awsvpc.Endpoint{
		ID: id, VPCID: s.VPCID, ServiceName: atlasService, State: "available",
		Type: "Interface", OwnerID: motoAccount, SubnetIDs: s.SubnetIDs,
	}, check: func(t *testing.T) {
		var ae smithy.APIError
		if !errors.As(firstErr, &ae) || ae.ErrorCode() != "InvalidVpcEndpointId.NotFound" {
			t.Errorf("first call returned %v, want InvalidVpcEndpointId.NotFound", firstErr)
		}
		if n := api.calls.Load(); n != 2 {
			t.Errorf("DescribeVpcEndpoints called %d times, want 2", n)
		}
	}}
}
