//go:build unix && !linux

package motoserver

import "syscall"

// A process group lets Close kill moto and anything it forked.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
