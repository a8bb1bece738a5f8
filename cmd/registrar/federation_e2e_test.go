package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// A Data Federation endpoint through the real binary: created in moto
// toward MongoDB's Data Federation service, registered in the Data
// Federation project's list by its create event (on v2, though the function
// is set to v1.0), then removed by its delete event once EC2 has deleted it.
func TestE2EDataFederation(t *testing.T) {
	t.Parallel()
	const dfProject = "5f00000000000000000000df"
	s := startStack(t, localstack.Options{
		APIVersion: atlas.V1,
		Projects:   []atlastest.Project{{ID: dfProject}},
		Env:        []string{"ATLAS_DATA_FEDERATION_PROJECT_ID=" + dfProject},
	})
	ctx := context.Background()
	awsCfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := motoserver.CreateEndpoint(ctx, awsCfg, s.VPCID, s.SubnetIDs, localstack.SampleDataFederationServiceName, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	entry := func() (atlas.DataFederationEndpoint, bool) {
		for _, e := range s.Fake.DataFederationEndpoints(dfProject) {
			if e.EndpointID == id {
				return e, true
			}
		}
		return atlas.DataFederationEndpoint{}, false
	}

	res := invoke(t, s, sample(t, "create-vpc-endpoint-data-federation.json", map[string]string{sampleID: id}))
	if res.Outcome != handler.OutcomeRegistered || res.Kind != handler.KindDataFederation || res.ProjectID != dfProject || res.ConnectionStatus != atlas.StatusOK {
		t.Fatalf("create event: %+v", res)
	}
	e, ok := entry()
	if !ok || e.Status != atlas.StatusOK || e.Region != "US_EAST_1" || !strings.HasPrefix(e.CustomerEndpointDNSName, id+"-") {
		t.Fatalf("entry %+v (listed %v)", e, ok)
	}
	if res := invoke(t, s, sample(t, "create-vpc-endpoint-data-federation.json", map[string]string{sampleID: id})); res.Outcome != handler.OutcomeAlreadyRegistered {
		t.Errorf("re-delivered create event: %+v", res)
	}
	if n := registrations(s); n != 1 {
		t.Errorf("%d registration POSTs, want 1", n)
	}

	if _, err := ec2.NewFromConfig(awsCfg).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	res = invoke(t, s, sample(t, "delete-vpc-endpoints.json", map[string]string{sampleID: id}))
	var got handler.EndpointResult
	for _, r := range res.Endpoints {
		if r.VPCEndpointID == id {
			got = r
		}
	}
	if got.Outcome != handler.OutcomeDeregistered || got.Kind != handler.KindDataFederation {
		t.Fatalf("delete event: %+v", res)
	}
	if e, ok := entry(); ok {
		t.Errorf("still listed: %+v", e)
	}
	for _, r := range s.Fake.Requests() {
		if r.Authenticated && strings.Contains(r.Path, "/privateNetworkSettings/") && !strings.HasPrefix(r.Path, "/api/atlas/v2/groups/"+dfProject+"/") {
			t.Errorf("%s %s: want the v2 route of project %s", r.Method, r.Path, dfProject)
		}
	}
}
