package main

// With AWS_LAMBDA_MAX_CONCURRENCY above 1, as on Lambda Managed Instances,
// aws-lambda-go runs that many loops that each fetch the next invocation
// and call the handler: one handler serves several invocations at once. The
// runtime emulator the tests pin runs such a function only from
// /var/task/bootstrap (its Managed Instances mode), so this test drives the
// handler as main builds it, from many goroutines, each with the context
// aws-lambda-go gives an invocation, against moto_server and the Atlas fake.
// go test -race runs it under the race detector.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// requestIDLogs adds each invocation's requestId to its log records, as
// lambdacontext.NewLogger does under AWS_LAMBDA_LOG_FORMAT=JSON (which it
// reads at package init, before a test can set it).
type requestIDLogs struct{ slog.Handler }

func (h requestIDLogs) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDLogs) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDLogs{h.Handler.WithAttrs(as)}
}

func (h requestIDLogs) WithGroup(name string) slog.Handler {
	return requestIDLogs{h.Handler.WithGroup(name)}
}

// captureStdout sends os.Stdout, where the function writes its log and
// metrics lines, into a pipe until the returned function is called, which
// restores it and returns what was written.
func captureStdout(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(done) }()
	return func() string {
		os.Stdout = orig
		_ = w.Close()
		<-done
		_ = r.Close()
		return out.String()
	}
}

// invocation is one of the concurrent invocations and what it must answer.
type invocation struct {
	requestID string
	payload   []byte
	endpoints []string // the endpoints it registers
	ignored   bool     // a failed call: answered without AWS or Atlas
	batch     bool     // an SQS batch, one record per endpoint
	reply     []byte
	err       error
}

func TestConcurrentInvocations(t *testing.T) {
	for _, auth := range []localstack.Auth{localstack.AuthDigest, localstack.AuthOAuth} {
		t.Run(string(auth), func(t *testing.T) { testConcurrentInvocations(t, auth) })
	}
}

