package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
)

// The deployment model runs the deployment as shipped on a fast clock: one
// model second lasts cfg.scale of real time. Everything that waits is scaled
// the same way: the fake's status delays, rate limits and token lifetimes run
// on the model clock (so they are written in Atlas's own numbers), and the
// handler's durations (poll schedule, deadline, margin, credentials TTL), the
// client's retry backoff and Lambda's queue delays are divided by the scale.

// Service account the model authenticates with: tokens, their rate limit and
// their cap are part of what it measures.
const (
	modelClientID     = "mdb_sa_id_soak"
	modelClientSecret = "mdb_sa_sk_soak-secret"
)

// clock maps model time to real time. Model time starts at the real start.
type clock struct {
	start time.Time
	scale time.Duration // real time per model second
}

func newClock(scale time.Duration) *clock { return &clock{start: time.Now(), scale: scale} }

// now is the model time.
func (c *clock) now() time.Time {
	return c.start.Add(c.model(time.Since(c.start)))
}

// real converts a model duration to real time.
func (c *clock) real(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(c.scale) / float64(time.Second))
}

// model converts a real duration to model time.
func (c *clock) model(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(time.Second) / float64(c.scale))
}

// modelTransport sits between a container's Atlas client and the fake. The
// fake's Retry-After is in model seconds; the client reads whole seconds and
// would wait them in real time, a hundred times too long at the default
// scale. So the transport waits the scaled Retry-After itself and hands the
// 429 on without the header; the client then adds its own scaled backoff, much
// as it adds jitter to a Retry-After.
type modelTransport struct {
	base  http.RoundTripper
	clk   *clock
	waits *atomic.Int64
}

func (t *modelTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil && n > 0 {
			t.waits.Add(1)
			if err := sleep(r.Context(), t.clk.real(time.Duration(n)*time.Second)); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
		resp.Header.Del("Retry-After")
	}
	return resp, nil
}

// serviceAccount stands in for Secrets Manager: it returns the service account.
type serviceAccount struct{}

var _ handler.SecretSource = serviceAccount{}

func (serviceAccount) SecretJSON(context.Context, string) ([]byte, error) {
	return json.Marshal(map[string]string{"clientId": modelClientID, "clientSecret": modelClientSecret})
}

// container is one Lambda execution environment: a handler kept warm between
// invocations, with its own connections.
type container struct {
	id        int
	h         *handler.Handler
	transport *http.Transport
}

// modelInvocation is one invocation of the function, in model time.
type modelInvocation struct {
	invocation
	delivery   int // 0 for the event's first delivery, then Lambda's retries
	container  int
	cold       bool
	start, end time.Time
	records    int               // events it carried: 1, or a batch's records
	outcomes   map[string]string // outcome of each endpoint it finished, by id
	errKinds   []string          // errorType of each record that failed (batches)
}

// modelRun is one run of the model: n endpoints created at t0.
type modelRun struct {
	n           int
	t0          time.Time // model time the endpoints were created
	wall        time.Duration
	ids         []string
	rejected    int
	invocations []modelInvocation
	containers  int
	throttles   int           // times Lambda found no free concurrency for an event
	dropped     int           // events older than the maximum event age, never run
	raWaits     int           // Retry-After waits the transport served
	lag         time.Duration // the longest a model second overran, in model time
	rep         *report

	available map[string]time.Time // model time Atlas turned AVAILABLE
	noticed   map[string]time.Time // model time the function returned a success
	api429    int
	token429  int
	token403  int
	tokens    int // tokens issued
	peakToken int // most active tokens at once
	// tokenBurst is the most token requests (answered or refused) in any
	// window of the token endpoint's interval: what its limit counts.
	tokenBurst int
}

