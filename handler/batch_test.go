package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// sqsBatch is what an SQS event source mapping delivers: each body is one
// event the rules queued; message ids are m0, m1, ….
func sqsBatch(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i), ReceiptHandle: fmt.Sprintf("AQEB%d", i), Body: string(b),
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:registrar-events", AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// atlasStatus is the endpoint's connectionStatus in the fake, or "" when absent.
func (hs *harness) atlasStatus(id string) string {
	ie, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, id)
	if !ok {
		return ""
	}
	return ie.ConnectionStatus
}

// createEvent is events/create-vpc-endpoint.json for endpoint id.
func (hs *harness) createEvent(id string) []byte {
	return bytes.ReplaceAll(readEvent(hs.t, "create-vpc-endpoint.json"), []byte("vpce-0a1b2c3d4e5f60718"), []byte(id))
}

// invokeBatch runs one batch through Invoke, as the event source mapping
// does, and returns the message ids to deliver again.
func (hs *harness) invokeBatch(payload []byte, timeout time.Duration) []string {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := hs.h.Invoke(ctx, payload)
	if err != nil {
		hs.t.Fatalf("Invoke(batch) = %v", err)
	}
	var resp struct {
		BatchItemFailures *[]struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.BatchItemFailures == nil {
		hs.t.Fatalf("batch response %s has no batchItemFailures list (%v)", out, err)
	}
	var ids []string
	for _, f := range *resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

// One batch registers every new endpoint and deregisters a deleted one in
// one loop: one service list, one POST per endpoint, one sentinel's polls.
// Only the record that can never succeed is reported for redelivery.
func TestBatch(t *testing.T) {
	t.Parallel()
	const n = 8
	hs := newHarness(t, harnessOptions{registered: true, liveCompanion: true,
		fake: atlastest.Options{PendingAcceptance: 100 * time.Millisecond, Pending: 100 * time.Millisecond}})
	hs.deleteInEC2(hs.seeded.EndpointID)
	var ids []string
	var bodies [][]byte
	for range n {
		id := hs.newEndpoint()
		ids = append(ids, id)
		bodies = append(bodies, hs.createEvent(id))
	}
	bodies = append(bodies,
		hs.createEvent(ids[0]),                               // m8: EventBridge delivered it twice
		deleteEvent(hs.seeded.EndpointID),                    // m9: deleted in EC2: deregister
		[]byte(`{"detail-type":"nonsense"}`),                 // m10: never valid
		readEvent(t, "create-vpc-endpoint-failed-call.json"), // m11: ignored
		readEvent(t, "scheduled-reconcile.json"),             // m12: not from the queue
	)
	hs.aws.reset()
	if failed := hs.invokeBatch(sqsBatch(t, bodies...), 30*time.Second); !slices.Equal(failed, []string{"m10"}) {
		t.Fatalf("batch item failures = %v, want [m10]", failed)
	}

	for _, id := range ids {
		if st := hs.atlasStatus(id); st != atlas.StatusAvailable {
			t.Errorf("%s: %s in Atlas, want AVAILABLE", id, st)
		}
	}
	if st := hs.atlasStatus(hs.seeded.EndpointID); st != "" {
		t.Errorf("the deleted endpoint is %q in Atlas, want gone", st)
	}
	if p, l := hs.atlasCalls("post"), hs.atlasCalls("list"); p != n || l != 1 {
		t.Errorf("%d POSTs and %d service lists, want %d and 1", p, l, n)
	}
	// A GET before each POST, the sentinel's polls (200 ms with polls from
	// 10 ms growing ×1.5 to 40 ms: at most 9), at most two more per other
	// endpoint, and the deregistration's guard and wait (a few).
	t.Logf("%d GETs, %d requests", hs.atlasCalls("get"), len(hs.fake.Requests()))
	if g := hs.atlasCalls("get"); g > n+9+2*(n-1)+8 {
		t.Errorf("%d GETs, want at most %d", g, n+9+2*(n-1)+8)
	}
	if d := hs.aws.count("DescribeVpcEndpoints"); d < n+1 {
		t.Errorf("%d EC2 calls, want one per endpoint at least", d)
	}

	// One line per record, naming it, and one for the batch.
	outcomes := map[string]string{}
	var batchLine map[string]any
	for _, l := range hs.logLines() {
		if m, ok := l["messageId"].(string); ok {
			if _, dup := outcomes[m]; dup {
				t.Errorf("two lines for %s", m)
			}
			outcomes[m], _ = l["outcome"].(string)
		}
		if l["msg"] == "batch processed" {
			batchLine = l
		}
	}
	want := map[string]string{"m8": OutcomeRegistered, "m9": OutcomeProcessed, "m10": "error", "m11": OutcomeIgnored, "m12": OutcomeIgnored}
	for i := range n {
		want[fmt.Sprintf("m%d", i)] = OutcomeRegistered
	}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("outcome lines = %v, want %v", outcomes, want)
	}
	if batchLine == nil || batchLine["records"] != float64(len(bodies)) || fmt.Sprint(batchLine["retry"]) != "[m10]" {
		t.Errorf("batch line = %v", batchLine)
	}

	// The metrics count records by outcome, and the invocation's Atlas
	// requests once.
	byOutcome := map[string]float64{}
	requests := 0.0
	for _, l := range hs.metricsLines() {
		byOutcome[l.root[DimensionOutcome].(string)] += l.metrics[MetricEvents]
		requests += l.metrics[MetricAtlasRequests]
		if v := l.values[MetricSecondsToAvailable]; len(v) > 0 && len(v) != n {
			t.Errorf("%d SecondsToAvailable values, want %d", len(v), n)
		}
	}
	wantCounts := map[string]float64{OutcomeRegistered: n + 1, OutcomeProcessed: 1, MetricOutcomeError: 1, OutcomeIgnored: 2}
	if fmt.Sprint(byOutcome) != fmt.Sprint(wantCounts) {
		t.Errorf("Events by outcome = %v, want %v", byOutcome, wantCounts)
	}
	if got := len(hs.fake.Requests()); requests != float64(got) {
		t.Errorf("AtlasRequests = %v, the fake saw %d", requests, got)
	}
}

// Records still pending at the deadline are reported for redelivery; the
// redelivered batch resumes the wait without posting again.
func TestBatchDeadlineThenRedelivery(t *testing.T) {
	t.Parallel()
	const n = 3
	hs := newHarness(t, harnessOptions{fake: atlastest.Options{PendingAcceptance: 1500 * time.Millisecond, Pending: 100 * time.Millisecond}})
	var bodies [][]byte
	ids := []string{hs.seeded.EndpointID}
	for range n - 1 {
		ids = append(ids, hs.newEndpoint())
	}
	for _, id := range ids {
		bodies = append(bodies, hs.createEvent(id))
	}
	batch := sqsBatch(t, bodies...)
	if failed := hs.invokeBatch(batch, 1200*time.Millisecond); !slices.Equal(failed, []string{"m0", "m1", "m2"}) {
		t.Fatalf("batch item failures = %v, want every record", failed)
	}
	for _, l := range hs.logLines() {
		if _, ok := l["messageId"]; ok && l["errorType"] != "DeadlineError" {
			t.Errorf("record line %v, want a DeadlineError", l)
		}
	}
	if failed := hs.invokeBatch(batch, 10*time.Second); len(failed) != 0 {
		t.Fatalf("redelivery: batch item failures = %v, want none", failed)
	}
	if p := hs.atlasCalls("post"); p != n {
		t.Errorf("%d POSTs, want %d: the redelivery must resume, not post again", p, n)
	}
	for _, id := range ids {
		if st := hs.atlasStatus(id); st != atlas.StatusAvailable {
			t.Errorf("%s: %s in Atlas, want AVAILABLE", id, st)
		}
	}
}

// A malformed batch envelope fails the whole invocation with a clear error.
func TestBatchEnvelopeRejected(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	_, err := hs.h.Invoke(context.Background(), []byte(`{"Records":[{"messageId":"m0","body":"{}","eventSource":"aws:kinesis"}]}`))
	if err == nil || errorType(err) != "InvalidEventError" {
		t.Fatalf("Invoke() = %v, want an InvalidEventError", err)
	}
	if hs.atlasCalls("list")+hs.aws.total() != 0 {
		t.Error("a malformed batch reached AWS or Atlas")
	}
}
