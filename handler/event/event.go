// Package event decodes what reaches the function: an EventBridge event for
// CloudTrail's CreateVpcEndpoint or DeleteVpcEndpoints, an EventBridge
// scheduled event, or a manual payload such as {"vpcEndpointId": "vpce-…"} or
// {"action": "reconcile", "dryRun": true}. It is kept apart from the handler
// so that it can be fuzzed on its own.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
)

// What the rule in template.yaml delivers.
const (
	cloudTrailDetailType = "AWS API Call via CloudTrail"
	ec2Source            = "aws.ec2"
	ec2EventSource       = "ec2.amazonaws.com"
	createEventName      = "CreateVpcEndpoint"
	deleteEventName      = "DeleteVpcEndpoints"
	scheduledDetailType  = "Scheduled Event"
	scheduleSource       = "aws.events"
	maxPayloadBytes      = 1 << 20
)

// Action is what a request asks the function to do.
type Action string

// The actions.
const (
	Register   Action = "register"   // add one endpoint to its Atlas service
	Deregister Action = "deregister" // remove endpoints deleted in AWS from Atlas
	Reconcile  Action = "reconcile"  // compare AWS and Atlas and repair what events missed
)

// Sources of a request.
const (
	SourceEventBridge = "eventbridge"
	SourceSchedule    = "schedule"
	SourceManual      = "manual"
)

// Request is what an invocation asks for once the payload is decoded.
type Request struct {
	Source string // SourceEventBridge, SourceSchedule or SourceManual
	Action Action
	// EndpointID is the endpoint to register, validated against
	// atlas.ValidateEndpointID: vpce- and 17 lower-case hex digits, the only
	// form Atlas accepts.
	EndpointID string
	// EndpointIDs are the endpoints to deregister, validated and without repeats.
	EndpointIDs []string
	// Skipped are ids a delete event names that the function must not act on,
	// with the reason: EC2 did not delete them, or they are not endpoint ids.
	Skipped []Skipped
	DryRun  bool   // reconcile only: read and plan, write nothing
	Ignore  string // non-empty: nothing to do, and why
	// Account and Region are where the endpoint lives: the event's account
	// (checked against the CloudTrail record's recipientAccountId) and
	// region, or a manual payload's accountId and region. Empty means the
	// function's own.
	Account string
	Region  string
}

