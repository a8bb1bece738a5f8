package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/handler"
)

// The wiring reads only configuration: a bad variable fails with its name,
// and a good configuration builds the handler without touching the network.
func TestNewHandler(t *testing.T) {
	isolateAWS(t, map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"})
	good := map[string]string{
		"ATLAS_PROJECT_ID": "5f0000000000000000000001",
		"ATLAS_SECRET_ID":  "atlas/registrar",
		// Unroutable on purpose: any network call at init would fail or hang.
		"ATLAS_BASE_URL": "https://atlas.invalid",
	}
	tests := []struct {
		name    string
		change  map[string]string
		wantVar string
	}{
		{name: "good"},
		{name: "no project", change: map[string]string{"ATLAS_PROJECT_ID": ""}, wantVar: "ATLAS_PROJECT_ID"},
		{name: "bad version", change: map[string]string{"ATLAS_API_VERSION": "2023-01-01"}, wantVar: "ATLAS_API_VERSION"},
		{name: "http base URL", change: map[string]string{"ATLAS_BASE_URL": "http://atlas.invalid"}, wantVar: "ATLAS_BASE_URL"},
		{name: "metrics namespace", change: map[string]string{"METRICS_NAMESPACE": "AWS/Lambda"}, wantVar: "METRICS_NAMESPACE"},
		{name: "own metrics namespace", change: map[string]string{"METRICS_NAMESPACE": "Platform/Atlas Registrar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tt.change {
				env[k] = v
			}
			h, err := newHandler(func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
			checkInit(t, h, err, tt.wantVar)
		})
	}
}

// atlasEnv is a valid Atlas configuration for newHandler.
func atlasEnv(k string) string {
	return map[string]string{
		"ATLAS_PROJECT_ID": "5f0000000000000000000001",
		"ATLAS_SECRET_ID":  "atlas/registrar",
		"ATLAS_BASE_URL":   "https://atlas.invalid",
	}[k]
}

// The AWS settings are the SDK's standard configuration, loaded when an event
// first reaches AWS. Only a missing region stops init; a setting the SDK
// refuses fails that first event with a ConfigError naming it, while an event
// answered without AWS still succeeds. Credentials may come from the
// environment or, with none there, from a container credential endpoint.
func TestNewHandlerAWSSettings(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Nothing listens at the endpoint: a call that gets as far as the network
	// fails at once, with a LookupError.
	lambdaEnv := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "1"}
	creds := serveCredentials(t)
	containerEnv := creds.env()
	containerEnv["AWS_ACCESS_KEY_ID"], containerEnv["AWS_SECRET_ACCESS_KEY"], containerEnv["AWS_SESSION_TOKEN"] = "", "", ""
	failedCall, err := os.ReadFile(filepath.Join("..", "..", "events", "create-vpc-endpoint-failed-call.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		change   map[string]string
		initVar  string // the ConfigError of init, "" for none
		firstVar string // the ConfigError of the first event that reaches AWS, "" for none
	}{
		{name: "as in Lambda"},
		{name: "AWS_DEFAULT_REGION only", change: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"}},
		{name: "container credentials only", change: containerEnv},
		{name: "CA bundle", change: map[string]string{"AWS_CA_BUNDLE": "testdata/ca.pem"}},
		{name: "no region", change: map[string]string{"AWS_REGION": ""}, initVar: "AWS_REGION"},
		{name: "missing profile", change: map[string]string{"AWS_PROFILE": "dev"}, firstVar: "AWS_PROFILE"},
		{name: "bad max attempts", change: map[string]string{"AWS_MAX_ATTEMPTS": "three"}, firstVar: "AWS_MAX_ATTEMPTS"},
		{name: "bad retry mode", change: map[string]string{"AWS_RETRY_MODE": "eager"}, firstVar: "AWS_RETRY_MODE"},
		{name: "bad FIPS flag", change: map[string]string{"AWS_USE_FIPS_ENDPOINT": "yes"}, firstVar: "AWS_USE_FIPS_ENDPOINT"},
		{name: "unreadable CA bundle", change: map[string]string{"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}, firstVar: "AWS_CA_BUNDLE"},
	}
	// The invocations write their metrics lines to stdout; keep them out of the test's output.
	defer captureStdout(t)()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t, lambdaEnv, tt.change)
			h, err := newHandler(atlasEnv, discard)
			checkInit(t, h, err, tt.initVar)
			if h == nil {
				return
			}
			if _, err := h.Invoke(context.Background(), failedCall); err != nil {
				t.Errorf("an event answered without AWS: %v", err)
			}
			_, err = h.Invoke(context.Background(), []byte(`{"vpcEndpointId":"vpce-0123456789abcdef0"}`))
			ce, isConfig := errors.AsType[*handler.ConfigError](err)
			switch {
			case tt.firstVar == "" && (isConfig || err == nil):
				t.Errorf("first event that reaches AWS: %v; want it to reach the (absent) endpoint", err)
			case tt.firstVar != "" && (!isConfig || ce.Variable != tt.firstVar):
				t.Errorf("first event that reaches AWS: %T %v; want a ConfigError naming %s", err, err, tt.firstVar)
			}
		})
	}
	if creds.authorized.Load() == 0 || creds.refused.Load() != 0 {
		t.Errorf("the container credential endpoint was asked %d times with its token and %d without; want at least once, and never without",
			creds.authorized.Load(), creds.refused.Load())
	}
}

// checkInit asserts newHandler's outcome: a handler when wantVar is "", else
// a ConfigError that names wantVar.
func checkInit(t *testing.T, h *handler.Handler, err error, wantVar string) {
	t.Helper()
	if wantVar == "" {
		if err != nil || h == nil {
			t.Fatalf("newHandler() = %v, %v", h, err)
		}
		return
	}
	ce, ok := errors.AsType[*handler.ConfigError](err)
	if !ok || ce.Variable != wantVar || !strings.Contains(err.Error(), wantVar) {
		t.Fatalf("newHandler() error = %v, want a ConfigError naming %s", err, wantVar)
	}
}
