//go:build unix

package proc

import (
	"errors"
	"os"
	"syscall"
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
// the child's group does not reach.
func KillGroups(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Exists reports whether a process with pid exists (a zombie does).
func Exists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
