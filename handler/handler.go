// Package handler turns the events that reach the function into work on VPC
// interface endpoints in an Atlas private endpoint service: it registers new
// endpoints and runs each registration until Atlas reports it AVAILABLE,
// deregisters endpoints deleted in AWS, and reconciles the two sides to catch
// what events missed. It never lets a delete remove the endpoint service.
// Endpoints toward MongoDB's Data Federation services are entries of a
// project's Data Federation endpoint list instead, driven by the same state
// machine (see federation.go).
//
// It owns the interfaces it needs from the AWS side and from Atlas, so tests
// can give it real clients against local stand-ins or in-process fakes.
package handler

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler/event"
)

// EndpointLookup reads VPC endpoints from EC2.
type EndpointLookup interface {
	// LookupEndpoint waits briefly for a new endpoint that EC2 does not show yet.
	LookupEndpoint(ctx context.Context, id string) (*awsvpc.Endpoint, error)
	// DescribeEndpoint asks once: for a deleted endpoint, not found is the answer.
	DescribeEndpoint(ctx context.Context, id string) (*awsvpc.Endpoint, error)
	// ServiceEndpoints lists the Interface endpoints of a service in the given states.
	ServiceEndpoints(ctx context.Context, serviceName string, states ...string) ([]awsvpc.Endpoint, error)
	// DescribeNetwork reads security groups' inbound rules and subnets' zones.
	DescribeNetwork(ctx context.Context, groupIDs, subnetIDs []string) (*awsvpc.Network, error)
}

// SecretSource returns the raw JSON of the Atlas credentials secret.
type SecretSource interface {
	SecretJSON(ctx context.Context, secretID string) ([]byte, error)
}

// AtlasAPI is the part of the Atlas Administration API a registration uses.
type AtlasAPI interface {
	ListEndpointServices(ctx context.Context) ([]atlas.EndpointService, error)
	GetEndpointService(ctx context.Context, serviceID string) (*atlas.EndpointService, error)
	GetInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*atlas.InterfaceEndpoint, error)
	CreateInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*atlas.InterfaceEndpoint, error)
	DeleteInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) error

	// The project's Data Federation endpoint list (see federation.go).
	ListDataFederationEndpoints(ctx context.Context) ([]atlas.DataFederationEndpoint, error)
	GetDataFederationEndpoint(ctx context.Context, endpointID string) (*atlas.DataFederationEndpoint, error)
	CreateDataFederationEndpoint(ctx context.Context, e atlas.DataFederationEndpoint) (*atlas.DataFederationEndpoint, error)
	DeleteDataFederationEndpoint(ctx context.Context, endpointID string) error
}

// AtlasFactory builds an Atlas client for a set of credentials and one
// project. It must not do network I/O: it runs again whenever the
// credentials are refreshed.
type AtlasFactory func(creds atlas.Credentials, projectID string) (AtlasAPI, error)

// AccountLookups reaches EC2 beyond the function's own account and region.
type AccountLookups interface {
	// Self is the function's own account.
	Self(ctx context.Context) (string, error)
	// RoleARN is the role assumed in another account, for error messages.
	RoleARN(account string) string
	// Lookup returns the EC2 lookup for an account and region.
	Lookup(ctx context.Context, account, region string) (EndpointLookup, error)
}

// Deps are the collaborators a Handler needs.
type Deps struct {
	// Endpoints looks up endpoints in the function's own account and region.
	Endpoints EndpointLookup
	// Accounts reaches other accounts and regions. Nil: events are looked up
	// with Endpoints whatever account they name (tests, single-account tools).
	Accounts AccountLookups
	Secrets  SecretSource
	NewAtlas AtlasFactory
	Logger   *slog.Logger     // nil: slog.Default()
	Now      func() time.Time // nil: time.Now
	Metrics  MetricsEmitter   // nil: no metrics
	// Reporter tells endpoint owners the outcomes (events, status tags); nil: no one.
	Reporter Reporter
}

