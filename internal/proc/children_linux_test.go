package proc

import (
	"slices"
	"strconv"
	"testing"
)

func TestChildren(t *testing.T) {
	t.Parallel()
	cmd, line := startShell(t, "sleep 60 & echo $!; wait")
	child, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("child pid %q: %v", line, err)
	}
	kids, err := Children(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kids, []int{child}) {
		t.Errorf("Children(%d) = %v, want [%d]", cmd.Process.Pid, kids, child)
	}
	if kids, err := Children(child); err != nil || len(kids) != 0 {
		t.Errorf("Children(%d) = %v, %v, want none", child, kids, err)
	}
}
