package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
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
		{name: "outcome events and status tags", change: map[string]string{"OUTCOME_EVENT_BUS": "atlas-vpce-registrar", "ENDPOINT_STATUS_TAGS": "true"}},
		{name: "bad outcome bus", change: map[string]string{"OUTCOME_EVENT_BUS": "arn:aws:sns:us-east-1:111111111111:topic"}, wantVar: "OUTCOME_EVENT_BUS"},
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

// The AWS settings are read at init, from the environment only: a missing
// region or credentials, or a variable that points elsewhere, stops init
// naming the variable.
func TestNewHandlerAWSSettings(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	lambdaEnv := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"}
	tests := []struct {
		name    string
		change  map[string]string
		wantVar string // "" for success
	}{
		{name: "as in Lambda"},
		{name: "AWS_DEFAULT_REGION only", change: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"}},
		{name: "shared files kept out as the local stack does", change: map[string]string{"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull}},
		{name: "no region", change: map[string]string{"AWS_REGION": ""}, wantVar: "AWS_REGION"},
		{name: "no credentials", change: map[string]string{"AWS_ACCESS_KEY_ID": ""}, wantVar: "AWS_ACCESS_KEY_ID"},
		{name: "profile", change: map[string]string{"AWS_PROFILE": "dev"}, wantVar: "AWS_PROFILE"},
		{name: "web identity", change: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/token"}, wantVar: "AWS_WEB_IDENTITY_TOKEN_FILE"},
		{name: "shared config file", change: map[string]string{"AWS_CONFIG_FILE": "/home/me/.aws/config"}, wantVar: "AWS_CONFIG_FILE"},
		{name: "bad max attempts", change: map[string]string{"AWS_MAX_ATTEMPTS": "three"}, wantVar: "AWS_MAX_ATTEMPTS"},
		{name: "bad retry mode", change: map[string]string{"AWS_RETRY_MODE": "eager"}, wantVar: "AWS_RETRY_MODE"},
		{name: "bad FIPS flag", change: map[string]string{"AWS_USE_FIPS_ENDPOINT": "yes"}, wantVar: "AWS_USE_FIPS_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t, lambdaEnv, tt.change)
			h, err := newHandler(atlasEnv, discard)
			checkInit(t, h, err, tt.wantVar)
		})
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
