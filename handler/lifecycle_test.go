package handler

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// newEndpoint creates another Interface endpoint for the harness's service in moto.
func (hs *harness) newEndpoint() string {
	hs.t.Helper()
	id, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, hs.serviceName, "Interface")
	if err != nil {
		hs.t.Fatal(err)
	}
	return id
}

// postAvailable registers id in the fake's service and waits for AVAILABLE.
func (hs *harness) postAvailable(id string) {
	hs.t.Helper()
	if _, err := hs.atlasClient().CreateInterfaceEndpoint(context.Background(), atlastest.DefaultServiceID, id); err != nil {
		hs.t.Fatal(err)
	}
	for range 200 {
		if ie, _ := hs.fake.Endpoint(atlastest.DefaultServiceID, id); ie.ConnectionStatus == atlas.StatusAvailable {
			hs.fake.ResetRequests()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	hs.t.Fatalf("%s never became AVAILABLE", id)
}

func outcomes(res *Result) map[string]string {
	out := map[string]string{}
	if res != nil {
		for _, e := range res.Endpoints {
			out[e.VPCEndpointID] = e.Outcome
		}
	}
	return out
}

func TestDeregister(t *testing.T) {
	t.Parallel()
	const neverExisted = "vpce-0e0000000000000e1"
	tests := []struct {
		name     string
		opts     harnessOptions
		setup    func(hs *harness) []byte // returns the payload
		want     func(hs *harness) map[string]string
		deletes  int
		noAtlas  bool   // no Atlas request at all, not even the secret
		reason   string // in the seeded endpoint's reason
		describe int    // -1: EC2 must not be asked
	}{
		{
			name: "deleted in EC2 and registered in Atlas",
			opts: harnessOptions{registered: true, liveCompanion: true},
			setup: func(hs *harness) []byte {
				hs.deleteInEC2(hs.seeded.EndpointID)
				return deleteEvent(hs.seeded.EndpointID)
			},
			want: func(hs *harness) map[string]string {
				return map[string]string{hs.seeded.EndpointID: OutcomeDeregistered}
			},
			deletes: 1,
		},
		{
			name: "manual payload",
			opts: harnessOptions{registered: true, liveCompanion: true},
			setup: func(hs *harness) []byte {
				hs.deleteInEC2(hs.seeded.EndpointID)
				return []byte(`{"action":"deregister","vpcEndpointId":"` + hs.seeded.EndpointID + `"}`)
			},
			want: func(hs *harness) map[string]string {
				return map[string]string{hs.seeded.EndpointID: OutcomeDeregistered}
			},
			deletes: 1,
		},
		{
			name:    "still live in EC2: a forged or replayed event changes nothing",
			opts:    harnessOptions{registered: true, liveCompanion: true},
			setup:   func(hs *harness) []byte { return deleteEvent(hs.seeded.EndpointID) },
			want:    func(hs *harness) map[string]string { return map[string]string{hs.seeded.EndpointID: OutcomeKept} },
			noAtlas: true,
			reason:  "EC2 still shows it as available",
		},
		{
			name: "deleted in EC2 but never registered",
			setup: func(hs *harness) []byte {
				hs.deleteInEC2(hs.seeded.EndpointID)
				return deleteEvent(hs.seeded.EndpointID)
			},
			want: func(hs *harness) map[string]string {
				return map[string]string{hs.seeded.EndpointID: OutcomeNotRegistered}
			},
			reason: "no Atlas endpoint service",
		},
		{
			name: "several ids, each to its own outcome",
			opts: harnessOptions{registered: true, liveCompanion: true},
			setup: func(hs *harness) []byte {
				hs.deleteInEC2(hs.seeded.EndpointID)
				hs.deleteInEC2(hs.liveCompanion)
				return deleteEvent(hs.seeded.EndpointID, neverExisted, companionID, hs.liveCompanion)
			},
			want: func(hs *harness) map[string]string {
				// EC2 knows none of the three registered endpoints any more (the companion
				// may live in another account), so each may go, but not all: the service
				// keeps the one with the greatest id.
				ids := []string{hs.seeded.EndpointID, companionID, hs.liveCompanion}
				slices.Sort(ids)
				return map[string]string{ids[0]: OutcomeDeregistered, ids[1]: OutcomeDeregistered, ids[2]: OutcomeKept, neverExisted: OutcomeNotRegistered}
			},
			deletes: 2,
		},
		{
			name: "ids EC2 did not delete are skipped without asking EC2",
			opts: harnessOptions{registered: true, liveCompanion: true},
			setup: func(hs *harness) []byte {
				ev := string(deleteEvent(hs.seeded.EndpointID))
				return []byte(strings.Replace(ev, `"unsuccessful":""`,
					`"unsuccessful":{"item":{"resourceId":"`+hs.seeded.EndpointID+`","error":{"code":"InvalidVpcEndpoint.NotFound"}}}`, 1))
			},
			want:     func(hs *harness) map[string]string { return map[string]string{hs.seeded.EndpointID: OutcomeIgnored} },
			noAtlas:  true,
			reason:   "EC2 did not delete it",
			describe: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, tt.opts)
			// An endpoint deleted in EC2 is asked about once, not waited for:
			// were it waited for, the invocation would run into its deadline.
			hs.h.deps.Endpoints = &awsvpc.Endpoints{EC2: hs.ec2, Network: hs.network, NotFoundWait: time.Hour}
			payload := tt.setup(hs)
			hs.aws.reset()
			res, err := hs.invoke(payload, 30*time.Second)
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if res.Outcome != OutcomeProcessed {
				t.Errorf("outcome = %q, want processed", res.Outcome)
			}
			if got, want := outcomes(res), tt.want(hs); !maps.Equal(got, want) {
				t.Errorf("outcomes = %v, want %v", got, want)
			}
			if tt.reason != "" && !strings.Contains(endpointOutcome(res, hs.seeded.EndpointID).Reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", endpointOutcome(res, hs.seeded.EndpointID).Reason, tt.reason)
			}
			if n := hs.atlasCalls("delete"); n != tt.deletes {
				t.Errorf("DELETE requests = %d, want %d", n, tt.deletes)
			}
			if tt.noAtlas && (len(hs.fake.Requests()) != 0 || hs.aws.count("GetSecretValue") != 0) {
				t.Errorf("Atlas requests = %d, secret reads = %d; want none", len(hs.fake.Requests()), hs.aws.count("GetSecretValue"))
			}
			if n := hs.aws.count("DescribeVpcEndpoints"); tt.describe >= 0 && n < len(tt.want(hs)) || tt.describe < 0 && n != 0 {
				t.Errorf("DescribeVpcEndpoints calls = %d for %d ids; EC2 must be asked about each id (and about none skipped)", n, len(tt.want(hs)))
			}
			if res.Counts[OutcomeDeregistered] != tt.deletes {
				t.Errorf("counts = %v", res.Counts)
			}
			for id, o := range tt.want(hs) {
				_, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, id)
				if o == OutcomeDeregistered && ok || o == OutcomeKept && !ok {
					t.Errorf("%s: in Atlas = %v after outcome %s", id, ok, o)
				}
			}
			if hs.serviceState() != "present" {
				t.Errorf("service is %s", hs.serviceState())
			}
		})
	}
}

