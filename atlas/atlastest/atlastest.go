// Package atlastest is a faithful in-memory fake of the MongoDB Atlas Administration
// API routes that the atlas package uses, in the manner of net/http/httptest.
//
// It serves both API versions (v2 with its versioned media type, and v1.0),
// authenticates with HTTP Digest (programmatic API keys) or OAuth2 bearer tokens
// (service accounts, with a token endpoint), answers with Atlas's error bodies, moves
// interface endpoints through PENDING_ACCEPTANCE, PENDING and AVAILABLE (and Data
// Federation endpoint entries through PENDING and OK) on configurable
// delays, and records every request. It can enforce Atlas's limits: a token
// bucket on API requests, a per-client rate limit on the token endpoint and a cap
// on the active tokens of a service account. Faults (error statuses, Retry-After,
// delays, connection resets, rejected or failed registrations) can be injected
// while it runs.
//
// NewServer starts it on a loopback httptest.Server; NewUnstartedHandler returns the
// bare http.Handler for serving on any listener (for example a local sandbox).
package atlastest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/atlasvpce/registrar/atlas"
)

// Defaults used when Options leave them empty.
const (
	DefaultProjectID           = "5f0000000000000000000001"
	DefaultServiceID           = "5f00000000000000000000a1"
	DefaultEndpointServiceName = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	DefaultStepDelay           = 50 * time.Millisecond
)

// TokenBucket configures a rate limit: Capacity requests at once, refilled at
// Refill per Interval (continuously, a fraction of a token at a time). Over the
// limit the fake answers 429 with Retry-After: the seconds until one token is back.
type TokenBucket struct {
	Capacity int
	Refill   int
	Interval time.Duration
}

// Options configure a Fake. For the three status delays, zero takes the default
// and a negative value means no delay.
type Options struct {
	ProjectID string                  // default DefaultProjectID
	Services  []atlas.EndpointService // seeded endpoint services; default one with DefaultServiceID/DefaultEndpointServiceName
	// Projects are further projects with their services, all reachable with
	// the same credentials, as one API key or service account can reach
	// several projects. Service ids must differ across projects.
	Projects []Project
	// DataFederation seeds the project's Data Federation endpoint list; the
	// entries have long been OK.
	DataFederation []atlas.DataFederationEndpoint
	APIKeys        map[string]string // public key -> private key (Digest)
	Clients        map[string]string // client id -> client secret (OAuth2)
	TokenTTL       time.Duration     // lifetime of issued access tokens; zero or negative means 1h

	// PendingAcceptance and Pending are the time a new interface endpoint spends in
	// PENDING_ACCEPTANCE, then PENDING, before AVAILABLE. Default DefaultStepDelay each.
	PendingAcceptance, Pending time.Duration
	// DeleteDelay is the time a deleted endpoint reads as DELETING before it is gone.
	// Default DefaultStepDelay.
	DeleteDelay time.Duration

	// KeepEmptyServices keeps an endpoint service after its last interface
	// endpoint is deleted. By default the fake does what Atlas's reference
	// documents: the service is removed with its last endpoint (it reads as
	// DELETING for DeleteDelay, then is gone).
	KeepEmptyServices bool

	// RateLimit limits authenticated API requests, all of them in one bucket as
	// Atlas does per project for the private endpoint routes; over it the fake
	// answers 429 RATE_LIMITED_TOKEN_BUCKET. Optional.
	RateLimit *TokenBucket
	// TokenRateLimit limits requests to the OAuth2 token endpoint, one bucket per
	// client id (Atlas: about 50 a minute per IP and client; here everything comes
	// from one IP). Over it the fake answers 429 RATE_LIMITED. Optional.
	TokenRateLimit *TokenBucket
	// MaxActiveTokens caps the unexpired access tokens one service account may
	// hold (Atlas: 100). A token request beyond it is answered 403 access_denied,
	// "Access Token limit reached". Zero means no cap.
	MaxActiveTokens int

	Now    func() time.Time // optional clock for statuses, token expiry and rate limits
	Logger *slog.Logger     // optional: one line per request and per status change
}

// Project is a further project the fake serves.
type Project struct {
	ID             string
	Services       []atlas.EndpointService
	DataFederation []atlas.DataFederationEndpoint
}

