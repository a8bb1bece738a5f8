package deploy_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	memberTemplatePath = "member-account.yaml"
	centralAccount     = "111111111111"
	memberAccount      = "222222222222"
	centralRole        = "arn:aws:iam::111111111111:role/registrar-RegistrarFunctionRole-AbCdEf123456"
)

var memberTemplate = templateLoader(memberTemplatePath)

func mustMemberTemplate(t *testing.T) map[string]any {
	t.Helper()
	return mustLoad(t, memberTemplate)
}

// deployedMember is member-account.yaml deployed in account and region for a
// registrar in centralAccount, us-east-1; overrides set other parameters.
func deployedMember(t *testing.T, account, region string, overrides map[string]string) *stack {
	t.Helper()
	v := map[string]string{
		"AWS::AccountId":         account,
		"AWS::Region":            region,
		"CentralAccountId":       centralAccount,
		"CentralRegion":          "us-east-1",
		"CentralFunctionRoleArn": centralRole,
	}
	maps.Copy(v, overrides)
	return mustDeploy(t, mustMemberTemplate(t), v)
}

func TestMemberAccountCfnLint(t *testing.T) {
	t.Parallel()
	cfnLint(t, memberTemplatePath)
}

func TestMemberAccountParameters(t *testing.T) {
	t.Parallel()
	checkParameters(t, mustMemberTemplate(t), []parameterCase{
		{
			name:    "CentralAccountId",
			valid:   []string{"111111111111"},
			invalid: []string{"", "11111111111", "1111111111111", "*", "arn:aws:iam::111111111111:root"},
		},
		{
			name:    "CentralRegion",
			valid:   []string{"us-east-1", "eu-central-1", "ap-southeast-2", "us-gov-west-1"},
			invalid: []string{"", "us-east", "US-EAST-1", "*", "us-east-1a"},
		},
		{
			name:    "CentralEventBusName",
			deflt:   "atlas-vpce-registrar",
			valid:   []string{"atlas-vpce-registrar", "ops.bus_1-x"},
			invalid: []string{"", "a/b", "bus name", "arn:aws:events:us-east-1:111111111111:event-bus/b"},
		},
		{
			name: "CentralFunctionRoleArn",
			valid: []string{
				centralRole,
				"arn:aws-us-gov:iam::111111111111:role/service/registrar",
			},
			invalid: []string{"", "*", "111111111111", "arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:user/u", "arn:aws:iam::*:role/r", "arn:aws:sts::111111111111:assumed-role/r/s"},
		},
		{
			name:    "MemberRoleName",
			deflt:   "atlas-vpce-registrar-member",
			valid:   []string{"atlas-vpce-registrar-member", "Role+=,.@_-1", strings.Repeat("r", 64)},
			invalid: []string{"", "*", "path/role", "role name", strings.Repeat("r", 65)},
		},
		{
			name:    "MemberRoleRegion",
			deflt:   "",
			valid:   []string{"", "eu-west-1"},
			invalid: []string{"*", "eu-west", "all"},
		},
	})
}

// Both templates name the member role and the bus; their defaults and
// constraints must agree, or a default deployment would not fit together.
func TestMemberAccountAgreesWithTemplate(t *testing.T) {
	t.Parallel()
	central, member := mustTemplate(t), mustMemberTemplate(t)
	for _, pair := range [][2]string{
		{"MemberRoleName", "MemberRoleName"},
		{"EventBusName", "CentralEventBusName"},
	} {
		for _, key := range []string{"Default", "AllowedPattern"} {
			c, m := mustDig(t, central, "Parameters", pair[0], key), mustDig(t, member, "Parameters", pair[1], key)
			if !reflect.DeepEqual(c, m) {
				t.Errorf("%s %s = %#v in template.yaml, %s %s = %#v here", pair[0], key, c, pair[1], key, m)
			}
		}
	}
}

