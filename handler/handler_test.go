package handler

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler/event"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

func TestRegisterHappyPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version atlas.Version
		oauth   bool
	}{
		{"v2 digest", atlas.V2, false},
		{"v2 oauth", atlas.V2, true},
		{"v1.0 digest", atlas.V1, false},
		{"v1.0 oauth", atlas.V1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{version: tt.version, oauth: tt.oauth})
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			want := Result{
				Outcome: OutcomeRegistered, Kind: KindCluster, VPCEndpointID: hs.seeded.EndpointID, VPCID: hs.seeded.VPCID,
				ServiceName: atlastest.DefaultEndpointServiceName, ProjectID: hs.fake.ProjectID(),
				EndpointServiceID: atlastest.DefaultServiceID, ConnectionStatus: atlas.StatusAvailable, Attempts: 1,
			}
			got := *res
			if strings.Join(got.SubnetIDs, ",") != strings.Join(hs.seeded.SubnetIDs, ",") {
				t.Errorf("SubnetIDs = %v, want %v", got.SubnetIDs, hs.seeded.SubnetIDs)
			}
			got.SubnetIDs = nil
			if !equalResult(got, want) {
				t.Errorf("Handle() = %+v, want %+v", got, want)
			}
			if ep, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, hs.seeded.EndpointID); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
				t.Errorf("fake has %+v (present %v), want AVAILABLE", ep, ok)
			}

			// A cold registration: 1 secret, 1 describe, 1 list, 1 GET (404), 1 POST, then polls.
			if n := hs.aws.count("GetSecretValue"); n != 1 {
				t.Errorf("GetSecretValue calls = %d, want 1", n)
			}
			if n := hs.aws.count("DescribeVpcEndpoints"); n != 1 {
				t.Errorf("DescribeVpcEndpoints calls = %d, want 1", n)
			}
			for kind, want := range map[string]int{"list": 1, "post": 1, "delete": 0} {
				if n := hs.atlasCalls(kind); n != want {
					t.Errorf("atlas %s calls = %d, want %d", kind, n, want)
				}
			}
			if n := hs.atlasCalls("get"); n < 2 {
				t.Errorf("atlas GET calls = %d, want the first read and at least one poll", n)
			}
			for _, r := range hs.fake.Requests() {
				if classify(r) == "token" {
					continue
				}
				if wantAuth := map[bool]string{false: "digest", true: "bearer"}[tt.oauth]; r.Authenticated && r.Auth != wantAuth {
					t.Errorf("%s %s authenticated with %q, want %q", r.Method, r.Path, r.Auth, wantAuth)
				}
				if !strings.HasPrefix(r.Path, "/api/oauth/") && !strings.Contains(r.Path, "/api/atlas/"+string(tt.version)+"/") {
					t.Errorf("request %s %s is not on the %s routes", r.Method, r.Path, tt.version)
				}
			}
			// Digest costs a 401 challenge before every call; bearer tokens (and the
			// token request, which authenticates with Basic) do not.
			authenticated, all := 0, len(hs.fake.Requests())
			for _, r := range hs.fake.Requests() {
				if r.Authenticated {
					authenticated++
				}
			}
			if wantAll := map[bool]int{false: 2 * authenticated, true: authenticated}[tt.oauth]; all != wantAll {
				t.Errorf("atlas HTTP requests = %d for %d authenticated calls, want %d", all, authenticated, wantAll)
			}
			if tt.oauth && hs.fake.TokenRequests() != 1 {
				t.Errorf("token requests = %d, want 1 (the token is reused)", hs.fake.TokenRequests())
			}
		})
	}
}

func equalResult(a, b Result) bool {
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	return string(aj) == string(bj)
}

