package motoserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// DefaultServiceName is an Atlas-style endpoint service name, the same one the
// Atlas fake seeds by default.
const DefaultServiceName = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"

// SeedInput describes the AWS side of a scenario.
type SeedInput struct {
	// ServiceName of the Interface endpoint. Default DefaultServiceName.
	ServiceName string
	// SecretName and SecretJSON (the SecretString) of the credentials secret.
	// No secret is created when SecretName is empty.
	SecretName string
	SecretJSON string
}

// Seeded holds the ids Seed created.
type Seeded struct {
	VPCID      string
	SubnetIDs  []string
	EndpointID string
	SecretARN  string // empty when no secret was requested
}

// Seed creates, through the real SDK clients, a VPC (10.0.0.0/16) with two
// subnets in different zones, the secret, and an Interface VPC endpoint for
// in.ServiceName in those subnets. Every call makes a new VPC, so tests that
// share a server do not see each other's endpoints; secret names must differ.
func Seed(ctx context.Context, cfg aws.Config, in SeedInput) (*Seeded, error) {
	if in.ServiceName == "" {
		in.ServiceName = DefaultServiceName
	}
	ec2c := ec2.NewFromConfig(cfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		return nil, fmt.Errorf("seed: create vpc: %w", err)
	}
	out := &Seeded{VPCID: aws.ToString(vpc.Vpc.VpcId)}
	for i, az := range []string{"a", "b"} {
		sn, err := CreateSubnet(ctx, cfg, out.VPCID, fmt.Sprintf("10.0.%d.0/24", i+1), cfg.Region+az)
		if err != nil {
			return nil, err
		}
		out.SubnetIDs = append(out.SubnetIDs, sn)
	}
	if in.SecretName != "" {
		sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(in.SecretName),
			SecretString: aws.String(in.SecretJSON),
		})
		if err != nil {
			return nil, fmt.Errorf("seed: create secret %s: %w", in.SecretName, err)
		}
		out.SecretARN = aws.ToString(sec.ARN)
	}
	out.EndpointID, err = CreateEndpoint(ctx, cfg, out.VPCID, out.SubnetIDs, in.ServiceName, string(ec2types.VpcEndpointTypeInterface))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateEndpoint creates a VPC endpoint and returns its id. endpointType is
// "Interface", "Gateway" or "GatewayLoadBalancer"; subnetIDs may be nil
// (Gateway endpoints take route tables, not subnets). groupIDs are its
// security groups; moto, unlike EC2, lists none when none are named.
func CreateEndpoint(ctx context.Context, cfg aws.Config, vpcID string, subnetIDs []string, serviceName, endpointType string, groupIDs ...string) (string, error) {
	out, err := ec2.NewFromConfig(cfg).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
		VpcId:            aws.String(vpcID),
		ServiceName:      aws.String(serviceName),
		VpcEndpointType:  ec2types.VpcEndpointType(endpointType),
		SubnetIds:        subnetIDs,
		SecurityGroupIds: groupIDs,
	})
	if err != nil {
		return "", fmt.Errorf("seed: create %s endpoint for %s: %w", endpointType, serviceName, err)
	}
	if out.VpcEndpoint == nil || out.VpcEndpoint.VpcEndpointId == nil {
		return "", errors.New("seed: create vpc endpoint: response has no endpoint id")
	}
	return *out.VpcEndpoint.VpcEndpointId, nil
}

// Ingress is one inbound rule of a security group: TCP from FromPort to
// ToPort, or every protocol and port when AllTraffic (IpProtocol "-1").
type Ingress struct {
	FromPort, ToPort int32
	AllTraffic       bool
}

// CreateSecurityGroup creates a security group in the VPC with the given
// inbound rules, each open to the VPC's range, and returns its id.
func CreateSecurityGroup(ctx context.Context, cfg aws.Config, vpcID string, rules ...Ingress) (string, error) {
	c := ec2.NewFromConfig(cfg)
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		VpcId:       aws.String(vpcID),
		GroupName:   aws.String(UniqueName("registrar-test")),
		Description: aws.String("inbound rules for a test endpoint"),
	})
	if err != nil {
		return "", fmt.Errorf("seed: create security group: %w", err)
	}
	if len(rules) == 0 {
		return aws.ToString(sg.GroupId), nil
	}
	perms := make([]ec2types.IpPermission, len(rules))
	for i, r := range rules {
		perms[i] = ec2types.IpPermission{
			IpProtocol: aws.String("tcp"),
			FromPort:   aws.Int32(r.FromPort),
			ToPort:     aws.Int32(r.ToPort),
			IpRanges:   []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}},
		}
		if r.AllTraffic {
			perms[i].IpProtocol, perms[i].FromPort, perms[i].ToPort = aws.String("-1"), nil, nil
		}
	}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: sg.GroupId, IpPermissions: perms,
	}); err != nil {
		return "", fmt.Errorf("seed: authorize ingress on %s: %w", aws.ToString(sg.GroupId), err)
	}
	return aws.ToString(sg.GroupId), nil
}

// CreateSubnet creates a subnet of the VPC in the zone (the region's name and
// a letter) and returns its id.
func CreateSubnet(ctx context.Context, cfg aws.Config, vpcID, cidr, zone string) (string, error) {
	sn, err := ec2.NewFromConfig(cfg).CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: aws.String(vpcID), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(zone),
	})
	if err != nil {
		return "", fmt.Errorf("seed: create subnet %s in %s: %w", cidr, zone, err)
	}
	return aws.ToString(sn.Subnet.SubnetId), nil
}

// UniqueName returns prefix with a random suffix, for resources such as
// secrets whose names must not repeat on a shared server (tests that run
// more than once with -count, or in parallel).
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
