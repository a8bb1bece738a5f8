package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
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

// guard reads the endpoint's service and decides whether deleting the
// endpoint is safe, that is, whether the service is sure to keep another
// endpoint. It reads the other endpoints until it finds one that settles it:
//
//   - An endpoint that is gone, being deleted or failed in Atlas keeps
//     nothing alive: it may be deleted itself (two failed endpoints, each
//     handled by its own invocation, must not delete each other's last
//     companion).
//   - One that is live in Atlas and live in EC2 keeps the service: delete.
//   - One that is live in Atlas but deleted in EC2, or unknown to EC2 (it
//     may be in another account), may be deregistered by a concurrent
//     invocation. Of these departing endpoints, the one with the greatest id
//     is the keeper: every invocation picks the same one and leaves it, so
//     that deregistering all of a service's endpoints at once (one event
//     with several ids, or a terraform destroy's parallel calls) leaves one.
//
// With ATLAS_ALLOW_SERVICE_REMOVAL the other endpoints are not read.
func (t *task) guard(ctx context.Context) (verdict, error) {
	if t.fed != nil {
		return verdictDelete, nil // the service is MongoDB's: nothing of the project's to protect
	}
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
	keeper := ""
	if t.deregistering {
		keeper = t.endpointID
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
		live, err := t.liveInEC2(ctx, id)
		if err != nil {
			return 0, &LookupError{EndpointID: id, Err: fmt.Errorf("check the other endpoints of service %s before deleting %s: %w", t.serviceID, t.endpointID, err)}
		}
		if live {
			return verdictDelete, nil
		}
		keeper = max(keeper, id)
	}
	if keeper != "" && keeper != t.endpointID {
		return verdictDelete, nil
	}
	t.lastOne = true
	return verdictKeep, nil
}

// liveInEC2 reports whether EC2 shows the endpoint in a live state, in the
// task's account and region. An endpoint EC2 does not know there counts as
// not live, as deregistration treats it.
func (t *task) liveInEC2(ctx context.Context, id string) (bool, error) {
	lookup := t.ec2
	if lookup == nil {
		lookup = t.h.deps.Endpoints
	}
	ep, err := lookup.DescribeEndpoint(ctx, id)
	switch {
	case errors.Is(err, awsvpc.ErrEndpointNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return slices.Contains(awsvpc.LiveStates, ep.State), nil
}

// afterGone runs once a deleted endpoint reads 404: it checks that the
// service is still there before anything is posted into it again.
func (t *task) afterGone(ctx context.Context, then func(context.Context)) {
	if t.fed != nil {
		then(ctx)
		return
	}
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
		EndpointID: t.endpointID, ProjectID: t.project, ServiceID: t.serviceID,
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
