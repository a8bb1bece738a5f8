package main

import (
	"bytes"
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
