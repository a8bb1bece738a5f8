//go:build !unix

package proc

import (
	"os"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// KillGroup kills p; there are no process groups here.
func KillGroup(p *os.Process) { _ = p.Kill() }

// KillGroups does nothing here.
func KillGroups([]int) {}

// Exists cannot tell here; it assumes the process exists.
func Exists(int) bool { return true }

// Alive cannot tell here; it assumes the process runs.
func Alive(int) bool { return true }

// WaitExit cannot tell here; it reports false.
func WaitExit(int, time.Duration) bool { return false }
