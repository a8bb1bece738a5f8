package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/atlasvpce/registrar/internal/proc"
)

type options struct {
	rie      string
	runs     int
	event    string
	perEvent bool
}

// sizeGoal is the deployable's size goal: 10 MB, decimal.
const sizeGoal = 10_000_000

// buildFlags are the flags the Makefile ships with (less the version stamp).
var buildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

func run(ctx context.Context, o options, out, logw io.Writer) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("the go command is not on PATH")
	}
	root, err := moduleRoot(ctx, goBin)
	if err != nil {
		return err
	}
	rie, err := filepath.Abs(o.rie)
	if err != nil {
		return err
	}
	if err := proc.CheckExecutable(rie); err != nil {
		return fmt.Errorf("runtime emulator %s is missing or not executable (`make tools` installs it)", o.rie)
	}
	event := o.event
	if !filepath.IsAbs(event) {
		if _, err := os.Stat(event); err != nil {
			event = filepath.Join(root, event)
		}
	}
	payload, err := os.ReadFile(event)
	if err != nil {
		return fmt.Errorf("read the invoke payload: %w", err)
	}
	tmp, err := os.MkdirTemp("", "registrar-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	m := describeMachine(ctx, goBin)
	fmt.Fprintf(out, "registrar bench, %s\n", m.date)
	fmt.Fprintf(out, "machine: %s, %d logical CPUs, %s RAM, Linux %s, %s/%s\n", m.cpu, m.cores, m.mem, m.kernel, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(out, "%s\n\n", m.goVersion)

	fmt.Fprintln(logw, "bench: building the linux/arm64 deployable")
	arm := filepath.Join(tmp, "arm64", "bootstrap")
	if err := build(ctx, goBin, root, "./cmd/registrar", "arm64", arm); err != nil {
		return err
	}
	sz, err := measureSize(arm)
	if err != nil {
		return err
	}
	printSize(out, sz)

	fmt.Fprintf(logw, "bench: building for linux/%s and starting each binary %d times under the emulator\n", runtime.GOARCH, o.runs)
	reg := filepath.Join(tmp, "registrar", "bootstrap")
	hello := filepath.Join(tmp, "hello", "bootstrap")
	if err := build(ctx, goBin, root, "./cmd/registrar", runtime.GOARCH, reg); err != nil {
		return err
	}
	if err := build(ctx, goBin, root, "./cmd/bench/hello", runtime.GOARCH, hello); err != nil {
		return err
	}
	floor := filepath.Join(tmp, "sdkfloor", "bootstrap")
	if err := build(ctx, goBin, root, "./cmd/bench/sdkfloor", runtime.GOARCH, floor); err != nil {
		return err
	}
	cs, err := coldStarts(ctx, o.runs, rie, tmp, reg, hello, floor, payload)
	if err != nil {
		return err
	}
	printGoal(out, cs)
	printColdStarts(out, o, cs, filepath.Base(event))

	fmt.Fprintf(logw, "bench: GODEBUG=inittrace=1, %d runs of each binary\n", o.runs)
	env, regEnv, err := benchEnv(tmp)
	if err != nil {
		return err
	}
	regInit, err := initTraces(ctx, o.runs, reg, regEnv)
	if err != nil {
		return err
	}
	helloInit, err := initTraces(ctx, o.runs, hello, env)
	if err != nil {
		return err
	}
	floorInit, err := initTraces(ctx, o.runs, floor, env)
	if err != nil {
		return err
	}
	printInit(out, summarizeInit(regInit, 8), summarizeInit(floorInit, 8), summarizeInit(helloInit, 8))

	if !o.perEvent {
		return nil
	}
	fmt.Fprintln(logw, "bench: go test -bench ./handler")
	benches, raw, err := goBench(ctx, goBin, root)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, raw)
	}
	printBenches(out, benches)
	return nil
}

// moduleRoot is the directory of the main module, so the tool works from any
// directory inside it.
func moduleRoot(ctx context.Context, goBin string) (string, error) {
	b, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(b))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run bench inside the registrar module")
	}
	return filepath.Dir(gomod), nil
}

// build compiles pkg for linux/goarch as the Makefile does, into out.
//
// The linker writes its output through a memory mapping, and on Linux the
// pages of a file written that way stay in the page cache as single pages,
// which makes every page fault of the next exec dearer than for a file
// written with write(2) (measured on Linux 6.18: 0.25 to 0.4 ms more per
// start for the same bytes, more for the larger binary). Lambda runs the
// bootstrap as extracted from the zip, so out is written afresh with plain
// writes, as an unzip writes it, and every binary starts on the same footing.
func build(ctx context.Context, goBin, root, pkg, goarch, out string) error {
	linked := out + ".linked"
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", linked, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for linux/%s: %w\n%s", pkg, goarch, err, b)
	}
	b, err := os.ReadFile(linked)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o755); err != nil {
		return err
	}
	return os.Remove(linked)
}

type machine struct {
	date, goVersion, cpu, mem, kernel string
	cores                             int
}

func describeMachine(ctx context.Context, goBin string) machine {
	m := machine{
		date:  time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		cores: runtime.NumCPU(),
		cpu:   "unknown CPU", mem: "unknown", kernel: "unknown",
	}
	if b, err := exec.CommandContext(ctx, goBin, "version").Output(); err == nil {
		m.goVersion = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		// x86 names the model; arm64 kernels often give only implementer and part numbers.
		for _, key := range []string{"model name", "Hardware", "CPU implementer"} {
			if v := procField(string(b), key); v != "" {
				m.cpu = v
				if key == "CPU implementer" {
					m.cpu = "CPU implementer " + v + ", part " + procField(string(b), "CPU part")
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(procField(string(b), "MemTotal"), "%d kB", &kb); err == nil {
			m.mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key : value" line in a /proc file.
func procField(text, key string) string {
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type size struct{ binary, zipped int64 }

// measureSize zips the binary as the deployment package (one file named
// bootstrap, executable, deflate) and returns both sizes.
func measureSize(bin string) (size, error) {
	f, err := os.Open(bin)
	if err != nil {
		return size{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return size{}, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: fi.ModTime()}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return size{}, err
	}
	if _, err := io.Copy(w, f); err != nil {
		return size{}, err
	}
	if err := zw.Close(); err != nil {
		return size{}, err
	}
	return size{binary: fi.Size(), zipped: int64(buf.Len())}, nil
}

func printSize(w io.Writer, s size) {
	fmt.Fprintf(w, "Deployable: ./cmd/registrar for linux/arm64, CGO_ENABLED=0 %s\n", strings.Join(quoteFlags(buildFlags), " "))
	rows := [][]string{{"", "bytes", "MB", "goal 10 MB"}}
	for _, r := range []struct {
		name string
		n    int64
	}{{"bootstrap", s.binary}, {"bootstrap.zip (deflate)", s.zipped}} {
		verdict := "within"
		if r.n > sizeGoal {
			verdict = "OVER"
		}
		rows = append(rows, []string{r.name, strconv.FormatInt(r.n, 10), fmt.Sprintf("%.2f", float64(r.n)/1e6), verdict})
	}
	writeTable(w, rows)
	fmt.Fprintln(w)
}

func quoteFlags(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		if strings.ContainsRune(f, ' ') {
			f = `"` + f + `"`
		}
		out[i] = f
	}
	return out
}

// writeTable prints rows indented, the first column left-aligned and the
// others right-aligned.
func writeTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