// A retry of a delete event, as Lambda makes after an error, changes nothing
// the first delivery did: the endpoint now reads not-registered.
func TestDeregisterIsIdempotent(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{registered: true, liveCompanion: true})
	hs.deleteInEC2(hs.seeded.EndpointID)
	ev := deleteEvent(hs.seeded.EndpointID)
	for i, want := range []string{OutcomeDeregistered, OutcomeNotRegistered} {
		res, err := hs.invoke(ev, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := endpointOutcome(res, hs.seeded.EndpointID).Outcome; got != want {
			t.Errorf("delivery %d: outcome %q, want %q", i+1, got, want)
		}
	}
	if n := hs.atlasCalls("delete"); n != 1 {
		t.Errorf("DELETE requests = %d over two deliveries, want 1", n)
	}
	if hs.serviceState() != "present" {
		t.Errorf("service is %s", hs.serviceState())
	}
}

// An Atlas failure on one id fails the invocation with an error that names
// it, after every other id was dealt with.
func TestDeregisterReportsFailures(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{registered: true, liveCompanion: true})
	hs.deleteInEC2(hs.seeded.EndpointID)
	hs.fake.InjectFault(atlastest.Fault{Method: "DELETE", PathContains: companionID, Status: 500, Times: -1})
	res, err := hs.invoke(deleteEvent(hs.seeded.EndpointID, companionID), 30*time.Second)
	de, ok := errors.AsType[*DeregistrationError](err)
	if !ok {
		t.Fatalf("Handle() = %+v, %v; want *DeregistrationError", res, err)
	}
	if len(de.Failed) != 1 || de.Failed[companionID] == nil || !strings.Contains(err.Error(), companionID) {
		t.Errorf("error = %v, want it to name only %s", err, companionID)
	}
	if _, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, hs.seeded.EndpointID); ok {
		t.Errorf("%s is still in Atlas: the failure of another id stopped it", hs.seeded.EndpointID)
	}
	lines := hs.logLines()
	last := lines[len(lines)-1]
	if last["errorType"] != "DeregistrationError" || last["endpoints"] == nil {
		t.Errorf("last log line = %v, want the error and every endpoint's outcome", last)
	}
}

