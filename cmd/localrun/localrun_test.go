package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/testsupport"
)

func TestFunctionLineCondenses(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"timestamp":"2026-11-27T10:48:16Z","level":"INFO","message":"endpoint registered","vpcEndpointId":"vpce-1","vpcId":"","attempts":1,"requestId":"r"}`,
			"lambda  INFO  endpoint registered  vpcEndpointId=vpce-1 attempts=1"},
		{`2026/11/27 10:48:16 {"errorMessage":"deadline reached","errorType":"DeadlineError"}`,
			"lambda  returned DeadlineError: deadline reached"},
		{"REPORT RequestId: abc\tInit Duration: 0.03 ms\tDuration: 1607.42 ms\tBilled Duration: 1608 ms",
			"lambda  REPORT duration 1607.42 ms (cold start)"},
		{"START RequestId: x Version: $LATEST", ""},
		{"config: ATLAS_PROJECT_ID is required", "lambda  config: ATLAS_PROJECT_ID is required"},
		{`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Outcome"]],"Metrics":[{"Name":"Events","Unit":"Count"}]}]},"Outcome":"registered","Events":1,"requestId":"r"}`,
			"lambda  METRICS Outcome=registered Events=1"},
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

// The emulator's own output (its stderr) is labelled as the emulator's, a
// crash included, in either mode.
func TestEmulatorLineLabels(t *testing.T) {
	tests := []struct {
		in, want, wantRaw string
	}{
		{"27 Nov 2026 10:48:46,255 [WARNING] (rapid) Reset initiated: Timeout", "rie     WARNING Reset initiated: Timeout",
			"rie     27 Nov 2026 10:48:46,255 [WARNING] (rapid) Reset initiated: Timeout"},
		{"27 Nov 2026 10:48:46,255 [INFO] (rapid) INVOKE START(requestId: x)", "",
			"rie     27 Nov 2026 10:48:46,255 [INFO] (rapid) INVOKE START(requestId: x)"},
		{"panic: runtime error: invalid memory address or nil pointer dereference", "rie     panic: runtime error: invalid memory address or nil pointer dereference",
			"rie     panic: runtime error: invalid memory address or nil pointer dereference"},
	}
	for _, tt := range tests {
		for _, raw := range []bool{false, true} {
			var out bytes.Buffer
			w := &lineWriter{fn: newConsole(&out).emulatorLine(raw)}
			_, _ = w.Write([]byte(tt.in + "\n"))
			got := out.String()
			if i := strings.Index(got, "s  "); i >= 0 {
				got = strings.TrimSpace(got[i+3:])
			}
			want := tt.want
			if raw {
				want = tt.wantRaw
			}
			if got != want {
				t.Errorf("raw %v: %s\n got %q\nwant %q", raw, tt.in, got, want)
			}
		}
	}
}

func TestDescribeRewrites(t *testing.T) {
	if got := describeRewrites(nil); !strings.Contains(got, "sent as it is") {
		t.Errorf("no rewrites: %q", got)
	}
	got := describeRewrites([]localstack.Rewrite{{From: "vpce-0a1b2c3d4e5f60718", To: "vpce-ccccccccccccccccc"}, {From: "vpc-1", To: "vpc-2"}})
	if got != "sample ids replaced by the seeded ones: vpce-0a1b2c3d4e5f60718 → vpce-ccccccccccccccccc, vpc-1 → vpc-2" {
		t.Errorf("rewrites: %q", got)
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

// make run SCENARIO=lifecycle plays the whole life through the real binary
// and says OK for every step.
func TestRunLifecycleScenario(t *testing.T) {
	t.Parallel()
	bootstrap := testsupport.Binary(t, "BOOTSTRAP", filepath.Join("..", "..", "bin", "bootstrap"))
	rie := testsupport.Binary(t, "RIE", filepath.Join("..", "..", "bin", "aws-lambda-rie"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runCommand(ctx, []string{"run", "-scenario", "lifecycle", "-bootstrap", bootstrap, "-rie", rie,
		"-event", "../../events/create-vpc-endpoint.json", "-pending-acceptance", "50ms", "-pending", "50ms"}, &out)
	if err != nil {
		t.Fatalf("run -scenario lifecycle: %v\n%s", err, out.String())
	}
	for i := 1; i <= 5; i++ {
		if !strings.Contains(out.String(), fmt.Sprintf("OK    step %d:", i)) {
			t.Errorf("step %d did not end OK:\n%s", i, out.String())
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Errorf("output reports a failure:\n%s", out.String())
	}
}

func TestRunUnknownScenario(t *testing.T) {
	var out bytes.Buffer
	if err := runCommand(context.Background(), []string{"run", "-scenario", "everything"}, &out); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}
