package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sqsBatch wraps bodies in the SQS event an event source mapping delivers,
// with message ids m0, m1, ….
func sqsBatch(bodies ...string) string {
	type record struct {
		MessageID      string `json:"messageId"`
		ReceiptHandle  string `json:"receiptHandle"`
		Body           string `json:"body"`
		EventSource    string `json:"eventSource"`
		EventSourceARN string `json:"eventSourceARN"`
		AWSRegion      string `json:"awsRegion"`
	}
	var rs []record
	for i, b := range bodies {
		rs = append(rs, record{MessageID: fmt.Sprintf("m%d", i), ReceiptHandle: "AQEB" + fmt.Sprint(i), Body: b,
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:registrar-events", AWSRegion: "us-east-1"})
	}
	b, _ := json.Marshal(map[string]any{"Records": rs})
	return string(b)
}

func TestParseBatch(t *testing.T) {
	t.Parallel()
	create := string(readEvent(t, "create-vpc-endpoint.json"))
	del := string(readEvent(t, "delete-vpc-endpoints.json"))
	msgs, isBatch, err := ParseBatch([]byte(sqsBatch(create, del, `{"detail-type":"nope"}`, string(readEvent(t, "create-vpc-endpoint-failed-call.json")))))
	if err != nil || !isBatch {
		t.Fatalf("ParseBatch() = %v, %v", isBatch, err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	want := []struct {
		action  Action
		id      string
		ids     int
		invalid bool
		ignore  bool
	}{
		{action: Register, id: "vpce-0a1b2c3d4e5f60718"},
		{action: Deregister, ids: 1},
		{invalid: true},
		{ignore: true},
	}
	for i, w := range want {
		m := msgs[i]
		if m.ID != fmt.Sprintf("m%d", i) {
			t.Errorf("message %d: id %q", i, m.ID)
		}
		if w.invalid {
			if _, ok := errors.AsType[*InvalidEventError](m.Err); !ok {
				t.Errorf("message %d: err = %v, want an InvalidEventError", i, m.Err)
			}
			continue
		}
		if m.Err != nil {
			t.Errorf("message %d: %v", i, m.Err)
			continue
		}
		if w.ignore {
			if m.Request.Ignore == "" {
				t.Errorf("message %d: not ignored: %+v", i, m.Request)
			}
			continue
		}
		if m.Request.Action != w.action || m.Request.EndpointID != w.id || len(m.Request.EndpointIDs) != w.ids || m.Request.Account != "123456789012" {
			t.Errorf("message %d: %+v", i, m.Request)
		}
	}
}

func TestParseBatchNotABatch(t *testing.T) {
	t.Parallel()
	for _, p := range []string{string(readEvent(t, "create-vpc-endpoint.json")), `{"vpcEndpointId":"vpce-0123456789abcdef0"}`, `[]`, ``, `{`} {
		if _, isBatch, err := ParseBatch([]byte(p)); isBatch || err != nil {
			t.Errorf("ParseBatch(%.40q) = %v, %v; want not a batch", p, isBatch, err)
		}
	}
}

func TestParseBatchRejected(t *testing.T) {
	t.Parallel()
	one := `{"messageId":"m1","body":"{}","eventSource":"aws:sqs"}`
	for _, tc := range []struct{ name, payload, want string }{
		{"records not a list", `{"Records":{}}`, `"Records" is not a list`},
		{"no records", `{"Records":[]}`, "holds 0 messages"},
		{"not from SQS", `{"Records":[{"messageId":"m1","body":"{}","eventSource":"aws:sns"}]}`, `eventSource "aws:sns"`},
		{"no message id", `{"Records":[{"body":"{}","eventSource":"aws:sqs"}]}`, "no messageId"},
		{"repeated message id", `{"Records":[` + one + `,` + one + `]}`, "appears twice"},
		{"too large", `{"Records":[{"messageId":"m1","eventSource":"aws:sqs","body":"` + strings.Repeat("x", maxBatchBytes) + `"}]}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, isBatch, err := ParseBatch([]byte(tc.payload))
			ie, ok := errors.AsType[*InvalidEventError](err)
			if !isBatch || !ok || !strings.Contains(ie.Error(), tc.want) {
				t.Fatalf("ParseBatch() = %v, %v; want an InvalidEventError saying %q", isBatch, err, tc.want)
			}
			if len(ie.Error()) > 2000 {
				t.Errorf("error is %d bytes; it must not echo the payload", len(ie.Error()))
			}
		})
	}
}

// BenchmarkParseBatch decodes a full batch as the event source mapping
// delivers it: 100 CloudTrail events.
func BenchmarkParseBatch(b *testing.B) {
	bodies := make([]string, 100)
	for i := range bodies {
		bodies[i] = string(readEvent(b, "create-vpc-endpoint.json"))
	}
	payload := []byte(sqsBatch(bodies...))
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if msgs, isBatch, err := ParseBatch(payload); !isBatch || err != nil || len(msgs) != 100 {
			b.Fatalf("ParseBatch() = %d messages, %v, %v", len(msgs), isBatch, err)
		}
	}
}
