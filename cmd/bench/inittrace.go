package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// initLine is one line of GODEBUG=inittrace=1 output: the run of one
// package's initializers (package-level variables and init functions).
type initLine struct {
	pkg    string
	ms     float64 // wall-clock time of the package's init
	bytes  int     // heap allocated by it
	allocs int
}

// parseInitTrace reads lines like
// "init github.com/x/y @6.4 ms, 0.33 ms clock, 19888 bytes, 239 allocs"
// and skips everything else the process printed.
func parseInitTrace(out string) []initLine {
	var res []initLine
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "init" || f[5] != "ms" || f[6] != "clock," || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		ms, err1 := strconv.ParseFloat(f[4], 64)
		b, err2 := strconv.Atoi(f[7])
		a, err3 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		res = append(res, initLine{pkg: f[1], ms: ms, bytes: b, allocs: a})
	}
	return res
}

// initTraces runs bin directly (not under the emulator) with
// GODEBUG=inittrace=1, runs times. Package init runs before main, so the
// trace is complete even though lambda.Start then exits for want of a
// runtime API. Printing the trace costs time itself, which is why these runs
// are apart from the timed cold starts.
func initTraces(ctx context.Context, runs int, bin string, env []string) ([][]initLine, error) {
	var all [][]initLine
	for range runs {
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(slices.Clone(env), "GODEBUG=inittrace=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // exits non-zero outside Lambda; the trace is what counts
		lines := parseInitTrace(out.String())
		if len(lines) == 0 {
			return nil, fmt.Errorf("%s printed no init trace:\n%s", bin, truncate(out.Bytes()))
		}
		all = append(all, lines)
	}
	return all, nil
}

// initSummary is the median over runs of the per-package and total figures.
type initSummary struct {
	totalMs         float64
	minMs, maxMs    float64
	bytes, allocs   int
	packages        int
	top             []initLine // by median ms, largest first
	heaviestByBytes []initLine
	runs            int
}

func summarizeInit(runs [][]initLine, top int) initSummary {
	var totals []float64
	var bytesPerRun, allocsPerRun []int
	perPkg := map[string][]initLine{}
	var order []string
	for _, run := range runs {
		var t float64
		var b, a int
		for _, l := range run {
			t += l.ms
			b += l.bytes
			a += l.allocs
			if _, ok := perPkg[l.pkg]; !ok {
				order = append(order, l.pkg)
			}
			perPkg[l.pkg] = append(perPkg[l.pkg], l)
		}
		totals = append(totals, t)
		bytesPerRun = append(bytesPerRun, b)
		allocsPerRun = append(allocsPerRun, a)
	}
	s := initSummary{runs: len(runs), packages: len(perPkg)}
	if len(runs) == 0 {
		return s
	}
	s.totalMs, s.minMs, s.maxMs = median(totals), slices.Min(totals), slices.Max(totals)
	s.bytes, s.allocs = median(bytesPerRun), median(allocsPerRun)
	var pkgs []initLine
	for _, name := range order {
		ls := perPkg[name]
		pkgs = append(pkgs, initLine{
			pkg:    name,
			ms:     median(collectInit(ls, func(l initLine) float64 { return l.ms })),
			bytes:  median(collectInit(ls, func(l initLine) int { return l.bytes })),
			allocs: median(collectInit(ls, func(l initLine) int { return l.allocs })),
		})
	}
	byMs := slices.Clone(pkgs)
	slices.SortStableFunc(byMs, func(a, b initLine) int { return cmpDesc(a.ms, b.ms) })
	byBytes := slices.Clone(pkgs)
	slices.SortStableFunc(byBytes, func(a, b initLine) int { return cmpDesc(a.bytes, b.bytes) })
	s.top = byMs[:min(top, len(byMs))]
	s.heaviestByBytes = byBytes[:min(top, len(byBytes))]
	return s
}

func collectInit[T int | float64](ls []initLine, f func(initLine) T) []T {
	out := make([]T, len(ls))
	for i, l := range ls {
		out[i] = f(l)
	}
	return out
}

func cmpDesc[T int | float64](a, b T) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func printInit(w io.Writer, reg, floor, hello initSummary) {
	fmt.Fprintf(w, "Package init (GODEBUG=inittrace=1, the binaries run directly, median of %d runs each)\n", reg.runs)
	row := func(name string, f func(initSummary) string) []string {
		return []string{name, f(reg), f(floor), f(hello)}
	}
	writeTable(w, [][]string{
		{"", "registrar", "SDK floor", "hello"},
		row("sum of package init, ms", func(s initSummary) string { return fmt.Sprintf("%.2f", s.totalMs) }),
		row("  range over runs, ms", func(s initSummary) string { return fmt.Sprintf("%.2f–%.2f", s.minMs, s.maxMs) }),
		row("heap allocated at init, bytes", func(s initSummary) string { return strconv.Itoa(s.bytes) }),
		row("allocations at init", func(s initSummary) string { return strconv.Itoa(s.allocs) }),
		row("packages initialized", func(s initSummary) string { return strconv.Itoa(s.packages) }),
	})
	fmt.Fprintln(w, "  registrar's slowest package inits (median):")
	table := [][]string{{"", "ms", "bytes", "allocs"}}
	for _, l := range reg.top {
		table = append(table, []string{l.pkg, fmt.Sprintf("%.3f", l.ms), strconv.Itoa(l.bytes), strconv.Itoa(l.allocs)})
	}
	writeTable(w, table)
	fmt.Fprintln(w, "  registrar's package inits that allocate most (median):")
	table = [][]string{{"", "ms", "bytes", "allocs"}}
	for _, l := range reg.heaviestByBytes {
		table = append(table, []string{l.pkg, fmt.Sprintf("%.3f", l.ms), strconv.Itoa(l.bytes), strconv.Itoa(l.allocs)})
	}
	writeTable(w, table)
	fmt.Fprintln(w)
}
