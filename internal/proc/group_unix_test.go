//go:build unix

package proc

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell runs sh -c script under Command and returns it with the first
// line it prints.
func startShell(t *testing.T, script string) (*exec.Cmd, string) {
	t.Helper()
	cmd := Command("/bin/sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		KillGroup(cmd.Process)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the shell's first line: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestCommandOwnGroup(t *testing.T) {
	t.Parallel()
	cmd, _ := startShell(t, "echo ready; exec sleep 60")
	pgid, err := syscall.Getpgid(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != cmd.Process.Pid {
		t.Errorf("child's process group = %d, want its own (%d)", pgid, cmd.Process.Pid)
	}
	if runtime.GOOS == "linux" {
		if a := cmd.SysProcAttr; a == nil || a.Pdeathsig != syscall.SIGKILL {
			t.Errorf("SysProcAttr = %+v, want Pdeathsig SIGKILL", a)
		}
	}
}

// KillGroup reaches what the child forked into its group.
func TestKillGroup(t *testing.T) {
	t.Parallel()
	cmd, line := startShell(t, "sleep 60 & echo $!; wait")
	grandchild, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("grandchild pid %q: %v", line, err)
	}
	KillGroup(cmd.Process)
	if err := cmd.Wait(); err == nil {
		t.Error("the shell exited cleanly, want it killed")
	}
	if !WaitExit(grandchild, 5*time.Second) {
		t.Errorf("grandchild %d still running after KillGroup", grandchild)
	}
	// The group is gone: KillGroup falls back to the process and does not panic.
	KillGroup(cmd.Process)
}

// KillGroups reaches a process in a group of its own, which killing its
// parent's group does not.
func TestKillGroups(t *testing.T) {
	t.Parallel()
	other := Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Wait() }()
	// KillGroups returns once the process has exited, not merely signalled.
	KillGroups([]int{other.Process.Pid})
	if Alive(other.Process.Pid) {
		KillGroup(other.Process)
		t.Fatal("process still running after KillGroups returned")
	}
}

// Alive counts a running process, not an exited one: a zombie (on Linux,
// where /proc tells) or a reaped one.
func TestAlive(t *testing.T) {
	t.Parallel()
	if !Alive(os.Getpid()) {
		t.Error("Alive(self) = false")
	}
	cmd := Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if runtime.GOOS == "linux" {
		// Unreaped, the child stays a zombie: Exists, but not Alive.
		if !WaitExit(pid, 5*time.Second) || !Exists(pid) {
			t.Errorf("WaitExit(zombie) or Exists(zombie) = false")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) || !WaitExit(pid, 0) {
		t.Errorf("Alive(%d) = true for a reaped process", pid)
	}
}

func TestExists(t *testing.T) {
	t.Parallel()
	if !Exists(os.Getpid()) {
		t.Error("Exists(self) = false")
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if Exists(cmd.Process.Pid) {
		t.Errorf("Exists(%d) = true for a reaped process", cmd.Process.Pid)
	}
}