// A re-delivered event (EventBridge and Lambda both deliver at least once)
// must not POST again; a warm container neither refetches the secret nor relists services.
func TestRedeliveredEventIsIdempotentAndWarm(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeAlreadyRegistered || res.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("second Handle() = %+v, want already-registered", res)
	}
	if n := hs.atlasCalls("post"); n != 1 {
		t.Errorf("POSTs = %d, want 1", n)
	}
	if n := hs.aws.count("GetSecretValue"); n != 1 {
		t.Errorf("GetSecretValue calls = %d, want 1 (warm invocation uses the cache)", n)
	}
	if n := hs.atlasCalls("list"); n != 1 {
		t.Errorf("list calls = %d, want 1 (warm invocation uses the cache)", n)
	}

	// A warm registration of another endpoint: no secret, no list.
	second, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, atlastest.DefaultEndpointServiceName, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	hs.fake.ResetRequests()
	if res, err := hs.invoke([]byte(`{"vpcEndpointId":"`+second+`"}`), 30*time.Second); err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("warm Handle() = %+v, %v", res, err)
	}
	if hs.aws.count("GetSecretValue") != 1 || hs.atlasCalls("list") != 0 || hs.atlasCalls("post") != 1 {
		t.Errorf("warm registration: secrets %d, lists %d, posts %d; want 1 (from before), 0, 1",
			hs.aws.count("GetSecretValue"), hs.atlasCalls("list"), hs.atlasCalls("post"))
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name        string
		payload     func(hs *harness) []byte
		wantReason  string
		wantAWSCall bool
	}{
		{
			name:       "failed CloudTrail call",
			payload:    func(hs *harness) []byte { return readEvent(t, "create-vpc-endpoint-failed-call.json") },
			wantReason: "Client.UnauthorizedOperation",
		},
		{
			name: "endpoint for a non-Atlas service",
			payload: func(hs *harness) []byte {
				id, err := motoserver.CreateEndpoint(ctx, hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, "com.amazonaws.us-east-1.kendra-ranking", "Interface")
				if err != nil {
					t.Fatal(err)
				}
				return []byte(`{"vpcEndpointId":"` + id + `"}`)
			},
			wantReason:  "no Atlas endpoint service",
			wantAWSCall: true,
		},
		{
			name: "gateway endpoint",
			payload: func(hs *harness) []byte {
				id, err := motoserver.CreateEndpoint(ctx, hs.awsCfg, hs.seeded.VPCID, nil, "com.amazonaws.us-east-1.s3", "Gateway")
				if err != nil {
					t.Fatal(err)
				}
				return []byte(`{"vpcEndpointId":"` + id + `"}`)
			},
			wantReason:  "not Interface",
			wantAWSCall: true,
		},
		{
			name:        "endpoint missing in EC2",
			payload:     func(hs *harness) []byte { return []byte(`{"vpcEndpointId":"vpce-00000000000000001"}`) },
			wantReason:  "does not exist in EC2",
			wantAWSCall: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{config: func(c *Config) {}})
			hs.h.deps.Endpoints = &awsvpc.Endpoints{EC2: hs.ec2, Network: hs.network, NotFoundWait: 300 * time.Millisecond}
			payload := tt.payload(hs)
			before := hs.aws.total()
			res, err := hs.invoke(payload, 30*time.Second)
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if res.Outcome != OutcomeIgnored || !strings.Contains(res.Reason, tt.wantReason) {
				t.Errorf("Handle() = %+v, want ignored because %q", res, tt.wantReason)
			}
			if n := hs.atlasWrites(); n != 0 {
				t.Errorf("atlas writes = %d, want 0", n)
			}
			if !tt.wantAWSCall {
				if n := hs.aws.total() - before; n != 0 {
					t.Errorf("AWS calls = %d, want 0", n)
				}
				if n := len(hs.fake.Requests()); n != 0 {
					t.Errorf("atlas requests = %d, want 0", n)
				}
			}
		})
	}
}

