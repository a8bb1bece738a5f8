// Package handler turns the events that reach the function into registrations
// of VPC interface endpoints with an Atlas private endpoint service, and runs
// each registration until Atlas reports it AVAILABLE.
//
// It owns the interfaces it needs from the AWS side and from Atlas, so tests
// can give it real clients against local stand-ins or in-process fakes.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler/event"
)

// EndpointLookup reads a VPC endpoint from EC2.
type EndpointLookup interface {
	LookupEndpoint(ctx context.Context, id string) (*awsvpc.Endpoint, error)
}

// SecretSource returns the raw JSON of the Atlas credentials secret.
type SecretSource interface {
	SecretJSON(ctx context.Context, secretID string) ([]byte, error)
}

// AtlasAPI is the part of the Atlas Administration API a registration uses.
type AtlasAPI interface {
	ListEndpointServices(ctx context.Context) ([]atlas.EndpointService, error)
	GetInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*atlas.InterfaceEndpoint, error)
	CreateInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*atlas.InterfaceEndpoint, error)
	DeleteInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) error
}

// AtlasFactory builds an Atlas client for a set of credentials. It must not do
// network I/O: it runs again whenever the credentials are refreshed.
type AtlasFactory func(atlas.Credentials) (AtlasAPI, error)

// Deps are the collaborators a Handler needs.
type Deps struct {
	Endpoints EndpointLookup
	Secrets   SecretSource
	NewAtlas  AtlasFactory
	Logger    *slog.Logger     // nil: slog.Default()
	Now       func() time.Time // nil: time.Now
	Metrics   MetricsEmitter   // nil: no metrics
}

// Outcomes reported in Result.Outcome.
const (
	OutcomeRegistered        = "registered"
	OutcomeAlreadyRegistered = "already-registered"
	OutcomeIgnored           = "ignored"
)

// Result is what a successful invocation returns.
type Result struct {
	Outcome           string   `json:"outcome"`
	Reason            string   `json:"reason,omitempty"`
	VPCEndpointID     string   `json:"vpcEndpointId,omitempty"`
	VPCID             string   `json:"vpcId,omitempty"`
	SubnetIDs         []string `json:"subnetIds,omitempty"`
	ServiceName       string   `json:"serviceName,omitempty"`
	ProjectID         string   `json:"projectId"`
	EndpointServiceID string   `json:"endpointServiceId,omitempty"`
	ConnectionStatus  string   `json:"connectionStatus,omitempty"`
	Attempts          int      `json:"attempts"`
}

// Handler registers endpoints. One Handler lives as long as the container, so
// it caches what a warm invocation can reuse: the credentials (with a TTL) and
// the project's endpoint services.
type Handler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu         sync.Mutex
	api        AtlasAPI
	apiFetched time.Time
	services   map[string]atlas.EndpointService // by endpointServiceName
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
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
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
	res := &Result{ProjectID: h.cfg.ProjectID}
	err := h.handle(ctx, payload, res)
	h.logOutcome(ctx, res, err, h.deps.Now().Sub(start))
	h.emitMetrics(ctx, stats, res, err)
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (h *Handler) handle(ctx context.Context, payload []byte, res *Result) error {
	req, err := event.Parse(payload)
	if err != nil {
		return err
	}
	res.VPCEndpointID = req.EndpointID
	ctx = withEndpoint(ctx, req.EndpointID)
	if req.Ignore != "" {
		res.Outcome, res.Reason = OutcomeIgnored, req.Ignore
		return nil
	}

	ctx, cancel, err := h.workContext(ctx, req.EndpointID)
	if err != nil {
		return err
	}
	defer cancel()

	ep, err := h.deps.Endpoints.LookupEndpoint(ctx, req.EndpointID)
	switch {
	case errors.Is(err, awsvpc.ErrEndpointNotFound):
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint does not exist in EC2 (deleted, or in another account or region)"
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return &DeadlineError{EndpointID: req.EndpointID, ProjectID: h.cfg.ProjectID, Phase: "the EC2 lookup", Detail: err.Error()}
	case err != nil:
		return &LookupError{EndpointID: req.EndpointID, Err: err}
	}
	res.VPCID, res.SubnetIDs, res.ServiceName = ep.VPCID, ep.SubnetIDs, ep.ServiceName
	if ep.Type != "Interface" {
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint is of type "+ep.Type+", not Interface"
		return nil
	}
	if gone[strings.ToLower(ep.State)] {
		res.Outcome, res.Reason = OutcomeIgnored, "the endpoint is "+ep.State+" in EC2"
		return nil
	}

	return h.withAtlas(ctx, func(api AtlasAPI) error {
		return h.registerEndpoint(ctx, api, ep, res)
	})
}

// gone lists EC2 endpoint states from which it will never connect.
var gone = map[string]bool{"deleting": true, "deleted": true, "failed": true, "rejected": true, "expired": true}

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
			EndpointID: endpointID, ProjectID: h.cfg.ProjectID, Phase: "start",
			Detail: "only " + deadline.Sub(h.deps.Now()).Round(time.Millisecond).String() + " left before the Lambda deadline; nothing was started",
		}
	}
	ctx, cancel := context.WithDeadline(ctx, stop)
	return ctx, cancel, nil
}

