// Package deploy_test checks the deployment artefacts: the SAM template at the
// repository root (template.yaml, where sam build looks for it) and the
// sample events in events/ that its rule must match.
//
// This file reads CloudFormation YAML the way CloudFormation does; the
// tests of each template sit in a file named after it.
package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// loadTemplate parses the CloudFormation template at path; intrinsic short
// forms (!Ref, !Sub, !If, ...) come back in their long JSON form
// ({"Ref": ...}, {"Fn::Sub": ...}).
func loadTemplate(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: want one YAML document", path)
	}
	v, err := nodeValue(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: top level is %T, want a mapping", path, v)
	}
	return m, nil
}

// templateLoader parses the template at path once, however many tests ask.
func templateLoader(path string) func() (map[string]any, error) {
	return sync.OnceValues(func() (map[string]any, error) { return loadTemplate(path) })
}

func mustLoad(t *testing.T, load func() (map[string]any, error)) map[string]any {
	t.Helper()
	tpl, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

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

// parameterCase says what a parameter must accept and refuse.
type parameterCase struct {
	name    string
	deflt   any // nil: the parameter must be required (no Default)
	valid   []string
	invalid []string
}

// checkParameters checks each parameter against its case, and that every
// parameter of the template has one.
func checkParameters(t *testing.T, tpl map[string]any, tests []parameterCase) {
	t.Helper()
	declared, _ := mustDig(t, tpl, "Parameters").(map[string]any)
	var names, cases []string
	for name := range declared {
		names = append(names, name)
	}
	for _, tt := range tests {
		cases = append(cases, tt.name)
	}
	if !sameSet(names, cases) {
		t.Errorf("parameters %v, cases for %v: every parameter needs a case", names, cases)
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

// cfnLint fails the test on any cfn-lint finding, informational included
// (each makes cfn-lint exit non-zero). cfn-lint applies the SAM transform
// first, so it also checks what SAM generates.
func cfnLint(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint not found: pip install cfn-lint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, path).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", path, err, out)
	}
}

// pseudoParameters are the values deployed() gives CloudFormation's pseudo
// parameters unless a test sets them.
var pseudoParameters = map[string]string{
	"AWS::Partition": "aws",
	"AWS::Region":    "us-east-1",
	"AWS::AccountId": "111111111111",
	"AWS::StackName": "registrar",
	"AWS::URLSuffix": "amazonaws.com",
}

// stack is a template as CloudFormation would deploy it with some parameter
// values: every condition evaluated, Fn::If branches chosen, parameters and
// pseudo parameters substituted into Ref and Fn::Sub, AWS::NoValue dropped.
type stack struct {
	tpl    map[string]any
	values map[string]string // parameters and pseudo parameters
	conds  map[string]bool
}

// deployed evaluates tpl with the given values; parameters not in values
// take their Default, and one without a Default is an error, as in
// CloudFormation.
func deployed(tpl map[string]any, values map[string]string) (*stack, error) {
	s := &stack{tpl: tpl, values: make(map[string]string), conds: make(map[string]bool)}
	for k, v := range pseudoParameters {
		s.values[k] = v
	}
	params, _ := tpl["Parameters"].(map[string]any)
	for name, p := range params {
		if d, ok := dig(p, "Default"); ok {
			s.values[name] = fmt.Sprint(d)
		}
	}
	for k, v := range values {
		_, isParam := params[k]
		if _, isPseudo := pseudoParameters[k]; !isParam && !isPseudo {
			return nil, fmt.Errorf("%s is not a parameter of the template", k)
		}
		s.values[k] = v
	}
	for name := range params {
		if _, ok := s.values[name]; !ok {
			return nil, fmt.Errorf("parameter %s has no Default and no value", name)
		}
	}
	conds, _ := tpl["Conditions"].(map[string]any)
	for name := range conds {
		if _, err := s.condition(name, nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// condition evaluates the named condition; seen detects cycles.
func (s *stack) condition(name string, seen []string) (bool, error) {
	if v, ok := s.conds[name]; ok {
		return v, nil
	}
	if slices.Contains(seen, name) {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	expr, ok := dig(s.tpl, "Conditions", name)
	if !ok {
		return false, fmt.Errorf("condition %s is not defined", name)
	}
	v, err := s.boolean(expr, append(seen, name))
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	s.conds[name] = v
	return v, nil
}

// boolean evaluates a condition function (Fn::Equals, Fn::Not, Fn::And,
// Fn::Or, Condition), as used in Conditions and in Rules assertions.
func (s *stack) boolean(expr any, seen []string) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("%#v is not a condition function", expr)
	}
	for fn, arg := range m {
		if fn == "Condition" {
			name, _ := arg.(string)
			return s.condition(name, seen)
		}
		args, ok := arg.([]any)
		if !ok {
			return false, fmt.Errorf("%s takes a list, got %#v", fn, arg)
		}
		switch fn {
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals takes 2 arguments, got %d", len(args))
			}
			a, err := s.resolve(args[0])
			if err != nil {
				return false, err
			}
			b, err := s.resolve(args[1])
			if err != nil {
				return false, err
			}
			as, aok := a.(string)
			bs, bok := b.(string)
			if !aok || !bok {
				return false, fmt.Errorf("Fn::Equals compares strings, got %#v and %#v", a, b)
			}
			return as == bs, nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not takes 1 argument, got %d", len(args))
			}
			v, err := s.boolean(args[0], seen)
			return !v, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 || len(args) > 10 {
				return false, fmt.Errorf("%s takes 2 to 10 arguments, got %d", fn, len(args))
			}
			all, some := true, false
			for _, a := range args {
				v, err := s.boolean(a, seen)
				if err != nil {
					return false, err
				}
				all, some = all && v, some || v
			}
			if fn == "Fn::And" {
				return all, nil
			}
			return some, nil
		}
		return false, fmt.Errorf("%s is not a condition function this evaluator knows", fn)
	}
	panic("unreachable")
}

// noValue stands for AWS::NoValue until resolve drops it.
type noValueType struct{}

var noValue noValueType

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// resolve returns v as deployed. A Ref to a resource, Fn::GetAtt and any
// Fn::Sub naming a resource stay as they are: their values exist only in AWS.
func (s *stack) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if name, ok := x["Ref"].(string); ok {
				if name == "AWS::NoValue" {
					return noValue, nil
				}
				if val, ok := s.values[name]; ok {
					return val, nil
				}
				return x, nil
			}
			if args, ok := x["Fn::If"].([]any); ok {
				if len(args) != 3 {
					return nil, fmt.Errorf("Fn::If takes 3 arguments, got %d", len(args))
				}
				name, _ := args[0].(string)
				c, err := s.condition(name, nil)
				if err != nil {
					return nil, err
				}
				if c {
					return s.resolve(args[1])
				}
				return s.resolve(args[2])
			}
			if str, ok := x["Fn::Sub"].(string); ok {
				return s.sub(x, str), nil
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := s.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if r != noValue {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			r, err := s.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if r != noValue {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

// sub substitutes parameters and pseudo parameters into an Fn::Sub string;
// if it names anything else (a resource, an attribute), the Fn::Sub stays.
func (s *stack) sub(orig map[string]any, str string) any {
	resolvable := true
	out := subVariable.ReplaceAllStringFunc(str, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}" // ${!Literal} is written as ${Literal}
		}
		v, ok := s.values[name]
		if !ok {
			resolvable = false
		}
		return v
	})
	if !resolvable {
		return orig
	}
	return out
}

// resources returns the resources CloudFormation would create, resolved:
// those whose Condition is false are left out.
func (s *stack) resources() (map[string]map[string]any, error) {
	all, _ := s.tpl["Resources"].(map[string]any)
	out := make(map[string]map[string]any, len(all))
	for id, r := range all {
		if name, ok := dig(r, "Condition"); ok {
			c, err := s.condition(fmt.Sprint(name), nil)
			if err != nil {
				return nil, fmt.Errorf("resource %s: %w", id, err)
			}
			if !c {
				continue
			}
		}
		v, err := s.resolve(r)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s is not a mapping", id)
		}
		out[id] = m
	}
	return out, nil
}