// Fault is a canned misbehaviour for requests matching Method and PathContains.
// API requests are matched after authentication (so a digest challenge is not
// consumed); token endpoint requests before.
type Fault struct {
	Method       string        // "" matches any method
	PathContains string        // "" matches any path, the token endpoint's included
	Status       int           // canned status; 0 with Delay means a slow but normal answer
	RetryAfter   time.Duration // sent as Retry-After in whole seconds, rounded up
	ErrorCode    string        // errorCode of the canned JSON error body (default by status)
	Times        int           // matching requests it applies to: 0 means 1, negative means until ClearFaults
	Delay        time.Duration // wait before answering (cut short if the client goes away)
	Body         []byte        // raw body sent instead of the JSON error body
	// Parameters and BadRequestFields fill the JSON error body's parameters
	// and badRequestDetail.fields, as Atlas sends them with a 400.
	Parameters       []any
	BadRequestFields []atlas.FieldViolation
	ResetConn        bool // drop the connection with a TCP reset instead of answering
}

// Request is one recorded request. Status is 0 when no response was sent (the
// connection was reset, or the client gave up during a delay).
type Request struct {
	Method        string
	Path          string
	Accept        string
	ContentType   string
	UserAgent     string
	Auth          string // "digest", "bearer", "basic" or ""
	Authenticated bool
	Status        int
	Body          []byte
	Time          time.Time
}

// Fake is the fake Atlas API, an http.Handler. It is safe for concurrent use.
type Fake struct {
	log               *slog.Logger
	now               func() time.Time
	projectID         string
	apiKeys, clients  map[string]string
	tokenTTL          time.Duration
	pendingAcceptance time.Duration
	pending           time.Duration
	deleteDelay       time.Duration
	keepEmpty         bool
	projects          map[string]bool // set at construction, read without mu
	maxTokens         int

	mu            sync.Mutex
	services      []*service
	nonces        map[string]*nonce
	tokens        map[string]accessToken // by token value
	peakTokens    map[string]int         // most active tokens a client has held at once
	tokenRequests int
	apiBucket     *bucket            // nil: no API rate limit
	tokenLimit    *TokenBucket       // nil: no token endpoint rate limit
	tokenBuckets  map[string]*bucket // token endpoint buckets, by client id
	// logMu guards requests on its own: a request is recorded as its answer is
	// written, which handlers may do while holding mu.
	logMu        sync.Mutex
	requests     []Request
	faults       []*Fault
	rejectNext   int
	rejectFirst  map[string]bool // endpoint ids whose next registration is rejected
	failNext     int
	failMsg      string
	holdPending  bool
	heldUntil    time.Time // when HoldPending(false) last released a hold
	holdDeleting bool
	federation   map[string][]*fedEntry // Data Federation endpoint lists, by project
	fedFail      map[string]string      // endpoint ids whose next registration FAILs, with the message
}

// accessToken is an issued OAuth2 access token.
type accessToken struct {
	client  string
	expires time.Time
}

type service struct {
	project                                               string
	id, name, status, region, errorMessage, cloudProvider string
	endpoints                                             []*endpoint
	deleteAt                                              time.Time // when it began to be removed
}

// currentStatus is the service's status; a service being removed reads DELETING.
func (s *service) currentStatus() string {
	if !s.deleteAt.IsZero() {
		return atlas.StatusDeleting
	}
	return s.status
}

type endpoint struct {
	id           string
	created      time.Time
	rejected     bool
	failMsg      string
	deleteAt     time.Time
	lastReported string
}

var (
	objectIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)
	// The pattern of the Atlas v2 specification; stricter than the client's.
	endpointIDPattern = regexp.MustCompile(`^vpce-[0-9a-f]{17}$`)
)

var _ http.Handler = (*Fake)(nil)

