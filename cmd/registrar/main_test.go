package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

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