func TestRejectedThenRegistered(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.fake.RejectNext(1)
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeRegistered || res.Attempts != 2 {
		t.Errorf("Handle() = %+v, want registered after 2 attempts", res)
	}
	if hs.atlasCalls("post") != 2 || hs.atlasCalls("delete") != 1 {
		t.Errorf("posts %d, deletes %d; want 2, 1", hs.atlasCalls("post"), hs.atlasCalls("delete"))
	}
	// The delete must come before the second POST, and after the first.
	var order []string
	for _, r := range hs.fake.Requests() {
		if k := classify(r); r.Authenticated && (k == "post" || k == "delete") {
			order = append(order, k)
		}
	}
	if strings.Join(order, ",") != "post,delete,post" {
		t.Errorf("write order = %v, want post, delete, post", order)
	}
	if !strings.Contains(hs.logs.String(), `"next":"delete-and-retry"`) {
		t.Errorf("no failure log line with next=delete-and-retry:\n%s", hs.logs)
	}
}

func TestEveryAttemptRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inject func(*atlastest.Fake)
		status string
	}{
		{"rejected", func(f *atlastest.Fake) { f.RejectNext(3) }, atlas.StatusRejected},
		{"error message while pending", func(f *atlastest.Fake) { f.FailNextWithMessage(3, "Endpoint rejected by service provider") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{})
			tt.inject(hs.fake.Fake)
			res, err := hs.invoke(hs.event(), 30*time.Second)
			fe, ok := errors.AsType[*RegistrationFailedError](err)
			if !ok {
				t.Fatalf("Handle() = %+v, %v; want *RegistrationFailedError", res, err)
			}
			if fe.Attempts != 3 || fe.EndpointID != hs.seeded.EndpointID || fe.ProjectID != hs.fake.ProjectID() {
				t.Errorf("error = %+v", fe)
			}
			if tt.status != "" && fe.LastStatus != tt.status {
				t.Errorf("LastStatus = %q, want %q", fe.LastStatus, tt.status)
			}
			for _, want := range []string{hs.seeded.EndpointID, hs.fake.ProjectID(), "3 registration attempts"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if hs.atlasCalls("post") != 3 || hs.atlasCalls("delete") != 3 {
				t.Errorf("posts %d, deletes %d; want 3, 3", hs.atlasCalls("post"), hs.atlasCalls("delete"))
			}
			if ep, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, hs.seeded.EndpointID); ok {
				t.Errorf("endpoint left in Atlas: %+v", ep)
			}
			if errorType(err) != "RegistrationFailedError" {
				t.Errorf("errorType = %q", errorType(err))
			}
			if !strings.Contains(hs.logs.String(), `"next":"delete-and-give-up"`) {
				t.Errorf("no log line says it gives up")
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.fake.InjectFault(atlastest.Fault{Method: "POST", Status: 429, RetryAfter: time.Second, ErrorCode: "RATE_LIMITED_TOKEN_BUCKET"})
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("Handle() = %+v, %v", res, err)
	}
	var limited, next time.Time
	for _, r := range hs.fake.Requests() {
		if r.Method == "POST" && r.Status == 429 {
			limited = r.Time
		} else if r.Method == "POST" && !limited.IsZero() && next.IsZero() {
			next = r.Time
		}
	}
	if limited.IsZero() || next.IsZero() {
		t.Fatalf("want a 429 then another POST; requests: %+v", hs.fake.Requests())
	}
	if gap := next.Sub(limited); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1; want at least 1s", gap)
	}
	if n := hs.atlasCalls("post"); n != 2 {
		t.Errorf("authenticated POSTs = %d, want 2 (the limited one and its retry)", n)
	}
}