// NewUnstartedHandler returns the fake as an http.Handler, for serving on any
// listener. It panics if opts hold malformed ids, as httptest does on setup errors.
func NewUnstartedHandler(opts Options) *Fake {
	f := &Fake{
		log:               opts.Logger,
		now:               opts.Now,
		projectID:         opts.ProjectID,
		apiKeys:           copyMap(opts.APIKeys),
		clients:           copyMap(opts.Clients),
		tokenTTL:          opts.TokenTTL,
		pendingAcceptance: delay(opts.PendingAcceptance),
		pending:           delay(opts.Pending),
		deleteDelay:       delay(opts.DeleteDelay),
		keepEmpty:         opts.KeepEmptyServices,
		maxTokens:         opts.MaxActiveTokens,
		nonces:            map[string]*nonce{},
		tokens:            map[string]accessToken{},
		peakTokens:        map[string]int{},
		tokenBuckets:      map[string]*bucket{},
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.projectID == "" {
		f.projectID = DefaultProjectID
	}
	if !objectIDPattern.MatchString(f.projectID) {
		panic(fmt.Sprintf("atlastest: ProjectID %q is not 24 lower-case hex", f.projectID))
	}
	if f.tokenTTL <= 0 {
		f.tokenTTL = time.Hour
	}
	if opts.RateLimit != nil {
		f.apiBucket = newBucket("RateLimit", *opts.RateLimit, f.now())
	}
	if opts.TokenRateLimit != nil {
		rl := *opts.TokenRateLimit
		_ = newBucket("TokenRateLimit", rl, f.now()) // validates
		f.tokenLimit = &rl
	}
	if f.maxTokens < 0 {
		panic("atlastest: MaxActiveTokens must not be negative")
	}
	seed := opts.Services
	if seed == nil {
		seed = []atlas.EndpointService{{ID: DefaultServiceID, EndpointServiceName: DefaultEndpointServiceName}}
	}
	f.seed(f.projectID, seed, 0)
	f.seedFederation(f.projectID, opts.DataFederation)
	for _, p := range opts.Projects {
		if !objectIDPattern.MatchString(p.ID) {
			panic(fmt.Sprintf("atlastest: project id %q is not 24 lower-case hex", p.ID))
		}
		f.seed(p.ID, p.Services, len(f.services))
		f.seedFederation(p.ID, p.DataFederation)
	}
	return f
}

// seed adds a project's services; first numbers the default service ids.
func (f *Fake) seed(project string, seed []atlas.EndpointService, first int) {
	if f.projects == nil {
		f.projects = map[string]bool{}
	}
	f.projects[project] = true
	// Seeded endpoints have long been AVAILABLE.
	longAgo := f.now().Add(-24 * time.Hour)
	for i, s := range seed {
		i += first
		svc := &service{
			project: project,
			id:      s.ID, name: s.EndpointServiceName, status: s.Status, region: s.RegionName,
			errorMessage: s.ErrorMessage, cloudProvider: s.CloudProvider,
		}
		if svc.id == "" {
			svc.id = fmt.Sprintf("5f%022x", 0xa1+i)
		}
		if !objectIDPattern.MatchString(svc.id) {
			panic(fmt.Sprintf("atlastest: service id %q is not 24 lower-case hex", svc.id))
		}
		if svc.status == "" {
			svc.status = atlas.StatusAvailable
		}
		if svc.region == "" {
			svc.region = strings.ToUpper(strings.ReplaceAll(awsRegion(svc.name), "-", "_"))
		}
		if svc.cloudProvider == "" {
			svc.cloudProvider = "AWS"
		}
		for _, id := range s.InterfaceEndpoints {
			if !endpointIDPattern.MatchString(id) {
				panic(fmt.Sprintf("atlastest: interface endpoint id %q does not match %s", id, endpointIDPattern))
			}
			svc.endpoints = append(svc.endpoints, &endpoint{id: id, created: longAgo, lastReported: atlas.StatusAvailable})
		}
		if f.service(svc.id) != nil {
			panic(fmt.Sprintf("atlastest: service id %q is seeded twice", svc.id))
		}
		f.services = append(f.services, svc)
	}
}

// hasProject reports whether the fake serves the project.
func (f *Fake) hasProject(id string) bool { return f.projects[id] }

// awsRegion extracts us-east-1 from com.amazonaws.vpce.us-east-1.vpce-svc-….
func awsRegion(serviceName string) string {
	parts := strings.Split(serviceName, ".")
	if len(parts) >= 5 && parts[0] == "com" && parts[1] == "amazonaws" {
		return parts[3]
	}
	return ""
}

func delay(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultStepDelay
	case d < 0:
		return 0
	}
	return d
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Server is a Fake listening on a loopback address.
type Server struct {
	*Fake
	URL string // base URL, e.g. http://127.0.0.1:PORT, for atlas.Config.BaseURL
	srv *httptest.Server
}

// NewServer starts a Fake on 127.0.0.1. Close it when done.
func NewServer(opts Options) *Server {
	f := NewUnstartedHandler(opts)
	s := httptest.NewServer(f)
	return &Server{Fake: f, URL: s.URL, srv: s}
}

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }

