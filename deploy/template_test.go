package deploy_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
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
		{"ATLAS_ALLOW_SERVICE_REMOVAL", "AllowServiceRemoval"},
		{"RECONCILE_DELETE_ORPHANS", "ReconcileDeleteOrphans"},
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
	tpl := mustTemplate(t)
	tests := []struct {
		name    string
		deflt   any // nil: the parameter must be required (no Default)
		valid   []string
		invalid []string
	}{
		{
			name:    "AtlasProjectId",
			valid:   []string{"5f0a1b2c3d4e5f6a7b8c9d0e"},
			invalid: []string{"", "5F0A1B2C3D4E5F6A7B8C9D0E", "5f0a1b2c3d4e5f6a7b8c9d0", "5f0a1b2c3d4e5f6a7b8c9d0e0", "../5f0a1b2c3d4e5f6a7b8c"},
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
			name:    "ReservedConcurrency",
			deflt:   5,
			valid:   []string{"1", "5"},
			invalid: []string{"0", "-1"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			param, ok := mustDig(t, tpl, "Parameters", tt.name).(map[string]any)
			if !ok {
				t.Fatalf("parameter %s is not a mapping", tt.name)
			}
			if d, has := param["Default"]; has != (tt.deflt != nil) || (has && !reflect.DeepEqual(d, tt.deflt)) {
				t.Errorf("Default = %#v (present %v), want %#v", d, has, tt.deflt)
			}
			if d, has := param["Default"]; has {
				if ok, err := allowedValue(param, fmt.Sprint(d)); err != nil || !ok {
					t.Errorf("Default %#v is not allowed by its own constraints (err %v)", d, err)
				}
			}
			for _, v := range tt.valid {
				if ok, err := allowedValue(param, v); err != nil || !ok {
					t.Errorf("%q rejected, want accepted (err %v)", v, err)
				}
			}
			for _, v := range tt.invalid {
				if ok, err := allowedValue(param, v); err != nil || ok {
					t.Errorf("%q accepted, want rejected (err %v)", v, err)
				}
			}
		})
	}
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
		{action: "secretsmanager:GetSecretValue", resource: ref("AtlasSecretArn")},
		{
			action:    "kms:Decrypt",
			resource:  ref("SecretKmsKeyArn"),
			condition: "HasSecretKmsKey",
			iamCond: map[string]any{"StringEquals": map[string]any{
				"kms:ViaService": map[string]any{"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
			}},
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
			if slices.Contains(resources, "*") && !slices.Equal(actions, []string{"ec2:DescribeVpcEndpoints"}) {
				t.Errorf("statement %d grants %v on \"*\"; only ec2:DescribeVpcEndpoints may", i, actions)
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

// rulePattern is the rule's pattern as deployed with DeregisterOnDelete set to deregister.
func rulePattern(t *testing.T, deregister bool) any {
	t.Helper()
	p, err := resolveIf(mustDig(t, eventRule(t), "Pattern"), map[string]bool{"DeregistersOnDelete": deregister})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventRule returns the function's single EventBridgeRule event source.
func eventRule(t *testing.T) map[string]any {
	t.Helper()
	events, ok := functionProps(t)["Events"].(map[string]any)
	if !ok || len(events) != 1 {
		t.Fatalf("Events = %#v, want exactly one event source", functionProps(t)["Events"])
	}
	for name, e := range events {
		if typ, _ := dig(e, "Type"); typ != "EventBridgeRule" {
			t.Fatalf("event %s Type = %v, want EventBridgeRule", name, typ)
		}
		props, ok := mustDig(t, e, "Properties").(map[string]any)
		if !ok {
			t.Fatalf("event %s Properties is not a mapping", name)
		}
		return props
	}
	panic("unreachable")
}

func TestTemplateEventRule(t *testing.T) {
	t.Parallel()
	rule := eventRule(t)
	tests := []struct {
		name  string
		path  []string
		check func(v any) error
	}{
		{"pattern is the contract", []string{"Pattern"}, func(any) error {
			for _, d := range []bool{true, false} {
				if got, want := rulePattern(t, d), contractPattern(d); !reflect.DeepEqual(got, want) {
					return fmt.Errorf("DeregisterOnDelete=%v: got %#v, want %#v", d, got, want)
				}
			}
			return nil
		}},
		{"retry attempts bounded", []string{"RetryPolicy", "MaximumRetryAttempts"}, intBetween(0, 185)},
		{"retry age bounded", []string{"RetryPolicy", "MaximumEventAgeInSeconds"}, intBetween(60, 86400)},
		{"dead-letter queue is SQS", []string{"DeadLetterConfig", "Type"}, equals("SQS")},
		{"dead-letter queue id", []string{"DeadLetterConfig", "QueueLogicalId"}, equals("RuleDeadLetterQueue")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.check(mustDig(t, rule, tt.path...)); err != nil {
				t.Errorf("%s: %v", strings.Join(tt.path, "."), err)
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
		id, namespace, metric string
		dimension             any
	}{
		{"FailureQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("FailureQueue", "QueueName")},
		{"RuleDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("RuleDeadLetterQueue", "QueueName")},
		{"FunctionErrorsAlarm", "AWS/Lambda", "Errors", ref(functionID)},
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
				{"Threshold", 0},
				{"ComparisonOperator", "GreaterThanThreshold"},
				{"AlarmActions", actions},
			} {
				if got := mustDig(t, props, c.key); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%s = %#v, want %#v", c.key, got, c.want)
				}
			}
			dims, _ := mustDig(t, props, "Dimensions").([]any)
			if len(dims) != 1 || !reflect.DeepEqual(mustDig(t, dims[0], "Value"), tt.dimension) {
				t.Errorf("Dimensions = %#v, want one with Value %#v", dims, tt.dimension)
			}
		})
	}
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
		{"FailureQueueUrl", ref("FailureQueue")},
		{"RuleDeadLetterQueueUrl", ref("RuleDeadLetterQueue")},
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
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/DeregisterOnDelete=%v", tt.file, tt.deregister), func(t *testing.T) {
			t.Parallel()
			pattern := rulePattern(t, tt.deregister)
			b, ok := files[tt.file]
			if !ok {
				t.Fatalf("events/%s is missing", tt.file)
			}
			got, err := matchPattern(pattern, b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
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