// isAccount reports an AWS account id: 12 digits.
func isAccount(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// isRegion reports a region name such as us-east-1 or us-gov-west-1:
// lower-case words joined by dashes, ending in one digit. (No regular
// expression: it would be compiled at every cold start.)
func isRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(parts[0]) != 2 {
		return false
	}
	last := parts[len(parts)-1]
	if len(last) != 1 || last[0] < '0' || last[0] > '9' {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	return true
}

// Skipped is an id from a delete event that is left alone, and why.
type Skipped struct {
	ID     string
	Reason string
}

// InvalidEventError reports a payload the function cannot act on. It says what
// was received and what was wrong with it, in words that name no Go type; it
// never echoes more than a short excerpt.
type InvalidEventError struct {
	Received string
	Problem  string
	// Unrecognised: the payload has none of the shapes the function takes,
	// so the message lists them. A payload of a known shape with one wrong
	// field gets only the specific problem.
	Unrecognised bool
}

func (e *InvalidEventError) Error() string {
	msg := "invalid event (received " + e.Received + "): " + e.Problem
	if e.Unrecognised {
		msg += fmt.Sprintf(". Accepted: an EventBridge %q event for %s or %s, an EventBridge %q, "+
			`or a manual {"vpcEndpointId":"vpce-…"}, {"action":"deregister","vpcEndpointId":"vpce-…"} or {"action":"reconcile","dryRun":true|false}`,
			cloudTrailDetailType, createEventName, deleteEventName, scheduledDetailType)
	}
	return msg
}

// Parse decodes an EventBridge CloudTrail event or a manual payload.
// Decoding is tolerant of CloudTrail's shape changes (sets that are "", an
// object or an array; numeric ownerId) because only identifiers are taken from
// the event: everything else is read from EC2 afterwards.
func Parse(payload []byte) (Request, error) {
	payload = bytes.TrimSpace(payload)
	switch {
	case len(payload) == 0:
		return Request{}, &InvalidEventError{Received: "an empty payload", Problem: "nothing to decode", Unrecognised: true}
	case len(payload) > maxPayloadBytes:
		return Request{}, &InvalidEventError{Received: fmt.Sprintf("%d bytes", len(payload)), Problem: fmt.Sprintf("payload larger than %d bytes", maxPayloadBytes)}
	}
	// One decoding both validates (Unmarshal checks the whole payload before
	// it decodes any of it) and decodes: json.Valid first would read the
	// payload once more.
	var top map[string]json.RawMessage
	err := json.Unmarshal(payload, &top)
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return Request{}, &InvalidEventError{Received: fmt.Sprintf("%d bytes that are not valid JSON", len(payload)),
			Problem: jsonProblem(err), Unrecognised: true}
	}
	if payload[0] != '{' || err != nil {
		return Request{}, &InvalidEventError{Received: "JSON " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(payload), "an "), "a "),
			Problem: "expected a JSON object", Unrecognised: true}
	}

	_, hasID := top["vpcEndpointId"]
	_, hasAction := top["action"]
	if (hasID || hasAction) && top["detail"] == nil && top["detail-type"] == nil {
		return parseManual(top)
	}

	if _, ok := top["detail-type"]; !ok {
		return Request{}, &InvalidEventError{Received: "a JSON object with keys " + keyList(top), Problem: `none of "detail-type", "vpcEndpointId" or "action" is present`, Unrecognised: true}
	}
	detailType, err := stringField(top["detail-type"], "detail-type")
	if err != nil {
		return Request{}, &InvalidEventError{Received: "an EventBridge event", Problem: err.Error()}
	}
	source, err := stringField(top["source"], "source")
	if err != nil {
		return Request{}, &InvalidEventError{Received: "an EventBridge event", Problem: err.Error()}
	}
	if detailType == scheduledDetailType && source == scheduleSource {
		return Request{Source: SourceSchedule, Action: Reconcile}, nil
	}
	if detailType != cloudTrailDetailType || source != ec2Source {
		return Request{}, &InvalidEventError{
			Received: fmt.Sprintf("an EventBridge event with detail-type %q and source %q", truncate(detailType, 64), truncate(source, 64)),
			Problem:  "wrong event type; check the EventBridge rule's pattern", Unrecognised: true,
		}
	}
	r, recipient, err := parseCloudTrail(top["detail"])
	if err != nil || r.Ignore != "" {
		return r, err
	}
	return withOrigin(r, top, recipient)
}

// withOrigin takes the account and region from the EventBridge envelope.
// The account must be the CloudTrail record's recipientAccountId: a
// forwarded event that claims another account than the one whose API was
// called is refused.
func withOrigin(r Request, top map[string]json.RawMessage, recipientRaw json.RawMessage) (Request, error) {
	const received = "an EventBridge CloudTrail event"
	var err error
	if r.Account, err = optionalField(top["account"], "account", isAccount, "12 digits"); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if r.Region, err = optionalField(top["region"], "region", isRegion, "an AWS region such as us-east-1"); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	recipient, err := optionalField(recipientRaw, "detail.recipientAccountId", isAccount, "12 digits")
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if recipient != "" && r.Account != "" && recipient != r.Account {
		return Request{}, &InvalidEventError{Received: received,
			Problem: fmt.Sprintf("account %s does not match detail.recipientAccountId %s; refusing an event that claims another account than the one whose API was called", r.Account, recipient)}
	}
	if r.Account == "" {
		r.Account = recipient
	}
	return r, nil
}

// optionalField decodes an optional string member that must be valid.
func optionalField(raw json.RawMessage, name string, valid func(string) bool, want string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	s, err := stringField(raw, name)
	if err != nil {
		return "", err
	}
	if !valid(s) {
		return "", fmt.Errorf("%s is %q; expected %s", name, truncate(s, 40), want)
	}
	return s, nil
}

// manualKeys are the members a manual payload may have. Unknown members are
// refused: a misspelt "dryRun" must not turn a dry run into a real one.
var manualKeys = map[string]bool{"action": true, "vpcEndpointId": true, "dryRun": true, "accountId": true, "region": true}

