package deploy_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/emf"
	"github.com/atlasvpce/registrar/handler"
)

const (
	templatePath = "../template.yaml"
	functionID   = "RegistrarFunction"
)

var centralTemplate = templateLoader(templatePath)

func mustTemplate(t *testing.T) map[string]any {
	t.Helper()
	return mustLoad(t, centralTemplate)
}

// centralValues are parameter values for a deployment of template.yaml: the
// required ones, then the overrides.
func centralValues(overrides map[string]string) map[string]string {
	v := map[string]string{
		"AtlasProjectId": "5f0a1b2c3d4e5f6a7b8c9d0e",
		"AtlasSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:atlas/registrar-AbC123",
	}
	for k, o := range overrides {
		v[k] = o
	}
	return v
}

// deployedCentral is template.yaml as deployed with these parameter values.
func deployedCentral(t *testing.T, overrides map[string]string) *stack {
	t.Helper()
	return mustDeploy(t, mustTemplate(t), centralValues(overrides))
}

func functionProps(t *testing.T) map[string]any {
	t.Helper()
	p, ok := mustDig(t, mustTemplate(t), "Resources", functionID, "Properties").(map[string]any)
	if !ok {
		t.Fatalf("%s.Properties is not a mapping", functionID)
	}
	return p
}

func TestTemplateFunction(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	fn := []string{"Resources", functionID}
	tests := []struct {
		name string
		path []string
		want any
	}{
		{"transform", []string{"Transform"}, "AWS::Serverless-2016-10-31"},
		{"type", append(fn, "Type"), "AWS::Serverless::Function"},
		{"build method", append(fn, "Metadata", "BuildMethod"), "makefile"},
		{"code uri", append(fn, "Properties", "CodeUri"), "."},
		{"runtime", append(fn, "Properties", "Runtime"), "provided.al2023"},
		{"architectures", append(fn, "Properties", "Architectures"), []any{"arm64"}},
		{"handler", append(fn, "Properties", "Handler"), "bootstrap"},
		{"timeout", append(fn, "Properties", "Timeout"), 900},
		{"memory", append(fn, "Properties", "MemorySize"), 128},
		{"reserved concurrency", append(fn, "Properties", "ReservedConcurrentExecutions"), ref("ReservedConcurrency")},
		{"log format", append(fn, "Properties", "LoggingConfig", "LogFormat"), "JSON"},
		{"application log level", append(fn, "Properties", "LoggingConfig", "ApplicationLogLevel"), "INFO"},
		{"log group", append(fn, "Properties", "LoggingConfig", "LogGroup"), ref("RegistrarLogGroup")},
		{"log group type", []string{"Resources", "RegistrarLogGroup", "Type"}, "AWS::Logs::LogGroup"},
		{"log retention", []string{"Resources", "RegistrarLogGroup", "Properties", "RetentionInDays"}, ref("LogRetentionDays")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mustDig(t, tpl, tt.path...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v", strings.Join(tt.path, "."), got, tt.want)
			}
		})
	}
}

func TestTemplateEnvironment(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	vars, ok := mustDig(t, functionProps(t), "Environment", "Variables").(map[string]any)
	if !ok {
		t.Fatal("Environment.Variables is not a mapping")
	}
	tests := []struct {
		variable, parameter string
	}{
		{"ATLAS_PROJECT_ID", "AtlasProjectId"},
		{"ATLAS_SECRET_ID", "AtlasSecretArn"},
		{"ATLAS_BASE_URL", "AtlasBaseUrl"},
		{"ATLAS_API_VERSION", "AtlasApiVersion"},
		{"ATLAS_MAX_ATTEMPTS", "AtlasMaxAttempts"},
		{"ATLAS_POLL_INITIAL", "AtlasPollInitial"},
		{"ATLAS_POLL_MAX", "AtlasPollMax"},
		{"METRICS_NAMESPACE", "MetricsNamespace"},
		{"ATLAS_ALLOW_SERVICE_REMOVAL", "AllowServiceRemoval"},
		{"RECONCILE_DELETE_ORPHANS", "ReconcileDeleteOrphans"},
		{"ATLAS_PROJECT_IDS", "AtlasProjectIds"},
		{"ATLAS_DATA_FEDERATION_PROJECT_ID", "DataFederationProjectId"},
		{"ALLOWED_ACCOUNT_IDS", "AllowedAccountIds"},
		{"MEMBER_ROLE_NAME", "MemberRoleName"},
		{"ENDPOINT_STATUS_TAGS", "TagEndpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			t.Parallel()
			got, ok := vars[tt.variable]
			if !ok {
				t.Fatalf("%s is not set", tt.variable)
			}
			if !reflect.DeepEqual(got, ref(tt.parameter)) {
				t.Errorf("%s = %#v, want !Ref %s", tt.variable, got, tt.parameter)
			}
			if _, ok := dig(tpl, "Parameters", tt.parameter); !ok {
				t.Errorf("parameter %s is not declared", tt.parameter)
			}
		})
	}
}

