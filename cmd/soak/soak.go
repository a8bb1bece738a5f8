package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler"
)

// config is the soak's scenario; flags override the defaults of its mode.
type config struct {
	stress      bool // the all-at-once stress scenario instead of the deployment model
	n           int
	capacity    int
	refill      int
	interval    time.Duration
	step        time.Duration
	pollInitial time.Duration
	pollMax     time.Duration
	maxAttempts int
	deadline    time.Duration
	reject      float64
	redeliver   int
	redelay     time.Duration
	verbose     bool

	// The deployment model only; its durations are model time.
	template          string
	concurrency       int
	concurrencySource string // where the concurrency came from, for the report
	scale             time.Duration
	accept            time.Duration
	deleteTime        time.Duration
	tokenRate         int
	tokenInterval     time.Duration
	tokenCap          int
	tokenTTL          time.Duration
	credentialsTTL    time.Duration
	maxEventAge       time.Duration
	queue             string
	timeout           time.Duration

	// The batch shape: the event queue and its event source mapping.
	shape       string
	batchSize   int
	batchWindow time.Duration
	visibility  time.Duration
	maxReceive  int
}

// Shapes of the deployment the model runs.
const (
	shapeBatch = "batch" // as shipped: the rules queue the events; an event source mapping delivers batches
	shapeAsync = "async" // the earlier shape: EventBridge invokes the function asynchronously, one event each
)

// Ways the model's Lambda hands queued events to free concurrency.
const (
	queueThrottle = "throttle" // as documented: throttled events are retried 1 s, doubling to 5 min, later
	queueFIFO     = "fifo"     // idealised: a freed container takes the next event at once
)

// defaults make 200 containers start together against a bucket that holds
// half of what they need at once, so 429s with Retry-After are certain.
func defaults() config {
	return config{
		stress:      true,
		n:           200,
		capacity:    100,
		refill:      50,
		interval:    time.Second,
		step:        100 * time.Millisecond,
		pollInitial: 100 * time.Millisecond,
		pollMax:     time.Second,
		maxAttempts: 3,
		deadline:    2 * time.Minute,
		redelay:     time.Second,
		template:    "template.yaml",
	}
}

// modelDefaults are the deployment as shipped (from template.yaml) and
// Atlas's limits as far as they are known; see docs/performance.md for which of them
// are published and which are assumptions.
func modelDefaults(s shipped, template, shape string) config {
	concurrency, source := s.batchConcurrency, " ("+template+", MaximumConcurrency)"
	if shape == shapeAsync {
		concurrency, source = s.concurrency, " ("+template+", ReservedConcurrency)"
	}
	return config{
		shape:             shape,
		batchSize:         s.batchSize,
		batchWindow:       s.batchWindow,
		visibility:        s.visibility,
		maxReceive:        s.maxReceive,
		n:                 100,
		capacity:          4000,
		refill:            2000,
		interval:          time.Minute,
		pollInitial:       s.pollInitial,
		pollMax:           s.pollMax,
		maxAttempts:       s.maxAttempts,
		deadline:          s.timeout,
		redeliver:         s.asyncRetries,
		template:          template,
		concurrency:       concurrency,
		concurrencySource: source,
		scale:             10 * time.Millisecond,
		accept:            2 * time.Minute,
		deleteTime:        time.Minute,
		// Atlas answers the 11th token request of a minute, per IP address
		// and service account, with 429 RATE_LIMITED: "Resource
		// /api/oauth/token is limited to 10 requests every 1 minutes"
		// (terraform-provider-mongodbatlas PR #3791).
		tokenRate:      10,
		tokenInterval:  time.Minute,
		tokenCap:       goalTokenCapN,
		tokenTTL:       time.Hour,
		credentialsTTL: handler.DefaultCredentialsTTL,
		maxEventAge:    s.maxEventAge,
		queue:          queueThrottle,
		timeout:        5 * time.Minute,
	}
}

