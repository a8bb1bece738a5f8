package handler

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// dfProject is the Data Federation project of the tests, apart from the
// cluster project, as the function allows.
const dfProject = "5f00000000000000000000df"

// newFederationHarness seeds moto with an interface endpoint toward a Data
// Federation service (a name of the test's own, set through
// ATLAS_DATA_FEDERATION_SERVICES, so that listing by service name sees only
// the test's endpoints) and serves dfProject in the fake. With off the Data
// Federation project is left empty.
func newFederationHarness(t *testing.T, off bool, o harnessOptions) *harness {
	t.Helper()
	service := uniqueServiceName(t)
	o.serviceName = service
	// The cluster project keeps a service of another name.
	o.fake.Services = []atlas.EndpointService{{ID: atlastest.DefaultServiceID, EndpointServiceName: uniqueServiceName(t), InterfaceEndpoints: []string{companionID}}}
	o.fake.Projects = append(o.fake.Projects, atlastest.Project{ID: dfProject, DataFederation: o.fake.DataFederation})
	o.fake.DataFederation = nil
	cfg := o.config
	o.config = func(c *Config) {
		c.DataFederationServices = map[string]string{"us-east-1": service}
		if !off {
			c.DataFederationProjectID = dfProject
		}
		if cfg != nil {
			cfg(c)
		}
	}
	return newHarness(t, o)
}

// federationEntry is the fake's entry for id in dfProject.
func (hs *harness) federationEntry(id string) (atlas.DataFederationEndpoint, bool) {
	for _, e := range hs.fake.DataFederationEndpoints(dfProject) {
		if e.EndpointID == id {
			return e, true
		}
	}
	return atlas.DataFederationEndpoint{}, false
}

// firstDNSName is what EC2 shows as the endpoint's first DNS name.
func (hs *harness) firstDNSName(id string) string {
	hs.t.Helper()
	ep, err := (&awsvpc.Endpoints{EC2: hs.ec2}).DescribeEndpoint(context.Background(), id)
	if err != nil || len(ep.DNSNames) == 0 {
		hs.t.Fatalf("describe %s: %+v, %v", id, ep, err)
	}
	return ep.DNSNames[0]
}

