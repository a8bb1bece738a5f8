//go:build unix && !linux

package proc

import "syscall"

// A process group lets KillGroup kill the child and anything it forked.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
