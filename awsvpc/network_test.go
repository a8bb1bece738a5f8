package awsvpc_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// countingNetwork counts the two describe calls.
type countingNetwork struct {
	awsvpc.NetworkAPI
	groups, subnets atomic.Int32
}

func (c *countingNetwork) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	c.groups.Add(1)
	return c.NetworkAPI.DescribeSecurityGroups(ctx, in, optFns...)
}

func (c *countingNetwork) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	c.subnets.Add(1)
	return c.NetworkAPI.DescribeSubnets(ctx, in, optFns...)
}

// TestDescribeNetwork runs against moto: the endpoint lists its groups, and
// one call of each kind reads the groups' rules and the subnets' zones; a
// group or subnet EC2 does not know is left out, not an error.
func TestDescribeNetwork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := sharedConfig(t)
	s, err := motoserver.Seed(ctx, cfg, motoserver.SeedInput{ServiceName: uniqueService(t)})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := motoserver.CreateSecurityGroup(ctx, cfg, s.VPCID, motoserver.Ingress{FromPort: 27017, ToPort: 27017})
	if err != nil {
		t.Fatal(err)
	}
	all, err := motoserver.CreateSecurityGroup(ctx, cfg, s.VPCID, motoserver.Ingress{AllTraffic: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs, uniqueService(t), "Interface", narrow, all)
	if err != nil {
		t.Fatal(err)
	}
	api := &countingNetwork{NetworkAPI: ec2.NewFromConfig(cfg)}
	e := &awsvpc.Endpoints{EC2: ec2.NewFromConfig(cfg), Network: api}

	ep, err := e.DescribeEndpoint(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sorted(ep.SecurityGroupIDs), sorted([]string{narrow, all}); !slices.Equal(got, want) {
		t.Fatalf("SecurityGroupIDs = %v, want %v", got, want)
	}

	const missingGroup, missingSubnet = "sg-0000000000000dead", "subnet-0000000000000dead"
	// Repeats are asked for once.
	net, err := e.DescribeNetwork(ctx, append(ep.SecurityGroupIDs, missingGroup, narrow), append(ep.SubnetIDs, missingSubnet, ep.SubnetIDs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if g, n := api.groups.Load(), api.subnets.Load(); g != 1 || n != 1 {
		t.Errorf("calls: %d DescribeSecurityGroups, %d DescribeSubnets; want 1 and 1", g, n)
	}
	wantRules := map[string][]awsvpc.Rule{
		narrow: {{Protocol: "tcp", FromPort: 27017, ToPort: 27017}},
		all:    {{Protocol: "-1"}},
	}
	if len(net.Groups) != len(wantRules) {
		t.Errorf("groups = %+v, want %d (the unknown one left out)", net.Groups, len(wantRules))
	}
	for gid, want := range wantRules {
		if got := net.Groups[gid]; got.ID != gid || !reflect.DeepEqual(got.Inbound, want) {
			t.Errorf("group %s = %+v, want inbound %+v", gid, got, want)
		}
	}
	wantZones := map[string]string{s.SubnetIDs[0]: "us-east-1a", s.SubnetIDs[1]: "us-east-1b"}
	if len(net.Subnets) != len(wantZones) {
		t.Errorf("subnets = %+v, want %d (the unknown one left out)", net.Subnets, len(wantZones))
	}
	for sid, zone := range wantZones {
		if got := net.Subnets[sid]; got.AvailabilityZone != zone {
			t.Errorf("subnet %s zone = %q, want %q", sid, got.AvailabilityZone, zone)
		}
	}

	// Nothing to ask about: no call.
	if _, err := e.DescribeNetwork(ctx, nil, []string{""}); err != nil {
		t.Fatal(err)
	}
	if g, n := api.groups.Load(), api.subnets.Load(); g != 1 || n != 1 {
		t.Errorf("empty lists made calls: now %d and %d", g, n)
	}

	// EC2 bounds a filter's values: 201 groups take two requests.
	many := make([]string, 201)
	for i := range many {
		many[i] = fmt.Sprintf("sg-%017x", i)
	}
	if _, err := e.DescribeNetwork(ctx, many, nil); err != nil {
		t.Fatal(err)
	}
	if g, n := api.groups.Load(), api.subnets.Load(); g != 3 || n != 1 {
		t.Errorf("201 groups: now %d DescribeSecurityGroups and %d DescribeSubnets, want 3 and 1", g, n)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
