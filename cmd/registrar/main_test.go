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
	"time"

	"github.com/atlasvpce/registrar/handler"
)

// The wiring reads only configuration: a bad variable fails with its name,
// and a good configuration builds the handler without touching the network.
func TestNewHandler(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
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
			h, err := newHandler(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantVar == "" {
				if err != nil || h == nil {
					t.Fatalf("newHandler() = %v, %v", h, err)
				}
				return
			}
			ce, ok := errors.AsType[*handler.ConfigError](err)
			if !ok || ce.Variable != tt.wantVar || !strings.Contains(err.Error(), tt.wantVar) {
				t.Fatalf("newHandler() error = %v, want a ConfigError naming %s", err, tt.wantVar)
			}
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

// isolateAWS points the SDK at an empty shared config and credentials file
// and clears the variables that choose a region or a profile.
func isolateAWS(t *testing.T) (configFile string) {
	t.Helper()
	configFile = filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(configFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", configFile)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	return configFile
}

// The region is checked at init wherever the SDK would find it: the two
// variables, or else a shared config profile. Without one, init fails naming
// AWS_REGION.
func TestNewHandlerRegion(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		env     map[string]string
		profile string // the shared config file's content
		wantErr string // "" for success
	}{
		{name: "AWS_REGION", env: map[string]string{"AWS_REGION": "eu-west-1"}},
		{name: "AWS_DEFAULT_REGION", env: map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}},
		{name: "profile region", profile: "[default]\nregion = eu-west-1\n"},
		{name: "no region", wantErr: "AWS_REGION is required"},
		{name: "profile without region", profile: "[default]\noutput = json\n", wantErr: "AWS_REGION is required"},
		{name: "missing profile, no region", env: map[string]string{"AWS_PROFILE": "absent"}, wantErr: "load AWS configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := isolateAWS(t)
			if err := os.WriteFile(file, []byte(tt.profile), 0o600); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			h, err := newHandler(context.Background(), atlasEnv, discard)
			if tt.wantErr == "" {
				if err != nil || h == nil {
					t.Fatalf("newHandler() = %v, %v", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("newHandler() error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "AWS_REGION is required" {
				if ce, ok := errors.AsType[*handler.ConfigError](err); !ok || ce.Variable != "AWS_REGION" {
					t.Errorf("error %v is not a ConfigError naming AWS_REGION", err)
				}
			}
		})
	}
}

// With the region in the environment, as in Lambda, the rest of the AWS
// configuration is loaded on first use: init succeeds, and a configuration
// error that only loading finds fails each event that needs AWS, saying what
// was wrong.
func TestAWSConfigurationLoadsOnFirstUse(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "absent-profile")
	h, err := newHandler(context.Background(), atlasEnv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newHandler() = %v; the AWS configuration should wait for first use", err)
	}
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = h.Handle(ctx, []byte(`{"vpcEndpointId":"vpce-0123456789abcdef0"}`))
		cancel()
		_, ok := errors.AsType[*handler.LookupError](err)
		if !ok || !strings.Contains(err.Error(), "load AWS configuration") || !strings.Contains(err.Error(), "absent-profile") {
			t.Fatalf("Handle() error = %v, want a LookupError that names the configuration and the profile", err)
		}
	}
}

// Other accounts are reached through the same lazily built configuration:
// its error reaches the caller, and the role's ARN can still be named.
func TestAccountLookupsLoadOnFirstUse(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "absent-profile")
	clients, err := newAWSClients(context.Background(), "member-role")
	if err != nil {
		t.Fatalf("newAWSClients() = %v; the AWS configuration should wait for first use", err)
	}
	if clients.region != "us-east-1" {
		t.Errorf("region %q, want us-east-1 from AWS_REGION", clients.region)
	}
	a := accountLookups{clients, "member-role"}
	if _, err := a.Lookup(context.Background(), "123456789012", "eu-west-1"); err == nil || !strings.Contains(err.Error(), "absent-profile") {
		t.Errorf("Lookup() error = %v, want the configuration's, naming the profile", err)
	}
	if _, err := a.Self(context.Background()); err == nil || !strings.Contains(err.Error(), "absent-profile") {
		t.Errorf("Self() error = %v, want the configuration's, naming the profile", err)
	}
	if got, want := a.RoleARN("123456789012"), "arn:aws:iam::123456789012:role/member-role"; got != want {
		t.Errorf("RoleARN() = %q, want %q", got, want)
	}
}
