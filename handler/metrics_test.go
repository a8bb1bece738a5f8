package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/emf"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// syncBuffer collects the metrics lines; invocations may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// metricsLine is one decoded EMF line of the harness.
type metricsLine struct {
	raw     string
	root    map[string]any
	sets    [][]string
	units   map[string]string // metric name -> unit, from the directive
	metrics map[string]float64
	values  map[string][]float64 // metrics with several values
}

// metricsLines decodes the EMF lines written so far, checking the parts of
// the format the dashboard relies on.
func (hs *harness) metricsLines() []metricsLine {
	hs.t.Helper()
	var out []metricsLine
	for _, raw := range strings.SplitAfter(hs.metrics.String(), "\n") {
		if raw == "" {
			continue
		}
		var doc struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			hs.t.Fatalf("metrics line is not JSON: %v: %q", err, raw)
		}
		var root map[string]any
		_ = json.Unmarshal([]byte(raw), &root)
		if len(doc.AWS.CloudWatchMetrics) != 1 || doc.AWS.CloudWatchMetrics[0].Namespace != DefaultMetricsNamespace || doc.AWS.Timestamp <= 0 {
			hs.t.Fatalf("metrics line has no single directive in %s with a timestamp: %s", DefaultMetricsNamespace, raw)
		}
		d := doc.AWS.CloudWatchMetrics[0]
		l := metricsLine{raw: raw, root: root, sets: d.Dimensions, units: map[string]string{}, metrics: map[string]float64{}, values: map[string][]float64{}}
		for _, m := range d.Metrics {
			if vs, ok := root[m.Name].([]any); ok {
				for _, v := range vs {
					f, ok := v.(float64)
					if !ok {
						hs.t.Fatalf("metric %s has a value that is no number in %s", m.Name, raw)
					}
					l.values[m.Name] = append(l.values[m.Name], f)
				}
				l.units[m.Name] = m.Unit
				continue
			}
			v, ok := root[m.Name].(float64)
			if !ok {
				hs.t.Fatalf("metric %s has no number in %s", m.Name, raw)
			}
			l.units[m.Name], l.metrics[m.Name] = m.Unit, v
		}
		out = append(out, l)
	}
	return out
}

// oneMetricsLine returns the only EMF line written so far.
func (hs *harness) oneMetricsLine() metricsLine {
	hs.t.Helper()
	lines := hs.metricsLines()
	if len(lines) != 1 {
		hs.t.Fatalf("%d metrics lines, want 1:\n%s", len(lines), hs.metrics)
	}
	return lines[0]
}

