package event

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// An SQS event source mapping delivers the queued EventBridge events in
// batches: {"Records":[{"messageId","body","eventSource":"aws:sqs",…},…]}.
const (
	sqsEventSource = "aws:sqs"
	batchReceived  = "an SQS batch" // what InvalidEventError says was received
	// maxBatchBytes is Lambda's limit on a synchronous invocation's payload,
	// which is how an event source mapping invokes the function.
	maxBatchBytes = 6 << 20
	// MaxBatchRecords bounds one batch: SQS event source mappings deliver at
	// most 10000 records.
	MaxBatchRecords = 10000
)

// Message is one record of an SQS batch: its id, which the function reports
// back when the record failed, and the event its body carries, or why the
// body is not an accepted event.
type Message struct {
	ID      string
	Request Request
	Err     error // an *InvalidEventError: the body is not an event the function accepts
}

// ParseBatch decodes an SQS batch. isBatch is false when the payload is not
// one (it has no top-level "Records"): Parse decodes it then. A batch whose
// envelope is malformed is an *InvalidEventError for the whole invocation;
// a record whose body is not an accepted event is reported in its Message,
// so the rest of the batch goes on.
func ParseBatch(payload []byte) (msgs []Message, isBatch bool, err error) {
	payload = bytes.TrimSpace(payload)
	// Cheap test first: a single event pays for no second decoding.
	if len(payload) == 0 || payload[0] != '{' || !bytes.Contains(payload, []byte(`"Records"`)) {
		return nil, false, nil
	}
	// The usual batch is decoded once. Anything else (too large, not JSON,
	// no "Records" or a malformed one) takes the path below, which works out
	// whether it is a batch at all and says what is wrong.
	var usual struct {
		Records *[]events.SQSMessage `json:"Records"`
	}
	if len(payload) <= maxBatchBytes && json.Unmarshal(payload, &usual) == nil && usual.Records != nil {
		return messages(*usual.Records)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return nil, false, nil // Parse explains it
	}
	if _, ok := top["Records"]; !ok {
		return nil, false, nil
	}
	if len(payload) > maxBatchBytes {
		return nil, true, &InvalidEventError{Received: fmt.Sprintf("%d bytes", len(payload)), Problem: fmt.Sprintf("batch larger than %d bytes", maxBatchBytes)}
	}
	var batch events.SQSEvent
	if err := json.Unmarshal(payload, &batch); err != nil {
		return nil, true, &InvalidEventError{Received: batchReceived, Problem: `"Records" is not a list of SQS messages: ` + jsonProblem(err)}
	}
	return messages(batch.Records)
}

// messages checks a batch's records and decodes the event each carries.
func messages(records []events.SQSMessage) (msgs []Message, isBatch bool, err error) {
	if len(records) == 0 || len(records) > MaxBatchRecords {
		return nil, true, &InvalidEventError{Received: batchReceived, Problem: fmt.Sprintf(`"Records" holds %d messages; expected 1 to %d`, len(records), MaxBatchRecords)}
	}
	seen := make(map[string]bool, len(records))
	msgs = make([]Message, 0, len(records))
	for i, r := range records {
		switch {
		case r.EventSource != sqsEventSource:
			return nil, true, &InvalidEventError{Received: batchReceived, Problem: fmt.Sprintf("record %d has eventSource %q; expected %q", i, truncate(r.EventSource, 40), sqsEventSource)}
		case r.MessageId == "" || len(r.MessageId) > 128:
			return nil, true, &InvalidEventError{Received: batchReceived, Problem: fmt.Sprintf("record %d has no messageId of 1 to 128 characters", i)}
		case seen[r.MessageId]:
			return nil, true, &InvalidEventError{Received: batchReceived, Problem: fmt.Sprintf("messageId %q appears twice", truncate(r.MessageId, 40))}
		}
		seen[r.MessageId] = true
		m := Message{ID: r.MessageId}
		m.Request, m.Err = Parse([]byte(r.Body))
		msgs = append(msgs, m)
	}
	return msgs, true, nil
}
