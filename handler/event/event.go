// Package event decodes what reaches the function: an EventBridge event for
// CloudTrail's CreateVpcEndpoint, or a manual {"vpcEndpointId": "vpce-…"}.
// It is kept apart from the handler so that it can be fuzzed on its own.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
)

// What the rule in template.yaml delivers.
const (
	cloudTrailDetailType = "AWS API Call via CloudTrail"
	ec2Source            = "aws.ec2"
	ec2EventSource       = "ec2.amazonaws.com"
	createEventName      = "CreateVpcEndpoint"
	maxPayloadBytes      = 1 << 20
)

// Request is what an invocation asks for once the payload is decoded.
type Request struct {
	Source     string // "eventbridge" or "manual"
	EndpointID string // validated: vpce- and 17 lower-case hex digits, the only form Atlas accepts
	Ignore     string // non-empty: nothing to do, and why
}

// InvalidEventError reports a payload the function cannot act on. It says what
// was received and what is accepted; it never echoes more than a short excerpt.
type InvalidEventError struct {
	Received string
	Problem  string
}

func (e *InvalidEventError) Error() string {
	return fmt.Sprintf("invalid event: %s (received %s); accepted: an EventBridge %q event for %s, or {\"vpcEndpointId\":\"vpce-…\"}",
		e.Problem, e.Received, cloudTrailDetailType, createEventName)
}

// Parse decodes an EventBridge CloudTrail event or a manual payload.
// Decoding is tolerant of CloudTrail's shape changes (sets that are "", an
// object or an array; numeric ownerId) because only identifiers are taken from
// the event: everything else is read from EC2 afterwards.
func Parse(payload []byte) (Request, error) {
	payload = bytes.TrimSpace(payload)
	switch {
	case len(payload) == 0:
		return Request{}, &InvalidEventError{Received: "an empty payload", Problem: "nothing to decode"}
	case len(payload) > maxPayloadBytes:
		return Request{}, &InvalidEventError{Received: fmt.Sprintf("%d bytes", len(payload)), Problem: fmt.Sprintf("payload larger than %d bytes", maxPayloadBytes)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return Request{}, &InvalidEventError{Received: describeJSON(payload), Problem: "not a JSON object: " + jsonProblem(err)}
	}

	if raw, ok := top["vpcEndpointId"]; ok && top["detail"] == nil {
		id, err := stringField(raw, "vpcEndpointId")
		if err != nil {
			return Request{}, &InvalidEventError{Received: "a manual payload", Problem: err.Error()}
		}
		return validated(Request{Source: "manual", EndpointID: id})
	}

	if _, ok := top["detail-type"]; !ok {
		return Request{}, &InvalidEventError{Received: "a JSON object with keys " + keyList(top), Problem: `neither "detail-type" nor "vpcEndpointId" is present`}
	}
	detailType, err := stringField(top["detail-type"], "detail-type")
	if err != nil {
		return Request{}, &InvalidEventError{Received: "an EventBridge event", Problem: err.Error()}
	}
	source, err := stringField(top["source"], "source")
	if err != nil {
		return Request{}, &InvalidEventError{Received: "an EventBridge event", Problem: err.Error()}
	}
	if detailType != cloudTrailDetailType || source != ec2Source {
		return Request{}, &InvalidEventError{
			Received: fmt.Sprintf("an EventBridge event with detail-type %q and source %q", truncate(detailType, 64), truncate(source, 64)),
			Problem:  "wrong event type; check the EventBridge rule's pattern",
		}
	}
	return parseCloudTrail(top["detail"])
}

// cloudTrailRecord holds the parts of a CloudTrail record the function reads.
type cloudTrailRecord struct {
	EventSource      json.RawMessage `json:"eventSource"`
	EventName        json.RawMessage `json:"eventName"`
	ErrorCode        json.RawMessage `json:"errorCode"`
	ResponseElements json.RawMessage `json:"responseElements"`
}

func parseCloudTrail(detail json.RawMessage) (Request, error) {
	const received = "an EventBridge CloudTrail event"
	var rec cloudTrailRecord
	if isNull(detail) {
		return Request{}, &InvalidEventError{Received: received, Problem: `"detail" is missing or null`}
	}
	if err := json.Unmarshal(detail, &rec); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: `"detail" is not a JSON object: ` + jsonProblem(err)}
	}
	eventSource, err := stringField(rec.EventSource, "detail.eventSource")
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	eventName, err := stringField(rec.EventName, "detail.eventName")
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if eventSource != ec2EventSource || eventName != createEventName {
		// A widened rule is not an error worth retrying; say what arrived and move on.
		return Request{Source: "eventbridge", Ignore: fmt.Sprintf("event %s from %s is not %s", truncate(eventName, 64), truncate(eventSource, 64), createEventName)}, nil
	}
	if code := strings.TrimSpace(string(rec.ErrorCode)); code != "" && code != "null" && code != `""` {
		return Request{Source: "eventbridge", Ignore: "the CreateVpcEndpoint call failed (errorCode " + truncate(code, 80) + "); no endpoint was created"}, nil
	}
	if isNull(rec.ResponseElements) {
		return Request{Source: "eventbridge", Ignore: "the CreateVpcEndpoint call has no responseElements; no endpoint was created"}, nil
	}
	var resp struct {
		CreateVpcEndpointResponse *struct {
			VPCEndpoint *struct {
				VPCEndpointID json.RawMessage `json:"vpcEndpointId"`
			} `json:"vpcEndpoint"`
		} `json:"CreateVpcEndpointResponse"`
	}
	if err := json.Unmarshal(rec.ResponseElements, &resp); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: "detail.responseElements has an unexpected shape: " + jsonProblem(err)}
	}
	if resp.CreateVpcEndpointResponse == nil || resp.CreateVpcEndpointResponse.VPCEndpoint == nil {
		return Request{}, &InvalidEventError{Received: received, Problem: "detail.responseElements.CreateVpcEndpointResponse.vpcEndpoint is missing"}
	}
	id, err := stringField(resp.CreateVpcEndpointResponse.VPCEndpoint.VPCEndpointID, "detail.responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId")
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	return validated(Request{Source: "eventbridge", EndpointID: id})
}

// validated checks the endpoint id before it can reach any URL or API call.
func validated(r Request) (Request, error) {
	if err := atlas.ValidateEndpointID(r.EndpointID); err != nil {
		return Request{}, &InvalidEventError{Received: "a " + r.Source + " payload", Problem: err.Error()}
	}
	return r, nil
}

// stringField decodes a JSON string, naming the field and the JSON type found otherwise.
func stringField(raw json.RawMessage, name string) (string, error) {
	if isNull(raw) {
		return "", fmt.Errorf("%s is missing; expected a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is %s; expected a string", name, jsonKind(raw))
	}
	return s, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "empty"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// describeJSON summarises a payload that is not an object without echoing it.
func describeJSON(payload []byte) string {
	if json.Valid(payload) {
		return "JSON " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(payload), "an "), "a ")
	}
	return fmt.Sprintf("%d bytes that are not valid JSON", len(payload))
}

func jsonProblem(err error) string {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	}
	return err.Error()
}

// keyList names at most ten keys, quoted, so unexpected input stays readable in logs.
func keyList(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprintf("%q", truncate(k, 40)))
	}
	sort.Strings(keys)
	if len(keys) > 10 {
		keys = append(keys[:10], "…")
	}
	return "[" + strings.Join(keys, " ") + "]"
}

// truncate keeps echoed input short so a hostile value cannot flood a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
