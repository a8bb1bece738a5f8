package handler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

const (
	ownAccount    = "123456789012" // moto's default
	memberAccount = "222222222222"
)

// memberConfig acts in another account on moto, through a role assumed
// there, as that account's own tooling would.
func (hs *harness) memberConfig(account string) aws.Config {
	cfg := hs.awsCfg.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(hs.awsCfg), "arn:aws:iam::"+account+":role/setup"))
	return cfg
}

// seedIn creates a VPC and an Interface endpoint for the harness's service
// in account and region.
func (hs *harness) seedIn(account, region string) string {
	hs.t.Helper()
	cfg := hs.awsCfg.Copy()
	if account != ownAccount {
		cfg = hs.memberConfig(account)
	}
	cfg.Region = region
	s, err := motoserver.Seed(context.Background(), cfg, motoserver.SeedInput{ServiceName: hs.serviceName})
	if err != nil {
		hs.t.Fatal(err)
	}
	return s.EndpointID
}

// createEventFrom is the EventBridge delivery of a CreateVpcEndpoint call in account and region.
func createEventFrom(id, account, region string) []byte {
	return fmt.Appendf(nil, `{"version":"0","id":"0c7e1e7e-0000-4000-8000-000000000002","detail-type":"AWS API Call via CloudTrail",
"source":"aws.ec2","account":%q,"time":"2026-11-30T10:00:00Z","region":%q,"resources":[],
"detail":{"eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","awsRegion":%q,"errorCode":null,"recipientAccountId":%q,
"responseElements":{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":%q}}}}}`, account, region, region, account, id)
}

func TestMemberAccounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		account string
		sts     func(*harness) *deniedSTS
		want    string // outcome, or the error type
		reason  string // in the reason or the error
	}{
		{name: "allowed member account", allowed: []string{memberAccount}, account: memberAccount, want: OutcomeRegistered},
		{name: "own account named in the event", account: ownAccount, want: OutcomeRegistered},
		{name: "account not allowed", account: memberAccount, want: OutcomeIgnored, reason: "account 222222222222 is not in ALLOWED_ACCOUNT_IDS"},
		{
			name: "role that cannot be assumed", allowed: []string{memberAccount}, account: memberAccount, want: "LookupError",
			sts: func(hs *harness) *deniedSTS {
				return &deniedSTS{STSAPI: sts.NewFromConfig(hs.awsCfg), account: memberAccount}
			},
			reason: "of account 222222222222 through role arn:aws:iam::222222222222:role/atlas-vpce-registrar-member",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := harnessOptions{serviceName: uniqueServiceName(t), accounts: true, config: func(c *Config) { c.AllowedAccountIDs = tt.allowed }}
			late := &lateSTS{}
			if tt.sts != nil {
				o.sts = late
			}
			hs := newHarness(t, o)
			if tt.sts != nil {
				late.set(tt.sts(hs))
			}
			runMemberCase(t, hs, tt.account, tt.want, tt.reason)
		})
	}
}

func runMemberCase(t *testing.T, hs *harness, account, want, reason string) {
	t.Helper()
	id := hs.seeded.EndpointID
	if account != ownAccount {
		id = hs.seedIn(account, motoserver.Region)
	}
	hs.aws.reset()
	res, err := hs.invoke(createEventFrom(id, account, motoserver.Region), 30*time.Second)
	if want == OutcomeRegistered || want == OutcomeIgnored {
		if err != nil || res.Outcome != want || !strings.Contains(res.Reason, reason) {
			t.Fatalf("Handle() = %+v, %v; want %s %q", res, err, want, reason)
		}
	} else if errName(err) != want || !strings.Contains(err.Error(), reason) {
		t.Fatalf("Handle() error = %v, want %s naming %q", err, want, reason)
	}
	switch want {
	case OutcomeRegistered:
		if ep, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, id); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
			t.Errorf("in Atlas: %+v, %v; want AVAILABLE", ep, ok)
		}
	default:
		if n := len(hs.fake.Requests()); n != 0 {
			t.Errorf("Atlas requests = %d, want 0", n)
		}
	}
	if want == OutcomeIgnored && hs.aws.count("DescribeVpcEndpoints") != 0 {
		t.Errorf("EC2 was asked about an endpoint of an account that is not served")
	}
}

