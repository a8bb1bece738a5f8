package handler

import (
	"context"
	"errors"
	"slices"

	"github.com/atlasvpce/registrar/atlas"
)

// Atlas's reference for deleting an interface endpoint says: "When the last
// private endpoint is removed from a given private endpoint service, that
// private endpoint service is also removed." A new service gets a new
// vpce-svc name, so every VPC endpoint that points at the old one would be
// dead. So every delete this function makes is preceded by guard, which reads
// the service, and followed by afterGone, which checks that it survived.

// verdict is what guard decides about deleting an endpoint.
type verdict int

const (
	verdictDelete      verdict = iota // another live endpoint keeps the service, or removal is allowed
	verdictKeep                       // deleting it could remove the service: keep it
	verdictAbsent                     // the service does not list it: nothing to delete
	verdictServiceGone                // the service is gone or being deleted
)

// guard reads the endpoint's service and decides whether deleting the endpoint
// is safe. It is safe when the service lists another endpoint that is live:
// present, not being deleted and not failed. Counting only live endpoints
// keeps two failed endpoints of one service, each handled by its own
// invocation, from deleting each other's last companion. With
// ATLAS_ALLOW_SERVICE_REMOVAL the other endpoints are not read.
func (t *task) guard(ctx context.Context) (verdict, error) {
	svc, err := t.api.GetEndpointService(ctx, t.serviceID)
	switch {
	case errors.Is(err, atlas.ErrNotFound):
		return verdictServiceGone, nil
	case err != nil:
		return 0, t.atlasErr("get endpoint service (before deleting)", err)
	case svc.Status == atlas.StatusDeleting:
		return verdictServiceGone, nil
	case !slices.Contains(svc.InterfaceEndpoints, t.endpointID):
		return verdictAbsent, nil
	}
	others := slices.DeleteFunc(slices.Clone(svc.InterfaceEndpoints), func(id string) bool { return id == t.endpointID })
	if t.h.cfg.AllowServiceRemoval {
		t.lastOne = len(others) == 0
		return verdictDelete, nil
	}
	for _, id := range others {
		ie, err := t.api.GetInterfaceEndpoint(ctx, t.serviceID, id)
		switch {
		case errors.Is(err, atlas.ErrNotFound):
			continue
		case err != nil:
			return 0, t.atlasErr("get interface endpoint "+id+" (before deleting)", err)
		case ie.ConnectionStatus == atlas.StatusDeleting || ie.DeleteRequested || failed(ie):
			continue
		}
		return verdictDelete, nil
	}
	t.lastOne = true
	return verdictKeep, nil
}

// afterGone runs once a deleted endpoint reads 404: it checks that the
// service is still there before anything is posted into it again.
func (t *task) afterGone(ctx context.Context, then func(context.Context)) {
	svc, err := t.api.GetEndpointService(ctx, t.serviceID)
	switch {
	case errors.Is(err, atlas.ErrNotFound) || (err == nil && svc.Status == atlas.StatusDeleting):
		if t.deregistering && t.lastOne && t.h.cfg.AllowServiceRemoval {
			// Expected, and allowed: the endpoint is gone from AWS and from Atlas.
			t.h.forgetService(t.serviceID)
			t.finish(OutcomeDeregistered, "it was the last endpoint of endpoint service "+t.serviceID+
				", which Atlas removed with it, as ATLAS_ALLOW_SERVICE_REMOVAL=true allows")
			return
		}
		t.fail(t.serviceRemoved(true))
	case err != nil:
		t.fail(t.atlasErr("get endpoint service (after deleting)", err))
	default:
		then(ctx)
	}
}

// serviceRemoved drops the service from the container's cache and reports it.
func (t *task) serviceRemoved(afterDelete bool) error {
	name := t.h.forgetService(t.serviceID)
	return &EndpointServiceRemovedError{
		EndpointID: t.endpointID, ProjectID: t.h.cfg.ProjectID, ServiceID: t.serviceID,
		ServiceName: name, AfterDelete: afterDelete,
	}
}

// deregister removes an endpoint that is gone from AWS from its service.
func (t *task) deregister(ctx context.Context) {
	t.phase = phaseGone
	v, err := t.guard(ctx)
	switch {
	case err != nil:
		t.fail(err)
	case v == verdictServiceGone:
		t.h.forgetService(t.serviceID)
		t.finish(OutcomeNotRegistered, "its endpoint service "+t.serviceID+" is gone or being deleted in Atlas")
	case v == verdictAbsent:
		t.finish(OutcomeNotRegistered, "endpoint service "+t.serviceID+" does not list it")
	case v == verdictKeep:
		t.finish(OutcomeKept, keptReason(t.serviceID))
	default:
		t.delete(ctx, func(context.Context) { t.finish(OutcomeDeregistered, "") })
	}
}

// keptReason explains a deletion the guard refused, and what a person can do.
func keptReason(serviceID string) string {
	return "it is the last live endpoint of Atlas endpoint service " + serviceID +
		", and Atlas removes a service with its last endpoint; it was kept. To remove it anyway, " +
		"delete it in Atlas by hand, or deploy with AllowServiceRemoval=true (ATLAS_ALLOW_SERVICE_REMOVAL)"
}
