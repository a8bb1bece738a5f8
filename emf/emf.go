// Package emf writes CloudWatch embedded metric format (EMF) documents: one
// JSON object per line, from which CloudWatch Logs extracts metrics when the
// line arrives as a log event. No CloudWatch API call is made and no
// permission beyond writing logs is needed.
//
// The format is the one in "Specification: Embedded metric format" of the
// CloudWatch user guide:
//
//	{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{
//	    "Namespace":"AtlasVpceRegistrar",
//	    "Dimensions":[["Outcome","ProjectId"],["Outcome"]],
//	    "Metrics":[{"Name":"Events","Unit":"Count"}]}]},
//	 "Outcome":"registered","ProjectId":"5f…","Events":1}
//
// Every dimension named in a dimension set and every metric is a top-level
// member of the same object; other top-level members (a request id, say) are
// kept in the log but make no metric.
//
// In Lambda, write the documents to standard output, each as one line, and
// not through a logger: CloudWatch Logs extracts metrics only from a log
// event whose whole message is the EMF object. Lambda makes each line of
// stdout one log event. With the function's log format set to JSON, Lambda
// passes a line that is already a JSON object through as it is (it re-encodes
// only the plain-text lines of runtimes it manages), which is why a logger
// that wraps the document in a "message" string loses the metrics: the
// Node.js EMF library had to stop writing through console.log for exactly
// this under the JSON log format. aws-lambda-go does not touch stdout at all,
// and its lambdacontext logger writes its own JSON lines to stdout beside
// these. Lambda's log-level filter gives a JSON line without a "level" member
// the level INFO, so an application log level above INFO would drop the
// metrics.
package emf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits from the specification and the CloudWatch API.
const (
	// MaxMetrics is the most MetricDefinitions one directive may hold.
	MaxMetrics = 100
	// MaxValues is the most values one metric may carry in a document.
	MaxValues = 100
	// MaxDimensions is the most dimension keys one dimension set may hold
	// (the specification said 9 until CloudWatch raised it to 30).
	MaxDimensions = 30
	// MaxDocumentBytes bounds one document: a CloudWatch Logs event was
	// limited to 256 KB when the specification was written (1 MB since); the
	// lower figure is safe under both.
	MaxDocumentBytes = 256 * 1024

	maxNameLen           = 255
	maxDimensionValueLen = 1024
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units this project uses; every CloudWatch unit is accepted.
const (
	Seconds      Unit = "Seconds"
	Milliseconds Unit = "Milliseconds"
	Count        Unit = "Count"
	None         Unit = "None"
)

// units are the values CloudWatch accepts in MetricDatum.Unit, as listed by the
// specification's JSON schema.
var units = map[Unit]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true, "Terabytes/Second": true,
	"Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true, "Gigabits/Second": true, "Terabits/Second": true,
	"Count/Second": true, "None": true,
}

// ValidUnit reports whether CloudWatch accepts u as a metric unit.
func ValidUnit(u Unit) bool { return units[u] }

// Dimension is one dimension's name and value.
type Dimension struct {
	Name, Value string
}

// Metric is one value to publish, or several: with Values set, each of them
// is a data point of its own (so percentiles see each), and Value is unused.
// An empty Unit means None.
type Metric struct {
	Name   string
	Unit   Unit
	Value  float64
	Values []float64 // at most MaxValues
}

// Property is a top-level string member that is not a dimension: it stays in
// the log (for Logs Insights) and makes no metric.
type Property struct {
	Name, Value string
}

// Record is what one document publishes.
type Record struct {
	// Timestamp of the metrics; the zero time means now.
	Timestamp time.Time
	// Dimensions are the values of the dimensions the sets may name.
	Dimensions []Dimension
	// DimensionSets lists the dimension sets each metric is published under,
	// each naming some of Dimensions. An empty set publishes the metrics
	// without dimensions, a total across all values. Nil means one set with
	// every dimension.
	DimensionSets [][]string
	// Metrics are the values, at most MaxMetrics.
	Metrics []Metric
	// Properties are kept in the document but make no metric.
	Properties []Property
}

// Emitter writes EMF documents to a writer, one line each. It is safe for
// concurrent use; each document is written with a single Write call.
type Emitter struct {
	namespace string
	mu        sync.Mutex
	w         io.Writer
}