// lateSTS forwards to an STS set after the harness is built (the fault
// wraps the harness's own moto client).
type lateSTS struct{ awsvpc.STSAPI }

func (l *lateSTS) set(inner awsvpc.STSAPI) { l.STSAPI = inner }

// deniedSTS refuses to assume a role in one account, as STS does when the
// member role is missing or does not trust the function.
type deniedSTS struct {
	awsvpc.STSAPI
	account string
}

func (d *deniedSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, o ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	if strings.Contains(aws.ToString(in.RoleArn), ":"+d.account+":") {
		return nil, errors.New("AccessDenied: User is not authorized to perform: sts:AssumeRole on resource " + aws.ToString(in.RoleArn))
	}
	return d.STSAPI.AssumeRole(ctx, in, o...)
}

// Atlas services with supportedRemoteRegions take endpoints from other
// regions; the service is matched by name, whatever the region.
func TestRemoteRegionMatchedByName(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t), accounts: true})
	id := hs.seedIn(ownAccount, "us-west-2")
	res, err := hs.invoke(createEventFrom(id, ownAccount, "us-west-2"), 30*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered || res.EndpointServiceID != atlastest.DefaultServiceID {
		t.Fatalf("Handle() = %+v, %v; want registered with the us-east-1 service", res, err)
	}
	// Looked up in its own region: the function's region does not know it.
	if _, err := hs.h.deps.Endpoints.DescribeEndpoint(context.Background(), id); err == nil {
		t.Errorf("the us-west-2 endpoint is visible in us-east-1; the test proves nothing")
	}
}

func TestOptOutTag(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t)})
	if _, err := ec2.NewFromConfig(hs.awsCfg).CreateTags(context.Background(), &ec2.CreateTagsInput{
		Resources: []string{hs.seeded.EndpointID}, Tags: []ec2types.Tag{{Key: aws.String(OptOutTag), Value: aws.String(OptOutValue)}},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil || res.Outcome != OutcomeIgnored || !strings.Contains(res.Reason, "atlas-registrar=skip") {
		t.Fatalf("event: %+v, %v; want ignored for the tag", res, err)
	}
	res, err = hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := endpointOutcome(res, hs.seeded.EndpointID); e.Outcome != OutcomeIgnored || !strings.Contains(e.Reason, "atlas-registrar=skip") {
		t.Errorf("reconcile: %+v, want ignored for the tag", e)
	}
	if n := hs.atlasWrites(); n != 0 {
		t.Errorf("Atlas writes = %d, want 0", n)
	}
}

func TestSeveralProjects(t *testing.T) {
	t.Parallel()
	const p2, s2 = "5f0000000000000000000002", "5f00000000000000000000b2"
	tests := []struct {
		name    string
		second  func(hs *harness) string // the second project's service name
		fault   bool
		wantErr string
		naming  []string
	}{
		{name: "endpoint of the second project", second: func(hs *harness) string { return hs.serviceName }},
		{name: "a name in two projects", second: func(hs *harness) string { return hs.serviceName }, wantErr: "ServiceConflictError", naming: []string{atlastest.DefaultProjectID, p2}},
		{name: "the second project refuses the key", second: func(*harness) string { return uniqueServiceName(t) }, fault: true, wantErr: "AtlasError", naming: []string{p2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := uniqueServiceName(t)
			first := uniqueServiceName(t)
			if tt.wantErr == "ServiceConflictError" {
				first = name
			}
			fake := atlastest.Options{
				Services: []atlas.EndpointService{{ID: atlastest.DefaultServiceID, EndpointServiceName: first}},
				Projects: []atlastest.Project{{ID: p2, Services: []atlas.EndpointService{{ID: s2, EndpointServiceName: name}}}},
			}
			hs := newHarness(t, harnessOptions{serviceName: name, fake: fake, config: func(c *Config) {
				c.ProjectIDs = []string{atlastest.DefaultProjectID, p2}
			}})
			if tt.fault {
				hs.fake.InjectFault(atlastest.Fault{Method: "GET", PathContains: "/groups/" + p2 + "/", Status: 403, Times: -1})
			}
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if tt.wantErr != "" {
				if errName(err) != tt.wantErr {
					t.Fatalf("Handle() = %+v, %v; want %s", res, err, tt.wantErr)
				}
				for _, n := range tt.naming {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("error %q does not name %s", err, n)
					}
				}
				return
			}
			if err != nil || res.Outcome != OutcomeRegistered || res.ProjectID != p2 || res.EndpointServiceID != s2 {
				t.Fatalf("Handle() = %+v, %v; want registered in project %s, service %s", res, err, p2, s2)
			}
			if ep, ok := hs.fake.Endpoint(s2, hs.seeded.EndpointID); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
				t.Errorf("in project %s: %+v, %v", p2, ep, ok)
			}
			if !strings.Contains(hs.logs.String(), `"projectId":"`+p2+`"`) {
				t.Errorf("the outcome line does not carry project %s", p2)
			}
		})
	}
}

