package main

// End-to-end tests: the real built binary (bin/bootstrap) runs under the AWS
// Lambda Runtime Interface Emulator against moto_server and the Atlas fake,
// through internal/localstack. `make test` builds both binaries and passes
// their paths in BOOTSTRAP and RIE; a missing binary fails the test.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
	"github.com/atlasvpce/registrar/internal/proc"
	"github.com/atlasvpce/registrar/internal/testsupport"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// startStack starts a stack on the shared moto_server, stopped when the test
// ends. The function's output is logged if the test fails.
func startStack(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	opts.Bootstrap = testsupport.Binary(t, "BOOTSTRAP", filepath.Join("..", "..", "bin", "bootstrap"))
	opts.RIE = testsupport.Binary(t, "RIE", filepath.Join("..", "..", "bin", "aws-lambda-rie"))
	opts.Moto = motoserver.Shared(t)
	if opts.PendingAcceptance == 0 {
		opts.PendingAcceptance = 100 * time.Millisecond
	}
	if opts.Pending == 0 {
		opts.Pending = 200 * time.Millisecond
	}
	log := &proc.Buffer{}
	if opts.FunctionLog != nil {
		opts.FunctionLog = io.MultiWriter(opts.FunctionLog, log)
	} else {
		opts.FunctionLog = log
	}
	// Cleanups run last-registered first: the stack stops (and its output
	// ends) before the log is printed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", log.String())
		}
	})
	s, err := localstack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// fixture reads events/name with its ids rewritten to the stack's.
func fixture(t *testing.T, s *localstack.Stack, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.RewriteEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// invoke calls the function and decodes a successful result.
func invoke(t *testing.T, s *localstack.Stack, payload []byte) handler.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := s.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v (body %s)", err, body)
	}
	var res handler.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("result %s: %v", body, err)
	}
	return res
}

// invokeError calls the function, expecting a function error of errorType want.
func invokeError(t *testing.T, s *localstack.Stack, payload []byte, want string) *localstack.FunctionError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := s.Invoke(ctx, payload)
	fe, ok := errors.AsType[*localstack.FunctionError](err)
	if !ok {
		t.Fatalf("Invoke: error %v, body %s; want a function error %s", err, body, want)
	}
	if fe.Type != want {
		t.Fatalf("errorType = %q (%s), want %q", fe.Type, fe.Message, want)
	}
	var wire struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(body, &wire); err != nil || wire.ErrorType != want {
		t.Errorf("body %s: want Lambda's {\"errorType\":%q,…}", body, want)
	}
	return fe
}

func registrations(s *localstack.Stack) int {
	n := 0
	for _, r := range s.Fake.Requests() {
		if localstack.IsRegistration(r) {
			n++
		}
	}
	return n
}

func TestE2ERegisterThenAlreadyRegistered(t *testing.T) {
	t.Parallel()
	out := &proc.Buffer{}
	s := startStack(t, localstack.Options{FunctionLog: out})
	event := fixture(t, s, "create-vpc-endpoint.json")

	res := invoke(t, s, event)
	checkOutcomeLine(t, out.String(), s.EndpointID, handler.OutcomeRegistered)
	checkMetricsLine(t, out.String(), s, handler.OutcomeRegistered)
	want := summary{
		Outcome:           handler.OutcomeRegistered,
		VPCEndpointID:     s.EndpointID,
		VPCID:             s.VPCID,
		SubnetIDs:         strings.Join(s.SubnetIDs, ","),
		ServiceName:       s.EndpointServiceName,
		ProjectID:         s.ProjectID,
		EndpointServiceID: s.EndpointServiceID,
		ConnectionStatus:  atlas.StatusAvailable,
		Attempts:          1,
	}
	if got := summarize(res); got != want {
		t.Fatalf("first invoke:\n got %+v\nwant %+v", got, want)
	}
	if n := registrations(s); n != 1 {
		t.Fatalf("%d registration POSTs after the first invoke, want 1", n)
	}
	if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, s.EndpointID); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("fake has endpoint %+v (found %v), want AVAILABLE", ep, ok)
	}

	// The same event again, as a duplicate delivery: nothing is posted.
	res = invoke(t, s, event)
	if res.Outcome != handler.OutcomeAlreadyRegistered || res.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("second invoke: outcome %q, status %q; want %q, AVAILABLE", res.Outcome, res.ConnectionStatus, handler.OutcomeAlreadyRegistered)
	}
	if n := registrations(s); n != 1 {
		t.Errorf("%d registration POSTs after the second invoke, want still 1", n)
	}
}

