// Package registrar_test checks the deployment artefacts at the repository
// root: template.yaml (the SAM template) and the sample events in events/.
package registrar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/atlasvpce/registrar/emf"
	"github.com/atlasvpce/registrar/handler"
)

const (
	templatePath = "template.yaml"
	functionID   = "RegistrarFunction"
)

// loadTemplate parses template.yaml once; intrinsic short forms (!Ref, !Sub,
// !If, ...) come back in their long JSON form ({"Ref": ...}, {"Fn::Sub": ...}).
var loadTemplate = sync.OnceValues(func() (map[string]any, error) {
	b, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", templatePath, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: want one YAML document", templatePath)
	}
	v, err := nodeValue(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: top level is %T, want a mapping", templatePath, v)
	}
	return m, nil
})

// nodeValue converts a YAML node to plain Go values, rewriting CloudFormation
// short-form tags the way CloudFormation itself reads them.
func nodeValue(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return nodeValue(n.Alias)
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		name := strings.TrimPrefix(tag, "!")
		inner := *n
		inner.Tag = ""
		inner.Style &^= yaml.TaggedStyle
		var arg any
		if n.Kind == yaml.ScalarNode {
			arg = n.Value // intrinsic arguments written as scalars are strings
		} else {
			v, err := nodeValue(&inner)
			if err != nil {
				return nil, err
			}
			arg = v
		}
		switch name {
		case "Ref", "Condition":
			return map[string]any{name: arg}, nil
		case "GetAtt":
			if s, ok := arg.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q lacks an attribute", n.Line, s)
				}
				arg = []any{res, attr}
			}
			return map[string]any{"Fn::GetAtt": arg}, nil
		default:
			return map[string]any{"Fn::" + name: arg}, nil
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
}