// ProjectID returns the project the fake serves.
func (f *Fake) ProjectID() string { return f.projectID }

// RejectNext makes the next n registrations end REJECTED (with an errorMessage)
// after PENDING_ACCEPTANCE.
func (f *Fake) RejectNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejectNext = n
}

// RejectFirst makes the next registration of each of ids end REJECTED, and no
// other: unlike RejectNext it does not depend on the order POSTs arrive in.
func (f *Fake) RejectFirst(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejectFirst == nil {
		f.rejectFirst = map[string]bool{}
	}
	for _, id := range ids {
		f.rejectFirst[id] = true
	}
}

// FailNextWithMessage makes the next n registrations stay PENDING with errorMessage
// msg, which is how Atlas reports a failed registration.
func (f *Fake) FailNextWithMessage(n int, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failMsg = n, msg
}

// InjectFault adds a fault; faults are tried in the order added.
func (f *Fake) InjectFault(flt Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if flt.Times == 0 {
		flt.Times = 1
	}
	f.faults = append(f.faults, &flt)
}

// ClearFaults removes every fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// HoldPending keeps endpoints that would be AVAILABLE in PENDING while hold is true.
func (f *Fake) HoldPending(hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holdPending && !hold {
		f.heldUntil = f.now()
	}
	f.holdPending = hold
}

// HoldDeleting keeps deleted endpoints in DELETING while hold is true.
func (f *Fake) HoldDeleting(hold bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdDeleting = hold
}

// KeepEmptyServices switches whether a service outlives its last interface
// endpoint (see Options.KeepEmptyServices).
func (f *Fake) KeepEmptyServices(keep bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keepEmpty = keep
}

// SetAPIKeys replaces the accepted API keys (public -> private), as rotating a
// key in Atlas does: requests signed with a removed key get 401 from then on.
func (f *Fake) SetAPIKeys(keys map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apiKeys = copyMap(keys)
}

// Requests returns a copy of every request received so far, in order.
func (f *Fake) Requests() []Request {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	out := make([]Request, len(f.requests))
	copy(out, f.requests)
	return out
}

// ResetRequests forgets the recorded requests and the token request count.
func (f *Fake) ResetRequests() {
	f.mu.Lock()
	f.tokenRequests = 0
	f.mu.Unlock()
	f.logMu.Lock()
	f.requests = nil
	f.logMu.Unlock()
}

// Count returns how many recorded requests have the method ("" for any) and a path
// containing pathSubstring.
func (f *Fake) Count(method, pathSubstring string) int {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	n := 0
	for _, r := range f.requests {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, pathSubstring) {
			n++
		}
	}
	return n
}

// TokenRequests returns how many requests reached the OAuth2 token endpoint.
func (f *Fake) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests
}

// current finds an interface endpoint of a service as it stands at now, or
// nil. Callers hold f.mu.
func (f *Fake) current(serviceID, id string, now time.Time) *endpoint {
	f.sweep(now)
	if svc := f.service(serviceID); svc != nil {
		return svc.endpoint(id)
	}
	return nil
}

// Endpoint returns an interface endpoint as Atlas would report it now.
func (f *Fake) Endpoint(serviceID, id string) (atlas.InterfaceEndpoint, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	e := f.current(serviceID, id, now)
	if e == nil {
		return atlas.InterfaceEndpoint{}, false
	}
	st := f.state(e, now)
	return atlas.InterfaceEndpoint{ID: e.id, ConnectionStatus: st.status, ErrorMessage: st.errorMessage, DeleteRequested: st.deleteRequested}, true
}

// AvailableSince returns when an interface endpoint became AVAILABLE, if it is
// AVAILABLE now: the time Atlas would have started answering AVAILABLE, which
// a poller can only notice later. Like every status, it is computed from the
// time the endpoint was created and the configured delays (and from when a
// HoldPending was released, if that came later).
func (f *Fake) AvailableSince(serviceID, id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	e := f.current(serviceID, id, now)
	if e == nil || f.state(e, now).status != atlas.StatusAvailable {
		return time.Time{}, false
	}
	at := e.created.Add(f.pendingAcceptance + f.pending)
	if f.heldUntil.After(at) {
		at = f.heldUntil
	}
	return at, true
}