// checkOutcomeLine finds the function's JSON outcome line, as Lambda's JSON
// log format delivers it: it must carry the runtime's request id, and no
// line may carry the secret.
func checkOutcomeLine(t *testing.T, output, endpointID, outcome string) {
	t.Helper()
	if strings.Contains(output, localstack.TestPrivateKey) {
		t.Error("the function's output contains the private key")
	}
	for _, line := range strings.Split(output, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &l) != nil || l["outcome"] != outcome || l["vpcEndpointId"] != endpointID {
			continue
		}
		if id, _ := l["requestId"].(string); id == "" {
			t.Errorf("outcome line has no requestId: %s", line)
		}
		return
	}
	t.Errorf("no JSON log line with outcome %q for %s in:\n%s", outcome, endpointID, output)
}

// checkMetricsLine finds the one EMF line of the function's output so far:
// a line of its own that is a whole JSON object, in the default namespace,
// with the outcome, the request id, and as many Atlas requests as the fake
// received.
func checkMetricsLine(t *testing.T, output string, s *localstack.Stack, outcome string) {
	t.Helper()
	var found []map[string]any
	for _, line := range strings.Split(output, "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["_aws"] != nil {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d EMF lines in the function's output, want 1:\n%s", len(found), output)
	}
	l := found[0]
	directives, _ := l["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)
	if len(directives) != 1 || directives[0].(map[string]any)["Namespace"] != handler.DefaultMetricsNamespace {
		t.Errorf("EMF line has directives %v, want one in %s", directives, handler.DefaultMetricsNamespace)
	}
	if id, _ := l["requestId"].(string); id == "" {
		t.Errorf("EMF line has no requestId: %v", l)
	}
	for k, want := range map[string]any{
		handler.DimensionOutcome:       outcome,
		handler.DimensionProject:       s.ProjectID,
		"vpcEndpointId":                s.EndpointID,
		handler.MetricEvents:           1.0,
		handler.MetricAttempts:         1.0,
		handler.MetricAtlasRequests:    float64(len(s.Fake.Requests())),
		handler.MetricAtlasRateLimited: 0.0,
	} {
		if l[k] != want {
			t.Errorf("EMF member %s = %v, want %v", k, l[k], want)
		}
	}
	if secs, _ := l[handler.MetricSecondsToAvailable].(float64); secs <= 0 {
		t.Errorf("EMF %s = %v, want a positive number", handler.MetricSecondsToAvailable, l[handler.MetricSecondsToAvailable])
	}
}

// summary is the comparable part of a handler.Result.
type summary struct {
	Outcome, VPCEndpointID, VPCID, SubnetIDs, ServiceName string
	ProjectID, EndpointServiceID, ConnectionStatus        string
	Attempts                                              int
}

func summarize(r handler.Result) summary {
	return summary{
		Outcome: r.Outcome, VPCEndpointID: r.VPCEndpointID, VPCID: r.VPCID, SubnetIDs: strings.Join(r.SubnetIDs, ","),
		ServiceName: r.ServiceName, ProjectID: r.ProjectID, EndpointServiceID: r.EndpointServiceID,
		ConnectionStatus: r.ConnectionStatus, Attempts: r.Attempts,
	}
}

func TestE2EFailedCallIsIgnored(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{})
	res := invoke(t, s, fixture(t, s, "create-vpc-endpoint-failed-call.json"))
	if res.Outcome != handler.OutcomeIgnored || res.Reason == "" {
		t.Errorf("outcome %q, reason %q; want %q with a reason", res.Outcome, res.Reason, handler.OutcomeIgnored)
	}
	if reqs := s.Fake.Requests(); len(reqs) != 0 {
		t.Errorf("Atlas received %d requests, want none (first: %s %s)", len(reqs), reqs[0].Method, reqs[0].Path)
	}
}

