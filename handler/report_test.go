package handler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// reportRecorder is a Reporter that keeps what it is given.
type reportRecorder struct {
	mu    sync.Mutex
	calls [][]EndpointOutcome
}

func (r *reportRecorder) Report(_ context.Context, outs []EndpointOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, slices.Clone(outs))
}

// deadlineReporter is a Reporter that waits until its context ends, as a
// Reporter stuck on a slow AWS call would, and keeps that context's deadline.
type deadlineReporter struct {
	deadline time.Time
	bounded  bool
}

func (r *deadlineReporter) Report(ctx context.Context, _ []EndpointOutcome) {
	r.deadline, r.bounded = ctx.Deadline()
	<-ctx.Done()
}

// A stuck report ends a second before the Lambda deadline, so the invocation
// still answers: a timeout would fail a whole batch and deliver it again.
func TestReportLeavesTimeToAnswer(t *testing.T) {
	t.Parallel()
	rep := &deadlineReporter{}
	h := New(Config{}, Deps{Reporter: rep})
	dl := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(t.Context(), dl)
	defer cancel()
	h.report(ctx, []EndpointOutcome{{VPCEndpointID: "vpce-0123456789abcdef0", Outcome: OutcomeRegistered}})
	if !rep.bounded || !rep.deadline.Equal(dl.Add(-reportReserve)) {
		t.Errorf("report's deadline %v (bounded %v), want %v: %s before the invocation's", rep.deadline, rep.bounded, dl.Add(-reportReserve), reportReserve)
	}
	if ctx.Err() != nil {
		t.Errorf("report returned only at the invocation's deadline: %v", ctx.Err())
	}
}

// only returns the outcomes of the one Report call there must have been.
func (r *reportRecorder) only(t *testing.T) []EndpointOutcome {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 1 {
		t.Fatalf("%d Report calls, want 1: %+v", len(r.calls), r.calls)
	}
	return r.calls[0]
}

