package proc

import "syscall"

// A process group lets KillGroup kill the child and anything it forked;
// Pdeathsig kills the child when this process dies without doing so.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
