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
	res.Outcome = OutcomeProcessed
	res.Endpoints = []EndpointResult{}
	failed := map[string]error{}
	var gone []string
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

	if len(gone) > 0 {
		var atlasResults []EndpointResult
		err := h.withAtlas(ctx, func(apis clients) error {
			var err error
			atlasResults, err = h.deregisterInAtlas(ctx, apis, lookup, gone, failed)
			return err
		})
		if err != nil {
			return err
		}
		res.Endpoints = append(res.Endpoints, atlasResults...)
	}
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

// deregisterInAtlas finds the service that lists each endpoint and removes it
// there, all endpoints in one loop. Failures are added to failed. It returns
// an error only for what stops the whole run, and for rejected credentials,
// so that withAtlas can fetch them again.
func (h *Handler) deregisterInAtlas(ctx context.Context, apis clients, lookup EndpointLookup, ids []string, failed map[string]error) ([]EndpointResult, error) {
	var (
		out       []EndpointResult
		tasks     []*task
		refreshed bool
	)
	for _, id := range ids {
		delete(failed, id) // withAtlas may run this twice
	}
	for _, id := range ids {
		svc, err := h.serviceHolding(withEndpoint(ctx, id), apis, id, &refreshed)
		if err != nil {
			return nil, err
		}
		if svc == nil {
			out = append(out, EndpointResult{VPCEndpointID: id, Outcome: OutcomeNotRegistered,
				Reason: "no Atlas endpoint service in project " + h.projects() + " lists it"})
			continue
		}
		t := h.newTask(apis[svc.project], svc.project, svc.ID, id, startDeregister)
		t.ec2 = lookup
		tasks = append(tasks, t)
	}
	drive(ctx, tasks)
	for _, t := range tasks {
		r := EndpointResult{VPCEndpointID: t.endpointID, ProjectID: t.project, EndpointServiceID: t.serviceID, Outcome: t.outcome, Reason: t.reason}
		if err := t.result(); err != nil {
			if errors.Is(err, atlas.ErrUnauthorized) {
				return nil, err
			}
			failed[t.endpointID] = err
			r.Outcome, r.Reason = OutcomeFailed, err.Error()
		}
		out = append(out, r)
	}
	return out, nil
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
