package emf_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/emf"
)

// checkDocument fails unless line is a valid EMF document under the rules of
// the specification ("Specification: Embedded metric format", CloudWatch user
// guide), and returns its top-level members.
func checkDocument(t *testing.T, line []byte) map[string]any {
	t.Helper()
	// One log event: one line, a JSON object with nothing before or after it.
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("document is not exactly one line: %q", line)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("document is not a JSON object: %v: %s", err, line)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("data after the JSON object: %s", line)
	}

	// The root MUST contain _aws, an object with exactly CloudWatchMetrics and
	// Timestamp (objects of the specification carry no other members).
	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("_aws is %T, want an object", root["_aws"])
	}
	onlyKeys(t, "_aws", meta, "Timestamp", "CloudWatchMetrics")
	// Timestamp: a number of milliseconds since the epoch (the schema says integer).
	ts, ok := meta["Timestamp"].(json.Number)
	if _, err := ts.Int64(); !ok || err != nil || strings.ContainsAny(ts.String(), ".eE-") {
		t.Errorf("Timestamp = %v, want a non-negative integer of milliseconds", meta["Timestamp"])
	}
	directives, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("CloudWatchMetrics = %v, want a non-empty array of MetricDirectives", meta["CloudWatchMetrics"])
	}
	for i, dv := range directives {
		d, ok := dv.(map[string]any)
		if !ok {
			t.Fatalf("MetricDirective %d is %T, want an object", i, dv)
		}
		onlyKeys(t, fmt.Sprintf("MetricDirective %d", i), d, "Namespace", "Dimensions", "Metrics")
		if ns, ok := d["Namespace"].(string); !ok || len(ns) < 1 || len(ns) > 255 {
			t.Errorf("Namespace = %v, want a string of 1 to 255 characters", d["Namespace"])
		}
		// Dimensions: an array (at least one) of DimensionSets, each an array
		// of at most 30 strings, each naming a top-level string member.
		sets, ok := d["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			t.Fatalf("Dimensions = %#v, want a non-empty array of DimensionSets", d["Dimensions"])
		}
		for j, sv := range sets {
			set, ok := sv.([]any)
			if !ok {
				t.Fatalf("DimensionSet %d = %#v, want an array of strings", j, sv)
			}
			if len(set) > 30 {
				t.Errorf("DimensionSet %d has %d keys, want at most 30", j, len(set))
			}
			for _, kv := range set {
				key, ok := kv.(string)
				if !ok || len(key) < 1 || len(key) > 255 {
					t.Fatalf("dimension key %#v, want a string of 1 to 255 characters", kv)
				}
				if _, ok := root[key].(string); !ok {
					t.Errorf("dimension %q: top-level member is %#v, want a string", key, root[key])
				}
			}
		}
		// Metrics: at most 100 MetricDefinitions with a Name (and maybe a
		// valid Unit), each naming a top-level number or array of numbers.
		defs, ok := d["Metrics"].([]any)
		if !ok {
			t.Fatalf("Metrics = %#v, want an array", d["Metrics"])
		}
		if len(defs) > 100 {
			t.Errorf("%d MetricDefinitions, want at most 100", len(defs))
		}
		for _, mv := range defs {
			m, ok := mv.(map[string]any)
			if !ok {
				t.Fatalf("MetricDefinition %#v, want an object", mv)
			}
			onlyKeys(t, "MetricDefinition", m, "Name", "Unit")
			name, ok := m["Name"].(string)
			if !ok || len(name) < 1 || len(name) > 255 {
				t.Fatalf("metric Name %#v, want a string of 1 to 255 characters", m["Name"])
			}
			if u, has := m["Unit"]; has {
				if s, ok := u.(string); !ok || !emf.ValidUnit(emf.Unit(s)) {
					t.Errorf("metric %q: Unit %#v is not a CloudWatch unit", name, u)
				}
			}
			switch v := root[name].(type) {
			case json.Number:
			case []any:
				if len(v) > 100 {
					t.Errorf("metric %q has %d values, want at most 100", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(json.Number); !ok {
						t.Errorf("metric %q: value %#v is not a number", name, x)
					}
				}
			default:
				t.Errorf("metric %q: top-level member is %#v, want a number or an array of numbers", name, root[name])
			}
		}
	}
	return root
}

