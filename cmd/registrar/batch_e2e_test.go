package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/proc"
)

// An SQS batch, as the event source mapping delivers it, through the real
// binary: every endpoint of the batch is registered in one invocation, the
// answer names only the record that cannot succeed, and each record has its
// outcome line.
func TestE2ESQSBatch(t *testing.T) {
	t.Parallel()
	out := &proc.Buffer{}
	s := startStack(t, localstack.Options{FunctionLog: out})
	ids := []string{s.EndpointID}
	for range 2 {
		id, err := s.NewEndpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	create := fixture(t, s, "create-vpc-endpoint.json")
	var ev events.SQSEvent
	for i, id := range ids {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i), ReceiptHandle: "r", EventSource: "aws:sqs",
			Body: string(bytes.ReplaceAll(create, []byte(s.EndpointID), []byte(id))),
		})
	}
	ev.Records = append(ev.Records, events.SQSMessage{MessageId: "bad", ReceiptHandle: "r", EventSource: "aws:sqs", Body: `{"vpcEndpointId":"vpce-123"}`})
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := s.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v (body %s)", err, body)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "bad" {
		t.Errorf("batchItemFailures = %+v, want only the invalid record", resp.BatchItemFailures)
	}
	for _, id := range ids {
		if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, id); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
			t.Errorf("%s: %+v in Atlas (found %v), want AVAILABLE", id, ep, ok)
		}
	}
	if n := registrations(s); n != len(ids) {
		t.Errorf("%d registration POSTs, want %d", n, len(ids))
	}
	lines := map[string]map[string]any{}
	for _, line := range strings.Split(out.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &l) != nil {
			continue
		}
		if m, ok := l["messageId"].(string); ok {
			lines[m] = l
		}
	}
	for i, id := range ids {
		l := lines[fmt.Sprintf("m%d", i)]
		if l["outcome"] != handler.OutcomeRegistered || l["vpcEndpointId"] != id || l["requestId"] == nil {
			t.Errorf("record m%d: line %v, want outcome registered for %s with the request id", i, l, id)
		}
	}
	if l := lines["bad"]; l["errorType"] != "InvalidEventError" {
		t.Errorf("invalid record: line %v, want errorType InvalidEventError", l)
	}
}