// New returns an Emitter for namespace, which must pass ValidateNamespace.
func New(w io.Writer, namespace string) (*Emitter, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return nil, err
	}
	return &Emitter{namespace: namespace, w: w}, nil
}

// Namespace returns the CloudWatch namespace the metrics are published in.
func (e *Emitter) Namespace() string { return e.namespace }

// Emit validates r and writes it as one document. Nothing is written if r is
// invalid.
func (e *Emitter) Emit(r Record) error {
	doc, err := Encode(e.namespace, r)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(doc); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}

// ValidateNamespace applies CloudWatch's rules for a namespace: 1 to 255
// characters, not starting with a colon, only letters, digits, space and
// . - _ / # :, at least one that is not a space, and not under AWS/, which is
// reserved for AWS services.
func ValidateNamespace(ns string) error {
	switch {
	case ns == "":
		return errors.New("emf: namespace is empty; expected 1 to 255 characters")
	case len(ns) > maxNameLen:
		return fmt.Errorf("emf: namespace is %d characters long; expected at most %d", len(ns), maxNameLen)
	case ns[0] == ':':
		return fmt.Errorf("emf: namespace %q starts with a colon, which CloudWatch does not allow", ns)
	case strings.TrimSpace(ns) == "":
		return errors.New("emf: namespace is only spaces; expected at least one other character")
	case strings.HasPrefix(ns, "AWS/"):
		return fmt.Errorf("emf: namespace %q is under AWS/, which is reserved for AWS services", ns)
	}
	for _, c := range ns {
		if !namespaceChar(c) {
			return fmt.Errorf("emf: namespace %q contains %q; expected letters, digits, spaces and . - _ / # : only", ns, c)
		}
	}
	return nil
}

func namespaceChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._-/#:", c)
}

// Encode validates r and returns its document for namespace, ending in a
// newline.
func Encode(namespace string, r Record) ([]byte, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return nil, err
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	// Written member by member rather than by marshalling a struct:
	// encoding/json builds a struct's encoder by reflection on first use,
	// which cost the function's cold start about 0.1 ms for one line.
	b := make([]byte, 0, 512)
	// Strings and numbers go through encoding/json, whose encoders for them
	// take no reflection to build; only NaN and the infinities fail, and
	// validate has refused them.
	var encErr error
	value := func(v any) {
		j, err := json.Marshal(v)
		if err != nil && encErr == nil {
			encErr = fmt.Errorf("emf: encode: %w", err)
		}
		b = append(b, j...)
	}
	b = append(b, `{"_aws":{"Timestamp":`...)
	// Milliseconds since the epoch, as the specification requires.
	b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	value(namespace)
	b = append(b, `,"Dimensions":[`...)
	for i, set := range r.sets() {
		b = appendComma(b, i)
		b = append(b, '[') // never null: an empty set is []
		for j, name := range set {
			b = appendComma(b, j)
			value(name)
		}
		b = append(b, ']')
	}
	b = append(b, `],"Metrics":[`...)
	for i, m := range r.Metrics {
		b = appendComma(b, i)
		b = append(b, `{"Name":`...)
		value(m.Name)
		if m.Unit != "" {
			b = append(b, `,"Unit":`...)
			value(string(m.Unit))
		}
		b = append(b, '}')
	}
	b = append(b, "]}]}"...)
	member := func(name string, v any) {
		b = append(b, ',')
		value(name)
		b = append(b, ':')
		value(v)
	}
	for _, dm := range r.Dimensions {
		member(dm.Name, dm.Value)
	}
	for _, m := range r.Metrics {
		if m.Values != nil {
			member(m.Name, m.Values)
		} else {
			member(m.Name, m.Value)
		}
	}
	for _, p := range r.Properties {
		member(p.Name, p.Value)
	}
	b = append(b, "}\n"...)
	if encErr != nil {
		return nil, encErr
	}
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("emf: document is %d bytes; a CloudWatch Logs event holds at most %d", len(b), MaxDocumentBytes)
	}
	return b, nil
}

func appendComma(b []byte, i int) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	return b
}

// sets returns the dimension sets to publish: DimensionSets, or one set of
// every dimension when it is nil.
func (r Record) sets() [][]string {
	if r.DimensionSets != nil {
		return r.DimensionSets
	}
	all := make([]string, len(r.Dimensions))
	for i, d := range r.Dimensions {
		all[i] = d.Name
	}
	return [][]string{all}
}

