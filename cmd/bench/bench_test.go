package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseEmulatorLog(t *testing.T) {
	// As aws-lambda-rie prints it: rapid's INIT REPORT, then one REPORT per invoke.
	log := "27 Nov 2026 10:39:06,037 [INFO] (rapid) INIT REPORT(durationMs: 2.863000)\n" +
		"END RequestId: 9f860eb2\n" +
		"REPORT RequestId: 9f860eb2\tInit Duration: 0.21 ms\tDuration: 3.70 ms\tBilled Duration: 4 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
		"REPORT RequestId: 9c6fc99e\tDuration: 0.69 ms\tBilled Duration: 1 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n"
	var s sample
	parseEmulatorLog(log, &s)
	want := sample{initMs: 2.863, reportInitMs: 0.21, reportDurMs: 3.70, memSizeMB: 3008, maxMemMB: 3008}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}

	s = sample{}
	parseEmulatorLog("no report here\n", &s)
	if s.initMs != -1 || s.reportInitMs != -1 || s.reportDurMs != -1 || s.maxMemMB != -1 {
		t.Errorf("absent figures: got %+v, want -1s", s)
	}
}

func TestParseBench(t *testing.T) {
	out := "goos: linux\nBenchmarkHandle-2   \t 438\t 2725696 ns/op\t 6.000 http-requests/op\t 101657 B/op\t 1149 allocs/op\n" +
		"BenchmarkParse-2\t8883\t129403 ns/op\t35.05 MB/s\t10616 B/op\t78 allocs/op\nPASS\n"
	rs := parseBench(out)
	if len(rs) != 2 {
		t.Fatalf("got %d results, want 2", len(rs))
	}
	if r := rs[0]; r.name != "BenchmarkHandle-2" || r.n != 438 || r.metrics["ns/op"] != 2725696 ||
		r.metrics["allocs/op"] != 1149 || r.metrics["http-requests/op"] != 6 {
		t.Errorf("got %+v", r)
	}
	if r := rs[1]; r.metrics["MB/s"] != 35.05 || r.metrics["B/op"] != 10616 {
		t.Errorf("got %+v", r)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd: got %v", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("even: got %v", got) // (2+3)/2 in integer nanoseconds
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, [][]string{{"", "n"}, {"long name", "1"}, {"x", "100"}})
	want := "               n\n  long name    1\n  x          100\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, strings.ReplaceAll(want, " ", "·"))
	}
}