// When the deadline comes while Atlas is still pending, the error lets Lambda
// retry, and the retry resumes the wait instead of posting again.
func TestDeadlineWhilePendingThenResume(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.fake.HoldPending(true)
	start := time.Now()
	_, err := hs.invoke(hs.event(), 2*time.Second)
	de, ok := errors.AsType[*DeadlineError](err)
	if !ok {
		t.Fatalf("Handle() error = %v, want *DeadlineError", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %s, after the deadline", took)
	}
	if de.Status != atlas.StatusPending && de.Status != atlas.StatusPendingAcceptance {
		t.Errorf("DeadlineError.Status = %q, want a pending status", de.Status)
	}
	if hs.atlasCalls("delete") != 0 {
		t.Errorf("a pending endpoint was deleted on timeout")
	}

	// Atlas settles while the retry is waiting.
	release := time.AfterFunc(300*time.Millisecond, func() { hs.fake.HoldPending(false) })
	defer release.Stop()
	res, err := hs.invoke(hs.event(), 10*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered || res.Attempts != 1 {
		t.Fatalf("resumed Handle() = %+v, %v", res, err)
	}
	if n := hs.atlasCalls("post"); n != 1 {
		t.Errorf("POSTs = %d, want 1 (the retry resumes)", n)
	}
}

func TestNearlyExhaustedDeadlineStartsNothing(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	start := time.Now()
	_, err := hs.invoke(hs.event(), 500*time.Millisecond)
	if _, ok := errors.AsType[*DeadlineError](err); !ok || !strings.Contains(err.Error(), "nothing was started") {
		t.Fatalf("Handle() error = %v, want a DeadlineError that started nothing", err)
	}
	// Starting work would run into the 500 ms deadline; half of it leaves
	// room for a slow machine.
	if time.Since(start) > 250*time.Millisecond {
		t.Errorf("took %s to refuse", time.Since(start))
	}
	if hs.aws.total() != 0 || len(hs.fake.Requests()) != 0 {
		t.Errorf("calls made: aws %d, atlas %d", hs.aws.total(), len(hs.fake.Requests()))
	}
}

func TestCredentialErrors(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		secret *string
		mutate func(hs *harness)
		want   string
	}{
		{name: "not JSON", secret: str("PRIVATE-d41d8cd98f00b204e9800998ecf8427e"), want: "JSON"},
		{name: "lacks the private key", secret: str(`{"publicKey":"` + testPublicKey + `","private":"` + testPrivateKey + `"}`), want: "privateKey"},
		{name: "half an OAuth pair", secret: str(`{"clientSecret":"` + testClientSecret + `"}`), want: "clientId"},
		{name: "missing secret", mutate: func(hs *harness) { hs.h.cfg.SecretID = "atlas/does-not-exist" }, want: "atlas/does-not-exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{secretJSON: tt.secret})
			if tt.mutate != nil {
				tt.mutate(hs)
			}
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if _, ok := errors.AsType[*CredentialsError](err); !ok {
				t.Fatalf("Handle() = %+v, %v; want *CredentialsError", res, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			checkNoSecrets(t, "error", err.Error())
			checkNoSecrets(t, "logs", hs.logs.String())
			if len(hs.fake.Requests()) != 0 {
				t.Errorf("atlas requests = %d, want 0", len(hs.fake.Requests()))
			}
		})
	}
}

func TestInvalidIDMakesNoCall(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"vpce-1/../../orgs", "vpce-../../groups", "vpce-ABCDEF01", "vpce-0123abcd", "vpce-0123456789abcdef0?x=1", "vpce-０１２３４５６７"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{})
			payload, _ := json.Marshal(map[string]string{"vpcEndpointId": id})
			_, err := hs.invoke(payload, 30*time.Second)
			if _, ok := errors.AsType[*event.InvalidEventError](err); !ok {
				t.Fatalf("Handle() error = %v, want *InvalidEventError", err)
			}
			if hs.aws.total() != 0 || len(hs.fake.Requests()) != 0 {
				t.Errorf("calls made: aws %d, atlas %d; want none", hs.aws.total(), len(hs.fake.Requests()))
			}
		})
	}
}

