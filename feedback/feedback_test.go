package feedback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/feedback"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// outcome is a registered endpoint's outcome, numbered i.
func outcome(i int) handler.EndpointOutcome {
	return handler.EndpointOutcome{
		VPCEndpointID: fmt.Sprintf("vpce-0a1b2c3d4e5f607%02d", i), AccountID: "222222222222", Region: "eu-west-1",
		ProjectID: "5f1a2b3c4d5e6f7081920a1b", EndpointServiceID: "6a1b2c3d4e5f6a7b8c9d0e1f", Kind: handler.KindCluster,
		Outcome: handler.OutcomeRegistered, ConnectionStatus: "AVAILABLE", TagStatus: handler.TagStatusAvailable,
	}
}

// countingEvents counts PutEvents calls and the entries they carry.
type countingEvents struct {
	feedback.EventsAPI
	calls, entries atomic.Int32
}

func (c *countingEvents) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	c.calls.Add(1)
	c.entries.Add(int32(len(in.Entries)))
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries in one call; EventBridge takes 10", len(in.Entries))
	}
	return c.EventsAPI.PutEvents(ctx, in, optFns...)
}

// The real SDK client against moto_server: a rule on the bus that matches
// the outcome events delivers each of them to its SQS target, and twelve
// outcomes take two calls.
func TestPublishReachesARuleTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := motoserver.Shared(t).AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bus := motoserver.UniqueName("registrar")
	queue, err := motoserver.BusQueue(ctx, cfg, bus, `{"source":["atlas-vpce-registrar"],"detail-type":["Atlas Endpoint Outcome"],"detail":{"outcome":["registered"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	events := &countingEvents{EventsAPI: eventbridge.NewFromConfig(cfg)}
	var logs bytes.Buffer
	r := &feedback.Reporter{Events: events, Bus: bus, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	const n = 12
	var outs []handler.EndpointOutcome
	for i := range n {
		outs = append(outs, outcome(i))
	}
	outs[3].Warnings = []handler.Warning{{Code: handler.WarningSecurityGroupPorts, Message: "no inbound rule allows 1024-65535"}}
	r.Report(ctx, outs)
	if c, e := events.calls.Load(), events.entries.Load(); c != 2 || e != n {
		t.Errorf("%d PutEvents calls with %d entries, want 2 with %d", c, e, n)
	}
	if logs.Len() > 0 {
		t.Errorf("logged %s", logs.String())
	}

	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	bodies, err := motoserver.Receive(rctx, cfg, queue, n)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]feedback.Detail{}
	for _, b := range bodies {
		var ev struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     feedback.Detail `json:"detail"`
		}
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatalf("message %s: %v", b, err)
		}
		if ev.Source != feedback.Source || ev.DetailType != feedback.DetailType {
			t.Errorf("source %q, detail-type %q", ev.Source, ev.DetailType)
		}
		got[ev.Detail.VPCEndpointID] = ev.Detail
	}
	want := outs[3]
	d := got[want.VPCEndpointID]
	if d.AccountID != want.AccountID || d.Region != want.Region || d.ProjectID != want.ProjectID || d.EndpointServiceID != want.EndpointServiceID ||
		d.Outcome != want.Outcome || d.ConnectionStatus != want.ConnectionStatus || d.Kind != "cluster" ||
		len(d.Warnings) != 1 || d.Warnings[0] != want.Warnings[0] {
		t.Errorf("detail = %+v, want the outcome %+v", d, want)
	}
	if len(got) != n {
		t.Errorf("%d distinct endpoints arrived, want %d", len(got), n)
	}
}

// eventsFunc is an EventsAPI made of one function.
type eventsFunc func(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)

func (f eventsFunc) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return f(ctx, in, optFns...)
}

// An entry EventBridge refuses is sent once more; what fails again is
// logged, and nothing is returned to fail the invocation.
func TestPublishRetriesFailedEntriesOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fail says, for the call numbered from 1, which entry ids fail.
		fail      func(call int, id string) bool
		callErr   func(call int) error
		wantCalls int
		wantLost  []int // outcome numbers logged as not published
	}{
		{"all accepted", func(int, string) bool { return false }, nil, 1, nil},
		{"throttled once, then accepted", func(call int, id string) bool { return call == 1 && strings.HasSuffix(id, "01") }, nil, 2, nil},
		{"refused twice", func(_ int, id string) bool { return strings.HasSuffix(id, "02") }, nil, 2, []int{2}},
		{"the call fails twice", nil, func(int) error { return errors.New("connection reset") }, 2, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := 0
			api := eventsFunc(func(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
				mu.Lock()
				calls++
				call := calls
				mu.Unlock()
				if tt.callErr != nil {
					return nil, tt.callErr(call)
				}
				out := &eventbridge.PutEventsOutput{}
				for _, e := range in.Entries {
					var d feedback.Detail
					if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
						t.Error(err)
					}
					if tt.fail(call, d.VPCEndpointID) {
						out.FailedEntryCount++
						out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("Rate exceeded")})
					} else {
						out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("id-%d", len(out.Entries)))})
					}
				}
				return out, nil
			})
			var logs bytes.Buffer
			r := &feedback.Reporter{Events: api, Bus: "registrar", Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			r.Report(context.Background(), []handler.EndpointOutcome{outcome(0), outcome(1), outcome(2)})
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			var lost []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var m map[string]any
				if line == "" || json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if m["msg"] == "outcome event not published" {
					lost = append(lost, fmt.Sprint(m["vpcEndpointId"]))
					if m["error"] == "" {
						t.Errorf("line %s does not say why", line)
					}
				}
			}
			var want []string
			for _, i := range tt.wantLost {
				want = append(want, outcome(i).VPCEndpointID)
			}
			if fmt.Sprint(lost) != fmt.Sprint(want) {
				t.Errorf("logged as lost %v, want %v", lost, want)
			}
		})
	}
}

// tagRecorder is an EndpointTagger that keeps what it is asked, and
// answers err.
type tagRecorder struct {
	mu   sync.Mutex
	tags map[string]map[string]string
	err  error
}

func (r *tagRecorder) TagEndpoint(_ context.Context, id string, tags map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags == nil {
		r.tags = map[string]map[string]string{}
	}
	r.tags[id] = tags
	return r.err
}

func TestTags(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 4, 5, 6, 0, time.FixedZone("CET", 3600))
	tagged := outcome(1)
	untagged := outcome(2)
	untagged.TagStatus = ""
	rec := &tagRecorder{}
	tagged.Tagger, untagged.Tagger = rec, rec

	off := &feedback.Reporter{Now: func() time.Time { return now }}
	off.Report(context.Background(), []handler.EndpointOutcome{tagged})
	if len(rec.tags) != 0 {
		t.Fatalf("tags written with Tags off: %v", rec.tags)
	}

	r := &feedback.Reporter{Tags: true, Now: func() time.Time { return now }}
	r.Report(context.Background(), []handler.EndpointOutcome{tagged, untagged})
	want := map[string]map[string]string{tagged.VPCEndpointID: {
		"atlas-registrar:status":  "available",
		"atlas-registrar:project": tagged.ProjectID,
		"atlas-registrar:updated": "2026-12-06T03:05:06Z",
		"atlas-registrar:message": "AVAILABLE in Atlas",
	}}
	if fmt.Sprint(rec.tags) != fmt.Sprint(want) {
		t.Errorf("tags = %v, want %v", rec.tags, want)
	}

	for _, tt := range []struct {
		err  error
		line string
	}{
		{fmt.Errorf("tag vpc endpoint: %w", awsvpc.ErrTagLimit), "endpoint has no room for status tags"},
		{errors.New("UnauthorizedOperation"), "status tags not written"},
	} {
		var logs bytes.Buffer
		o := outcome(3)
		o.Tagger = &tagRecorder{err: tt.err}
		(&feedback.Reporter{Tags: true, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}).Report(context.Background(), []handler.EndpointOutcome{o})
		if !strings.Contains(logs.String(), tt.line) || !strings.Contains(logs.String(), o.VPCEndpointID) {
			t.Errorf("%v: logged %q, want a line %q naming the endpoint", tt.err, logs.String(), tt.line)
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	long := "No dns entries found for endpoint vpce-0a1b2c3d4e5f60718, your endpoint must be provisioned in at least one subnet. " +
		`Click "Edit" to fix the problem. ` + strings.Repeat("More detail. ", 30)
	tests := []struct {
		name string
		o    handler.EndpointOutcome
		want []string // in the message, in this order
	}{
		{"available", handler.EndpointOutcome{TagStatus: handler.TagStatusAvailable}, []string{"AVAILABLE in Atlas"}},
		{"available with warnings", handler.EndpointOutcome{TagStatus: handler.TagStatusAvailable,
			Warnings: []handler.Warning{{Code: handler.WarningSecurityGroupPorts}, {Code: handler.WarningSingleZone}}},
			[]string{"AVAILABLE in Atlas but applications may not connect: security-group-ports single-availability-zone - see the warnings in the outcome event"}},
		{"pending", handler.EndpointOutcome{TagStatus: handler.TagStatusPending, ConnectionStatus: "PENDING_ACCEPTANCE"},
			[]string{"PENDING_ACCEPTANCE", "- it resumes on the next delivery or reconcile: nothing to do"}},
		{"failed, Atlas's message cut, the advice whole", handler.EndpointOutcome{TagStatus: handler.TagStatusFailed, AtlasError: long, Reason: "unused"},
			[]string{"registration failed:", "No dns entries found", "...", "- fix the cause in AWS: the registrar then retries"}},
		{"failed without Atlas's message", handler.EndpointOutcome{TagStatus: handler.TagStatusFailed, Reason: "atlas add interface endpoint: 400 VALIDATION_ERROR"},
			[]string{"registration failed:", "400 VALIDATION_ERROR", "fix the cause"}},
		{"kept", handler.EndpointOutcome{TagStatus: handler.TagStatusKept, AtlasError: "rejected"},
			[]string{"last endpoint", "rejected", "- fix the cause in AWS and then ask the operator of the registrar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := feedback.Message(tt.o)
			if n := utf8.RuneCountInString(m); n > awsvpc.MaxTagValueLen {
				t.Errorf("%d characters, more than %d: %q", n, awsvpc.MaxTagValueLen, m)
			}
			if m != awsvpc.TagValue(m) {
				t.Errorf("%q has characters a tag value should not", m)
			}
			rest := m
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("message %q lacks %q (in order)", m, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
