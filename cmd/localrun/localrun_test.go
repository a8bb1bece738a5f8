package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

func TestFunctionLineCondenses(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"timestamp":"2026-11-27T10:48:16Z","level":"INFO","message":"endpoint registered","vpcEndpointId":"vpce-1","vpcId":"","attempts":1,"requestId":"r"}`,
			"lambda  INFO  endpoint registered  vpcEndpointId=vpce-1 attempts=1"},
		{`2026/11/27 10:48:16 {"errorMessage":"deadline reached","errorType":"DeadlineError"}`,
			"lambda  returned DeadlineError: deadline reached"},
		{"REPORT RequestId: abc\tInit Duration: 0.03 ms\tDuration: 1607.42 ms\tBilled Duration: 1608 ms",
			"lambda  REPORT duration 1607.42 ms (cold start)"},
		{"27 Nov 2026 10:48:46,255 [WARNING] (rapid) Reset initiated: Timeout", "rie     WARNING Reset initiated: Timeout"},
		{"27 Nov 2026 10:48:46,255 [INFO] (rapid) INVOKE START(requestId: x)", ""},
		{"START RequestId: x Version: $LATEST", ""},
		{"config: ATLAS_PROJECT_ID is required", "lambda  config: ATLAS_PROJECT_ID is required"},
		{`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Outcome"]],"Metrics":[{"Name":"Registrations","Unit":"Count"}]}]},"Outcome":"registered","Registrations":1,"requestId":"r"}`,
			"lambda  METRICS Outcome=registered Registrations=1"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := newConsole(&out)
		w := &lineWriter{fn: c.functionLine(false)}
		_, _ = w.Write([]byte(tt.in[:len(tt.in)/2]))
		_, _ = w.Write([]byte(tt.in[len(tt.in)/2:] + "\n"))
		got := out.String()
		if i := strings.Index(got, "s  "); i >= 0 {
			got = strings.TrimSpace(got[i+3:]) // drop the elapsed time
		}
		if got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestAtlasLogShortens(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(&atlasLog{con: newConsole(&out), digest: true})
	log.Info("POST /api/atlas/v2/groups/5f0000000000000000000001/privateEndpoint/AWS/endpointService/5f00000000000000000000a1/endpoint -> 401")
	log.Info("POST /api/atlas/v2/groups/5f0000000000000000000001/privateEndpoint/AWS/endpointService/5f00000000000000000000a1/endpoint -> 200")
	got := out.String()
	if strings.Contains(got, "401") {
		t.Errorf("digest challenge shown: %q", got)
	}
	if !strings.Contains(got, "atlas   POST …/AWS/endpointService/5f00000000000000000000a1/endpoint → 200") {
		t.Errorf("output %q", got)
	}
}

func TestInvokeWithoutStack(t *testing.T) {
	var out bytes.Buffer
	err := runCommand(context.Background(), []string{"invoke", "-state", filepath.Join(t.TempDir(), "stack.json")}, &out)
	if err == nil || !strings.Contains(err.Error(), "make up") {
		t.Errorf("error = %v, want one that says to run `make up`", err)
	}
}

func TestRunMissingBinaries(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	err := runCommand(context.Background(), []string{"run", "-bootstrap", filepath.Join(dir, "bootstrap"), "-event", "../../events/manual-register.json"}, &out)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("error = %v, want one that says to run `make build`", err)
	}
}
