package localstack

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atlasvpce/registrar/internal/proc"
)

// emulator is a running aws-lambda-rie with the function under it.
type emulator struct {
	addr    string // host:port of the invoke API
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid once exited is closed
	tail    *proc.Buffer
	reports *reportCounter // REPORT lines on its stdout
	once    sync.Once
}

// reportCounter counts the lines of the emulator's stdout that start with
// "REPORT RequestId:". The function writes its output straight into that
// pipe (it inherits it) before it answers, and the emulator writes an
// invocation's REPORT line after the answer: once the REPORT line has been
// read from the pipe, so has everything the function wrote for that
// invocation. The answer itself can arrive before either.
type reportCounter struct {
	mu      sync.Mutex
	head    []byte // the current line's start, up to len(reportPrefix)
	n       int
	changed chan struct{} // closed and replaced at each REPORT line
}

const reportPrefix = "REPORT RequestId:"

func newReportCounter() *reportCounter { return &reportCounter{changed: make(chan struct{})} }

func (c *reportCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			c.head = c.head[:0]
			continue
		}
		if len(c.head) < len(reportPrefix) {
			c.head = append(c.head, b)
			if string(c.head) == reportPrefix {
				c.n++
				close(c.changed)
				c.changed = make(chan struct{})
			}
		}
	}
	return len(p), nil
}

// count returns the REPORT lines read so far.
func (c *reportCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitPast waits up to d for more than n REPORT lines, and reports whether
// they came.
func (c *reportCounter) waitPast(n int, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got, changed := c.n, c.changed
		c.mu.Unlock()
		if got > n {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// startAttempts: a port probed as free can be taken before the emulator binds
// it; fresh ports are cheap, so try a few times.
const startAttempts = 3

// startEmulator runs rie with the function binary bootstrap. The emulator
// binds two ports: the invoke API and the Runtime API the function talks
// to. The Runtime API defaults to 127.0.0.1:9001, which would make parallel
// stacks collide, so both are chosen here.
//
// The emulator writes the function's output (and its START, END and REPORT
// lines) to its stdout, which goes to functionLog, and its own log and any
// crash of its own to its stderr, which goes to emulatorLog.
func startEmulator(ctx context.Context, rie, bootstrap string, env []string, functionLog, emulatorLog io.Writer) (*emulator, error) {
	var lastErr error
	for range startAttempts {
		e, err := tryStartEmulator(ctx, rie, bootstrap, env, functionLog, emulatorLog)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func tryStartEmulator(ctx context.Context, rie, bootstrap string, env []string, functionLog, emulatorLog io.Writer) (*emulator, error) {
	ports, err := proc.FreePorts(2)
	if err != nil {
		return nil, err
	}
	e := &emulator{
		addr:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		exited:  make(chan struct{}),
		tail:    &proc.Buffer{Max: 4 << 10},
		reports: newReportCounter(),
	}
	// The tail keeps both streams, for an error at start. The report counter
	// comes last, so a line has reached functionLog when it is counted.
	stdout, stderr := io.Writer(io.MultiWriter(e.tail, e.reports)), io.Writer(e.tail)
	if functionLog != nil {
		stdout = io.MultiWriter(e.tail, functionLog, e.reports)
	}
	if emulatorLog != nil {
		stderr = io.MultiWriter(e.tail, emulatorLog)
	}
	// Never run with --help: this emulator build does not exit after printing it.
	e.cmd = proc.Command(rie,
		"--runtime-interface-emulator-address", e.addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		bootstrap)
	e.cmd.Dir = filepath.Dir(bootstrap) // the function's working directory, as /var/task is in Lambda
	e.cmd.Env = env
	e.cmd.Stdout = stdout
	e.cmd.Stderr = stderr
	// The function inherits the output pipe; if it outlived the emulator,
	// do not wait for it forever.
	e.cmd.WaitDelay = 2 * time.Second
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the runtime interface emulator %s: %w", rie, err)
	}
	go func() {
		e.waitErr = e.cmd.Wait()
		close(e.exited)
	}()
	if err := e.waitReady(ctx); err != nil {
		e.stop()
		return nil, fmt.Errorf("runtime interface emulator on %s: %w; its output:\n%s", e.addr, err, strings.TrimSpace(e.tail.String()))
	}
	return e, nil
}

// waitReady polls until the invoke API accepts connections. The emulator
// starts the function only on the first invoke, so this says nothing about
// the function itself.
func (e *emulator) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	d := net.Dialer{Timeout: time.Second}
	for {
		if c, err := d.DialContext(ctx, "tcp", e.addr); err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("exited before it was ready: %v", e.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// stop kills the function and the emulator and waits for the emulator to be
// reaped. The emulator puts the function in a process group of its own, so
// that group is killed separately. Safe to call more than once.
func (e *emulator) stop() {
	e.once.Do(func() {
		p := e.cmd.Process
		kids, _ := proc.Children(p.Pid)
		if runtime.GOOS != "linux" {
			// Without /proc the function's pid is unknown: let the emulator
			// stop it (it sends SIGTERM, then SIGKILL after 2s).
			_ = p.Signal(syscall.SIGTERM)
			select {
			case <-e.exited:
			case <-time.After(3 * time.Second):
			}
		}
		proc.KillGroups(kids)
		proc.KillGroup(p)
		<-e.exited
	})
}

// running reports whether the emulator process is still alive.
func (e *emulator) running() bool {
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

// functionEnv is the environment of the emulator, which passes all of it to
// the function. The host's AWS and Atlas settings are dropped so that nothing
// can point the function at a real account.
func functionEnv(base, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra)+4)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "ATLAS_") || strings.HasPrefix(k, "_LAMBDA") ||
			k == "DEADLINE_MARGIN" || k == "METRICS_NAMESPACE" || k == "_HANDLER" || k == "LOG_LEVEL" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
	)
	return append(env, extra...)
}

// checkExecutable reports a missing or unusable binary with what it is for.
func checkExecutable(what, path string) error {
	if err := proc.CheckExecutable(path); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
