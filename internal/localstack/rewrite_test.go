package localstack

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/atlas/atlastest"
)

func atlastestOptions() atlastest.Options {
	return atlastest.Options{APIKeys: map[string]string{TestPublicKey: TestPrivateKey}}
}

func atlastestOptionsProject(id string) atlastest.Options {
	o := atlastestOptions()
	o.ProjectID = id
	return o
}

var seededInfo = &Info{
	VPCID:               "vpc-aaaaaaaaaaaaaaaaa",
	SubnetIDs:           []string{"subnet-bbbbbbbbbbbbbbbb1", "subnet-bbbbbbbbbbbbbbbb2"},
	EndpointID:          "vpce-ccccccccccccccccc",
	EndpointServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0ddddddddddddddd0",
}

// Fixture ids that must all be gone after a rewrite.
var fixtureIDs = []string{
	"vpce-0a1b2c3d4e5f60718", "vpce-0f0e0d0c0b0a09081", "vpc-0f1e2d3c4b5a69788",
	"subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88", "vpce-svc-0123456789abcdef0",
}

func TestRewriteEventFixtures(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := seededInfo.RewriteEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			s := string(out)
			for _, id := range fixtureIDs {
				if strings.Contains(s, id) {
					t.Errorf("fixture id %s left in the rewritten event", id)
				}
			}
			if strings.Contains(string(raw), "123456789012") && !strings.Contains(s, `"ownerId":123456789012`) && strings.Contains(string(raw), `"ownerId"`) {
				t.Error("ownerId lost its exact numeric value")
			}
			var doc map[string]any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output is not a JSON object: %v", err)
			}
		})
	}
}