func TestTemplateParameters(t *testing.T) {
	t.Parallel()
	checkParameters(t, mustTemplate(t), []parameterCase{
		{
			// Optional since AtlasProjectIds; the rule AtlasProjectGiven
			// requires one of the two.
			name:    "AtlasProjectId",
			deflt:   "",
			valid:   []string{"", "5f0a1b2c3d4e5f6a7b8c9d0e"},
			invalid: []string{"5F0A1B2C3D4E5F6A7B8C9D0E", "5f0a1b2c3d4e5f6a7b8c9d0", "5f0a1b2c3d4e5f6a7b8c9d0e0", "../5f0a1b2c3d4e5f6a7b8c", "5f0a1b2c3d4e5f6a7b8c9d0e,6a0a1b2c3d4e5f6a7b8c9d0f"},
		},
		{
			name:  "AtlasProjectIds",
			deflt: "",
			valid: []string{"", "5f0a1b2c3d4e5f6a7b8c9d0e", "5f0a1b2c3d4e5f6a7b8c9d0e,6a0a1b2c3d4e5f6a7b8c9d0f,7b0a1b2c3d4e5f6a7b8c9d0a"},
			invalid: []string{
				"5f0a1b2c3d4e5f6a7b8c9d0e,", ",5f0a1b2c3d4e5f6a7b8c9d0e", "5f0a1b2c3d4e5f6a7b8c9d0e,,6a0a1b2c3d4e5f6a7b8c9d0f",
				"5f0a1b2c3d4e5f6a7b8c9d0e, 6a0a1b2c3d4e5f6a7b8c9d0f", "5f0a1b2c3d4e5f6a7b8c9d0e;6a0a1b2c3d4e5f6a7b8c9d0f",
				"5F0A1B2C3D4E5F6A7B8C9D0E", "5f0a1b2c3d4e5f6a7b8c9d0",
			},
		},
		{
			name:    "DataFederationProjectId",
			deflt:   "",
			valid:   []string{"", "5f0a1b2c3d4e5f6a7b8c9d0e"},
			invalid: []string{"5F0A1B2C3D4E5F6A7B8C9D0E", "5f0a1b2c3d4e5f6a7b8c9d0", "5f0a1b2c3d4e5f6a7b8c9d0e,6a0a1b2c3d4e5f6a7b8c9d0f", " 5f0a1b2c3d4e5f6a7b8c9d0e"},
		},
		{
			name: "AtlasSecretArn",
			valid: []string{
				"arn:aws:secretsmanager:us-east-1:123456789012:secret:atlas/registrar-AbC123",
				"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:cfn/atlas/profile/default-x9Y8z7",
			},
			invalid: []string{
				"",
				"atlas/registrar",
				"arn:aws:secretsmanager:us-east-1:123456789012:secret:atlas/registrar",
				"arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
				"arn:aws:ssm:us-east-1:123456789012:parameter/atlas-AbC123",
			},
		},
		{
			name:  "SecretKmsKeyArn",
			deflt: "",
			valid: []string{
				"",
				"arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
				"arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
			},
			invalid: []string{"*", "arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager", "arn:aws:kms:us-east-1:123456789012:key/*"},
		},
		{
			name:    "AtlasBaseUrl",
			deflt:   "https://cloud.mongodb.com",
			valid:   []string{"https://cloud.mongodb.com", "https://cloud.mongodbgov.com", "https://atlas.example.internal:8443"},
			invalid: []string{"http://cloud.mongodb.com", "cloud.mongodb.com", "https://cloud.mongodb.com/api/atlas/v2", ""},
		},
		{
			name:    "AtlasApiVersion",
			deflt:   "v2",
			valid:   []string{"v2", "v1.0"},
			invalid: []string{"", "v1", "2023-01-01"},
		},
		{
			name:    "AtlasMaxAttempts",
			deflt:   3,
			valid:   []string{"1", "3", "10"},
			invalid: []string{"0", "11", "three"},
		},
		{
			name:    "AtlasPollInitial",
			deflt:   "5s",
			valid:   []string{"5s", "500ms", "1m", "1m30s", "2.5s"},
			invalid: []string{"", "5", "-5s", "5 s", "1d"},
		},
		{
			name:    "AtlasPollMax",
			deflt:   "30s",
			valid:   []string{"30s", "2m"},
			invalid: []string{"", "30", "forever"},
		},
		{
			// Room for the batches and the schedule's reconcile.
			name:    "ReservedConcurrency",
			deflt:   5,
			valid:   []string{"2", "5", "1000"},
			invalid: []string{"0", "1", "-1", "1001"},
		},
		{
			name:    "BatchSize",
			deflt:   100,
			valid:   []string{"1", "100", "10000"},
			invalid: []string{"0", "10001"},
		},
		{
			// The event source mapping's MaximumConcurrency: 2 to 1000.
			name:    "BatchConcurrency",
			deflt:   4,
			valid:   []string{"2", "4", "1000"},
			invalid: []string{"0", "1", "1001"},
		},
		{
			name:    "DeregisterOnDelete",
			deflt:   "true",
			valid:   []string{"true", "false"},
			invalid: []string{"", "yes", "True"},
		},
		{
			name:    "ReconcileSchedule",
			deflt:   "rate(1 hour)",
			valid:   []string{"", "rate(1 hour)", "rate(15 minutes)", "rate(1 day)", "cron(0 3 * * ? *)"},
			invalid: []string{"hourly", "rate(0 hours)", "rate(1 fortnight)", "rate(1 hour) ", "cron()"},
		},
		{
			name:    "ReconcileDeleteOrphans",
			deflt:   "false",
			valid:   []string{"true", "false"},
			invalid: []string{"", "1", "TRUE"},
		},
		{
			name:    "AllowServiceRemoval",
			deflt:   "false",
			valid:   []string{"true", "false"},
			invalid: []string{"", "yes", "on"},
		},
		{
			name:    "PublishOutcomeEvents",
			deflt:   "true",
			valid:   []string{"true", "false"},
			invalid: []string{"", "yes", "TRUE"},
		},
		{
			// Writing to the endpoint owners' accounts is opt-in.
			name:    "TagEndpoints",
			deflt:   "false",
			valid:   []string{"true", "false"},
			invalid: []string{"", "yes", "on"},
		},
		{
			name:    "MetricsNamespace",
			deflt:   handler.DefaultMetricsNamespace,
			valid:   append([]string{"A", "AW", "AWS"}, namespaceSamples(true)...),
			invalid: append([]string{"AWS/", ":"}, namespaceSamples(false)...),
		},
		{
			name:    "LogRetentionDays",
			deflt:   30,
			valid:   []string{"1", "30", "365", "3653"},
			invalid: []string{"0", "31", "-1"},
		},
		{
			name:    "AlarmTopicArn",
			deflt:   "",
			valid:   []string{"", "arn:aws:sns:us-east-1:123456789012:ops-alarms"},
			invalid: []string{"ops-alarms", "arn:aws:sqs:us-east-1:123456789012:ops-alarms"},
		},
		{
			name:    "OrganizationId",
			deflt:   "",
			valid:   []string{"", "o-a1b2c3d4e5", "o-" + strings.Repeat("a1", 16)},
			invalid: []string{"o-", "o-a1b2c3d4e", "o-" + strings.Repeat("a1", 16) + "a", "o-A1B2C3D4E5", "a1b2c3d4e5", "r-a1b2", "*", " o-a1b2c3d4e5"},
		},
		{
			name:    "AllowedAccountIds",
			deflt:   "",
			valid:   []string{"", "222222222222", "222222222222,333333333333,444444444444"},
			invalid: []string{"*", "22222222222", "2222222222222", "222222222222,", ",222222222222", "222222222222, 333333333333", "222222222222;333333333333", "arn:aws:iam::222222222222:root"},
		},
		{
			name:    "MemberRoleName",
			deflt:   "atlas-vpce-registrar-member",
			valid:   []string{"atlas-vpce-registrar-member", "r", "Role+=,.@_-1", strings.Repeat("r", 64)},
			invalid: []string{"", "*", "atlas-*", "path/role", "role name", strings.Repeat("r", 65), "arn:aws:iam::222222222222:role/r"},
		},
		{
			// "default" matches the pattern; the rule EventBusIsCustom refuses it.
			name:    "EventBusName",
			deflt:   "atlas-vpce-registrar",
			valid:   []string{"atlas-vpce-registrar", "ops.bus_1-x", strings.Repeat("b", 256)},
			invalid: []string{"", "a/b", "bus name", strings.Repeat("b", 257), "arn:aws:events:us-east-1:111111111111:event-bus/b"},
		},
	})
}

// statement is one IAM statement from the function's Policies and the
// template condition (if any) that guards the policy holding it.
type statement struct {
	condition string
	body      map[string]any
}

