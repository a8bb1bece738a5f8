package deploy_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/atlasvpce/registrar/feedback"
	"github.com/atlasvpce/registrar/handler"
)

// outcomeEvent is the event EventBridge delivers for an outcome the
// function publishes: the feedback package's own entry in EventBridge's
// envelope.
func outcomeEvent(t *testing.T, outcome string) []byte {
	t.Helper()
	entry, err := feedback.Entry("atlas-vpce-registrar", handler.EndpointOutcome{
		VPCEndpointID: "vpce-0a1b2c3d4e5f60718", AccountID: "222222222222", Region: "us-east-1",
		ProjectID: "5f0a1b2c3d4e5f6a7b8c9d0e", EndpointServiceID: "6a1b2c3d4e5f6a7b8c9d0e1f",
		Outcome: outcome, ConnectionStatus: "AVAILABLE",
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := json.Marshal(map[string]any{
		"version": "0", "id": "7b1c0d2e-0000-4000-8000-000000000001",
		"detail-type": aws.ToString(entry.DetailType), "source": aws.ToString(entry.Source),
		"account": "111111111111", "time": "2026-12-06T04:00:00Z", "region": "us-east-1",
		"resources": entry.Resources, "detail": json.RawMessage(aws.ToString(entry.Detail)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// The function publishes its outcomes on its own bus, which also carries
// the forwarded endpoint calls. No rule of the template matches an outcome
// event, whatever DeregisterOnDelete, so publishing can never invoke the
// function again. (The schedule rule has no pattern: it matches no event.)
func TestTemplateOutcomeEventsMatchNoRule(t *testing.T) {
	t.Parallel()
	rules := eventRules(t)
	if len(rules) == 0 {
		t.Fatal("no rule with a pattern; the test looks in the wrong place")
	}
	for name := range rules {
		for _, deregister := range []bool{true, false} {
			for _, outcome := range []string{handler.OutcomeRegistered, handler.OutcomeFailed, handler.OutcomeDeregistered} {
				t.Run(fmt.Sprintf("%s/DeregisterOnDelete=%v/%s", name, deregister, outcome), func(t *testing.T) {
					t.Parallel()
					got, err := matchPattern(rulePattern(t, name, deregister), outcomeEvent(t, outcome))
					if err != nil {
						t.Fatal(err)
					}
					if got {
						t.Errorf("rule %s matches an outcome event: the function would be invoked by its own report", name)
					}
				})
			}
		}
	}
}

// OUTCOME_EVENT_BUS is the registrar's bus when PublishOutcomeEvents is on,
// and empty (off) when not; PutEvents is allowed only then, on that bus.
// ec2:CreateTags is allowed only with TagEndpoints.
func TestTemplateOwnerFeedback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		publish, tag string
		wantBus      any
		wantActions  []string // of the two, those granted
	}{
		{"true", "false", ref("RegistrarEventBus"), []string{"events:PutEvents"}},
		{"false", "false", "", nil},
		{"false", "true", "", []string{"ec2:CreateTags"}},
		{"true", "true", ref("RegistrarEventBus"), []string{"events:PutEvents", "ec2:CreateTags"}},
	}
	for _, tt := range tests {
		t.Run("PublishOutcomeEvents="+tt.publish+",TagEndpoints="+tt.tag, func(t *testing.T) {
			t.Parallel()
			s := deployedCentral(t, map[string]string{"PublishOutcomeEvents": tt.publish, "TagEndpoints": tt.tag, "AWS::Partition": "aws"})
			vars := mustDig(t, mustResources(t, s)[functionID], "Properties", "Environment", "Variables")
			if got := mustDig(t, vars, "OUTCOME_EVENT_BUS"); !reflect.DeepEqual(got, tt.wantBus) {
				t.Errorf("OUTCOME_EVENT_BUS = %#v, want %#v", got, tt.wantBus)
			}
			if got := mustDig(t, vars, "ENDPOINT_STATUS_TAGS"); got != tt.tag {
				t.Errorf("ENDPOINT_STATUS_TAGS = %#v, want %q", got, tt.tag)
			}
			var granted []string
			for _, st := range deployedStatements(t, s) {
				a, _ := stringList(st["Action"])
				for _, action := range a {
					if action == "events:PutEvents" || action == "ec2:CreateTags" {
						granted = append(granted, action)
					}
					if action == "ec2:CreateTags" && st["Resource"] != "arn:aws:ec2:*:*:vpc-endpoint/*" {
						t.Errorf("ec2:CreateTags on %#v, want VPC endpoints only", st["Resource"])
					}
				}
			}
			if !sameSet(granted, tt.wantActions) {
				t.Errorf("granted %v, want %v", granted, tt.wantActions)
			}
		})
	}
	// The bus's name: what the function is given is what the bus is called.
	if got := mustDig(t, mustTemplate(t), "Resources", "RegistrarEventBus", "Properties", "Name"); !reflect.DeepEqual(got, ref("EventBusName")) {
		t.Errorf("the bus is named %#v", got)
	}
	for _, c := range []string{"PublishesOutcomes", "TagsEndpoints"} {
		param := map[string]string{"PublishesOutcomes": "PublishOutcomeEvents", "TagsEndpoints": "TagEndpoints"}[c]
		want := map[string]any{"Fn::Equals": []any{ref(param), "true"}}
		if got := mustDig(t, mustTemplate(t), "Conditions", c); !reflect.DeepEqual(got, want) {
			t.Errorf("condition %s = %#v, want %#v", c, got, want)
		}
	}
}