func TestE2EInvalidEndpointIDIsRejected(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{})
	// Not rewritten: the id must reach the function as it is.
	fe := invokeError(t, s, []byte(`{"vpcEndpointId":"vpce-1/../../orgs"}`), "InvalidEventError")
	if !strings.Contains(fe.Message, "vpce-1/../../orgs") {
		t.Errorf("message %q does not name the rejected id", fe.Message)
	}
	// A legacy 8-digit id is real in AWS, but Atlas refuses it: so does the function.
	fe = invokeError(t, s, []byte(`{"vpcEndpointId":"vpce-0123abcd"}`), "InvalidEventError")
	if !strings.Contains(fe.Message, "vpce-0123abcd") || !strings.Contains(fe.Message, "8-digit legacy AWS id") ||
		!strings.Contains(fe.Message, atlas.EndpointIDForm) {
		t.Errorf("message %q does not say that Atlas accepts only 17-digit ids", fe.Message)
	}
	// Upper case: said in words, with no "atlas:" nested in the message.
	fe = invokeError(t, s, []byte(`{"vpcEndpointId":"vpce-0123456789ABCDEF0"}`), "InvalidEventError")
	if !strings.Contains(fe.Message, "has upper-case letters") || strings.Contains(fe.Message, "atlas:") {
		t.Errorf("message %q does not say plainly that the id has upper-case letters", fe.Message)
	}
	if reqs := s.Fake.Requests(); len(reqs) != 0 {
		t.Errorf("Atlas received %d requests, want none", len(reqs))
	}
}

// A registration still PENDING at the deadline ends in DeadlineError with the
// endpoint left in place; Lambda's retry of the same event resumes the wait
// instead of posting again.
func TestE2EDeadlineThenResume(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{
		FunctionTimeout: 3 * time.Second,
		DeadlineMargin:  time.Second,
	})
	s.Fake.HoldPending(true)
	event := fixture(t, s, "create-vpc-endpoint.json")

	start := time.Now()
	fe := invokeError(t, s, event, "DeadlineError")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("DeadlineError came after %s, not before the 3s function timeout", took)
	}
	t.Logf("first invoke: %s", fe.Message)
	if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, s.EndpointID); !ok || ep.ConnectionStatus != atlas.StatusPending {
		t.Errorf("after the deadline the fake has %+v (found %v), want the endpoint left PENDING", ep, ok)
	}
	if n := registrations(s); n != 1 {
		t.Fatalf("%d registration POSTs after the first invoke, want 1", n)
	}

	// Lambda retries while Atlas still says PENDING; Atlas settles while the
	// retry waits.
	release := time.AfterFunc(500*time.Millisecond, func() { s.Fake.HoldPending(false) })
	defer release.Stop()
	res := invoke(t, s, event)
	if res.Outcome != handler.OutcomeRegistered || res.ConnectionStatus != atlas.StatusAvailable || res.VPCEndpointID != s.EndpointID || res.Attempts != 1 {
		t.Errorf("retry: %+v; want registered, AVAILABLE, 1 attempt (the resumed one)", res)
	}
	if n := registrations(s); n != 1 {
		t.Errorf("%d registration POSTs after the retry, want still 1 (resumed, not posted again)", n)
	}
}

// The v1.0 API with a service account. A second invoke reaches the same
// warm process: it reuses the cached credentials and access token.
func TestE2EServiceAccountV1(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{Auth: localstack.AuthOAuth, APIVersion: atlas.V1})
	event := fixture(t, s, "create-vpc-endpoint.json")

	res := invoke(t, s, event)
	if res.Outcome != handler.OutcomeRegistered || res.ConnectionStatus != atlas.StatusAvailable || res.VPCEndpointID != s.EndpointID {
		t.Fatalf("result %+v; want registered, AVAILABLE, %s", res, s.EndpointID)
	}
	if n := registrations(s); n != 1 {
		t.Errorf("%d registration POSTs, want 1", n)
	}
	for _, r := range s.Fake.Requests() {
		if r.Auth != "bearer" && r.Auth != "basic" {
			t.Errorf("%s %s: auth %q, want a bearer token (or basic at the token endpoint)", r.Method, r.Path, r.Auth)
		}
	}
	if got := s.Fake.TokenRequests(); got != 1 {
		t.Errorf("%d token requests, want 1", got)
	}

	res = invoke(t, s, event)
	if res.Outcome != handler.OutcomeAlreadyRegistered {
		t.Errorf("second invoke: outcome %q, want %q", res.Outcome, handler.OutcomeAlreadyRegistered)
	}
	if got := s.Fake.TokenRequests(); got != 1 {
		t.Errorf("%d token requests after a warm invoke, want still 1 (the container caches the token)", got)
	}
}