// A payload the function cannot act on is refused in plain words through
// Invoke, as Lambda calls it: the error says what was received and what was
// wrong, names no Go type, lists the accepted payloads only when the shape is
// none the function knows, and nothing reaches EC2 or Atlas. The log line
// says "invalid event", not that a registration failed.
func TestInvalidPayloadsInPlainWords(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	tests := []struct {
		name    string
		payload string
		want    []string
		list    bool // the error lists the accepted payloads
	}{
		{"null", `null`, []string{"received JSON null", "expected a JSON object"}, true},
		{"array", `[]`, []string{"received JSON array", "expected a JSON object"}, true},
		{"string", `"x"`, []string{"received JSON string", "expected a JSON object"}, true},
		{"number", `3`, []string{"received JSON number", "expected a JSON object"}, true},
		{"not JSON", `vpce-0123456789abcdef0`, []string{"not valid JSON"}, true},
		{"upper-case id", `{"vpcEndpointId":"vpce-0123456789ABCDEF0"}`,
			[]string{`vpcEndpointId "vpce-0123456789ABCDEF0" has upper-case letters`, `Atlas accepts only "vpce-" followed by 17 lower-case hex digits`}, false},
		{"short id", `{"vpcEndpointId":"vpce-0123456789abcdef"}`, []string{`has 16 characters after "vpce-", not 17`}, false},
		{"no prefix", `{"vpcEndpointId":"0123456789abcdef0"}`, []string{`does not start with "vpce-"`}, false},
		{"deregister upper-case id", `{"action":"deregister","vpcEndpointId":"VPCE-0123456789abcdef0"}`, []string{"has upper-case letters"}, false},
		{"reconcile with a string dryRun", `{"action":"reconcile","dryRun":"yes"}`, []string{"dryRun is a string; expected true or false"}, false},
		{"unknown action", `{"action":"destroy"}`, []string{`action "destroy" is unknown`}, false},
	}
	for _, tt := range tests {
		before := len(hs.logLines())
		_, err := hs.h.Invoke(t.Context(), []byte(tt.payload))
		if _, ok := errors.AsType[*event.InvalidEventError](err); !ok {
			t.Errorf("%s: Invoke() error = %v, want *InvalidEventError", tt.name, err)
			continue
		}
		msg := err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", tt.name, msg, w)
			}
		}
		for _, bad := range []string{"map[string]", "json.RawMessage", "Go value", "cannot unmarshal", "atlas:", "^vpce-"} {
			if strings.Contains(msg, bad) {
				t.Errorf("%s: error %q says %q", tt.name, msg, bad)
			}
		}
		if got := strings.Contains(msg, "Accepted:"); got != tt.list {
			t.Errorf("%s: error %q lists the accepted payloads = %v, want %v", tt.name, msg, got, tt.list)
		}
		lines := hs.logLines()[before:]
		if len(lines) == 0 || lines[len(lines)-1]["msg"] != msgInvalidEvent || lines[len(lines)-1]["errorType"] != "InvalidEventError" {
			t.Errorf("%s: log lines %v, want one %q line of errorType InvalidEventError", tt.name, lines, msgInvalidEvent)
		}
		if hs.aws.total() != 0 || len(hs.fake.Requests()) != 0 {
			t.Fatalf("%s: calls made: aws %d, atlas %d; want none", tt.name, hs.aws.total(), len(hs.fake.Requests()))
		}
	}
	if strings.Contains(hs.logs.String(), msgRegistrationFailed) {
		t.Errorf("a refused payload was logged as a failed registration:\n%s", hs.logs)
	}
}

// A failure of a valid reconcile or deregistration request is not logged as
// a failed registration either.
func TestFailureMessageNamesTheAction(t *testing.T) {
	t.Parallel()
	other := errors.New("x")
	tests := []struct {
		action event.Action
		err    error
		want   string
	}{
		{"", &event.InvalidEventError{Received: "JSON null", Problem: "expected a JSON object"}, msgInvalidEvent},
		{event.Reconcile, &event.InvalidEventError{}, msgInvalidEvent},
		{event.Register, other, msgRegistrationFailed},
		{event.Deregister, other, msgDeregistrationFailed},
		{event.Reconcile, other, msgReconcileFailed},
	}
	for _, tt := range tests {
		if got := failureMessage(tt.action, tt.err); got != tt.want {
			t.Errorf("failureMessage(%q, %v) = %q, want %q", tt.action, tt.err, got, tt.want)
		}
	}
}