// functionStatements collects every statement of the function's Policies.
// Anything but an inline policy document (a managed policy name or ARN, a SAM
// policy template) is reported, since its actions cannot be checked here.
func functionStatements(t *testing.T) []statement {
	t.Helper()
	props := functionProps(t)
	if _, ok := props["Role"]; ok {
		t.Fatal("function sets Role; SAM would ignore Policies")
	}
	policies, ok := props["Policies"].([]any)
	if !ok {
		t.Fatalf("Policies = %#v, want a list", props["Policies"])
	}
	var out []statement
	for i, p := range policies {
		cond := ""
		if m, ok := p.(map[string]any); ok {
			if args, ok := m["Fn::If"].([]any); ok && len(m) == 1 {
				if len(args) != 3 || !reflect.DeepEqual(args[2], ref("AWS::NoValue")) {
					t.Errorf("Policies[%d]: !If must be [condition, policy, !Ref AWS::NoValue], got %#v", i, args)
					continue
				}
				cond, _ = args[0].(string)
				p = args[1]
			}
		}
		doc, ok := p.(map[string]any)
		if !ok {
			t.Errorf("Policies[%d] = %#v, want an inline policy document", i, p)
			continue
		}
		stmts, ok := doc["Statement"].([]any)
		if !ok {
			t.Errorf("Policies[%d] has no Statement list (SAM policy templates are not allowed): %#v", i, doc)
			continue
		}
		for j, s := range stmts {
			body, ok := s.(map[string]any)
			if !ok {
				t.Errorf("Policies[%d].Statement[%d] is not a mapping", i, j)
				continue
			}
			out = append(out, statement{condition: cond, body: body})
		}
	}
	return out
}

// unscopedReads are the actions that support no resource-level scoping, the
// only ones either template grants on "*": the endpoint lookup and the
// connectivity warnings' reads.
var unscopedReads = []string{"ec2:DescribeVpcEndpoints", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets"}

func TestTemplatePolicies(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	stmts := functionStatements(t)

	tests := []struct {
		action    string
		resource  any
		condition string         // template condition guarding the policy
		iamCond   map[string]any // the statement's Condition block
	}{
		{action: "ec2:DescribeVpcEndpoints", resource: "*"},
		// The connectivity warnings; neither supports resource scoping.
		{action: "ec2:DescribeSecurityGroups", resource: "*"},
		{action: "ec2:DescribeSubnets", resource: "*"},
		{action: "secretsmanager:GetSecretValue", resource: ref("AtlasSecretArn")},
		// The event source mapping reads the event queue with the function's
		// role: on that queue only.
		{action: "sqs:ReceiveMessage", resource: getAtt("EventQueue", "Arn")},
		{action: "sqs:DeleteMessage", resource: getAtt("EventQueue", "Arn")},
		{action: "sqs:ChangeMessageVisibility", resource: getAtt("EventQueue", "Arn")},
		{action: "sqs:GetQueueAttributes", resource: getAtt("EventQueue", "Arn")},
		{
			action:    "kms:Decrypt",
			resource:  ref("SecretKmsKeyArn"),
			condition: "HasSecretKmsKey",
			iamCond: map[string]any{"StringEquals": map[string]any{
				"kms:ViaService": map[string]any{"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
			}},
		},
		{
			action:    "sts:AssumeRole",
			resource:  sub("arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"),
			condition: "HasAllowedAccounts",
		},
		// Outcome events: on the registrar's own bus only.
		{action: "events:PutEvents", resource: getAtt("RegistrarEventBus", "Arn"), condition: "PublishesOutcomes"},
		// Status tags: opted in, on VPC endpoints only, atlas-registrar: keys only.
		{
			action:    "ec2:CreateTags",
			resource:  sub("arn:${AWS::Partition}:ec2:*:*:vpc-endpoint/*"),
			condition: "TagsEndpoints",
			iamCond:   statusTagKeysOnly,
		},
	}
	allowed := make(map[string]bool)
	for _, tt := range tests {
		allowed[tt.action] = true
	}

	t.Run("only allowed actions", func(t *testing.T) {
		t.Parallel()
		for i, s := range stmts {
			for _, k := range []string{"NotAction", "NotResource", "Principal", "NotPrincipal"} {
				if _, ok := s.body[k]; ok {
					t.Errorf("statement %d uses %s", i, k)
				}
			}
			if s.body["Effect"] != "Allow" {
				t.Errorf("statement %d Effect = %#v, want Allow", i, s.body["Effect"])
			}
			actions, ok := stringList(s.body["Action"])
			if !ok || len(actions) == 0 {
				t.Errorf("statement %d Action = %#v, want action names", i, s.body["Action"])
				continue
			}
			for _, a := range actions {
				if strings.ContainsAny(a, "*?") {
					t.Errorf("statement %d has wildcard action %q", i, a)
				}
				if !allowed[a] {
					t.Errorf("statement %d grants %q, not in the allowed set", i, a)
				}
			}
			resources, _ := stringList(s.body["Resource"])
			if slices.Contains(resources, "*") && slices.ContainsFunc(actions, func(a string) bool { return !slices.Contains(unscopedReads, a) }) {
				t.Errorf("statement %d grants %v on \"*\"; only %v may", i, actions, unscopedReads)
			}
		}
	})

	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			t.Parallel()
			var found []statement
			for _, s := range stmts {
				if actions, _ := stringList(s.body["Action"]); slices.Contains(actions, tt.action) {
					found = append(found, s)
				}
			}
			if len(found) != 1 {
				t.Fatalf("%d statements grant %s, want exactly 1", len(found), tt.action)
			}
			s := found[0]
			if !reflect.DeepEqual(s.body["Resource"], tt.resource) {
				t.Errorf("Resource = %#v, want %#v", s.body["Resource"], tt.resource)
			}
			if s.condition != tt.condition {
				t.Errorf("guarded by condition %q, want %q", s.condition, tt.condition)
			}
			var gotCond map[string]any
			if c, ok := s.body["Condition"]; ok {
				gotCond, _ = c.(map[string]any)
				if gotCond == nil {
					t.Errorf("Condition = %#v, want a mapping", c)
				}
			}
			if !reflect.DeepEqual(gotCond, tt.iamCond) {
				t.Errorf("Condition = %#v, want %#v", gotCond, tt.iamCond)
			}
		})
	}

	t.Run("kms condition defined", func(t *testing.T) {
		t.Parallel()
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("SecretKmsKeyArn"), ""}}}}
		if got := mustDig(t, tpl, "Conditions", "HasSecretKmsKey"); !reflect.DeepEqual(got, want) {
			t.Errorf("HasSecretKmsKey = %#v, want %#v", got, want)
		}
	})

	t.Run("no other IAM resources", func(t *testing.T) {
		t.Parallel()
		resources, _ := mustDig(t, tpl, "Resources").(map[string]any)
		for id, r := range resources {
			if typ, _ := dig(r, "Type"); strings.HasPrefix(fmt.Sprint(typ), "AWS::IAM::") {
				t.Errorf("resource %s is %v; permissions belong in the function's Policies", id, typ)
			}
		}
	})
}