// A guard that finds another failed endpoint does not count it as keeping
// the service alive: two failed endpoints, each handled by its own
// invocation, must not delete each other's last companion.
func TestGuardIgnoresFailedCompanions(t *testing.T) {
	t.Parallel()
	const other = "vpce-0f0000000000000f1"
	hs := newHarness(t, harnessOptions{alone: true})
	hs.postFailed(other)
	hs.fake.RejectFirst(hs.seeded.EndpointID)
	_, err := hs.invoke(hs.event(), 30*time.Second)
	rf, ok := errors.AsType[*RegistrationFailedError](err)
	if !ok || !rf.Kept {
		t.Fatalf("Handle() error = %v, want a kept RegistrationFailedError", err)
	}
	if n := hs.atlasCalls("delete"); n != 0 {
		t.Errorf("DELETE requests = %d, want 0", n)
	}
}

// After EndpointServiceRemovedError the container forgets the service: a
// later event lists the services again instead of posting into it.
func TestRemovedServiceLeavesTheCache(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{alone: true, config: func(c *Config) { c.AllowServiceRemoval = true }})
	hs.fake.RejectFirst(hs.seeded.EndpointID)
	if _, err := hs.invoke(hs.event(), 30*time.Second); errName(err) != "EndpointServiceRemovedError" {
		t.Fatalf("first event: %v, want EndpointServiceRemovedError", err)
	}
	if !strings.Contains(hs.logs.String(), hs.fake.ProjectID()) {
		t.Errorf("log does not name the project")
	}
	time.Sleep(40 * time.Millisecond) // the fake's service finishes DELETING
	lists := hs.atlasCalls("list")
	res, err := hs.invoke(hs.event(), 30*time.Second)
	if err != nil || res.Outcome != OutcomeIgnored || !strings.Contains(res.Reason, "no Atlas endpoint service") {
		t.Fatalf("second event: %+v, %v; want ignored for want of a service", res, err)
	}
	if hs.atlasCalls("list") != lists+1 || hs.atlasCalls("post") != 1 {
		t.Errorf("lists %d→%d, posts %d: want one new list and no new POST", lists, hs.atlasCalls("list"), hs.atlasCalls("post"))
	}
}

// reconcileSetup builds one service with an endpoint of every kind:
// missing in Atlas, failed in Atlas, AVAILABLE, and an orphan.
func reconcileSetup(t *testing.T, cfg func(*Config)) (hs *harness, missing, failedID, available string) {
	t.Helper()
	hs = newHarness(t, harnessOptions{serviceName: uniqueServiceName(t), config: cfg})
	missing = hs.seeded.EndpointID
	failedID, available = hs.newEndpoint(), hs.newEndpoint()
	hs.postAvailable(available)
	hs.postFailed(failedID)
	return hs, missing, failedID, available
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	hs, missing, failedID, available := reconcileSetup(t, nil)
	res, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		missing: OutcomeRegistered, failedID: OutcomeReRegistered, available: OutcomeAlreadyRegistered, companionID: OutcomeOrphan,
	}
	if got := outcomes(res); !maps.Equal(got, want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	if res.Outcome != OutcomeReconciled || res.DryRun == nil || *res.DryRun {
		t.Errorf("result = %+v, want reconciled, dryRun false", res)
	}
	if res.Counts[OutcomeRegistered] != 1 || res.Counts[OutcomeOrphan] != 1 {
		t.Errorf("counts = %v", res.Counts)
	}
	for _, id := range []string{missing, failedID, available, companionID} {
		if ie, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, id); !ok || ie.ConnectionStatus != atlas.StatusAvailable {
			t.Errorf("%s in Atlas: %+v, %v; want AVAILABLE", id, ie, ok)
		}
	}
	// Orphans stay unless RECONCILE_DELETE_ORPHANS: one may be another account's.
	if n := hs.atlasCalls("delete"); n != 1 {
		t.Errorf("DELETE requests = %d, want 1 (the failed registration)", n)
	}
	// Reads: one list, one GET per Atlas endpoint, the registration flow's own.
	if n := hs.atlasCalls("list"); n != 1 {
		t.Errorf("service lists = %d, want 1", n)
	}
	// The run's counts reach the metrics: one orphan, one endpoint registered again.
	var counts map[string]any
	for _, line := range strings.Split(strings.TrimSpace(hs.metrics.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m[MetricReconcileOrphans] != nil {
			counts = m
		}
	}
	if counts == nil || counts[MetricReconcileOrphans] != 1.0 || counts[MetricReconcileReRegistered] != 1.0 || counts[DimensionProject] != hs.fake.ProjectID() {
		t.Errorf("reconcile metrics line = %v, want 1 orphan and 1 re-registered for project %s", counts, hs.fake.ProjectID())
	}
}

