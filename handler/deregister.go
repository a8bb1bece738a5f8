package handler

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler/event"
)

// deregister removes endpoints that were deleted in AWS from their Atlas
// services. EC2 is asked first: an endpoint it still shows as live is kept,
// because the event may be forged, replayed or wrong.
func (h *Handler) deregister(ctx context.Context, lookup EndpointLookup, req event.Request, res *Result) error {
	gone, failed := h.deregisterCheck(ctx, lookup, req, res)
	if len(gone) > 0 {
		var run *deregisterRun
		err := h.withAtlas(ctx, func(apis clients) error {
			var err error
			if run, err = h.deregisterTasks(ctx, apis, lookup, gone, failed, new(bool)); err != nil {
				return err
			}
			drive(ctx, run.tasks)
			return run.collect(failed)
		})
		if err != nil {
			return err
		}
		res.Endpoints = append(res.Endpoints, run.out...)
	}
	return h.deregistered(req, res, failed)
}

// deregisterCheck asks EC2 about each id of a deregistration. It returns the
// ids EC2 confirms gone, which are to be removed from Atlas, and the ids it
// could not ask about; res.Endpoints gets the outcome of every other id.
func (h *Handler) deregisterCheck(ctx context.Context, lookup EndpointLookup, req event.Request, res *Result) (gone []string, failed map[string]error) {
	res.Outcome = OutcomeProcessed
	res.Endpoints = []EndpointResult{}
	failed = map[string]error{}
	for _, id := range req.EndpointIDs {
		r := EndpointResult{VPCEndpointID: id}
		ep, err := lookup.DescribeEndpoint(ctx, id)
		switch {
		case errors.Is(err, awsvpc.ErrEndpointNotFound):
			gone = append(gone, id)
			continue
		case err != nil:
			failed[id] = h.lookupErr(id, req.Account, err)
			r.Outcome, r.Reason = OutcomeFailed, failed[id].Error()
		case optedOut(ep) != "":
			r.Outcome, r.Reason = OutcomeIgnored, optedOut(ep)
		case deletedStates[strings.ToLower(ep.State)]:
			gone = append(gone, id)
			continue
		default:
			r.Outcome, r.Reason = OutcomeKept, "EC2 still shows it as "+ep.State+"; only endpoints deleted in AWS are deregistered"
		}
		res.Endpoints = append(res.Endpoints, r)
	}
	return gone, failed
}

// deregistered completes a deregistration's result: the skipped ids, the
// counts, and a DeregistrationError naming each id that failed.
func (h *Handler) deregistered(req event.Request, res *Result, failed map[string]error) error {
	for _, s := range req.Skipped {
		res.Endpoints = append(res.Endpoints, EndpointResult{VPCEndpointID: s.ID, Outcome: OutcomeIgnored, Reason: s.Reason})
	}
	res.Counts = countOutcomes(res.Endpoints)
	if len(failed) > 0 {
		return &DeregistrationError{ProjectID: h.projects(), Failed: failed}
	}
	return nil
}

// deletedStates are the EC2 states of an endpoint that is going or gone.
var deletedStates = map[string]bool{"deleting": true, "deleted": true}

// deregisterRun is the Atlas side of one deregistration: the ids no service
// lists (out) and a task for each of the others.
type deregisterRun struct {
	out   []EndpointResult
	tasks []*task
}

// deregisterTasks finds the service that lists each endpoint and makes the
// task that removes it there. It returns an error only for what stops the
// whole deregistration (the service list could not be read). refreshed is
// shared by one invocation's lookups, as in findService.
func (h *Handler) deregisterTasks(ctx context.Context, apis clients, lookup EndpointLookup, ids []string, failed map[string]error, refreshed *bool) (*deregisterRun, error) {
	run := &deregisterRun{}
	for _, id := range ids {
		delete(failed, id) // withAtlas may run this twice
	}
	for _, id := range ids {
		svc, err := h.serviceHolding(withEndpoint(ctx, id), apis, id, refreshed)
		if err != nil {
			return nil, err
		}
		if svc == nil {
			listed, err := h.federationLists(withEndpoint(ctx, id), apis, id)
			if err != nil {
				return nil, err
			}
			if listed {
				t := h.newFederationTask(apis, nil, id, startDeregister)
				t.ec2 = lookup
				run.tasks = append(run.tasks, t)
				continue
			}
			run.out = append(run.out, EndpointResult{VPCEndpointID: id, Outcome: OutcomeNotRegistered,
				Reason: "no Atlas endpoint service in project " + h.projects() + " lists it" + h.federationNotListed()})
			continue
		}
		t := h.newTask(apis[svc.project], svc.project, svc.ID, id, startDeregister)
		t.ec2 = lookup
		run.tasks = append(run.tasks, t)
	}
	return run, nil
}

// collect adds each task's outcome to run.out after drive, and failures to
// failed. Rejected credentials are returned, so that withAtlas can fetch
// them again and run the whole deregistration once more.
func (run *deregisterRun) collect(failed map[string]error) error {
	for _, t := range run.tasks {
		r := EndpointResult{VPCEndpointID: t.endpointID, ProjectID: t.project, EndpointServiceID: t.serviceID, Outcome: t.outcome, Reason: t.reason, Kind: t.kind()}
		if err := t.result(); err != nil {
			if errors.Is(err, atlas.ErrUnauthorized) {
				return err
			}
			failed[t.endpointID] = err
			r.Outcome, r.Reason = OutcomeFailed, err.Error()
		}
		run.out = append(run.out, r)
	}
	return nil
}

// result is the task's error, counting one the deadline stopped as failed.
func (t *task) result() error {
	if !t.done {
		return t.deadlineErr(t.phase)
	}
	return t.err
}

// serviceHolding returns the cached endpoint service whose interfaceEndpoints
// lists id, and its project, refreshing the cache at most once per
// invocation on a miss.
func (h *Handler) serviceHolding(ctx context.Context, apis clients, id string, refreshed *bool) (*located, error) {
	find := func() *located {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, ls := range h.services {
			for _, l := range ls {
				if slices.Contains(l.InterfaceEndpoints, id) {
					return &l
				}
			}
		}
		return nil
	}
	if s := find(); s != nil || *refreshed {
		return s, nil
	}
	*refreshed = true
	if _, err := h.refreshServices(ctx, apis); err != nil {
		return nil, err
	}
	return find(), nil
}

// countOutcomes counts endpoints by outcome.
func countOutcomes(rs []EndpointResult) map[string]int {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Outcome]++
	}
	return counts
}