// parseManual decodes a payload a person wrote: {"vpcEndpointId"} registers,
// and "action" picks register, deregister or reconcile.
func parseManual(top map[string]json.RawMessage) (Request, error) {
	const received = "a manual payload"
	for k := range top {
		if !manualKeys[k] {
			return Request{}, &InvalidEventError{Received: received, Problem: fmt.Sprintf("unknown member %q; expected only \"action\", \"vpcEndpointId\", \"dryRun\", \"accountId\" and \"region\"", truncate(k, 40))}
		}
	}
	r := Request{Source: SourceManual, Action: Register}
	var err error
	if r.Account, err = optionalField(top["accountId"], "accountId", isAccount, "12 digits"); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if r.Region, err = optionalField(top["region"], "region", isRegion, "an AWS region such as us-east-1"); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if raw, ok := top["action"]; ok {
		a, err := stringField(raw, "action")
		if err != nil {
			return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
		}
		switch Action(a) {
		case Register, Deregister, Reconcile:
			r.Action = Action(a)
		default:
			return Request{}, &InvalidEventError{Received: received, Problem: fmt.Sprintf("action %q is unknown; expected %q, %q or %q", truncate(a, 40), Register, Deregister, Reconcile)}
		}
	}
	if raw, ok := top["dryRun"]; ok {
		if r.Action != Reconcile {
			return Request{}, &InvalidEventError{Received: received, Problem: fmt.Sprintf("dryRun applies only to action %q", Reconcile)}
		}
		if err := json.Unmarshal(raw, &r.DryRun); err != nil || isNull(raw) {
			return Request{}, &InvalidEventError{Received: received, Problem: "dryRun is " + jsonKind(raw) + "; expected true or false"}
		}
	}
	raw, hasID := top["vpcEndpointId"]
	if r.Action == Reconcile {
		if hasID {
			return Request{}, &InvalidEventError{Received: received, Problem: `action "reconcile" covers every endpoint and takes no "vpcEndpointId"`}
		}
		return r, nil
	}
	id, err := stringField(raw, "vpcEndpointId")
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if r.Action == Deregister {
		if problem := endpointIDProblem("vpcEndpointId", id); problem != "" {
			return Request{}, &InvalidEventError{Received: received, Problem: problem}
		}
		r.EndpointIDs = []string{id}
		return r, nil
	}
	r.EndpointID = id
	return validated(r, received, "vpcEndpointId")
}

