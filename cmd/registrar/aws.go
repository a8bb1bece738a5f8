package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/feedback"
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
	// events is built apart, on the first outcome published: a function
	// that publishes none never builds it.
	events func() *eventbridge.Client
}

func newAWSClients(memberRole string) (*awsClients, error) {
	cfg, err := loadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	events := sync.OnceValue(func() *eventbridge.Client { return eventbridge.NewFromConfig(cfg) })
	return &awsClients{region: cfg.Region, events: events, get: sync.OnceValue(func() *sdkClients {
		return &sdkClients{
			ec2: ec2.NewFromConfig(cfg),
			sm:  secretsmanager.NewFromConfig(cfg),
			// STS is asked only when an event names an account.
			accounts: &awsvpc.Accounts{Config: cfg, STS: sts.NewFromConfig(cfg), RoleName: memberRole},
		}
	})}, nil
}

// lazyEC2 is awsvpc.EC2API on the client built on first use.
type lazyEC2 struct{ c *awsClients }

func (l lazyEC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return l.c.get().ec2.DescribeVpcEndpoints(ctx, in, optFns...)
}

func (l lazyEC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return l.c.get().ec2.CreateTags(ctx, in, optFns...)
}

// lazyEvents is feedback.EventsAPI on the client built on first use.
type lazyEvents struct{ c *awsClients }

func (l lazyEvents) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return l.c.events().PutEvents(ctx, in, optFns...)
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
	_ awsvpc.EC2TagsAPI      = lazyEC2{}
	_ feedback.EventsAPI     = lazyEvents{}
	_ awsvpc.SecretsAPI      = lazySecrets{}
	_ handler.AccountLookups = accountLookups{}
)
