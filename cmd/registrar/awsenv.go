package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"

	"github.com/atlasvpce/registrar/handler"
)

// loadAWSConfig builds the AWS SDK configuration from the environment, as
// Lambda provides it, reading each variable as config.LoadDefaultConfig
// does: the region, the credentials Lambda sets from the function's role,
// and the standard settings that apply to the EC2 and Secrets Manager
// clients (endpoint URLs, FIPS and dual-stack endpoints, retries, a CA
// bundle, app id).
//
// It stands in for LoadDefaultConfig because that function's shared config
// files and credential chain (profiles, SSO, web identity, containers,
// IMDS), which Lambda does not use, link the SSO, SSO OIDC, sign-in and IMDS
// clients, whose package init costs every cold start about half a
// millisecond, and 1.4 MB of binary. A variable that would make
// LoadDefaultConfig take settings or credentials from somewhere else is
// refused by name, so nothing is silently read differently. awsenv_test.go
// compares the clients built from this configuration with those built from
// LoadDefaultConfig's.
//
// getenv is os.Getenv in production: the SDK clients read some of these
// variables from the process environment themselves.
func loadAWSConfig(getenv func(string) string) (aws.Config, error) {
	for _, name := range elsewhereVars {
		if getenv(name) != "" {
			return aws.Config{}, &handler.ConfigError{Variable: name, Problem: "is set, but this function takes its AWS settings " +
				"and credentials only from the environment (the variables Lambda sets); unset it"}
		}
	}
	// The local stack points these at /dev/null to keep a developer's files out.
	for _, name := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		if v := getenv(name); v != "" && v != os.DevNull {
			return aws.Config{}, &handler.ConfigError{Variable: name, Problem: fmt.Sprintf("is %q, but this function reads no "+
				"shared AWS config files: its settings come from the environment; unset it", v)}
		}
	}

	httpClient := awshttp.NewBuildableClient().WithTimeout(awsCallTimeout)
	if path := getenv("AWS_CA_BUNDLE"); path != "" {
		// As LoadDefaultConfig: the bundle replaces the system's roots.
		pem, err := os.ReadFile(path)
		if err != nil {
			return aws.Config{}, &handler.ConfigError{Variable: "AWS_CA_BUNDLE", Problem: fmt.Sprintf("is %q, which cannot be read: %v", path, err)}
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return aws.Config{}, &handler.ConfigError{Variable: "AWS_CA_BUNDLE", Problem: fmt.Sprintf("is %q, which holds no PEM certificate", path)}
		}
		httpClient = httpClient.WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.RootCAs = roots
		})
	}
	cfg := aws.Config{
		Region:     firstSet(getenv, "AWS_REGION", "AWS_DEFAULT_REGION"),
		HTTPClient: httpClient,
		Logger:     logging.NewStandardLogger(os.Stderr), // as LoadDefaultConfig: the SDK's few warnings go to stderr
		AppID:      getenv("AWS_SDK_UA_APP_ID"),
	}
	if cfg.Region == "" {
		return aws.Config{}, &handler.ConfigError{Variable: "AWS_REGION", Problem: "is required: set it to the region of the VPC endpoints"}
	}
	id, secret := firstSet(getenv, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), firstSet(getenv, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, &handler.ConfigError{Variable: "AWS_ACCESS_KEY_ID", Problem: "and AWS_SECRET_ACCESS_KEY are required: " +
			"Lambda sets them, with AWS_SESSION_TOKEN, from the function's role"}
	}
	// As LoadDefaultConfig takes credentials from the environment, down to the names it reports.
	creds := aws.Credentials{
		AccessKeyID: id, SecretAccessKey: secret, SessionToken: getenv("AWS_SESSION_TOKEN"),
		AccountID: getenv("AWS_ACCOUNT_ID"), Source: "EnvConfigCredentials",
	}
	cfg.Credentials = aws.NewCredentialsCache(credentials.StaticCredentialsProvider{
		Value: creds, Source: []aws.CredentialSource{aws.CredentialSourceEnvVars},
	})

	if v := getenv("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return aws.Config{}, &handler.ConfigError{Variable: "AWS_MAX_ATTEMPTS", Problem: fmt.Sprintf("is %q; expected a whole number", v)}
		}
		cfg.RetryMaxAttempts = int(n)
	}
	if v := getenv("AWS_RETRY_MODE"); v != "" {
		mode, err := aws.ParseRetryMode(v)
		if err != nil {
			return aws.Config{}, &handler.ConfigError{Variable: "AWS_RETRY_MODE", Problem: fmt.Sprintf("is %q; expected %q or %q", v, aws.RetryModeStandard, aws.RetryModeAdaptive)}
		}
		cfg.RetryMode = mode
	}

	src := endpointSource{getenv: getenv}
	var err error
	if src.fips, err = boolVar(getenv, "AWS_USE_FIPS_ENDPOINT"); err != nil {
		return aws.Config{}, err
	}
	if src.dualStack, err = boolVar(getenv, "AWS_USE_DUALSTACK_ENDPOINT"); err != nil {
		return aws.Config{}, err
	}
	if src.ignore, err = boolVar(getenv, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"); err != nil {
		return aws.Config{}, err
	}
	cfg.ConfigSources = []any{src}
	if v := getenv("AWS_ENDPOINT_URL"); v != "" && src.ignore != "true" {
		cfg.BaseEndpoint = aws.String(v)
	}
	return cfg, nil
}