func (c *config) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.stress, "stress", c.stress, "run the stress scenario (every registration at once, each in its own handler, API keys, a tight bucket, real time) instead of the deployment model")
	fs.StringVar(&c.template, "template", c.template, "SAM template the model reads the shipped settings from")
	fs.IntVar(&c.n, "n", c.n, "endpoints created at once")
	fs.IntVar(&c.capacity, "capacity", c.capacity, "Atlas API rate limit: token bucket capacity")
	fs.IntVar(&c.refill, "refill", c.refill, "Atlas API rate limit: tokens added every -interval")
	fs.DurationVar(&c.interval, "interval", c.interval, "Atlas API rate limit: refill interval")
	fs.DurationVar(&c.pollInitial, "poll-initial", c.pollInitial, "handler: first wait between status polls")
	fs.DurationVar(&c.pollMax, "poll-max", c.pollMax, "handler: cap on the wait between status polls (model: below -poll-initial means the first wait, then every -poll-max)")
	fs.IntVar(&c.maxAttempts, "attempts", c.maxAttempts, "handler: registration attempts per invocation")
	fs.DurationVar(&c.deadline, "deadline", c.deadline, "deadline of each invocation (the Lambda timeout)")
	fs.Float64Var(&c.reject, "reject", c.reject, "fraction of first registrations the fake answers REJECTED (0 to 1)")
	fs.IntVar(&c.redeliver, "redeliver", c.redeliver, "redeliveries of a failed invocation, as Lambda's async retries (Lambda: 2); 0 requires every first invocation to succeed")
	fs.BoolVar(&c.verbose, "v", c.verbose, "write the handlers' log lines to stderr")
	if c.stress {
		c.registerStress(fs)
	} else {
		c.registerModel(fs)
	}
}

// registerStress adds the flags only the stress scenario has.
func (c *config) registerStress(fs *flag.FlagSet) {
	fs.DurationVar(&c.step, "step", c.step, "fake: time in each of PENDING_ACCEPTANCE, PENDING and DELETING")
	fs.DurationVar(&c.redelay, "redeliver-delay", c.redelay, "wait before each redelivery (Lambda: about 1m, then 2m)")
}

// registerModel adds the flags only the deployment model has.
func (c *config) registerModel(fs *flag.FlagSet) {
	fs.StringVar(&c.shape, "shape", c.shape, "deployment shape: batch (as shipped: event queue, batches through an event source mapping) or async (the earlier shape: one asynchronous invocation per event)")
	fs.IntVar(&c.concurrency, "c", c.concurrency, "concurrency: batch shape, the mapping's MaximumConcurrency (template's BatchConcurrency); async shape, the reserved concurrency (template's ReservedConcurrency)")
	fs.IntVar(&c.batchSize, "batch-size", c.batchSize, "batch shape: most records per invocation (template's BatchSize)")
	fs.DurationVar(&c.batchWindow, "batch-window", c.batchWindow, "batch shape: the mapping's batching window")
	fs.DurationVar(&c.visibility, "visibility", c.visibility, "batch shape: the queue's visibility timeout (a failed record is delivered again after it)")
	fs.IntVar(&c.maxReceive, "max-receive", c.maxReceive, "batch shape: deliveries before a record goes to the dead-letter queue")
	fs.DurationVar(&c.scale, "scale", c.scale, "real time one model second lasts")
	fs.DurationVar(&c.accept, "accept", c.accept, "Atlas: time from POST to AVAILABLE (PENDING_ACCEPTANCE, then PENDING)")
	fs.DurationVar(&c.deleteTime, "delete", c.deleteTime, "Atlas: time a deleted endpoint stays DELETING")
	fs.IntVar(&c.tokenRate, "token-rate", c.tokenRate, "Atlas token endpoint: requests per -token-interval per client (a bucket of that size)")
	fs.DurationVar(&c.tokenInterval, "token-interval", c.tokenInterval, "Atlas token endpoint: interval of -token-rate")
	fs.IntVar(&c.tokenCap, "token-cap", c.tokenCap, "Atlas: active tokens a service account may hold")
	fs.DurationVar(&c.tokenTTL, "token-ttl", c.tokenTTL, "Atlas: lifetime of an access token")
	fs.DurationVar(&c.credentialsTTL, "credentials-ttl", c.credentialsTTL, "handler: how long a container keeps its credentials (and so its client and token)")
	fs.StringVar(&c.queue, "queue", c.queue, "how Lambda hands queued events to free concurrency: throttle (documented: retried 1s doubling to 5m) or fifo (idealised)")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "real time after which the model gives up on invocations still running")
}

