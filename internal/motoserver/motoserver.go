// Package motoserver runs moto_server, the moto AWS emulator, as a child process
// so that tests and local runs can talk to EC2 and Secrets Manager over the real
// wire protocols on loopback, with the real SDK clients.
//
// moto_server must be on PATH. When it is missing, Start returns an error that
// says how to install it (see InstallHint); StartT and Shared fail the test
// rather than skip it, so a missing emulator can never pass silently.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atlasvpce/registrar/internal/proc"
)

// InstallHint says how to get moto_server; it is part of every "not found" error.
const InstallHint = `moto_server not found on PATH; install it with: pip install 'moto[server]'`

// ErrNotInstalled is returned (wrapped) by Start when moto_server is not on PATH.
var ErrNotInstalled = errors.New(InstallHint)

const (
	defaultStartTimeout = 30 * time.Second
	// Binding a port we probed as free can still lose a race with another
	// process; a fresh port is cheap, so try a few.
	startAttempts = 3
	// Enough of moto's output to explain a failed start.
	tailSize = 4 << 10
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Log receives moto_server's stdout and stderr. It must stay usable until
	// Close returns. Nil discards the output (a short tail is kept for errors).
	Log io.Writer
	// StartTimeout bounds the wait for moto_server to answer HTTP. Default 30s.
	StartTimeout time.Duration
}

// Server is a running moto_server.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234 (no trailing slash).
	URL string

	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has been reaped
	closeOnce sync.Once
}

// Start launches moto_server on a free loopback port and waits until it
// answers HTTP. The process runs in its own process group, which Close kills.
// On Linux the process is also killed if this process dies without calling Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = defaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var lastErr error
	for range startAttempts {
		s, err := start(ctx, bin, opts.Log)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string, log io.Writer) (*Server, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	tail := &proc.Buffer{Max: tailSize}
	out := io.Writer(tail)
	if log != nil {
		out = io.MultiWriter(tail, log)
	}
	cmd := proc.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout = out
	cmd.Stderr = out
	// Output is copied by goroutines that end when the pipe closes; if a
	// grandchild escaped the group and kept it open, do not hang forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &Server{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		s.Close()
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w: %v", err, waitErr) // waitErr is safe to read: exited is closed
		}
		return nil, fmt.Errorf("moto_server on port %d: %w; output:\n%s", port, err, strings.TrimSpace(tail.String()))
	}
	return s, nil
}

var errExited = errors.New("exited before it was ready")

// waitReady polls until moto answers any HTTP response, the process exits or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("not answering: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Close kills moto_server's process group and waits for it to exit. It is
// safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		proc.KillGroup(s.cmd.Process)
		<-s.exited
	})
}

// Reset drops all state (VPCs, endpoints, secrets, …) in every region. It
// affects every user of the server, so do not call it on a Shared server.
func (s *Server) Reset(ctx context.Context) error {
	return s.post(ctx, "/moto-api/reset")
}

// SeedRandom seeds moto's random generator: after the same seed, the same
// calls yield the same resource ids, so a test can know an id before the
// resource exists. It affects every user of the server; use it on a server
// of your own (StartT), not a Shared one.
func (s *Server) SeedRandom(ctx context.Context, seed int64) error {
	return s.post(ctx, "/moto-api/seed?a="+strconv.FormatInt(seed, 10))
}

func (s *Server) post(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto %s: %w", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto %s: %s", path, resp.Status)
	}
	return nil
}
