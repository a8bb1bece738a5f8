//go:build unix

package proc

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// KillGroup kills the process group led by p (see Command), or p alone when
// the group is gone.
func KillGroup(p *os.Process) {
	// The negative pid addresses the whole group.
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}

// KillGroups kills the processes with pids and the process groups they
// lead: a child may start a process in a group of its own, which killing
// the child's group does not reach. It returns once the processes have
// exited, or after killWait: kill(2) only sends the signal, and these are
// not our children to wait for.
func KillGroups(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		WaitExit(pid, killWait)
	}
}

// killWait bounds KillGroups' wait; a process in uninterruptible sleep can
// outlast SIGKILL for a while.
const killWait = 5 * time.Second

// Exists reports whether a process with pid exists (a zombie does).
func Exists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Alive reports whether pid is running: it exists and, where /proc tells,
// is not a zombie.
func Alive(pid int) bool { return Exists(pid) && !exited(pid) }

// WaitExit waits up to d for pid to stop being Alive, and reports whether
// it did.
func WaitExit(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); Alive(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