// Outcomes reported in Result.Outcome and EndpointResult.Outcome.
const (
	OutcomeRegistered        = "registered"
	OutcomeAlreadyRegistered = "already-registered"
	OutcomeIgnored           = "ignored"

	// Of a delete event or a manual deregistration (Result.Outcome).
	OutcomeProcessed = "processed"
	// Of each endpoint in it.
	OutcomeDeregistered  = "deregistered"
	OutcomeNotRegistered = "not-registered"
	OutcomeKept          = "kept"
	OutcomeFailed        = "failed" // a deregistration or reconcile step failed; the invocation's error names it

	// Of a reconcile run (Result.Outcome).
	OutcomeReconciled = "reconciled"
	// Of each endpoint in it, besides registered, already-registered, deregistered, kept and failed.
	OutcomeReRegistered    = "re-registered"
	OutcomePending         = "pending"
	OutcomeOrphan          = "orphan"
	OutcomeWouldRegister   = "would-register"
	OutcomeWouldReRegister = "would-re-register"
	OutcomeWouldDeregister = "would-deregister"
)

// Kinds of Atlas private endpoint, reported in Result.Kind and EndpointResult.Kind.
const (
	// KindCluster: an interface endpoint of a project's private endpoint
	// service, which serves the project's clusters.
	KindCluster = "cluster"
	// KindDataFederation: an entry of the project's privateNetworkSettings
	// endpoint list, toward MongoDB's Data Federation / Online Archive service.
	KindDataFederation = "data-federation"
)

// Warning is something EC2 shows about a registered endpoint that would keep
// applications from connecting through it. It never fails a registration.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Result is what a successful invocation returns. A registration fills the
// endpoint's fields; a deregistration or reconcile run lists Endpoints.
type Result struct {
	Outcome           string           `json:"outcome"`
	Reason            string           `json:"reason,omitempty"`
	Kind              string           `json:"kind,omitempty"`
	DryRun            *bool            `json:"dryRun,omitempty"` // reconcile only
	VPCEndpointID     string           `json:"vpcEndpointId,omitempty"`
	VPCID             string           `json:"vpcId,omitempty"`
	SubnetIDs         []string         `json:"subnetIds,omitempty"`
	ServiceName       string           `json:"serviceName,omitempty"`
	ProjectID         string           `json:"projectId,omitempty"`
	EndpointServiceID string           `json:"endpointServiceId,omitempty"`
	ConnectionStatus  string           `json:"connectionStatus,omitempty"`
	Attempts          int              `json:"attempts,omitempty"`
	Warnings          []Warning        `json:"warnings,omitempty"`
	Endpoints         []EndpointResult `json:"endpoints,omitempty"`
	Counts            map[string]int   `json:"counts,omitempty"`

	origin origin
}

// EndpointResult is one endpoint's outcome in a deregistration or reconcile run.
type EndpointResult struct {
	VPCEndpointID     string    `json:"vpcEndpointId"`
	ProjectID         string    `json:"projectId,omitempty"`
	EndpointServiceID string    `json:"endpointServiceId,omitempty"`
	Outcome           string    `json:"outcome"`
	Reason            string    `json:"reason,omitempty"`
	Kind              string    `json:"kind,omitempty"`
	Warnings          []Warning `json:"warnings,omitempty"`

	origin origin
}

// Handler registers endpoints. One Handler lives as long as the container, so
// it caches what a warm invocation can reuse: the credentials (with a TTL),
// one Atlas client per project, and the projects' endpoint services.
type Handler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu         sync.Mutex
	apis       clients
	apiFetched time.Time
	apiSecret  [sha256.Size]byte    // digest of the secret the clients were built from
	services   map[string][]located // by endpointServiceName; more than one is a conflict
}

// clients are the container's Atlas clients, one per project.
type clients map[string]AtlasAPI

// located is an endpoint service and the project that holds it.
type located struct {
	project string
	atlas.EndpointService
}

// New returns a Handler. It does no I/O: the first event pays for the secret
// and the service list, so the init phase stays short.
func New(cfg Config, deps Deps) *Handler {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Handler{cfg: cfg, deps: deps, log: deps.Logger}
}

