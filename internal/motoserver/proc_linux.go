package motoserver

import "syscall"

// A process group lets Close kill moto and anything it forked; Pdeathsig
// kills it when the test binary dies without running Close.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
