package event

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// endpointIDPattern restates the accepted id form independently of the code
// under test: the Atlas specification's pattern.
var endpointIDPattern = regexp.MustCompile(`^vpce-[0-9a-f]{17}$`)

// The same for accounts and regions.
var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
)

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cloudTrail wraps a detail in the EventBridge envelope AWS delivers.
func cloudTrail(detail string) string {
	return `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"AWS API Call via CloudTrail",
	"source":"aws.ec2","account":"123456789012","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],
	"detail":` + detail + `}`
}

func createDetail(responseElements string) string {
	return `{"eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","errorCode":null,
	"requestParameters":{"CreateVpcEndpointRequest":{"VpcId":"vpc-0a1b2c3d","SubnetId":{"tag":1,"content":"subnet-1"}}},
	"responseElements":` + responseElements + `}`
}

func TestParseAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		payload    string
		wantID     string
		wantSource string
		wantIgnore string // substring; empty means not ignored
	}{
		{name: "fixture create", payload: string(readEvent(t, "create-vpc-endpoint.json")), wantID: "vpce-0a1b2c3d4e5f60718", wantSource: "eventbridge"},
		{name: "fixture manual", payload: string(readEvent(t, "manual-register.json")), wantID: "vpce-0a1b2c3d4e5f60718", wantSource: "manual"},
		{name: "fixture failed call", payload: string(readEvent(t, "create-vpc-endpoint-failed-call.json")), wantSource: "eventbridge", wantIgnore: "Client.UnauthorizedOperation"},
		{name: "manual with spaces", payload: "  {\"vpcEndpointId\": \"vpce-0123456789abcdef0\"}\n", wantID: "vpce-0123456789abcdef0", wantSource: "manual"},
		{name: "single-item sets and numeric owner", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":"vpce-0123456789abcdef0","ownerId":200802171337,"subnetIdSet":"","tagSet":{"item":{"key":"Name","value":"x"}}}}}`)), wantID: "vpce-0123456789abcdef0", wantSource: "eventbridge"},
		{name: "null responseElements", payload: cloudTrail(createDetail(`null`)), wantSource: "eventbridge", wantIgnore: "no responseElements"},
		{name: "other event name", payload: cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"ModifyVpcEndpoint","responseElements":null}`), wantSource: "eventbridge", wantIgnore: "ModifyVpcEndpoint"},
		{name: "error code with response", payload: cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","errorCode":"Client.InvalidParameter","errorMessage":"bad","responseElements":{}}`), wantSource: "eventbridge", wantIgnore: "Client.InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tt.payload))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got.EndpointID != tt.wantID || got.Source != tt.wantSource {
				t.Errorf("Parse() = %+v, want id %q source %q", got, tt.wantID, tt.wantSource)
			}
			if (tt.wantIgnore == "") != (got.Ignore == "") || !strings.Contains(got.Ignore, tt.wantIgnore) {
				t.Errorf("ignore = %q, want it to contain %q", got.Ignore, tt.wantIgnore)
			}
		})
	}
}