// Invoke implements lambda.Handler: raw payload in, JSON result out. Taking
// the raw bytes lets the function explain a bad payload instead of failing in
// the runtime's decoder.
//
// An SQS batch (the event source mapping's {"Records":[…]}) is handled as a
// whole by HandleBatch, and answered with the records to deliver again.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	msgs, isBatch, err := event.ParseBatch(payload)
	switch {
	case isBatch && err != nil:
		h.logOutcome(ctx, "", &Result{}, err, 0)
		return nil, err
	case isBatch:
		return json.Marshal(h.HandleBatch(ctx, msgs))
	}
	res, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Handle processes one event, logs one line with its outcome and writes one
// metrics line.
func (h *Handler) Handle(ctx context.Context, payload []byte) (*Result, error) {
	start := h.deps.Now()
	ctx, stats := withStats(ctx)
	res := &Result{ProjectID: h.soleProject()}
	var action event.Action
	err := configCause(h.handle(ctx, payload, res, &action))
	h.logOutcome(ctx, action, res, err, h.deps.Now().Sub(start))
	h.emitMetrics(ctx, stats, res, err)
	h.report(ctx, h.outcomes(res, err))
	if err != nil {
		return nil, err
	}
	return res, nil
}

// soleProject is the project when there is only one, for results and errors
// that come before a service is found.
func (h *Handler) soleProject() string {
	if len(h.cfg.ProjectIDs) == 1 {
		return h.cfg.ProjectIDs[0]
	}
	return ""
}

// projects names the configured projects, for messages.
func (h *Handler) projects() string { return strings.Join(h.cfg.ProjectIDs, ", ") }

// handle sets action as soon as the payload says what it asks for.
func (h *Handler) handle(ctx context.Context, payload []byte, res *Result, action *event.Action) error {
	req, err := event.Parse(payload)
	if err != nil {
		return err
	}
	*action = req.Action
	res.VPCEndpointID = req.EndpointID
	ctx = withEndpoint(ctx, req.EndpointID)
	if req.Ignore != "" {
		res.Outcome, res.Reason = OutcomeIgnored, req.Ignore
		return nil
	}
	if req.Action == event.Reconcile {
		return h.reconcile(ctx, req.DryRun, res)
	}

	ctx, cancel, err := h.workContext(ctx, req.EndpointID)
	if err != nil {
		return err
	}
	defer cancel()
	lookup, skip, err := h.route(ctx, req.Account, req.Region, req.EndpointID)
	if err != nil {
		return err
	}
	if skip != "" {
		res.Outcome, res.Reason = OutcomeIgnored, skip
		return nil
	}
	res.origin.account, res.origin.region = req.Account, req.Region
	if req.Action == event.Deregister {
		return h.deregister(ctx, lookup, req, res)
	}

	ep, settled, err := h.lookupToRegister(ctx, lookup, req, res)
	if err != nil || settled {
		return err
	}
	checked := false
	return h.withAtlas(ctx, func(apis clients) error {
		return h.registerEndpoint(ctx, apis, lookup, ep, res, &checked)
	})
}

// lookupToRegister reads the endpoint from EC2 and decides whether it is one
// to register. settled means the result says why not (ignored).
func (h *Handler) lookupToRegister(ctx context.Context, lookup EndpointLookup, req event.Request, res *Result) (ep *awsvpc.Endpoint, settled bool, err error) {
	ep, err = lookup.LookupEndpoint(ctx, req.EndpointID)
	switch {
	case errors.Is(err, awsvpc.ErrEndpointNotFound):
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint does not exist in EC2 (deleted, or in another account or region)"
		return nil, true, nil
	case errors.Is(err, context.DeadlineExceeded):
		return nil, false, &DeadlineError{EndpointID: req.EndpointID, ProjectID: res.ProjectID, Phase: "the EC2 lookup", Detail: err.Error()}
	case err != nil:
		return nil, false, h.lookupErr(req.EndpointID, req.Account, err)
	}
	res.VPCID, res.SubnetIDs, res.ServiceName = ep.VPCID, ep.SubnetIDs, ep.ServiceName
	res.origin = origin{account: cmp.Or(ep.OwnerID, req.Account), region: req.Region, lookup: lookup}
	if ep.Type != "Interface" {
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint is of type "+ep.Type+", not Interface"
		return nil, true, nil
	}
	if gone[strings.ToLower(ep.State)] {
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint is "+ep.State+" in EC2"
		return nil, true, nil
	}
	if why := optedOut(ep); why != "" {
		res.Outcome, res.Reason = OutcomeIgnored, why
		return nil, true, nil
	}
	if h.cfg.federationRegion(ep.ServiceName) != "" {
		res.Kind = KindDataFederation
	}
	if why := h.federationSkip(ep); why != "" {
		res.Outcome, res.Reason = OutcomeIgnored, why
		return nil, true, nil
	}
	return ep, false, nil
}

