package awsvpc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

const memberAccount = "222222222222"

// memberConfig is an SDK configuration acting in account 222222222222 on
// moto, through credentials from sts:AssumeRole, as a member account's own
// tooling would be.
func memberConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg := sharedConfig(t)
	member := cfg.Copy()
	member.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+memberAccount+":role/setup"))
	return member
}

// countingSTS counts the calls that reach STS.
type countingSTS struct {
	awsvpc.STSAPI
	mu                    sync.Mutex
	identities, assumes   int
	lastRole, lastSession string
}

func (c *countingSTS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, o ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	c.mu.Lock()
	c.identities++
	c.mu.Unlock()
	return c.STSAPI.GetCallerIdentity(ctx, in, o...)
}

func (c *countingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, o ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	c.mu.Lock()
	c.assumes++
	c.lastRole, c.lastSession = aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName)
	c.mu.Unlock()
	return c.STSAPI.AssumeRole(ctx, in, o...)
}

// moto keeps accounts apart: an endpoint created through an assumed role in
// 222222222222 is visible there and not in the default account, and
// Accounts reaches it through the member role.
func TestAccountsReachMemberAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	member := memberConfig(t)

	// moto itself: the assumed identity is the member account.
	id, err := sts.NewFromConfig(member).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != memberAccount {
		t.Fatalf("caller identity through the assumed role: %v, %v; want account %s", id, err, memberAccount)
	}
	svc := uniqueService(t)
	seeded, err := motoserver.Seed(ctx, member, motoserver.SeedInput{ServiceName: svc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2.NewFromConfig(member).CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{seeded.EndpointID}, Tags: []ec2types.Tag{{Key: aws.String("atlas-registrar"), Value: aws.String("skip")}},
	}); err != nil {
		t.Fatal(err)
	}

	counting := &countingSTS{STSAPI: sts.NewFromConfig(cfg)}
	accts := &awsvpc.Accounts{Config: cfg, STS: counting, RoleName: "atlas-vpce-registrar-member", NotFoundWait: -1}
	self, err := accts.Self(ctx)
	if err != nil || self != motoAccount {
		t.Fatalf("Self() = %q, %v; want %s", self, err, motoAccount)
	}

	own, err := accts.Endpoints(ctx, motoAccount, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.LookupEndpoint(ctx, seeded.EndpointID); !errors.Is(err, awsvpc.ErrEndpointNotFound) {
		t.Errorf("own account sees the member's endpoint: err = %v, want ErrEndpointNotFound", err)
	}

	other, err := accts.Endpoints(ctx, memberAccount, motoserver.Region)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := other.LookupEndpoint(ctx, seeded.EndpointID)
	if err != nil {
		t.Fatalf("member lookup: %v", err)
	}
	if ep.OwnerID != memberAccount || ep.ServiceName != svc || ep.Tags["atlas-registrar"] != "skip" {
		t.Errorf("member endpoint = %+v, want owner %s, service %s and its tag", ep, memberAccount, svc)
	}
	if counting.lastRole != "arn:aws:iam::"+memberAccount+":role/atlas-vpce-registrar-member" || counting.lastSession != awsvpc.SessionName {
		t.Errorf("assumed %q as %q", counting.lastRole, counting.lastSession)
	}
	if got := accts.RoleARN(memberAccount); got != counting.lastRole {
		t.Errorf("RoleARN = %q, want the role assumed, %q", got, counting.lastRole)
	}

	// Cached: the same lookup, no new identity call, no new role session.
	again, err := accts.Endpoints(ctx, memberAccount, motoserver.Region)
	if err != nil || again != other {
		t.Errorf("second Endpoints() = %p, %v; want the cached %p", again, err, other)
	}
	if _, err := again.LookupEndpoint(ctx, seeded.EndpointID); err != nil {
		t.Fatal(err)
	}
	if counting.identities != 1 || counting.assumes != 1 {
		t.Errorf("STS calls: %d identity, %d assume; want 1 each", counting.identities, counting.assumes)
	}
	// Another region of the member account has its own client and shares the credentials.
	west, err := accts.Endpoints(ctx, memberAccount, "us-west-2")
	if err != nil || west == other {
		t.Fatalf("us-west-2 lookup = %p, %v; want a client of its own", west, err)
	}
	if _, err := west.LookupEndpoint(ctx, seeded.EndpointID); !errors.Is(err, awsvpc.ErrEndpointNotFound) {
		t.Errorf("us-west-2 sees a us-east-1 endpoint: %v", err)
	}
	if counting.assumes != 1 {
		t.Errorf("assume-role calls = %d after a second region, want 1", counting.assumes)
	}
}

// A role that cannot be assumed surfaces in the lookup's error, named.
func TestAccountsAssumeRoleFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	denied := &deniedSTS{STSAPI: sts.NewFromConfig(cfg)}
	accts := &awsvpc.Accounts{Config: cfg, STS: denied, RoleName: "atlas-vpce-registrar-member", NotFoundWait: -1}
	e, err := accts.Endpoints(ctx, memberAccount, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.LookupEndpoint(ctx, missingID)
	if err == nil || errors.Is(err, awsvpc.ErrEndpointNotFound) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("err = %v, want the assume-role failure", err)
	}
}

type deniedSTS struct{ awsvpc.STSAPI }

func (deniedSTS) AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return nil, errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
}