func TestParseRejected(t *testing.T) {
	t.Parallel()
	huge := `{"vpcEndpointId":"vpce-0123456789abcdef0","pad":"` + strings.Repeat("x", maxPayloadBytes) + `"}`
	tests := []struct {
		name    string
		payload string
		want    []string // substrings of the error
		// list: the payload's shape is none the function knows, so the
		// error lists what is accepted; otherwise it must not.
		list bool
	}{
		{name: "empty", payload: "", want: []string{"empty payload"}, list: true},
		{name: "whitespace", payload: " \n ", want: []string{"empty payload"}, list: true},
		{name: "truncated", payload: `{"vpcEndpointId":"vpce-01`, want: []string{"not valid JSON"}, list: true},
		{name: "object then more", payload: `{"vpcEndpointId":"vpce-0123456789abcdef0"} x`, want: []string{"not valid JSON", "after top-level value at byte 44"}, list: true},
		{name: "array not closed", payload: `[1,`, want: []string{"not valid JSON", "unexpected end of JSON input"}, list: true},
		{name: "null", payload: `null`, want: []string{"received JSON null", "expected a JSON object"}, list: true},
		{name: "empty array", payload: `[]`, want: []string{"received JSON array", "expected a JSON object"}, list: true},
		{name: "array", payload: `[1,2]`, want: []string{"received JSON array"}, list: true},
		{name: "string", payload: `"vpce-0123456789abcdef0"`, want: []string{"received JSON string"}, list: true},
		{name: "short string", payload: `"x"`, want: []string{"received JSON string"}, list: true},
		{name: "number", payload: `3`, want: []string{"received JSON number"}, list: true},
		{name: "boolean", payload: `true`, want: []string{"received JSON boolean"}, list: true},
		{name: "unrelated object", payload: `{"hello":"world"}`, want: []string{`"hello"`, "vpcEndpointId"}, list: true},
		{name: "number id", payload: `{"vpcEndpointId":12345678}`, want: []string{"vpcEndpointId is a number; expected a string"}},
		{name: "path characters", payload: `{"vpcEndpointId":"vpce-1/../../orgs"}`, want: []string{"vpce-1/../../orgs", `'/', which is not a hex digit`}},
		{name: "unicode id", payload: `{"vpcEndpointId":"vpce-０１２３４５６７８"}`, want: []string{"vpcEndpointId", "not a hex digit"}},
		{name: "upper-case id", payload: `{"vpcEndpointId":"vpce-0123456789ABCDEF0"}`,
			want: []string{`vpcEndpointId "vpce-0123456789ABCDEF0" has upper-case letters`, "17 lower-case hex digits"}},
		{name: "upper-case id to deregister", payload: `{"action":"deregister","vpcEndpointId":"vpce-0123456789ABCDEF0"}`,
			want: []string{`vpcEndpointId "vpce-0123456789ABCDEF0" has upper-case letters`, "17 lower-case hex digits"}},
		{name: "no prefix", payload: `{"vpcEndpointId":"0123456789abcdef0"}`, want: []string{`does not start with "vpce-"`, "17 lower-case hex digits"}},
		{name: "too long id", payload: `{"vpcEndpointId":"vpce-0123456789abcdef01"}`, want: []string{"vpce-0123456789abcdef01", `has 18 characters after "vpce-", not 17`}},
		// AWS's legacy 8-digit ids are real, but Atlas answers them 400: refuse them here.
		{name: "legacy 8-digit id", payload: `{"vpcEndpointId":"vpce-0123abcd"}`, want: []string{"vpce-0123abcd", "8-digit legacy AWS id", "17 lower-case hex digits"}},
		{name: "legacy 8-digit id in CloudTrail", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":"vpce-0123abcd"}}}`)),
			want: []string{"received an EventBridge CloudTrail event", "vpce-0123abcd", "8-digit legacy AWS id", "17 lower-case hex digits"}},
		{name: "16-digit id", payload: `{"vpcEndpointId":"vpce-0123456789abcdef"}`, want: []string{"vpce-0123456789abcdef", `has 16 characters after "vpce-", not 17`}},
		{name: "huge payload", payload: huge, want: []string{"larger than"}},
		{name: "wrong detail-type", payload: `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{}}`, want: []string{"EC2 Instance State-change Notification", "pattern"}, list: true},
		{name: "wrong source", payload: `{"detail-type":"AWS API Call via CloudTrail","source":"aws.s3","detail":{}}`, want: []string{"aws.s3"}, list: true},
		{name: "numeric detail-type", payload: `{"detail-type":7,"source":"aws.ec2","detail":{}}`, want: []string{"detail-type is a number"}},
		{name: "null detail", payload: cloudTrail(`null`), want: []string{`"detail" is missing`}},
		{name: "detail is a string", payload: cloudTrail(`"x"`), want: []string{`"detail" is not a JSON object: it is a string; expected an object`}},
		{name: "numeric eventName", payload: cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":5}`), want: []string{"detail.eventName is a number"}},
		{name: "responseElements array", payload: cloudTrail(createDetail(`[1]`)), want: []string{"unexpected shape: it is an array; expected an object"}},
		{name: "responseElements without endpoint", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{}}`)), want: []string{"vpcEndpoint is missing"}},
		{name: "vpcEndpoint is a string", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":"vpce-1"}}`)),
			want: []string{`unexpected shape: "CreateVpcEndpointResponse.vpcEndpoint" is a string; expected an object`}},
		{name: "numeric endpoint id", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":42}}}`)), want: []string{"vpcEndpointId is a number"}},
		{name: "missing endpoint id", payload: cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcId":"vpc-1"}}}`)), want: []string{"vpcEndpointId is missing"}},
		{name: "unknown action", payload: `{"action":"register-all"}`, want: []string{`action "register-all" is unknown`}},
		{name: "reconcile with an id", payload: `{"action":"reconcile","vpcEndpointId":"vpce-0123456789abcdef0"}`, want: []string{`takes no "vpcEndpointId"`}},
		{name: "misspelt dryRun", payload: `{"action":"reconcile","dryrun":true}`, want: []string{`unknown member "dryrun"`}},
		{name: "dryRun a string", payload: `{"action":"reconcile","dryRun":"yes"}`, want: []string{"dryRun is a string; expected true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkInvalid(t, tt.payload, tt.list, tt.want...)
		})
	}
}