// onlyKeys fails if obj lacks a required key or has one the specification does not define.
func onlyKeys(t *testing.T, what string, obj map[string]any, required string, optional ...string) {
	t.Helper()
	if _, ok := obj[required]; !ok {
		t.Errorf("%s lacks %s", what, required)
	}
	for k := range obj {
		if k != required && !contains(optional, k) {
			t.Errorf("%s has member %q, which the specification does not define", what, k)
		}
	}
	if what != "MetricDefinition" {
		for _, k := range optional {
			if _, ok := obj[k]; !ok {
				t.Errorf("%s lacks %s", what, k)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var at = time.Date(2026, 11, 27, 10, 42, 45, 779_000_000, time.UTC)

func TestEncodeValid(t *testing.T) {
	t.Parallel()
	thirty := make([]emf.Dimension, 30)
	thirtyNames := make([]string, 30)
	for i := range thirty {
		thirty[i] = emf.Dimension{Name: fmt.Sprintf("D%02d", i), Value: "v"}
		thirtyNames[i] = thirty[i].Name
	}
	hundred := make([]emf.Metric, 100)
	for i := range hundred {
		hundred[i] = emf.Metric{Name: fmt.Sprintf("M%03d", i), Unit: emf.Count, Value: float64(i)}
	}
	tests := []struct {
		name     string
		rec      emf.Record
		wantSets string // JSON of the Dimensions member
		want     map[string]string
	}{
		{
			name: "dimensions and rollups",
			rec: emf.Record{
				Timestamp:     at,
				Dimensions:    []emf.Dimension{{"Outcome", "registered"}, {"ProjectId", "5f0000000000000000000001"}},
				DimensionSets: [][]string{{"Outcome", "ProjectId"}, {"Outcome"}, {}},
				Metrics: []emf.Metric{
					{Name: "Events", Unit: emf.Count, Value: 1},
					{Name: "SecondsToAvailable", Unit: emf.Seconds, Value: 83.25},
				},
				Properties: []emf.Property{{"requestId", "8f5b1c9e-0000-4000-8000-000000000001"}},
			},
			wantSets: `[["Outcome","ProjectId"],["Outcome"],[]]`,
			want: map[string]string{
				"Outcome": "registered", "ProjectId": "5f0000000000000000000001",
				"Events": "1", "SecondsToAvailable": "83.25", "requestId": "8f5b1c9e-0000-4000-8000-000000000001",
			},
		},
		{
			name:     "nil sets mean one set of every dimension",
			rec:      emf.Record{Timestamp: at, Dimensions: []emf.Dimension{{"A", "a"}, {"B", "b"}}, Metrics: []emf.Metric{{Name: "N", Value: 2}}},
			wantSets: `[["A","B"]]`,
			want:     map[string]string{"A": "a", "B": "b", "N": "2"},
		},
		{
			name:     "no dimensions at all",
			rec:      emf.Record{Timestamp: at, Metrics: []emf.Metric{{Name: "N", Unit: emf.None, Value: 0}}},
			wantSets: `[[]]`,
			want:     map[string]string{"N": "0"},
		},
		{
			name:     "several values of one metric",
			rec:      emf.Record{Timestamp: at, Metrics: []emf.Metric{{Name: "S", Unit: emf.Seconds, Values: []float64{83.25, 120, 0.5}}, {Name: "N", Value: 1}}},
			wantSets: `[[]]`,
			want:     map[string]string{"S": "[83.25 120 0.5]", "N": "1"},
		},
		{
			name:     "a hundred values",
			rec:      emf.Record{Timestamp: at, Metrics: []emf.Metric{{Name: "S", Values: make([]float64, 100)}}},
			wantSets: `[[]]`,
			want:     map[string]string{},
		},
		{
			name:     "a nil set is an empty set, not null",
			rec:      emf.Record{Timestamp: at, Dimensions: []emf.Dimension{{"A", "a"}}, DimensionSets: [][]string{{"A"}, nil}, Metrics: []emf.Metric{{Name: "N", Value: 1}}},
			wantSets: `[["A"],[]]`,
			want:     map[string]string{"A": "a", "N": "1"},
		},
		{
			name:     "thirty dimensions in a set",
			rec:      emf.Record{Timestamp: at, Dimensions: thirty, Metrics: []emf.Metric{{Name: "N", Value: 1}}},
			wantSets: `[["` + strings.Join(thirtyNames, `","`) + `"]]`,
			want:     map[string]string{"D00": "v", "D29": "v"},
		},
		{
			name:     "a hundred metrics",
			rec:      emf.Record{Timestamp: at, Metrics: hundred},
			wantSets: `[[]]`,
			want:     map[string]string{"M000": "0", "M099": "99"},
		},
		{
			name:     "a dimension value with JSON's special characters",
			rec:      emf.Record{Timestamp: at, Dimensions: []emf.Dimension{{"Q", `a "quoted" \ value`}}, Metrics: []emf.Metric{{Name: "N", Value: -1.5}}},
			wantSets: `[["Q"]]`,
			want:     map[string]string{"Q": `a "quoted" \ value`, "N": "-1.5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := emf.Encode("AtlasVpceRegistrar", tt.rec)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			root := checkDocument(t, doc)
			meta := root["_aws"].(map[string]any)
			if got := meta["Timestamp"].(json.Number).String(); got != fmt.Sprint(at.UnixMilli()) {
				t.Errorf("Timestamp = %s, want %d (milliseconds since the epoch)", got, at.UnixMilli())
			}
			d := meta["CloudWatchMetrics"].([]any)[0].(map[string]any)
			if d["Namespace"] != "AtlasVpceRegistrar" {
				t.Errorf("Namespace = %v", d["Namespace"])
			}
			if got, _ := json.Marshal(d["Dimensions"]); string(got) != tt.wantSets {
				t.Errorf("Dimensions = %s, want %s", got, tt.wantSets)
			}
			defs := d["Metrics"].([]any)
			if len(defs) != len(tt.rec.Metrics) {
				t.Fatalf("%d MetricDefinitions, want %d", len(defs), len(tt.rec.Metrics))
			}
			for i, m := range tt.rec.Metrics {
				def := defs[i].(map[string]any)
				if def["Name"] != m.Name {
					t.Errorf("definition %d Name = %v, want %s", i, def["Name"], m.Name)
				}
				if u, has := def["Unit"]; has != (m.Unit != "") || (has && u != string(m.Unit)) {
					t.Errorf("definition %s Unit = %v (present %v), want %q", m.Name, u, has, m.Unit)
				}
			}
			for k, want := range tt.want {
				if got := fmt.Sprint(root[k]); got != want {
					t.Errorf("member %s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestEncodeZeroTimestampIsNow(t *testing.T) {
	t.Parallel()
	before := time.Now().UnixMilli()
	doc, err := emf.Encode("Ns", emf.Record{Metrics: []emf.Metric{{Name: "N", Value: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	ts, _ := checkDocument(t, doc)["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64()
	if ts < before || ts > after {
		t.Errorf("Timestamp = %d, want between %d and %d", ts, before, after)
	}
}

func TestEncodeInvalid(t *testing.T) {
	t.Parallel()
	one := []emf.Metric{{Name: "N", Value: 1}}
	dims := func(n int) []emf.Dimension {
		out := make([]emf.Dimension, n)
		for i := range out {
			out[i] = emf.Dimension{Name: fmt.Sprintf("D%02d", i), Value: "v"}
		}
		return out
	}
	metrics := func(n int) []emf.Metric {
		out := make([]emf.Metric, n)
		for i := range out {
			out[i] = emf.Metric{Name: fmt.Sprintf("M%03d", i), Value: 1}
		}
		return out
	}
	tests := []struct {
		name string
		rec  emf.Record
		want string // part of the error message
	}{
		{"no metrics", emf.Record{}, "no metrics"},
		{"101 metrics", emf.Record{Metrics: metrics(101)}, "at most 100"},
		{"31 dimensions in a set", emf.Record{Dimensions: dims(31), Metrics: one}, "at most 30"},
		{"unknown unit", emf.Record{Metrics: []emf.Metric{{Name: "N", Unit: "Requests", Value: 1}}}, `unit "Requests"`},
		{"unit in the wrong case", emf.Record{Metrics: []emf.Metric{{Name: "N", Unit: "seconds", Value: 1}}}, `unit "seconds"`},
		{"NaN", emf.Record{Metrics: []emf.Metric{{Name: "N", Value: math.NaN()}}}, "finite number"},
		{"infinity", emf.Record{Metrics: []emf.Metric{{Name: "N", Value: math.Inf(1)}}}, "finite number"},
		{"NaN among values", emf.Record{Metrics: []emf.Metric{{Name: "N", Values: []float64{1, math.NaN()}}}}, "finite number"},
		{"101 values", emf.Record{Metrics: []emf.Metric{{Name: "N", Values: make([]float64, 101)}}}, "1 to 100"},
		{"no values", emf.Record{Metrics: []emf.Metric{{Name: "N", Values: []float64{}}}}, "1 to 100"},
		{"empty metric name", emf.Record{Metrics: []emf.Metric{{Value: 1}}}, "metric name"},
		{"long metric name", emf.Record{Metrics: []emf.Metric{{Name: strings.Repeat("m", 256), Value: 1}}}, "1 to 255"},
		{"metric named _aws", emf.Record{Metrics: []emf.Metric{{Name: "_aws", Value: 1}}}, "metadata member"},
		{"metric named like a dimension", emf.Record{Dimensions: []emf.Dimension{{"N", "v"}}, Metrics: one}, "same name"},
		{"two metrics of one name", emf.Record{Metrics: []emf.Metric{{Name: "N", Value: 1}, {Name: "N", Value: 2}}}, "same name"},
		{"property named like a metric", emf.Record{Metrics: one, Properties: []emf.Property{{"N", "x"}}}, "same name"},
		{"property without a name", emf.Record{Metrics: one, Properties: []emf.Property{{"", "x"}}}, "empty name"},
		{"set names an absent dimension", emf.Record{Dimensions: dims(1), DimensionSets: [][]string{{"D00", "Other"}}, Metrics: one}, `"Other"`},
		{"set names a dimension twice", emf.Record{Dimensions: dims(1), DimensionSets: [][]string{{"D00", "D00"}}, Metrics: one}, "twice"},
		{"no sets at all", emf.Record{Dimensions: dims(1), DimensionSets: [][]string{}, Metrics: one}, "DimensionSets is empty"},
		{"empty dimension value", emf.Record{Dimensions: []emf.Dimension{{"D", ""}}, Metrics: one}, "1 to 1024"},
		{"long dimension value", emf.Record{Dimensions: []emf.Dimension{{"D", strings.Repeat("v", 1025)}}, Metrics: one}, "1 to 1024"},
		{"blank dimension value", emf.Record{Dimensions: []emf.Dimension{{"D", "   "}}, Metrics: one}, "only spaces"},
		{"non-ASCII dimension value", emf.Record{Dimensions: []emf.Dimension{{"D", "café"}}, Metrics: one}, "printable ASCII"},
		{"control character in a dimension value", emf.Record{Dimensions: []emf.Dimension{{"D", "a\nb"}}, Metrics: one}, "printable ASCII"},
		{"dimension name with a leading colon", emf.Record{Dimensions: []emf.Dimension{{":D", "v"}}, Metrics: one}, "colon"},
		{"timestamp before 1970", emf.Record{Timestamp: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), Metrics: one}, "before 1970"},
		{"document too large", emf.Record{Metrics: one, Properties: []emf.Property{{"big", strings.Repeat("x", emf.MaxDocumentBytes)}}}, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			e, err := emf.New(&out, "Ns")
			if err != nil {
				t.Fatal(err)
			}
			err = e.Emit(tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Emit() error = %v, want one containing %q", err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("an invalid record wrote %q", out.String())
			}
		})
	}
}

func TestValidateNamespace(t *testing.T) {
	t.Parallel()
	valid := []string{"AtlasVpceRegistrar", "a", "Team/App", "My App.v2_#1:prod-x", strings.Repeat("n", 255), "AWSish/X"}
	invalid := map[string]string{
		"":                       "empty",
		strings.Repeat("n", 256): "at most 255",
		":Leading":               "colon",
		"   ":                    "only spaces",
		"AWS/Lambda":             "reserved",
		"Tab\there":              "contains",
		"Café":                   "contains",
		"a*b":                    "contains",
		"line\nbreak":            "contains",
	}
	for _, ns := range valid {
		if err := emf.ValidateNamespace(ns); err != nil {
			t.Errorf("ValidateNamespace(%q) = %v, want nil", ns, err)
		}
		if _, err := emf.New(io.Discard, ns); err != nil {
			t.Errorf("New(%q) = %v, want nil", ns, err)
		}
	}
	for ns, want := range invalid {
		err := emf.ValidateNamespace(ns)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateNamespace(%q) = %v, want an error containing %q", ns, err, want)
		}
		if _, err := emf.New(io.Discard, ns); err == nil {
			t.Errorf("New(%q) succeeded, want an error", ns)
		}
		if _, err := emf.Encode(ns, emf.Record{Metrics: []emf.Metric{{Name: "N", Value: 1}}}); err == nil {
			t.Errorf("Encode(%q, …) succeeded, want an error", ns)
		}
	}
}

func TestValidUnit(t *testing.T) {
	t.Parallel()
	for _, u := range []emf.Unit{emf.Seconds, emf.Milliseconds, emf.Count, emf.None, "Bytes/Second", "Count/Second", "Percent"} {
		if !emf.ValidUnit(u) {
			t.Errorf("ValidUnit(%q) = false", u)
		}
	}
	for _, u := range []emf.Unit{"", "Second", "count", "Requests", "Bytes/second"} {
		if emf.ValidUnit(u) {
			t.Errorf("ValidUnit(%q) = true", u)
		}
	}
}

// Concurrent emitters sharing a writer never interleave their lines.
func TestEmitConcurrent(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	e, err := emf.New(&out, "Ns")
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := e.Emit(emf.Record{
				Dimensions: []emf.Dimension{{"Worker", fmt.Sprint(i)}},
				Metrics:    []emf.Metric{{Name: "N", Unit: emf.Count, Value: float64(i)}},
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	lines := strings.SplitAfter(out.String(), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		root := checkDocument(t, []byte(l))
		if root["Worker"] != fmt.Sprint(root["N"]) {
			t.Errorf("line mixes workers: %s", l)
		}
		seen[root["Worker"].(string)] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct workers, want %d", len(seen), n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEmitWriteError(t *testing.T) {
	t.Parallel()
	e, err := emf.New(failingWriter{}, "Ns")
	if err != nil {
		t.Fatal(err)
	}
	err = e.Emit(emf.Record{Metrics: []emf.Metric{{Name: "N", Value: 1}}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Emit() = %v, want the writer's error", err)
	}
	if e.Namespace() != "Ns" {
		t.Errorf("Namespace() = %q", e.Namespace())
	}
}

// BenchmarkEmit measures the handler's line: two dimensions in three sets,
// five metrics and two properties.
func BenchmarkEmit(b *testing.B) {
	e, err := emf.New(io.Discard, "AtlasVpceRegistrar")
	if err != nil {
		b.Fatal(err)
	}
	rec := emf.Record{
		Timestamp:     at,
		Dimensions:    []emf.Dimension{{"Outcome", "registered"}, {"ProjectId", "5f0000000000000000000001"}},
		DimensionSets: [][]string{{"Outcome", "ProjectId"}, {"Outcome"}, {}},
		Metrics: []emf.Metric{
			{Name: "Events", Unit: emf.Count, Value: 1},
			{Name: "RegistrationAttempts", Unit: emf.Count, Value: 1},
			{Name: "SecondsToAvailable", Unit: emf.Seconds, Value: 83.25},
			{Name: "AtlasRequests", Unit: emf.Count, Value: 14},
			{Name: "AtlasRateLimited", Unit: emf.Count, Value: 0},
		},
		Properties: []emf.Property{{"requestId", "8f5b1c9e-0000-4000-8000-000000000001"}, {"vpcEndpointId", "vpce-0123456789abcdef0"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Emit(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// The document's exact bytes, member order included, for a record like the
// function's: one line, the metadata first, then dimensions, metrics and
// properties in the order given.
func TestEncodeExactDocument(t *testing.T) {
	t.Parallel()
	doc, err := emf.Encode("AtlasVpceRegistrar", emf.Record{
		Timestamp:     at,
		Dimensions:    []emf.Dimension{{"Outcome", "registered"}, {"ProjectId", "5f0000000000000000000001"}},
		DimensionSets: [][]string{{"Outcome", "ProjectId"}, {}},
		Metrics: []emf.Metric{
			{Name: "Events", Unit: emf.Count, Value: 1},
			{Name: "SecondsToAvailable", Unit: emf.Seconds, Values: []float64{83.25, 1e21}},
			{Name: "N", Value: 0.5},
		},
		Properties: []emf.Property{{"requestId", `<"r">`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_aws":{"Timestamp":1795776165779,"CloudWatchMetrics":[{"Namespace":"AtlasVpceRegistrar",` +
		`"Dimensions":[["Outcome","ProjectId"],[]],` +
		`"Metrics":[{"Name":"Events","Unit":"Count"},{"Name":"SecondsToAvailable","Unit":"Seconds"},{"Name":"N"}]}]},` +
		`"Outcome":"registered","ProjectId":"5f0000000000000000000001",` +
		`"Events":1,"SecondsToAvailable":[83.25,1e+21],"N":0.5,"requestId":"\u003c\"r\"\u003e"}` + "\n"
	if string(doc) != want {
		t.Errorf("Encode() =\n%s\nwant\n%s", doc, want)
	}
}
