//go:build unix

package motoserver

import (
	"errors"
	"syscall"
)

func processGroupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
