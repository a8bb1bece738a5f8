package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler"
)

// awsCallTimeout bounds each AWS SDK HTTP attempt; the SDK retries on its own.
const awsCallTimeout = 10 * time.Second

// sdkClients are the AWS SDK clients the function uses.
type sdkClients struct {
	ec2      *ec2.Client
	sm       *secretsmanager.Client
	accounts *awsvpc.Accounts // STS, and EC2 in other accounts and regions
}

// awsClients hands out the SDK clients, built on first use: an event that
// never reaches AWS need not pay for them in its cold start. The
// configuration they are built from is read at init (loadAWSConfig reads
// only the environment), so a missing or invalid AWS setting still stops the
// init phase with its name.
type awsClients struct {
	region string
	get    func() *sdkClients
}

func newAWSClients(memberRole string) (*awsClients, error) {
	cfg, err := loadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	return &awsClients{region: cfg.Region, get: sync.OnceValue(func() *sdkClients {
		return &sdkClients{
			ec2: ec2.NewFromConfig(cfg),
			sm:  secretsmanager.NewFromConfig(cfg),
			// STS is asked only when an event names an account.
			accounts: &awsvpc.Accounts{Config: cfg, STS: sts.NewFromConfig(cfg), RoleName: memberRole},
		}
	})}, nil
}

// lazyEC2 is awsvpc.EC2API and awsvpc.NetworkAPI on the client built on first use.
type lazyEC2 struct{ c *awsClients }

func (l lazyEC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return l.c.get().ec2.DescribeVpcEndpoints(ctx, in, optFns...)
}

func (l lazyEC2) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	return l.c.get().ec2.DescribeSecurityGroups(ctx, in, optFns...)
}

func (l lazyEC2) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return l.c.get().ec2.DescribeSubnets(ctx, in, optFns...)
}

// lazySecrets is awsvpc.SecretsAPI on the client built on first use.
type lazySecrets struct{ c *awsClients }

func (l lazySecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return l.c.get().sm.GetSecretValue(ctx, in, optFns...)
}

// accountLookups gives the handler awsvpc.Accounts' lookups as its own
// interface, on the Accounts built on first use.
type accountLookups struct{ c *awsClients }

func (a accountLookups) Self(ctx context.Context) (string, error) {
	return a.c.get().accounts.Self(ctx)
}

func (a accountLookups) RoleARN(account string) string { return a.c.get().accounts.RoleARN(account) }

func (a accountLookups) Lookup(ctx context.Context, account, region string) (handler.EndpointLookup, error) {
	e, err := a.c.get().accounts.Endpoints(ctx, account, region)
	if err != nil {
		return nil, err
	}
	return e, nil
}

var (
	_ awsvpc.EC2API          = lazyEC2{}
	_ awsvpc.NetworkAPI      = lazyEC2{}
	_ awsvpc.SecretsAPI      = lazySecrets{}
	_ handler.AccountLookups = accountLookups{}
)