func (r *reportRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// byID indexes outcomes by endpoint; an endpoint reported twice fails the test.
func byID(t *testing.T, outs []EndpointOutcome) map[string]EndpointOutcome {
	t.Helper()
	m := map[string]EndpointOutcome{}
	for _, o := range outs {
		if _, dup := m[o.VPCEndpointID]; dup {
			t.Errorf("%s reported twice", o.VPCEndpointID)
		}
		m[o.VPCEndpointID] = o
	}
	return m
}

// A registration is reported once, with where the endpoint lives and a
// Tagger that reaches it: tagging through it shows on the endpoint in EC2.
func TestReportOfARegistration(t *testing.T) {
	t.Parallel()
	rec := &reportRecorder{}
	hs := newHarness(t, harnessOptions{reporter: rec})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	outs := rec.only(t)
	if len(outs) != 1 {
		t.Fatalf("outcomes = %+v, want one", outs)
	}
	o := outs[0]
	want := EndpointOutcome{
		VPCEndpointID: hs.seeded.EndpointID, AccountID: "123456789012", Region: "us-east-1",
		ProjectID: hs.fake.ProjectID(), EndpointServiceID: o.EndpointServiceID, Kind: KindCluster,
		Outcome: OutcomeRegistered, ConnectionStatus: atlas.StatusAvailable, TagStatus: TagStatusAvailable, Tagger: o.Tagger,
	}
	if o.EndpointServiceID == "" || o.Tagger == nil || fmt.Sprintf("%+v", o) != fmt.Sprintf("%+v", want) {
		t.Errorf("outcome = %+v\nwant      %+v", o, want)
	}
	if err := o.Tagger.TagEndpoint(context.Background(), o.VPCEndpointID, map[string]string{"atlas-registrar:status": o.TagStatus}); err != nil {
		t.Fatal(err)
	}
	tags, err := motoserver.EndpointTags(context.Background(), hs.awsCfg, o.VPCEndpointID)
	if err != nil {
		t.Fatal(err)
	}
	if tags["atlas-registrar:status"] != "available" {
		t.Errorf("tags = %v, want atlas-registrar:status=available", tags)
	}
}

// Every way a registration can end, as reported: what is ignored or never
// reached Atlas is not reported at all.
func TestReportOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    harnessOptions
		setup   func(hs *harness) []byte
		timeout time.Duration
		outcome string // "": not reported
		tag     string
		atlas   bool // AtlasError is set
	}{
		{
			name:    "already registered",
			opts:    harnessOptions{registered: true},
			setup:   func(hs *harness) []byte { return hs.event() },
			outcome: OutcomeAlreadyRegistered, tag: TagStatusAvailable,
		},
		{
			name: "every attempt rejected",
			setup: func(hs *harness) []byte {
				hs.fake.RejectNext(3)
				return hs.event()
			},
			outcome: OutcomeFailed, tag: TagStatusFailed, atlas: true,
		},
		{
			name: "failed, kept to protect the service",
			opts: harnessOptions{alone: true},
			setup: func(hs *harness) []byte {
				hs.fake.RejectNext(3)
				return hs.event()
			},
			outcome: OutcomeKept, tag: TagStatusKept, atlas: true,
		},
		{
			name:    "the deadline came first",
			opts:    harnessOptions{fake: atlastest.Options{Pending: time.Minute}},
			setup:   func(hs *harness) []byte { return hs.event() },
			timeout: 2 * time.Second,
			outcome: OutcomePending, tag: TagStatusPending,
		},
		{
			name: "opted out",
			setup: func(hs *harness) []byte {
				if _, err := ec2.NewFromConfig(hs.awsCfg).CreateTags(context.Background(), &ec2.CreateTagsInput{
					Resources: []string{hs.seeded.EndpointID}, Tags: []ec2types.Tag{{Key: aws.String(OptOutTag), Value: aws.String(OptOutValue)}},
				}); err != nil {
					t.Fatal(err)
				}
				return hs.event()
			},
		},
		{
			name: "not Atlas's",
			setup: func(hs *harness) []byte {
				id, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, "com.amazonaws.vpce.us-east-1.vpce-svc-0aaaaaaaaaaaaaaa1", "Interface")
				if err != nil {
					t.Fatal(err)
				}
				return hs.createEvent(id)
			},
		},
		{
			name: "the secret cannot be read: never matched to a service",
			opts: harnessOptions{secretJSON: aws.String(`{}`)},
			setup: func(hs *harness) []byte {
				return hs.event()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &reportRecorder{}
			tt.opts.reporter = rec
			hs := newHarness(t, tt.opts)
			_, _ = hs.invoke(tt.setup(hs), cmp.Or(tt.timeout, 30*time.Second))
			if tt.outcome == "" {
				if rec.count() != 0 {
					t.Errorf("reported %+v, want nothing", rec.calls)
				}
				return
			}
			outs := rec.only(t)
			if len(outs) != 1 {
				t.Fatalf("outcomes = %+v, want one", outs)
			}
			o := outs[0]
			if o.Outcome != tt.outcome || o.TagStatus != tt.tag || o.Tagger == nil || o.Reason == "" && tt.outcome != OutcomeAlreadyRegistered {
				t.Errorf("outcome = %+v, want %s, tag %s, a tagger and a reason", o, tt.outcome, tt.tag)
			}
			if (o.AtlasError != "") != tt.atlas {
				t.Errorf("AtlasError = %q, want set: %v", o.AtlasError, tt.atlas)
			}
		})
	}
}