func (c config) validate() error {
	switch {
	case c.n < 1 || c.n > 10000:
		return fmt.Errorf("-n %d: want 1 to 10000", c.n)
	case c.capacity < 1 || c.refill < 1 || c.interval <= 0:
		return errors.New("-capacity, -refill and -interval must be positive")
	case c.pollInitial < time.Millisecond || c.pollMax < time.Millisecond:
		return errors.New("-poll-initial and -poll-max must be at least 1ms")
	case c.maxAttempts < 1 || c.maxAttempts > 10:
		return fmt.Errorf("-attempts %d: want 1 to 10", c.maxAttempts)
	case c.reject < 0 || c.reject > 1:
		return fmt.Errorf("-reject %g: want 0 to 1", c.reject)
	case c.redeliver < 0 || c.redeliver > 2:
		return fmt.Errorf("-redeliver %d: want 0 to 2 (Lambda retries an async event at most twice)", c.redeliver)
	}
	if c.stress {
		switch {
		case c.step < 0:
			return errors.New("-step must not be negative")
		case c.pollMax < c.pollInitial:
			return errors.New("-poll-max must be at least -poll-initial")
		case c.deadline < 5*time.Second || c.deadline > 15*time.Minute:
			return fmt.Errorf("-deadline %s: want 5s to 15m", c.deadline)
		case c.redelay < 0 || c.redelay > 5*time.Minute:
			return fmt.Errorf("-redeliver-delay %s: want 0 to 5m", c.redelay)
		}
		return nil
	}
	clk := clock{scale: c.scale}
	switch {
	case c.concurrency < 1 || c.concurrency > 1000:
		return fmt.Errorf("-c %d: want 1 to 1000", c.concurrency)
	case c.scale < 100*time.Microsecond || c.scale > time.Second:
		return fmt.Errorf("-scale %s: want 100µs to 1s", c.scale)
	case c.deadline < time.Minute || c.deadline > 15*time.Minute:
		return fmt.Errorf("-deadline %s: want 1m to 15m (Lambda's maximum)", c.deadline)
	case clk.real(c.deadline-handler.DefaultDeadlineMargin) < 2*time.Second:
		// The handler will not start a registration with under a second of real time left.
		return fmt.Errorf("-scale %s: the %s deadline lasts %s of real time; want at least 2s, so a larger -scale",
			c.scale, c.deadline, clk.real(c.deadline))
	case c.accept <= 0 || c.deleteTime < 0:
		return errors.New("-accept must be positive and -delete not negative")
	case c.tokenRate < 1 || c.tokenInterval <= 0 || c.tokenCap < 1 || c.tokenTTL <= 0:
		return errors.New("-token-rate, -token-interval, -token-cap and -token-ttl must be positive")
	case c.credentialsTTL < 0:
		return errors.New("-credentials-ttl must not be negative")
	case c.queue != queueThrottle && c.queue != queueFIFO:
		return fmt.Errorf("-queue %q: want %s or %s", c.queue, queueThrottle, queueFIFO)
	case c.timeout <= 0:
		return errors.New("-timeout must be positive")
	case c.shape != shapeBatch && c.shape != shapeAsync:
		return fmt.Errorf("-shape %q: want %s or %s", c.shape, shapeBatch, shapeAsync)
	case c.shape == shapeBatch && (c.batchSize < 1 || c.batchSize > 10000):
		return fmt.Errorf("-batch-size %d: want 1 to 10000", c.batchSize)
	case c.shape == shapeBatch && (c.batchWindow < 0 || c.batchWindow > 5*time.Minute || c.batchSize > 10 && c.batchWindow < time.Second):
		return fmt.Errorf("-batch-window %s: want 0 to 5m, and at least 1s for a batch size above 10", c.batchWindow)
	case c.shape == shapeBatch && (c.concurrency < 2 || c.maxReceive < 1 || c.visibility < c.deadline):
		return errors.New("batch shape: -c at least 2, -max-receive at least 1, and -visibility at least the deadline (Lambda refuses a shorter one)")
	}
	return nil
}

func (c config) queueDescription() string {
	if c.queue == queueFIFO {
		return "at once (fifo, idealised)"
	}
	return "1s doubling to 5m"
}

// rejected is how many first registrations the fake rejects.
func (c config) rejected() int { return int(c.reject * float64(c.n)) }

const (
	publicKey  = "soakpublic"
	privateKey = "soak-private-0000-0000-000000000000"
	vpcID      = "vpc-0500000000000000a"
	subnetID   = "subnet-0500000000000000a"
)

