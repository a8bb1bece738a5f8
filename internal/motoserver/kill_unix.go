//go:build unix

package motoserver

import (
	"os"
	"syscall"
)

func killGroup(p *os.Process) {
	// The negative pid addresses the whole group (see sysProcAttr).
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
