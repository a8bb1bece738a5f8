package localstack

import (
	"encoding/json"
	"os"
	"path/filepath"
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
				// The delete fixture names a second endpoint, which maps to nothing.
				if strings.Contains(s, id) && !(name == "delete-vpc-endpoints.json" && id == "vpce-0f0e0d0c0b0a09081") {
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
	tests := []struct{ in, want string }{
		{`{"vpcEndpointId": "vpce-0a1b2c3d4e5f60718"}`, `{"vpcEndpointId":"vpce-ccccccccccccccccc"}`},
		// Malformed ids stay as they are, so validation can be exercised.
		{`{"vpcEndpointId":"vpce-1/../../orgs"}`, `{"vpcEndpointId":"vpce-1/../../orgs"}`},
		{`{"vpcEndpointId":42}`, `{"vpcEndpointId":42}`},
		{`{"other":"vpce-0a1b2c3d4e5f60718"}`, `{"other":"vpce-0a1b2c3d4e5f60718"}`},
	}
	for _, tt := range tests {
		out, err := seededInfo.RewriteEvent([]byte(tt.in))
		if err != nil {
			t.Errorf("RewriteEvent(%s): %v", tt.in, err)
			continue
		}
		if string(out) != tt.want {
			t.Errorf("RewriteEvent(%s) = %s, want %s", tt.in, out, tt.want)
		}
	}
	for _, bad := range []string{``, `{`, `{} {}`, `not json`} {
		if _, err := seededInfo.RewriteEvent([]byte(bad)); err == nil {
			t.Errorf("RewriteEvent(%q) succeeded", bad)
		}
	}
}