// Reconcile covers every allowed account, and calls nothing an orphan while
// an account could not be searched.
func TestReconcileAcrossAccounts(t *testing.T) {
	t.Parallel()
	const third = "333333333333"
	late := &lateSTS{}
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t), accounts: true, sts: late,
		config: func(c *Config) { c.AllowedAccountIDs = []string{memberAccount} }})
	late.set(&deniedSTS{STSAPI: sts.NewFromConfig(hs.awsCfg), account: third})
	member := hs.seedIn(memberAccount, motoserver.Region)

	res, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{hs.seeded.EndpointID: OutcomeRegistered, member: OutcomeRegistered, companionID: OutcomeOrphan}
	if got := outcomes(res); !maps.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}

	// An account that cannot be searched: the companion may be there.
	hs.h.cfg.AllowedAccountIDs = []string{memberAccount, third}
	res, err = hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	re, ok := errors.AsType[*ReconcileError](err)
	if !ok || re.Failed["account "+third] == nil || !strings.Contains(err.Error(), "role/"+DefaultMemberRoleName) {
		t.Fatalf("Handle() = %+v, %v; want a ReconcileError naming account %s and its role", res, err, third)
	}
	if !strings.Contains(hs.logs.String(), `"outcome":"kept"`) || strings.Count(hs.logs.String(), `"outcome":"orphan"`) != 1 {
		t.Errorf("the companion was called an orphan while an account was unsearched:\n%s", hs.logs)
	}
}

// A container that serves several projects with a service account asks the
// token endpoint (10 requests a minute) once, not once per project.
func TestOneTokenForEveryProject(t *testing.T) {
	t.Parallel()
	const p2 = "5f0000000000000000000002"
	fake := atlastest.Options{Projects: []atlastest.Project{{ID: p2}}}
	hs := newHarness(t, harnessOptions{oauth: true, serviceName: uniqueServiceName(t), fake: fake, config: func(c *Config) {
		c.ProjectIDs = []string{atlastest.DefaultProjectID, p2}
	}})
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("Handle() = %+v, %v; want registered", res, err)
	}
	lists := 0
	for _, r := range hs.fake.Requests() {
		if classify(r) == "list" {
			lists++
		}
	}
	if got := hs.fake.TokenRequests(); got != 1 || lists != 2 {
		t.Errorf("token requests = %d, service lists = %d; want one token for both projects' lists", got, lists)
	}
}