// cloudTrailRecord holds the parts of a CloudTrail record the function reads.
type cloudTrailRecord struct {
	EventSource       json.RawMessage `json:"eventSource"`
	EventName         json.RawMessage `json:"eventName"`
	ErrorCode         json.RawMessage `json:"errorCode"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
	// RecipientAccountID is the account whose API was called; withOrigin checks it.
	RecipientAccountID json.RawMessage `json:"recipientAccountId"`
}

// parseCloudTrail also returns the record's recipientAccountId, raw, so that
// the detail is decoded once.
func parseCloudTrail(detail json.RawMessage) (Request, json.RawMessage, error) {
	const received = "an EventBridge CloudTrail event"
	var rec cloudTrailRecord
	if isNull(detail) {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: `"detail" is missing or null`}
	}
	if err := json.Unmarshal(detail, &rec); err != nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: `"detail" is not a JSON object: ` + jsonProblem(err)}
	}
	eventSource, err := stringField(rec.EventSource, "detail.eventSource")
	if err != nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	eventName, err := stringField(rec.EventName, "detail.eventName")
	if err != nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	if eventSource != ec2EventSource || (eventName != createEventName && eventName != deleteEventName) {
		// A widened rule is not an error worth retrying; say what arrived and move on.
		return Request{Source: SourceEventBridge, Ignore: fmt.Sprintf("event %s from %s is not %s or %s", truncate(eventName, 64), truncate(eventSource, 64), createEventName, deleteEventName)}, nil, nil
	}
	if code := strings.TrimSpace(string(rec.ErrorCode)); code != "" && code != "null" && code != `""` {
		what := "no endpoint was created"
		if eventName == deleteEventName {
			what = "no endpoint was deleted"
		}
		return Request{Source: SourceEventBridge, Ignore: "the " + eventName + " call failed (errorCode " + truncate(code, 80) + "); " + what}, nil, nil
	}
	if eventName == deleteEventName {
		r, err := parseDelete(rec)
		return r, rec.RecipientAccountID, err
	}
	if isNull(rec.ResponseElements) {
		return Request{Source: SourceEventBridge, Ignore: "the CreateVpcEndpoint call has no responseElements; no endpoint was created"}, nil, nil
	}
	var resp struct {
		CreateVpcEndpointResponse *struct {
			VPCEndpoint *struct {
				VPCEndpointID json.RawMessage `json:"vpcEndpointId"`
			} `json:"vpcEndpoint"`
		} `json:"CreateVpcEndpointResponse"`
	}
	if err := json.Unmarshal(rec.ResponseElements, &resp); err != nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: "detail.responseElements has an unexpected shape: " + jsonProblem(err)}
	}
	if resp.CreateVpcEndpointResponse == nil || resp.CreateVpcEndpointResponse.VPCEndpoint == nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: "detail.responseElements.CreateVpcEndpointResponse.vpcEndpoint is missing"}
	}
	id, err := stringField(resp.CreateVpcEndpointResponse.VPCEndpoint.VPCEndpointID, "detail.responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId")
	if err != nil {
		return Request{}, nil, &InvalidEventError{Received: received, Problem: err.Error()}
	}
	r, err := validated(Request{Source: SourceEventBridge, Action: Register, EndpointID: id}, received, "detail.responseElements.CreateVpcEndpointResponse.vpcEndpoint.vpcEndpointId")
	return r, rec.RecipientAccountID, err
}

// parseDelete takes the ids from a DeleteVpcEndpoints record. CloudTrail
// writes one {"tag","content"} item as an object and several as an array;
// ids that EC2 reports in "unsuccessful" were not deleted and are skipped.
func parseDelete(rec cloudTrailRecord) (Request, error) {
	const received = "an EventBridge CloudTrail DeleteVpcEndpoints event"
	const idsField = "detail.requestParameters.DeleteVpcEndpointsRequest.VpcEndpointId"
	var params struct {
		Request *struct {
			IDs json.RawMessage `json:"VpcEndpointId"`
		} `json:"DeleteVpcEndpointsRequest"`
	}
	if isNull(rec.RequestParameters) {
		return Request{}, &InvalidEventError{Received: received, Problem: "detail.requestParameters is missing"}
	}
	if err := json.Unmarshal(rec.RequestParameters, &params); err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: "detail.requestParameters has an unexpected shape: " + jsonProblem(err)}
	}
	if params.Request == nil || isNull(params.Request.IDs) {
		return Request{}, &InvalidEventError{Received: received, Problem: idsField + " is missing"}
	}
	items, err := oneOrMany[json.RawMessage](params.Request.IDs)
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: idsField + " " + err.Error()}
	}
	unsuccessful, err := unsuccessfulIDs(rec.ResponseElements)
	if err != nil {
		return Request{}, &InvalidEventError{Received: received, Problem: err.Error()}
	}

	r := Request{Source: SourceEventBridge, Action: Deregister}
	seen := map[string]bool{}
	for i, raw := range items {
		id, err := tagContent(raw)
		if err != nil {
			return Request{}, &InvalidEventError{Received: received, Problem: fmt.Sprintf("%s item %d %s", idsField, i, err)}
		}
		switch {
		case seen[id]:
			continue
		case unsuccessful[id] != "":
			r.Skipped = append(r.Skipped, Skipped{ID: id, Reason: "EC2 did not delete it (" + unsuccessful[id] + ")"})
		case atlas.EndpointIDProblem(id) != "":
			r.Skipped = append(r.Skipped, Skipped{ID: truncate(id, 64), Reason: "not an endpoint id Atlas takes: " + atlas.EndpointIDProblem(id)})
		default:
			r.EndpointIDs = append(r.EndpointIDs, id)
		}
		seen[id] = true
	}
	if len(r.EndpointIDs) == 0 && len(r.Skipped) == 0 {
		return Request{}, &InvalidEventError{Received: received, Problem: idsField + " names no endpoint"}
	}
	return r, nil
}

// tagContent reads a CloudTrail list item {"tag": 1, "content": "vpce-…"};
// a bare string is taken as it is.
func tagContent(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var item struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &item); err != nil {
		return "", fmt.Errorf("is %s; expected {\"tag\":…,\"content\":\"vpce-…\"}", jsonKind(raw))
	}
	return stringField(item.Content, "content")
}

// unsuccessfulIDs maps the ids in responseElements.DeleteVpcEndpointsResponse.unsuccessful
// to EC2's error code. The set is "" when empty, {"item": {…}} with one
// entry and {"item": […]} with several.
func unsuccessfulIDs(responseElements json.RawMessage) (map[string]string, error) {
	const field = "detail.responseElements.DeleteVpcEndpointsResponse.unsuccessful"
	out := map[string]string{}
	if isNull(responseElements) {
		return out, nil
	}
	var resp struct {
		Response *struct {
			Unsuccessful json.RawMessage `json:"unsuccessful"`
		} `json:"DeleteVpcEndpointsResponse"`
	}
	if err := json.Unmarshal(responseElements, &resp); err != nil {
		return nil, fmt.Errorf("detail.responseElements has an unexpected shape: %s", jsonProblem(err))
	}
	if resp.Response == nil || isNull(resp.Response.Unsuccessful) {
		return out, nil
	}
	raw := resp.Response.Unsuccessful
	var empty string
	if json.Unmarshal(raw, &empty) == nil {
		return out, nil
	}
	var set struct {
		Item json.RawMessage `json:"item"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("%s is %s; expected \"\" or {\"item\": …}", field, jsonKind(raw))
	}
	type failure struct {
		ResourceID string `json:"resourceId"`
		Error      *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	items, err := oneOrMany[failure](set.Item)
	if err != nil {
		return nil, fmt.Errorf("%s.item %s", field, err)
	}
	for _, f := range items {
		code := "no error code"
		if f.Error != nil && f.Error.Code != "" {
			code = truncate(f.Error.Code, 80)
		}
		if f.ResourceID != "" {
			out[f.ResourceID] = code
		}
	}
	return out, nil
}

