package event

import (
	"reflect"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/atlas"
)

func deleteDetail(ids, unsuccessful string) string {
	return `{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","errorCode":null,
	"requestParameters":{"DeleteVpcEndpointsRequest":{"VpcEndpointId":` + ids + `}},
	"responseElements":{"DeleteVpcEndpointsResponse":{"requestId":"r","unsuccessful":` + unsuccessful + `}}}`
}

// createDetailFrom is a successful CreateVpcEndpoint record received by
// account recipient ("" leaves recipientAccountId out).
func createDetailFrom(recipient string) string {
	r := ""
	if recipient != "" {
		r = `"recipientAccountId":"` + recipient + `",`
	}
	return `{"eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","errorCode":null,` + r + `
	"responseElements":{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":"vpce-0123456789abcdef0"}}}}`
}

func TestParseLifecycle(t *testing.T) {
	t.Parallel()
	const a, b, c = "vpce-0123456789abcdef0", "vpce-0123456789abcdef1", "vpce-0123456789abcdef2"
	tests := []struct {
		name    string
		payload string
		want    Request
	}{
		{
			name:    "fixture delete of one",
			payload: string(readEvent(t, "delete-vpc-endpoints.json")),
			want:    Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{"vpce-0a1b2c3d4e5f60718"}},
		},
		{
			name:    "one id is an object",
			payload: cloudTrail(deleteDetail(`{"tag":1,"content":"`+a+`"}`, `""`)),
			want:    Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{a}},
		},
		{
			name:    "repeated ids count once",
			payload: cloudTrail(deleteDetail(`[{"tag":1,"content":"`+a+`"},{"tag":2,"content":"`+a+`"}]`, `""`)),
			want:    Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{a}},
		},
		{
			name: "unsuccessful ids are skipped, one item as an object",
			payload: cloudTrail(deleteDetail(`[{"tag":1,"content":"`+a+`"},{"tag":2,"content":"`+b+`"}]`,
				`{"item":{"resourceId":"`+b+`","error":{"code":"InvalidVpcEndpoint.NotFound","message":"gone"}}}`)),
			want: Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{a},
				Skipped: []Skipped{{ID: b, Reason: "EC2 did not delete it (InvalidVpcEndpoint.NotFound)"}}},
		},
		{
			name: "unsuccessful as an array",
			payload: cloudTrail(deleteDetail(`[{"tag":1,"content":"`+a+`"},{"tag":2,"content":"`+b+`"},{"tag":3,"content":"`+c+`"}]`,
				`{"item":[{"resourceId":"`+a+`","error":{"code":"X"}},{"resourceId":"`+c+`"}]}`)),
			want: Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{b},
				Skipped: []Skipped{{ID: a, Reason: "EC2 did not delete it (X)"}, {ID: c, Reason: "EC2 did not delete it (no error code)"}}},
		},
		{
			name:    "an id that is not an endpoint id is skipped with the reason",
			payload: cloudTrail(deleteDetail(`[{"tag":1,"content":"`+a+`"},{"tag":2,"content":"vpce-1/../x"}]`, `""`)),
			want: Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{a},
				Skipped: []Skipped{{ID: "vpce-1/../x", Reason: `not an endpoint id Atlas takes: it has '/', which is not a hex digit, and it has 6 characters after "vpce-", not 17; ` + atlas.EndpointIDForm}}},
		},
		{
			name:    "null responseElements still deregisters: EC2 is asked anyway",
			payload: cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","requestParameters":{"DeleteVpcEndpointsRequest":{"VpcEndpointId":{"tag":1,"content":"` + a + `"}}},"responseElements":null}`),
			want:    Request{Source: SourceEventBridge, Action: Deregister, Account: "123456789012", Region: "us-east-1", EndpointIDs: []string{a}},
		},
		{
			name:    "failed delete call is ignored",
			payload: cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","errorCode":"Client.UnauthorizedOperation","requestParameters":{"DeleteVpcEndpointsRequest":{"VpcEndpointId":{"tag":1,"content":"` + a + `"}}},"responseElements":null}`),
			want:    Request{Source: SourceEventBridge, Ignore: "the DeleteVpcEndpoints call failed (errorCode \"Client.UnauthorizedOperation\"); no endpoint was deleted"},
		},
		{
			name:    "scheduled event reconciles",
			payload: `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-30T10:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/r"],"detail":{}}`,
			want:    Request{Source: SourceSchedule, Action: Reconcile},
		},
		{name: "manual register", payload: `{"vpcEndpointId":"` + a + `"}`, want: Request{Source: SourceManual, Action: Register, EndpointID: a}},
		{name: "manual register by action", payload: `{"action":"register","vpcEndpointId":"` + a + `"}`, want: Request{Source: SourceManual, Action: Register, EndpointID: a}},
		{name: "manual deregister", payload: `{"action":"deregister","vpcEndpointId":"` + a + `"}`, want: Request{Source: SourceManual, Action: Deregister, EndpointIDs: []string{a}}},
		{name: "manual reconcile", payload: `{"action":"reconcile"}`, want: Request{Source: SourceManual, Action: Reconcile}},
		{name: "manual dry run", payload: `{"action":"reconcile","dryRun":true}`, want: Request{Source: SourceManual, Action: Reconcile, DryRun: true}},
		{name: "manual dry run false", payload: `{"action":"reconcile","dryRun":false}`, want: Request{Source: SourceManual, Action: Reconcile}},
		{
			name:    "manual with account and region",
			payload: `{"vpcEndpointId":"` + a + `","accountId":"222222222222","region":"eu-west-1"}`,
			want:    Request{Source: SourceManual, Action: Register, EndpointID: a, Account: "222222222222", Region: "eu-west-1"},
		},
		{
			name:    "create event from a member account",
			payload: strings.Replace(strings.Replace(cloudTrail(createDetailFrom("222222222222")), `"123456789012"`, `"222222222222"`, 1), `"us-east-1"`, `"eu-central-1"`, 1),
			want:    Request{Source: SourceEventBridge, Action: Register, EndpointID: a, Account: "222222222222", Region: "eu-central-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tt.payload))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse() = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestParseLifecycleRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"unknown action", `{"action":"destroy"}`, `action "destroy" is unknown`},
		{"misspelt dryRun", `{"action":"reconcile","dryrun":true}`, `unknown member "dryrun"`},
		{"dryRun as a string", `{"action":"reconcile","dryRun":"true"}`, "dryRun is a string; expected true or false"},
		{"dryRun null", `{"action":"reconcile","dryRun":null}`, "dryRun is null; expected true or false"},
		{"dryRun on deregister", `{"action":"deregister","vpcEndpointId":"vpce-0123456789abcdef0","dryRun":true}`, "dryRun applies only"},
		{"reconcile with an id", `{"action":"reconcile","vpcEndpointId":"vpce-0123456789abcdef0"}`, "takes no"},
		{"deregister without id", `{"action":"deregister"}`, "vpcEndpointId is missing"},
		{"deregister with a bad id", `{"action":"deregister","vpcEndpointId":"vpce-1/../x"}`, "vpce-1/../x"},
		{"numeric action", `{"action":1}`, "action is a number"},
		{"delete without ids", cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","requestParameters":{"DeleteVpcEndpointsRequest":{}},"responseElements":null}`), "VpcEndpointId is missing"},
		{"delete with empty list", cloudTrail(deleteDetail(`[]`, `""`)), "names no endpoint"},
		{"delete id is a number", cloudTrail(deleteDetail(`[7]`, `""`)), "item 0 is a number"},
		{"delete content is a number", cloudTrail(deleteDetail(`{"tag":1,"content":7}`, `""`)), "content is a number"},
		{"delete without requestParameters", cloudTrail(`{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","responseElements":null}`), "requestParameters is missing"},
		{"unsuccessful is a number", cloudTrail(deleteDetail(`{"tag":1,"content":"vpce-0123456789abcdef0"}`, `5`)), "unsuccessful is a number"},
		{"unsuccessful items are strings", cloudTrail(deleteDetail(`{"tag":1,"content":"vpce-0123456789abcdef0"}`, `{"item":["x"]}`)), "unsuccessful.item is an array of unexpected items"},
		{"account differs from the recipient", cloudTrail(createDetailFrom("222222222222")), "account 123456789012 does not match detail.recipientAccountId 222222222222"},
		{"malformed account", strings.Replace(cloudTrail(createDetailFrom("")), `"123456789012"`, `"12345"`, 1), `account is "12345"; expected 12 digits`},
		{"malformed recipient", cloudTrail(createDetailFrom("abc")), `detail.recipientAccountId is "abc"`},
		{"manual account malformed", `{"vpcEndpointId":"vpce-0123456789abcdef0","accountId":"1234"}`, `accountId is "1234"; expected 12 digits`},
		{"manual region malformed", `{"vpcEndpointId":"vpce-0123456789abcdef0","region":"mars-1"}`, `region is "mars-1"`},
		{"scheduled event from another source", `{"detail-type":"Scheduled Event","source":"my.app","detail":{}}`, `"my.app"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Only an event from another source has a shape the function does not know.
			checkInvalid(t, tt.payload, strings.Contains(tt.name, "another source"), tt.want)
		})
	}
}
