package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/handler"
)

// A small soak without rate pressure passes, rejects exactly the chosen first
// registrations, and the handlers retry each once.
func TestSmallSoakPasses(t *testing.T) {
	cfg := defaults()
	cfg.n, cfg.reject = 20, 0.25
	cfg.capacity, cfg.refill = 1000, 1000
	cfg.step, cfg.pollInitial, cfg.pollMax = 10*time.Millisecond, 5*time.Millisecond, 50*time.Millisecond
	cfg.deadline = 30 * time.Second
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := run(t.Context(), cfg, io.Discard)
	var out strings.Builder
	rep.print(&out)
	if f := rep.failures(); len(f) > 0 {
		t.Fatalf("failures: %v\n%s", f, out.String())
	}
	if rep.postsPerEP[1] != 15 || rep.postsPerEP[2] != 5 || rep.limited != 0 {
		t.Errorf("want 15 endpoints with 1 POST, 5 with 2, no 429s:\n%s", out.String())
	}
	if min, _ := rep.minimum(); rep.requests < min {
		t.Errorf("%d requests is below the claimed minimum %d", rep.requests, min)
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Errorf("no PASS in\n%s", out.String())
	}
}

// inspect counts a second POST without a DELETE in between as a duplicate,
// from the fake's request log alone.
func TestInspectFindsDuplicatePOST(t *testing.T) {
	srv := atlastest.NewServer(atlastest.Options{APIKeys: map[string]string{publicKey: privateKey}})
	defer srv.Close()
	c, err := atlas.NewClient(atlas.Config{BaseURL: srv.URL, ProjectID: srv.ProjectID()},
		atlas.Credentials{PublicKey: publicKey, PrivateKey: privateKey})
	if err != nil {
		t.Fatal(err)
	}
	id := endpointID(1)
	ctx := context.Background()
	if _, err := c.CreateInterfaceEndpoint(ctx, atlastest.DefaultServiceID, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInterfaceEndpoint(ctx, atlastest.DefaultServiceID, id); !errors.Is(err, atlas.ErrConflict) {
		t.Fatalf("second POST: got %v, want a conflict", err)
	}
	rep := &report{cfg: config{n: 1}}
	rep.inspect(srv.Fake, []string{id})
	if len(rep.duplicates) != 1 || rep.conflicts != 1 {
		t.Errorf("duplicates %v, conflicts %d; want 1 and 1", rep.duplicates, rep.conflicts)
	}
}

// modelConfig is the shipped deployment in the given shape on a fast clock,
// small enough for a test.
func modelConfig(t *testing.T, shape string) config {
	t.Helper()
	s, err := readTemplate("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := modelDefaults(s, "template.yaml", shape)
	cfg.scale = 3 * time.Millisecond // the 900 s deadline lasts 2.7 s
	cfg.accept = time.Minute
	cfg.timeout = time.Minute
	return cfg
}

// A small deployment model of the async shape runs every endpoint through at
// most C warm containers, each with one token, and measures against its own minimum.
func TestModelRunsBurstThroughConcurrency(t *testing.T) {
	t.Parallel()
	cfg := modelConfig(t, shapeAsync)
	cfg.n, cfg.concurrency = 6, 2
	// Three waves of two: the last endpoint turns AVAILABLE after at least
	// three acceptance times, and every one is noticed after it is AVAILABLE.
	// Alone it takes one acceptance time, not two. The simulated clock runs
	// 333 times faster than the real one, so a 30 ms stall of a loaded machine
	// adds 10 simulated seconds: the upper bound says "one wave", no tighter.
	rep, out := timedRun(t, cfg, func(rep *modelReport) error {
		last, ok := rep.burst.lastAvailable()
		alone, aloneOK := rep.alone.lastAvailable()
		if !ok || !aloneOK || last < 3*cfg.accept || alone < cfg.accept || alone >= 2*cfg.accept {
			return fmt.Errorf("last AVAILABLE after %s (want ≥ %s), alone %s (want one wave: %s to %s)", last, 3*cfg.accept, alone, cfg.accept, 2*cfg.accept)
		}
		return nil
	})
	b := rep.burst
	if b.containers != 2 || b.cold() != 2 || len(b.invocations) != 6 || b.rep.outcomes[handler.OutcomeRegistered] != 6 {
		t.Errorf("containers %d, cold %d, invocations %d, outcomes %v; want 2, 2, 6, 6 registered",
			b.containers, b.cold(), len(b.invocations), b.rep.outcomes)
	}
	for _, mi := range b.invocations {
		if mi.container < 0 || mi.container >= cfg.concurrency {
			t.Errorf("invocation in container %d, want below %d", mi.container, cfg.concurrency)
		}
	}
	if b.tokens != 2 || b.peakToken != 2 || b.api429+b.token429+b.token403 != 0 {
		t.Errorf("tokens %d, peak %d, 429s %d+%d, 403s %d; want 2, 2, none", b.tokens, b.peakToken, b.api429, b.token429, b.token403)
	}
	if min, _ := b.minimum(); min != 3*6+2*2 || b.rep.requests < min {
		t.Errorf("minimum %d (want 22), requests %d", min, b.rep.requests)
	}
	if lat := b.latencies(); len(lat) != 6 || lat[0] < 0 {
		t.Errorf("latencies %v: want 6, none negative", lat)
	}
	for _, want := range []string{"all AVAILABLE in Atlas after", "NOT MET", "PASS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// The model applies Atlas's service-account limits: more containers than the
// token endpoint allows at once get 429s and wait; more than the cap of active
// tokens get 403s, fail every delivery, and the endpoint is reported lost.
func TestModelServiceAccountLimits(t *testing.T) {
	t.Parallel()
	t.Run("token rate", func(t *testing.T) {
		t.Parallel()
		cfg := modelConfig(t, shapeAsync)
		cfg.n, cfg.concurrency, cfg.tokenRate = 4, 4, 2
		rep := runDeployment(t.Context(), cfg, io.Discard)
		b := rep.burst
		if f := rep.failures(); len(f) > 0 || b.token429 == 0 || b.raWaits == 0 || b.tokens != 4 {
			t.Errorf("failures %v, token 429s %d, Retry-After waits %d, tokens %d; want none, some, some, 4", f, b.token429, b.raWaits, b.tokens)
		}
		// Two tokens at once, then one every 30 s: the fourth container posts a minute late.
		if last, _ := b.lastAvailable(); last < cfg.accept+time.Minute {
			t.Errorf("last AVAILABLE after %s, want at least %s", last, cfg.accept+time.Minute)
		}
	})
	t.Run("token cap", func(t *testing.T) {
		t.Parallel()
		cfg := modelConfig(t, shapeAsync)
		cfg.n, cfg.concurrency, cfg.tokenCap = 4, 4, 3
		// The other three stay busy through both of Lambda's retries (after 1
		// and 3 minutes), so each delivery lands on the container without a token.
		cfg.accept = 5 * time.Minute
		rep := runDeployment(t.Context(), cfg, io.Discard)
		b := rep.burst
		f := rep.failures()
		if len(f) == 0 || !strings.Contains(strings.Join(f, "; "), "not AVAILABLE") {
			t.Errorf("failures %v: want the endpoint without a token reported", f)
		}
		if b.peakToken != 3 || b.token403 < 1+cfg.redeliver || b.rep.available != 3 || b.rep.errTypes["handler.AtlasError"] != 1+cfg.redeliver {
			t.Errorf("peak %d, 403s %d, AVAILABLE %d, errors %v; want 3, ≥ %d, 3, %d AtlasError",
				b.peakToken, b.token403, b.rep.available, b.rep.errTypes, 1+cfg.redeliver, 1+cfg.redeliver)
		}
	})
}

// Atlas's token endpoint takes 10 requests a minute per service account
// (and IP address). Each container fetches one token and keeps it, so the
// shipped BatchConcurrency (4), and one raised to 10, stay within it: no
// 429s, at most 10 token requests in any minute. At 40 the second wave of
// pollers (a minute after the first five) asks for 35 tokens at once: the
// endpoint refuses some with 429 and Retry-After, the containers wait and
// ask again, and every endpoint is still registered.
func TestModelTokenEndpointRate(t *testing.T) {
	t.Parallel()
	shipped := modelConfig(t, shapeBatch)
	if shipped.tokenRate != 10 || shipped.tokenInterval != time.Minute {
		t.Fatalf("token endpoint modelled at %d per %s, want 10 per minute", shipped.tokenRate, shipped.tokenInterval)
	}
	// Enough events that every container is used: the first five pollers
	// take five batches, the later ones (a minute on) the rest. Batches of
	// 10 or 5 rather than 100 keep the raised runs small.
	tests := []struct {
		name        string
		concurrency int // 0: as shipped
		batchSize   int // 0: as shipped
		n           int
		within      bool
	}{
		{"shipped", 0, 0, 400, true},
		{"raised to 10", 10, 10, 100, true},
		// 35 containers start at the minute: to stay under the bucket's 10
		// and its refill, a loaded machine would have to spread their token
		// requests over more than two minutes (20 did not go over reliably).
		{"raised to 40", 40, 5, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := modelConfig(t, shapeBatch)
			// A slower clock than the other model tests: how many token
			// requests fall within a minute is what is measured, and a
			// loaded machine's timer lag spreads them.
			cfg.scale = 10 * time.Millisecond
			cfg.n = tt.n
			if tt.concurrency > 0 {
				cfg.concurrency, cfg.batchSize = tt.concurrency, tt.batchSize
			}
			rep := runDeployment(t.Context(), cfg, io.Discard)
			b := rep.burst
			if f := rep.failures(); len(f) > 0 || b.rep.available != tt.n {
				t.Fatalf("failures %v, %d of %d AVAILABLE; want none lost", f, b.rep.available, tt.n)
			}
			// A token lives an hour of model time: a long run may renew some.
			if b.tokens < b.containers || b.token403 != 0 {
				t.Errorf("%d tokens for %d containers, %d 403s; want a token each, no 403", b.tokens, b.containers, b.token403)
			}
			if tt.within {
				if b.containers != cfg.concurrency {
					t.Errorf("%d containers, want all %d used", b.containers, cfg.concurrency)
				}
				if b.token429 != 0 || b.tokenBurst > cfg.tokenRate {
					t.Errorf("concurrency %d: %d token 429s, %d token requests in a minute; want none, ≤ %d", cfg.concurrency, b.token429, b.tokenBurst, cfg.tokenRate)
				}
				return
			}
			// Beyond the limit: refused, waited out, and done.
			if b.containers <= 2*cfg.tokenRate || b.token429 == 0 || b.raWaits == 0 || b.tokenBurst <= cfg.tokenRate {
				t.Errorf("concurrency %d: %d containers, %d token 429s, %d Retry-After waits, %d token requests in a minute; want > %d, some, some, > %d",
					cfg.concurrency, b.containers, b.token429, b.raWaits, b.tokenBurst, 2*cfg.tokenRate, cfg.tokenRate)
			}
		})
	}
}

// mostInWindow counts what a sliding window holds at its fullest.
func TestMostInWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	at := func(secs ...int) []time.Time {
		var out []time.Time
		for _, s := range secs {
			out = append(out, t0.Add(time.Duration(s)*time.Second))
		}
		return out
	}
	tests := []struct {
		times []time.Time
		want  int
	}{
		{nil, 0},
		{at(0), 1},
		{at(0, 59), 2},
		{at(0, 60), 1}, // a minute apart: two windows
		{at(0, 30, 61, 62), 3},
		{at(0, 0, 0, 120), 3},
	}
	for _, tt := range tests {
		if got := mostInWindow(tt.times, time.Minute); got != tt.want {
			t.Errorf("mostInWindow(%v) = %d, want %d", tt.times, got, tt.want)
		}
	}
}

// The model reads the shipped settings from the template, following !Ref to
// parameter defaults, and says what is missing.
func TestReadTemplate(t *testing.T) {
	t.Parallel()
	s, err := readTemplate("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.concurrency < 1 || s.timeout != 900*time.Second || s.pollInitial <= 0 || s.pollMax < s.pollInitial ||
		s.maxAttempts < 1 || s.asyncRetries != 2 || s.maxEventAge != 6*time.Hour ||
		s.batchSize < 10 || s.batchWindow <= 0 || s.batchConcurrency < 2 || s.visibility < 6*s.timeout || s.maxReceive != 3 {
		t.Errorf("template.yaml: %+v", s)
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const fn = `
Resources:
  RegistrarFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 600
      ReservedConcurrentExecutions: %s
      Environment:
        Variables:
          ATLAS_POLL_INITIAL: 2s
          ATLAS_POLL_MAX: !Ref PollMax
          ATLAS_MAX_ATTEMPTS: 4
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 60
  RegistrarEventSourceMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      BatchSize: !Ref Batch
      MaximumBatchingWindowInSeconds: 20
      ScalingConfig:
        MaximumConcurrency: 3
  EventQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 3620
      RedrivePolicy:
        maxReceiveCount: 5
`
	params := "Parameters:\n  PollMax:\n    Type: String\n    Default: 9s\n  Conc:\n    Type: Number\n    Default: 7\n  Batch:\n    Type: Number\n    Default: 50\n"
	s, err = readTemplate(write("ok.yaml", params+fmt.Sprintf(fn, "!Ref Conc")))
	want := shipped{concurrency: 7, pollInitial: 2 * time.Second, pollMax: 9 * time.Second, maxAttempts: 4,
		timeout: 600 * time.Second, asyncRetries: 1, maxEventAge: time.Minute,
		batchSize: 50, batchWindow: 20 * time.Second, batchConcurrency: 3, visibility: 3620 * time.Second, maxReceive: 5}
	if err != nil || s != want {
		t.Errorf("readTemplate = %+v, %v; want %+v", s, err, want)
	}
	if s, err := readTemplate(write("literal.yaml", params+fmt.Sprintf(fn, "12"))); err != nil || s.concurrency != 12 {
		t.Errorf("literal concurrency: %+v, %v", s, err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"missing parameter": {fmt.Sprintf(fn, "!Ref Nope"), "parameter Nope, which has no default"},
		"zero concurrency":  {params + fmt.Sprintf(fn, "0"), "want at least 1"},
		"not a number":      {params + fmt.Sprintf(fn, "many"), `ReservedConcurrentExecutions is "many"`},
		"no function":       {"Resources: {}\n", "no resource RegistrarFunction"},
		"no mapping":        {params + strings.Split(fmt.Sprintf(fn, "1"), "  RegistrarEventSourceMapping:")[0], "no resource RegistrarEventSourceMapping"},
	} {
		if _, err := readTemplate(write(strings.ReplaceAll(name, " ", "-")+".yaml", tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := readTemplate(filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "-template") {
		t.Errorf("absent file: %v", err)
	}
}

// Flags: the mode decides the defaults; each mode refuses the other's flags.
func TestParseConfig(t *testing.T) {
	t.Parallel()
	tmpl := "../../template.yaml"
	cfg, err := parseConfig([]string{"-template", tmpl, "-c", "25", "-poll-initial", "2m", "-poll-max", "5s"}, io.Discard)
	if err != nil || cfg.stress || cfg.n != 100 || cfg.concurrency != 25 || cfg.pollInitial != 2*time.Minute ||
		cfg.pollMax != 5*time.Second || cfg.capacity != 4000 || cfg.deadline != 900*time.Second {
		t.Errorf("model: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"-template", tmpl}, io.Discard)
	if err != nil || cfg.shape != shapeBatch || cfg.concurrency != 4 || cfg.batchSize != 100 || cfg.batchWindow != 10*time.Second ||
		cfg.visibility != 5410*time.Second || cfg.maxReceive != 3 {
		t.Errorf("batch shape defaults: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"-template", tmpl, "-shape", "async"}, io.Discard)
	if err != nil || cfg.shape != shapeAsync || cfg.concurrency != 5 {
		t.Errorf("async shape defaults: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"-reject", "0.1", "-stress"}, io.Discard)
	if err != nil || !cfg.stress || cfg.n != 200 || cfg.capacity != 100 || cfg.reject != 0.1 {
		t.Errorf("stress: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"-stress", "-c", "5"},                         // a model flag
		{"-template", tmpl, "-step", "1s"},             // a stress flag
		{"-template", tmpl, "-queue", "lifo"},          // invalid value
		{"-template", tmpl, "-shape", "pipe"},          // invalid shape
		{"-template", tmpl, "-c", "1"},                 // below the mapping's minimum
		{"-template", tmpl, "-scale", "1ms"},           // deadline too short in real time
		{"-template", tmpl, "extra"},                   // stray argument
		{"-template", filepath.Join(t.TempDir(), "x")}, // no template
	} {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// The batch shape takes a burst in a few batches, each one container with
// one token, one service list and one sentinel's polls, and so stays near
// the minimum of requests and near the time of one endpoint alone.
func TestBatchModel(t *testing.T) {
	t.Parallel()
	cfg := modelConfig(t, shapeBatch)
	cfg.n = 24
	// Less than one acceptance time behind one endpoint alone (the batch
	// window included): a batch that waited on another would take a whole
	// acceptance time more. No tighter: a 30 ms stall of a loaded machine is
	// 10 simulated seconds.
	rep, out := timedRun(t, cfg, func(rep *modelReport) error {
		last, ok := rep.burst.lastAvailable()
		alone, aloneOK := rep.alone.lastAvailable()
		if !ok || !aloneOK || last >= alone+cfg.accept {
			return fmt.Errorf("last AVAILABLE after %s, alone %s; want less than one acceptance time (%s) more", last, alone, cfg.accept)
		}
		return nil
	})
	b := rep.burst
	records := 0
	for _, mi := range b.invocations {
		records += mi.records
	}
	if records != cfg.n || b.rep.outcomes[handler.OutcomeRegistered] != cfg.n || b.containers > cfg.concurrency || b.dropped != 0 {
		t.Errorf("records %d, outcomes %v, containers %d, dead-lettered %d; want %d, all registered, at most %d, none\n%s",
			records, b.rep.outcomes, b.containers, b.dropped, cfg.n, cfg.concurrency, out.String())
	}
	if b.tokens != b.containers || b.api429+b.token429 != 0 {
		t.Errorf("tokens %d for %d containers, 429s %d+%d", b.tokens, b.containers, b.api429, b.token429)
	}
	if min, _ := b.minimum(); float64(b.rep.requests) > 1.3*float64(min) {
		t.Errorf("%d requests against a minimum of %d: the batch did not share its polls\n%s", b.rep.requests, min, out.String())
	}
	if !strings.Contains(out.String(), "records per invocation") {
		t.Errorf("report lacks the batch sizes:\n%s", out.String())
	}
}

// A record the function reports failed is delivered again after the
// visibility timeout, and the redelivery finishes it: nothing is lost.
func TestBatchModelRedelivers(t *testing.T) {
	t.Parallel()
	cfg := modelConfig(t, shapeBatch)
	cfg.n, cfg.reject, cfg.maxAttempts = 8, 0.25, 1
	cfg.visibility = cfg.deadline
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := runDeployment(t.Context(), cfg, io.Discard)
	var out strings.Builder
	rep.print(&out)
	b := rep.burst
	if f := rep.failures(); len(f) > 0 || b.rep.available != cfg.n || b.dropped != 0 {
		t.Fatalf("failures %v, AVAILABLE %d, dead-lettered %d\n%s", f, b.rep.available, b.dropped, out.String())
	}
	// The two rejected endpoints failed their first delivery (one attempt
	// each) and were posted again on the second.
	if b.rep.errTypes["RegistrationFailedError"] != 2 || b.rep.postsPerEP[2] != 2 || len(b.invocations) < 2 {
		t.Errorf("errors %v, endpoints with 2 POSTs %d, invocations %d; want 2 RegistrationFailedError, 2, at least 2\n%s",
			b.rep.errTypes, b.rep.postsPerEP[2], len(b.invocations), out.String())
	}
}

// timedRun is mustRun for a test that bounds the model's times. The model
// measures its own timer lag; when a bound fails on a run the lag stretched
// (the machine was too busy for the scale), the run is repeated at twice the
// scale, up to twice, and only a run with no excess lag can pass or fail it.
// A loaded machine then makes the test slower, not flaky.
func timedRun(t *testing.T, cfg config, check func(*modelReport) error) (*modelReport, *strings.Builder) {
	t.Helper()
	for try := 0; ; try++ {
		rep, out := mustRun(t, cfg)
		err := check(rep)
		lag := max(rep.burst.lag, rep.alone.lag)
		if err == nil {
			return rep, out
		}
		if lag <= maxLag || try == 2 {
			t.Errorf("%v (timer lag %s at -scale %s)\n%s", err, lag, cfg.scale, out.String())
			return rep, out
		}
		t.Logf("timer lag %s at -scale %s stretched the figures (%v); again at twice the scale", lag, cfg.scale, err)
		cfg.scale *= 2
	}
}

// mustRun runs the model with a valid cfg and returns the report and its
// printout; a lost or doubly posted endpoint fails the test.
func mustRun(t *testing.T, cfg config) (*modelReport, *strings.Builder) {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := runDeployment(t.Context(), cfg, io.Discard)
	var out strings.Builder
	rep.print(&out)
	if f := rep.failures(); len(f) > 0 {
		t.Fatalf("failures: %v\n%s", f, out.String())
	}
	return rep, &out
}