// dig follows keys through nested mappings.
func dig(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func mustTemplate(t *testing.T) map[string]any {
	t.Helper()
	tpl, err := loadTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func mustDig(t *testing.T, v any, keys ...string) any {
	t.Helper()
	got, ok := dig(v, keys...)
	if !ok {
		t.Fatalf("template has no %s", strings.Join(keys, "."))
	}
	return got
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
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

// allowedValue reports whether CloudFormation would accept value for the
// parameter, judged by its AllowedPattern, AllowedValues and Min/MaxValue.
// The patterns use no syntax on which Go's RE2 and CloudFormation's Java
// regular expressions differ.
func allowedValue(param map[string]any, value string) (bool, error) {
	if p, ok := param["AllowedPattern"].(string); ok {
		re, err := regexp.Compile(p)
		if err != nil {
			return false, err
		}
		// CloudFormation matches the whole value.
		if loc := re.FindStringIndex(value); loc == nil || loc[0] != 0 || loc[1] != len(value) {
			return false, nil
		}
	}
	if vs, ok := param["AllowedValues"].([]any); ok {
		if !slices.ContainsFunc(vs, func(v any) bool { return fmt.Sprint(v) == value }) {
			return false, nil
		}
	}
	if minL, ok := param["MinLength"].(int); ok && len(value) < minL {
		return false, nil
	}
	if maxL, ok := param["MaxLength"].(int); ok && len(value) > maxL {
		return false, nil
	}
	if param["Type"] == "Number" {
		var n float64
		if _, err := fmt.Sscan(value, &n); err != nil {
			return false, nil
		}
		if minV, ok := param["MinValue"].(int); ok && n < float64(minV) {
			return false, nil
		}
		if maxV, ok := param["MaxValue"].(int); ok && n > float64(maxV) {
			return false, nil
		}
	}
	return true, nil
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
			name:    "LogRetentionDays",
			deflt:   30,
			valid:   []string{"1", "30", "365", "3653"},
			invalid: []string{"0", "31", "-1"},
		},
		{
			name:    "MetricsNamespace",
			deflt:   handler.DefaultMetricsNamespace,
			valid:   append([]string{"A", "AW", "AWS"}, namespaceSamples(true)...),
			invalid: append([]string{"AWS/", ":"}, namespaceSamples(false)...),
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

// stringList accepts IAM's "one string or a list of strings".
func stringList(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
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
// (reference §1).
var contractPattern = map[string]any{
	"source":      []any{"aws.ec2"},
	"detail-type": []any{"AWS API Call via CloudTrail"},
	"detail": map[string]any{
		"eventSource": []any{"ec2.amazonaws.com"},
		"eventName":   []any{"CreateVpcEndpoint"},
	},
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
		{"pattern is the contract", []string{"Pattern"}, func(v any) error {
			if !reflect.DeepEqual(v, contractPattern) {
				return fmt.Errorf("got %#v, want %#v", v, contractPattern)
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

func intBetween(lo, hi int) func(any) error {
	return func(v any) error {
		n, ok := v.(int)
		if !ok || n < lo || n > hi {
			return fmt.Errorf("got %#v, want an integer in [%d, %d]", v, lo, hi)
		}
		return nil
	}
}

func equals(want any) func(any) error {
	return func(v any) error {
		if !reflect.DeepEqual(v, want) {
			return fmt.Errorf("got %#v, want %#v", v, want)
		}
		return nil
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
		{"RuleDeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", getAtt("RuleDeadLetterQueue", "QueueName"), "Maximum", "notBreaching"},
		{"FunctionErrorsAlarm", "AWS/Lambda", "Errors", ref(functionID), "Sum", "notBreaching"},
		// The function's own metrics, totals across projects (no ProjectId).
		{"RegistrationFailuresAlarm", ref("MetricsNamespace"), handler.MetricRegistrations, handler.MetricOutcomeFailed, "Sum", "notBreaching"},
		// Reconcile reports now and then: the last run's state stands between runs.
		{"ReconcileOrphansAlarm", ref("MetricsNamespace"), handler.MetricReconcileOrphans, nil, "Maximum", "ignore"},
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
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint not found: pip install cfn-lint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Any finding, informational included, makes cfn-lint exit non-zero.
	out, err := exec.CommandContext(ctx, bin, templatePath).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}

// eventFiles returns the sample events by base name.
func eventFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no events/*.json files")
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

func TestTemplateEventFiles(t *testing.T) {
	t.Parallel()
	envelope := []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
	for name, b := range eventFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !json.Valid(b) {
				t.Fatal("not valid JSON")
			}
			m, err := decodeObject(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m["detail-type"]; !ok {
				return // a direct invocation payload, not an EventBridge event
			}
			for _, k := range envelope {
				if _, ok := m[k]; !ok {
					t.Errorf("EventBridge envelope lacks %q", k)
				}
			}
		})
	}
}

func TestTemplatePatternMatchesEvents(t *testing.T) {
	t.Parallel()
	pattern := mustDig(t, eventRule(t), "Pattern")
	files := eventFiles(t)
	tests := []struct {
		file string
		want bool
	}{
		{"create-vpc-endpoint.json", true},
		// The pattern does not filter on errorCode, so the handler must
		// ignore failed calls itself.
		{"create-vpc-endpoint-failed-call.json", true},
		{"create-vpc-endpoint-single-subnet.json", true},
		{"delete-vpc-endpoints.json", false},
		{"manual-register.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
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

// matchPattern reports whether the event matches the pattern under
// EventBridge's rules, for the part of the pattern language used here:
// lists of exact values (strings, numbers, booleans, null) and
// {"exists": bool}. Any other operator is an error rather than a guess.
//
// Like EventBridge (aws/event-ruler), both sides are flattened to leaf paths;
// arrays in the event are transparent, so a leaf matches if any element
// matches; a JSON null is a present leaf with the value null. Array-consistent
// matching across sibling fields is not modelled; the pattern has no such
// fields.
func matchPattern(pattern any, event []byte) (bool, error) {
	var p, e any
	// Normalise the pattern to JSON types (float64 numbers).
	pb, err := json.Marshal(pattern)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(pb, &p); err != nil {
		return false, err
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return false, err
	}
	pm, ok := p.(map[string]any)
	if !ok {
		return false, fmt.Errorf("pattern is %T, want an object", p)
	}
	rules := make(map[string][]any)
	if err := flattenPattern(pm, "", rules); err != nil {
		return false, err
	}
	leaves := make(map[string][]any)
	flattenEvent(e, "", leaves)
	for path, matchers := range rules {
		ok, err := matchLeaf(matchers, leaves[path])
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func flattenPattern(m map[string]any, prefix string, out map[string][]any) error {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			if err := flattenPattern(v, join(prefix, k), out); err != nil {
				return err
			}
		case []any:
			out[join(prefix, k)] = v
		default:
			return fmt.Errorf("pattern field %s is %T; EventBridge wants an array or object", join(prefix, k), v)
		}
	}
	return nil
}

func flattenEvent(v any, path string, out map[string][]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			flattenEvent(c, join(path, k), out)
		}
	case []any:
		for _, c := range v {
			flattenEvent(c, path, out)
		}
	default:
		out[path] = append(out[path], v)
	}
}

func matchLeaf(matchers, values []any) (bool, error) {
	for _, m := range matchers {
		if op, ok := m.(map[string]any); ok {
			exists, isExists := op["exists"].(bool)
			if len(op) != 1 || !isExists {
				return false, fmt.Errorf("unsupported pattern operator %v", op)
			}
			if exists == (len(values) > 0) {
				return true, nil
			}
			continue
		}
		switch m.(type) {
		case string, float64, bool, nil:
		default:
			return false, fmt.Errorf("unsupported pattern value %v", m)
		}
		for _, v := range values {
			// Strings, numbers, booleans and null never match each other.
			if m == v {
				return true, nil
			}
		}
	}
	return false, nil
}

func TestTemplateMatcher(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern, event string
		want                 bool
	}{
		{"exact", `{"a":["x"]}`, `{"a":"x"}`, true},
		{"any of", `{"a":["x","y"]}`, `{"a":"y"}`, true},
		{"mismatch", `{"a":["x"]}`, `{"a":"z"}`, false},
		{"missing field", `{"a":["x"]}`, `{"b":"x"}`, false},
		{"nested", `{"d":{"a":["x"]}}`, `{"d":{"a":"x","b":1}}`, true},
		{"object is not a leaf", `{"d":["x"]}`, `{"d":{"a":"x"}}`, false},
		{"event array", `{"a":["x"]}`, `{"a":["w","x"]}`, true},
		{"array of objects", `{"d":{"a":["x"]}}`, `{"d":[{"a":"w"},{"a":"x"}]}`, true},
		{"string is not number", `{"a":["1"]}`, `{"a":1}`, false},
		{"number", `{"a":[1]}`, `{"a":1}`, true},
		{"null", `{"a":[null]}`, `{"a":null}`, true},
		{"empty string is not null", `{"a":[""]}`, `{"a":null}`, false},
		{"exists false on absent", `{"e":[{"exists":false}]}`, `{"a":"x"}`, true},
		{"exists false on value", `{"e":[{"exists":false}]}`, `{"e":"Client.UnauthorizedOperation"}`, false},
		// Why the rule has no errorCode filter: a null is a present value.
		{"exists false on null", `{"e":[{"exists":false}]}`, `{"e":null}`, false},
		{"exists true on null", `{"e":[{"exists":true}]}`, `{"e":null}`, true},
		{"all fields must match", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"z"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var pattern any
			if err := json.Unmarshal([]byte(tt.pattern), &pattern); err != nil {
				t.Fatal(err)
			}
			got, err := matchPattern(pattern, []byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match(%s, %s) = %v, want %v", tt.pattern, tt.event, got, tt.want)
			}
		})
	}
	t.Run("unsupported operator", func(t *testing.T) {
		t.Parallel()
		pattern := map[string]any{"a": []any{map[string]any{"prefix": "x"}}}
		if _, err := matchPattern(pattern, []byte(`{"a":"xy"}`)); err == nil {
			t.Error("prefix pattern accepted; the matcher must refuse what it does not model")
		}
	})
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

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

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
		case name == "RuleDeadLetterQueue.QueueName": // SAM creates it from the rule's DeadLetterConfig
			return "stack-RuleDeadLetterQueue-0A1B2C3D4E5F"
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
			search := regexp.MustCompile(`^SEARCH\('\{"([^"]+)",Outcome\} MetricName="([^"]+)"', 'Sum', 300\)$`)
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
								t.Errorf("widget %d: expression %q, want a SEARCH of namespace %q by Outcome", i, expr, ns)
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