// contractPattern is the rule pattern the handler is written for
// (reference §1), with DeleteVpcEndpoints when deregistration is on.
func contractPattern(deregister bool) map[string]any {
	names := []any{"CreateVpcEndpoint"}
	if deregister {
		names = append(names, "DeleteVpcEndpoints")
	}
	return map[string]any{
		"source":      []any{"aws.ec2"},
		"detail-type": []any{"AWS API Call via CloudTrail"},
		"detail": map[string]any{
			"eventSource": []any{"ec2.amazonaws.com"},
			"eventName":   names,
		},
	}
}

// ruleDeadLetterQueues names the EventBridge rules and the dead-letter queue
// of each: the default bus's rule sees this account's calls in this region;
// the rule on the registrar's own bus sees the calls member accounts and
// other regions forward (member-account.yaml). Both target the event queue.
var ruleDeadLetterQueues = map[string]string{
	"VpcEndpointCallsRule":          "RuleDeadLetterQueue",
	"ForwardedVpcEndpointCallsRule": "ForwardedRuleDeadLetterQueue",
}

// eventRules returns the rules that match the endpoint calls: every
// AWS::Events::Rule with an EventPattern, by logical id, with its Properties.
func eventRules(t *testing.T) map[string]map[string]any {
	t.Helper()
	resources, _ := mustDig(t, mustTemplate(t), "Resources").(map[string]any)
	out := map[string]map[string]any{}
	for id, r := range resources {
		if typ, _ := dig(r, "Type"); typ != "AWS::Events::Rule" {
			continue
		}
		props, ok := mustDig(t, r, "Properties").(map[string]any)
		if !ok {
			t.Fatalf("rule %s Properties is not a mapping", id)
		}
		if _, ok := props["EventPattern"]; ok {
			out[id] = props
		}
	}
	return out
}

