package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
		// SecondsToAvailable to a tenth, one value or several.
		{`{"_aws":{"Timestamp":1},"Outcome":"registered","Events":1,"SecondsToAvailable":1.5734567,"AtlasRequests":14}`,
			"lambda  METRICS Outcome=registered Events=1 SecondsToAvailable=1.6 AtlasRequests=14"},
		{`{"_aws":{"Timestamp":1},"Outcome":"reconciled","Events":1,"SecondsToAvailable":[83.25123,2.04999]}`,
			"lambda  METRICS Outcome=reconciled Events=1 SecondsToAvailable=83.3,2.0"},
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

// Once the stack is being stopped, the emulator's and the function's lines
// (a killed function's Runtime.ExitError) are not shown.
func TestStoppingMutesTheStack(t *testing.T) {
	var out bytes.Buffer
	c := newConsole(&out)
	fn, emu := &lineWriter{fn: c.functionLine(false)}, &lineWriter{fn: c.emulatorLine(false)}
	_, _ = emu.Write([]byte("27 Nov 2026 10:42:45,779 [WARN] (rapid) first\n"))
	c.stopping()
	_, _ = emu.Write([]byte("27 Nov 2026 10:42:46,001 [WARN] (rapid) First fatal error stored in appctx: Runtime.ExitError\n"))
	_, _ = emu.Write([]byte("Runtime.ExitError\n"))
	_, _ = fn.Write([]byte("signal: killed\n"))
	got := out.String()
	if !strings.Contains(got, "WARN first") || !strings.Contains(got, "stopping everything") {
		t.Errorf("output lacks the line before stopping or the stopping line:\n%s", got)
	}
	if strings.Contains(got, "ExitError") || strings.Contains(got, "killed") {
		t.Errorf("output shows the stack's last words:\n%s", got)
	}
}

// A file that is not JSON is sent as it is, so the function's own answer
// shows; a sample has its placeholders replaced.
func TestEventPayload(t *testing.T) {
	info := &localstack.Info{EndpointID: "vpce-ccccccccccccccccc"}
	for _, raw := range []string{"", "not json", `{"vpcEndpointId":`, `{} {}`} {
		payload, how, err := eventPayload(info.RewriteSample, "e.json", []byte(raw))
		if err != nil || string(payload) != raw || !strings.Contains(how, "not valid JSON: sent as it is") {
			t.Errorf("%q: payload %q, %q, %v; want it as it is, said so", raw, payload, how, err)
		}
	}
	payload, how, err := eventPayload(info.RewriteSample, "e.json", []byte(`{"vpcEndpointId":"vpce-0a1b2c3d4e5f60718"}`))
	if err != nil || string(payload) != `{"vpcEndpointId":"vpce-ccccccccccccccccc"}` || !strings.Contains(how, "replaced") {
		t.Errorf("sample: payload %s, %q, %v", payload, how, err)
	}
}

// Registering an endpoint moto does not know takes the function's whole
// EC2 wait; the tools say so before it starts, and only then.
func TestEC2WaitNotice(t *testing.T) {
	const seeded = "vpce-ccccccccccccccccc"
	tests := []struct {
		payload string
		want    bool
	}{
		{`{"vpcEndpointId":"vpce-0123456789abcdef0"}`, true},
		{`{"vpcEndpointId":"` + seeded + `"}`, false},
		{`{"action":"reconcile"}`, false},
		{`{"action":"deregister","vpcEndpointId":"vpce-0123456789abcdef0"}`, false},
		{`{"vpcEndpointId":"VPCE-X"}`, false}, // refused at once
		{`not json`, false},
	}
	for _, tt := range tests {
		got := ec2WaitNotice([]byte(tt.payload), seeded)
		if (got != "") != tt.want || tt.want && (!strings.Contains(got, "vpce-0123456789abcdef0") || !strings.Contains(got, "up to 20s")) {
			t.Errorf("%s: notice %q, want one: %v", tt.payload, got, tt.want)
		}
	}
}

// make up refuses to start a second stack while the recorded one runs, says
// how to stop it, and leaves its record alone; a record left by a process
// that has exited does not stop it.
func TestUpRefusesWhileAnotherRuns(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "stack.json")
	running := &localstack.Info{InvokeURL: "http://127.0.0.1:1" + localstack.InvokePath, PID: os.Getpid()}
	if err := running.WriteState(state); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(state)
	var out bytes.Buffer
	missing := filepath.Join(dir, "bootstrap")
	err := runCommand(context.Background(), []string{"up", "-state", state, "-bootstrap", missing}, &out)
	want := fmt.Sprintf("another local stack is running (process %d, recorded in %s); stop it with Ctrl-C in its terminal (or `kill %d`)", os.Getpid(), state, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to say %q", err, want)
	}
	if after, _ := os.ReadFile(state); !bytes.Equal(before, after) {
		t.Errorf("the running stack's record changed:\n%s", after)
	}

	gone := &localstack.Info{InvokeURL: running.InvokeURL, PID: exitedPID(t)}
	if err := gone.WriteState(state); err != nil {
		t.Fatal(err)
	}
	err = runCommand(context.Background(), []string{"up", "-state", state, "-bootstrap", missing}, &out)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("with a stale record: error = %v, want the missing binary reported", err)
	}
}

