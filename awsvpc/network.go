package awsvpc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// NetworkAPI is the part of *ec2.Client that DescribeNetwork uses.
type NetworkAPI interface {
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

var _ NetworkAPI = (*ec2.Client)(nil)

// Network is what EC2 says about the security groups and subnets of some
// endpoints. A group or subnet that EC2 no longer knows is simply absent.
type Network struct {
	Groups  map[string]SecurityGroup // by group id
	Subnets map[string]Subnet        // by subnet id
}

// SecurityGroup is a security group's inbound rules.
type SecurityGroup struct {
	ID      string
	Name    string
	Inbound []Rule
}

// Rule is one inbound permission: a protocol ("tcp", "udp", "icmp", a
// protocol number, or "-1" for all) and, for TCP and UDP, a port range. The
// rule's sources are left out: any source lets some client in.
type Rule struct {
	Protocol string
	FromPort int32
	ToPort   int32
}

// Subnet is a subnet's availability zone.
type Subnet struct {
	ID               string
	AvailabilityZone string
}

// maxFilterValues is how many ids one request names: EC2 bounds the values
// of a filter (200), so a larger set takes one request per 200.
const maxFilterValues = 200

// DescribeNetwork reads the inbound rules of groupIDs and the zones of
// subnetIDs: one DescribeSecurityGroups and one DescribeSubnets per 200 ids
// (none for an empty list). It filters by id rather than naming the ids, so
// that one deleted group or subnet does not fail the whole answer.
func (e *Endpoints) DescribeNetwork(ctx context.Context, groupIDs, subnetIDs []string) (*Network, error) {
	out := &Network{Groups: map[string]SecurityGroup{}, Subnets: map[string]Subnet{}}
	groupIDs, subnetIDs = sortedUnique(groupIDs), sortedUnique(subnetIDs)
	if len(groupIDs)+len(subnetIDs) == 0 {
		return out, nil
	}
	if e.Network == nil {
		return nil, errors.New("describe security groups and subnets: no EC2 client for them")
	}
	for ids := range slices.Chunk(groupIDs, maxFilterValues) {
		in := &ec2.DescribeSecurityGroupsInput{
			Filters:    []ec2types.Filter{{Name: aws.String("group-id"), Values: ids}},
			MaxResults: aws.Int32(1000),
		}
		for p := ec2.NewDescribeSecurityGroupsPaginator(e.Network, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe security groups %v: %w", ids, err)
			}
			for _, g := range page.SecurityGroups {
				id := aws.ToString(g.GroupId)
				if slices.Contains(ids, id) { // trust no filter blindly
					out.Groups[id] = toGroup(g)
				}
			}
		}
	}
	for ids := range slices.Chunk(subnetIDs, maxFilterValues) {
		in := &ec2.DescribeSubnetsInput{
			Filters:    []ec2types.Filter{{Name: aws.String("subnet-id"), Values: ids}},
			MaxResults: aws.Int32(1000),
		}
		for p := ec2.NewDescribeSubnetsPaginator(e.Network, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe subnets %v: %w", ids, err)
			}
			for _, s := range page.Subnets {
				id := aws.ToString(s.SubnetId)
				if slices.Contains(ids, id) {
					out.Subnets[id] = Subnet{ID: id, AvailabilityZone: aws.ToString(s.AvailabilityZone)}
				}
			}
		}
	}
	return out, nil
}

func toGroup(g ec2types.SecurityGroup) SecurityGroup {
	sg := SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName)}
	for _, p := range g.IpPermissions {
		sg.Inbound = append(sg.Inbound, Rule{
			Protocol: aws.ToString(p.IpProtocol),
			FromPort: aws.ToInt32(p.FromPort),
			ToPort:   aws.ToInt32(p.ToPort),
		})
	}
	return sg
}

// sortedUnique is ids sorted, without repeats or empty strings.
func sortedUnique(ids []string) []string {
	out := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "" })
	slices.Sort(out)
	return slices.Compact(out)
}
