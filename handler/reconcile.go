package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
)

// Reconcile catches what events missed: endpoints created before the
// function was deployed, events that expired in the failure queue, trails
// that were off. It reads both sides first, plans, and then (unless it is a
// dry run) acts on the plan, so a dry run reports exactly what a real run
// does next. Every write goes through the same tasks as events do.

// planned is one endpoint in a reconcile plan.
type planned struct {
	EndpointResult
	start func(*task) func(context.Context) // nil: nothing to do
	// done is the outcome the action reports when it succeeds.
	done   string
	ec2    EndpointLookup // the account and region the endpoint was found in
	place  string         // that account and region, to share reads among its endpoints
	ep     awsvpc.Endpoint
	orphan bool // in Atlas with no live VPC endpoint in the accounts searched
}

func (h *Handler) reconcile(ctx context.Context, dryRun bool, res *Result) error {
	res.Outcome, res.DryRun = OutcomeReconciled, &dryRun
	ctx, cancel, err := h.workContext(ctx, "")
	if err != nil {
		return err
	}
	defer cancel()
	return h.withAtlas(ctx, func(apis clients) error {
		failed := map[string]error{}
		plan, err := h.plan(ctx, apis, failed)
		if err != nil {
			return err
		}
		h.checkConnectivity(ctx, registrations(plan))
		if !dryRun {
			if err := h.apply(ctx, apis, plan, failed); err != nil {
				return err
			}
		}
		res.Endpoints = make([]EndpointResult, 0, len(plan))
		for _, p := range plan {
			res.Endpoints = append(res.Endpoints, p.EndpointResult)
		}
		res.Counts = countOutcomes(res.Endpoints)
		h.emitReconcileCounts(ctx, plan)
		if len(failed) > 0 {
			return &ReconcileError{ProjectID: h.projects(), Failed: failed}
		}
		return nil
	})
}

// registrations are the plan's registrations (first ones and repeats), for
// the connectivity check; a dry run checks what a real run would register.
// Endpoints already registered are not checked again on every run.
func registrations(plan []*planned) []checkTarget {
	var out []checkTarget
	for _, p := range plan {
		if p.start != nil && (p.done == OutcomeRegistered || p.done == OutcomeReRegistered) {
			out = append(out, checkTarget{place: p.place, lookup: p.ec2, ep: &p.ep, out: &p.Warnings})
		}
	}
	return out
}

// emitReconcileCounts publishes, per project, the orphans found, the
// endpoints registered because Atlas lacked them and those registered
// again, zeros included, so that the alarms clear once the cause is gone;
// and the run's connectivity warnings.
func (h *Handler) emitReconcileCounts(ctx context.Context, plan []*planned) {
	orphans, registered, reRegistered := map[string]int{}, map[string]int{}, map[string]int{}
	warnings := warningCounts{}
	for _, p := range plan {
		warnings.add(p.ProjectID, p.Warnings)
		if p.orphan {
			orphans[p.ProjectID]++
		}
		switch p.Outcome {
		case OutcomeRegistered:
			registered[p.ProjectID]++
		case OutcomeReRegistered:
			reRegistered[p.ProjectID]++
		}
	}
	h.emitWarnings(ctx, warnings)
	for _, project := range h.atlasProjects() {
		if err := h.EmitCounts(ctx, project,
			Count{Name: MetricReconcileOrphans, Value: orphans[project]},
			Count{Name: MetricReconcileRegistered, Value: registered[project]},
			Count{Name: MetricReconcileReRegistered, Value: reRegistered[project]},
		); err != nil {
			h.log.WarnContext(ctx, "reconcile metrics not written", slog.String("error", err.Error()))
		}
	}
}

// searched is what the EC2 side of one service holds: every live VPC
// endpoint that points at it, in every account searched, and the accounts
// that could not be searched.
type searched struct {
	endpoints map[string]awsvpc.Endpoint
	lookups   map[string]EndpointLookup // by endpoint id: where it was found
	places    map[string]string         // by endpoint id: that account and region
	failures  []string
}

// plan reads every named, usable endpoint service of every project, the live
// VPC endpoints that point at each in every account served, and the status
// of each of its interface endpoints in Atlas, and decides what to do with
// every endpoint. It makes no writes. What could not be read goes into
// failed; an error stops the run.
func (h *Handler) plan(ctx context.Context, apis clients, failed map[string]error) ([]*planned, error) {
	byName, err := h.refreshServices(ctx, apis)
	if err != nil {
		return nil, err
	}
	accounts, err := h.servedAccounts(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)

	var plan []*planned
	for _, name := range names {
		if len(byName[name]) > 1 {
			_, err := h.findService(ctx, apis, name, new(bool))
			failed["service "+name] = err
			continue
		}
		svc := byName[name][0]
		if svc.Status == atlas.StatusDeleting || svc.Status == atlas.StatusFailed {
			continue // it takes no endpoints
		}
		aws := h.search(ctx, accounts, name, failed)
		inAtlas, err := h.readEndpoints(ctx, apis[svc.project], svc)
		if err != nil {
			return nil, err
		}
		plan = append(plan, h.planService(svc, aws, inAtlas)...)
	}
	fed, err := h.planFederation(ctx, apis, accounts, failed)
	if err != nil {
		return nil, err
	}
	return append(plan, fed...), nil
}