// gone lists EC2 endpoint states from which it will never connect.
var gone = map[string]bool{"deleting": true, "deleted": true, "failed": true, "rejected": true, "expired": true}

// Opt-out: an endpoint tagged OptOutTag=OptOutValue is never written to Atlas.
const (
	OptOutTag   = "atlas-registrar"
	OptOutValue = "skip"
)

// optedOut says why the endpoint is left alone, or "".
func optedOut(ep *awsvpc.Endpoint) string {
	if ep.Tags[OptOutTag] == OptOutValue {
		return "the endpoint is tagged " + OptOutTag + "=" + OptOutValue
	}
	return ""
}

// workContext bounds all work by the Lambda deadline less a margin, so the
// function reports a clear error before Lambda kills it.
func (h *Handler) workContext(ctx context.Context, endpointID string) (context.Context, context.CancelFunc, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, nil
	}
	stop := deadline.Add(-h.cfg.DeadlineMargin)
	if left := stop.Sub(h.deps.Now()); left < minWorkTime {
		return nil, nil, &DeadlineError{
			EndpointID: endpointID, ProjectID: h.soleProject(), Phase: "start",
			Detail: "only " + deadline.Sub(h.deps.Now()).Round(time.Millisecond).String() + " left before the Lambda deadline; nothing was started",
		}
	}
	ctx, cancel := context.WithDeadline(ctx, stop)
	return ctx, cancel, nil
}

// minWorkTime is the least time worth starting a registration with.
const minWorkTime = time.Second

// registerEndpoint registers one endpoint. Once its Atlas service is found
// (so it is an Atlas endpoint), it checks the endpoint's connectivity,
// unless checked says an earlier run of it did.
func (h *Handler) registerEndpoint(ctx context.Context, apis clients, lookup EndpointLookup, ep *awsvpc.Endpoint, res *Result, checked *bool) error {
	t, err := h.registerTask(ctx, apis, lookup, ep, res, new(bool))
	if err != nil || t == nil {
		return err
	}
	if !*checked {
		*checked = true
		h.checkConnectivity(ctx, []checkTarget{{lookup: lookup, ep: ep, out: &res.Warnings}})
	}
	drive(ctx, []*task{t})
	return t.registered(res)
}

// registerTask finds the endpoint's service and returns the task that
// registers it there, or nil when no Atlas service has its service name
// (the result says so). refreshed is shared by the endpoints of one
// invocation, so that they refresh the service list at most once.
func (h *Handler) registerTask(ctx context.Context, apis clients, lookup EndpointLookup, ep *awsvpc.Endpoint, res *Result, refreshed *bool) (*task, error) {
	if h.cfg.federationRegion(ep.ServiceName) != "" {
		res.Kind, res.ProjectID = KindDataFederation, h.cfg.DataFederationProjectID
		t := h.newFederationTask(apis, ep, ep.ID, startRegister)
		t.ec2 = lookup
		return t, nil
	}
	svc, err := h.findService(ctx, apis, ep.ServiceName, refreshed)
	if err != nil {
		return nil, err
	}
	if svc == nil {
		res.Outcome, res.Reason = OutcomeIgnored, "no Atlas endpoint service in project "+h.projects()+" has service name "+ep.ServiceName
		return nil, nil
	}
	res.Kind, res.ProjectID, res.EndpointServiceID = KindCluster, svc.project, svc.ID
	t := h.newTask(apis[svc.project], svc.project, svc.ID, ep.ID, startRegister)
	t.ec2 = lookup
	return t, nil
}

// registered fills the result of a registration task after drive.
func (t *task) registered(res *Result) error {
	res.Attempts, res.ConnectionStatus, res.origin.atlasError = t.attempts, t.status, t.lastErr
	switch {
	case t.err != nil:
		return t.err
	case !t.done:
		return t.deadlineErr(t.phase)
	}
	res.Outcome = t.outcome
	return nil
}