// endpointID is the id of registration i, in the form Atlas's specification requires.
func endpointID(i int) string { return fmt.Sprintf("vpce-%017x", 0x50a0000000000+i) }

// lookup stands in for EC2: every endpoint exists and is an Interface endpoint
// for the fake's endpoint service.
type lookup struct{}

var _ handler.EndpointLookup = lookup{}

func (lookup) LookupEndpoint(_ context.Context, id string) (*awsvpc.Endpoint, error) {
	return &awsvpc.Endpoint{
		ID: id, VPCID: vpcID, ServiceName: atlastest.DefaultEndpointServiceName,
		State: "pendingAcceptance", Type: "Interface", OwnerID: "123456789012", SubnetIDs: []string{subnetID},
	}, nil
}

func (l lookup) DescribeEndpoint(ctx context.Context, id string) (*awsvpc.Endpoint, error) {
	return l.LookupEndpoint(ctx, id)
}

func (lookup) ServiceEndpoints(context.Context, string, ...string) ([]awsvpc.Endpoint, error) {
	return nil, errors.New("soak: reconcile is not part of the soak")
}

// DescribeNetwork describes nothing: connectivity is not part of the soak,
// and a group or subnet that is not described is not judged.
func (lookup) DescribeNetwork(context.Context, []string, []string) (*awsvpc.Network, error) {
	return &awsvpc.Network{}, nil
}

// secrets stands in for Secrets Manager: it returns the fake's API key.
type secrets struct{}

var _ handler.SecretSource = secrets{}

func (secrets) SecretJSON(context.Context, string) ([]byte, error) {
	return json.Marshal(map[string]string{"public_key": publicKey, "private_key": privateKey})
}

// event is the EventBridge delivery of a successful CreateVpcEndpoint call.
func event(id string) []byte {
	return fmt.Appendf(nil, `{"version":"0","id":"00000000-0000-4000-8000-%012x","detail-type":"AWS API Call via CloudTrail",
"source":"aws.ec2","account":"123456789012","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],
"detail":{"eventVersion":"1.10","eventSource":"ec2.amazonaws.com","eventName":"CreateVpcEndpoint","awsRegion":"us-east-1",
"requestParameters":{"CreateVpcEndpointRequest":{"VpcEndpointType":"Interface","VpcId":%q,"ServiceName":%q,"SubnetId":{"tag":1,"content":%q}}},
"responseElements":{"CreateVpcEndpointResponse":{"vpcEndpoint":{"vpcEndpointId":%q,"vpcId":%q,"serviceName":%q,
"state":"pendingAcceptance","vpcEndpointType":"Interface","subnetIdSet":{"item":{"subnetId":%q}},"groupSet":"","tagSet":"","ownerId":123456789012}}},
"errorCode":null,"errorMessage":null}}`,
		time.Now().UnixNano()&0xffffffffffff, vpcID, atlastest.DefaultEndpointServiceName, subnetID,
		id, vpcID, atlastest.DefaultEndpointServiceName, subnetID)
}

// invocation is what one delivery of an event returned.
type invocation struct {
	id       string
	res      *handler.Result
	err      error
	panicked any
}

// report is everything the soak measured.
type report struct {
	cfg  config
	wall time.Duration

	available   int            // endpoints the fake reports AVAILABLE
	states      map[string]int // every endpoint's status in the fake, by status
	extra       int            // endpoints in the fake's service that the soak did not create
	invoked     int            // invocations started, redeliveries included
	returned    int            // invocations that returned a result or an error
	outcomes    map[string]int // outcome of each result
	errTypes    map[string]int // Go type of each error (and "panic")
	errSamples  []string       // a few error messages
	postsPerEP  map[int]int    // endpoints by number of POSTs that reached Atlas
	duplicates  []string       // endpoints POSTed more often than they had attempts
	conflicts   int            // POSTs answered 409
	requests    int            // every request the fake received
	byKind      map[string]int // the same, by kind
	challenges  int            // 401 digest challenges
	limited     int            // 429s answered
	retryAfters int            // client retries that waited on a Retry-After
	retries     int            // client retries in all
}

