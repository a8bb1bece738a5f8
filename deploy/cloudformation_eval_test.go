package deploy_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The template tests lean on deployed(); these check it against templates
// whose outcome is known.
func TestDeployedEvaluator(t *testing.T) {
	t.Parallel()
	const doc = `
Parameters:
  Name: {Type: String, Default: ""}
  Required: {Type: String}
Rules:
  NameNotBad:
    Assertions:
      - Assert: !Not [!Equals [!Ref Name, bad]]
  OnlyInEurope:
    RuleCondition: !Equals [!Ref Required, europe]
    Assertions:
      - Assert: !Equals [!Ref "AWS::Region", eu-west-1]
Conditions:
  HasName: !Not [!Equals [!Ref Name, ""]]
  Home: !Equals [!Ref "AWS::Region", !Ref Required]
  Both: !And [!Condition HasName, !Condition Home]
  Either: !Or [!Condition HasName, !Condition Home]
Resources:
  Always:
    Type: X
    Properties:
      Arn: !Sub arn:${AWS::Partition}:x:${AWS::Region}:${Name}
      Literal: !Sub ${!Name}
      Other: !Sub ${Always.Arn}/x
      Pick: !If [HasName, [!Ref Name], !Ref "AWS::NoValue"]
      List: [a, !If [Home, !Ref "AWS::NoValue", b]]
      Res: !Ref Always
  OnlyNamed:
    Type: X
    Condition: HasName
`
	path := t.TempDir() + "/t.yaml"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := loadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("required parameter", func(t *testing.T) {
		t.Parallel()
		if _, err := deployed(tpl, nil); err == nil || !strings.Contains(err.Error(), "Required") {
			t.Errorf("err = %v, want one naming Required", err)
		}
		if _, err := deployed(tpl, map[string]string{"Required": "x", "Nope": "y"}); err == nil {
			t.Error("an unknown parameter was accepted")
		}
	})

	tests := []struct {
		name   string
		values map[string]string
		conds  map[string]bool
		props  map[string]any
		ids    []string
		rules  string // "" when every rule holds, else the failing one
	}{
		{
			name:   "defaults",
			values: map[string]string{"Required": "eu-west-1"},
			conds:  map[string]bool{"HasName": false, "Home": false, "Both": false, "Either": false},
			props: map[string]any{
				"Arn": "arn:aws:x:us-east-1:", "Literal": "${Name}", "Other": sub("${Always.Arn}/x"),
				"List": []any{"a", "b"}, "Res": ref("Always"),
			},
			ids: []string{"Always"},
		},
		{
			name:   "named at home",
			values: map[string]string{"Required": "eu-west-1", "Name": "n", "AWS::Region": "eu-west-1", "AWS::Partition": "aws-cn"},
			conds:  map[string]bool{"HasName": true, "Home": true, "Both": true, "Either": true},
			props: map[string]any{
				"Arn": "arn:aws-cn:x:eu-west-1:n", "Literal": "${Name}", "Other": sub("${Always.Arn}/x"),
				"Pick": []any{"n"}, "List": []any{"a"}, "Res": ref("Always"),
			},
			ids: []string{"Always", "OnlyNamed"},
		},
		{
			name:   "assertion fails",
			values: map[string]string{"Required": "x", "Name": "bad"},
			conds:  map[string]bool{"HasName": true, "Home": false, "Both": false, "Either": true},
			props: map[string]any{
				"Arn": "arn:aws:x:us-east-1:bad", "Literal": "${Name}", "Other": sub("${Always.Arn}/x"),
				"Pick": []any{"bad"}, "List": []any{"a", "b"}, "Res": ref("Always"),
			},
			ids:   []string{"Always", "OnlyNamed"},
			rules: "NameNotBad",
		},
		{
			name:   "rule condition applies",
			values: map[string]string{"Required": "europe"},
			conds:  map[string]bool{"HasName": false, "Home": false, "Both": false, "Either": false},
			props: map[string]any{
				"Arn": "arn:aws:x:us-east-1:", "Literal": "${Name}", "Other": sub("${Always.Arn}/x"),
				"List": []any{"a", "b"}, "Res": ref("Always"),
			},
			ids:   []string{"Always"},
			rules: "OnlyInEurope",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustDeploy(t, tpl, tt.values)
			if !reflect.DeepEqual(s.conds, tt.conds) {
				t.Errorf("conditions = %v, want %v", s.conds, tt.conds)
			}
			res := mustResources(t, s)
			var ids []string
			for id := range res {
				ids = append(ids, id)
			}
			if !sameSet(ids, tt.ids) {
				t.Errorf("resources = %v, want %v", ids, tt.ids)
			}
			if got := res["Always"]["Properties"]; !reflect.DeepEqual(got, tt.props) {
				t.Errorf("Always.Properties = %#v, want %#v", got, tt.props)
			}
			ok, failed, err := s.ruleHolds()
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.rules == "") || failed != tt.rules {
				t.Errorf("rules hold = %v (failed %q), want failed %q", ok, failed, tt.rules)
			}
		})
	}

	t.Run("cycle", func(t *testing.T) {
		t.Parallel()
		cyclic := map[string]any{"Conditions": map[string]any{
			"A": map[string]any{"Condition": "B"},
			"B": map[string]any{"Fn::Not": []any{map[string]any{"Condition": "A"}}},
		}}
		if _, err := deployed(cyclic, nil); err == nil || !strings.Contains(err.Error(), "refers to itself") {
			t.Errorf("err = %v, want a cycle reported", err)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		t.Parallel()
		odd := map[string]any{"Conditions": map[string]any{
			"A": map[string]any{"Fn::Contains": []any{[]any{"a"}, "a"}},
		}}
		if _, err := deployed(odd, nil); err == nil || !strings.Contains(err.Error(), "Fn::Contains") {
			t.Errorf("err = %v, want Fn::Contains refused", err)
		}
	})
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s]--; seen[s] < 0 {
			return false
		}
	}
	return true
}
