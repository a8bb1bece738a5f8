package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atlasvpce/registrar/internal/proc"
)

// sample is one fresh start of the emulator with one binary.
type sample struct {
	startToReply time.Duration // emulator process start to the first invoke's reply
	coldInvoke   time.Duration // first invoke's POST to reply: the emulator starts the runtime on it
	warmInvoke   time.Duration // second invoke's POST to reply
	initMs       float64       // emulator's "INIT REPORT(durationMs: …)", -1 if absent
	reportInitMs float64       // emulator's first REPORT "Init Duration", -1 if absent
	reportDurMs  float64       // emulator's first REPORT "Duration", -1 if absent
	memSizeMB    int           // REPORT "Memory Size", -1 if absent
	maxMemMB     int           // REPORT "Max Memory Used", -1 if absent
	hwmKB        int           // the bootstrap's VmHWM after the first invoke
}

type coldStartResult struct {
	// registrar[i] and floor[i] are one pair, started back to back: the SDK
	// floor is hello with the registrar's AWS SDK packages linked
	// (cmd/bench/sdkfloor). hello[i] is started next to registrar[i] too.
	registrar, floor, hello []sample
	reply                   string // the registrar's reply, to show what it was asked
	repeated                int    // starts that failed and were made again
}

// benchEnv is the environment the binaries start with: what Lambda sets, and
// no ~/.aws (HOME is an empty directory under tmp), so configuration comes
// only from the environment, as in Lambda. reg is env plus the registrar's own
// variables.
func benchEnv(tmp string) (env, reg []string, err error) {
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, nil, err
	}
	env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TZ=UTC",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_SESSION_TOKEN=x",
	}
	reg = append(slices.Clone(env), "ATLAS_PROJECT_ID=5f0000000000000000000001", "ATLAS_SECRET_ID=atlas/registrar")
	return env, reg, nil
}