// withAtlas runs fn with clients built from the cached credentials. When
// Atlas rejects cached credentials (the secret was rotated), it fetches them
// once more and runs fn once more; fn must be safe to repeat, which every
// action is, because each reads the endpoint's state before writing.
func (h *Handler) withAtlas(ctx context.Context, fn func(clients) error) error {
	apis, cached, err := h.atlasClients(ctx, false)
	if err != nil {
		return err
	}
	err = fn(apis)
	if !cached || !errors.Is(err, atlas.ErrUnauthorized) {
		return err
	}
	h.log.WarnContext(ctx, "atlas rejected the cached credentials; fetching the secret again",
		slog.String("projectId", projectOf(err, h.projects())), slog.String("next", "retry-once"))
	if apis, _, err = h.atlasClients(ctx, true); err != nil {
		return err
	}
	return fn(apis)
}

// projectOf is the project an Atlas error names, or def.
func projectOf(err error, def string) string {
	if ae, ok := errors.AsType[*AtlasError](err); ok && ae.ProjectID != "" {
		return ae.ProjectID
	}
	return def
}

// atlasClients returns the container's Atlas clients, fetching the secret
// when there are none, they are older than the TTL, or refresh is set. One
// secret's credentials reach every project.
func (h *Handler) atlasClients(ctx context.Context, refresh bool) (apis clients, cached bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !refresh && h.apis != nil && h.deps.Now().Sub(h.apiFetched) < h.cfg.CredentialsTTL {
		return h.apis, true, nil
	}
	prev := h.apis
	h.apis = nil
	raw, err := h.deps.Secrets.SecretJSON(ctx, h.cfg.SecretID)
	if err != nil {
		return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
	}
	// A TTL refresh that finds the secret unchanged keeps the clients: a new
	// client would fetch a new service-account token while the old one stays
	// active for its hour, and Atlas caps the active tokens per account.
	// After a 401 (refresh) the clients are built again even so.
	sum := sha256.Sum256(raw)
	if !refresh && prev != nil && sum == h.apiSecret {
		h.apis, h.apiFetched = prev, h.deps.Now()
		return prev, true, nil
	}
	creds, err := atlas.ParseCredentials(raw)
	if err != nil {
		return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
	}
	// One service-account token for all the projects' clients: the token
	// endpoint takes 10 requests a minute.
	creds = creds.WithSharedToken()
	apis = make(clients, len(h.cfg.ProjectIDs)+1)
	for _, p := range h.atlasProjects() {
		if apis[p], err = h.deps.NewAtlas(creds, p); err != nil {
			return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
		}
	}
	h.apis, h.apiFetched, h.apiSecret = apis, h.deps.Now(), sum
	return apis, false, nil
}

