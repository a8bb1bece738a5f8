//go:build !linux

package proc

import "errors"

// Children is only implemented on Linux (it reads /proc); elsewhere it
// returns errors.ErrUnsupported.
func Children(int) ([]int, error) { return nil, errors.ErrUnsupported }

// exited cannot tell a zombie without /proc.
func exited(int) bool { return false }