// ruleHolds reports whether the template's Rules section lets a stack with
// these values be created: every rule that applies (its RuleCondition holds,
// or it has none) must have all its assertions hold. failed names the
// first assertion that does not.
func (s *stack) ruleHolds() (ok bool, failed string, err error) {
	rules, _ := s.tpl["Rules"].(map[string]any)
	for name, r := range rules {
		if rc, has := dig(r, "RuleCondition"); has {
			applies, err := s.boolean(rc, nil)
			if err != nil {
				return false, "", fmt.Errorf("rule %s: %w", name, err)
			}
			if !applies {
				continue
			}
		}
		asserts, _ := dig(r, "Assertions")
		list, isList := asserts.([]any)
		if !isList || len(list) == 0 {
			return false, "", fmt.Errorf("rule %s has no Assertions", name)
		}
		for i, a := range list {
			expr, has := dig(a, "Assert")
			if !has {
				return false, "", fmt.Errorf("rule %s assertion %d has no Assert", name, i)
			}
			v, err := s.boolean(expr, nil)
			if err != nil {
				return false, "", fmt.Errorf("rule %s assertion %d: %w", name, i, err)
			}
			if !v {
				return false, name, nil
			}
		}
	}
	return true, "", nil
}

func mustDeploy(t *testing.T, tpl map[string]any, values map[string]string) *stack {
	t.Helper()
	s, err := deployed(tpl, values)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustResources(t *testing.T, s *stack) map[string]map[string]any {
	t.Helper()
	r, err := s.resources()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sub(s string) map[string]any { return map[string]any{"Fn::Sub": s} }

// policyStatements returns the statements of an IAM policy document,
// accepting IAM's "one statement or a list".
func policyStatements(doc any) ([]map[string]any, error) {
	st, ok := dig(doc, "Statement")
	if !ok {
		return nil, fmt.Errorf("policy document %#v has no Statement", doc)
	}
	if one, ok := st.(map[string]any); ok {
		return []map[string]any{one}, nil
	}
	list, ok := st.([]any)
	if !ok {
		return nil, fmt.Errorf("Statement is %T, want a list", st)
	}
	out := make([]map[string]any, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Statement[%d] is not a mapping", i)
		}
		out = append(out, m)
	}
	return out, nil
}