// A dry run reads only, and its plan is what the real run then does.
func TestReconcileDryRunPlansTheRealRun(t *testing.T) {
	t.Parallel()
	for _, deleteOrphans := range []bool{false, true} {
		t.Run(map[bool]string{false: "orphans reported", true: "orphans deleted"}[deleteOrphans], func(t *testing.T) {
			t.Parallel()
			hs, missing, failedID, available := reconcileSetup(t, func(c *Config) { c.ReconcileDeleteOrphans = deleteOrphans })
			res, err := hs.invoke([]byte(`{"action":"reconcile","dryRun":true}`), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			orphan := OutcomeOrphan
			if deleteOrphans {
				orphan = OutcomeWouldDeregister
			}
			plan := map[string]string{
				missing: OutcomeWouldRegister, failedID: OutcomeWouldReRegister, available: OutcomeAlreadyRegistered, companionID: orphan,
			}
			if got := outcomes(res); !maps.Equal(got, plan) {
				t.Errorf("plan = %v, want %v", got, plan)
			}
			if res.DryRun == nil || !*res.DryRun {
				t.Errorf("dryRun = %v, want true", res.DryRun)
			}
			for _, r := range hs.fake.Requests() {
				if r.Method != "GET" {
					t.Errorf("dry run sent %s %s", r.Method, r.Path)
				}
			}

			real, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			done := map[string]string{
				OutcomeWouldRegister: OutcomeRegistered, OutcomeWouldReRegister: OutcomeReRegistered, OutcomeWouldDeregister: OutcomeDeregistered,
			}
			for id, o := range outcomes(real) {
				if w := done[plan[id]]; w != "" && o != w || w == "" && o != plan[id] {
					t.Errorf("%s: dry run planned %s, real run did %s", id, plan[id], o)
				}
			}
		})
	}
}

// What is still pending at the deadline is reported pending, not failed: the
// next run picks it up.
func TestReconcileDeadlineLeavesPending(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t)})
	hs.fake.HoldPending(true)
	start := time.Now()
	res, err := hs.invoke([]byte(`{"action":"reconcile"}`), 1500*time.Millisecond)
	if err != nil {
		t.Fatalf("Handle() error = %v, want a result", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("took %s, past the deadline", took)
	}
	e := endpointOutcome(res, hs.seeded.EndpointID)
	if e.Outcome != OutcomePending || !strings.Contains(e.Reason, "next run") {
		t.Errorf("endpoint result = %+v, want pending", e)
	}
	// And the next run, once Atlas has settled, finds it registered.
	hs.fake.HoldPending(false)
	res, err = hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if o := endpointOutcome(res, hs.seeded.EndpointID).Outcome; o != OutcomeAlreadyRegistered {
		t.Errorf("next run: %s, want already-registered", o)
	}
}

// The schedule's event runs a reconcile.
func TestScheduledEventReconciles(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t)})
	payload := readEvent(t, "scheduled-reconcile.json")
	out, err := hs.h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res["outcome"] != OutcomeReconciled || res["dryRun"] != false || res["counts"] == nil {
		t.Errorf("result = %s", out)
	}
	if _, has := res["attempts"]; has {
		t.Errorf("a reconcile result carries a registration's attempts: %s", out)
	}
}
