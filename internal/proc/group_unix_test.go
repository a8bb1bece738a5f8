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

// gone waits until pid has exited: it no longer exists, or (on Linux) it is
// a zombie, which an init that does not reap may leave behind.
func gone(pid int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !Exists(pid) {
			return true
		}
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			i := strings.LastIndexByte(string(stat), ')')
			if i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
				return true
			}
		}
	}
	return false
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
	if !gone(grandchild) {
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
	exited := make(chan struct{})
	go func() { _ = other.Wait(); close(exited) }()
	KillGroups([]int{other.Process.Pid})
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		KillGroup(other.Process)
		t.Fatal("process still running after KillGroups")
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
