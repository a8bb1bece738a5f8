package proc

import (
	"bytes"
	"os"
	"strconv"
)

// Children lists the live children of pid by reading /proc.
func Children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := stat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out, nil
}

// exited reports a process that has ended but is still listed: a zombie,
// which an init that does not reap may leave behind, or one being removed.
func exited(pid int) bool {
	state, _, ok := stat(pid)
	return ok && (state == 'Z' || state == 'X')
}

// stat reads a process's state and parent from /proc; ok is false when the
// process is gone.
func stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}