// rulePattern is the named rule's pattern as deployed with DeregisterOnDelete set to deregister.
func rulePattern(t *testing.T, rule string, deregister bool) any {
	t.Helper()
	props, ok := eventRules(t)[rule]
	if !ok {
		t.Fatalf("no event rule %s", rule)
	}
	s := deployedCentral(t, map[string]string{"DeregisterOnDelete": strconv.FormatBool(deregister)})
	p, err := s.resolve(mustDig(t, props, "EventPattern"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// queuePolicyAdmits checks that the queue's policy lets EventBridge send to
// it for exactly the given rules, and nothing else.
func queuePolicyAdmits(t *testing.T, policyID, queue string, rules ...string) error {
	t.Helper()
	props := mustDig(t, mustTemplate(t), "Resources", policyID, "Properties")
	if got := mustDig(t, props, "Queues"); !reflect.DeepEqual(got, []any{ref(queue)}) {
		return fmt.Errorf("%s applies to %#v, want [!Ref %s]", policyID, got, queue)
	}
	stmts, ok := mustDig(t, props, "PolicyDocument", "Statement").([]any)
	if !ok || len(stmts) != 1 {
		return fmt.Errorf("%s: want one statement, got %#v", policyID, mustDig(t, props, "PolicyDocument", "Statement"))
	}
	st := stmts[0]
	var arns []any
	for _, r := range rules {
		arns = append(arns, getAtt(r, "Arn"))
	}
	var source any = arns
	if len(arns) == 1 {
		source = arns[0]
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"Effect"}, "Allow"},
		{[]string{"Principal"}, map[string]any{"Service": "events.amazonaws.com"}},
		{[]string{"Action"}, "sqs:SendMessage"},
		{[]string{"Resource"}, getAtt(queue, "Arn")},
		{[]string{"Condition"}, map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": source}}},
	} {
		if got := mustDig(t, st, c.path...); !reflect.DeepEqual(got, c.want) {
			return fmt.Errorf("%s %s = %#v, want %#v", policyID, strings.Join(c.path, "."), got, c.want)
		}
	}
	return nil
}

func TestTemplateEventRule(t *testing.T) {
	t.Parallel()
	rules := eventRules(t)
	var names []string
	for name := range rules {
		names = append(names, name)
	}
	if want := slices.Collect(maps.Keys(ruleDeadLetterQueues)); !sameSet(names, want) {
		t.Fatalf("event rules = %v, want %v", names, want)
	}
	// Endpoint events reach the function through the queue only.
	if ev, ok := functionProps(t)["Events"]; ok {
		t.Errorf("the function has Events %#v; the rules target the event queue instead", ev)
	}
	for name, queue := range ruleDeadLetterQueues {
		rule := rules[name]
		// Only the forwarded calls' rule sits on the registrar's bus; the
		// other has no EventBusName, which is the default bus.
		var bus any
		if name == "ForwardedVpcEndpointCallsRule" {
			bus = ref("RegistrarEventBus")
		}
		target := func() any {
			targets, _ := rule["Targets"].([]any)
			if len(targets) != 1 {
				t.Fatalf("%s has targets %#v, want one", name, rule["Targets"])
			}
			return targets[0]
		}
		tests := []struct {
			name  string
			check func() error
		}{
			{"pattern is the contract", func() error {
				for _, d := range []bool{true, false} {
					if got, want := rulePattern(t, name, d), contractPattern(d); !reflect.DeepEqual(got, want) {
						return fmt.Errorf("DeregisterOnDelete=%v: got %#v, want %#v", d, got, want)
					}
				}
				return nil
			}},
			{"enabled", func() error { return equals("ENABLED")(rule["State"]) }},
			{"event bus", func() error { return equals(bus)(rule["EventBusName"]) }},
			{"targets the event queue", func() error { return equals(getAtt("EventQueue", "Arn"))(mustDig(t, target(), "Arn")) }},
			{"retry attempts bounded", func() error {
				return intBetween(0, 185)(mustDig(t, target(), "RetryPolicy", "MaximumRetryAttempts"))
			}},
			{"retry age bounded", func() error {
				return intBetween(60, 86400)(mustDig(t, target(), "RetryPolicy", "MaximumEventAgeInSeconds"))
			}},
			{"dead-letter queue", func() error { return equals(getAtt(queue, "Arn"))(mustDig(t, target(), "DeadLetterConfig", "Arn")) }},
			{"dead-letter queue encrypted", func() error {
				return equals(true)(mustDig(t, mustTemplate(t), "Resources", queue, "Properties", "SqsManagedSseEnabled"))
			}},
			{"dead-letter queue admits this rule only", func() error { return queuePolicyAdmits(t, queue+"Policy", queue, name) }},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				if err := tt.check(); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// The event queue takes the rules' events; the event source mapping hands
// them to the function in batches, and reports back per record. Nothing is
// lost: a record that fails three times waits in the dead-letter queue.
func TestTemplateEventQueue(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	res := func(id string) any { return mustDig(t, tpl, "Resources", id) }
	esm := mustDig(t, res("RegistrarEventSourceMapping"), "Properties")
	queue := mustDig(t, res("EventQueue"), "Properties")
	num := func(v any) int {
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil {
			t.Fatalf("%v is not a number", v)
		}
		return n
	}
	param := func(name string) map[string]any {
		p, _ := mustDig(t, tpl, "Parameters", name).(map[string]any)
		return p
	}
	tests := []struct {
		name  string
		check func() error
	}{
		{"mapping type", func() error {
			return equals("AWS::Lambda::EventSourceMapping")(mustDig(t, res("RegistrarEventSourceMapping"), "Type"))
		}},
		{"mapping function", func() error { return equals(ref(functionID))(mustDig(t, esm, "FunctionName")) }},
		{"mapping queue", func() error { return equals(getAtt("EventQueue", "Arn"))(mustDig(t, esm, "EventSourceArn")) }},
		{"batch size", func() error { return equals(ref("BatchSize"))(mustDig(t, esm, "BatchSize")) }},
		{"batch size parameter", func() error {
			p := param("BatchSize")
			if num(p["MinValue"]) != 1 || num(p["MaxValue"]) != 10000 || num(p["Default"]) < 10 {
				return fmt.Errorf("BatchSize = %v, want 1 to 10000 (SQS's maximum with a batching window), default at least 10", p)
			}
			return nil
		}},
		// A batch above 10 records needs a batching window; 5 minutes is the most.
		{"batching window", func() error { return intBetween(1, 300)(mustDig(t, esm, "MaximumBatchingWindowInSeconds")) }},
		{"partial batch responses", func() error {
			return equals([]any{"ReportBatchItemFailures"})(mustDig(t, esm, "FunctionResponseTypes"))
		}},
		{"maximum concurrency", func() error {
			return equals(ref("BatchConcurrency"))(mustDig(t, esm, "ScalingConfig", "MaximumConcurrency"))
		}},
		{"maximum concurrency parameter", func() error {
			p, r := param("BatchConcurrency"), param("ReservedConcurrency")
			// Lambda's bounds are 2 to 1000; below the reserved concurrency
			// by default, so the schedule's reconcile finds room.
			if num(p["MinValue"]) != 2 || num(p["MaxValue"]) > 1000 || num(p["Default"]) >= num(r["Default"]) {
				return fmt.Errorf("BatchConcurrency = %v with ReservedConcurrency default %v", p, r["Default"])
			}
			return nil
		}},
		// AWS: at least six times the function's timeout; plus the batching window.
		{"visibility timeout", func() error {
			want := 6*num(functionProps(t)["Timeout"]) + num(mustDig(t, esm, "MaximumBatchingWindowInSeconds"))
			if got := num(mustDig(t, queue, "VisibilityTimeout")); got < want || got > 43200 {
				return fmt.Errorf("VisibilityTimeout = %d, want %d to 43200", got, want)
			}
			return nil
		}},
		{"encrypted", func() error { return equals(true)(mustDig(t, queue, "SqsManagedSseEnabled")) }},
		{"redrive to the dead-letter queue", func() error {
			return equals(getAtt("EventDeadLetterQueue", "Arn"))(mustDig(t, queue, "RedrivePolicy", "deadLetterTargetArn"))
		}},
		// Three deliveries, as the async invocation and its two retries had.
		{"max receive count", func() error { return equals(3)(mustDig(t, queue, "RedrivePolicy", "maxReceiveCount")) }},
		{"dead-letter queue encrypted", func() error {
			return equals(true)(mustDig(t, res("EventDeadLetterQueue"), "Properties", "SqsManagedSseEnabled"))
		}},
		// A message expires by its first enqueue time, also in the dead-letter queue.
		{"dead-letter queue outlives the queue", func() error {
			dlq := num(mustDig(t, res("EventDeadLetterQueue"), "Properties", "MessageRetentionPeriod"))
			if src := num(mustDig(t, queue, "MessageRetentionPeriod")); dlq != 1209600 || src >= dlq {
				return fmt.Errorf("retention: queue %d s, dead-letter queue %d s; want the dead-letter queue at 14 days and longer", src, dlq)
			}
			return nil
		}},
		{"queue admits the two rules only", func() error {
			return queuePolicyAdmits(t, "EventQueuePolicy", "EventQueue", "VpcEndpointCallsRule", "ForwardedVpcEndpointCallsRule")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTemplateEventInvokeConfig(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	cfg := mustDig(t, functionProps(t), "EventInvokeConfig")
	queue := []string{"Resources", "FailureQueue"}
	tests := []struct {
		name  string
		root  any
		path  []string
		check func(any) error
	}{
		{"retries bounded", cfg, []string{"MaximumRetryAttempts"}, intBetween(0, 2)},
		{"event age bounded", cfg, []string{"MaximumEventAgeInSeconds"}, intBetween(60, 21600)},
		{"on failure type", cfg, []string{"DestinationConfig", "OnFailure", "Type"}, equals("SQS")},
		{"on failure queue", cfg, []string{"DestinationConfig", "OnFailure", "Destination"}, equals(getAtt("FailureQueue", "Arn"))},
		{"queue type", tpl, append(queue, "Type"), equals("AWS::SQS::Queue")},
		{"queue encrypted", tpl, append(queue, "Properties", "SqsManagedSseEnabled"), equals(true)},
		{"queue keeps 14 days", tpl, append(queue, "Properties", "MessageRetentionPeriod"), equals(1209600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.check(mustDig(t, tt.root, tt.path...)); err != nil {
				t.Errorf("%s: %v", strings.Join(tt.path, "."), err)
			}
		})
	}
}

func TestTemplateAlarms(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	actions := map[string]any{"Fn::If": []any{"HasAlarmTopic", []any{ref("AlarmTopicArn")}, ref("AWS::NoValue")}}
	tests := []struct {
		id           string
		namespace    any
		metric       string
		dimension    any // the Value of the one dimension; nil: no dimensions
		statistic    string
		treatMissing string
	}{
		{"FailureQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("FailureQueue", "QueueName"), "Maximum", "notBreaching"},
		{"EventDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("EventDeadLetterQueue", "QueueName"), "Maximum", "notBreaching"},
		{"RuleDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("RuleDeadLetterQueue", "QueueName"), "Maximum", "notBreaching"},
		{"ForwardedRuleDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("ForwardedRuleDeadLetterQueue", "QueueName"), "Maximum", "notBreaching"},
		{"FunctionErrorsAlarm", "AWS/Lambda", "Errors", ref(functionID), "Sum", "notBreaching"},
		// The function's own metrics, totals across projects (no ProjectId).
		{"RegistrationFailuresAlarm", ref("MetricsNamespace"), handler.MetricEvents, handler.MetricOutcomeFailed, "Sum", "notBreaching"},
		// Reconcile reports now and then: the last run's state stands between runs.
		{"ReconcileOrphansAlarm", ref("MetricsNamespace"), handler.MetricReconcileOrphans, nil, "Maximum", "ignore"},
		{"ReconcileRegisteredAlarm", ref("MetricsNamespace"), handler.MetricReconcileRegistered, nil, "Maximum", "ignore"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			props := mustDig(t, tpl, "Resources", tt.id, "Properties")
			for _, c := range []struct {
				key  string
				want any
			}{
				{"Namespace", tt.namespace},
				{"MetricName", tt.metric},
				{"Statistic", tt.statistic},
				{"TreatMissingData", tt.treatMissing},
				{"Threshold", 0},
				{"ComparisonOperator", "GreaterThanThreshold"},
				{"AlarmActions", actions},
			} {
				if got := mustDig(t, props, c.key); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.key, got, c.want)
				}
			}
			dims, has := dig(props, "Dimensions")
			if tt.dimension == nil {
				if has {
					t.Errorf("Dimensions = %#v, want none (the total)", dims)
				}
				return
			}
			list, _ := dims.([]any)
			if len(list) != 1 || !reflect.DeepEqual(mustDig(t, list[0], "Value"), tt.dimension) {
				t.Errorf("Dimensions = %#v, want one with Value %#v", dims, tt.dimension)
			}
			if reflect.DeepEqual(tt.namespace, ref("MetricsNamespace")) && mustDig(t, list[0], "Name") != handler.DimensionOutcome {
				t.Errorf("dimension %v, want %s", list[0], handler.DimensionOutcome)
			}
		})
	}
	// Three consecutive reconcile runs: three periods of the default
	// schedule, all of them breaching.
	t.Run("ReconcileRegisteredAlarm spans three runs", func(t *testing.T) {
		t.Parallel()
		schedule := mustDig(t, tpl, "Parameters", "ReconcileSchedule", "Default")
		m := regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`).FindStringSubmatch(fmt.Sprint(schedule))
		if m == nil {
			t.Fatalf("ReconcileSchedule default %v is not a rate()", schedule)
		}
		n, _ := strconv.Atoi(m[1])
		unit := map[string]int{"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}[m[2]]
		props := mustDig(t, tpl, "Resources", "ReconcileRegisteredAlarm", "Properties")
		for key, want := range map[string]any{"Period": n * unit, "EvaluationPeriods": 3, "DatapointsToAlarm": 3} {
			if got := mustDig(t, props, key); got != want {
				t.Errorf("%s = %v, want %v (the schedule runs every %d s)", key, got, want, n*unit)
			}
		}
	})
	t.Run("HasAlarmTopic", func(t *testing.T) {
		t.Parallel()
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("AlarmTopicArn"), ""}}}}
		if got := mustDig(t, tpl, "Conditions", "HasAlarmTopic"); !reflect.DeepEqual(got, want) {
			t.Errorf("HasAlarmTopic = %#v, want %#v", got, want)
		}
	})
}

func TestTemplateOutputs(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	tests := []struct {
		name string
		want any
	}{
		{"FunctionArn", getAtt(functionID, "Arn")},
		{"EventQueueUrl", ref("EventQueue")},
		{"EventDeadLetterQueueUrl", ref("EventDeadLetterQueue")},
		{"FailureQueueUrl", ref("FailureQueue")},
		{"RuleDeadLetterQueueUrl", ref("RuleDeadLetterQueue")},
		{"ForwardedRuleDeadLetterQueueUrl", ref("ForwardedRuleDeadLetterQueue")},
		// SAM names the role it generates <function>Role; cfn-lint, which
		// applies the transform, fails if that changes.
		{"FunctionRoleArn", getAtt(functionID+"Role", "Arn")},
		{"EventBusArn", getAtt("RegistrarEventBus", "Arn")},
		{"DashboardName", ref("RegistrarDashboard")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustDig(t, tpl, "Outputs", tt.name, "Value"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Value = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestTemplateCfnLint(t *testing.T) {
	t.Parallel()
	cfnLint(t, templatePath)
}

func TestTemplatePatternMatchesEvents(t *testing.T) {
	t.Parallel()
	files := eventFiles(t)
	tests := []struct {
		file       string
		deregister bool
		want       bool
	}{
		{"create-vpc-endpoint.json", true, true},
		{"create-vpc-endpoint.json", false, true},
		// The pattern does not filter on errorCode, so the handler must
		// ignore failed calls itself.
		{"create-vpc-endpoint-failed-call.json", true, true},
		{"create-vpc-endpoint-single-subnet.json", true, true},
		{"delete-vpc-endpoints.json", true, true},
		{"delete-vpc-endpoints.json", false, false},
		{"scheduled-reconcile.json", true, false},
		{"manual-register.json", true, false},
	}
	for rule := range ruleDeadLetterQueues {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/DeregisterOnDelete=%v", rule, tt.file, tt.deregister), func(t *testing.T) {
				t.Parallel()
				if got := eventMatches(t, files, tt.file, rulePattern(t, rule, tt.deregister)); got != tt.want {
					t.Errorf("match = %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// The reconcile schedule is its own rule, present only with a schedule, and
// only it may invoke the function through its permission.
func TestTemplateReconcileSchedule(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("ReconcileSchedule"), ""}}}}
	if got := mustDig(t, tpl, "Conditions", "HasReconcileSchedule"); !reflect.DeepEqual(got, want) {
		t.Errorf("HasReconcileSchedule = %#v, want %#v", got, want)
	}
	want = map[string]any{"Fn::Equals": []any{ref("DeregisterOnDelete"), "true"}}
	if got := mustDig(t, tpl, "Conditions", "DeregistersOnDelete"); !reflect.DeepEqual(got, want) {
		t.Errorf("DeregistersOnDelete = %#v, want %#v", got, want)
	}
	tests := []struct {
		path []string
		want any
	}{
		{[]string{"ReconcileScheduleRule", "Type"}, "AWS::Events::Rule"},
		{[]string{"ReconcileScheduleRule", "Condition"}, "HasReconcileSchedule"},
		{[]string{"ReconcileScheduleRule", "Properties", "ScheduleExpression"}, ref("ReconcileSchedule")},
		{[]string{"ReconcileScheduleRule", "Properties", "State"}, "ENABLED"},
		{[]string{"ReconcileSchedulePermission", "Type"}, "AWS::Lambda::Permission"},
		{[]string{"ReconcileSchedulePermission", "Condition"}, "HasReconcileSchedule"},
		{[]string{"ReconcileSchedulePermission", "Properties", "Principal"}, "events.amazonaws.com"},
		{[]string{"ReconcileSchedulePermission", "Properties", "FunctionName"}, ref(functionID)},
		{[]string{"ReconcileSchedulePermission", "Properties", "SourceArn"}, getAtt("ReconcileScheduleRule", "Arn")},
	}
	for _, tt := range tests {
		if got := mustDig(t, tpl, append([]string{"Resources"}, tt.path...)...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v, want %#v", strings.Join(tt.path, "."), got, tt.want)
		}
	}
	targets, _ := mustDig(t, tpl, "Resources", "ReconcileScheduleRule", "Properties", "Targets").([]any)
	if len(targets) != 1 || !reflect.DeepEqual(mustDig(t, targets[0], "Arn"), getAtt(functionID, "Arn")) {
		t.Fatalf("Targets = %#v, want the function alone", targets)
	}
	// No Input: the function reads EventBridge's own Scheduled Event as a reconcile.
	if _, has := targets[0].(map[string]any)["Input"]; has {
		t.Errorf("the schedule's target sets Input; the function expects the Scheduled Event itself")
	}
}

// deployedStatements returns every statement of the function's Policies as
// deployed: conditional policies included or left out, Fn::Sub resolved.
func deployedStatements(t *testing.T, s *stack) []map[string]any {
	t.Helper()
	fn, ok := mustResources(t, s)[functionID]
	if !ok {
		t.Fatalf("%s is not deployed", functionID)
	}
	policies, ok := mustDig(t, fn, "Properties", "Policies").([]any)
	if !ok {
		t.Fatal("Policies is not a list")
	}
	var out []map[string]any
	for i, p := range policies {
		stmts, err := policyStatements(p)
		if err != nil {
			t.Fatalf("Policies[%d]: %v", i, err)
		}
		out = append(out, stmts...)
	}
	return out
}

// The function may assume member roles only when other accounts are
// allowed, and then only roles of MemberRoleName, in any account: each
// member role trusts this function's role alone.
func TestTemplateAssumeMemberRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values map[string]string
		want   []map[string]any // the sts statements
	}{
		{name: "this account only", values: map[string]string{"AllowedAccountIds": ""}},
		{
			name:   "member accounts",
			values: map[string]string{"AllowedAccountIds": "222222222222,333333333333"},
			want: []map[string]any{{
				"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
				"Resource": "arn:aws:iam::*:role/atlas-vpce-registrar-member",
			}},
		},
		{
			name: "another name and partition",
			values: map[string]string{
				"AllowedAccountIds": "222222222222", "MemberRoleName": "registrar-reader", "AWS::Partition": "aws-us-gov",
				"AtlasSecretArn": "arn:aws-us-gov:secretsmanager:us-gov-west-1:111111111111:secret:atlas-AbC123",
			},
			want: []map[string]any{{
				"Sid": "AssumeMemberRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
				"Resource": "arn:aws-us-gov:iam::*:role/registrar-reader",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []map[string]any
			var actions []string
			for _, st := range deployedStatements(t, deployedCentral(t, tt.values)) {
				a, _ := stringList(st["Action"])
				actions = append(actions, a...)
				if slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, "sts:") }) {
					got = append(got, st)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sts statements = %#v, want %#v", got, tt.want)
			}
			// Nothing else changes with the member accounts.
			want := []string{"ec2:DescribeVpcEndpoints", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "secretsmanager:GetSecretValue",
				"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "events:PutEvents"}
			if len(tt.want) > 0 {
				want = append(want, "sts:AssumeRole")
			}
			if !sameSet(actions, want) {
				t.Errorf("actions = %v, want %v", actions, want)
			}
		})
	}
}

// The bus admits other accounts only through the organisation policy, and
// has no policy at all without an organisation.
func TestTemplateEventBus(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	t.Run("bus", func(t *testing.T) {
		t.Parallel()
		bus := mustDig(t, tpl, "Resources", "RegistrarEventBus").(map[string]any)
		if got := bus["Type"]; got != "AWS::Events::EventBus" {
			t.Errorf("Type = %v, want AWS::Events::EventBus", got)
		}
		if got := mustDig(t, bus, "Properties", "Name"); !reflect.DeepEqual(got, ref("EventBusName")) {
			t.Errorf("Name = %#v, want !Ref EventBusName", got)
		}
		if _, has := bus["Condition"]; has {
			t.Error("the bus is conditional; member-account.yaml and other regions always need it")
		}
		// AWS::Events::EventBus also takes a Policy, which would not be
		// bound to OrganizationId.
		if p, has := dig(bus, "Properties", "Policy"); has {
			t.Errorf("the bus carries its own Policy %#v", p)
		}
		var policies []string
		for id, r := range mustDig(t, tpl, "Resources").(map[string]any) {
			if typ, _ := dig(r, "Type"); typ == "AWS::Events::EventBusPolicy" {
				policies = append(policies, id)
			}
		}
		if !sameSet(policies, []string{"RegistrarEventBusPolicy"}) {
			t.Errorf("bus policies = %v, want RegistrarEventBusPolicy alone", policies)
		}
	})
	tests := []struct {
		org  string
		want map[string]any // the policy's Properties; nil: no policy
	}{
		{org: ""},
		{
			org: "o-a1b2c3d4e5",
			want: map[string]any{
				"EventBusName": ref("RegistrarEventBus"),
				"StatementId":  "AllowOrganizationPutEvents",
				"Statement": map[string]any{
					"Effect":    "Allow",
					"Principal": "*",
					"Action":    "events:PutEvents",
					"Resource":  getAtt("RegistrarEventBus", "Arn"),
					"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run("OrganizationId="+tt.org, func(t *testing.T) {
			t.Parallel()
			res := mustResources(t, deployedCentral(t, map[string]string{"OrganizationId": tt.org}))
			if _, ok := res["RegistrarEventBus"]; !ok {
				t.Error("no event bus")
			}
			policy, ok := res["RegistrarEventBusPolicy"]
			if !ok {
				if tt.want != nil {
					t.Fatal("no bus policy")
				}
				return
			}
			if tt.want == nil {
				t.Fatalf("a bus policy without an organisation: %#v", policy)
			}
			if got := policy["Properties"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("policy = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// CloudFormation refuses a stack without an Atlas project, or with the
// default bus as the registrar's own.
func TestTemplateRules(t *testing.T) {
	t.Parallel()
	const id1, id2 = "5f0a1b2c3d4e5f6a7b8c9d0e", "6a0a1b2c3d4e5f6a7b8c9d0f"
	tests := []struct {
		values map[string]string
		failed string // the rule that refuses the values; "" if none
	}{
		{map[string]string{"AtlasProjectId": "", "AtlasProjectIds": ""}, "AtlasProjectGiven"},
		{map[string]string{"AtlasProjectId": id1, "AtlasProjectIds": ""}, ""},
		{map[string]string{"AtlasProjectId": "", "AtlasProjectIds": id1 + "," + id2}, ""},
		{map[string]string{"AtlasProjectId": id1, "AtlasProjectIds": id2}, ""},
		{map[string]string{"EventBusName": "default"}, "EventBusIsCustom"},
		{map[string]string{"EventBusName": "registrar"}, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.values), func(t *testing.T) {
			t.Parallel()
			ok, failed, err := deployedCentral(t, tt.values).ruleHolds()
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.failed == "") || failed != tt.failed {
				t.Errorf("rules hold = %v (failed %q), want failed %q", ok, failed, tt.failed)
			}
		})
	}
}

// namespaceSamples returns namespaces the function accepts (valid) or
// rejects, so that the template's MetricsNamespace pattern can be held to
// the function's own rule.
func namespaceSamples(valid bool) []string {
	if valid {
		return []string{"AtlasVpceRegistrar", "Team/Atlas Registrar", "My App.v2_#1:prod-x", "AWSish/X", "AWS-team/x", "aws/lower", strings.Repeat("n", 255)}
	}
	return []string{"", ":Leading", "AWS/Lambda", "AWS/Custom", "a*b", "Café", "tab\there", "quote\"d", strings.Repeat("n", 256)}
}

// The template's parameter and the function's check (emf.ValidateNamespace,
// which METRICS_NAMESPACE goes through at start) agree, so a stack that
// deploys also starts.
func TestTemplateMetricsNamespaceMatchesTheFunction(t *testing.T) {
	t.Parallel()
	param, ok := mustDig(t, mustTemplate(t), "Parameters", "MetricsNamespace").(map[string]any)
	if !ok {
		t.Fatal("parameter MetricsNamespace is not a mapping")
	}
	for _, valid := range []bool{true, false} {
		for _, ns := range namespaceSamples(valid) {
			fnOK := emf.ValidateNamespace(ns) == nil
			tplOK, err := allowedValue(param, ns)
			if err != nil {
				t.Fatal(err)
			}
			if fnOK != valid || tplOK != valid {
				t.Errorf("namespace %q: function accepts %v, template accepts %v; want both %v", ns, fnOK, tplOK, valid)
			}
		}
	}
}

// dashboardBody returns the dashboard's body with its !Sub variables
// replaced: the namespace by ns, every other variable by a stand-in of the
// same shape as CloudFormation's value. A variable that names nothing in the
// template fails the test.
func dashboardBody(t *testing.T, ns string) (body string, alarmARNs map[string]string) {
	t.Helper()
	tpl := mustTemplate(t)
	dash := mustDig(t, tpl, "Resources", "RegistrarDashboard")
	if typ := mustDig(t, dash, "Type"); typ != "AWS::CloudWatch::Dashboard" {
		t.Fatalf("RegistrarDashboard is a %v", typ)
	}
	sub, ok := mustDig(t, dash, "Properties", "DashboardBody", "Fn::Sub").(string)
	if !ok {
		t.Fatal("DashboardBody is not a !Sub of a string")
	}
	resources, _ := tpl["Resources"].(map[string]any)
	params, _ := tpl["Parameters"].(map[string]any)
	alarmARNs = map[string]string{}
	body = subVariable.ReplaceAllStringFunc(sub, func(m string) string {
		name := subVariable.FindStringSubmatch(m)[1]
		res, attr, _ := strings.Cut(name, ".")
		switch {
		case name == "MetricsNamespace":
			return ns
		case name == "AWS::Region":
			return "eu-central-1"
		case params[name] != nil:
			return "param-" + name
		case resources[res] == nil:
			t.Errorf("!Sub variable ${%s} names nothing in the template", name)
		case attr == "":
			return "stack-" + res + "-0A1B2C3D4E5F" // !Ref of a function, a queue's name
		case attr == "QueueName":
			return "stack-" + res + "-0A1B2C3D4E5F"
		case attr == "Arn" && mustDig(t, resources[res], "Type") == "AWS::CloudWatch::Alarm":
			arn := "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:stack-" + res + "-0A1B2C3D4E5F"
			alarmARNs[res] = arn
			return arn
		default:
			t.Errorf("!Sub variable ${%s}: no stand-in for attribute %s", name, attr)
		}
		return m
	})
	return body, alarmARNs
}

// dashboard is the part of a DashboardBody the tests read.
type dashboard struct {
	Widgets []struct {
		Type                string
		X, Y, Width, Height int
		Properties          map[string]any
	}
}

func TestTemplateDashboard(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{handler.DefaultMetricsNamespace, "Team/Atlas Registrar #2:prod"} {
		t.Run(ns, func(t *testing.T) {
			t.Parallel()
			body, alarmARNs := dashboardBody(t, ns)
			var d dashboard
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatalf("DashboardBody is not valid JSON after substitution: %v\n%s", err, body)
			}
			if len(d.Widgets) == 0 {
				t.Fatal("the dashboard has no widgets")
			}

			shown := map[string]bool{}  // our metrics, by name
			alarms := map[string]bool{} // alarm ARNs in alarm widgets
			search := regexp.MustCompile(`^SEARCH\('\{"([^"]+)",(?:Outcome|Code)\} MetricName="([^"]+)"', 'Sum', 300\)$`)
			for i, w := range d.Widgets {
				if w.Width < 1 || w.Height < 1 || w.X < 0 || w.Y < 0 || w.X+w.Width > 24 {
					t.Errorf("widget %d is placed at x %d width %d, y %d height %d: off the 24-column grid", i, w.X, w.Width, w.Y, w.Height)
				}
				switch w.Type {
				case "text":
					if md, _ := w.Properties["markdown"].(string); md == "" {
						t.Errorf("text widget %d has no markdown", i)
					}
				case "alarm":
					list, _ := w.Properties["alarms"].([]any)
					for _, a := range list {
						alarms[fmt.Sprint(a)] = true
					}
				case "metric":
					if w.Properties["region"] != "eu-central-1" {
						t.Errorf("widget %d region = %v, want the stack's", i, w.Properties["region"])
					}
					rows, _ := w.Properties["metrics"].([]any)
					if len(rows) == 0 {
						t.Errorf("metric widget %d (%v) has no metrics", i, w.Properties["title"])
					}
					for _, r := range rows {
						row, _ := r.([]any)
						if len(row) == 0 {
							t.Fatalf("widget %d has an empty metric row", i)
						}
						if opts, ok := row[0].(map[string]any); ok {
							expr, _ := opts["expression"].(string)
							m := search.FindStringSubmatch(expr)
							if m == nil || m[1] != ns {
								t.Errorf("widget %d: expression %q, want a SEARCH of namespace %q by Outcome or Code", i, expr, ns)
								continue
							}
							shown[m[2]] = true
							continue
						}
						// [namespace, metric, (dimension name, value)..., options?]: no shorthands.
						var strs []string
						for _, v := range row {
							if s, ok := v.(string); ok {
								strs = append(strs, s)
							}
						}
						if len(strs) < 2 || len(strs)%2 != 0 || slices.Contains(strs, ".") || slices.Contains(strs, "...") {
							t.Errorf("widget %d: metric row %v, want namespace, name and dimension pairs", i, row)
							continue
						}
						if strs[0] == ns {
							if len(strs) != 2 {
								t.Errorf("widget %d: %s has dimensions %v; the widgets show totals across projects", i, strs[1], strs[2:])
							}
							shown[strs[1]] = true
						}
					}
				default:
					t.Errorf("widget %d has type %q", i, w.Type)
				}
			}

			for _, name := range handler.MetricNames() {
				if !shown[name] {
					t.Errorf("the function publishes %s, which no widget shows", name)
				}
			}
			for name := range shown {
				if !slices.Contains(handler.MetricNames(), name) {
					t.Errorf("a widget shows %s, which the function does not publish", name)
				}
			}
			resources, _ := mustTemplate(t)["Resources"].(map[string]any)
			for id, r := range resources {
				if typ, _ := dig(r, "Type"); typ != "AWS::CloudWatch::Alarm" {
					continue
				}
				if arn, ok := alarmARNs[id]; !ok || !alarms[arn] {
					t.Errorf("alarm %s is not in the dashboard's alarm widget", id)
				}
			}
		})
	}
}

// statusTagKeysOnly is the IAM condition of both templates' ec2:CreateTags:
// every key in the request is under atlas-registrar:.
var statusTagKeysOnly = map[string]any{"ForAllValues:StringLike": map[string]any{"aws:TagKeys": []any{"atlas-registrar:*"}}}
