// Package proc starts child processes that must not outlive the process
// that starts them, such as the emulators the local stack and the tests run
// (moto_server, aws-lambda-rie), and holds the small pieces around them.
//
// Command puts the child in a process group of its own, which KillGroup
// kills with anything the child forked into it; on Linux the child is also
// killed when its parent dies without cleaning up. Buffer collects a
// child's output (or its last bytes, to explain a failure), FreePorts finds
// loopback ports to hand a child, CheckExecutable checks a binary before it
// is run, and Children, Exists, Alive and WaitExit look at processes by pid.
package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
)

// Command returns exec.Command(name, arg...) set up to run in a process
// group of its own (see KillGroup) and, on Linux, to be killed with SIGKILL
// when this process dies.
func Command(name string, arg ...string) *exec.Cmd {
	cmd := exec.Command(name, arg...)
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}

// FreePort returns a loopback TCP port that was free when it was asked for.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct loopback TCP ports that were free when they
// were asked for. Another process can still take one before the child binds
// it, so a caller that starts a child on them should be ready to try again.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// CheckExecutable reports a missing path, or one that is not an executable
// file.
func CheckExecutable(path string) error {
	if path == "" {
		return errors.New("no path given")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Buffer is an io.Writer for a child's output. exec.Cmd copies stdout and
// stderr from goroutines of its own, so Buffer is safe for concurrent use.
// The zero value keeps everything written to it.
type Buffer struct {
	// Max, if positive, bounds what the buffer keeps to the last Max bytes
	// written, enough to explain a failure.
	Max int

	mu  sync.Mutex
	buf []byte
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.Max; b.Max > 0 && over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