func testConcurrentInvocations(t *testing.T, auth localstack.Auth) {
	ctx := context.Background()
	moto := motoserver.Shared(t)
	motoCfg, err := moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secret, fakeOpts := `{"publicKey":"`+localstack.TestPublicKey+`","privateKey":"`+localstack.TestPrivateKey+`"}`, atlastest.Options{
		APIKeys: map[string]string{localstack.TestPublicKey: localstack.TestPrivateKey},
	}
	if auth == localstack.AuthOAuth {
		secret, fakeOpts = `{"clientId":"`+localstack.TestClientID+`","clientSecret":"`+localstack.TestClientSecret+`"}`, atlastest.Options{
			Clients: map[string]string{localstack.TestClientID: localstack.TestClientSecret},
		}
	}
	serviceName := "com.amazonaws.vpce.us-east-1.vpce-svc-0c0c0c0c0c0c0c0c" + map[localstack.Auth]string{localstack.AuthDigest: "1", localstack.AuthOAuth: "2"}[auth]
	seeded, err := motoserver.Seed(ctx, motoCfg, motoserver.SeedInput{
		ServiceName: serviceName, SecretName: motoserver.UniqueName("concurrent/atlas"), SecretJSON: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	fakeOpts.Services = []atlas.EndpointService{{ID: atlastest.DefaultServiceID, EndpointServiceName: serviceName}}
	fakeOpts.PendingAcceptance, fakeOpts.Pending = 100*time.Millisecond, 200*time.Millisecond
	fake, err := localstack.ServeAtlas("127.0.0.1:0", fakeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)

	// The AWS side as on Managed Instances: credentials from the container
	// endpoint; requests through a recorder in front of moto_server.
	creds := serveCredentials(t)
	aws := recordSigning(t, moto.URL)
	env := map[string]string{"AWS_REGION": motoserver.Region,
		"AWS_ENDPOINT_URL_EC2": aws.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.URL, "AWS_ENDPOINT_URL_STS": aws.URL}
	isolateAWS(t, env, creds.env())
	fnEnv := map[string]string{
		"ATLAS_PROJECT_ID": fake.ProjectID(), "ATLAS_SECRET_ID": seeded.SecretARN, "ATLAS_BASE_URL": fake.URL,
		"ATLAS_POLL_INITIAL": "100ms", "ATLAS_POLL_MAX": "500ms", "DEADLINE_MARGIN": "1s",
	}

	// Twelve endpoints: six registered by single events, six by three
	// batches of two; and three failed calls, all at once.
	info := localstack.Info{VPCID: seeded.VPCID, SubnetIDs: seeded.SubnetIDs, EndpointID: seeded.EndpointID, EndpointServiceName: serviceName}
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "create-vpc-endpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	create, err := info.RewriteEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	failedCall, err := os.ReadFile(filepath.Join("..", "..", "events", "create-vpc-endpoint-failed-call.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{seeded.EndpointID}
	for range 11 {
		id, err := motoserver.CreateEndpoint(ctx, motoCfg, seeded.VPCID, seeded.SubnetIDs, serviceName, "Interface")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	eventFor := func(id string) []byte { return bytes.ReplaceAll(create, []byte(seeded.EndpointID), []byte(id)) }
	var invs []*invocation
	for _, id := range ids[:6] {
		invs = append(invs, &invocation{payload: eventFor(id), endpoints: []string{id}})
	}
	for i := 6; i < 12; i += 2 {
		var ev events.SQSEvent
		for j, id := range ids[i : i+2] {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", j), ReceiptHandle: "r", EventSource: "aws:sqs", Body: string(eventFor(id))})
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, &invocation{payload: payload, endpoints: ids[i : i+2], batch: true})
	}
	for range 3 {
		invs = append(invs, &invocation{payload: failedCall, ignored: true})
	}
	byRequest := map[string]*invocation{}
	for i, inv := range invs {
		inv.requestID = fmt.Sprintf("req-%02d", i)
		byRequest[inv.requestID] = inv
	}

	output := captureStdout(t)
	logger := slog.New(requestIDLogs{slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr})})
	h, err := newHandler(func(k string) string { return fnEnv[k] }, logger)
	if err != nil {
		output()
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, inv := range invs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: inv.requestID})
			<-start
			inv.reply, inv.err = h.Invoke(ctx, inv.payload)
		})
	}
	close(start)
	wg.Wait()
	out := output()
	if t.Failed() {
		return
	}

	// Every answer is right.
	for _, inv := range invs {
		if inv.err != nil {
			t.Errorf("%s: %v", inv.requestID, inv.err)
			continue
		}
		switch {
		case inv.batch:
			var resp events.SQSEventResponse
			if err := json.Unmarshal(inv.reply, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("%s: batch answer %s, want no failures", inv.requestID, inv.reply)
			}
		default:
			var res handler.Result
			if err := json.Unmarshal(inv.reply, &res); err != nil {
				t.Errorf("%s: answer %s: %v", inv.requestID, inv.reply, err)
			} else if inv.ignored && res.Outcome != handler.OutcomeIgnored ||
				!inv.ignored && (res.Outcome != handler.OutcomeRegistered || res.VPCEndpointID != inv.endpoints[0] || res.ConnectionStatus != atlas.StatusAvailable) {
				t.Errorf("%s: answer %s, want %v registered and AVAILABLE (or ignored: %v)", inv.requestID, inv.reply, inv.endpoints, inv.ignored)
			}
		}
	}
	// Atlas holds each endpoint once.
	posts := 0
	for _, r := range fake.Requests() {
		if localstack.IsRegistration(r) {
			posts++
		}
	}
	if posts != len(ids) {
		t.Errorf("%d registration POSTs, want %d, one per endpoint", posts, len(ids))
	}
	for _, id := range ids {
		if ep, ok := fake.Endpoint(atlastest.DefaultServiceID, id); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
			t.Errorf("%s in Atlas: %+v (found %v), want AVAILABLE", id, ep, ok)
		}
	}

	// Every line is one whole JSON object; the outcome lines and the metrics
	// lines carry the request id of the invocation they are about.
	atlasRequests := 0.0
	outcomeOf := map[string]string{} // endpoint id → request id of its outcome line
	for line := range strings.Lines(out) {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Errorf("output line is not one JSON object (%v): %q", err, line)
			continue
		}
		inv := byRequest[fmt.Sprint(l["requestId"])]
		if inv == nil {
			t.Errorf("line without a known requestId: %s", line)
			continue
		}
		if l["_aws"] != nil {
			n, _ := l[handler.MetricAtlasRequests].(float64)
			atlasRequests += n
			if ep, ok := l["vpcEndpointId"]; ok && (inv.batch || inv.ignored || ep != inv.endpoints[0]) {
				t.Errorf("%s: metrics line about %v: %s", inv.requestID, ep, line)
			}
			continue
		}
		if id, _ := l["vpcEndpointId"].(string); l["outcome"] == handler.OutcomeRegistered {
			if prev, dup := outcomeOf[id]; dup {
				t.Errorf("%s: outcome lines from %s and %s", id, prev, inv.requestID)
			}
			outcomeOf[id] = inv.requestID
		}
	}
	for _, inv := range invs {
		for _, id := range inv.endpoints {
			if outcomeOf[id] != inv.requestID {
				t.Errorf("%s: outcome line from %q, want %s", id, outcomeOf[id], inv.requestID)
			}
		}
	}
	// The metrics count every Atlas request the invocations made (a
	// service account's token request belongs to no invocation).
	want := 0
	for _, r := range fake.Requests() {
		if !strings.HasPrefix(r.Path, "/api/oauth/") {
			want++
		}
	}
	if atlasRequests != float64(want) {
		t.Errorf("the metrics lines count %v Atlas requests; Atlas received %d", atlasRequests, want)
	}

	// One set of AWS credentials, one secret fetch, one token, for all.
	if creds.authorized.Load() != 1 || creds.refused.Load() != 0 {
		t.Errorf("the credential endpoint was asked %d times with its token and %d without, want once", creds.authorized.Load(), creds.refused.Load())
	}
	if n := aws.count("secretsmanager.GetSecretValue"); n != 1 {
		t.Errorf("%d GetSecretValue calls, want 1", n)
	}
	if got, want := fake.TokenRequests(), map[localstack.Auth]int{localstack.AuthDigest: 0, localstack.AuthOAuth: 1}[auth]; got != want {
		t.Errorf("%d token requests, want %d", got, want)
	}
}