// servedAccounts are the accounts reconcile searches: the function's own
// ("" when it has no Accounts) and ALLOWED_ACCOUNT_IDS.
func (h *Handler) servedAccounts(ctx context.Context) ([]string, error) {
	if h.deps.Accounts == nil {
		return []string{""}, nil
	}
	self, err := h.deps.Accounts.Self(ctx)
	if err != nil {
		return nil, &LookupError{Err: fmt.Errorf("identify the function's own account: %w", err)}
	}
	out := []string{self}
	for _, a := range h.cfg.AllowedAccountIDs {
		if a != self {
			out = append(out, a)
		}
	}
	return out, nil
}

// search lists the live VPC endpoints of a service in every account, in the
// service's region. An account that cannot be searched is recorded in
// failed, and its endpoints are unknown: no Atlas endpoint is then called
// an orphan.
func (h *Handler) search(ctx context.Context, accounts []string, serviceName string, failed map[string]error) searched {
	out := searched{endpoints: map[string]awsvpc.Endpoint{}, lookups: map[string]EndpointLookup{}, places: map[string]string{}}
	region := serviceRegion(serviceName)
	for _, account := range accounts {
		lookup, err := h.searchLookup(ctx, account, region)
		var eps []awsvpc.Endpoint
		if err == nil {
			eps, err = lookup.ServiceEndpoints(ctx, serviceName, awsvpc.LiveStates...)
		}
		if err != nil {
			le := h.lookupErr("", account, err)
			le.(*LookupError).ServiceName = serviceName
			failed["account "+account] = le
			out.failures = append(out.failures, account)
			continue
		}
		for _, ep := range eps {
			out.endpoints[ep.ID], out.lookups[ep.ID], out.places[ep.ID] = ep, lookup, account+"/"+region
		}
	}
	return out
}

// searchLookup is the lookup for account in region ("" for the function's own).
func (h *Handler) searchLookup(ctx context.Context, account, region string) (EndpointLookup, error) {
	if h.deps.Accounts == nil {
		return h.deps.Endpoints, nil // one account, one region
	}
	if region == "" {
		region = h.cfg.Region
	}
	if self, err := h.deps.Accounts.Self(ctx); err == nil && account == self && region == h.cfg.Region {
		return h.deps.Endpoints, nil
	}
	return h.deps.Accounts.Lookup(ctx, account, region)
}

// serviceRegion reads the region from com.amazonaws.vpce.<region>.vpce-svc-…;
// "" when the name has another form.
func serviceRegion(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) == 5 && parts[0] == "com" && parts[1] == "amazonaws" && parts[2] == "vpce" {
		return parts[3]
	}
	return ""
}

// readEndpoints GETs every interface endpoint a service lists, a few at a
// time. An endpoint that answers 404 is left out: it is gone.
func (h *Handler) readEndpoints(ctx context.Context, api AtlasAPI, svc located) (map[string]*atlas.InterfaceEndpoint, error) {
	var (
		mu    sync.Mutex
		out   = map[string]*atlas.InterfaceEndpoint{}
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, maxInFlight)
	)
	for _, id := range svc.InterfaceEndpoints {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ie, err := api.GetInterfaceEndpoint(withEndpoint(ctx, id), svc.ID, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, atlas.ErrNotFound):
			case err != nil:
				if first == nil {
					first = atlasFailure("get interface endpoint", id, svc.project, err)
				}
			default:
				out[id] = ie
			}
		})
	}
	wg.Wait()
	return out, first
}