// notFoundOnce answers the first DescribeVpcEndpoints with EC2's real
// NotFound error (asked of moto for an id that does not exist), as EC2 does
// right after creation, then passes calls through.
type notFoundOnce struct {
	awsvpc.EC2API
	calls int
}

func (n *notFoundOnce) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, opts ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	n.calls++
	if n.calls == 1 {
		return n.EC2API.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{"vpce-0ffffffffffffffff"}}, opts...)
	}
	return n.EC2API.DescribeVpcEndpoints(ctx, in, opts...)
}

func TestEventuallyConsistentLookup(t *testing.T) {
	t.Parallel()
	var wrapped *notFoundOnce
	hs := newHarness(t, harnessOptions{wrapEC2: func(e awsvpc.EC2API) awsvpc.EC2API {
		wrapped = &notFoundOnce{EC2API: e}
		return wrapped
	}})
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("Handle() = %+v, %v", res, err)
	}
	if wrapped.calls != 2 || hs.aws.count("DescribeVpcEndpoints") != 2 {
		t.Errorf("describe calls = %d (HTTP %d), want 2", wrapped.calls, hs.aws.count("DescribeVpcEndpoints"))
	}
}

// One log line per outcome, with the ids, the outcome and the duration.
func TestOutcomeLogLine(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var outcomes []map[string]any
	for _, l := range hs.logLines() {
		if _, ok := l["outcome"]; ok {
			outcomes = append(outcomes, l)
		}
	}
	if len(outcomes) != 1 {
		t.Fatalf("outcome lines = %d, want 1:\n%s", len(outcomes), hs.logs)
	}
	l := outcomes[0]
	for k, want := range map[string]any{
		"outcome": "registered", "vpcEndpointId": hs.seeded.EndpointID, "vpcId": hs.seeded.VPCID,
		"projectId": hs.fake.ProjectID(), "endpointServiceId": atlastest.DefaultServiceID,
	} {
		if l[k] != want {
			t.Errorf("log %s = %v, want %v", k, l[k], want)
		}
	}
	if _, ok := l["durationMs"].(float64); !ok {
		t.Errorf("log has no durationMs: %v", l)
	}
}

// configFailingEC2 fails every call with a ConfigError, as cmd/registrar's EC2
// client does when the AWS SDK refuses a setting on first use.
type configFailingEC2 struct{ awsvpc.EC2API }

func (configFailingEC2) DescribeVpcEndpoints(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return nil, &ConfigError{Variable: "AWS_MAX_ATTEMPTS", Problem: "is refused by the AWS SDK's standard configuration"}
}

// A setting the AWS SDK refuses on first use is what the invocation reports,
// as a ConfigError (Lambda's errorType), not as the lookup that met it; in
// a batch, every record that met it does too.
func TestConfigErrorOnFirstUseIsTheCause(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{wrapEC2: func(e awsvpc.EC2API) awsvpc.EC2API { return configFailingEC2{e} }})
	_, err := hs.invoke(hs.event(), 30*time.Second)
	if ce, ok := err.(*ConfigError); !ok || ce.Variable != "AWS_MAX_ATTEMPTS" {
		t.Fatalf("Handle() error = %T %v, want the *ConfigError itself", err, err)
	}
	if retry := hs.invokeBatch(sqsBatch(t, hs.event(), hs.createEvent(companionID)), 30*time.Second); !slices.Equal(retry, []string{"m0", "m1"}) {
		t.Errorf("batch retries %v, want both records", retry)
	}
	var types []any
	for _, l := range hs.logLines() {
		if l["outcome"] == "error" {
			types = append(types, l["errorType"])
		}
	}
	if !slices.Equal(types, []any{"ConfigError", "ConfigError", "ConfigError"}) {
		t.Errorf("errorType of the failure lines = %v, want ConfigError for the event and both records", types)
	}
	if n := hs.atlasCalls("list") + hs.atlasWrites(); n != 0 {
		t.Errorf("%d Atlas calls, want none", n)
	}
}