// A batch reports once, every record's endpoint in one call, so that the
// events of a batch go out together.
func TestReportOfABatch(t *testing.T) {
	t.Parallel()
	rec := &reportRecorder{}
	hs := newHarness(t, harnessOptions{reporter: rec, registered: true, liveCompanion: true})
	hs.deleteInEC2(hs.seeded.EndpointID)
	a, b := hs.newEndpoint(), hs.newEndpoint()
	failed := hs.invokeBatch(sqsBatch(t, hs.createEvent(a), hs.createEvent(b), hs.createEvent(a), deleteEvent(hs.seeded.EndpointID),
		readEvent(t, "create-vpc-endpoint-failed-call.json")), 30*time.Second)
	if len(failed) != 0 {
		t.Fatalf("failed records %v", failed)
	}
	got := byID(t, rec.only(t))
	want := map[string][2]string{a: {OutcomeRegistered, TagStatusAvailable}, b: {OutcomeRegistered, TagStatusAvailable}, hs.seeded.EndpointID: {OutcomeDeregistered, ""}}
	if len(got) != len(want) {
		t.Errorf("reported %v, want %v", got, want)
	}
	for id, w := range want {
		if o := got[id]; o.Outcome != w[0] || o.TagStatus != w[1] || o.AccountID != "123456789012" || o.Region != "us-east-1" {
			t.Errorf("%s: %+v, want outcome %s, tag %q, account and region", id, o, w[0], w[1])
		}
	}
}

