package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// lifecycleStep is one step of the lifecycle scenario: something happens in
// AWS (or does not), then the function is invoked with a payload, and the
// endpoint named by check must end with the outcome want.
type lifecycleStep struct {
	title   string
	prepare func(ctx context.Context) error
	payload func() ([]byte, error)
	check   func() string // the endpoint whose outcome is checked
	want    string
}

// runLifecycle plays an endpoint's whole life against a running stack:
// registration by its create event, a second endpoint so that the service
// keeps one, deregistration by the delete event after the endpoint is
// deleted in EC2, and reconcile (a dry run, then a real run) finding an
// endpoint whose create event never came. It prints each result and the
// Atlas side, and fails unless every step ends as expected.
func runLifecycle(ctx context.Context, s *localstack.Stack, con *console, eventsDir string) error {
	var second, missed string
	sample := func(name string) func() ([]byte, error) {
		return func() ([]byte, error) {
			raw, err := os.ReadFile(filepath.Join(eventsDir, name))
			if err != nil {
				return nil, err
			}
			out, _, err := s.RewriteSample(raw)
			return out, err
		}
	}
	manual := func(v any) func() ([]byte, error) { return func() ([]byte, error) { return json.Marshal(v) } }
	seeded := func() string { return s.EndpointID }
	steps := []lifecycleStep{
		{
			title: "the seeded endpoint's create event registers it", payload: sample("create-vpc-endpoint.json"),
			check: seeded, want: handler.OutcomeRegistered,
		},
		{
			title: "a second endpoint is created in EC2 and registered by hand",
			prepare: func(ctx context.Context) (err error) {
				second, err = s.NewEndpoint(ctx)
				return err
			},
			payload: func() ([]byte, error) { return manual(map[string]string{"vpcEndpointId": second})() },
			check:   func() string { return second }, want: handler.OutcomeRegistered,
		},
		{
			title:   "the seeded endpoint is deleted in EC2, and its delete event deregisters it",
			prepare: func(ctx context.Context) error { return s.DeleteEndpoint(ctx, s.EndpointID) },
			payload: sample("delete-vpc-endpoints.json"),
			check:   seeded, want: handler.OutcomeDeregistered,
		},
		{
			title: "a third endpoint is created and its event is lost; a reconcile dry run finds it",
			prepare: func(ctx context.Context) (err error) {
				missed, err = s.NewEndpoint(ctx)
				return err
			},
			payload: manual(map[string]any{"action": "reconcile", "dryRun": true}),
			check:   func() string { return missed }, want: handler.OutcomeWouldRegister,
		},
		{
			title:   "reconcile registers it",
			payload: manual(map[string]string{"action": "reconcile"}),
			check:   func() string { return missed }, want: handler.OutcomeRegistered,
		},
	}
	return runSteps(ctx, s, con, steps, printServiceState)
}

// runSteps plays steps against a running stack, prints each result and then
// the Atlas side with state, and fails unless every step ends as expected.
func runSteps(ctx context.Context, s *localstack.Stack, con *console, steps []lifecycleStep, state func(io.Writer, *localstack.Stack)) error {
	failures := 0
	for i, st := range steps {
		con.line("local", fmt.Sprintf("step %d: %s", i+1, st.title))
		if st.prepare != nil {
			if err := st.prepare(ctx); err != nil {
				return err
			}
		}
		payload, err := st.payload()
		if err != nil {
			return err
		}
		body, invokeErr := s.Invoke(ctx, payload)
		if ctx.Err() != nil {
			return interrupted(ctx, invokeErr)
		}
		got := outcomeOf(body, st.check())
		con.block(func(out io.Writer) {
			printResult(out, body, invokeErr)
			if invokeErr != nil || got != st.want {
				failures++
				fmt.Fprintf(out, "FAIL  step %d: %s: outcome %q, want %q\n\n", i+1, st.check(), got, st.want)
				return
			}
			fmt.Fprintf(out, "OK    step %d: %s: outcome %q, as expected\n\n", i+1, st.check(), got)
		})
	}
	con.block(func(out io.Writer) { state(out, s) })
	if failures > 0 {
		return exitCode(1)
	}
	return nil
}

