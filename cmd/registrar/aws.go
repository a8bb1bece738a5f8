package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
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

// awsClients hands out the SDK clients, built on first use. Loading the
// SDK's configuration (environment, shared config files, the credential
// chain) and building clients takes time that an event which never reaches
// AWS need not pay in its cold start, and that happens once per container
// either way.
//
// The region is needed at init. The SDK reads the process environment, not
// newHandler's getenv, so the region is read from it too: AWS_REGION, else
// AWS_DEFAULT_REGION, the SDK's own order. Lambda always sets AWS_REGION;
// when neither is set the region can only come from a shared config profile,
// and the configuration is loaded at once, so that a missing region still
// stops the init phase.
type awsClients struct {
	region string
	get    func() (*sdkClients, error)
}

func newAWSClients(ctx context.Context, memberRole string) (*awsClients, error) {
	// The clients outlive newHandler's context; only its values are wanted.
	ctx = context.WithoutCancel(ctx)
	load := func() (*sdkClients, error) {
		cfg, err := loadAWSConfig(ctx)
		if err != nil {
			return nil, err
		}
		return &sdkClients{
			ec2: ec2.NewFromConfig(cfg),
			sm:  secretsmanager.NewFromConfig(cfg),
			// STS is asked only when an event names an account.
			accounts: &awsvpc.Accounts{Config: cfg, STS: sts.NewFromConfig(cfg), RoleName: memberRole},
		}, nil
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		c, err := load()
		if err != nil {
			return nil, err
		}
		return &awsClients{region: c.accounts.Config.Region, get: func() (*sdkClients, error) { return c, nil }}, nil
	}
	// A configuration error found later (a missing profile, a malformed
	// setting) is kept and returned by every call, wrapped by awsvpc and the
	// handler with what was being done: the invocation fails naming it.
	return &awsClients{region: region, get: sync.OnceValues(load)}, nil
}

func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(awsCallTimeout)))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, &handler.ConfigError{Variable: "AWS_REGION", Problem: "is required: set it to the region of the VPC endpoints"}
	}
	return cfg, nil
}

// lazyEC2 is awsvpc.EC2API on the client built on first use.
type lazyEC2 struct{ c *awsClients }

func (l lazyEC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	c, err := l.c.get()
	if err != nil {
		return nil, err
	}
	return c.ec2.DescribeVpcEndpoints(ctx, in, optFns...)
}

// lazySecrets is awsvpc.SecretsAPI on the client built on first use.
type lazySecrets struct{ c *awsClients }

func (l lazySecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c, err := l.c.get()
	if err != nil {
		return nil, err
	}
	return c.sm.GetSecretValue(ctx, in, optFns...)
}

// accountLookups gives the handler awsvpc.Accounts' lookups as its own
// interface, on the Accounts built on first use.
type accountLookups struct {
	c          *awsClients
	memberRole string
}

func (a accountLookups) Self(ctx context.Context) (string, error) {
	c, err := a.c.get()
	if err != nil {
		return "", err
	}
	return c.accounts.Self(ctx)
}

func (a accountLookups) RoleARN(account string) string {
	c, err := a.c.get()
	if err != nil {
		// Only for messages; without a configuration the partition is unknown.
		return (&awsvpc.Accounts{RoleName: a.memberRole}).RoleARN(account)
	}
	return c.accounts.RoleARN(account)
}

func (a accountLookups) Lookup(ctx context.Context, account, region string) (handler.EndpointLookup, error) {
	c, err := a.c.get()
	if err != nil {
		return nil, err
	}
	e, err := c.accounts.Endpoints(ctx, account, region)
	if err != nil {
		return nil, err
	}
	return e, nil
}

var (
	_ awsvpc.EC2API          = lazyEC2{}
	_ awsvpc.SecretsAPI      = lazySecrets{}
	_ handler.AccountLookups = accountLookups{}
)