// goTypeNames are what encoding/json's own messages say, which mean nothing
// to the person who wrote a payload.
var goTypeNames = []string{"map[string]", "json.RawMessage", "Go value", "Go struct", "[]interface", "cannot unmarshal"}

// acceptedList starts the list of accepted payloads.
const acceptedList = "Accepted: an EventBridge"

// plainWords reports a message that names a Go type or the id's regular
// expression, or nests the atlas package's prefix.
func plainWords(msg string) string {
	for _, bad := range append(goTypeNames, "atlas:", "^vpce-", "[0-9a-f]") {
		if strings.Contains(msg, bad) {
			return bad
		}
	}
	return ""
}

// checkNoGoTypes fails if err names a Go type that the payload itself does
// not hold (an error may quote a short excerpt of the payload).
func checkNoGoTypes(t *testing.T, payload []byte, err error) {
	t.Helper()
	for _, bad := range goTypeNames {
		if strings.Contains(err.Error(), bad) && !bytes.Contains(payload, []byte(bad)) {
			t.Fatalf("error %q says %q", err, bad)
		}
	}
}

// checkInvalid parses payload and wants an InvalidEventError that contains
// each of want, in plain words, lists what is accepted only if list, and does
// not echo the payload.
func checkInvalid(t *testing.T, payload string, list bool, want ...string) {
	t.Helper()
	_, err := Parse([]byte(payload))
	ie, ok := errors.AsType[*InvalidEventError](err)
	if !ok {
		t.Fatalf("Parse() error = %v, want *InvalidEventError", err)
	}
	msg := ie.Error()
	if !strings.HasPrefix(msg, "invalid event (received ") {
		t.Errorf("error %q does not start by saying what was received", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if got := strings.Contains(msg, acceptedList); got != list {
		t.Errorf("error %q: lists what is accepted = %v, want %v", msg, got, list)
	}
	if bad := plainWords(msg); bad != "" {
		t.Errorf("error %q says %q", msg, bad)
	}
	if len(msg) > 2000 {
		t.Errorf("error is %d bytes; it must not echo the payload", len(msg))
	}
}

// FuzzParse checks that no payload panics and every outcome is either a
// valid id, an ignore reason, or an *InvalidEventError.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":"vpce-0123456789abcdef0"}}}`))))
	f.Add([]byte(`{"vpcEndpointId":"vpce-1/../x"}`))
	f.Add([]byte(cloudTrail(deleteDetail(`{"tag":1,"content":"vpce-0123456789abcdef0"}`, `{"item":{"resourceId":"vpce-0123456789abcdef0","error":{"code":"x"}}}`))))
	f.Add([]byte(cloudTrail(deleteDetail(`[{"tag":1,"content":"vpce-0123456789abcdef0"},"vpce-0123456789abcdef1"]`, `""`))))
	f.Add([]byte(`{"action":"reconcile","dryRun":true}`))
	f.Add([]byte(`{"action":"deregister","vpcEndpointId":"vpce-0123456789abcdef0"}`))
	f.Add([]byte(`{"vpcEndpointId":"vpce-0123abcd"}`))
	f.Add([]byte(sqsBatch(cloudTrail(createDetail(`{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":"vpce-0123456789abcdef0"}}}`)), `{"vpcEndpointId":"vpce-0123abcd"}`)))
	f.Add([]byte(sqsBatch(cloudTrail(deleteDetail(`"vpce-0123456789abcdef0"`, `""`)), `{"action":"reconcile"}`, `not json`)))
	f.Add([]byte(`{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":""}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if msgs, isBatch, err := ParseBatch(payload); isBatch {
			if err != nil {
				if _, ok := errors.AsType[*InvalidEventError](err); !ok {
					t.Fatalf("batch error of type %T: %v", err, err)
				}
				checkNoGoTypes(t, payload, err)
				return
			}
			if len(msgs) == 0 {
				t.Fatal("an empty batch was accepted")
			}
			for _, m := range msgs {
				if m.ID == "" {
					t.Fatalf("message without id: %+v", m)
				}
				if m.Err != nil {
					if _, ok := errors.AsType[*InvalidEventError](m.Err); !ok {
						t.Fatalf("message error of type %T: %v", m.Err, m.Err)
					}
					checkNoGoTypes(t, payload, m.Err)
				}
			}
			return
		}
		r, err := Parse(payload)
		if err != nil {
			if _, ok := errors.AsType[*InvalidEventError](err); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			checkNoGoTypes(t, payload, err)
			return
		}
		if r.Ignore != "" {
			return
		}
		switch r.Action {
		case Register:
			if !endpointIDPattern.MatchString(r.EndpointID) || len(r.EndpointIDs) > 0 {
				t.Fatalf("register accepted id %q and ids %q", r.EndpointID, r.EndpointIDs)
			}
		case Deregister:
			if len(r.EndpointIDs)+len(r.Skipped) == 0 || r.EndpointID != "" {
				t.Fatalf("deregister with no ids: %+v", r)
			}
			for _, id := range r.EndpointIDs {
				if !endpointIDPattern.MatchString(id) {
					t.Fatalf("deregister accepted invalid id %q", id)
				}
			}
		case Reconcile:
			if r.EndpointID != "" || len(r.EndpointIDs) > 0 {
				t.Fatalf("reconcile with ids: %+v", r)
			}
		default:
			t.Fatalf("no action: %+v", r)
		}
		if r.Account != "" && !accountPattern.MatchString(r.Account) || r.Region != "" && !regionPattern.MatchString(r.Region) {
			t.Fatalf("accepted account %q, region %q", r.Account, r.Region)
		}
		if r.DryRun && r.Action != Reconcile {
			t.Fatalf("dry run of %s", r.Action)
		}
	})
}

// BenchmarkParse measures decoding the EventBridge CloudTrail event.
func BenchmarkParse(b *testing.B) {
	ev := readEvent(b, "create-vpc-endpoint.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(ev)))
	for b.Loop() {
		if _, err := Parse(ev); err != nil {
			b.Fatal(err)
		}
	}
}
