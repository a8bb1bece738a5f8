package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/feedback"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// What an endpoint's owners see, through the real binary: a member
// account's endpoint, once registered, carries its status tags in the
// member account, and a rule on the registrar's bus receives its outcome.
func TestE2EOwnerFeedback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bus := motoserver.UniqueName("registrar")
	s := startStack(t, localstack.Options{ServiceName: uniqueName(t), Env: []string{
		"ALLOWED_ACCOUNT_IDS=" + memberAccount, "OUTCOME_EVENT_BUS=" + bus, "ENDPOINT_STATUS_TAGS=true",
	}})
	queue, err := motoserver.BusQueue(ctx, awsConfig(t, s), bus, `{"source":["atlas-vpce-registrar"],"detail-type":["Atlas Endpoint Outcome"]}`)
	if err != nil {
		t.Fatal(err)
	}
	id := seedMember(t, s)
	start := time.Now().UTC().Truncate(time.Second)
	if res := invoke(t, s, createFrom(id, memberAccount)); res.Outcome != handler.OutcomeRegistered {
		t.Fatalf("result %+v, want registered", res)
	}

	tags, err := motoserver.EndpointTags(ctx, memberConfig(t, s), id)
	if err != nil {
		t.Fatalf("in the member account: %v", err)
	}
	if tags[feedback.TagStatus] != handler.TagStatusAvailable || tags[feedback.TagProject] != s.ProjectID || tags[feedback.TagMessage] == "" {
		t.Errorf("tags in the member account = %v, want status available, project %s and a message", tags, s.ProjectID)
	}
	if at, err := time.Parse(time.RFC3339, tags[feedback.TagUpdated]); err != nil || at.Before(start) || at.Location() != time.UTC {
		t.Errorf("%s = %q, want RFC 3339 in UTC, not before %s", feedback.TagUpdated, tags[feedback.TagUpdated], start)
	}

	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	bodies, err := motoserver.Receive(rctx, awsConfig(t, s), queue, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Detail feedback.Detail `json:"detail"`
	}
	if err := json.Unmarshal([]byte(bodies[0]), &ev); err != nil {
		t.Fatal(err)
	}
	want := feedback.Detail{VPCEndpointID: id, AccountID: memberAccount, Region: "us-east-1", ProjectID: s.ProjectID,
		EndpointServiceID: s.EndpointServiceID, Kind: handler.KindCluster, Outcome: handler.OutcomeRegistered,
		ConnectionStatus: atlas.StatusAvailable, Warnings: ev.Detail.Warnings}
	if ev.Detail.Warnings == nil || ev.Detail.Reason != "" || !equalDetail(ev.Detail, want) {
		t.Errorf("event detail = %+v, want %+v", ev.Detail, want)
	}

	// An endpoint in one zone behind a group that allows 27017 only: its
	// owners read the warnings' codes in its tag, and the warnings in the event.
	if res := invoke(t, s, fixture(t, s, "manual-register-narrow-group.json")); res.Outcome != handler.OutcomeRegistered || len(res.Warnings) == 0 {
		t.Fatalf("result %+v, want registered with warnings", res)
	}
	tags, err = motoserver.EndpointTags(ctx, awsConfig(t, s), s.NarrowEndpointID)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{handler.WarningSecurityGroupPorts, handler.WarningSingleZone} {
		if !strings.Contains(tags[feedback.TagMessage], code) {
			t.Errorf("%s = %q, want the code %s", feedback.TagMessage, tags[feedback.TagMessage], code)
		}
	}
	if bodies, err = motoserver.Receive(rctx, awsConfig(t, s), queue, 1); err != nil {
		t.Fatal(err)
	}
	ev.Detail = feedback.Detail{}
	if err := json.Unmarshal([]byte(bodies[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Detail.VPCEndpointID != s.NarrowEndpointID || len(ev.Detail.Warnings) != 2 {
		t.Errorf("event detail = %+v, want the narrow endpoint with its two warnings", ev.Detail)
	}
}

func equalDetail(a, b feedback.Detail) bool {
	a.Warnings, b.Warnings = nil, nil
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
