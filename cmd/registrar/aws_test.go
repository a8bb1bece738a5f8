package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/handler"
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

// A setting the SDK's loader refuses is a ConfigError that names it, also
// where the SDK's own message does not.
func TestAWSConfigErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ name, value string }{
		{"AWS_MAX_ATTEMPTS", "three"},
		{"AWS_RETRY_MODE", "eager"},
		{"AWS_USE_FIPS_ENDPOINT", "1"},
		{"AWS_USE_DUALSTACK_ENDPOINT", "yes"},
		{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "on"},
		{"AWS_DEFAULTS_MODE", "fast"},
		// The SDK's message names no variable for these.
		{"AWS_CA_BUNDLE", "/nonexistent/ca.pem"},
		{"AWS_CA_BUNDLE", os.DevNull}, // holds no certificate
		{"AWS_PROFILE", "nosuch"},
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/credentials"}, // plain http off loopback
		{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "::no-scheme"},
		{"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"}, // without AWS_ROLE_ARN
		{"AWS_REGION", ""},                                // none at all
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			isolateAWS(t, map[string]string{"AWS_REGION": "us-east-1", tt.name: tt.value})
			_, err := loadAWSConfig()
			ce, ok := errors.AsType[*handler.ConfigError](err)
			if !ok || ce.Variable != tt.name || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("loadAWSConfig() error = %v, want a ConfigError naming %s", err, tt.name)
			}
		})
	}
}

// An SDK message that names no variable, of a kind not known here, lists the
// AWS variables that are set, by name only.
func TestAWSConfigErrorOfUnknownKind(t *testing.T) {
	isolateAWS(t, map[string]string{"AWS_REGION": "us-east-1", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"})
	err := awsConfigError(errors.New("some new failure"))
	msg := err.Error()
	if err.Variable != "AWS_*" || !strings.Contains(msg, "some new failure") || !strings.Contains(msg, "AWS_SECRET_ACCESS_KEY") || !strings.Contains(msg, "AWS_REGION") {
		t.Errorf("awsConfigError() = %q, want the SDK's message and the names of the AWS variables set", msg)
	}
	if strings.Contains(msg, "s3cr3t-value") {
		t.Errorf("awsConfigError() = %q shows a variable's value", msg)
	}
}

// credentialEndpoint is a container credential endpoint on loopback, as
// Lambda serves one with SnapStart and Managed Instances: it answers only
// the Authorization token it was given, and counts who asked.
type credentialEndpoint struct {
	*httptest.Server
	token               string
	accessKeyID         string
	authorized, refused atomic.Int32
}

func serveCredentials(t *testing.T) *credentialEndpoint {
	t.Helper()
	c := &credentialEndpoint{token: "container-token-" + t.Name(), accessKeyID: "ASIACONTAINERCREDS01"}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != c.token {
			c.refused.Add(1)
			http.Error(w, `{"code":"AccessDenied","message":"bad token"}`, http.StatusUnauthorized)
			return
		}
		c.authorized.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId": c.accessKeyID, "SecretAccessKey": "container-secret", "Token": "container-session",
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(c.Close)
	return c
}

// env is what Lambda sets instead of AWS_ACCESS_KEY_ID and its secret.
func (c *credentialEndpoint) env() map[string]string {
	return map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": c.URL + "/2021-04-23/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN": c.token}
}

// With no keys in the environment, the credentials come from the container
// endpoint, asked with its token.
func TestAWSConfigContainerCredentials(t *testing.T) {
	c := serveCredentials(t)
	isolateAWS(t, map[string]string{"AWS_REGION": "us-east-1"}, c.env())
	cfg, err := loadAWSConfig()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if creds.AccessKeyID != c.accessKeyID || creds.SessionToken != "container-session" {
		t.Errorf("credentials %s/%s, want the endpoint's", creds.AccessKeyID, creds.SessionToken)
	}
	if c.authorized.Load() != 1 || c.refused.Load() != 0 {
		t.Errorf("endpoint asked %d times with its token and %d without, want 1 and 0", c.authorized.Load(), c.refused.Load())
	}
}
