package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// benchResult is one line of go test -bench output.
type benchResult struct {
	name    string
	n       int
	metrics map[string]float64 // by unit: ns/op, B/op, allocs/op, …
	units   []string           // in the order printed
}

// goBench runs the handler's benchmarks and parses their lines.
func goBench(ctx context.Context, goBin, root string) ([]benchResult, string, error) {
	cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$", "-bench", ".", "-benchmem", "./handler/...")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		return nil, out, fmt.Errorf("go test -bench: %w", err)
	}
	res := parseBench(out)
	if len(res) == 0 {
		return nil, out, fmt.Errorf("go test -bench printed no results")
	}
	return res, out, nil
}

// parseBench reads lines like
// "BenchmarkHandle-2  438  2725696 ns/op  6.000 http-requests/op  101657 B/op  1149 allocs/op".
func parseBench(out string) []benchResult {
	var res []benchResult
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		r := benchResult{name: f[0], n: n, metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			r.metrics[f[i+1]] = v
			r.units = append(r.units, f[i+1])
		}
		res = append(res, r)
	}
	return res
}

func printBenches(w io.Writer, rs []benchResult) {
	fmt.Fprintln(w, "Per event: go test -run '^$' -bench . -benchmem ./handler/...")
	fmt.Fprintln(w, "  in-process fakes on loopback; ns/op is wall time, and BenchmarkHandle's includes its 1ms poll interval")
	table := [][]string{{"", "runs", "ns/op", "B/op", "allocs/op", "other"}}
	for _, r := range rs {
		var other []string
		for _, u := range r.units {
			switch u {
			case "ns/op", "B/op", "allocs/op":
			default:
				other = append(other, strconv.FormatFloat(r.metrics[u], 'f', -1, 64)+" "+u)
			}
		}
		table = append(table, []string{r.name, strconv.Itoa(r.n),
			fmt.Sprintf("%.0f", r.metrics["ns/op"]), fmt.Sprintf("%.0f", r.metrics["B/op"]),
			fmt.Sprintf("%.0f", r.metrics["allocs/op"]), strings.Join(other, ", ")})
	}
	writeTable(w, table)
}
