package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
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

// awsClients hands out the SDK clients. Their configuration is the SDK's
// standard one (config.LoadDefaultConfig): in Lambda, the credentials come
// from the environment, or from the container credential endpoint that
// SnapStart and Managed Instances give a function instead.
//
// Loading it and building the clients wait for the first event that reaches
// AWS, which an event the function answers without AWS never pays for. The
// region is read at init, as the SDK reads it (AWS_REGION, else
// AWS_DEFAULT_REGION); Lambda always sets AWS_REGION. When neither is set
// the configuration is loaded at once, so a region only a profile gives is
// found, and a missing one stops init. A setting the SDK refuses fails every
// event that reaches AWS with a ConfigError naming it.
type awsClients struct {
	region string
	get    func() (*sdkClients, error)
}

func newAWSClients(memberRole string) (*awsClients, error) {
	load := func() (*sdkClients, error) {
		cfg, err := loadAWSConfig()
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
	// The SDK reads the process environment, not newHandler's getenv.
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
	return &awsClients{region: region, get: sync.OnceValues(load)}, nil
}

// loadAWSConfig loads the SDK's standard configuration.
func loadAWSConfig() (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(awsCallTimeout)))
	if err != nil {
		return aws.Config{}, awsConfigError(err)
	}
	if cfg.Region == "" {
		return aws.Config{}, &handler.ConfigError{Variable: "AWS_REGION", Problem: "is required: set it to the region of the VPC endpoints"}
	}
	return cfg, nil
}

// awsConfigError is a ConfigError for an error of LoadDefaultConfig, naming
// the variable it is about. Most of the SDK's messages name it; for those
// that do not, sdkCulprits says which variable the message is about.
func awsConfigError(err error) *handler.ConfigError {
	msg := err.Error()
	name := awsVariableIn(msg)
	for _, c := range sdkCulprits {
		if name == "" && strings.Contains(msg, c.fragment) && os.Getenv(c.variable) != "" {
			name = c.variable
		}
	}
	// A file that cannot be read is named by its path.
	for _, v := range []string{"AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		if path := os.Getenv(v); name == "" && path != "" && strings.Contains(msg, path) {
			name = v
		}
	}
	if name == "" {
		// Names only: values may be secrets.
		var set []string
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && os.Getenv(k) != "" {
				set = append(set, k)
			}
		}
		slices.Sort(set)
		return &handler.ConfigError{Variable: "AWS_*", Problem: fmt.Sprintf("settings are refused by the AWS SDK's standard configuration: %v (AWS variables set: %s)",
			err, strings.Join(set, ", "))}
	}
	return &handler.ConfigError{Variable: name, Problem: fmt.Sprintf("is refused by the AWS SDK's standard configuration: %v", err)}
}

// sdkCulprits are the SDK's configuration errors that do not name their
// variable (as of config v1.33): a fragment of the message and the variable.
var sdkCulprits = []struct{ fragment, variable string }{
	{"CA bundle", "AWS_CA_BUNDLE"},
	{"shared config profile", "AWS_PROFILE"},
	{"shared config profile", "AWS_DEFAULT_PROFILE"},
	{"host", "AWS_CONTAINER_CREDENTIALS_FULL_URI"}, // "invalid endpoint host", "failed to resolve host"
	{"invalid URL", "AWS_CONTAINER_CREDENTIALS_FULL_URI"},
	{"role ARN is not set", "AWS_WEB_IDENTITY_TOKEN_FILE"},
}

// awsVariableIn returns the first AWS_… variable name in msg, or "".
func awsVariableIn(msg string) string {
	words := strings.FieldsFunc(msg, func(r rune) bool { return r != '_' && (r < 'A' || r > 'Z') && (r < '0' || r > '9') })
	for _, w := range words {
		if strings.HasPrefix(w, "AWS_") && len(w) > len("AWS_") {
			return w
		}
	}
	return ""
}

// lazyEC2 is awsvpc.EC2API and awsvpc.NetworkAPI on the client built on first use.
type lazyEC2 struct{ c *awsClients }

func (l lazyEC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	c, err := l.c.get()
	if err != nil {
		return nil, err
	}
	return c.ec2.DescribeVpcEndpoints(ctx, in, optFns...)
}

func (l lazyEC2) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	c, err := l.c.get()
	if err != nil {
		return nil, err
	}
	return c.ec2.DescribeSecurityGroups(ctx, in, optFns...)
}

func (l lazyEC2) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	c, err := l.c.get()
	if err != nil {
		return nil, err
	}
	return c.ec2.DescribeSubnets(ctx, in, optFns...)
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
type accountLookups struct{ c *awsClients }

func (a accountLookups) Self(ctx context.Context) (string, error) {
	c, err := a.c.get()
	if err != nil {
		return "", err
	}
	return c.accounts.Self(ctx)
}

// RoleARN is only asked after a lookup, so the clients are built by then;
// if they could not be, there is no role to name.
func (a accountLookups) RoleARN(account string) string {
	c, err := a.c.get()
	if err != nil {
		return ""
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
	_ awsvpc.NetworkAPI      = lazyEC2{}
	_ awsvpc.SecretsAPI      = lazySecrets{}
	_ handler.AccountLookups = accountLookups{}
)