// run performs the soak and returns its report. Progress and, with -v, the
// handlers' logs go to logw.
func run(ctx context.Context, cfg config, logw io.Writer) *report {
	ids := make([]string, cfg.n)
	reject := map[string]bool{}
	for i := range cfg.n {
		ids[i] = endpointID(i)
		// Spread the rejections evenly over the registrations.
		if r := cfg.rejected(); i*r/cfg.n != (i+1)*r/cfg.n {
			reject[ids[i]] = true
		}
	}
	fake := atlastest.NewUnstartedHandler(atlastest.Options{
		APIKeys:           map[string]string{publicKey: privateKey},
		PendingAcceptance: stepDelay(cfg.step),
		Pending:           stepDelay(cfg.step),
		DeleteDelay:       stepDelay(cfg.step),
		RateLimit:         &atlastest.TokenBucket{Capacity: cfg.capacity, Refill: cfg.refill, Interval: cfg.interval},
	})
	for id := range reject {
		fake.RejectFirst(id)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	var retries, retryAfters atomic.Int64
	atlasCfg := atlas.Config{
		BaseURL: srv.URL, Version: atlas.V2, ProjectID: fake.ProjectID(), UserAgent: "atlasvpce-soak",
		OnRetry: func(_ context.Context, err error, _ time.Duration) {
			retries.Add(1)
			if er, ok := errors.AsType[*atlas.ErrorResponse](err); ok && er.StatusCode == http.StatusTooManyRequests && er.RetryAfter > 0 {
				retryAfters.Add(1)
			}
		},
	}
	hcfg := handler.Config{
		ProjectIDs:     []string{fake.ProjectID()},
		SecretID:       "atlas/registrar",
		BaseURL:        srv.URL,
		APIVersion:     atlas.V2,
		MaxAttempts:    cfg.maxAttempts,
		PollInitial:    cfg.pollInitial,
		PollMax:        cfg.pollMax,
		CredentialsTTL: handler.DefaultCredentialsTTL,
		DeadlineMargin: 2 * time.Second,
	}
	logger := slog.New(slog.DiscardHandler)
	if cfg.verbose {
		logger = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	fmt.Fprintf(logw, "soak: starting %d registrations against %s\n", cfg.n, srv.URL)
	var invoked atomic.Int64
	returns := make(chan invocation, cfg.n*(1+cfg.redeliver))
	startGun := make(chan struct{})
	var ready, finished sync.WaitGroup
	for _, id := range ids {
		ready.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			// One container: its own handler and, through NewAtlas, its own client and connections.
			h := handler.New(hcfg, handler.Deps{
				Endpoints: lookup{},
				Secrets:   secrets{},
				NewAtlas: func(c atlas.Credentials, project string) (handler.AtlasAPI, error) {
					return atlas.NewClient(atlasCfg, c)
				},
				Logger: logger,
			})
			payload := event(id)
			ready.Done()
			<-startGun
			for delivery := 0; delivery <= cfg.redeliver; delivery++ {
				if delivery > 0 && sleep(ctx, cfg.redelay) != nil {
					return
				}
				invoked.Add(1)
				inv := invoke(ctx, h, id, payload, cfg.deadline)
				returns <- inv
				if inv.err == nil && inv.panicked == nil {
					return
				}
			}
		}()
	}
	ready.Wait()
	start := time.Now()
	close(startGun)

	// Every invocation has a deadline, so this bound only trips on a hang.
	allDone := make(chan struct{})
	go func() { finished.Wait(); close(allDone) }()
	giveUp := time.NewTimer(time.Duration(1+cfg.redeliver)*(cfg.deadline+cfg.redelay) + 30*time.Second)
	defer giveUp.Stop()
	select {
	case <-allDone:
	case <-giveUp.C:
		fmt.Fprintln(logw, "soak: giving up on invocations that did not return")
	}
	rep := &report{cfg: cfg, wall: time.Since(start), outcomes: map[string]int{}, errTypes: map[string]int{}}
	rep.invoked = int(invoked.Load())
	for len(returns) > 0 {
		inv := <-returns
		rep.returned++
		switch {
		case inv.panicked != nil:
			rep.errTypes["panic"]++
			rep.sample(fmt.Sprintf("%s: panic: %v", inv.id, inv.panicked))
		case inv.err != nil:
			rep.errTypes[errorKind(inv.err)]++
			rep.sample(fmt.Sprintf("%s: %v", inv.id, inv.err))
		case inv.res != nil:
			rep.outcomes[inv.res.Outcome]++
		default:
			rep.errTypes["nil result and nil error"]++
		}
	}
	rep.retries, rep.retryAfters = int(retries.Load()), int(retryAfters.Load())
	rep.inspect(fake, ids)
	return rep
}

// invoke runs one delivery of the event with the Lambda deadline.
func invoke(ctx context.Context, h *handler.Handler, id string, payload []byte, deadline time.Duration) (inv invocation) {
	inv.id = id
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			inv.panicked = p
		}
	}()
	inv.res, inv.err = h.Handle(ctx, payload)
	return inv
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stepDelay maps the flag to the fake's convention: zero there means its
// default, negative means none.
func stepDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (r *report) sample(msg string) {
	const maxLen = 300
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "…"
	}
	if len(r.errSamples) < 3 {
		r.errSamples = append(r.errSamples, msg)
	}
}

