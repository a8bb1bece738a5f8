package handler

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// The union of a group's rules must hold every port of Atlas's range.
func TestTCPRangesCoverAtlasPorts(t *testing.T) {
	t.Parallel()
	tcp := func(from, to int32) awsvpc.Rule { return awsvpc.Rule{Protocol: "tcp", FromPort: from, ToPort: to} }
	tests := []struct {
		name   string
		rules  []awsvpc.Rule
		merged string
		covers bool
	}{
		{"no rules", nil, "", false},
		{"27017 only", []awsvpc.Rule{tcp(27017, 27017)}, "27017", false},
		{"the whole range", []awsvpc.Rule{tcp(1024, 65535)}, "1024-65535", true},
		{"wider than the range", []awsvpc.Rule{tcp(0, 65535)}, "0-65535", true},
		{"split in two adjacent rules", []awsvpc.Rule{tcp(30001, 65535), tcp(1024, 30000)}, "1024-65535", true},
		{"split in overlapping rules", []awsvpc.Rule{tcp(1024, 40000), tcp(20000, 50000), tcp(45000, 65535)}, "1024-65535", true},
		{"one port missing between rules", []awsvpc.Rule{tcp(1024, 30000), tcp(30002, 65535)}, "1024-30000, 30002-65535", false},
		{"starts one port late", []awsvpc.Rule{tcp(1025, 65535)}, "1025-65535", false},
		{"ends one port early", []awsvpc.Rule{tcp(1024, 65534)}, "1024-65534", false},
		{"all traffic", []awsvpc.Rule{{Protocol: "-1"}}, "0-65535", true},
		{"all traffic beside a narrow rule", []awsvpc.Rule{tcp(27017, 27017), {Protocol: "-1", FromPort: -1, ToPort: -1}}, "0-65535", true},
		{"tcp by protocol number", []awsvpc.Rule{{Protocol: "6", FromPort: 1024, ToPort: 65535}}, "1024-65535", true},
		{"udp opens no tcp port", []awsvpc.Rule{{Protocol: "udp", FromPort: 1024, ToPort: 65535}}, "", false},
		{"icmp opens no tcp port", []awsvpc.Rule{{Protocol: "icmp", FromPort: -1, ToPort: -1}}, "", false},
		{"upper-case protocol", []awsvpc.Rule{{Protocol: "TCP", FromPort: 1024, ToPort: 65535}}, "1024-65535", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			merged := tcpRanges(tt.rules)
			if got := formatRanges(merged); got != tt.merged {
				t.Errorf("merged = %q, want %q", got, tt.merged)
			}
			if got := coversPorts(merged, AtlasPortLow, AtlasPortHigh); got != tt.covers {
				t.Errorf("covers %d-%d = %v, want %v", AtlasPortLow, AtlasPortHigh, got, tt.covers)
			}
		})
	}
}

