package awsvpc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// uniqueService returns an Atlas-style service name no other test uses, since
// the service-name filter sees every endpoint on the shared moto_server.
func uniqueService(t *testing.T) string {
	t.Helper()
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "com.amazonaws.vpce.us-east-1.vpce-svc-" + hex.EncodeToString(b[:])[:17]
}

func ids(eps []awsvpc.Endpoint) []string {
	out := make([]string, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return out
}

// TestServiceEndpoints runs against moto: the service-name and state filters
// reach EC2, endpoints of other services and deleted ones are left out.
func TestServiceEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	c := ec2.NewFromConfig(cfg)
	svc, other := uniqueService(t), uniqueService(t)

	s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: svc})
	if err != nil {
		t.Fatal(err)
	}
	second, err := motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs[:1], svc, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs[1:], svc, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{deleted}}); err != nil {
		t.Fatal(err)
	}
	if _, err := motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs, other, "Interface"); err != nil {
		t.Fatal(err)
	}

	e := &awsvpc.Endpoints{EC2: c}
	tests := []struct {
		name   string
		states []string
		want   []string
	}{
		{"live states leave the deleted endpoint out", awsvpc.LiveStates, []string{s.EndpointID, second}},
		{"no states lists the deleted endpoint too", nil, []string{s.EndpointID, second, deleted}},
		{"only deleted", []string{"deleted"}, []string{deleted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.ServiceEndpoints(ctx, svc, tt.states...)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if g := ids(got); !slices.Equal(g, want) {
				t.Errorf("endpoints = %v, want %v", g, want)
			}
			for _, ep := range got {
				if ep.ServiceName != svc || ep.Type != "Interface" || ep.VPCID != s.VPCID {
					t.Errorf("endpoint %+v: want service %s, type Interface, vpc %s", ep, svc, s.VPCID)
				}
			}
		})
	}
}

// TestServiceEndpointsPaginates follows NextToken to the last page and keeps
// the filters on every page. moto answers in one page, so pages come from a
// stand-in here.
func TestServiceEndpointsPaginates(t *testing.T) {
	t.Parallel()
	const svc = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	var calls int
	api := describeFunc(func(_ context.Context, in *ec2.DescribeVpcEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
		calls++
		if len(in.Filters) != 3 || aws.ToString(in.Filters[0].Name) != "service-name" || in.Filters[0].Values[0] != svc {
			t.Errorf("call %d: filters %+v lack service-name=%s", calls, in.Filters, svc)
		}
		page := 0
		if in.NextToken != nil {
			page, _ = strconv.Atoi(*in.NextToken)
		}
		out := &ec2.DescribeVpcEndpointsOutput{VpcEndpoints: []ec2types.VpcEndpoint{{
			VpcEndpointId: aws.String("vpce-0000000000000000" + strconv.Itoa(page)), ServiceName: aws.String(svc),
			VpcEndpointType: ec2types.VpcEndpointTypeInterface, State: ec2types.StateAvailable,
		}}}
		if page == 1 {
			// A filter that let another service through must not matter.
			out.VpcEndpoints = append(out.VpcEndpoints, ec2types.VpcEndpoint{
				VpcEndpointId: aws.String("vpce-0000000000000bad0"), ServiceName: aws.String("com.amazonaws.us-east-1.s3"),
			})
		}
		if page < 2 {
			out.NextToken = aws.String(strconv.Itoa(page + 1))
		}
		return out, nil
	})
	got, err := (&awsvpc.Endpoints{EC2: api}).ServiceEndpoints(context.Background(), svc, awsvpc.LiveStates...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vpce-00000000000000000", "vpce-00000000000000001", "vpce-00000000000000002"}
	if g := ids(got); !slices.Equal(g, want) || calls != 3 {
		t.Errorf("endpoints = %v after %d calls, want %v after 3", g, calls, want)
	}
}

func TestServiceEndpointsRefusesEmptyName(t *testing.T) {
	t.Parallel()
	api := describeFunc(func(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
		t.Error("EC2 was called with an empty service name")
		return nil, errors.New("unexpected")
	})
	if _, err := (&awsvpc.Endpoints{EC2: api}).ServiceEndpoints(context.Background(), ""); err == nil {
		t.Fatal("want an error for an empty service name")
	}
}

// TestDescribeEndpoint asks EC2 once: not found is an answer, not a reason to wait.
func TestDescribeEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	api := &countingEC2{EC2API: ec2.NewFromConfig(cfg)}
	e := &awsvpc.Endpoints{EC2: api}

	_, err := e.DescribeEndpoint(ctx, missingID)
	if !errors.Is(err, awsvpc.ErrEndpointNotFound) || api.calls.Load() != 1 {
		t.Fatalf("missing endpoint: err = %v after %d calls, want ErrEndpointNotFound after 1", err, api.calls.Load())
	}
	s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: uniqueService(t)})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := e.DescribeEndpoint(ctx, s.EndpointID)
	if err != nil || ep.ID != s.EndpointID || ep.State != "available" {
		t.Fatalf("seeded endpoint: %+v, %v; want it available", ep, err)
	}
}