// Reconcile reports every endpoint it found in Atlas or acted on; only those
// it acted on get a status tag, and a dry run reports nothing.
func TestReportOfReconcile(t *testing.T) {
	t.Parallel()
	rec := &reportRecorder{}
	hs, missing, failedID, available := reconcileSetup(t, nil)
	hs.h.deps.Reporter = rec
	if _, err := hs.invoke([]byte(`{"action":"reconcile","dryRun":true}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 0 {
		t.Fatalf("a dry run reported %+v", rec.calls)
	}
	if _, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := byID(t, rec.only(t))
	want := map[string][2]string{
		missing:     {OutcomeRegistered, TagStatusAvailable},
		failedID:    {OutcomeReRegistered, TagStatusAvailable},
		available:   {OutcomeAlreadyRegistered, ""}, // nothing done: its tags stay
		companionID: {OutcomeOrphan, ""},            // not in EC2: nothing to tag
	}
	if len(got) != len(want) {
		t.Errorf("reported %v, want %v", got, want)
	}
	for id, w := range want {
		o := got[id]
		if o.Outcome != w[0] || o.TagStatus != w[1] || (w[1] != "") != (o.Tagger != nil) || o.Region != "us-east-1" || o.ConnectionStatus == "" {
			t.Errorf("%s: %+v, want outcome %s, tag %q", id, o, w[0], w[1])
		}
		if w[1] != "" && o.AccountID != "123456789012" {
			t.Errorf("%s: account %q, want moto's", id, o.AccountID)
		}
	}
	// Atlas's error of the failed registration it replaced stays known.
	if got[failedID].AtlasError == "" {
		t.Errorf("the re-registered endpoint's earlier Atlas error is lost: %+v", got[failedID])
	}
}

// Which results become outcomes, decided from the results alone.
func TestOutcomesOfResults(t *testing.T) {
	t.Parallel()
	h := New(Config{Region: "eu-west-1"}, Deps{})
	yes, no := true, false
	tests := []struct {
		name string
		res  Result
		err  error
		want []string // "id outcome kind region" of each outcome
	}{
		{"registered", Result{Outcome: OutcomeRegistered, VPCEndpointID: "a", EndpointServiceID: "s"}, nil, []string{"a registered cluster eu-west-1"}},
		{"data federation has no service", Result{Outcome: OutcomeRegistered, VPCEndpointID: "a", Kind: KindDataFederation}, nil, []string{"a registered data-federation eu-west-1"}},
		{"ignored", Result{Outcome: OutcomeIgnored, VPCEndpointID: "a", EndpointServiceID: "s"}, nil, nil},
		{"failed before a service was found", Result{VPCEndpointID: "a"}, &CredentialsError{SecretID: "x"}, nil},
		{"deadline", Result{VPCEndpointID: "a", EndpointServiceID: "s"}, &DeadlineError{EndpointID: "a"}, []string{"a pending cluster eu-west-1"}},
		{"kept", Result{VPCEndpointID: "a", EndpointServiceID: "s"}, &RegistrationFailedError{EndpointID: "a", Kept: true}, []string{"a kept cluster eu-west-1"}},
		{"an Atlas error", Result{VPCEndpointID: "a", EndpointServiceID: "s"}, &AtlasError{Op: "add", EndpointID: "a"}, []string{"a failed cluster eu-west-1"}},
		{"dry run", Result{Outcome: OutcomeReconciled, DryRun: &yes, Endpoints: []EndpointResult{{VPCEndpointID: "a", EndpointServiceID: "s", Outcome: OutcomeWouldRegister}}}, nil, nil},
		{"reconcile", Result{Outcome: OutcomeReconciled, DryRun: &no, Endpoints: []EndpointResult{
			{VPCEndpointID: "a", EndpointServiceID: "s", Outcome: OutcomeOrphan},
			{VPCEndpointID: "b", EndpointServiceID: "s", Outcome: OutcomeIgnored},
			{VPCEndpointID: "c", Kind: KindDataFederation, Outcome: OutcomeRegistered, origin: origin{region: "us-east-2"}},
		}}, nil, []string{"a orphan cluster eu-west-1", "c registered data-federation us-east-2"}},
		{"deregistration", Result{Outcome: OutcomeProcessed, origin: origin{region: "ap-south-1"}, Endpoints: []EndpointResult{
			{VPCEndpointID: "a", EndpointServiceID: "s", Outcome: OutcomeDeregistered},
			{VPCEndpointID: "b", Outcome: OutcomeNotRegistered},
		}}, nil, []string{"a deregistered cluster ap-south-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, o := range h.outcomes(&tt.res, tt.err) {
				got = append(got, fmt.Sprintf("%s %s %s %s", o.VPCEndpointID, o.Outcome, o.Kind, o.Region))
				if o.TagStatus != "" || o.Tagger != nil {
					t.Errorf("%s: tag %q without a lookup that can tag", o.VPCEndpointID, o.TagStatus)
				}
				if tt.err != nil && o.Reason != tt.err.Error() {
					t.Errorf("reason %q, want the error's message", o.Reason)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("outcomes = %q, want %q", got, tt.want)
			}
		})
	}
}

// A Data Federation entry has no endpoint service, and is reported all the
// same: on registration, and when reconcile acts on it.
func TestReportOfDataFederation(t *testing.T) {
	t.Parallel()
	rec := &reportRecorder{}
	hs := newFederationHarness(t, false, harnessOptions{reporter: rec})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	o := rec.only(t)
	if len(o) != 1 || o[0].Kind != KindDataFederation || o[0].ProjectID != dfProject || o[0].EndpointServiceID != "" ||
		o[0].Outcome != OutcomeRegistered || o[0].TagStatus != TagStatusAvailable || o[0].Tagger == nil || o[0].AccountID != "123456789012" {
		t.Fatalf("outcomes = %+v, want the entry registered, to be tagged available", o)
	}

	missing := hs.newEndpoint()
	rec.calls = nil
	if _, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := byID(t, rec.only(t))
	if r := got[missing]; r.Outcome != OutcomeRegistered || r.Kind != KindDataFederation || r.TagStatus != TagStatusAvailable || r.Tagger == nil || r.AccountID != "123456789012" {
		t.Errorf("the entry reconcile registered: %+v", r)
	}
	if r := got[hs.seeded.EndpointID]; r.Outcome != OutcomeAlreadyRegistered || r.TagStatus != "" {
		t.Errorf("the entry reconcile left alone: %+v, want already-registered and no tag", r)
	}
}