func TestFederationRegister(t *testing.T) {
	t.Parallel()
	for _, v := range []atlas.Version{atlas.V2, atlas.V1} {
		t.Run(string(v), func(t *testing.T) {
			t.Parallel()
			hs := newFederationHarness(t, false, harnessOptions{version: v})
			id := hs.seeded.EndpointID
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if res.Outcome != OutcomeRegistered || res.Kind != KindDataFederation || res.ProjectID != dfProject ||
				res.EndpointServiceID != "" || res.ConnectionStatus != atlas.StatusOK || res.Attempts != 1 {
				t.Errorf("Handle() = %+v", res)
			}
			// The counts docs/data-federation.md gives.
			if hs.atlasCalls("post") != 1 || hs.atlasCalls("list") != 0 || hs.atlasCalls("get") < 2 ||
				hs.aws.count("GetSecretValue") != 1 || hs.aws.count("DescribeVpcEndpoints") != 1 ||
				hs.aws.count("DescribeSecurityGroups") > 1 || hs.aws.count("DescribeSubnets") != 1 {
				// (moto lists no group for the seeded endpoint: then none is read)
				t.Errorf("POSTs %d, lists %d, GETs %d, secret reads %d, describes %d, group reads %d, subnet reads %d; want 1, 0, at least 2, 1, 1, at most 1, 1",
					hs.atlasCalls("post"), hs.atlasCalls("list"), hs.atlasCalls("get"), hs.aws.count("GetSecretValue"), hs.aws.count("DescribeVpcEndpoints"),
					hs.aws.count("DescribeSecurityGroups"), hs.aws.count("DescribeSubnets"))
			}
			e, ok := hs.federationEntry(id)
			if !ok || e.Status != atlas.StatusOK || e.Region != "US_EAST_1" || e.CustomerEndpointDNSName != hs.firstDNSName(id) ||
				e.Type != atlas.TypeDataLake || e.Provider != atlas.ProviderAWS || !strings.Contains(e.Comment, "atlas-vpce-registrar") {
				t.Errorf("entry %+v (present %v)", e, ok)
			}
			// Read first (404), one POST, then polls, all on v2 whatever ATLAS_API_VERSION says;
			// the cluster project's services are never listed.
			for _, r := range hs.fake.Requests() {
				if r.Authenticated && !strings.HasPrefix(r.Path, "/api/atlas/v2/groups/"+dfProject+"/privateNetworkSettings/endpointIds") {
					t.Errorf("request %s %s is not to the Data Federation list", r.Method, r.Path)
				}
			}
			line := hs.logLines()[len(hs.logLines())-1]
			if line["kind"] != KindDataFederation || line["outcome"] != OutcomeRegistered || line["projectId"] != dfProject {
				t.Errorf("log line %v", line)
			}
			if m := hs.oneMetricsLine(); m.root["kind"] != KindDataFederation || m.root[DimensionProject] != dfProject {
				t.Errorf("metrics line %s", m.raw)
			}

			// Re-delivered: one GET, no write.
			hs.fake.ResetRequests()
			res, err = hs.invoke(hs.event(), 30*time.Second)
			if err != nil || res.Outcome != OutcomeAlreadyRegistered || res.Kind != KindDataFederation {
				t.Fatalf("re-delivery: %+v, %v", res, err)
			}
			if hs.atlasWrites() != 0 || hs.atlasCalls("get") != 1 {
				t.Errorf("re-delivery made %d writes and %d GETs, want 0 and 1", hs.atlasWrites(), hs.atlasCalls("get"))
			}
		})
	}
}

// A FAILED entry is deleted and posted again, within ATLAS_MAX_ATTEMPTS; no
// service is read before the delete: the service is MongoDB's.
func TestFederationFailedRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		maxAttempts int
		wantErr     bool
	}{
		{"second attempt succeeds", 3, false},
		{"no attempt left", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := newFederationHarness(t, false, harnessOptions{config: func(c *Config) { c.MaxAttempts = tc.maxAttempts }})
			id := hs.seeded.EndpointID
			hs.fake.FailDataFederation("Endpoint "+id+" could not be approved", id)
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if tc.wantErr {
				var rf *RegistrationFailedError
				if !errors.As(err, &rf) || rf.ProjectID != dfProject || rf.LastStatus != atlas.StatusFailed || !strings.Contains(rf.LastError, "could not be approved") {
					t.Fatalf("err = %v, want a RegistrationFailedError naming the FAILED status", err)
				}
				if !strings.Contains(err.Error(), "(Data Federation endpoint list)") {
					t.Errorf("err = %v, want it to say where the entry was", err)
				}
				if _, ok := hs.federationEntry(id); ok {
					t.Errorf("the failed entry was left in the list")
				}
				return
			}
			if err != nil || res.Outcome != OutcomeRegistered || res.Attempts != 2 || res.ConnectionStatus != atlas.StatusOK {
				t.Fatalf("Handle() = %+v, %v; want registered at the second attempt", res, err)
			}
			if hs.atlasCalls("delete") != 1 || hs.atlasCalls("post") != 2 || hs.atlasCalls("service") != 0 {
				t.Errorf("DELETEs %d, POSTs %d, service reads %d; want 1, 2, 0", hs.atlasCalls("delete"), hs.atlasCalls("post"), hs.atlasCalls("service"))
			}
			if !strings.Contains(hs.logs.String(), "could not be approved") {
				t.Errorf("the log does not name Atlas's errorMessage:\n%s", hs.logs)
			}
		})
	}
}