// exitedPID is the pid of a process that has exited and been reaped.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
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

// runReal runs "localrun run" with args on the real binary under the
// emulator, with short Atlas delays, and returns what it printed.
func runReal(t *testing.T, args ...string) (*bytes.Buffer, error) {
	t.Helper()
	bootstrap := testsupport.Binary(t, "BOOTSTRAP", filepath.Join("..", "..", "bin", "bootstrap"))
	rie := testsupport.Binary(t, "RIE", filepath.Join("..", "..", "bin", "aws-lambda-rie"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runCommand(ctx, append([]string{"run", "-bootstrap", bootstrap, "-rie", rie, "-pending-acceptance", "50ms", "-pending", "50ms"}, args...), &out)
	return &out, err
}

// make run SCENARIO=lifecycle plays the whole life through the real binary
// and says OK for every step.
func TestRunLifecycleScenario(t *testing.T) {
	t.Parallel()
	out := runScenario(t, "lifecycle", "create-vpc-endpoint.json", 5)
	for _, want := range []string{"step 3: the seeded endpoint is deleted in EC2, and its delete event deregisters it",
		`outcome "would-register", as expected`, `outcome "deregistered", as expected`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "is would-register") || strings.Contains(out, "not-registered") {
		t.Errorf("output reads oddly:\n%s", out)
	}
}

// make run SCENARIO=data-federation registers a Data Federation endpoint and
// deregisters it, through the real binary, and the results name the kind.
func TestRunDataFederationScenario(t *testing.T) {
	t.Parallel()
	out := runScenario(t, "data-federation", "create-vpc-endpoint-data-federation.json", 3)
	if !strings.Contains(out, `"kind": "data-federation"`) {
		t.Errorf("no result names the data-federation kind:\n%s", out)
	}
}

// runScenario runs make run's scenario and checks that each of its steps
// ended OK; it returns the output.
func runScenario(t *testing.T, scenario, event string, steps int) string {
	t.Helper()
	out, err := runReal(t, "-scenario", scenario, "-event", "../../events/"+event)
	if err != nil {
		t.Fatalf("run -scenario %s: %v\n%s", scenario, err, out.String())
	}
	for i := 1; i <= steps; i++ {
		if !strings.Contains(out.String(), fmt.Sprintf("OK    step %d:", i)) {
			t.Errorf("step %d did not end OK:\n%s", i, out.String())
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Errorf("output reports a failure:\n%s", out.String())
	}
	return out.String()
}

// make run with the sample for the seeded endpoint whose group is too
// narrow registers it, and says what would keep applications out.
func TestRunShowsConnectivityWarnings(t *testing.T) {
	t.Parallel()
	out, err := runReal(t, "-event", "../../events/manual-register-narrow-group.json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"OK    vpce-", "is registered", "WARN  security-group-ports:", "TCP 27017 only", "WARN  single-availability-zone:", `"warnings": [`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "vpce-0d1e2f3a4b5c6d7e8") && !strings.Contains(out.String(), "vpce-0d1e2f3a4b5c6d7e8 →") {
		t.Errorf("the placeholder reached the function:\n%s", out.String())
	}
}

func TestRunUnknownScenario(t *testing.T) {
	var out bytes.Buffer
	if err := runCommand(context.Background(), []string{"run", "-scenario", "everything"}, &out); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

// make invoke sends a file that is not JSON as it is, and says so; and when
// the stack's queue answers that the invocation waits (an informational
// 102), it says it is queued behind a running invocation.
func TestInvokeSaysQueuedAndSendsNonJSON(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(localstack.StatusQueued)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"errorType":"InvalidEventError","errorMessage":"invalid event (received 8 bytes that are not valid JSON): …"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	state := filepath.Join(dir, "stack.json")
	info := &localstack.Info{InvokeURL: srv.URL + localstack.InvokePath, PID: os.Getpid(), EndpointID: "vpce-ccccccccccccccccc"}
	if err := info.WriteState(state); err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(event, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runCommand(context.Background(), []string{"invoke", "-state", state, "-event", event}, &out)
	if err == nil {
		t.Error("invoke of a refused event succeeded")
	}
	if string(got) != "not json" {
		t.Errorf("the function received %q, want the file as it is", got)
	}
	for _, want := range []string{"not valid JSON: sent as it is", "queued behind a running invocation; it starts when that one ends", "FAIL  the function returned InvalidEventError"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