// Where each piece lands: the forwarding in every region but the
// registrar's own, the (global) member role in one region of each member
// account only.
func TestMemberAccountPlacement(t *testing.T) {
	t.Parallel()
	forwarding := []string{"ForwardRule", "ForwardRole", "ForwardDeadLetterQueue", "ForwardDeadLetterQueuePolicy", "ForwardDeadLetterQueueAlarm"}
	withRole := append(slices.Clone(forwarding), "MemberRole")
	tests := []struct {
		name, account, region, roleRegion string
		want                              []string
	}{
		{"member, central region", memberAccount, "us-east-1", "", withRole},
		{"member, other region", memberAccount, "eu-west-1", "", forwarding},
		{"member, chosen role region", memberAccount, "eu-west-1", "eu-west-1", withRole},
		{"member, central region not chosen", memberAccount, "us-east-1", "eu-west-1", forwarding},
		{"central account, other region", centralAccount, "eu-west-1", "", forwarding},
		{"central account, chosen role region", centralAccount, "eu-west-1", "eu-west-1", forwarding},
		{"central account, central region", centralAccount, "us-east-1", "", []string{"Placeholder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := deployedMember(t, tt.account, tt.region, map[string]string{"MemberRoleRegion": tt.roleRegion})
			var got []string
			for id := range mustResources(t, s) {
				got = append(got, id)
			}
			if !sameSet(got, tt.want) {
				t.Errorf("resources = %v, want %v", got, tt.want)
			}
			// An output of a resource that is left out would fail the stack.
			outputs, _ := mustDig(t, s.tpl, "Outputs").(map[string]any)
			for name, o := range outputs {
				var target string
				switch v := mustDig(t, o, "Value").(type) {
				case map[string]any:
					if r, ok := v["Ref"].(string); ok {
						target = r
					} else if ga, ok := v["Fn::GetAtt"].([]any); ok {
						target = fmt.Sprint(ga[0])
					}
				}
				if target == "" {
					continue
				}
				shown := true
				if c, has := dig(o, "Condition"); has {
					shown = s.conds[fmt.Sprint(c)]
				}
				if shown && !slices.Contains(got, target) {
					t.Errorf("output %s refers to %s, which is not created here", name, target)
				}
			}
		})
	}
}

// The member role trusts the registrar function's role alone and allows the
// three EC2 reads alone: the endpoint, and its security groups and subnets.
func TestMemberAccountMemberRole(t *testing.T) {
	t.Parallel()
	tpl := mustMemberTemplate(t)
	s := deployedMember(t, memberAccount, "us-east-1", map[string]string{"MemberRoleName": "registrar-reader"})
	role, ok := mustResources(t, s)["MemberRole"]
	if !ok {
		t.Fatal("no MemberRole in the central region of a member account")
	}
	props, _ := role["Properties"].(map[string]any)
	if got := props["RoleName"]; got != "registrar-reader" {
		t.Errorf("RoleName = %#v, want the MemberRoleName parameter", got)
	}
	// Anything else that can grant or bound permissions is absent.
	for k := range props {
		if !slices.Contains([]string{"RoleName", "Description", "AssumeRolePolicyDocument", "Policies", "Tags"}, k) {
			t.Errorf("MemberRole sets %s", k)
		}
	}
	checkRolePolicies(t, props, []map[string]any{{
		"Sid": "RegistrarFunctionOnly", "Effect": "Allow", "Action": "sts:AssumeRole",
		"Principal": map[string]any{"AWS": centralRole},
	}}, []map[string]any{{
		"Sid": "DescribeVpcEndpoints", "Effect": "Allow", "Action": "ec2:DescribeVpcEndpoints", "Resource": "*",
	}, {
		"Sid": "DescribeEndpointNetwork", "Effect": "Allow", "Resource": "*",
		"Action": []any{"ec2:DescribeSecurityGroups", "ec2:DescribeSubnets"},
	}})
	// No other resource may grant anything to it or anyone.
	var iam []string
	for id, r := range mustDig(t, tpl, "Resources").(map[string]any) {
		if typ, _ := dig(r, "Type"); strings.HasPrefix(fmt.Sprint(typ), "AWS::IAM::") {
			iam = append(iam, id)
		}
	}
	if !sameSet(iam, []string{"MemberRole", "ForwardRole"}) {
		t.Errorf("IAM resources = %v, want MemberRole and ForwardRole", iam)
	}
}