// oneOrMany decodes CloudTrail's list convention: one item as itself, several as an array.
func oneOrMany[T any](raw json.RawMessage) ([]T, error) {
	t := bytes.TrimSpace(raw)
	if isNull(t) {
		return nil, nil
	}
	if t[0] == '[' {
		var items []T
		if err := json.Unmarshal(t, &items); err != nil {
			return nil, fmt.Errorf("is an array of unexpected items: %s", jsonProblem(err))
		}
		return items, nil
	}
	var one T
	if err := json.Unmarshal(t, &one); err != nil {
		return nil, fmt.Errorf("is %s of an unexpected shape: %s", jsonKind(t), jsonProblem(err))
	}
	return []T{one}, nil
}

// validated checks the endpoint id before it can reach any URL or API call;
// field names where the payload holds it.
func validated(r Request, received, field string) (Request, error) {
	if problem := endpointIDProblem(field, r.EndpointID); problem != "" {
		return Request{}, &InvalidEventError{Received: received, Problem: problem}
	}
	return r, nil
}

// endpointIDProblem says in words what is wrong with an endpoint id, naming
// the field and the id (shortened), or "".
func endpointIDProblem(field, id string) string {
	problem := atlas.EndpointIDProblem(id)
	if problem == "" {
		return ""
	}
	return fmt.Sprintf("%s %q %s", field, truncate(id, 64), strings.TrimPrefix(problem, "it "))
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

// jsonProblem says what encoding/json found wrong, in JSON's terms: its
// own messages for a type mismatch name Go types, which mean nothing to the
// person who wrote the payload.
func jsonProblem(err error) string {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	}
	if ut, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		where := "it"
		if ut.Field != "" {
			where = strconv.Quote(truncate(ut.Field, 80))
		}
		return fmt.Sprintf("%s is %s; expected %s", where, article(ut.Value), jsonKindOf(ut.Type))
	}
	return "malformed JSON"
}

// article puts "a" or "an" before one of encoding/json's value names
// (string, number, object, array, bool).
func article(value string) string {
	switch {
	case value == "bool":
		return "a boolean"
	case strings.HasPrefix(value, "number"): // "number 1.5"
		return "a number"
	case value == "object" || value == "array":
		return "an " + value
	case value == "string":
		return "a string"
	}
	return "a value of another kind"
}

// jsonKindOf names the JSON kind that decodes into t.
func jsonKindOf(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another kind of value"
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