// A registration writes one EMF line: registered, one attempt, the seconds
// from POST to AVAILABLE, and every Atlas HTTP request with its 429s.
func TestMetricsOfARegistration(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	// Two 429s on the POST (no Retry-After, so the client's short backoff applies).
	hs.fake.InjectFault(atlastest.Fault{Method: http.MethodPost, Status: http.StatusTooManyRequests, ErrorCode: "RATE_LIMITED", Times: 2})
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f5b1c9e-0000-4000-8000-000000000001"})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	start := time.Now()
	res, err := hs.h.Handle(ctx, hs.event())
	took := time.Since(start)
	if err != nil || res.Outcome != OutcomeRegistered {
		t.Fatalf("Handle() = %+v, %v", res, err)
	}
	l := hs.oneMetricsLine()

	if want := [][]string{{DimensionOutcome, DimensionProject}, {DimensionOutcome}, {}}; !reflect.DeepEqual(l.sets, want) {
		t.Errorf("dimension sets = %v, want %v", l.sets, want)
	}
	for k, want := range map[string]string{
		DimensionOutcome: OutcomeRegistered, DimensionProject: hs.fake.ProjectID(),
		"requestId": "8f5b1c9e-0000-4000-8000-000000000001", "vpcEndpointId": hs.seeded.EndpointID,
	} {
		if l.root[k] != want {
			t.Errorf("member %s = %v, want %s", k, l.root[k], want)
		}
	}
	if _, ok := l.root["errorType"]; ok {
		t.Errorf("a successful registration carries an errorType: %s", l.raw)
	}

	reqs := hs.fake.Requests()
	var limited int
	for _, r := range reqs {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 2 {
		t.Fatalf("the fake answered %d requests 429, want the 2 injected", limited)
	}
	wantCounts := map[string]float64{
		MetricEvents:           1,
		MetricAttempts:         1,
		MetricAtlasRequests:    float64(len(reqs)), // every request on the wire, digest challenges included
		MetricAtlasRateLimited: 2,
	}
	for name, want := range wantCounts {
		if got, ok := l.metrics[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	// Digest doubles each call, so at least list, GET, POST, 2 retried POSTs and a poll, twice.
	if l.metrics[MetricAtlasRequests] < 12 {
		t.Errorf("%s = %v, want at least 12", MetricAtlasRequests, l.metrics[MetricAtlasRequests])
	}

	// The fake holds a new endpoint PENDING_ACCEPTANCE, then PENDING, 15 ms each.
	secs, ok := l.metrics[MetricSecondsToAvailable]
	if !ok || secs < 0.030 || secs > took.Seconds() {
		t.Errorf("%s = %v (present %v), want between 0.030 and the invocation's %.3f s", MetricSecondsToAvailable, secs, ok, took.Seconds())
	}
	for name, unit := range l.units {
		if want := metricUnits[name]; unit != string(want) {
			t.Errorf("%s has unit %q, want %q", name, unit, want)
		}
	}
}

// Every outcome reaches the Outcome dimension; only what happened is measured.
func TestMetricsOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(hs *harness) []byte // the event; may change the fake
		timeout   time.Duration
		outcome   string
		errorType string
		metrics   []string // the metrics present, besides Events, AtlasRequests and AtlasRateLimited
		noAtlas   bool
	}{
		{
			name:    "ignored: a failed API call",
			setup:   func(hs *harness) []byte { return readEvent(t, "create-vpc-endpoint-failed-call.json") },
			outcome: OutcomeIgnored,
			noAtlas: true,
		},
		{
			name:      "error: an invalid event",
			setup:     func(hs *harness) []byte { return []byte(`{"vpcEndpointId":"vpce-1/../../orgs"}`) },
			outcome:   MetricOutcomeError,
			errorType: "InvalidEventError",
			noAtlas:   true,
		},
		{
			name: "already registered",
			setup: func(hs *harness) []byte {
				if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil {
					t.Fatal(err)
				}
				hs.metrics.Reset()
				return hs.event()
			},
			outcome: OutcomeAlreadyRegistered,
		},
		{
			name:      "failed: every attempt rejected",
			setup:     func(hs *harness) []byte { hs.fake.RejectNext(3); return hs.event() },
			outcome:   MetricOutcomeFailed,
			errorType: "RegistrationFailedError",
			metrics:   []string{MetricAttempts},
		},
		{
			name:      "deadline: still pending",
			setup:     func(hs *harness) []byte { hs.fake.HoldPending(true); return hs.event() },
			timeout:   2 * time.Second,
			outcome:   MetricOutcomeDeadline,
			errorType: "DeadlineError",
			metrics:   []string{MetricAttempts},
		},
		{
			name:    "registered after a rejection",
			setup:   func(hs *harness) []byte { hs.fake.RejectNext(1); return hs.event() },
			outcome: OutcomeRegistered,
			metrics: []string{MetricAttempts, MetricSecondsToAvailable},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := newHarness(t, harnessOptions{})
			payload := tt.setup(hs)
			hs.fake.ResetRequests()
			_, err := hs.invoke(payload, cmpOr(tt.timeout, 30*time.Second))
			if (err != nil) != (tt.errorType != "") {
				t.Fatalf("Handle() error = %v, want errorType %q", err, tt.errorType)
			}
			l := hs.oneMetricsLine()
			if l.root[DimensionOutcome] != tt.outcome || l.root[DimensionProject] != hs.fake.ProjectID() {
				t.Errorf("Outcome %v, ProjectId %v; want %s, %s", l.root[DimensionOutcome], l.root[DimensionProject], tt.outcome, hs.fake.ProjectID())
			}
			if got, _ := l.root["errorType"].(string); got != tt.errorType {
				t.Errorf("errorType = %q, want %q", got, tt.errorType)
			}
			want := append([]string{MetricEvents, MetricAtlasRequests, MetricAtlasRateLimited}, tt.metrics...)
			var got []string
			for name := range l.metrics {
				got = append(got, name)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("metrics %v, want %v", got, want)
			}
			// A request the deadline cut short may reach the fake's log a moment
			// after the invocation returned: give the server that moment. It may
			// also never reach it: the deadline can close the connection between
			// net/http buffering the request (where it is counted) and flushing
			// it, so at a deadline the count may be one above what Atlas saw.
			counted := l.metrics[MetricAtlasRequests]
			n := float64(len(hs.fake.Requests()))
			for wait := time.Now().Add(2 * time.Second); n < counted && time.Now().Before(wait); {
				time.Sleep(10 * time.Millisecond)
				n = float64(len(hs.fake.Requests()))
			}
			uncertain := 0.0
			if tt.outcome == MetricOutcomeDeadline {
				uncertain = 1
			}
			if n > counted || n < counted-uncertain || (tt.noAtlas && n != 0) {
				t.Errorf("%s = %v, the fake received %v", MetricAtlasRequests, counted, n)
			}
			if tt.outcome == MetricOutcomeFailed && l.metrics[MetricAttempts] != 3 {
				t.Errorf("%s = %v, want 3", MetricAttempts, l.metrics[MetricAttempts])
			}
		})
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d != 0 {
		return d
	}
	return def
}

// Concurrent invocations of one Handler (one container in Lambda runs one at
// a time; tests and the soak run many) count only their own Atlas requests.
func TestMetricsOfConcurrentInvocationsDoNotMix(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err != nil { // warm: no list call below
		t.Fatal(err)
	}
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		id, err := motoserver.CreateEndpoint(context.Background(), hs.awsCfg, hs.seeded.VPCID, hs.seeded.SubnetIDs, atlastest.DefaultEndpointServiceName, "Interface")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	// Different amounts of work: the first two meet 500s on their GETs, which
	// the client retries (each a request the fake records, with the id in it).
	hs.fake.InjectFault(atlastest.Fault{Method: http.MethodGet, PathContains: ids[0], Status: http.StatusInternalServerError, Times: 1})
	hs.fake.InjectFault(atlastest.Fault{Method: http.MethodGet, PathContains: ids[1], Status: http.StatusInternalServerError, Times: 3})
	hs.fake.ResetRequests()
	hs.metrics.Reset()

	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if res, err := hs.invoke([]byte(`{"vpcEndpointId":"`+id+`"}`), 30*time.Second); err != nil || res.Outcome != OutcomeRegistered {
				t.Errorf("Handle(%s) = %+v, %v", id, res, err)
			}
		})
	}
	wg.Wait()

	// What the fake received for each endpoint: its id is in the path of a
	// GET and in the body of a POST, challenges included.
	perEndpoint := map[string]float64{}
	for _, r := range hs.fake.Requests() {
		for _, id := range ids {
			if strings.Contains(r.Path, id) || bytes.Contains(r.Body, []byte(id)) {
				perEndpoint[id]++
			}
		}
	}
	lines := hs.metricsLines()
	if len(lines) != n {
		t.Fatalf("%d metrics lines, want %d", len(lines), n)
	}
	for _, l := range lines {
		id, _ := l.root["vpcEndpointId"].(string)
		if got, want := l.metrics[MetricAtlasRequests], perEndpoint[id]; got != want || want == 0 {
			t.Errorf("%s: %s = %v, the fake received %v for it", id, MetricAtlasRequests, got, want)
		}
	}
	for i, want := range []int{1, 3} {
		n := 0
		for _, r := range hs.fake.Requests() {
			if r.Status == http.StatusInternalServerError && strings.Contains(r.Path, ids[i]) {
				n++
			}
		}
		if n != want {
			t.Errorf("%s met %d 500s, want %d", ids[i], n, want)
		}
	}
}