// The forwarding rule sends both calls to the registrar bus through a role
// that may put events on that bus only, and keeps what it cannot deliver.
func TestMemberAccountForwarding(t *testing.T) {
	t.Parallel()
	s := deployedMember(t, memberAccount, "eu-west-1", map[string]string{"CentralEventBusName": "registrar-bus"})
	res := mustResources(t, s)
	const bus = "arn:aws:events:us-east-1:111111111111:event-bus/registrar-bus"
	rule := mustDig(t, res["ForwardRule"], "Properties").(map[string]any)

	t.Run("rule", func(t *testing.T) {
		t.Parallel()
		if got := rule["EventPattern"]; !reflect.DeepEqual(got, contractPattern(true)) {
			t.Errorf("EventPattern = %#v, want %#v", got, contractPattern(true))
		}
		if b, has := rule["EventBusName"]; has {
			t.Errorf("EventBusName = %#v; CloudTrail delivers to the default bus", b)
		}
		if got := rule["State"]; got != "ENABLED" {
			t.Errorf("State = %#v, want ENABLED", got)
		}
		targets, _ := rule["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("Targets = %#v, want one", rule["Targets"])
		}
		target := targets[0]
		for _, c := range []struct {
			path  []string
			check func(any) error
		}{
			{[]string{"Arn"}, equals(bus)},
			{[]string{"RoleArn"}, equals(getAtt("ForwardRole", "Arn"))},
			{[]string{"DeadLetterConfig", "Arn"}, equals(getAtt("ForwardDeadLetterQueue", "Arn"))},
			{[]string{"RetryPolicy", "MaximumRetryAttempts"}, intBetween(0, 185)},
			{[]string{"RetryPolicy", "MaximumEventAgeInSeconds"}, intBetween(60, 86400)},
		} {
			if err := c.check(mustDig(t, target, c.path...)); err != nil {
				t.Errorf("target %s: %v", strings.Join(c.path, "."), err)
			}
		}
	})

	t.Run("role", func(t *testing.T) {
		t.Parallel()
		props := mustDig(t, res["ForwardRole"], "Properties").(map[string]any)
		if _, has := props["RoleName"]; has {
			t.Error("ForwardRole has a RoleName; one stack per region would collide on it")
		}
		for k := range props {
			if !slices.Contains([]string{"Description", "AssumeRolePolicyDocument", "Policies", "Tags"}, k) {
				t.Errorf("ForwardRole sets %s", k)
			}
		}
		checkRolePolicies(t, props, []map[string]any{{
			"Effect": "Allow", "Action": "sts:AssumeRole",
			"Principal": map[string]any{"Service": "events.amazonaws.com"},
		}}, []map[string]any{{"Sid": "PutEventsOnRegistrarBus", "Effect": "Allow", "Action": "events:PutEvents", "Resource": bus}})
	})

	t.Run("dead-letter queue", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			path []string
			want any
		}{
			{[]string{"ForwardDeadLetterQueue", "Type"}, "AWS::SQS::Queue"},
			{[]string{"ForwardDeadLetterQueue", "Properties", "SqsManagedSseEnabled"}, true},
			{[]string{"ForwardDeadLetterQueue", "Properties", "MessageRetentionPeriod"}, 1209600},
			{[]string{"ForwardDeadLetterQueuePolicy", "Properties", "Queues"}, []any{ref("ForwardDeadLetterQueue")}},
			{[]string{"ForwardDeadLetterQueueAlarm", "Properties", "Dimensions"}, []any{map[string]any{
				"Name": "QueueName", "Value": getAtt("ForwardDeadLetterQueue", "QueueName"),
			}}},
			{[]string{"ForwardDeadLetterQueueAlarm", "Properties", "Threshold"}, 0},
			{[]string{"ForwardDeadLetterQueueAlarm", "Properties", "ComparisonOperator"}, "GreaterThanThreshold"},
		} {
			if got := mustDig(t, res[c.path[0]], c.path[1:]...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %#v, want %#v", strings.Join(c.path, "."), got, c.want)
			}
		}
		stmts, err := policyStatements(mustDig(t, res["ForwardDeadLetterQueuePolicy"], "Properties", "PolicyDocument"))
		if err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{{
			"Sid": "ForwardRuleOnly", "Effect": "Allow", "Action": "sqs:SendMessage",
			"Principal": map[string]any{"Service": "events.amazonaws.com"},
			"Resource":  getAtt("ForwardDeadLetterQueue", "Arn"),
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": getAtt("ForwardRule", "Arn")}},
		}}
		if !reflect.DeepEqual(stmts, want) {
			t.Errorf("queue policy = %#v, want %#v", stmts, want)
		}
	})
}

// What the member rule forwards, the registrar's rule on its bus takes:
// forwarding leaves an event as it was.
func TestMemberAccountPatternMatchesEvents(t *testing.T) {
	t.Parallel()
	files := eventFiles(t)
	pattern := mustDig(t, mustMemberTemplate(t), "Resources", "ForwardRule", "Properties", "EventPattern")
	tests := []struct {
		file string
		want bool
	}{
		{"create-vpc-endpoint.json", true},
		{"create-vpc-endpoint-failed-call.json", true},
		{"create-vpc-endpoint-single-subnet.json", true},
		{"delete-vpc-endpoints.json", true},
		{"scheduled-reconcile.json", false},
		{"manual-register.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got := eventMatches(t, files, tt.file, pattern)
			if got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
			if got && !eventMatches(t, files, tt.file, rulePattern(t, "ForwardedVpcEndpointCallsRule", true)) {
				t.Error("forwarded, but the registrar's rule on its bus does not take it")
			}
		})
	}
}

// checkRolePolicies checks a role's trust statements and the statements of
// its one inline policy against what is wanted, exactly.
func checkRolePolicies(t *testing.T, props map[string]any, wantTrust, wantStmts []map[string]any) {
	t.Helper()
	trust, err := policyStatements(props["AssumeRolePolicyDocument"])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(trust, wantTrust) {
		t.Errorf("trust = %#v, want %#v", trust, wantTrust)
	}
	policies, _ := props["Policies"].([]any)
	if len(policies) != 1 {
		t.Fatalf("Policies = %#v, want one", props["Policies"])
	}
	stmts, err := policyStatements(mustDig(t, policies[0], "PolicyDocument"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stmts, wantStmts) {
		t.Errorf("statements = %#v, want %#v", stmts, wantStmts)
	}
}