// With ATLAS_DATA_FEDERATION_PROJECT_ID empty, nothing is called in Atlas
// (nor is the secret read), and the reason names the variable. The opt-out
// tag applies as to every endpoint.
func TestFederationIgnored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		off, tag   bool
	}{
		{"no project", "ATLAS_DATA_FEDERATION_PROJECT_ID", true, false},
		{"opt-out tag", OptOutTag + "=" + OptOutValue, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := newFederationHarness(t, tc.off, harnessOptions{})
			if tc.tag {
				if _, err := ec2.NewFromConfig(hs.awsCfg).CreateTags(context.Background(), &ec2.CreateTagsInput{
					Resources: []string{hs.seeded.EndpointID}, Tags: []ec2types.Tag{{Key: aws.String(OptOutTag), Value: aws.String(OptOutValue)}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := hs.invoke(hs.event(), 30*time.Second)
			if err != nil || res.Outcome != OutcomeIgnored || !strings.Contains(res.Reason, tc.want) {
				t.Fatalf("Handle() = %+v, %v; want ignored naming %s", res, err, tc.want)
			}
			if tc.off && res.Kind != KindDataFederation {
				t.Errorf("kind %q", res.Kind)
			}
			if n := len(hs.fake.Requests()); n != 0 {
				t.Errorf("%d Atlas requests", n)
			}
			if n := hs.aws.count("GetSecretValue"); n != 0 {
				t.Errorf("the secret was read %d times", n)
			}
		})
	}
}

// A 403 names the Data Federation project.
func TestFederationForbiddenNamesProject(t *testing.T) {
	t.Parallel()
	hs := newFederationHarness(t, false, harnessOptions{})
	hs.fake.InjectFault(atlastest.Fault{Method: http.MethodPost, PathContains: "/endpointIds", Status: 403, Times: -1})
	_, err := hs.invoke(hs.event(), 30*time.Second)
	var ae *AtlasError
	if !errors.As(err, &ae) || ae.ProjectID != dfProject || !errors.Is(err, atlas.ErrUnauthorized) || !strings.Contains(err.Error(), dfProject) {
		t.Fatalf("err = %v, want an AtlasError naming project %s", err, dfProject)
	}
}

// newRegisteredFederationHarness is newFederationHarness with the seeded
// endpoint already OK in the Data Federation list.
func newRegisteredFederationHarness(t *testing.T) *harness {
	t.Helper()
	hs := newFederationHarness(t, false, harnessOptions{})
	hs.postFederation(hs.seeded.EndpointID, atlas.StatusOK)
	return hs
}

// postFederation adds id to dfProject's list, waits until it has status
// want, and forgets the requests it took.
func (hs *harness) postFederation(id, want string) {
	hs.t.Helper()
	c, err := atlas.NewClient(atlas.Config{BaseURL: hs.fake.URL, ProjectID: dfProject}, atlas.Credentials{PublicKey: testPublicKey, PrivateKey: testPrivateKey})
	if err != nil {
		hs.t.Fatal(err)
	}
	if _, err := c.CreateDataFederationEndpoint(context.Background(), atlas.DataFederationEndpoint{EndpointID: id}); err != nil {
		hs.t.Fatal(err)
	}
	for e, _ := hs.federationEntry(id); e.Status != want; e, _ = hs.federationEntry(id) {
		time.Sleep(5 * time.Millisecond)
	}
	hs.fake.ResetRequests()
}

// Deleted in EC2, the entry is deleted from the list (by a delete event or
// by hand); still live in EC2, it is kept with no Atlas call; a retry finds
// it not registered.
func TestFederationDeregister(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		deleted bool
		payload func(id string) []byte
		want    []string // outcomes of successive invocations
	}{
		{"delete event", true, func(id string) []byte { return deleteEvent(id) }, []string{OutcomeDeregistered, OutcomeNotRegistered}},
		{"manual", true, func(id string) []byte { return []byte(`{"action":"deregister","vpcEndpointId":"` + id + `"}`) }, []string{OutcomeDeregistered}},
		{"still live in EC2", false, func(id string) []byte { return deleteEvent(id) }, []string{OutcomeKept}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := newRegisteredFederationHarness(t)
			hs.h.deps.Endpoints = &awsvpc.Endpoints{EC2: hs.ec2, NotFoundWait: time.Hour}
			id := hs.seeded.EndpointID
			if tc.deleted {
				hs.deleteInEC2(id)
			}
			for i, want := range tc.want {
				res, err := hs.invoke(tc.payload(id), 30*time.Second)
				if err != nil {
					t.Fatalf("invocation %d: %v", i, err)
				}
				r := endpointOutcome(res, id)
				if res.Outcome != OutcomeProcessed || r.Outcome != want {
					t.Fatalf("invocation %d: %+v, want %s", i, r, want)
				}
				if want == OutcomeDeregistered && (r.Kind != KindDataFederation || r.ProjectID != dfProject) {
					t.Errorf("invocation %d: %+v, want kind %s in project %s", i, r, KindDataFederation, dfProject)
				}
				// The counts docs/data-federation.md gives: the cluster services' list
				// (cold), a GET, the DELETE, GETs until 404.
				if i == 0 && want == OutcomeDeregistered && (hs.atlasCalls("list") != 1 || hs.atlasCalls("delete") != 1 || hs.atlasCalls("get") < 2) {
					t.Errorf("lists %d, DELETEs %d, GETs %d; want 1, 1, at least 2", hs.atlasCalls("list"), hs.atlasCalls("delete"), hs.atlasCalls("get"))
				}
				if want == OutcomeNotRegistered && !strings.Contains(r.Reason, "Data Federation endpoint list of project "+dfProject) {
					t.Errorf("reason %q does not name the Data Federation list", r.Reason)
				}
			}
			_, listed := hs.federationEntry(id)
			if listed == tc.deleted {
				t.Errorf("listed after: %v", listed)
			}
			wantDeletes := 0
			if tc.deleted {
				wantDeletes = 1
			}
			if n := hs.atlasCalls("delete"); n != wantDeletes {
				t.Errorf("DELETEs = %d, want %d", n, wantDeletes)
			}
			if !tc.deleted && len(hs.fake.Requests()) != 0 {
				t.Errorf("%d Atlas requests for an endpoint EC2 still shows", len(hs.fake.Requests()))
			}
		})
	}
}