func TestRewriteEventCreate(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../events/create-vpc-endpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := seededInfo.RewriteEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Detail struct {
			RequestParameters struct {
				CreateVpcEndpointRequest struct {
					VpcId    string
					SubnetId []struct{ Content string }
				}
			} `json:"requestParameters"`
			ResponseElements struct {
				CreateVpcEndpointResponse struct {
					VPCEndpoint struct {
						VPCEndpointID string `json:"vpcEndpointId"`
						VPCID         string `json:"vpcId"`
						ServiceName   string `json:"serviceName"`
						SubnetIDSet   struct {
							Item []struct {
								SubnetID string `json:"subnetId"`
							} `json:"item"`
						} `json:"subnetIdSet"`
						DNSEntrySet struct {
							Item []struct {
								DNSName string `json:"dnsName"`
							} `json:"item"`
						} `json:"dnsEntrySet"`
					} `json:"vpcEndpoint"`
				}
			} `json:"responseElements"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatal(err)
	}
	ep := ev.Detail.ResponseElements.CreateVpcEndpointResponse.VPCEndpoint
	req := ev.Detail.RequestParameters.CreateVpcEndpointRequest
	if ep.VPCEndpointID != seededInfo.EndpointID || ep.VPCID != seededInfo.VPCID || ep.ServiceName != seededInfo.EndpointServiceName || req.VpcId != seededInfo.VPCID {
		t.Errorf("ids = endpoint %s, vpc %s / %s, service %s", ep.VPCEndpointID, ep.VPCID, req.VpcId, ep.ServiceName)
	}
	for i, want := range seededInfo.SubnetIDs {
		if ep.SubnetIDSet.Item[i].SubnetID != want || req.SubnetId[i].Content != want {
			t.Errorf("subnet %d = %s / %s, want %s", i, ep.SubnetIDSet.Item[i].SubnetID, req.SubnetId[i].Content, want)
		}
	}
	if dns := ep.DNSEntrySet.Item[0].DNSName; !strings.HasPrefix(dns, seededInfo.EndpointID+"-") {
		t.Errorf("dnsName %s does not name the seeded endpoint", dns)
	}
}

func TestRewriteEventManual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		rewrites []Rewrite
	}{
		{`{"vpcEndpointId": "vpce-0a1b2c3d4e5f60718"}`, `{"vpcEndpointId":"vpce-ccccccccccccccccc"}`,
			[]Rewrite{{"vpce-0a1b2c3d4e5f60718", "vpce-ccccccccccccccccc"}}},
		{`{"vpcEndpointId": "vpce-0f0e0d0c0b0a09081"}`, `{"vpcEndpointId":"vpce-ccccccccccccccccc"}`,
			[]Rewrite{{"vpce-0f0e0d0c0b0a09081", "vpce-ccccccccccccccccc"}}},
		// An id that is not a sample's is the caller's own: it passes through,
		// and the function reports what EC2 says about it.
		{`{"vpcEndpointId":"vpce-0123456789abcdef0"}`, `{"vpcEndpointId":"vpce-0123456789abcdef0"}`, nil},
		{`{"vpcEndpointId":"` + seededInfo.EndpointID + `"}`, `{"vpcEndpointId":"` + seededInfo.EndpointID + `"}`, nil},
		// Malformed ids stay as they are, so validation can be exercised.
		{`{"vpcEndpointId":"vpce-1/../../orgs"}`, `{"vpcEndpointId":"vpce-1/../../orgs"}`, nil},
		{`{"vpcEndpointId":"vpce-0123abcd"}`, `{"vpcEndpointId":"vpce-0123abcd"}`, nil},
		{`{"vpcEndpointId":42}`, `{"vpcEndpointId":42}`, nil},
		{`{"other":"vpce-0a1b2c3d4e5f60718"}`, `{"other":"vpce-0a1b2c3d4e5f60718"}`, nil},
	}
	for _, tt := range tests {
		out, rewrites, err := seededInfo.RewriteSample([]byte(tt.in))
		if err != nil {
			t.Errorf("RewriteSample(%s): %v", tt.in, err)
			continue
		}
		if string(out) != tt.want || !slices.Equal(rewrites, tt.rewrites) {
			t.Errorf("RewriteSample(%s) = %s, %v; want %s, %v", tt.in, out, rewrites, tt.want, tt.rewrites)
		}
	}
	for _, bad := range []string{``, `{`, `{} {}`, `not json`} {
		if _, err := seededInfo.RewriteEvent([]byte(bad)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("RewriteEvent(%q) = %v, want ErrNotJSON", bad, err)
		}
	}
}

// An explicit id inside a full CloudTrail event passes through too, while
// the sample's other placeholders (VPC, subnets) are still replaced.
func TestRewriteEventExplicitEndpointInSample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../events/create-vpc-endpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	const mine = "vpce-0123456789abcdef0"
	raw = []byte(strings.ReplaceAll(string(raw), "vpce-0a1b2c3d4e5f60718", mine))
	out, rewrites, err := seededInfo.RewriteSample(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"vpcEndpointId":"`+mine+`"`) || strings.Contains(string(out), seededInfo.EndpointID) {
		t.Errorf("the explicit endpoint id was replaced:\n%s", out)
	}
	for _, rw := range rewrites {
		if rw.From == mine || rw.To == seededInfo.EndpointID {
			t.Errorf("rewrites name the endpoint: %v", rewrites)
		}
	}
	if len(rewrites) != 4 { // the VPC, two subnets and the service name
		t.Errorf("rewrites = %v, want the VPC, two subnets and the service name", rewrites)
	}
}

// The placeholders are exactly the ids the sample events use: a new sample
// with new ids must add them (or the local run would send them unchanged),
// and a placeholder no sample uses is stale.
func TestSampleIDsAreTheSamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	idRe := regexp.MustCompile(`\b(vpce|vpc|subnet)-[0-9a-f]{8,17}\b|\bcom\.amazonaws\.vpce\.[a-z0-9-]+\.vpce-svc-[0-9a-f]+\b`)
	placeholders := slices.Concat(sampleEndpointIDs, sampleVPCIDs, sampleSubnetIDs, sampleServiceNames)
	used := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range idRe.FindAllString(string(raw), -1) {
			used[id] = true
			if !slices.Contains(placeholders, id) && id != SampleDataFederationServiceName {
				t.Errorf("%s uses %s, which is not a placeholder: add it to the sample ids in info.go", filepath.Base(f), id)
			}
		}
	}
	for _, p := range placeholders {
		if !used[p] {
			t.Errorf("placeholder %s is in no sample event", p)
		}
	}
}
