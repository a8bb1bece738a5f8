package handler

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/atlasvpce/registrar/emf"
)

// The function's CloudWatch metrics, in the namespace METRICS_NAMESPACE. Each
// invocation writes one embedded metric format line (package emf) with these
// metrics; template.yaml's dashboard and alarms read them.
const (
	// MetricEvents is 1 for every event handled, by Outcome: a registration,
	// a deregistration, a reconcile run or a refused payload alike. (It was
	// named Registrations before the first release, which read as if every
	// event registered something.)
	MetricEvents = "Events"
	// MetricAttempts is the number of registrations made or resumed (Result.Attempts),
	// when the invocation reached that point.
	MetricAttempts = "RegistrationAttempts"
	// MetricSecondsToAvailable is the time from this invocation's last POST of
	// an endpoint to Atlas reporting it AVAILABLE, one value per endpoint (up
	// to emf.MaxValues). A resumed wait (the POST was an earlier invocation's)
	// has no value.
	MetricSecondsToAvailable = "SecondsToAvailable"
	// MetricAtlasRequests counts the HTTP requests sent to Atlas: digest
	// challenges and retries included (see atlas.Config.OnRequest). A request
	// the deadline cut short is counted, though it may not have reached Atlas.
	MetricAtlasRequests = "AtlasRequests"
	// MetricAtlasRateLimited counts those answered 429.
	MetricAtlasRateLimited = "AtlasRateLimited"

	// MetricReconcileOrphans counts the orphans one reconcile run found
	// (registrations in Atlas with no live VPC endpoint behind them);
	// reconcile publishes it with EmitCounts.
	MetricReconcileOrphans = "ReconcileOrphans"
	// MetricReconcileReRegistered counts endpoints one reconcile run
	// registered again; published with EmitCounts.
	MetricReconcileReRegistered = "ReconcileReRegistered"
	// MetricReconcileRegistered counts endpoints one reconcile run
	// registered because Atlas lacked them; published with EmitCounts. Above
	// zero run after run, another tool keeps deleting them.
	MetricReconcileRegistered = "ReconcileRegistered"

	// MetricConnectivityWarnings counts the endpoints registered with a
	// connectivity warning, by Code (and ProjectId): what EC2 shows would
	// keep applications out.
	MetricConnectivityWarnings = "ConnectivityWarnings"
)

// Dimensions of the metrics.
const (
	DimensionOutcome = "Outcome"
	DimensionProject = "ProjectId" // the Atlas project id
	DimensionCode    = "Code"      // a connectivity warning's code
)

// The Outcome dimension is Result.Outcome after a success (so an outcome
// added later shows up by itself: the dashboard graphs every value), and one
// of these after a failure. The log line of a failed invocation says "error"
// and its errorType; the metrics split the failures by what happens next.
const (
	// MetricOutcomeFailed: Atlas rejected every attempt (RegistrationFailedError).
	MetricOutcomeFailed = "failed"
	// MetricOutcomeDeadline: time ran out; Lambda's retry resumes (DeadlineError).
	MetricOutcomeDeadline = "deadline"
	// MetricOutcomeError: any other failure (the event, EC2, the secret, the Atlas API).
	MetricOutcomeError = "error"
)

// metricUnits holds every metric the function publishes, with its unit.
var metricUnits = map[string]emf.Unit{
	MetricEvents:                emf.Count,
	MetricAttempts:              emf.Count,
	MetricSecondsToAvailable:    emf.Seconds,
	MetricAtlasRequests:         emf.Count,
	MetricAtlasRateLimited:      emf.Count,
	MetricReconcileOrphans:      emf.Count,
	MetricReconcileReRegistered: emf.Count,
	MetricReconcileRegistered:   emf.Count,
	MetricConnectivityWarnings:  emf.Count,
}

