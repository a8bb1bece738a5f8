package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

const memberAccount = "222222222222"

// createFrom is the EventBridge delivery of a CreateVpcEndpoint call in account.
func createFrom(id, account string) []byte {
	return fmt.Appendf(nil, `{"version":"0","id":"0c7e1e7e-0000-4000-8000-000000000003","detail-type":"AWS API Call via CloudTrail",
"source":"aws.ec2","account":%q,"time":"2026-11-30T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","awsRegion":"us-east-1","errorCode":null,"recipientAccountId":%q,
"responseElements":{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":%q}}}}}`, account, account, id)
}

// seedMember creates a VPC endpoint for the stack's service in a member
// account, through a role assumed there on moto.
func seedMember(t *testing.T, s *localstack.Stack) string {
	t.Helper()
	seeded, err := motoserver.Seed(context.Background(), memberConfig(t, s), motoserver.SeedInput{ServiceName: s.EndpointServiceName})
	if err != nil {
		t.Fatal(err)
	}
	return seeded.EndpointID
}

// memberConfig reaches the member account on the stack's moto, through a
// role assumed there.
func memberConfig(t *testing.T, s *localstack.Stack) aws.Config {
	t.Helper()
	cfg := awsConfig(t, s)
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+memberAccount+":role/setup"))
	return cfg
}

// The organisation features through the real binary: a member account's
// endpoint is registered through the member role, one from an account not
// allowed costs no Atlas call, an endpoint of a second project lands there,
// and an opted-out endpoint is left alone.
func TestE2EOrganisation(t *testing.T) {
	t.Parallel()
	const p2, s2 = "5f0000000000000000000002", "5f00000000000000000000b2"
	name2 := uniqueName(t)
	t.Run("member account", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, localstack.Options{ServiceName: uniqueName(t), Env: []string{"ALLOWED_ACCOUNT_IDS=" + memberAccount}})
		id := seedMember(t, s)
		res := invoke(t, s, createFrom(id, memberAccount))
		if res.Outcome != handler.OutcomeRegistered {
			t.Fatalf("result %+v, want registered", res)
		}
		if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, id); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
			t.Errorf("in Atlas: %+v, %v", ep, ok)
		}
	})
	t.Run("account not allowed", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, localstack.Options{ServiceName: uniqueName(t)})
		id := seedMember(t, s)
		res := invoke(t, s, createFrom(id, memberAccount))
		if res.Outcome != handler.OutcomeIgnored || res.Reason == "" {
			t.Fatalf("result %+v, want ignored with a reason", res)
		}
		if n := len(s.Fake.Requests()); n != 0 {
			t.Errorf("Atlas received %d requests, want 0", n)
		}
	})
	t.Run("second project", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, localstack.Options{
			ServiceName: uniqueName(t),
			Projects:    []atlastest.Project{{ID: p2, Services: []atlas.EndpointService{{ID: s2, EndpointServiceName: name2}}}},
			Env:         []string{"ATLAS_PROJECT_IDS=" + p2},
		})
		id, err := motoserver.CreateEndpoint(context.Background(), awsConfig(t, s), s.VPCID, s.SubnetIDs, name2, "Interface")
		if err != nil {
			t.Fatal(err)
		}
		res := invoke(t, s, createFrom(id, "123456789012"))
		if res.Outcome != handler.OutcomeRegistered || res.ProjectID != p2 || res.EndpointServiceID != s2 {
			t.Fatalf("result %+v, want registered in project %s", res, p2)
		}
	})
	t.Run("opted out", func(t *testing.T) {
		t.Parallel()
		s := startStack(t, localstack.Options{ServiceName: uniqueName(t)})
		if _, err := ec2.NewFromConfig(awsConfig(t, s)).CreateTags(context.Background(), &ec2.CreateTagsInput{
			Resources: []string{s.EndpointID}, Tags: []ec2types.Tag{{Key: aws.String(handler.OptOutTag), Value: aws.String(handler.OptOutValue)}},
		}); err != nil {
			t.Fatal(err)
		}
		res := invoke(t, s, createFrom(s.EndpointID, "123456789012"))
		if res.Outcome != handler.OutcomeIgnored {
			t.Fatalf("result %+v, want ignored", res)
		}
		if n := registrations(s); n != 0 {
			t.Errorf("%d registration POSTs, want 0", n)
		}
	})
}

func awsConfig(t *testing.T, s *localstack.Stack) aws.Config {
	t.Helper()
	cfg, err := s.Moto.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
