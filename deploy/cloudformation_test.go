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

// resolveIf replaces every Fn::If in v with the branch conds selects, as
// CloudFormation does at deploy time. An unknown condition is an error.
func resolveIf(v any, conds map[string]bool) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if len(args) != 3 {
				return nil, fmt.Errorf("Fn::If with %d arguments", len(args))
			}
			name, _ := args[0].(string)
			c, ok := conds[name]
			if !ok {
				return nil, fmt.Errorf("condition %q is not set", name)
			}
			if c {
				return resolveIf(args[1], conds)
			}
			return resolveIf(args[2], conds)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := resolveIf(e, conds)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := resolveIf(e, conds)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
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
