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
func (h *Handler) deregister(ctx context.Context, req event.Request, res *Result) error {
	res.Outcome = OutcomeProcessed
	res.Endpoints = []EndpointResult{}
	ctx, cancel, err := h.workContext(ctx, strings.Join(req.EndpointIDs, ","))
	if err != nil {
		return err
	}
	defer cancel()

	failed := map[string]error{}
	var gone []string
	for _, id := range req.EndpointIDs {
		r := EndpointResult{VPCEndpointID: id}
		ep, err := h.deps.Endpoints.DescribeEndpoint(ctx, id)
		switch {
		case errors.Is(err, awsvpc.ErrEndpointNotFound):
			gone = append(gone, id)
			continue
		case err != nil:
			failed[id] = &LookupError{EndpointID: id, Err: err}
			r.Outcome, r.Reason = OutcomeFailed, failed[id].Error()
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
		err := h.withAtlas(ctx, func(api AtlasAPI) error {
			var err error
			atlasResults, err = h.deregisterInAtlas(ctx, api, gone, failed)
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
		return &DeregistrationError{ProjectID: h.cfg.ProjectID, Failed: failed}
	}
	return nil
}

// deletedStates are the EC2 states of an endpoint that is going or gone.
var deletedStates = map[string]bool{"deleting": true, "deleted": true}

// deregisterInAtlas finds the service that lists each endpoint and removes it
// there, all endpoints in one loop. Failures are added to failed. It returns
// an error only for what stops the whole run, and for rejected credentials,
// so that withAtlas can fetch them again.
func (h *Handler) deregisterInAtlas(ctx context.Context, api AtlasAPI, ids []string, failed map[string]error) ([]EndpointResult, error) {
	var (
		out       []EndpointResult
		tasks     []*task
		refreshed bool
	)
	for _, id := range ids {
		delete(failed, id) // withAtlas may run this twice
	}
	for _, id := range ids {
		svc, err := h.serviceHolding(ctx, api, id, &refreshed)
		if err != nil {
			return nil, atlasFailure("list endpoint services", id, h.cfg.ProjectID, err)
		}
		if svc == nil {
			out = append(out, EndpointResult{VPCEndpointID: id, Outcome: OutcomeNotRegistered,
				Reason: "no Atlas endpoint service in project " + h.cfg.ProjectID + " lists it"})
			continue
		}
		tasks = append(tasks, h.newTask(api, svc.ID, id, startDeregister))
	}
	drive(ctx, tasks)
	for _, t := range tasks {
		r := EndpointResult{VPCEndpointID: t.endpointID, EndpointServiceID: t.serviceID, Outcome: t.outcome, Reason: t.reason}
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
// lists id, refreshing the cache at most once per invocation on a miss.
func (h *Handler) serviceHolding(ctx context.Context, api AtlasAPI, id string, refreshed *bool) (*atlas.EndpointService, error) {
	find := func() *atlas.EndpointService {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, s := range h.services {
			if slices.Contains(s.InterfaceEndpoints, id) {
				return &s
			}
		}
		return nil
	}
	if s := find(); s != nil || *refreshed {
		return s, nil
	}
	*refreshed = true
	if _, err := h.refreshServices(ctx, api); err != nil {
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