// minWorkTime is the least time worth starting a registration with.
const minWorkTime = time.Second

func (h *Handler) registerEndpoint(ctx context.Context, api AtlasAPI, ep *awsvpc.Endpoint, res *Result) error {
	svc, err := h.findService(ctx, api, ep.ServiceName)
	if err != nil {
		return atlasFailure("list endpoint services", ep.ID, h.cfg.ProjectID, err)
	}
	if svc == nil {
		res.Outcome, res.Reason = OutcomeIgnored, "no Atlas endpoint service in project "+h.cfg.ProjectID+" has service name "+ep.ServiceName
		return nil
	}
	res.EndpointServiceID = svc.ID
	r := &registration{h: h, api: api, serviceID: svc.ID, endpointID: ep.ID}
	outcome, err := r.run(ctx)
	res.Attempts, res.ConnectionStatus = r.attempts, r.status
	if err != nil {
		return err
	}
	res.Outcome = outcome
	return nil
}

// withAtlas runs fn with a client built from the cached credentials. When
// Atlas rejects cached credentials (the secret was rotated), it fetches them
// once more and runs fn once more; fn must be safe to repeat, which the
// registration is, because it reads the endpoint's state before writing.
func (h *Handler) withAtlas(ctx context.Context, fn func(AtlasAPI) error) error {
	api, cached, err := h.atlasAPI(ctx, false)
	if err != nil {
		return err
	}
	err = fn(api)
	if !cached || !errors.Is(err, atlas.ErrUnauthorized) {
		return err
	}
	h.log.WarnContext(ctx, "atlas rejected the cached credentials; fetching the secret again",
		slog.String("projectId", h.cfg.ProjectID), slog.String("next", "retry-once"))
	if api, _, err = h.atlasAPI(ctx, true); err != nil {
		return err
	}
	return fn(api)
}

// atlasAPI returns the container's Atlas client, fetching the secret when
// there is none, it is older than the TTL, or refresh is set.
func (h *Handler) atlasAPI(ctx context.Context, refresh bool) (api AtlasAPI, cached bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !refresh && h.api != nil && h.deps.Now().Sub(h.apiFetched) < h.cfg.CredentialsTTL {
		return h.api, true, nil
	}
	h.api = nil
	raw, err := h.deps.Secrets.SecretJSON(ctx, h.cfg.SecretID)
	if err != nil {
		return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
	}
	creds, err := atlas.ParseCredentials(raw)
	if err != nil {
		return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
	}
	if api, err = h.deps.NewAtlas(creds); err != nil {
		return nil, false, &CredentialsError{SecretID: h.cfg.SecretID, Err: err}
	}
	h.api, h.apiFetched = api, h.deps.Now()
	return api, false, nil
}

// findService returns the endpoint service with the given AWS service name, or
// nil. A name not in the cached list refreshes it once: the service may be new.
func (h *Handler) findService(ctx context.Context, api AtlasAPI, name string) (*atlas.EndpointService, error) {
	h.mu.Lock()
	svc, ok := h.services[name]
	h.mu.Unlock()
	if ok {
		return &svc, nil
	}
	list, err := api.ListEndpointServices(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]atlas.EndpointService, len(list))
	for _, s := range list {
		if s.EndpointServiceName != "" {
			byName[s.EndpointServiceName] = s
		}
	}
	h.mu.Lock()
	h.services = byName
	h.mu.Unlock()
	if s, ok := byName[name]; ok {
		return &s, nil
	}
	return nil, nil
}

func (h *Handler) logOutcome(ctx context.Context, res *Result, err error, took time.Duration) {
	attrs := []slog.Attr{
		slog.String("vpcEndpointId", res.VPCEndpointID),
		slog.String("vpcId", res.VPCID),
		slog.String("serviceName", res.ServiceName),
		slog.String("projectId", res.ProjectID),
		slog.String("endpointServiceId", res.EndpointServiceID),
		slog.String("connectionStatus", res.ConnectionStatus),
		slog.Int("attempts", res.Attempts),
		slog.Int64("durationMs", took.Milliseconds()),
	}
	if err == nil {
		attrs = append(attrs, slog.String("outcome", res.Outcome))
		if res.Reason != "" {
			attrs = append(attrs, slog.String("reason", res.Reason))
		}
		h.log.LogAttrs(ctx, slog.LevelInfo, "endpoint "+res.Outcome, attrs...)
		return
	}
	attrs = append(attrs,
		slog.String("outcome", "error"),
		slog.String("errorType", errorType(err)),
		slog.String("error", err.Error()),
		slog.String("next", nextAfterError(err)),
	)
	attrs = append(attrs, atlasAttrs(err)...)
	h.log.LogAttrs(ctx, slog.LevelError, "endpoint registration failed", attrs...)
}