// validate checks the rules of the specification that the encoding relies on.
func (r Record) validate() error {
	if len(r.Metrics) == 0 {
		return errors.New("emf: no metrics; a document needs at least one")
	}
	if len(r.Metrics) > MaxMetrics {
		return fmt.Errorf("emf: %d metrics; a directive holds at most %d", len(r.Metrics), MaxMetrics)
	}
	if r.Timestamp.UnixMilli() < 0 {
		return fmt.Errorf("emf: timestamp %s is before 1970; expected milliseconds since the epoch", r.Timestamp)
	}
	// Every member shares the document's top level, so names must be unique.
	// seen maps each member's name to its kind; the message is built only on a clash.
	seen := map[string]string{"_aws": "metadata member"}
	claim := func(kind, name string) error {
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("emf: %s %q has the same name as the %s %q; every member of the document needs its own name", kind, name, prev, name)
		}
		seen[name] = kind
		return nil
	}
	dims := map[string]bool{}
	for _, d := range r.Dimensions {
		if err := checkName("dimension name", d.Name, true); err != nil {
			return err
		}
		if err := checkDimensionValue(d); err != nil {
			return err
		}
		if err := claim("dimension", d.Name); err != nil {
			return err
		}
		dims[d.Name] = true
	}
	if r.DimensionSets != nil && len(r.DimensionSets) == 0 {
		return errors.New("emf: DimensionSets is empty; give at least one set (an empty set means no dimensions), or nil for all dimensions")
	}
	for i, s := range r.sets() {
		if len(s) > MaxDimensions {
			return fmt.Errorf("emf: dimension set %d has %d dimensions; at most %d are allowed", i, len(s), MaxDimensions)
		}
		inSet := map[string]bool{}
		for _, name := range s {
			if !dims[name] {
				return fmt.Errorf("emf: dimension set %d names %q, which is not among the dimensions; each must be a member of the document", i, name)
			}
			if inSet[name] {
				return fmt.Errorf("emf: dimension set %d names %q twice", i, name)
			}
			inSet[name] = true
		}
	}
	for _, m := range r.Metrics {
		if err := checkName("metric name", m.Name, false); err != nil {
			return err
		}
		if m.Unit != "" && !units[m.Unit] {
			return fmt.Errorf("emf: metric %q has unit %q, which CloudWatch does not know", m.Name, m.Unit)
		}
		values := []float64{m.Value}
		if m.Values != nil {
			values = m.Values
			if len(values) == 0 || len(values) > MaxValues {
				return fmt.Errorf("emf: metric %q has %d values; expected 1 to %d", m.Name, len(values), MaxValues)
			}
		}
		for _, v := range values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("emf: metric %q has value %v; expected a finite number", m.Name, v)
			}
		}
		if err := claim("metric", m.Name); err != nil {
			return err
		}
	}
	for _, p := range r.Properties {
		if p.Name == "" {
			return errors.New("emf: a property has an empty name")
		}
		if err := claim("property", p.Name); err != nil {
			return err
		}
	}
	return nil
}

// checkName applies CloudWatch's rules for metric and dimension names: 1 to
// 255 printable ASCII characters, at least one not a space; dimension names
// may not start with a colon.
func checkName(what, name string, noColon bool) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("emf: %s %q is %d characters long; expected 1 to %d", what, truncate(name), len(name), maxNameLen)
	}
	if noColon && name[0] == ':' {
		return fmt.Errorf("emf: %s %q starts with a colon, which CloudWatch does not allow", what, truncate(name))
	}
	return printable(what, name)
}

func checkDimensionValue(d Dimension) error {
	if d.Value == "" || len(d.Value) > maxDimensionValueLen {
		return fmt.Errorf("emf: value of dimension %q is %d characters long; expected 1 to %d", d.Name, len(d.Value), maxDimensionValueLen)
	}
	if printable("", d.Value) == nil {
		return nil // the common case, without formatting a name for a message
	}
	return printable(fmt.Sprintf("value of dimension %q", d.Name), d.Value)
}

func printable(what, s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return fmt.Errorf("emf: %s %q contains byte %#x; CloudWatch accepts only printable ASCII", what, truncate(s), s[i])
		}
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("emf: %s is only spaces; expected at least one other character", what)
	}
	return nil
}

// truncate keeps echoed input short in error messages.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}