func TestParseInitTrace(t *testing.T) {
	// As the runtime prints it to stderr, mixed with the program's own output.
	out := "init runtime @0.035 ms, 0.14 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/atlasvpce/registrar/handler @12 ms, 5.1 ms clock, 356136 bytes, 1607 allocs\n" +
		"2026/11/30 08:23:00 expected AWS Lambda environment variables [_LAMBDA_SERVER_PORT AWS_LAMBDA_RUNTIME_API] are not defined\n" +
		"init broken @1 ms, x ms clock, 1 bytes, 1 allocs\n"
	got := parseInitTrace(out)
	want := []initLine{
		{pkg: "runtime", ms: 0.14},
		{pkg: "github.com/atlasvpce/registrar/handler", ms: 5.1, bytes: 356136, allocs: 1607},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSummarizeInit(t *testing.T) {
	runs := [][]initLine{
		{{pkg: "a", ms: 1, bytes: 10, allocs: 1}, {pkg: "b", ms: 3, bytes: 5, allocs: 2}},
		{{pkg: "a", ms: 2, bytes: 10, allocs: 1}, {pkg: "b", ms: 1, bytes: 5, allocs: 2}},
		{{pkg: "a", ms: 3, bytes: 10, allocs: 1}, {pkg: "b", ms: 2, bytes: 5, allocs: 2}},
	}
	s := summarizeInit(runs, 1)
	// Totals per run: 4, 3, 5.
	if s.totalMs != 4 || s.minMs != 3 || s.maxMs != 5 || s.bytes != 15 || s.allocs != 3 || s.packages != 2 || s.runs != 3 {
		t.Errorf("summary %+v", s)
	}
	if len(s.top) != 1 || s.top[0].pkg != "a" && s.top[0].pkg != "b" || s.top[0].ms != 2 {
		t.Errorf("top %+v, want one package with median 2 ms", s.top)
	}
	if len(s.heaviestByBytes) != 1 || s.heaviestByBytes[0].pkg != "a" {
		t.Errorf("heaviest %+v, want a", s.heaviestByBytes)
	}
}

func TestPairRatios(t *testing.T) {
	r := &coldStartResult{
		registrar: []sample{{startToReply: 12 * time.Millisecond}, {startToReply: 30 * time.Millisecond}},
		hello:     []sample{{startToReply: 10 * time.Millisecond}, {startToReply: 20 * time.Millisecond}},
	}
	if got := pairRatios(r.registrar, r.hello); !slices.Equal(got, []float64{1.2, 1.5}) {
		t.Errorf("got %v, want [1.2 1.5]", got)
	}
	// A pair whose second start is missing or zero is left out.
	if got := pairRatios(r.registrar, []sample{{startToReply: 0}}); len(got) != 0 {
		t.Errorf("got %v, want no ratio", got)
	}
}

// The SDK floor must link exactly the AWS SDK packages the registrar links:
// otherwise floor / hello no longer measures what those packages cost.
func TestSDKFloorLinksTheRegistrarsSDKPackages(t *testing.T) {
	sdk := func(pkg string) []string {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		var ps []string
		for p := range strings.Lines(string(out)) {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2") || strings.HasPrefix(p, "github.com/aws/smithy-go") {
				ps = append(ps, p)
			}
		}
		return ps
	}
	reg, floor := sdk("github.com/atlasvpce/registrar/cmd/registrar"), sdk("github.com/atlasvpce/registrar/cmd/bench/sdkfloor")
	if len(reg) == 0 {
		t.Fatal("the registrar links no AWS SDK package; the test looks in the wrong place")
	}
	for _, p := range reg {
		if !slices.Contains(floor, p) {
			t.Errorf("the registrar links %s and cmd/bench/sdkfloor does not: add the import that brings it", p)
		}
	}
	for _, p := range floor {
		if !slices.Contains(reg, p) {
			t.Errorf("cmd/bench/sdkfloor links %s and the registrar does not: remove the import that brings it", p)
		}
	}
}

// The goal is registrar / SDK floor ≤ 1.05 as the median of at least 31
// pairs; fewer pairs are not judged at all.
func TestGoalVerdict(t *testing.T) {
	pairs := func(n int, r float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = r
		}
		return out
	}
	// 16 of 31 above the goal: the median is above it.
	over := append(pairs(15, 0.9), pairs(16, 1.2)...)
	for _, tt := range []struct {
		name   string
		ratios []float64
		want   string
	}{
		{"within", pairs(31, 1.04), "met"},
		{"at the goal", pairs(31, 1.05), "met"},
		{"median over", over, "NOT met"},
		{"a few slow pairs", append(pairs(16, 1.0), pairs(15, 1.5)...), "met"},
		{"too few pairs", pairs(30, 1.0), "not judged: 30 pairs, the goal needs at least 31 (-runs 31)"},
	} {
		if got := goalVerdict(tt.ratios); got != tt.want {
			t.Errorf("%s: goalVerdict = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The goal line compares the registrar with the SDK floor; the hello-world
// ratio is printed beside it without a verdict.
func TestPrintGoal(t *testing.T) {
	r := &coldStartResult{}
	for i := range goalPairs {
		d := time.Duration(10+i%3) * time.Millisecond
		r.floor = append(r.floor, sample{startToReply: d})
		r.registrar = append(r.registrar, sample{startToReply: d * 103 / 100})
		r.hello = append(r.hello, sample{startToReply: d * 90 / 100})
	}
	var b bytes.Buffer
	printGoal(&b, r)
	out := b.String()
	for _, want := range []string{
		"registrar / SDK floor, median of 31 interleaved pairs",
		"goal ≤ 1.05, median of at least 31 pairs: met (median pair ratio 1.030)",
		"registrar / hello (no goal)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("printGoal output lacks %q:\n%s", want, out)
		}
	}
}
