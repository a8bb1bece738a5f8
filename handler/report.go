package handler

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// Endpoint owners often sit in member accounts and cannot read the
// function's logs. Once an invocation's outcomes are logged, the handler
// hands them to a Reporter (package feedback), which publishes them as
// events and, where opted in, writes a status on each endpoint. Single
// events, batches, deregistrations and reconcile runs all pass through
// report, from Handle and reportBatch, where their outcome lines are written.

// Reporter tells endpoint owners what happened to their endpoints. It runs
// after the outcomes are final and logged; it must not fail the invocation,
// so it logs its own failures and returns nothing.
type Reporter interface {
	Report(ctx context.Context, outcomes []EndpointOutcome)
}

// EndpointTagger writes tags on a VPC endpoint, in the endpoint's own account
// and region; *awsvpc.Endpoints is one. An EndpointLookup that is also an
// EndpointTagger can tag the endpoints it finds.
type EndpointTagger interface {
	TagEndpoint(ctx context.Context, id string, tags map[string]string) error
}

// The statuses an endpoint's status tag takes (EndpointOutcome.TagStatus).
const (
	TagStatusAvailable = "available" // registered, AVAILABLE in Atlas
	TagStatusPending   = "pending"   // the deadline came before Atlas settled
	TagStatusFailed    = "failed"    // Atlas (or the way to it) refused the registration
	TagStatusKept      = "kept"      // failed in Atlas, kept so its service is not removed
)

// EndpointOutcome is one endpoint's outcome as a Reporter gets it: every
// endpoint an invocation matched to an Atlas endpoint service (or, for
// KindDataFederation, to the project's Data Federation list). Ignored
// endpoints, endpoints never matched to a service (the invocation failed
// before: its error is the operator's), and dry runs are not reported.
type EndpointOutcome struct {
	VPCEndpointID     string
	AccountID         string // "" when unknown: an orphan, or an invocation that named none
	Region            string
	ProjectID         string
	EndpointServiceID string
	Kind              string // KindCluster or KindDataFederation
	Outcome           string // a result's outcome; after an error failed, kept or pending
	ConnectionStatus  string // Atlas's last connectionStatus, if read
	Reason            string
	Warnings          []Warning
	AtlasError        string // Atlas's errorMessage for the endpoint, if it gave one

	// TagStatus is the status to write on the endpoint, or "" to leave its
	// tags alone: only after a registration attempt or a reconcile action
	// on an endpoint that exists in EC2.
	TagStatus string
	// Tagger reaches the endpoint's account and region; nil when it cannot.
	Tagger EndpointTagger
}

// origin is what a report needs about an endpoint beyond its result. It is
// unexported, so results marshal as before.
type origin struct {
	account, region string
	lookup          EndpointLookup // where EC2 showed the endpoint; nil: not found there
	status          string         // an EndpointResult's last Atlas connectionStatus
	atlasError      string         // Atlas's last errorMessage for the endpoint
	acted           bool           // reconcile acted on it, or kept a failed entry
}

// report hands an invocation's outcomes to the Reporter, if there is one.
// An endpoint that several records of a batch name (EventBridge delivered
// its event twice) shares one task, so it is reported once.
func (h *Handler) report(ctx context.Context, outs []EndpointOutcome) {
	if h.deps.Reporter == nil || len(outs) == 0 {
		return
	}
	seen := map[[2]string]bool{}
	outs = slices.DeleteFunc(outs, func(o EndpointOutcome) bool {
		k := [2]string{o.EndpointServiceID, o.VPCEndpointID}
		dup := seen[k]
		seen[k] = true
		return dup
	})
	// A slow EventBridge or EC2 must not cost the invocation its answer: a
	// Lambda timeout would fail the whole batch and deliver it again. The
	// report gets the time left before the deadline, less reportReserve to
	// return the result; the SDK's own retries stop there.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reportReserve))
		defer cancel()
	}
	h.deps.Reporter.Report(ctx, outs)
}

// reportReserve is the time a report leaves before the Lambda deadline, for
// the function to return its result.
const reportReserve = time.Second

// outcomes lists what res (and err, its invocation's error) says about each
// endpoint, for report.
func (h *Handler) outcomes(res *Result, err error) []EndpointOutcome {
	if res.DryRun != nil && *res.DryRun {
		return nil // a plan, not outcomes: its answer is the result
	}
	reconcile := res.DryRun != nil
	if res.Endpoints != nil || res.Counts != nil {
		var outs []EndpointOutcome
		for _, e := range res.Endpoints {
			if e.Outcome == OutcomeIgnored || !inAtlas(e.EndpointServiceID, e.Kind) {
				continue
			}
			o := h.outcome(e.VPCEndpointID, e.ProjectID, e.EndpointServiceID, e.Kind, e.Outcome, e.origin.status, e.Reason, e.Warnings, e.origin, res.origin)
			if reconcile && e.origin.acted {
				o.tag(e.origin.lookup)
			}
			outs = append(outs, o)
		}
		return outs
	}
	if !inAtlas(res.EndpointServiceID, res.Kind) || err == nil && res.Outcome == OutcomeIgnored {
		return nil
	}
	outcome, reason := res.Outcome, res.Reason
	if err != nil {
		outcome, reason = failedOutcome(err), err.Error()
	}
	o := h.outcome(res.VPCEndpointID, res.ProjectID, res.EndpointServiceID, res.Kind, outcome, res.ConnectionStatus, reason, res.Warnings, res.origin, origin{})
	o.tag(res.origin.lookup)
	return []EndpointOutcome{o}
}

func (h *Handler) outcome(id, project, service, kind, outcome, status, reason string, warnings []Warning, at, def origin) EndpointOutcome {
	return EndpointOutcome{
		VPCEndpointID: id, ProjectID: project, EndpointServiceID: service,
		AccountID: cmp.Or(at.account, def.account), Region: cmp.Or(at.region, def.region, h.cfg.Region),
		Kind: cmp.Or(kind, KindCluster), Outcome: outcome, ConnectionStatus: status, Reason: reason,
		Warnings: warnings, AtlasError: at.atlasError,
	}
}

// tag marks the outcome for a status tag, if it has one and the endpoint
// can be reached in EC2.
func (o *EndpointOutcome) tag(lookup EndpointLookup) {
	tagger, ok := lookup.(EndpointTagger)
	if !ok {
		return
	}
	switch o.Outcome {
	case OutcomeRegistered, OutcomeAlreadyRegistered, OutcomeReRegistered:
		o.TagStatus = TagStatusAvailable
	case OutcomePending:
		o.TagStatus = TagStatusPending
	case OutcomeFailed:
		o.TagStatus = TagStatusFailed
	case OutcomeKept:
		o.TagStatus = TagStatusKept
	default:
		return
	}
	o.Tagger = tagger
}

// inAtlas says whether an endpoint was matched to its place in Atlas: an
// endpoint service, or the project's Data Federation list, which has no
// service.
func inAtlas(serviceID, kind string) bool {
	return serviceID != "" || kind == KindDataFederation
}

// failedOutcome is the outcome reported for an endpoint whose registration
// ended in err: kept (a failed entry kept to protect its service), pending
// (the deadline came first; a retry resumes) or failed.
func failedOutcome(err error) string {
	if rf, ok := errors.AsType[*RegistrationFailedError](err); ok && rf.Kept {
		return OutcomeKept
	}
	if _, ok := errors.AsType[*DeadlineError](err); ok {
		return OutcomePending
	}
	return OutcomeFailed
}