// EmitCounts is what reconcile publishes: counts per project and in total,
// and only metrics the dashboard knows.
func TestEmitCounts(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e, err := emf.New(&out, "Test/Registrar")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}}, Deps{Metrics: e, Now: func() time.Time { return at }})
	err = h.EmitCounts(context.Background(), "5f0000000000000000000002",
		Count{MetricReconcileOrphans, 2}, Count{MetricReconcileReRegistered, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_aws":{"Timestamp":1795773600000,"CloudWatchMetrics":[{"Namespace":"Test/Registrar","Dimensions":[["ProjectId"],[]],` +
		`"Metrics":[{"Name":"ReconcileOrphans","Unit":"Count"},{"Name":"ReconcileReRegistered","Unit":"Count"}]}]},` +
		`"ProjectId":"5f0000000000000000000002","ReconcileOrphans":2,"ReconcileReRegistered":1}` + "\n"
	if out.String() != want {
		t.Errorf("EmitCounts wrote\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	for _, name := range []string{"Orphans", MetricSecondsToAvailable} {
		err := h.EmitCounts(context.Background(), "5f0000000000000000000002", Count{name, 1})
		if ue, ok := errors.AsType[*unknownMetricError](err); !ok || ue.name != name {
			t.Errorf("EmitCounts(%s) = %v, want an error naming it", name, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("a rejected count wrote %q", out.String())
	}
	// Without an emitter (tests, tools) nothing happens.
	if err := New(Config{}, Deps{}).EmitCounts(context.Background(), "p", Count{MetricReconcileOrphans, 1}); err != nil {
		t.Errorf("EmitCounts without an emitter = %v", err)
	}
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	want := []string{"AtlasRateLimited", "AtlasRequests", "ConnectivityWarnings", "Events", "ReconcileOrphans", "ReconcileReRegistered", "ReconcileRegistered",
		"RegistrationAttempts", "SecondsToAvailable"}
	if got := MetricNames(); !slices.Equal(got, want) {
		t.Errorf("MetricNames() = %v, want %v", got, want)
	}
	for _, n := range want {
		if !emf.ValidUnit(metricUnits[n]) {
			t.Errorf("%s has unit %q", n, metricUnits[n])
		}
	}
}

// An invocation that sees several endpoints reach AVAILABLE (reconcile) publishes
// one SecondsToAvailable value each, up to what one line can carry.
func TestMetricsSecondsToAvailablePerEndpoint(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e, err := emf.New(&out, "Test/Registrar")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}}, Deps{Metrics: e, Now: func() time.Time { return now }})
	ctx, st := withStats(context.Background())
	for i := range emf.MaxValues + 5 {
		r := &task{h: h, postedAt: now.Add(-time.Duration(i+1) * time.Second)}
		r.recordAvailable(ctx)
	}
	(&task{h: h}).recordAvailable(ctx) // resumed: no POST of its own, no value

	h.emitMetrics(ctx, st, &Result{Outcome: OutcomeRegistered, ProjectID: "5f0000000000000000000001"}, nil)
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	values, _ := line[MetricSecondsToAvailable].([]any)
	if len(values) != emf.MaxValues {
		t.Fatalf("%s has %d values, want %d", MetricSecondsToAvailable, len(values), emf.MaxValues)
	}
	for i, v := range values {
		if v != float64(i+1) {
			t.Errorf("value %d = %v, want %d", i, v, i+1)
		}
	}
}

// An invocation without a project (an event ignored before its project was
// known) is published per outcome and in total only: a dimension needs a value.
func TestMetricsWithoutAProject(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e, err := emf.New(&out, "Test/Registrar")
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{}, Deps{Metrics: e})
	ctx, st := withStats(context.Background())
	h.emitMetrics(ctx, st, &Result{Outcome: OutcomeIgnored}, nil)
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct{ Dimensions [][]string }
		} `json:"_aws"`
		Outcome   string
		ProjectID *string `json:"ProjectId"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if got := line.AWS.CloudWatchMetrics[0].Dimensions; !reflect.DeepEqual(got, [][]string{{DimensionOutcome}, {}}) || line.Outcome != OutcomeIgnored || line.ProjectID != nil {
		t.Errorf("line %s: want Outcome ignored, no ProjectId, sets [[Outcome] []]", out.String())
	}
}