// Reconcile compares the Data Federation list with the live endpoints toward
// the Data Federation service: a missing one is registered, a FAILED one is
// registered again, one with no live endpoint is an orphan (deleted only
// with RECONCILE_DELETE_ORPHANS), one with no region is kept. A dry run
// reports the same plan and writes nothing.
func TestFederationReconcile(t *testing.T) {
	t.Parallel()
	const orphan, noRegion = "vpce-0d0000000000000d1", "vpce-0d0000000000000d2"
	for _, tc := range []struct {
		name          string
		dryRun        bool
		deleteOrphans bool
		want          map[string]string // by role: failed, missing, orphan, noRegion
		writes        int
	}{
		{"dry run", true, false, map[string]string{"failed": OutcomeWouldReRegister, "missing": OutcomeWouldRegister, "orphan": OutcomeOrphan, "noRegion": OutcomeKept}, 0},
		{"dry run deleting orphans", true, true, map[string]string{"failed": OutcomeWouldReRegister, "missing": OutcomeWouldRegister, "orphan": OutcomeWouldDeregister, "noRegion": OutcomeKept}, 0},
		// A DELETE and a POST for the failed one, a POST for the missing one.
		{"run", false, false, map[string]string{"failed": OutcomeReRegistered, "missing": OutcomeRegistered, "orphan": OutcomeOrphan, "noRegion": OutcomeKept}, 3},
		{"run deleting orphans", false, true, map[string]string{"failed": OutcomeReRegistered, "missing": OutcomeRegistered, "orphan": OutcomeDeregistered, "noRegion": OutcomeKept}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := newFederationHarness(t, false, harnessOptions{
				fake: atlastest.Options{DataFederation: []atlas.DataFederationEndpoint{
					{EndpointID: orphan, Region: "US_EAST_1", CustomerEndpointDNSName: orphan + ".example"},
					{EndpointID: noRegion},
				}},
				config: func(c *Config) { c.ReconcileDeleteOrphans = tc.deleteOrphans },
			})
			failedID, missing := hs.seeded.EndpointID, hs.newEndpoint()
			hs.fake.FailDataFederation("could not be approved", failedID)
			hs.postFederation(failedID, atlas.StatusFailed)

			payload := `{"action":"reconcile"}`
			if tc.dryRun {
				payload = `{"action":"reconcile","dryRun":true}`
			}
			res, err := hs.invoke([]byte(payload), 30*time.Second)
			if err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			ids := map[string]string{"failed": failedID, "missing": missing, "orphan": orphan, "noRegion": noRegion}
			for role, want := range tc.want {
				r := endpointOutcome(res, ids[role])
				if r.Outcome != want || r.Kind != KindDataFederation || r.ProjectID != dfProject {
					t.Errorf("%s: %+v, want %s", role, r, want)
				}
			}
			if n := hs.atlasWrites(); n != tc.writes {
				t.Errorf("writes = %d, want %d", n, tc.writes)
			}
			if tc.dryRun {
				return
			}
			for role, listed := range map[string]bool{"failed": true, "missing": true, "orphan": !tc.deleteOrphans, "noRegion": true} {
				e, ok := hs.federationEntry(ids[role])
				if ok != listed || (ok && role != "noRegion" && role != "orphan" && e.Status != atlas.StatusOK) {
					t.Errorf("%s: %+v (listed %v), want listed %v and OK", role, e, ok, listed)
				}
			}
			if e, _ := hs.federationEntry(missing); e.CustomerEndpointDNSName != hs.firstDNSName(missing) || e.Region != "US_EAST_1" {
				t.Errorf("registered entry %+v", e)
			}
			// A second run finds nothing to do.
			hs.fake.ResetRequests()
			res, err = hs.invoke([]byte(payload), 30*time.Second)
			if err != nil || endpointOutcome(res, missing).Outcome != OutcomeAlreadyRegistered || endpointOutcome(res, failedID).Outcome != OutcomeAlreadyRegistered || hs.atlasWrites() != 0 {
				t.Errorf("second run: %+v, %v, %d writes", res, err, hs.atlasWrites())
			}
		})
	}
}