// errorKind is the name Lambda would put in errorType, and the Atlas cause
// when it is one the soak provokes.
func errorKind(err error) string {
	kind := strings.TrimPrefix(fmt.Sprintf("%T", err), "*")
	switch {
	case errors.Is(err, atlas.ErrRateLimited):
		kind += " (429)"
	case errors.Is(err, context.DeadlineExceeded):
		kind += " (deadline)"
	}
	return kind
}

// inspect reads the outcome from the fake's own state and request log, not
// from what the handlers said.
func (r *report) inspect(f *atlastest.Fake, ids []string) {
	r.states = map[string]int{}
	ours := map[string]bool{}
	for _, id := range ids {
		ours[id] = true
		ie, ok := f.Endpoint(atlastest.DefaultServiceID, id)
		status := "absent"
		if ok {
			status = ie.ConnectionStatus
		}
		r.states[status]++
		if status == atlas.StatusAvailable {
			r.available++
		}
	}
	for _, s := range f.Services() {
		for _, id := range s.InterfaceEndpoints {
			if !ours[id] {
				r.extra++
			}
		}
	}

	posts, deletes := map[string]int{}, map[string]int{}
	r.byKind = map[string]int{}
	reqs := f.Requests()
	r.requests = len(reqs)
	for _, q := range reqs {
		switch {
		case q.Status == http.StatusUnauthorized && !q.Authenticated:
			r.challenges++
			continue
		case q.Status == http.StatusTooManyRequests:
			r.limited++
			continue
		}
		kind := q.Method + " " + pathKind(q.Path)
		r.byKind[kind]++
		switch q.Method {
		case http.MethodPost:
			// A POST that got past authentication and the rate limit reached the registration logic.
			var body struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(q.Body, &body)
			posts[body.ID]++
			if q.Status == http.StatusConflict {
				r.conflicts++
			}
		case http.MethodDelete:
			deletes[q.Path[strings.LastIndexByte(q.Path, '/')+1:]]++
		}
	}
	r.postsPerEP = map[int]int{}
	for _, id := range ids {
		p := posts[id]
		r.postsPerEP[p]++
		// Each attempt is one POST; a failed attempt is deleted before the next.
		if attempts := 1 + deletes[id]; p > attempts {
			r.duplicates = append(r.duplicates, fmt.Sprintf("%s: %d POSTs for %d attempts", id, p, attempts))
		}
	}
}

// pathKind names an Atlas v2 private endpoint path by what it addresses.
func pathKind(p string) string {
	switch {
	case strings.HasSuffix(p, "/endpointService"):
		return "endpoint services"
	case strings.HasSuffix(p, "/endpoint"):
		return "endpoints"
	case strings.Contains(p, "/endpoint/"):
		return "endpoint"
	}
	return p
}

// minimum is the fewest requests the scenario can be done in: per
// registration one list (each container is cold), one GET (404), one POST and
// one poll that sees AVAILABLE; per rejection one poll that sees REJECTED,
// one DELETE, one GET (404) and one more POST; every request doubled by the
// digest 401 challenge.
func (r *report) minimum() (int, string) {
	n, rej := r.cfg.n, r.cfg.rejected()
	perReg, perRej := 4, 4
	min := 2 * (perReg*n + perRej*rej)
	how := fmt.Sprintf("2 × 4 × %d = %d: per registration (a cold container) 1 list + 1 GET (404) + 1 POST + 1 poll that sees AVAILABLE; ×2 for digest's 401 challenge", n, min)
	if rej > 0 {
		how = fmt.Sprintf("2 × (4 × %d + 4 × %d) = %d: per registration (a cold container) 1 list + 1 GET (404) + 1 POST + 1 poll that sees AVAILABLE; per rejection 1 DELETE + 1 GET (404) + 1 POST + 1 poll; ×2 for digest's 401 challenge",
			n, rej, min)
	}
	return min, how
}

