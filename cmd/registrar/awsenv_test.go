package main

import (
	"context"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// isolateAWS unsets every AWS_ variable for the test, and keeps shared files
// and IMDS out of LoadDefaultConfig's reach, as the local stack does; then it
// sets the variables of envs, in order.
func isolateAWS(t *testing.T, envs ...map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restores the value when the test ends
			os.Unsetenv(k)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, env := range envs {
		for k, v := range env {
			t.Setenv(k, v)
		}
	}
}

// testCABundle is a PEM file: the testdata holds one self-signed certificate.
const testCABundle = "testdata/ca.pem"

// clientView is what the clients built from a configuration do with it.
type clientView struct {
	Region, BaseEndpoint, AppID string
	FIPS                        aws.FIPSEndpointState
	DualStack                   aws.DualStackEndpointState
	MaxAttempts                 int
	RetryMode                   aws.RetryMode
	Creds                       aws.Credentials
	Timeout                     time.Duration
	Roots                       *x509.CertPool // nil: the system's
}

func (v clientView) equal(w clientView) bool {
	rv, rw := v.Roots, w.Roots
	v.Roots, w.Roots = nil, nil
	return v == w && (rv == nil) == (rw == nil) && (rv == nil || rv.Equal(rw))
}

func viewClients(t *testing.T, cfg aws.Config) (ec2View, smView clientView) {
	t.Helper()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("retrieve credentials: %v", err)
	}
	eo := ec2.NewFromConfig(cfg).Options()
	so := secretsmanager.NewFromConfig(cfg).Options()
	hc := cfg.HTTPClient.(*awshttp.BuildableClient)
	var roots *x509.CertPool
	if tls := hc.GetTransport().TLSClientConfig; tls != nil {
		roots = tls.RootCAs
	}
	return clientView{
			Region: eo.Region, BaseEndpoint: aws.ToString(eo.BaseEndpoint), AppID: eo.AppID,
			FIPS: eo.EndpointOptions.UseFIPSEndpoint, DualStack: eo.EndpointOptions.UseDualStackEndpoint,
			MaxAttempts: eo.Retryer.MaxAttempts(), RetryMode: eo.RetryMode, Creds: creds, Roots: roots, Timeout: hc.GetTimeout(),
		}, clientView{
			Region: so.Region, BaseEndpoint: aws.ToString(so.BaseEndpoint), AppID: so.AppID,
			FIPS: so.EndpointOptions.UseFIPSEndpoint, DualStack: so.EndpointOptions.UseDualStackEndpoint,
			MaxAttempts: so.Retryer.MaxAttempts(), RetryMode: so.RetryMode, Creds: creds, Roots: roots, Timeout: hc.GetTimeout(),
		}
}

// loadAWSConfig must configure the EC2 and Secrets Manager clients exactly as
// config.LoadDefaultConfig does, for every variable it reads.
func TestLoadAWSConfigMatchesLoadDefaultConfig(t *testing.T) {
	lambda := map[string]string{"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"as in Lambda", nil},
		{"default region only", map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-central-1"}},
		{"both regions", map[string]string{"AWS_DEFAULT_REGION": "eu-central-1"}},
		{"no session token", map[string]string{"AWS_SESSION_TOKEN": ""}},
		{"old key names", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ACCESS_KEY": "AKOLD", "AWS_SECRET_KEY": "old"}},
		{"account id", map[string]string{"AWS_ACCOUNT_ID": "123456789012"}},
		{"endpoint for all", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}},
		{"endpoint per service", map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:5001", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5002", "AWS_ENDPOINT_URL_EVENTBRIDGE": "http://127.0.0.1:5003"}},
		{"service endpoint over global", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:5001"}},
		{"endpoints ignored", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:5001", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE"}},
		{"endpoints not ignored", map[string]string{"AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:5001", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"}},
		{"FIPS and dual-stack", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "True"}},
		{"FIPS and dual-stack off", map[string]string{"AWS_USE_FIPS_ENDPOINT": "false", "AWS_USE_DUALSTACK_ENDPOINT": "FALSE"}},
		{"retries", map[string]string{"AWS_MAX_ATTEMPTS": "7", "AWS_RETRY_MODE": "adaptive"}},
		{"zero attempts", map[string]string{"AWS_MAX_ATTEMPTS": "0", "AWS_RETRY_MODE": "standard"}},
		{"app id", map[string]string{"AWS_SDK_UA_APP_ID": "registrar"}},
		{"CA bundle", map[string]string{"AWS_CA_BUNDLE": testCABundle}},
		{"no effect on these clients", map[string]string{"AWS_S3_USE_ARN_REGION": "true", "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t, lambda, tt.env)
			// As the function called it before loadAWSConfig.
			want, err := config.LoadDefaultConfig(context.Background(),
				config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(awsCallTimeout)))
			if err != nil {
				t.Fatalf("LoadDefaultConfig: %v", err)
			}
			got, err := loadAWSConfig(os.Getenv)
			if err != nil {
				t.Fatalf("loadAWSConfig: %v", err)
			}
			gotEC2, gotSM := viewClients(t, got)
			wantEC2, wantSM := viewClients(t, want)
			if !gotEC2.equal(wantEC2) {
				t.Errorf("EC2 client:\n got %+v\nwant %+v", gotEC2, wantEC2)
			}
			if !gotSM.equal(wantSM) {
				t.Errorf("Secrets Manager client:\n got %+v\nwant %+v", gotSM, wantSM)
			}
			// The EventBridge client (outcome events) finds its endpoint the same way.
			ge, we := eventbridge.NewFromConfig(got).Options(), eventbridge.NewFromConfig(want).Options()
			if ge.Region != we.Region || aws.ToString(ge.BaseEndpoint) != aws.ToString(we.BaseEndpoint) || ge.EndpointOptions != we.EndpointOptions {
				t.Errorf("EventBridge client: region %q, endpoint %q, %+v; want %q, %q, %+v",
					ge.Region, aws.ToString(ge.BaseEndpoint), ge.EndpointOptions, we.Region, aws.ToString(we.BaseEndpoint), we.EndpointOptions)
			}
		})
	}
}

// Where LoadDefaultConfig fails on a malformed value, so does loadAWSConfig.
func TestLoadAWSConfigRejectsWhatLoadDefaultConfigRejects(t *testing.T) {
	for _, kv := range [][2]string{
		{"AWS_MAX_ATTEMPTS", "three"}, {"AWS_RETRY_MODE", "eager"},
		{"AWS_CA_BUNDLE", "/nonexistent/ca.pem"}, {"AWS_CA_BUNDLE", os.DevNull},
		{"AWS_USE_FIPS_ENDPOINT", "1"}, {"AWS_USE_DUALSTACK_ENDPOINT", "yes"}, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "on"},
	} {
		t.Run(kv[0]+"="+kv[1], func(t *testing.T) {
			isolateAWS(t, map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", kv[0]: kv[1]})
			if _, err := config.LoadDefaultConfig(context.Background()); err == nil {
				t.Fatalf("LoadDefaultConfig accepts %s=%s; the case is wrong", kv[0], kv[1])
			}
			if _, err := loadAWSConfig(os.Getenv); err == nil || !strings.Contains(err.Error(), kv[0]) {
				t.Errorf("loadAWSConfig() error = %v, want one naming %s", err, kv[0])
			}
		})
	}
}