// elsewhereVars are the variables with which LoadDefaultConfig would take
// settings or credentials from a profile, a token file, a container
// endpoint, or change its defaults; loadAWSConfig reads none
// of those. The SDK variables it neither reads nor refuses have no effect on
// the EC2 and Secrets Manager clients (S3 and DynamoDB options, checksums,
// request compression) or only matter to sources it never reaches (IMDS).
var elsewhereVars = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_DEFAULTS_MODE", "AWS_AUTH_SCHEME_PREFERENCE", "AWS_DISABLE_CLOCK_SKEW_CORRECTION",
}

func firstSet(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// boolVar reads a true/false variable as the SDK does (any case); "" when unset.
func boolVar(getenv func(string) string, name string) (string, error) {
	switch v := getenv(name); {
	case v == "":
		return "", nil
	case strings.EqualFold(v, "true"):
		return "true", nil
	case strings.EqualFold(v, "false"):
		return "false", nil
	default:
		return "", &handler.ConfigError{Variable: name, Problem: fmt.Sprintf("is %q; expected true or false", v)}
	}
}

// endpointSource answers the questions each SDK client asks its
// configuration sources when it is built (per-service endpoint URLs, FIPS
// and dual-stack endpoints), from the same variables config.EnvConfig
// answers them from.
type endpointSource struct {
	getenv                  func(string) string
	fips, dualStack, ignore string // "true", "false" or "" (unset)
}

// GetServiceBaseEndpoint reads AWS_ENDPOINT_URL_<service>, e.g. _EC2 or _SECRETS_MANAGER.
func (s endpointSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := s.getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

func (s endpointSource) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	return s.ignore == "true", s.ignore != "", nil
}

func (s endpointSource) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return tristate(s.fips, aws.FIPSEndpointStateEnabled, aws.FIPSEndpointStateDisabled, aws.FIPSEndpointStateUnset)
}

func (s endpointSource) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return tristate(s.dualStack, aws.DualStackEndpointStateEnabled, aws.DualStackEndpointStateDisabled, aws.DualStackEndpointStateUnset)
}

// tristate turns boolVar's "true", "false" or "" into the SDK's state, and
// whether the variable was set.
func tristate[T any](v string, enabled, disabled, unset T) (T, bool, error) {
	switch v {
	case "true":
		return enabled, true, nil
	case "false":
		return disabled, true, nil
	}
	return unset, false, nil
}