// failures are the reasons to exit non-zero.
func (r *report) failures() []string {
	var out []string
	if r.available != r.cfg.n {
		out = append(out, fmt.Sprintf("%d of %d endpoints are not AVAILABLE in the fake (%s)", r.cfg.n-r.available, r.cfg.n, countList(r.states)))
	}
	if lost := r.invoked - r.returned; lost > 0 {
		out = append(out, fmt.Sprintf("%d invocations were lost (never returned)", lost))
	}
	if n := r.errTypes["panic"]; n > 0 {
		out = append(out, fmt.Sprintf("%d invocations panicked", n))
	}
	if len(r.duplicates) > 0 {
		out = append(out, fmt.Sprintf("%d endpoints got duplicate POSTs, e.g. %s", len(r.duplicates), r.duplicates[0]))
	}
	if r.extra > 0 {
		out = append(out, fmt.Sprintf("%d endpoints in the fake were not created by the soak", r.extra))
	}
	return out
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "soak: %d registrations at once, each in its own handler, against one Atlas fake\n", c.n)
	fmt.Fprintf(w, "  rate limit %d tokens, refill %d per %s; status steps %s; polls %s..%s; %d attempts; deadline %s; rejected first registrations %d; redeliveries %d",
		c.capacity, c.refill, c.interval, c.step, c.pollInitial, c.pollMax, c.maxAttempts, c.deadline, c.rejected(), c.redeliver)
	if c.redeliver > 0 {
		fmt.Fprintf(w, " after %s", c.redelay)
	}
	fmt.Fprint(w, "\n\n")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, value, want string, ok bool) {
		mark := ""
		if want != "" {
			mark = "ok"
			if !ok {
				mark = "FAIL"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, value, want, mark)
	}
	fmt.Fprintf(tw, "check\tmeasured\twant\t\n")
	row("AVAILABLE in the fake", fmt.Sprintf("%d/%d (%s)", r.available, c.n, countList(r.states)), fmt.Sprintf("%d", c.n), r.available == c.n)
	lost := r.invoked - r.returned
	row("invocations returned", fmt.Sprintf("%d/%d, lost %d", r.returned, r.invoked, lost), "0 lost", lost == 0 && r.errTypes["panic"] == 0)
	row("  results by outcome", orNone(countList(r.outcomes)), "", true)
	row("  errors by type", orNone(countList(r.errTypes)), "", true)
	row("duplicate POSTs", fmt.Sprintf("%d endpoints", len(r.duplicates)), "0", len(r.duplicates) == 0)
	row("  endpoints by POSTs", postsList(r.postsPerEP), "", true)
	row("  POSTs answered 409", fmt.Sprint(r.conflicts), "", true)
	min, how := r.minimum()
	row("Atlas requests", fmt.Sprintf("%d (%.2f× minimum)", r.requests, float64(r.requests)/float64(min)), "", true)
	row("  minimum possible", fmt.Sprintf("%d, see below", min), "", true)
	row("  401 digest challenges", fmt.Sprint(r.challenges), "", true)
	row("  429 answered", fmt.Sprint(r.limited), "", true)
	row("  the rest, by kind", countList(r.byKind), "", true)
	row("client retries", fmt.Sprintf("%d, %d of them waiting on Retry-After", r.retries, r.retryAfters), "", true)
	row("wall time", r.wall.Round(time.Millisecond).String(), "", true)
	_ = tw.Flush()

	fmt.Fprintln(w, "\nminimum:", how)
	for _, s := range r.errSamples {
		fmt.Fprintln(w, "  error:", s)
	}
	printVerdict(w, r.failures(), "PASS")
}

func countList(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func postsList(m map[int]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d POST: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// printVerdict prints each failure, or pass when there is none.
func printVerdict(w io.Writer, fails []string, pass string) {
	for _, f := range fails {
		fmt.Fprintln(w, "FAIL:", f)
	}
	if len(fails) == 0 {
		fmt.Fprintln(w, pass)
	}
}