func TestConnectivityWarnings(t *testing.T) {
	t.Parallel()
	network := &awsvpc.Network{
		Groups: map[string]awsvpc.SecurityGroup{
			"sg-narrow": {ID: "sg-narrow", Name: "mongo", Inbound: []awsvpc.Rule{{Protocol: "tcp", FromPort: 27017, ToPort: 27017}}},
			"sg-low":    {ID: "sg-low", Inbound: []awsvpc.Rule{{Protocol: "tcp", FromPort: 1024, ToPort: 30000}}},
			"sg-high":   {ID: "sg-high", Inbound: []awsvpc.Rule{{Protocol: "tcp", FromPort: 30001, ToPort: 65535}}},
			"sg-none":   {ID: "sg-none"},
		},
		Subnets: map[string]awsvpc.Subnet{
			"subnet-a1": {ID: "subnet-a1", AvailabilityZone: "us-east-1a"},
			"subnet-a2": {ID: "subnet-a2", AvailabilityZone: "us-east-1a"},
			"subnet-b":  {ID: "subnet-b", AvailabilityZone: "us-east-1b"},
		},
	}
	tests := []struct {
		name     string
		groups   []string
		subnets  []string
		want     []string
		contains []string // in the messages
	}{
		{"connectable", []string{"sg-low", "sg-high"}, []string{"subnet-a1", "subnet-b"}, nil, nil},
		{"narrow group", []string{"sg-narrow"}, []string{"subnet-a1", "subnet-b"}, []string{WarningSecurityGroupPorts},
			[]string{"sg-narrow (mongo)", "1024-65535", "TCP 27017 only"}},
		{"one of the split pair", []string{"sg-low"}, []string{"subnet-a1", "subnet-b"}, []string{WarningSecurityGroupPorts}, []string{"TCP 1024-30000 only"}},
		{"group without rules", []string{"sg-none"}, []string{"subnet-a1", "subnet-b"}, []string{WarningSecurityGroupPorts}, []string{"no TCP port"}},
		{"one subnet", []string{"sg-low", "sg-high"}, []string{"subnet-a1"}, []string{WarningSingleZone}, []string{"us-east-1a", "subnet-a1"}},
		{"two subnets, one zone", nil, []string{"subnet-a1", "subnet-a2"}, []string{WarningSingleZone}, nil},
		{"no subnet", []string{"sg-low", "sg-high"}, nil, []string{WarningNoSubnet}, []string{"No dns entries found for endpoint vpce-1"}},
		{"no subnet and a narrow group", []string{"sg-narrow"}, nil, []string{WarningNoSubnet, WarningSecurityGroupPorts}, nil},
		// What EC2 did not describe is not judged.
		{"no group listed", nil, []string{"subnet-a1", "subnet-b"}, nil, nil},
		{"unknown group", []string{"sg-gone"}, []string{"subnet-a1", "subnet-b"}, nil, nil},
		{"unknown subnet beside a known one", nil, []string{"subnet-a1", "subnet-gone"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := connectivityWarnings(&awsvpc.Endpoint{ID: "vpce-1", SecurityGroupIDs: tt.groups, SubnetIDs: tt.subnets}, network)
			if got := codes(ws); !slices.Equal(got, tt.want) {
				t.Errorf("codes = %v, want %v (%+v)", got, tt.want, ws)
			}
			all := ""
			for _, w := range ws {
				all += w.Message + "\n"
			}
			for _, s := range tt.contains {
				if !strings.Contains(all, s) {
					t.Errorf("messages do not say %q:\n%s", s, all)
				}
			}
		})
	}
}

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

// connectivityCase is an endpoint in moto and the warnings its registration must carry.
type connectivityCase struct {
	name string
	id   string
	want []string
}