// MetricNames returns the name of every metric the function publishes, sorted.
func MetricNames() []string {
	names := make([]string, 0, len(metricUnits))
	for n := range metricUnits {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// MetricsEmitter writes one metrics document; *emf.Emitter is one.
type MetricsEmitter interface {
	Emit(emf.Record) error
}

// registrationSets publishes each registration metric per project and
// outcome, per outcome across projects, and in total: the dashboard and the
// alarms read the last two, so they hold however many projects the function
// serves.
var registrationSets = [][]string{{DimensionOutcome, DimensionProject}, {DimensionOutcome}, {}}

// unattributedSets publishes an invocation that no single project can be
// named for (an event ignored before its project was known, when the
// function serves several) per outcome and in total.
var unattributedSets = [][]string{{DimensionOutcome}, {}}

// countSets publishes EmitCounts per project and in total.
var countSets = [][]string{{DimensionProject}, {}}

// warningSets publishes MetricConnectivityWarnings per code and project, and
// per code across projects (what the dashboard graphs).
var warningSets = [][]string{{DimensionCode, DimensionProject}, {DimensionCode}}

// invocationStats gathers what one invocation measures on the way. It rides
// in the invocation's context, so concurrent invocations of one Handler (one
// Lambda container runs one at a time, but tests and the soak run many) never
// mix their counts.
type invocationStats struct {
	atlasRequests    atomic.Int64
	atlasRateLimited atomic.Int64

	mu          sync.Mutex
	toAvailable []time.Duration // one per endpoint this invocation saw reach AVAILABLE
}

type statsKey struct{}

func withStats(ctx context.Context) (context.Context, *invocationStats) {
	s := &invocationStats{}
	return context.WithValue(ctx, statsKey{}, s), s
}

func statsFrom(ctx context.Context) *invocationStats {
	s, _ := ctx.Value(statsKey{}).(*invocationStats)
	return s
}

// CountAtlasRequest is the atlas.Config OnRequest hook: it counts a request,
// and a 429, against the invocation whose context sent it. Requests outside an
// invocation (a service account's token request, which runs under the
// client's own context) are not counted.
func CountAtlasRequest(ctx context.Context, status int) {
	s := statsFrom(ctx)
	if s == nil {
		return
	}
	s.atlasRequests.Add(1)
	if status == http.StatusTooManyRequests {
		s.atlasRateLimited.Add(1)
	}
}

// recordAvailable notes, for MetricSecondsToAvailable, the time from this
// invocation's last POST to AVAILABLE. A resumed wait has no POST to measure from.
func (t *task) recordAvailable(ctx context.Context) {
	s := statsFrom(ctx)
	if s == nil || t.postedAt.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.toAvailable) < emf.MaxValues { // the most one line can carry
		s.toAvailable = append(s.toAvailable, t.h.deps.Now().Sub(t.postedAt))
	}
}

// secondsToAvailable is the MetricSecondsToAvailable of the invocation, if
// it saw any endpoint reach AVAILABLE after its own POST.
func (st *invocationStats) secondsToAvailable() (emf.Metric, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.toAvailable) == 0 {
		return emf.Metric{}, false
	}
	m := emf.Metric{Name: MetricSecondsToAvailable, Unit: metricUnits[MetricSecondsToAvailable], Value: st.toAvailable[0].Seconds()}
	if len(st.toAvailable) > 1 {
		m.Values = make([]float64, len(st.toAvailable))
		for i, d := range st.toAvailable {
			m.Values[i] = d.Seconds()
		}
	}
	return m, true
}

// metricOutcome is the Outcome dimension of an invocation.
func metricOutcome(res *Result, err error) string {
	if err == nil {
		return res.Outcome
	}
	if _, ok := errors.AsType[*RegistrationFailedError](err); ok {
		return MetricOutcomeFailed
	}
	if _, ok := errors.AsType[*DeadlineError](err); ok {
		return MetricOutcomeDeadline
	}
	return MetricOutcomeError
}