// outcomeOf reads an endpoint's outcome from a result: the registration's
// own, or its entry in a deregistration or reconcile run.
func outcomeOf(body []byte, id string) string {
	var res handler.Result
	if json.Unmarshal(body, &res) != nil {
		return ""
	}
	if res.Endpoints == nil {
		return res.Outcome
	}
	if i := slices.IndexFunc(res.Endpoints, func(e handler.EndpointResult) bool { return e.VPCEndpointID == id }); i >= 0 {
		return res.Endpoints[i].Outcome
	}
	return ""
}

// printServiceState lists every interface endpoint of the stack's service.
func printServiceState(out io.Writer, s *localstack.Stack) {
	fmt.Fprintln(out, "Atlas (the fake) now:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, svc := range s.Fake.Services() {
		fmt.Fprintf(tw, "  endpoint service\t%s  %s  %s\n", svc.ID, svc.Status, svc.EndpointServiceName)
		for _, id := range svc.InterfaceEndpoints {
			ie, _ := s.Fake.Endpoint(svc.ID, id)
			fmt.Fprintf(tw, "  interface endpoint\t%s  %s\n", id, ie.ConnectionStatus)
		}
	}
	if len(s.Fake.Services()) == 0 {
		fmt.Fprintf(tw, "  no endpoint service (%s was removed)\n", atlastest.DefaultServiceID)
	}
	_ = tw.Flush()
}

// runDataFederation plays a Data Federation endpoint's life: created in EC2
// toward MongoDB's Data Federation service, registered in the project's
// Data Federation list by its create event, untouched by the same event
// delivered again, and removed by its delete event once EC2 has deleted it.
// The stack runs with ATLAS_DATA_FEDERATION_PROJECT_ID set to its project.
func runDataFederation(ctx context.Context, s *localstack.Stack, con *console, eventsDir string) error {
	var id string
	sample := func(name string) func() ([]byte, error) {
		return func() ([]byte, error) {
			raw, err := os.ReadFile(filepath.Join(eventsDir, name))
			if err != nil {
				return nil, err
			}
			// The sample's placeholder would become the seeded cluster
			// endpoint; an explicit id passes through.
			raw = bytes.ReplaceAll(raw, []byte(sampleEndpointID), []byte(id))
			out, _, err := s.RewriteSample(raw)
			return out, err
		}
	}
	endpoint := func() string { return id }
	steps := []lifecycleStep{
		{
			title: "an endpoint toward MongoDB's Data Federation service is created in EC2; its create event",
			prepare: func(ctx context.Context) error {
				cfg, err := s.Moto.AWSConfig(ctx)
				if err != nil {
					return err
				}
				id, err = motoserver.CreateEndpoint(ctx, cfg, s.VPCID, s.SubnetIDs, localstack.SampleDataFederationServiceName, "Interface")
				return err
			},
			payload: sample("create-vpc-endpoint-data-federation.json"),
			check:   endpoint, want: handler.OutcomeRegistered,
		},
		{
			title:   "the same create event, delivered again",
			payload: sample("create-vpc-endpoint-data-federation.json"),
			check:   endpoint, want: handler.OutcomeAlreadyRegistered,
		},
		{
			title:   "the endpoint is deleted in EC2; its delete event",
			prepare: func(ctx context.Context) error { return s.DeleteEndpoint(ctx, id) },
			payload: sample("delete-vpc-endpoints.json"),
			check:   endpoint, want: handler.OutcomeDeregistered,
		},
	}
	return runSteps(ctx, s, con, steps, printFederationState)
}

// sampleEndpointID is the first placeholder endpoint id of the sample events.
const sampleEndpointID = "vpce-0a1b2c3d4e5f60718"

// printFederationState lists the project's Data Federation endpoint list.
func printFederationState(out io.Writer, s *localstack.Stack) {
	fmt.Fprintln(out, "Atlas (the fake) now, Data Federation endpoint list of project "+s.ProjectID+":")
	list := s.Fake.DataFederationEndpoints(s.ProjectID)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, e := range list {
		fmt.Fprintf(tw, "  endpoint\t%s  %s  %s  %s\n", e.EndpointID, e.Status, e.Region, e.CustomerEndpointDNSName)
	}
	if len(list) == 0 {
		fmt.Fprintln(tw, "  empty")
	}
	_ = tw.Flush()
}