// coldStarts starts the registrar and the SDK floor as runs pairs, back to
// back, so drift on the machine affects both alike; the pairs alternate which
// binary goes first, so neither always gets the warmer (or the busier) slot.
// Hello is started on the registrar's other side, alternating the same way:
// floor, registrar, hello, then hello, registrar, floor.
func coldStarts(ctx context.Context, runs int, rie, tmp, registrar, hello, floor string, payload []byte) (*coldStartResult, error) {
	env, regEnv, err := benchEnv(tmp)
	if err != nil {
		return nil, err
	}
	res := &coldStartResult{}
	checkRegistrar := func(reply []byte) error {
		var r struct {
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(reply, &r); err != nil || r.Outcome == "" {
			return fmt.Errorf("registrar replied %q, want a result", truncate(reply))
		}
		if r.Outcome != "ignored" {
			return fmt.Errorf("registrar replied outcome %q; the payload must be one it answers without network", r.Outcome)
		}
		res.reply = r.Outcome
		return nil
	}
	checkHello := func(reply []byte) error {
		if string(reply) != `"hello"` {
			return fmt.Errorf("hello replied %q", truncate(reply))
		}
		return nil
	}
	// A start that fails (on a shared machine, another process can take a
	// port between its choice and its use) is repeated once and counted;
	// a second failure ends the bench.
	start := func(bin string, env []string, payload []byte, check func([]byte) error) (sample, error) {
		s, err := coldStart(ctx, rie, bin, env, payload, check)
		if err != nil && ctx.Err() == nil {
			res.repeated++
			s, err = coldStart(ctx, rie, bin, env, payload, check)
		}
		return s, err
	}
	// starter starts one binary and keeps its sample in *into.
	starter := func(name, bin string, env []string, payload []byte, check func([]byte) error, into *[]sample) func() error {
		return func() error {
			s, err := start(bin, env, payload, check)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			*into = append(*into, s)
			return nil
		}
	}
	startRegistrar := starter("registrar", registrar, regEnv, payload, checkRegistrar, &res.registrar)
	startHello := starter("hello", hello, env, []byte(`{}`), checkHello, &res.hello)
	startFloor := starter("SDK floor", floor, env, []byte(`{}`), checkHello, &res.floor)
	for i := range runs {
		order := []func() error{startFloor, startRegistrar, startHello}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, start := range order {
			if err := start(); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// coldStart runs the emulator with bin, invokes it twice and reads what it
// measured. The emulator starts the runtime process on the first invoke.
func coldStart(ctx context.Context, rie, bin string, env []string, payload []byte, check func([]byte) error) (sample, error) {
	s := sample{initMs: -1, reportInitMs: -1, reportDurMs: -1, memSizeMB: -1, maxMemMB: -1}
	ports, err := proc.FreePorts(2)
	if err != nil {
		return s, err
	}
	addr, apiAddr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	var logs proc.Buffer
	// The runtime API gets a port of its own: the emulator's default,
	// 127.0.0.1:9001, is shared with any other emulator on the machine, and
	// a runtime that reaches the wrong one fails the start.
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr, bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its runtime child is in the same group
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, fmt.Errorf("start the emulator: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer stop(cmd.Process.Pid, exited)
	fail := func(err error) (sample, error) {
		return s, fmt.Errorf("%w\nemulator output:\n%s", err, logs.String())
	}

	if err := waitListening(ctx, addr, exited); err != nil {
		return fail(err)
	}
	sent := time.Now()
	reply, err := invoke(ctx, addr, payload)
	replied := time.Now()
	if err != nil {
		return fail(err)
	}
	if err := check(reply); err != nil {
		return fail(err)
	}
	s.startToReply, s.coldInvoke = replied.Sub(start), replied.Sub(sent)

	child, err := childOf(cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	if s.hwmKB, err = vmHWM(child); err != nil {
		return fail(err)
	}

	sent = time.Now()
	reply, err = invoke(ctx, addr, payload)
	s.warmInvoke = time.Since(sent)
	if err != nil {
		return fail(err)
	}
	if err := check(reply); err != nil {
		return fail(err)
	}

	// The REPORT lines may trail the replies a little.
	for wait := time.Now(); strings.Count(logs.String(), "\nREPORT ") < 2 && time.Since(wait) < 2*time.Second; {
		time.Sleep(5 * time.Millisecond)
	}
	parseEmulatorLog(logs.String(), &s)
	return s, nil
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return errors.New("the emulator exited before listening")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not listen on %s within 10s", addr)
		}
		// Finer than the differences measured: the poll's granularity is
		// part of every spawn-to-answer figure.
		time.Sleep(250 * time.Microsecond)
	}
}

var invokeClient = &http.Client{Timeout: 30 * time.Second}

func invoke(ctx context.Context, addr string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := invokeClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke: %s: %s", resp.Status, truncate(body))
	}
	return body, nil
}

// stop ends the emulator (which kills its runtime), and its process group if
// it does not go within a few seconds.
func stop(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// childOf finds the one child process of pid in /proc.
func childOf(pid int) (int, error) {
	kids, err := proc.Children(pid)
	if err != nil {
		return 0, fmt.Errorf("find the runtime process: %w (bench needs Linux /proc)", err)
	}
	if len(kids) != 1 {
		return 0, fmt.Errorf("the emulator (pid %d) has %d child processes, want its one runtime", pid, len(kids))
	}
	return kids[0], nil
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read the runtime's memory: %w", err)
	}
	var kb int
	if _, err := fmt.Sscanf(procField(string(b), "VmHWM"), "%d kB", &kb); err != nil {
		return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	return kb, nil
}

var (
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportRE     = regexp.MustCompile(`(?m)^REPORT RequestId: .*$`)
	reportInitRE = regexp.MustCompile(`\tInit Duration: ([0-9.]+) ms`)
	reportDurRE  = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
	memSizeRE    = regexp.MustCompile(`\tMemory Size: ([0-9]+) MB`)
	maxMemRE     = regexp.MustCompile(`\tMax Memory Used: ([0-9]+) MB`)
)

// parseEmulatorLog reads the emulator's INIT REPORT and its first REPORT line.
func parseEmulatorLog(log string, s *sample) {
	num := func(re *regexp.Regexp, text string) float64 {
		if m := re.FindStringSubmatch(text); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				return v
			}
		}
		return -1
	}
	s.initMs = num(initReportRE, log)
	report := reportRE.FindString(log)
	s.reportInitMs = num(reportInitRE, report)
	s.reportDurMs = num(reportDurRE, report)
	s.memSizeMB = int(num(memSizeRE, report))
	s.maxMemMB = int(num(maxMemRE, report))
}

func median[T int | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// collect returns one field of every sample, leaving out absent (-1) values.
func collect[T int | float64 | time.Duration](ss []sample, f func(sample) T) []T {
	var out []T
	for _, s := range ss {
		if v := f(s); v >= 0 {
			out = append(out, v)
		}
	}
	return out
}

// The cold-start goal: the registrar's own code adds at most 5 % to what the
// AWS SDK costs. Its spawn to first answer is at most coldStartGoal times the
// SDK floor's (hello-world with the same SDK packages linked), as the median
// of at least goalPairs interleaved pairs: one pair's ratio moves by ±0.2 on
// a busy machine, so fewer say too little.
const (
	coldStartGoal = 1.05
	goalPairs     = 31
)

// pairRatios is a over b, spawn to first answer, for each pair.
func pairRatios(a, b []sample) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if d := b[i].startToReply; d > 0 {
			out = append(out, float64(a[i].startToReply)/float64(d))
		}
	}
	return out
}

// goalVerdict judges the registrar / floor ratios of the pairs against the goal.
func goalVerdict(ratios []float64) string {
	switch {
	case len(ratios) < goalPairs:
		return fmt.Sprintf("not judged: %d pairs, the goal needs at least %d (-runs %d)", len(ratios), goalPairs, goalPairs)
	case median(ratios) > coldStartGoal:
		return "NOT met"
	}
	return "met"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printGoal prints the figure the cold-start goal is stated in, whether it is
// met, and the ratio against hello-world beside it.
func printGoal(w io.Writer, r *coldStartResult) {
	ratios := pairRatios(r.registrar, r.floor)
	if len(ratios) == 0 {
		return
	}
	fmt.Fprintf(w, "Cold start goal: spawn under aws-lambda-rie to first answer, registrar / SDK floor, median of %d interleaved pairs\n", len(ratios))
	rows := [][]string{{"", "median", "range"}}
	for _, b := range []struct {
		name string
		ss   []sample
	}{{"registrar", r.registrar}, {"SDK floor", r.floor}, {"hello", r.hello}} {
		if d := collect(b.ss, func(s sample) time.Duration { return s.startToReply }); len(d) > 0 {
			rows = append(rows, []string{b.name + ", ms", fmt.Sprintf("%.2f", ms(median(d))), fmt.Sprintf("%.2f–%.2f", ms(slices.Min(d)), ms(slices.Max(d)))})
		}
	}
	ratioRow := func(name string, rs []float64) {
		if len(rs) > 0 {
			rows = append(rows, []string{name, fmt.Sprintf("%.3f", median(rs)), fmt.Sprintf("%.3f–%.3f", slices.Min(rs), slices.Max(rs))})
		}
	}
	ratioRow("registrar / SDK floor, each pair", ratios)
	ratioRow("  registrar / hello (no goal)", pairRatios(r.registrar, r.hello))
	ratioRow("  SDK floor / hello (the SDK's share)", pairRatios(r.floor, r.hello))
	writeTable(w, rows)
	fmt.Fprintf(w, "  goal ≤ %.2f, median of at least %d pairs: %s (median pair ratio %.3f)\n", coldStartGoal, goalPairs, goalVerdict(ratios), median(ratios))
	fmt.Fprintln(w, "  SDK floor: hello with the registrar's AWS SDK packages linked and unused (cmd/bench/sdkfloor);\n"+
		"    their package init runs all the same, so registrar / floor is what the registrar's own code adds")
	if r.repeated > 0 {
		fmt.Fprintf(w, "  %d start(s) failed and were made again\n", r.repeated)
	}
	fmt.Fprintln(w)
}

func printColdStarts(w io.Writer, o options, r *coldStartResult, event string) {
	fmt.Fprintf(w, "Cold start under aws-lambda-rie: median of %d fresh starts each, linux/%s builds with the same flags\n", o.runs, runtime.GOARCH)
	fmt.Fprintf(w, "  registrar invoked with %s (outcome %s, no network); the SDK floor is cmd/bench/sdkfloor, hello cmd/bench/hello\n", event, r.reply)
	table := [][]string{{"", "registrar", "SDK floor", "hello", "registrar / floor"}}
	durs := func(f func(sample) time.Duration) func([]sample) []float64 {
		return func(ss []sample) []float64 {
			var out []float64
			for _, d := range collect(ss, f) {
				out = append(out, ms(d))
			}
			return out
		}
	}
	floats := func(f func(sample) float64) func([]sample) []float64 {
		return func(ss []sample) []float64 { return collect(ss, f) }
	}
	rows := []struct {
		name, unit string
		get        func([]sample) []float64
	}{
		{"first invoke, POST to reply (runtime start + init + invoke)", "ms", durs(func(s sample) time.Duration { return s.coldInvoke })},
		{"emulator start to first reply", "ms", durs(func(s sample) time.Duration { return s.startToReply })},
		{"emulator INIT REPORT durationMs", "ms", floats(func(s sample) float64 { return s.initMs })},
		{"emulator REPORT Init Duration", "ms", floats(func(s sample) float64 { return s.reportInitMs })},
		{"emulator REPORT Duration, first invoke", "ms", floats(func(s sample) float64 { return s.reportDurMs })},
		{"warm invoke, POST to reply", "ms", durs(func(s sample) time.Duration { return s.warmInvoke })},
		{"peak RSS of bootstrap (VmHWM) after first invoke", "MiB", floats(func(s sample) float64 {
			return float64(s.hwmKB) / 1024
		})},
	}
	for _, rw := range rows {
		reg, flo, hel := rw.get(r.registrar), rw.get(r.floor), rw.get(r.hello)
		if len(reg) == 0 || len(flo) == 0 || len(hel) == 0 {
			table = append(table, []string{rw.name, "not reported", "", "", ""})
			continue
		}
		mr, mf := median(reg), median(flo)
		ratio := "-"
		if mf > 0 {
			ratio = fmt.Sprintf("%.2f×", mr/mf)
		}
		table = append(table, []string{rw.name + ", " + rw.unit, fmt.Sprintf("%.2f", mr), fmt.Sprintf("%.2f", mf), fmt.Sprintf("%.2f", median(hel)), ratio})
	}
	writeTable(w, table)

	// The emulator's REPORT figures are not all measurements; say which are not.
	ri := collect(r.registrar, func(s sample) float64 { return s.reportInitMs })
	ii := collect(r.registrar, func(s sample) float64 { return s.initMs })
	if len(ri) > 0 && len(ii) > 0 && median(ri) < median(ii)/10 {
		fmt.Fprintf(w, "  emulator REPORT Init Duration (%.2f ms) is far below its INIT REPORT (%.2f ms): this emulator times only\n"+
			"    the asynchronous start of init there, so INIT REPORT and the first invoke's latency are the init figures\n", median(ri), median(ii))
	}
	// The emulator prints a memory figure; say whether it measured anything.
	mem := collect(r.registrar, func(s sample) int { return s.maxMemMB })
	size := collect(r.registrar, func(s sample) int { return s.memSizeMB })
	if len(mem) > 0 && len(size) > 0 {
		verdict := "a measurement"
		if slices.Equal(mem, size) {
			verdict = "not a measurement (it equals Memory Size every time); VmHWM is used instead"
		}
		fmt.Fprintf(w, "  emulator REPORT Max Memory Used: %d MB, Memory Size %d MB: %s\n", median(mem), median(size), verdict)
	}
	fmt.Fprintln(w)
}