// In one batch, Data Federation and cluster endpoints each go their own way,
// and the metrics lines split them by kind.
func TestFederationInBatch(t *testing.T) {
	t.Parallel()
	hs := newFederationHarness(t, false, harnessOptions{})
	df1, df2 := hs.seeded.EndpointID, hs.newEndpoint()
	cluster, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, hs.fake.Services()[0].EndpointServiceName, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	if failed := hs.invokeBatch(sqsBatch(t, hs.createEvent(df1), hs.createEvent(df2), hs.createEvent(cluster)), 30*time.Second); len(failed) != 0 {
		t.Fatalf("records to deliver again: %v", failed)
	}
	for _, id := range []string{df1, df2} {
		if e, ok := hs.federationEntry(id); !ok || e.Status != atlas.StatusOK {
			t.Errorf("%s: %+v (listed %v)", id, e, ok)
		}
	}
	if got := hs.atlasStatus(cluster); got != atlas.StatusAvailable {
		t.Errorf("cluster endpoint: %q", got)
	}
	kinds := map[string]float64{}
	for _, l := range hs.metricsLines() {
		if k, ok := l.root["kind"].(string); ok {
			kinds[k] += l.metrics[MetricEvents]
		}
	}
	if kinds[KindDataFederation] != 2 || kinds[KindCluster] != 1 {
		t.Errorf("registrations by kind: %v, want 2 data-federation and 1 cluster", kinds)
	}
}