// ActiveTokens reports how many unexpired access tokens the service account
// clientID holds now, and the most it has held at once.
func (f *Fake) ActiveTokens(clientID string) (active, peak int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.activeTokens(clientID, f.now()), f.peakTokens[clientID]
}

// activeTokens counts clientID's unexpired tokens. Callers hold f.mu.
func (f *Fake) activeTokens(clientID string, now time.Time) int {
	n := 0
	for _, t := range f.tokens {
		if t.client == clientID && now.Before(t.expires) {
			n++
		}
	}
	return n
}

// Services returns the endpoint services of every project as v2 reports them now.
func (f *Fake) Services() []atlas.EndpointService { return f.ProjectServices("") }

// ProjectServices returns one project's endpoint services ("" for all) as
// v2 reports them now.
func (f *Fake) ProjectServices(project string) []atlas.EndpointService {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.now())
	out := make([]atlas.EndpointService, 0, len(f.services))
	for _, s := range f.services {
		if project != "" && s.project != project {
			continue
		}
		out = append(out, atlas.EndpointService{
			ID: s.id, EndpointServiceName: s.name, Status: s.currentStatus(), RegionName: s.region,
			ErrorMessage: s.errorMessage, CloudProvider: s.cloudProvider, InterfaceEndpoints: s.endpointIDs(),
		})
	}
	return out
}

func (s *service) endpointIDs() []string {
	ids := make([]string, 0, len(s.endpoints))
	for _, e := range s.endpoints {
		ids = append(ids, e.id)
	}
	return ids
}

func (s *service) endpoint(id string) *endpoint {
	for _, e := range s.endpoints {
		if e.id == id {
			return e
		}
	}
	return nil
}

func (f *Fake) service(id string) *service {
	for _, s := range f.services {
		if s.id == id {
			return s
		}
	}
	return nil
}

type endpointState struct {
	status, errorMessage string
	deleteRequested      bool
	gone                 bool
}

// state computes an endpoint's status from the time since it was created or
// deleted, so no background goroutine is needed. Callers hold f.mu.
func (f *Fake) state(e *endpoint, now time.Time) endpointState {
	if !e.deleteAt.IsZero() {
		if !f.holdDeleting && now.Sub(e.deleteAt) >= f.deleteDelay {
			return endpointState{gone: true}
		}
		return endpointState{status: atlas.StatusDeleting, deleteRequested: true}
	}
	age := now.Sub(e.created)
	switch {
	case age < f.pendingAcceptance:
		return endpointState{status: atlas.StatusPendingAcceptance}
	case e.rejected:
		return endpointState{status: atlas.StatusRejected, errorMessage: "Interface endpoint " + e.id + " was rejected by the endpoint service."}
	case e.failMsg != "":
		return endpointState{status: atlas.StatusPending, errorMessage: e.failMsg}
	case f.holdPending || age < f.pendingAcceptance+f.pending:
		return endpointState{status: atlas.StatusPending}
	}
	return endpointState{status: atlas.StatusAvailable}
}

// sweep forgets endpoints whose deletion has completed and, unless keepEmpty
// is set, removes a service whose last endpoint went that way, as Atlas's
// reference says it does. Callers hold f.mu.
func (f *Fake) sweep(now time.Time) {
	services := f.services[:0]
	for _, s := range f.services {
		if !s.deleteAt.IsZero() && !f.holdDeleting && now.Sub(s.deleteAt) >= f.deleteDelay {
			f.logf("endpoint service %s: DELETING -> gone", s.id)
			continue
		}
		services = append(services, s)
		kept := s.endpoints[:0]
		var lastGone time.Time
		for _, e := range s.endpoints {
			if f.state(e, now).gone {
				f.logf("endpoint %s: %s -> gone", e.id, e.lastReported)
				lastGone = e.deleteAt.Add(f.deleteDelay)
				continue
			}
			kept = append(kept, e)
		}
		clear(s.endpoints[len(kept):])
		s.endpoints = kept
		if len(kept) == 0 && !lastGone.IsZero() && !f.keepEmpty && s.deleteAt.IsZero() {
			s.deleteAt = lastGone
			f.logf("endpoint service %s: %s -> DELETING (its last interface endpoint was deleted)", s.id, s.status)
		}
	}
	clear(f.services[len(services):])
	f.services = services
}

func (f *Fake) logf(format string, args ...any) {
	if f.log != nil {
		f.log.Info(fmt.Sprintf(format, args...))
	}
}