// emitMetrics writes the invocation's metrics line. Failing to write it is
// logged, not returned: the registration itself is done.
func (h *Handler) emitMetrics(ctx context.Context, st *invocationStats, res *Result, err error) {
	if h.deps.Metrics == nil {
		return
	}
	metric := func(name string, v float64) emf.Metric {
		return emf.Metric{Name: name, Unit: metricUnits[name], Value: v}
	}
	ms := []emf.Metric{metric(MetricEvents, 1)}
	if res.Attempts > 0 {
		ms = append(ms, metric(MetricAttempts, float64(res.Attempts)))
	}
	if m, ok := st.secondsToAvailable(); ok {
		ms = append(ms, m)
	}
	ms = append(ms,
		metric(MetricAtlasRequests, float64(st.atlasRequests.Load())),
		metric(MetricAtlasRateLimited, float64(st.atlasRateLimited.Load())),
	)
	props := withKind(invocationProperties(ctx, res.VPCEndpointID), res.Kind)
	if err != nil {
		props = append(props, emf.Property{Name: "errorType", Value: errorType(err)})
	}
	h.emitOutcome(ctx, metricOutcome(res, err), res.ProjectID, ms, props)
	warnings := warningCounts{}
	warnings.add(res.ProjectID, res.Warnings)
	h.emitWarnings(ctx, warnings)
}

// warningCounts counts endpoints by project and warning code.
type warningCounts map[[2]string]int

func (c warningCounts) add(project string, ws []Warning) {
	for _, w := range ws {
		c[[2]string{project, w.Code}]++
	}
}

// emitWarnings writes one MetricConnectivityWarnings line per project and
// code found; none when there are none. Failing to write is logged.
func (h *Handler) emitWarnings(ctx context.Context, c warningCounts) {
	if h.deps.Metrics == nil {
		return
	}
	keys := slices.Collect(maps.Keys(c))
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	for _, k := range keys {
		rec := emf.Record{
			Timestamp:     h.deps.Now(),
			Dimensions:    []emf.Dimension{{Name: DimensionCode, Value: k[1]}},
			DimensionSets: [][]string{{DimensionCode}},
			Metrics:       []emf.Metric{{Name: MetricConnectivityWarnings, Unit: metricUnits[MetricConnectivityWarnings], Value: float64(c[k])}},
			Properties:    invocationProperties(ctx, ""),
		}
		if k[0] != "" {
			rec.Dimensions = append(rec.Dimensions, emf.Dimension{Name: DimensionProject, Value: k[0]})
			rec.DimensionSets = warningSets
		}
		if err := h.deps.Metrics.Emit(rec); err != nil {
			h.log.WarnContext(ctx, "metrics not written", slog.String("error", err.Error()))
		}
	}
}

// emitOutcome writes one line of registration metrics for an outcome and a
// project ("" when no single project can be named). Failing to write it is
// logged, not returned: the work itself is done.
func (h *Handler) emitOutcome(ctx context.Context, outcome, project string, ms []emf.Metric, props []emf.Property) {
	rec := emf.Record{
		Timestamp:     h.deps.Now(),
		Dimensions:    []emf.Dimension{{Name: DimensionOutcome, Value: outcome}},
		DimensionSets: unattributedSets,
		Metrics:       ms,
		Properties:    props,
	}
	if project != "" {
		rec.Dimensions = append(rec.Dimensions, emf.Dimension{Name: DimensionProject, Value: project})
		rec.DimensionSets = registrationSets
	}
	if err := h.deps.Metrics.Emit(rec); err != nil {
		h.log.WarnContext(ctx, "metrics not written", slog.String("error", err.Error()))
	}
}

// invocationProperties are kept in a metrics line so that Logs Insights can
// join it to the invocation's log lines; they make no metric.
func invocationProperties(ctx context.Context, endpointID string) []emf.Property {
	var props []emf.Property
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		props = append(props, emf.Property{Name: "requestId", Value: lc.AwsRequestID})
	}
	if endpointID != "" {
		props = append(props, emf.Property{Name: "vpcEndpointId", Value: endpointID})
	}
	return props
}

// Count is one named count for EmitCounts.
type Count struct {
	Name  string
	Value int
}

