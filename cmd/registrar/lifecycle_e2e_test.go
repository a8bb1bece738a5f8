package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// The sample events' placeholder ids.
const (
	sampleID      = "vpce-0a1b2c3d4e5f60718"
	sampleOtherID = "vpce-0f0e0d0c0b0a09081"
)

// sample reads events/name with each old id replaced by its new one.
func sample(t *testing.T, name string, ids map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	for old, id := range ids {
		b = bytes.ReplaceAll(b, []byte(old), []byte(id))
	}
	return b
}

func endpointOutcomes(res handler.Result) map[string]string {
	out := map[string]string{}
	for _, e := range res.Endpoints {
		out[e.VPCEndpointID] = e.Outcome
	}
	return out
}

// uniqueName is an endpoint service name of the test's own: reconcile lists
// endpoints by name, and the tests share one moto_server.
func uniqueName(t *testing.T) string {
	t.Helper()
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "com.amazonaws.vpce.us-east-1.vpce-svc-" + hex.EncodeToString(b[:])[:17]
}

// The endpoint's whole life through the real binary: registered by its
// create event, deregistered by its delete event while its service keeps a
// companion, and a missed endpoint found by reconcile, planned by a dry run
// first.
func TestE2ELifecycle(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{ServiceName: uniqueName(t)})
	ctx := context.Background()
	awsCfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newEndpoint := func() string {
		id, err := motoserver.CreateEndpoint(ctx, awsCfg, s.VPCID, s.SubnetIDs, s.EndpointServiceName, "Interface")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	companion := newEndpoint()
	for _, id := range []string{s.EndpointID, companion} {
		if res := invoke(t, s, sample(t, "create-vpc-endpoint.json", map[string]string{sampleID: id})); res.Outcome != handler.OutcomeRegistered {
			t.Fatalf("create %s: %+v", id, res)
		}
	}

	// Delete the seeded endpoint in EC2; the event names it and an id Atlas never had.
	if _, err := ec2.NewFromConfig(awsCfg).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{s.EndpointID}}); err != nil {
		t.Fatal(err)
	}
	// The sample names one endpoint, in CloudTrail's one-item form; the
	// list form, with a second id, is made here.
	one := `{"tag": 1, "content": "` + sampleID + `"}`
	res := invoke(t, s, sample(t, "delete-vpc-endpoints.json", map[string]string{
		one: `[{"tag": 1, "content": "` + s.EndpointID + `"}, {"tag": 2, "content": "` + sampleOtherID + `"}]`}))
	want := map[string]string{s.EndpointID: handler.OutcomeDeregistered, sampleOtherID: handler.OutcomeNotRegistered}
	if res.Outcome != handler.OutcomeProcessed || !maps.Equal(endpointOutcomes(res), want) {
		t.Fatalf("delete event: %+v, want processed with %v", res, want)
	}
	if _, ok := s.Fake.Endpoint(s.EndpointServiceID, s.EndpointID); ok {
		t.Errorf("%s is still in Atlas", s.EndpointID)
	}
	if ep, ok := s.Fake.Endpoint(s.EndpointServiceID, companion); !ok || ep.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("companion: %+v, %v; want AVAILABLE", ep, ok)
	}

	// Endpoints whose create event never came (one of them the stack's
	// narrow one, in one zone behind a group that allows 27017 only): the
	// dry run plans them, the real run registers them, both with the narrow
	// one's warnings; the scheduled run finds nothing left to do.
	missed := newEndpoint()
	res = invoke(t, s, sample(t, "reconcile-dry-run.json", nil))
	want = map[string]string{missed: handler.OutcomeWouldRegister, s.NarrowEndpointID: handler.OutcomeWouldRegister, companion: handler.OutcomeAlreadyRegistered}
	if res.Outcome != handler.OutcomeReconciled || res.DryRun == nil || !*res.DryRun || !maps.Equal(endpointOutcomes(res), want) {
		t.Fatalf("dry run: %+v, want %v", res, want)
	}
	checkNarrowWarnings(t, "dry run", res, s.NarrowEndpointID)
	if n := registrations(s); n != 2 {
		t.Errorf("%d registration POSTs after the dry run, want still 2", n)
	}
	res = invoke(t, s, sample(t, "reconcile.json", nil))
	want = map[string]string{missed: handler.OutcomeRegistered, s.NarrowEndpointID: handler.OutcomeRegistered, companion: handler.OutcomeAlreadyRegistered}
	if !maps.Equal(endpointOutcomes(res), want) || res.Counts[handler.OutcomeRegistered] != 2 {
		t.Fatalf("reconcile: %+v, want %v", res, want)
	}
	checkNarrowWarnings(t, "reconcile", res, s.NarrowEndpointID)
	res = invoke(t, s, sample(t, "scheduled-reconcile.json", nil))
	if res.Outcome != handler.OutcomeReconciled || res.Counts[handler.OutcomeAlreadyRegistered] != 3 || len(res.Counts) != 1 {
		t.Errorf("scheduled reconcile: %+v, want three already registered and nothing else", res)
	}
}

// checkNarrowWarnings checks that only the narrow endpoint carries
// warnings, and the two it should.
func checkNarrowWarnings(t *testing.T, run string, res handler.Result, narrow string) {
	t.Helper()
	for _, e := range res.Endpoints {
		var codes []string
		for _, w := range e.Warnings {
			codes = append(codes, w.Code)
		}
		want := []string(nil)
		if e.VPCEndpointID == narrow {
			want = []string{handler.WarningSingleZone, handler.WarningSecurityGroupPorts}
		}
		if !slices.Equal(codes, want) {
			t.Errorf("%s: %s warnings %v, want %v", run, e.VPCEndpointID, codes, want)
		}
	}
}

// The last endpoint of a service is kept, whatever its delete event says:
// removing it would remove the endpoint service.
func TestE2EDeleteKeepsTheLastEndpoint(t *testing.T) {
	t.Parallel()
	s := startStack(t, localstack.Options{})
	if res := invoke(t, s, sample(t, "create-vpc-endpoint.json", map[string]string{sampleID: s.EndpointID})); res.Outcome != handler.OutcomeRegistered {
		t.Fatalf("create: %+v", res)
	}
	ctx := context.Background()
	awsCfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec2.NewFromConfig(awsCfg).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{s.EndpointID}}); err != nil {
		t.Fatal(err)
	}
	res := invoke(t, s, sample(t, "deregister.json", map[string]string{sampleID: s.EndpointID}))
	if got := endpointOutcomes(res)[s.EndpointID]; got != handler.OutcomeKept {
		t.Errorf("deregister: %+v, want the endpoint kept", res)
	}
	if _, ok := s.Fake.Endpoint(s.EndpointServiceID, s.EndpointID); !ok {
		t.Errorf("the service's last endpoint was deleted")
	}
	for _, r := range s.Fake.Requests() {
		if r.Method == "DELETE" {
			t.Errorf("a DELETE reached Atlas: %s", r.Path)
		}
	}
}