// modelEnv is what both shapes of the deployment share: the Atlas fake on the
// model clock, the handler's settings, the containers, and the timer-lag probe.
type modelEnv struct {
	cfg      config
	n        int
	clk      *clock
	ids      []string
	rejected int
	fake     *atlastest.Fake
	srv      *httptest.Server
	raWaits  atomic.Int64
	invoked  atomic.Int64
	logw     io.Writer
	tap      *outcomeTap // every record's outcome, from the handlers' log lines

	mu  sync.Mutex
	all []*container

	newContainer func() *container
	lagStop      chan struct{}
	lagDone      chan time.Duration
	t0           time.Time
	start        time.Time
}

// newModelEnv sets up n endpoints (the first registrations of cfg.reject of
// them rejected), the fake and the way containers are made, and starts the
// clock.
func newModelEnv(cfg config, n int, logw io.Writer) *modelEnv {
	clk := newClock(cfg.scale)
	e := &modelEnv{cfg: cfg, n: n, clk: clk, ids: make([]string, n), logw: logw}
	reject := map[string]bool{}
	e.rejected = int(cfg.reject * float64(n))
	for i := range n {
		e.ids[i] = endpointID(i)
		if i*e.rejected/n != (i+1)*e.rejected/n {
			reject[e.ids[i]] = true
		}
	}
	e.fake = atlastest.NewUnstartedHandler(atlastest.Options{
		Clients:           map[string]string{modelClientID: modelClientSecret},
		TokenTTL:          cfg.tokenTTL,
		PendingAcceptance: stepDelay(cfg.accept / 2),
		Pending:           stepDelay(cfg.accept - cfg.accept/2),
		DeleteDelay:       stepDelay(cfg.deleteTime),
		RateLimit:         &atlastest.TokenBucket{Capacity: cfg.capacity, Refill: cfg.refill, Interval: cfg.interval},
		TokenRateLimit:    &atlastest.TokenBucket{Capacity: cfg.tokenRate, Refill: cfg.tokenRate, Interval: cfg.tokenInterval},
		MaxActiveTokens:   cfg.tokenCap,
		Now:               clk.now,
	})
	for id := range reject {
		e.fake.RejectFirst(id)
	}
	e.srv = httptest.NewServer(e.fake)

	atlasCfg := atlas.Config{
		BaseURL: e.srv.URL, Version: atlas.V2, ProjectID: e.fake.ProjectID(), UserAgent: "atlasvpce-soak",
		Retry: atlas.RetryPolicy{Initial: clk.real(500 * time.Millisecond), Max: clk.real(10 * time.Second)},
	}
	hcfg := handler.Config{
		ProjectIDs:     []string{e.fake.ProjectID()},
		SecretID:       "atlas/registrar",
		BaseURL:        e.srv.URL,
		APIVersion:     atlas.V2,
		MaxAttempts:    cfg.maxAttempts,
		PollInitial:    clk.real(cfg.pollInitial),
		PollMax:        clk.real(cfg.pollMax),
		CredentialsTTL: clk.real(cfg.credentialsTTL),
		DeadlineMargin: clk.real(handler.DefaultDeadlineMargin),
	}
	var base slog.Handler = slog.DiscardHandler
	if cfg.verbose {
		base = slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	e.tap = newOutcomeTap(base)
	logger := slog.New(e.tap)
	e.newContainer = func() *container {
		e.mu.Lock()
		defer e.mu.Unlock()
		tr := http.DefaultTransport.(*http.Transport).Clone()
		mt := &modelTransport{base: tr, clk: clk, waits: &e.raWaits}
		c := &container{id: len(e.all), transport: tr}
		c.h = handler.New(hcfg, handler.Deps{
			Endpoints: lookup{},
			Secrets:   serviceAccount{},
			NewAtlas: func(cr atlas.Credentials, _ string) (handler.AtlasAPI, error) {
				ac := atlasCfg
				ac.Transport = mt
				return atlas.NewClient(ac, cr)
			},
			Logger: logger,
		})
		e.all = append(e.all, c)
		return c
	}

	// A busy machine stretches every wait; the model is only as good as the
	// timers, so it measures how late they fire.
	e.lagStop, e.lagDone = make(chan struct{}), make(chan time.Duration)
	go func() {
		var worst time.Duration
		tick := clk.real(time.Second)
		for {
			t := time.Now()
			select {
			case <-e.lagStop:
				e.lagDone <- worst
				return
			case <-time.After(tick):
			}
			worst = max(worst, time.Since(t)-tick)
		}
	}()
	e.t0 = clk.now()
	e.start = time.Now()
	return e
}

// close releases the fake and the containers' connections.
func (e *modelEnv) close() {
	e.mu.Lock()
	for _, c := range e.all {
		c.transport.CloseIdleConnections()
	}
	e.mu.Unlock()
	e.srv.Close()
}

// wait waits for wg, or gives up after cfg.timeout: every invocation has a
// deadline and every wait is bounded, so this only trips on a hang or a
// too-small -timeout. Then cancel stops what still runs, which gets a moment
// to return; what does not is counted lost.
func (e *modelEnv) wait(wg *sync.WaitGroup, cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	giveUp := time.NewTimer(e.cfg.timeout)
	defer giveUp.Stop()
	select {
	case <-done:
	case <-giveUp.C:
		fmt.Fprintf(e.logw, "soak: model: -timeout %s reached; stopping\n", e.cfg.timeout)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
}

// finish stops the clock and reads the run's outcome from the invocations
// and from the fake.
func (e *modelEnv) finish(run *modelRun, invs []modelInvocation) *modelRun {
	close(e.lagStop)
	run.n, run.t0, run.wall, run.ids, run.rejected, run.lag = e.n, e.t0, time.Since(e.start), e.ids, e.rejected, e.clk.model(<-e.lagDone)
	run.raWaits = int(e.raWaits.Load())
	run.available, run.noticed = map[string]time.Time{}, map[string]time.Time{}
	rep := &report{cfg: config{n: e.n}, outcomes: map[string]int{}, errTypes: map[string]int{}}
	for _, mi := range invs {
		run.invocations = append(run.invocations, mi)
		rep.returned++
		switch {
		case mi.panicked != nil:
			rep.errTypes["panic"]++
			rep.sample(fmt.Sprintf("%s: panic: %v", mi.id, mi.panicked))
		case mi.err != nil:
			rep.errTypes[errorKind(mi.err)]++
			rep.sample(fmt.Sprintf("%s: %v", mi.id, mi.err))
		}
		for id, outcome := range mi.outcomes {
			rep.outcomes[outcome]++
			if outcome == handler.OutcomeRegistered || outcome == handler.OutcomeAlreadyRegistered {
				run.noticed[id] = mi.end
			}
		}
		for _, kind := range mi.errKinds {
			rep.errTypes[kind]++
		}
	}
	e.mu.Lock()
	run.containers = len(e.all)
	e.mu.Unlock()
	rep.invoked = int(e.invoked.Load())
	rep.inspect(e.fake, e.ids)
	run.rep = rep
	for _, id := range e.ids {
		if at, ok := e.fake.AvailableSince(atlastest.DefaultServiceID, id); ok {
			run.available[id] = at
		}
	}
	for _, q := range e.fake.Requests() {
		token := q.Path == "/api/oauth/token"
		switch {
		case q.Status == http.StatusTooManyRequests && token:
			run.token429++
		case q.Status == http.StatusTooManyRequests:
			run.api429++
		case q.Status == http.StatusForbidden && token:
			run.token403++
		case q.Status == http.StatusOK && token:
			run.tokens++
		}
	}
	_, run.peakToken = e.fake.ActiveTokens(modelClientID)
	run.tokenBurst = mostInWindow(tokenTimes(e.fake.Requests()), e.cfg.tokenInterval)
	fmt.Fprintf(e.logw, "soak: model: %d endpoint(s) done in %s real time\n", e.n, run.wall.Round(time.Millisecond))
	return run
}

// runModel runs n endpoints created at once through the modelled deployment,
// in the shape cfg.shape names.
func runModel(ctx context.Context, cfg config, n int, logw io.Writer) *modelRun {
	if cfg.shape == shapeAsync {
		return runAsync(ctx, cfg, n, logw)
	}
	return runBatch(ctx, cfg, n, logw)
}

// runAsync is the earlier shape: EventBridge invokes the function
// asynchronously, one event per invocation, at most cfg.concurrency at once.
func runAsync(ctx context.Context, cfg config, n int, logw io.Writer) *modelRun {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fmt.Fprintf(logw, "soak: model: %d endpoint(s) created at once, async invocations, concurrency %d, 1 model second = %s\n", n, cfg.concurrency, cfg.scale)
	e := newModelEnv(cfg, n, logw)
	defer e.close()
	clk := e.clk

	// Reserved concurrency: at most cfg.concurrency invocations at once. A slot
	// holds its warm container once it has one.
	slots := make(chan *container, cfg.concurrency)
	for range cfg.concurrency {
		slots <- nil
	}
	var throttles, dropped atomic.Int64
	// acquire waits for a free slot the way Lambda's async queue does: an event
	// that finds no free concurrency is throttled and tried again, 1 s after the
	// first attempt, doubling up to 5 min; one older than the maximum event age
	// is dropped.
	acquire := func(ctx context.Context, queued time.Time) (*container, bool, error) {
		if cfg.queue == queueFIFO {
			select {
			case c := <-slots:
				return c, true, nil
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		}
		b := &backoff.ExponentialBackOff{
			InitialInterval: time.Second, Multiplier: 2, MaxInterval: 5 * time.Minute, RandomizationFactor: 0.2,
		}
		b.Reset()
		for {
			select {
			case c := <-slots:
				return c, true, nil
			default:
			}
			throttles.Add(1)
			if clk.now().Sub(queued) > cfg.maxEventAge {
				return nil, false, nil
			}
			if err := sleep(ctx, clk.real(b.NextBackOff())); err != nil {
				return nil, false, err
			}
		}
	}

	t0 := e.t0
	invs := make(chan modelInvocation, n*(1+cfg.redeliver))
	var wg sync.WaitGroup
	for _, id := range e.ids {
		wg.Go(func() {
			payload := event(id)
			for delivery := 0; delivery <= cfg.redeliver; delivery++ {
				if delivery > 0 {
					// Lambda retries a failed async invocation after about 1, then 2 minutes.
					if sleep(ctx, clk.real(time.Duration(delivery)*time.Minute)) != nil {
						return
					}
				}
				c, ok, err := acquire(ctx, t0)
				if err != nil {
					return
				}
				if !ok {
					dropped.Add(1)
					return
				}
				cold := c == nil
				if cold {
					c = e.newContainer()
				}
				e.invoked.Add(1)
				mi := modelInvocation{delivery: delivery, container: c.id, cold: cold, start: clk.now(), records: 1}
				mi.invocation = invoke(ctx, c.h, id, payload, clk.real(cfg.deadline))
				mi.end = clk.now()
				if mi.res != nil {
					mi.outcomes = map[string]string{id: mi.res.Outcome}
				}
				slots <- c
				invs <- mi
				if mi.err == nil && mi.panicked == nil {
					return
				}
			}
		})
	}
	e.wait(&wg, cancel)
	close(invs)
	var all []modelInvocation
	for mi := range invs {
		all = append(all, mi)
	}
	run := &modelRun{throttles: int(throttles.Load()), dropped: int(dropped.Load())}
	return e.finish(run, all)
}

// lastAvailable is how long after t0 the last endpoint turned AVAILABLE, or
// false if some never did.
func (r *modelRun) lastAvailable() (time.Duration, bool) { return r.last(r.available) }

// lastNoticed is how long after t0 the function returned its last success.
func (r *modelRun) lastNoticed() (time.Duration, bool) { return r.last(r.noticed) }

// last is how long after t0 the latest endpoint's time in at is, or false
// if some endpoint has none.
func (r *modelRun) last(at map[string]time.Time) (time.Duration, bool) {
	var last time.Duration
	for _, id := range r.ids {
		t, ok := at[id]
		if !ok {
			return 0, false
		}
		last = max(last, t.Sub(r.t0))
	}
	return last, true
}

// latencies are, per endpoint, the time from Atlas turning AVAILABLE to the
// function returning its success, sorted.
func (r *modelRun) latencies() []time.Duration {
	var out []time.Duration
	for _, id := range r.ids {
		a, ok1 := r.available[id]
		n, ok2 := r.noticed[id]
		if ok1 && ok2 {
			out = append(out, n.Sub(a))
		}
	}
	slices.Sort(out)
	return out
}

// minimum is the fewest Atlas HTTP requests the run could have been done in,
// by a flow that knew everything in advance: per endpoint a GET (404), the
// POST and one GET that sees AVAILABLE; per rejected first registration a GET
// that sees REJECTED, the DELETE, a GET (404) and the POST again; per
// container one token and one list of endpoint services.
func (r *modelRun) minimum() (int, string) {
	min := 3*r.n + 4*r.rejected + 2*r.containers
	how := fmt.Sprintf("3 × %d endpoints + 2 × %d containers = %d", r.n, r.containers, min)
	if r.rejected > 0 {
		how = fmt.Sprintf("3 × %d endpoints + 4 × %d rejections + 2 × %d containers = %d", r.n, r.rejected, r.containers, min)
	}
	return min, how
}

// batchSizes lists the records of each invocation, in the order they started.
func (r *modelRun) batchSizes() string {
	invs := slices.Clone(r.invocations)
	slices.SortFunc(invs, func(a, b modelInvocation) int { return a.start.Compare(b.start) })
	var out []string
	for _, mi := range invs {
		out = append(out, strconv.Itoa(mi.records))
	}
	if len(out) > 12 {
		out = append(out[:12], "…")
	}
	return strings.Join(out, " ")
}

func (r *modelRun) cold() int {
	n := 0
	for _, mi := range r.invocations {
		if mi.cold {
			n++
		}
	}
	return n
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(0, i)]
}

// tokenTimes are the (model) times of the requests to the token endpoint.
func tokenTimes(reqs []atlastest.Request) []time.Time {
	var out []time.Time
	for _, q := range reqs {
		if q.Path == "/api/oauth/token" {
			out = append(out, q.Time)
		}
	}
	slices.SortFunc(out, time.Time.Compare) // the log is in arrival order; a clock may tie or skew
	return out
}

// mostInWindow is the most of times (in order) that fall within any window
// of length d.
func mostInWindow(times []time.Time, d time.Duration) int {
	most, first := 0, 0
	for i, t := range times {
		for t.Sub(times[first]) >= d {
			first++
		}
		most = max(most, i-first+1)
	}
	return most
}

// modelReport is a burst run and the single-endpoint baseline.
type modelReport struct {
	cfg          config
	burst, alone *modelRun
}

// Goals the model is compared against; the speed targets live here, in the
// benchmark, not in a timed test.
const (
	goalSpeedup   = 2.5 // all AVAILABLE within this many times one endpoint alone
	goalRequests  = 1.3 // Atlas requests within this many times the minimum
	goalTokenCapN = 100 // Atlas's cap on a service account's active tokens

	// maxLag is the timer lateness beyond which the model's times mean little.
	maxLag = 2 * time.Second
)

func runDeployment(ctx context.Context, cfg config, logw io.Writer) *modelReport {
	alone := runModel(ctx, cfg, 1, logw)
	burst := runModel(ctx, cfg, cfg.n, logw)
	return &modelReport{cfg: cfg, burst: burst, alone: alone}
}

// failures are the reasons to exit non-zero: lost or doubled endpoints, in
// either run. Missed speed goals are reported, not failed.
func (m *modelReport) failures() []string {
	var out []string
	for _, r := range []*modelRun{m.alone, m.burst} {
		for _, f := range r.rep.failures() {
			out = append(out, fmt.Sprintf("%d endpoint(s): %s", r.n, f))
		}
		switch {
		case r.dropped > 0 && m.cfg.shape == shapeAsync:
			out = append(out, fmt.Sprintf("%d endpoint(s): %d events dropped by Lambda's queue (older than %s)", r.n, r.dropped, m.cfg.maxEventAge))
		case r.dropped > 0:
			out = append(out, fmt.Sprintf("%d endpoint(s): %d events moved to the dead-letter queue after %d deliveries", r.n, r.dropped, m.cfg.maxReceive))
		}
	}
	return out
}

func fmtModel(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func (m *modelReport) print(w io.Writer) {
	c := m.cfg
	fmt.Fprintf(w, "soak: deployment model, %d endpoints created at once (times are model time; 1 s = %s real)\n", c.n, c.scale)
	if c.shape == shapeAsync {
		fmt.Fprintf(w, "  Lambda (async shape): concurrency %d%s, timeout %s, %d async retries after 1m and 2m, throttled events retried %s, events kept %s\n",
			c.concurrency, c.concurrencySource, c.deadline, c.redeliver, c.queueDescription(), c.maxEventAge)
	} else {
		fmt.Fprintf(w, "  Lambda (batch shape, as shipped): event queue, batches of up to %d records, batching window %s, at most %d batches at once%s (%d pollers to start, +%d a minute), timeout %s, visibility timeout %s, %d deliveries then the dead-letter queue\n",
			c.batchSize, c.batchWindow, c.concurrency, c.concurrencySource, initialPollers, pollersAddedPerMin, c.deadline, c.visibility, c.maxReceive)
	}
	pollNote := ""
	if c.pollMax < c.pollInitial {
		pollNote = " (first wait, then every poll-max: not accepted by LoadConfig today)"
	}
	fmt.Fprintf(w, "  handler: polls %s growing ×1.5 to %s%s, %d attempts, credentials cached %s, deadline margin %s\n",
		c.pollInitial, c.pollMax, pollNote, c.maxAttempts, c.credentialsTTL, handler.DefaultDeadlineMargin)
	fmt.Fprintf(w, "  Atlas: acceptance %s, API bucket %d +%d/%s, token endpoint %d/%s per client, ≤%d active tokens living %s, DELETING %s, rejected first registrations %d\n\n",
		c.accept, c.capacity, c.refill, c.interval, c.tokenRate, c.tokenInterval, c.tokenCap, c.tokenTTL, c.deleteTime, m.burst.rejected)

	b, a := m.burst, m.alone
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\t%d endpoints\t1 endpoint alone\tgoal\t\n", b.n)
	dur := func(d time.Duration, ok bool) string {
		if !ok {
			return "never (some not AVAILABLE)"
		}
		return fmtModel(d)
	}
	bAvail, bOK := b.lastAvailable()
	aAvail, aOK := a.lastAvailable()
	speed := "—"
	speedMet := false
	if bOK && aOK && aAvail > 0 {
		ratio := float64(bAvail) / float64(aAvail)
		speedMet = ratio <= goalSpeedup
		speed = fmt.Sprintf("%.2f× alone, want ≤ %.1f×: %s", ratio, goalSpeedup, mark(speedMet))
	}
	fmt.Fprintf(tw, "all AVAILABLE in Atlas after\t%s\t%s\t%s\t\n", dur(bAvail, bOK), dur(aAvail, aOK), speed)
	bN, bNOK := b.lastNoticed()
	aN, aNOK := a.lastNoticed()
	fmt.Fprintf(tw, "all noticed by the function after\t%s\t%s\t\t\n", dur(bN, bNOK), dur(aN, aNOK))
	lat, alat := b.latencies(), a.latencies()
	fmt.Fprintf(tw, "AVAILABLE → noticed: median, p95, max\t%s, %s, %s\t%s\t\t\n",
		fmtModel(percentile(lat, 50)), fmtModel(percentile(lat, 95)), fmtModel(percentile(lat, 100)), fmtModel(percentile(alat, 100)))
	limited := b.api429 + b.token429
	fmt.Fprintf(tw, "429s: API, token endpoint\t%d, %d\t%d, %d\t0: %s\t\n", b.api429, b.token429, a.api429, a.token429, mark(limited == 0))
	fmt.Fprintf(tw, "token requests in any %s, most\t%d\t%d\t≤ %d: %s\t\n", c.tokenInterval, b.tokenBurst, a.tokenBurst, c.tokenRate, mark(b.tokenBurst <= c.tokenRate))
	tokensOK := b.peakToken <= c.tokenCap && b.token403 == 0
	fmt.Fprintf(tw, "active tokens at most (403s)\t%d (%d)\t%d (%d)\t≤ %d: %s\t\n", b.peakToken, b.token403, a.peakToken, a.token403, c.tokenCap, mark(tokensOK))
	bMin, bHow := b.minimum()
	aMin, _ := a.minimum()
	reqRatio := float64(b.rep.requests) / float64(bMin)
	fmt.Fprintf(tw, "Atlas HTTP requests (minimum)\t%d (%d)\t%d (%d)\t%.2f× minimum, want ≤ %.1f×: %s\t\n",
		b.rep.requests, bMin, a.rep.requests, aMin, reqRatio, goalRequests, mark(reqRatio <= goalRequests))
	fmt.Fprintf(tw, "  tokens issued\t%d\t%d\t\t\n", b.tokens, a.tokens)
	fmt.Fprintf(tw, "invocations (cold), containers\t%d (%d), %d\t%d (%d), %d\t\t\n", len(b.invocations), b.cold(), b.containers, len(a.invocations), a.cold(), a.containers)
	if c.shape == shapeBatch {
		fmt.Fprintf(tw, "  records per invocation\t%s\t%s\t\t\n", b.batchSizes(), a.batchSizes())
	}
	fmt.Fprintf(tw, "  results by outcome\t%s\t%s\t\t\n", orNone(countList(b.rep.outcomes)), orNone(countList(a.rep.outcomes)))
	fmt.Fprintf(tw, "  errors by type\t%s\t%s\t\t\n", orNone(countList(b.rep.errTypes)), orNone(countList(a.rep.errTypes)))
	if c.shape == shapeAsync {
		fmt.Fprintf(tw, "Lambda throttles (event re-queued)\t%d\t%d\t\t\n", b.throttles, a.throttles)
	} else {
		fmt.Fprintf(tw, "records in the dead-letter queue\t%d\t%d\t0\t\n", b.dropped, a.dropped)
	}
	fmt.Fprintf(tw, "AVAILABLE in the fake\t%d/%d\t%d/%d\t\t\n", b.rep.available, b.n, a.rep.available, a.n)
	fmt.Fprintf(tw, "duplicate POSTs\t%d\t%d\t0\t\n", len(b.rep.duplicates), len(a.rep.duplicates))
	fmt.Fprintf(tw, "real time\t%s\t%s\t\t\n", b.wall.Round(time.Millisecond), a.wall.Round(time.Millisecond))
	lagOK := max(a.lag, b.lag) <= maxLag
	fmt.Fprintf(tw, "timer lag, worst (model time)\t%s\t%s\t≤ %s: %s\t\n", fmtModel(b.lag), fmtModel(a.lag), maxLag, map[bool]string{true: "ok", false: "machine too busy for this -scale; figures stretched"}[lagOK])
	_ = tw.Flush()
	fmt.Fprintln(w, "\nrequests by kind:", countList(b.rep.byKind))
	fmt.Fprintln(w, "minimum:", bHow, "(per endpoint a GET that finds nothing, the POST and one GET that sees AVAILABLE; per container one token and one service list)")
	for _, r := range []*modelRun{a, b} {
		for _, s := range r.rep.errSamples {
			fmt.Fprintln(w, "  error:", s)
		}
	}
	printVerdict(w, m.failures(), "PASS (no endpoint lost or posted twice; the goals above are measured, not enforced)")
}