// findService returns the endpoint service with the given AWS service name
// and its project, or nil. A name not in the cache refreshes it once: the
// service may be new. refreshed, when already set, says the invocation has
// refreshed it and need not again. A name held by two projects is a
// ServiceConflictError.
func (h *Handler) findService(ctx context.Context, apis clients, name string, refreshed *bool) (*located, error) {
	h.mu.Lock()
	found, ok := h.services[name]
	h.mu.Unlock()
	if !ok && !*refreshed {
		*refreshed = true
		byName, err := h.refreshServices(ctx, apis)
		if err != nil {
			return nil, err
		}
		found = byName[name]
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	conflict := &ServiceConflictError{ServiceName: name}
	for _, l := range found {
		conflict.Projects = append(conflict.Projects, l.project)
	}
	return nil, conflict
}

// refreshServices lists every project's endpoint services into the cache,
// by AWS service name; services still being created have no name yet. A
// failure names the project whose list failed.
func (h *Handler) refreshServices(ctx context.Context, apis clients) (map[string][]located, error) {
	byName := map[string][]located{}
	for _, p := range h.cfg.ProjectIDs {
		list, err := apis[p].ListEndpointServices(ctx)
		if err != nil {
			return nil, atlasFailure("list endpoint services", endpointFrom(ctx), p, err)
		}
		for _, s := range list {
			if s.EndpointServiceName != "" {
				byName[s.EndpointServiceName] = append(byName[s.EndpointServiceName], located{project: p, EndpointService: s})
			}
		}
	}
	h.mu.Lock()
	h.services = byName
	h.mu.Unlock()
	return byName, nil
}

// forgetService drops a removed service from the cache, so no later event
// posts into it, and returns its AWS service name if it was cached.
func (h *Handler) forgetService(serviceID string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, ls := range h.services {
		for i, l := range ls {
			if l.ID == serviceID {
				h.services[name] = slices.Delete(ls, i, i+1)
				if len(h.services[name]) == 0 {
					delete(h.services, name)
				}
				return name
			}
		}
	}
	return ""
}

// logOutcome writes an invocation's (or a batch record's) outcome line; extra
// attributes, such as a batch record's messageId, lead the line. action is
// what the event asked for ("" if it could not be read).
func (h *Handler) logOutcome(ctx context.Context, action event.Action, res *Result, err error, took time.Duration, extra ...slog.Attr) {
	if res.Endpoints != nil || res.Counts != nil {
		h.logBatch(ctx, res, err, took, extra...)
		return
	}
	attrs := append(slices.Clip(extra),
		slog.String("vpcEndpointId", res.VPCEndpointID),
		slog.String("kind", res.Kind),
		slog.String("vpcId", res.VPCID),
		slog.String("serviceName", res.ServiceName),
		slog.String("projectId", res.ProjectID),
		slog.String("endpointServiceId", res.EndpointServiceID),
		slog.String("connectionStatus", res.ConnectionStatus),
		slog.Int("attempts", res.Attempts),
		slog.Int64("durationMs", took.Milliseconds()),
	)
	if len(res.Warnings) > 0 {
		attrs = append(attrs, slog.Any("warnings", res.Warnings))
	}
	if err == nil {
		attrs = append(attrs, slog.String("outcome", res.Outcome))
		if res.Reason != "" {
			attrs = append(attrs, slog.String("reason", res.Reason))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "endpoint "+res.Outcome, attrs...)
		return
	}
	h.log.LogAttrs(ctx, slog.LevelError, failureMessage(action, err), append(attrs, errorAttrs(err)...)...)
}

// Messages of the failure lines, by what failed. A payload the function
// cannot read is not a failed registration, and says so.
const (
	msgInvalidEvent         = "invalid event"
	msgRegistrationFailed   = "endpoint registration failed"
	msgDeregistrationFailed = "endpoint deregistration failed"
	msgReconcileFailed      = "reconcile failed"
)

func failureMessage(action event.Action, err error) string {
	if _, ok := errors.AsType[*event.InvalidEventError](err); ok {
		return msgInvalidEvent
	}
	switch action {
	case event.Deregister:
		return msgDeregistrationFailed
	case event.Reconcile:
		return msgReconcileFailed
	}
	return msgRegistrationFailed
}

// errorAttrs are what every failure line says about its error, and what happens next.
func errorAttrs(err error) []slog.Attr {
	return append([]slog.Attr{
		slog.String("outcome", "error"),
		slog.String("errorType", errorType(err)),
		slog.String("error", err.Error()),
		slog.String("next", nextAfterError(err)),
	}, atlasAttrs(err)...)
}

// logBatch writes the one line of a deregistration or reconcile run: every
// endpoint's outcome and the counts, so the log alone tells what was done.
func (h *Handler) logBatch(ctx context.Context, res *Result, err error, took time.Duration, extra ...slog.Attr) {
	attrs := append(slices.Clip(extra),
		slog.String("projectId", res.ProjectID),
		slog.Any("endpoints", res.Endpoints),
		slog.Any("counts", res.Counts),
		slog.Int64("durationMs", took.Milliseconds()),
	)
	if res.DryRun != nil {
		attrs = append(attrs, slog.Bool("dryRun", *res.DryRun))
	}
	if err == nil {
		attrs = append(attrs, slog.String("outcome", res.Outcome))
		h.log.LogAttrs(ctx, slog.LevelInfo, "endpoints "+res.Outcome, attrs...)
		return
	}
	h.log.LogAttrs(ctx, slog.LevelError, "endpoints "+res.Outcome+" with failures", append(attrs, errorAttrs(err)...)...)
}