// EmitCounts writes one metrics line with counts (unit Count) for an Atlas
// project, published per project and in total. Reconcile uses it with
// MetricReconcileOrphans and MetricReconcileReRegistered, once per project
// and run. A name that is not one of the function's metrics (MetricNames) is
// an error, so the dashboard and alarms cannot miss it; without a
// MetricsEmitter it does nothing.
func (h *Handler) EmitCounts(ctx context.Context, projectID string, counts ...Count) error {
	if h.deps.Metrics == nil {
		return nil
	}
	ms := make([]emf.Metric, 0, len(counts))
	for _, c := range counts {
		unit, ok := metricUnits[c.Name]
		if !ok || unit != emf.Count {
			return &unknownMetricError{name: c.Name}
		}
		ms = append(ms, emf.Metric{Name: c.Name, Unit: unit, Value: float64(c.Value)})
	}
	return h.deps.Metrics.Emit(emf.Record{
		Timestamp:     h.deps.Now(),
		Dimensions:    []emf.Dimension{{Name: DimensionProject, Value: projectID}},
		DimensionSets: countSets,
		Metrics:       ms,
		Properties:    invocationProperties(ctx, ""),
	})
}

type unknownMetricError struct{ name string }

func (e *unknownMetricError) Error() string {
	return "metrics: " + e.name + " is not a count the function publishes; add it to metricUnits, the dashboard and docs/operating.md (Metrics)"
}

// emitBatchMetrics writes a batch's metrics: one line per outcome (and
// project) among its records, with Events counting the records of that
// outcome and RegistrationAttempts their attempts, so that the dashboard's
// sums by Outcome count records as they count single invocations. What the
// invocation measured as a whole (Atlas requests and 429s, the seconds to
// AVAILABLE of every endpoint) rides on the first line only, so that no sum
// counts it twice.
func (h *Handler) emitBatchMetrics(ctx context.Context, st *invocationStats, items []*batchItem) {
	if h.deps.Metrics == nil {
		return
	}
	type group struct {
		outcome, project, kind string
		n, attempts            int
	}
	var groups []*group
	index := map[[3]string]*group{}
	for _, it := range items {
		k := [3]string{metricOutcome(&it.res, it.err), it.res.ProjectID, it.res.Kind}
		g, ok := index[k]
		if !ok {
			g = &group{outcome: k[0], project: k[1], kind: k[2]}
			index[k] = g
			groups = append(groups, g)
		}
		g.n++
		g.attempts += it.res.Attempts
	}
	metric := func(name string, v float64) emf.Metric {
		return emf.Metric{Name: name, Unit: metricUnits[name], Value: v}
	}
	props := append(invocationProperties(ctx, ""), emf.Property{Name: "batchRecords", Value: strconv.Itoa(len(items))})
	for i, g := range groups {
		ms := []emf.Metric{metric(MetricEvents, float64(g.n))}
		if g.attempts > 0 {
			ms = append(ms, metric(MetricAttempts, float64(g.attempts)))
		}
		if i == 0 {
			if m, ok := st.secondsToAvailable(); ok {
				ms = append(ms, m)
			}
			ms = append(ms,
				metric(MetricAtlasRequests, float64(st.atlasRequests.Load())),
				metric(MetricAtlasRateLimited, float64(st.atlasRateLimited.Load())),
			)
		}
		h.emitOutcome(ctx, g.outcome, g.project, ms, withKind(slices.Clip(props), g.kind))
	}
	warnings := warningCounts{}
	for _, it := range items {
		warnings.add(it.res.ProjectID, it.res.Warnings)
	}
	h.emitWarnings(ctx, warnings)
}

// withKind adds the kind of endpoint, when known, as a property: Logs
// Insights can split by it, and no metric's identity changes.
func withKind(props []emf.Property, kind string) []emf.Property {
	if kind == "" {
		return props
	}
	return append(props, emf.Property{Name: "kind", Value: kind})
}
