package handler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// uniqueServiceName returns an Atlas-style service name for one test, since
// reconcile lists VPC endpoints by service name on the shared moto_server.
func uniqueServiceName(t *testing.T) string {
	t.Helper()
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "com.amazonaws.vpce.us-east-1.vpce-svc-" + hex.EncodeToString(b[:])[:17]
}

// atlasClient returns a client of its own for the fake, for arranging state.
func (hs *harness) atlasClient() *atlas.Client {
	hs.t.Helper()
	c, err := atlas.NewClient(atlas.Config{BaseURL: hs.fake.URL, Version: hs.cfg.APIVersion, ProjectID: hs.cfg.ProjectIDs[0]},
		atlas.Credentials{PublicKey: testPublicKey, PrivateKey: testPrivateKey})
	if err != nil {
		hs.t.Fatal(err)
	}
	return c
}

// postFailed registers id in the fake's service and waits until Atlas
// reports it REJECTED: what a failed earlier registration leaves behind.
func (hs *harness) postFailed(id string) {
	hs.t.Helper()
	hs.fake.RejectFirst(id)
	if _, err := hs.atlasClient().CreateInterfaceEndpoint(context.Background(), atlastest.DefaultServiceID, id); err != nil {
		hs.t.Fatal(err)
	}
	for range 200 {
		if ie, _ := hs.fake.Endpoint(atlastest.DefaultServiceID, id); ie.ConnectionStatus == atlas.StatusRejected {
			hs.fake.ResetRequests() // count only what the handler does
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	hs.t.Fatalf("%s never became REJECTED", id)
}

// deleteInEC2 deletes a VPC endpoint in moto.
func (hs *harness) deleteInEC2(id string) {
	hs.t.Helper()
	if _, err := ec2.NewFromConfig(hs.awsCfg).DeleteVpcEndpoints(context.Background(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		hs.t.Fatal(err)
	}
}

// deleteEvent is the EventBridge delivery of a DeleteVpcEndpoints call for ids.
func deleteEvent(ids ...string) []byte {
	items := make([]string, 0, len(ids))
	for i, id := range ids {
		items = append(items, fmt.Sprintf(`{"tag":%d,"content":%q}`, i+1, id))
	}
	return []byte(`{"version":"0","id":"0d5e1e7e-0000-4000-8000-000000000001","detail-type":"AWS API Call via CloudTrail",
"source":"aws.ec2","account":"123456789012","time":"2026-11-30T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventSource":"ec2.amazonaws.com","eventName":"DeleteVpcEndpoints","awsRegion":"us-east-1","errorCode":null,
"requestParameters":{"DeleteVpcEndpointsRequest":{"VpcEndpointId":[` + strings.Join(items, ",") + `]}},
"responseElements":{"DeleteVpcEndpointsResponse":{"requestId":"r","unsuccessful":""}}}}`)
}

// serviceState says whether the fake's service is there, DELETING or gone.
func (hs *harness) serviceState() string {
	for _, s := range hs.fake.Services() {
		if s.ID == atlastest.DefaultServiceID {
			if s.Status == atlas.StatusDeleting {
				return "deleting"
			}
			return "present"
		}
	}
	return "gone"
}

func endpointOutcome(res *Result, id string) EndpointResult {
	if res == nil {
		return EndpointResult{}
	}
	for _, e := range res.Endpoints {
		if e.VPCEndpointID == id {
			return e
		}
	}
	return EndpointResult{}
}

// want is what a DELETE path must end with in one mode.
type want struct {
	errType     string // "" for success
	kept        bool   // RegistrationFailedError.Kept, or the endpoint's outcome is kept
	outcome     string // the endpoint's outcome, for batch results
	deletes     int
	serviceGone bool
}

// Every path that deletes an Atlas endpoint, against a service whose only
// endpoint it is, in both of the fake's modes (Atlas removes the service with
// its last endpoint, as documented; or keeps it) and with removal allowed or
// not. Without ATLAS_ALLOW_SERVICE_REMOVAL nothing is deleted and the service
// survives in both modes; with it, a removed service stops the function with
// EndpointServiceRemovedError and nothing is posted into it.
func TestDeletePathsProtectTheService(t *testing.T) {
	t.Parallel()
	orphan := "vpce-0d0000000000000d1"
	paths := []struct {
		name  string
		opts  func(*harnessOptions)
		setup func(hs *harness)
		run   func(hs *harness) (*Result, error)
		// results by mode: not allowed, allowed with removal, allowed with the service kept
		notAllowed, removal, kept want
	}{
		{
			name:       "retry after a failed attempt",
			setup:      func(hs *harness) { hs.fake.RejectFirst(hs.seeded.EndpointID) },
			run:        func(hs *harness) (*Result, error) { return hs.invoke(hs.event(), 30*time.Second) },
			notAllowed: want{errType: "RegistrationFailedError", kept: true},
			removal:    want{errType: "EndpointServiceRemovedError", deletes: 1, serviceGone: true},
			kept:       want{outcome: OutcomeRegistered, deletes: 1},
		},
		{
			name:       "cleanup after the last attempt",
			opts:       func(o *harnessOptions) { o.config = func(c *Config) { c.MaxAttempts = 1 } },
			setup:      func(hs *harness) { hs.fake.RejectFirst(hs.seeded.EndpointID) },
			run:        func(hs *harness) (*Result, error) { return hs.invoke(hs.event(), 30*time.Second) },
			notAllowed: want{errType: "RegistrationFailedError", kept: true},
			removal:    want{errType: "EndpointServiceRemovedError", deletes: 1, serviceGone: true},
			kept:       want{errType: "RegistrationFailedError", deletes: 1},
		},
		{
			name:       "failed registration left by an earlier invocation",
			setup:      func(hs *harness) { hs.postFailed(hs.seeded.EndpointID) },
			run:        func(hs *harness) (*Result, error) { return hs.invoke(hs.event(), 30*time.Second) },
			notAllowed: want{errType: "RegistrationFailedError", kept: true},
			removal:    want{errType: "EndpointServiceRemovedError", deletes: 1, serviceGone: true},
			kept:       want{outcome: OutcomeRegistered, deletes: 1},
		},
		{
			name:  "deregistration",
			opts:  func(o *harnessOptions) { o.registered = true },
			setup: func(hs *harness) { hs.deleteInEC2(hs.seeded.EndpointID) },
			run: func(hs *harness) (*Result, error) {
				return hs.invoke(deleteEvent(hs.seeded.EndpointID), 30*time.Second)
			},
			notAllowed: want{outcome: OutcomeKept, kept: true},
			removal:    want{outcome: OutcomeDeregistered, deletes: 1, serviceGone: true},
			kept:       want{outcome: OutcomeDeregistered, deletes: 1},
		},
		{
			name:       "reconcile re-registering a failed endpoint",
			opts:       func(o *harnessOptions) { o.serviceName = "unique" },
			setup:      func(hs *harness) { hs.postFailed(hs.seeded.EndpointID) },
			run:        func(hs *harness) (*Result, error) { return hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second) },
			notAllowed: want{outcome: OutcomeKept, kept: true},
			removal:    want{errType: "ReconcileError", deletes: 1, serviceGone: true},
			kept:       want{outcome: OutcomeReRegistered, deletes: 1},
		},
		{
			name: "reconcile deleting an orphan",
			opts: func(o *harnessOptions) {
				o.serviceName = "unique"
				o.config = func(c *Config) { c.ReconcileDeleteOrphans = true }
			},
			setup: func(hs *harness) {
				hs.deleteInEC2(hs.seeded.EndpointID) // nothing live in AWS
				if _, err := hs.atlasClient().CreateInterfaceEndpoint(context.Background(), atlastest.DefaultServiceID, orphan); err != nil {
					hs.t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond) // AVAILABLE
				hs.fake.ResetRequests()
			},
			run:        func(hs *harness) (*Result, error) { return hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second) },
			notAllowed: want{outcome: OutcomeKept, kept: true},
			removal:    want{outcome: OutcomeDeregistered, deletes: 1, serviceGone: true},
			kept:       want{outcome: OutcomeDeregistered, deletes: 1},
		},
	}
	modes := []struct {
		name         string
		allow, keep  bool
		pick         func(p int) want
		wantNextKept bool
	}{
		{name: "not allowed, Atlas removes", allow: false, keep: false},
		{name: "not allowed, Atlas keeps", allow: false, keep: true},
		{name: "allowed, Atlas removes", allow: true, keep: false},
		{name: "allowed, Atlas keeps", allow: true, keep: true},
	}
	for _, p := range paths {
		for _, m := range modes {
			for _, v := range []atlas.Version{atlas.V2, atlas.V1} {
				t.Run(p.name+"/"+m.name+"/"+string(v), func(t *testing.T) {
					t.Parallel()
					o := harnessOptions{alone: true, version: v}
					if p.opts != nil {
						p.opts(&o)
					}
					if o.serviceName == "unique" {
						o.serviceName = uniqueServiceName(t)
					}
					o.fake.KeepEmptyServices = m.keep
					inner := o.config
					o.config = func(c *Config) {
						if inner != nil {
							inner(c)
						}
						c.AllowServiceRemoval = m.allow
					}
					hs := newHarness(t, o)
					p.setup(hs)
					w := p.notAllowed
					switch {
					case m.allow && m.keep:
						w = p.kept
					case m.allow:
						w = p.removal
					}

					res, err := p.run(hs)
					target := hs.seeded.EndpointID
					if strings.Contains(p.name, "orphan") {
						target = orphan
					}
					if got := errName(err); got != w.errType {
						t.Fatalf("error = %v (%s), want %q; result %+v", err, got, w.errType, res)
					}
					if w.kept {
						if rf, ok := errors.AsType[*RegistrationFailedError](err); ok && !rf.Kept {
							t.Errorf("RegistrationFailedError.Kept = false, want true")
						}
						if err == nil {
							if e := endpointOutcome(res, target); e.Outcome != OutcomeKept || !strings.Contains(e.Reason, "AllowServiceRemoval") {
								t.Errorf("endpoint result = %+v, want kept with the way out", e)
							}
						}
						if _, ok := hs.fake.Endpoint(atlastest.DefaultServiceID, target); !ok {
							t.Errorf("the kept endpoint %s is gone from Atlas", target)
						}
					}
					if w.outcome != "" && err == nil {
						got := res.Outcome
						if res.Endpoints != nil {
							got = endpointOutcome(res, target).Outcome
						}
						if got != w.outcome {
							t.Errorf("outcome = %q, want %q; result %+v", got, w.outcome, res)
						}
					}
					if n := hs.atlasCalls("delete"); n != w.deletes {
						t.Errorf("DELETE requests = %d, want %d", n, w.deletes)
					}
					if gone := hs.serviceState() != "present"; gone != w.serviceGone {
						t.Errorf("service is %s, want gone=%v", hs.serviceState(), w.serviceGone)
					}
					if w.serviceGone {
						// Nothing was posted into the removed service after the delete.
						reqs := hs.fake.Requests()
						del := slices.IndexFunc(reqs, func(r atlastest.Request) bool { return r.Authenticated && classify(r) == "delete" })
						if slices.ContainsFunc(reqs[del+1:], func(r atlastest.Request) bool { return classify(r) == "post" }) {
							t.Errorf("a POST followed the delete that removed the service")
						}
					}
					if w.kept && w.errType == "RegistrationFailedError" && !strings.Contains(hs.logs.String(), `"next":"kept-to-protect-service"`) {
						t.Errorf("no log line says next: kept-to-protect-service:\n%s", hs.logs)
					}
				})
			}
		}
	}
}

// errName is the Lambda errorType of err, or "" for nil.
func errName(err error) string {
	if err == nil {
		return ""
	}
	return errorType(err)
}