// planService decides each endpoint's fate in one service. Deletions
// (re-registering a failed endpoint, removing an orphan) are planned so that
// the service keeps at least one live endpoint, unless removal is allowed:
// Atlas removes a service with its last endpoint. The tasks' own guard checks
// again, against what Atlas says at the moment of each delete.
func (h *Handler) planService(svc located, aws searched, inAtlas map[string]*atlas.InterfaceEndpoint) []*planned {
	ids := make([]string, 0, len(aws.endpoints)+len(inAtlas))
	inAWS := map[string]bool{}
	for id := range aws.endpoints {
		ids = append(ids, id)
		inAWS[id] = true
	}
	for id := range inAtlas {
		if !inAWS[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)

	live := func(ie *atlas.InterfaceEndpoint) bool {
		return ie != nil && ie.ConnectionStatus != atlas.StatusDeleting && !ie.DeleteRequested && !failed(ie)
	}
	// Live endpoints that the plan leaves in place keep the service alive.
	remaining := 0
	var out []*planned
	var deletions []*planned
	for _, id := range ids {
		ie := inAtlas[id]
		ep := aws.endpoints[id]
		p := &planned{EndpointResult: EndpointResult{VPCEndpointID: id, ProjectID: svc.project, EndpointServiceID: svc.ID, Kind: KindCluster},
			ec2: aws.lookups[id], place: aws.places[id], ep: ep}
		out = append(out, p)
		switch {
		case inAWS[id] && optedOut(&ep) != "" && (ie == nil || ie.ConnectionStatus != atlas.StatusAvailable):
			p.Outcome, p.Reason = OutcomeIgnored, optedOut(&ep)
		case inAWS[id] && ie == nil:
			p.Outcome, p.start, p.done = OutcomeWouldRegister, startPost, OutcomeRegistered
			p.Reason = "in AWS but not in Atlas"
		case ie.ConnectionStatus == atlas.StatusDeleting || ie.DeleteRequested:
			p.Outcome, p.Reason = OutcomePending, "being deleted in Atlas; a later run acts on what is left"
		case inAWS[id] && failed(ie):
			p.Outcome, p.start, p.done = OutcomeWouldReRegister, startRecover, OutcomeReRegistered
			p.Reason = "failed in Atlas (" + describe(ie) + ")"
			deletions = append(deletions, p)
		case inAWS[id] && ie.ConnectionStatus == atlas.StatusAvailable:
			p.Outcome = OutcomeAlreadyRegistered
			remaining++
		case inAWS[id]:
			p.Outcome, p.Reason = OutcomePending, "Atlas reports "+ie.ConnectionStatus
			remaining++
		case len(aws.failures) > 0:
			p.Outcome = OutcomeKept
			p.Reason = "in Atlas (" + describe(ie) + ") and not found in the accounts searched, but account " + strings.Join(aws.failures, ", ") +
				" could not be searched, so it may belong there; it is not called an orphan"
			if live(ie) {
				remaining++
			}
		default:
			p.orphan = true
			p.Outcome = OutcomeOrphan
			p.Reason = "in Atlas (" + describe(ie) + ") but no live VPC endpoint in the accounts served, in region " + serviceRegion(svc.EndpointServiceName) +
				", points at " + svc.EndpointServiceName + "; it may belong to another account or region"
			if !h.cfg.ReconcileDeleteOrphans {
				if live(ie) {
					remaining++
				}
				continue
			}
			p.Outcome, p.start, p.done = OutcomeWouldDeregister, startDeregister, OutcomeDeregistered
			deletions = append(deletions, p)
		}
	}
	if h.cfg.AllowServiceRemoval {
		return out
	}
	if remaining == 0 {
		// Nothing live stays: keep the live orphan with the greatest id, the
		// one the tasks' guard picks as keeper too (deletions are in id order).
		for _, p := range slices.Backward(deletions) {
			if live(inAtlas[p.VPCEndpointID]) {
				p.keep()
				remaining = 1
				break
			}
		}
	}
	if remaining == 0 {
		for _, p := range deletions {
			p.keep()
		}
	}
	return out
}

// keep turns a planned deletion into a kept endpoint.
func (p *planned) keep() {
	p.Outcome, p.start, p.done = OutcomeKept, nil, ""
	p.Reason = keptReason(p.EndpointServiceID)
}

func describe(ie *atlas.InterfaceEndpoint) string {
	if ie.ErrorMessage != "" {
		return ie.ConnectionStatus + ": " + ie.ErrorMessage
	}
	return ie.ConnectionStatus
}

// apply carries out the plan's actions together, in one loop, within the
// deadline, and writes each outcome into the plan. Failures go into failed;
// endpoints still settling at the deadline are reported pending.
func (h *Handler) apply(ctx context.Context, apis clients, plan []*planned, failed map[string]error) error {
	var tasks []*task
	byTask := map[*task]*planned{}
	for _, p := range plan {
		if p.start == nil {
			continue
		}
		var t *task
		if p.Kind == KindDataFederation {
			t = h.newFederationTask(apis, &p.ep, p.VPCEndpointID, p.start)
		} else {
			t = h.newTask(apis[p.ProjectID], p.ProjectID, p.EndpointServiceID, p.VPCEndpointID, p.start)
		}
		t.ec2 = p.ec2
		tasks = append(tasks, t)
		byTask[t] = p
	}
	drive(ctx, tasks)
	for _, t := range tasks {
		p := byTask[t]
		var rf *RegistrationFailedError
		var de *DeadlineError
		switch {
		case !t.done || errors.As(t.err, &de):
			p.Outcome, p.Reason = OutcomePending, "still "+t.status+" ("+t.says(t.phase)+") when the run's deadline came; the next run picks it up"
		case t.err == nil && t.deregistering:
			p.Outcome, p.Reason = t.outcome, t.reason
		case t.err == nil && t.outcome == OutcomeAlreadyRegistered:
			p.Outcome, p.Reason = t.outcome, ""
		case t.err == nil:
			p.Outcome, p.Reason = p.done, ""
		case errors.Is(t.err, atlas.ErrUnauthorized):
			return t.err
		case errors.As(t.err, &rf) && rf.Kept:
			p.Outcome, p.Reason = OutcomeKept, keptReason(t.serviceID)
		default:
			failed[t.endpointID] = t.err
			p.Outcome, p.Reason = OutcomeFailed, t.err.Error()
		}
	}
	return nil
}