// connectivitySetup creates, in the harness's VPC, one endpoint of the
// harness's service for each case of the issue: a group that allows only
// 27017, one that allows 1024-65535 (also split over two rules), one that
// allows all traffic, one subnet, two zones, no subnet.
func connectivitySetup(t *testing.T, hs *harness) []connectivityCase {
	t.Helper()
	ctx := context.Background()
	group := func(rules ...motoserver.Ingress) string {
		id, err := motoserver.CreateSecurityGroup(ctx, hs.awsCfg, hs.seeded.VPCID, rules...)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	narrow := group(motoserver.Ingress{FromPort: 27017, ToPort: 27017})
	wide := group(motoserver.Ingress{FromPort: 1024, ToPort: 65535})
	split := group(motoserver.Ingress{FromPort: 1024, ToPort: 30000}, motoserver.Ingress{FromPort: 30001, ToPort: 65535})
	all := group(motoserver.Ingress{AllTraffic: true})
	twoZones, oneSubnet := hs.seeded.SubnetIDs, hs.seeded.SubnetIDs[:1]
	endpoint := func(subnets []string, groups ...string) string {
		id, err := motoserver.CreateEndpoint(ctx, hs.awsCfg, hs.seeded.VPCID, subnets, hs.serviceName, "Interface", groups...)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	return []connectivityCase{
		{"only 27017", endpoint(twoZones, narrow), []string{WarningSecurityGroupPorts}},
		{"1024-65535", endpoint(twoZones, wide), nil},
		{"1024-65535 over two rules", endpoint(twoZones, split), nil},
		{"all traffic", endpoint(twoZones, all), nil},
		{"27017 beside all traffic", endpoint(twoZones, narrow, all), nil},
		{"one subnet", endpoint(oneSubnet, wide), []string{WarningSingleZone}},
		{"no subnet", endpoint(nil, wide), []string{WarningNoSubnet}},
		{"no subnet, only 27017", endpoint(nil, narrow), []string{WarningNoSubnet, WarningSecurityGroupPorts}},
	}
}

// Each registration asks EC2 once for the groups and once for the subnets,
// and its result, log line and metrics carry what they show.
func TestConnectivityWarningsOfARegistration(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	for _, c := range connectivitySetup(t, hs) {
		t.Run(c.name, func(t *testing.T) {
			hs.aws.reset()
			hs.metrics.Reset()
			res, err := hs.invoke(hs.createEvent(c.id), 30*time.Second)
			if err != nil || res.Outcome != OutcomeRegistered {
				t.Fatalf("Handle() = %+v, %v; want registered (warnings never stop a registration)", res, err)
			}
			if got := codes(res.Warnings); !slices.Equal(got, c.want) {
				t.Errorf("warnings = %+v, want codes %v", res.Warnings, c.want)
			}
			t.Logf("AWS requests: %v", hs.aws.snapshot())
			// One read of each kind; none of the subnets when there are none.
			wantSubnetCalls := 1
			if c.want != nil && c.want[0] == WarningNoSubnet {
				wantSubnetCalls = 0
			}
			if g, s := hs.aws.count("DescribeSecurityGroups"), hs.aws.count("DescribeSubnets"); g != 1 || s != wantSubnetCalls {
				t.Errorf("EC2 calls: DescribeSecurityGroups %d, DescribeSubnets %d; want 1 and %d", g, s, wantSubnetCalls)
			}
			if n := hs.aws.count("DescribeVpcEndpoints"); n != 1 {
				t.Errorf("DescribeVpcEndpoints %d, want 1", n)
			}

			// The result's JSON, the outcome's log line and the metrics.
			out, _ := json.Marshal(res)
			var decoded struct{ Warnings []Warning }
			_ = json.Unmarshal(out, &decoded)
			if !slices.Equal(codes(decoded.Warnings), c.want) || (c.want == nil && strings.Contains(string(out), `"warnings"`)) {
				t.Errorf("result JSON %s, want warnings %v", out, c.want)
			}
			var logged []any
			for _, l := range hs.logLines() {
				if l["outcome"] == OutcomeRegistered && l["vpcEndpointId"] == c.id {
					logged, _ = l["warnings"].([]any)
				}
			}
			if len(logged) != len(c.want) {
				t.Errorf("outcome line warnings = %v, want %d", logged, len(c.want))
			}
			got := map[string]float64{}
			for _, l := range hs.metricsLines() {
				if v, ok := l.metrics[MetricConnectivityWarnings]; ok {
					if !slices.Equal(l.sets[0], []string{DimensionCode, DimensionProject}) || l.root[DimensionProject] != hs.fake.ProjectID() || l.units[MetricConnectivityWarnings] != "Count" {
						t.Errorf("warnings metrics line %s: want Count by Code and ProjectId", l.raw)
					}
					got[l.root[DimensionCode].(string)] += v
				}
			}
			want := map[string]float64{}
			for _, code := range c.want {
				want[code] = 1
			}
			if !maps.Equal(got, want) {
				t.Errorf("ConnectivityWarnings by Code = %v, want %v", got, want)
			}
		})
	}
}

// A batch reads the groups and subnets of all its registrations at once.
func TestConnectivityWarningsOfABatch(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	cases := connectivitySetup(t, hs)
	var bodies [][]byte
	for _, c := range cases {
		bodies = append(bodies, hs.createEvent(c.id))
	}
	hs.aws.reset()
	if retry := hs.invokeBatch(sqsBatch(t, bodies...), 30*time.Second); len(retry) != 0 {
		t.Fatalf("records to deliver again: %v", retry)
	}
	t.Logf("AWS requests of a batch of %d registrations: %v", len(cases), hs.aws.snapshot())
	if g, s := hs.aws.count("DescribeSecurityGroups"), hs.aws.count("DescribeSubnets"); g != 1 || s != 1 {
		t.Errorf("EC2 calls for %d registrations: DescribeSecurityGroups %d, DescribeSubnets %d; want 1 and 1", len(cases), g, s)
	}
	byEndpoint := map[string][]string{}
	for _, l := range hs.logLines() {
		if l["outcome"] != OutcomeRegistered {
			continue
		}
		ws, _ := l["warnings"].([]any)
		for _, w := range ws {
			byEndpoint[l["vpcEndpointId"].(string)] = append(byEndpoint[l["vpcEndpointId"].(string)], w.(map[string]any)["code"].(string))
		}
	}
	for _, c := range cases {
		if got := byEndpoint[c.id]; !slices.Equal(got, c.want) {
			t.Errorf("%s: logged warnings %v, want %v", c.name, got, c.want)
		}
	}
}

// An EC2 error while checking is logged and never fails the registration.
func TestConnectivityCheckFailureIsLogged(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.aws.inject("DescribeSecurityGroups", awsFault{status: 403, header: map[string]string{"Content-Type": "text/xml"},
		body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-1</RequestID></Response>`})
	ctx := context.Background()
	sg, err := motoserver.CreateSecurityGroup(ctx, hs.awsCfg, hs.seeded.VPCID, motoserver.Ingress{FromPort: 27017, ToPort: 27017})
	if err != nil {
		t.Fatal(err)
	}
	id, err := motoserver.CreateEndpoint(ctx, hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs[:1], hs.serviceName, "Interface", sg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hs.invoke(hs.createEvent(id), 30*time.Second)
	if err != nil || res.Outcome != OutcomeRegistered || res.Warnings != nil {
		t.Fatalf("Handle() = %+v, %v; want registered, with no warnings", res, err)
	}
	var logged map[string]any
	for _, l := range hs.logLines() {
		if strings.HasPrefix(l["msg"].(string), "connectivity not checked") {
			logged = l
		}
	}
	if logged == nil || !strings.Contains(logged["error"].(string), "UnauthorizedOperation") || logged["level"] != "WARN" {
		t.Errorf("no WARN line naming the EC2 error; lines: %v", hs.logLines())
	}
}

// Reconcile checks the endpoints it registers (a dry run, those it would),
// not those already registered, and counts what it registered because Atlas
// lacked them.
func TestConnectivityWarningsOfReconcile(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t)})
	cases := connectivitySetup(t, hs)
	registered := hs.newEndpoint()
	hs.postAvailable(registered)
	want := map[string][]string{hs.seeded.EndpointID: nil, registered: nil}
	for _, c := range cases {
		want[c.id] = c.want
	}
	for _, dryRun := range []bool{true, false} {
		hs.aws.reset()
		hs.metrics.Reset()
		res, err := hs.invoke([]byte(`{"action":"reconcile","dryRun":`+map[bool]string{true: "true", false: "false"}[dryRun]+`}`), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantOutcome := map[bool]string{true: OutcomeWouldRegister, false: OutcomeRegistered}[dryRun]
		for _, e := range res.Endpoints {
			if e.VPCEndpointID == companionID {
				continue
			}
			if got := codes(e.Warnings); !slices.Equal(got, want[e.VPCEndpointID]) {
				t.Errorf("dry run %v: %s warnings %+v, want %v", dryRun, e.VPCEndpointID, e.Warnings, want[e.VPCEndpointID])
			}
			if e.VPCEndpointID != registered && e.Outcome != wantOutcome {
				t.Errorf("dry run %v: %s outcome %s, want %s", dryRun, e.VPCEndpointID, e.Outcome, wantOutcome)
			}
		}
		if g, s := hs.aws.count("DescribeSecurityGroups"), hs.aws.count("DescribeSubnets"); g != 1 || s != 1 {
			t.Errorf("dry run %v: EC2 calls DescribeSecurityGroups %d, DescribeSubnets %d; want 1 and 1", dryRun, g, s)
		}
		var counted float64 = -1
		for _, l := range hs.metricsLines() {
			if v, ok := l.metrics[MetricReconcileRegistered]; ok {
				counted = v
			}
		}
		wantCount := map[bool]float64{true: 0, false: float64(len(cases) + 1)}[dryRun]
		if counted != wantCount {
			t.Errorf("dry run %v: %s = %v, want %v", dryRun, MetricReconcileRegistered, counted, wantCount)
		}
	}
	// Now all are registered: the next run checks nothing and counts zero.
	hs.aws.reset()
	hs.metrics.Reset()
	if _, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := hs.aws.count("DescribeSecurityGroups") + hs.aws.count("DescribeSubnets"); n != 0 {
		t.Errorf("a run that registers nothing made %d connectivity calls", n)
	}
}

// In a member account the check reads that account's groups and subnets,
// through the assumed role, and a batch reads once per account.
func TestConnectivityWarningsInMemberAccounts(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t), accounts: true,
		config: func(c *Config) { c.AllowedAccountIDs = []string{memberAccount} }})
	ctx := context.Background()
	narrowIn := func(cfg aws.Config, vpcID string, subnets []string) string {
		sg, err := motoserver.CreateSecurityGroup(ctx, cfg, vpcID, motoserver.Ingress{FromPort: 27017, ToPort: 27017})
		if err != nil {
			t.Fatal(err)
		}
		id, err := motoserver.CreateEndpoint(ctx, cfg, vpcID, subnets, hs.serviceName, "Interface", sg)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	member := hs.memberConfig(memberAccount)
	seeded, err := motoserver.Seed(ctx, member, motoserver.SeedInput{ServiceName: hs.serviceName})
	if err != nil {
		t.Fatal(err)
	}
	memberNarrow := narrowIn(member, seeded.VPCID, seeded.SubnetIDs)
	memberOneZone := narrowIn(member, seeded.VPCID, seeded.SubnetIDs[:1])
	ownNarrow := narrowIn(hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs)
	want := map[string][]string{
		memberNarrow:  {WarningSecurityGroupPorts},
		memberOneZone: {WarningSingleZone, WarningSecurityGroupPorts},
		ownNarrow:     {WarningSecurityGroupPorts},
	}

	hs.aws.reset()
	retry := hs.invokeBatch(sqsBatch(t,
		createEventFrom(memberNarrow, memberAccount, motoserver.Region),
		createEventFrom(memberOneZone, memberAccount, motoserver.Region),
		createEventFrom(ownNarrow, ownAccount, motoserver.Region)), 30*time.Second)
	if len(retry) != 0 {
		t.Fatalf("records to deliver again: %v", retry)
	}
	// One read of each kind in each of the two accounts.
	if g, s := hs.aws.count("DescribeSecurityGroups"), hs.aws.count("DescribeSubnets"); g != 2 || s != 2 {
		t.Errorf("DescribeSecurityGroups %d, DescribeSubnets %d; want 2 and 2 (one per account)", g, s)
	}
	got := map[string][]string{}
	for _, l := range hs.logLines() {
		if l["outcome"] != OutcomeRegistered {
			continue
		}
		id := l["vpcEndpointId"].(string)
		got[id] = []string{}
		ws, _ := l["warnings"].([]any)
		for _, w := range ws {
			got[id] = append(got[id], w.(map[string]any)["code"].(string))
		}
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("warnings by endpoint = %v, want %v", got, want)
	}
}
