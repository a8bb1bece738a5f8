package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	t.Parallel()
	tail := &Buffer{Max: 8}
	all := &Buffer{}
	for _, s := range []string{"hello ", "tail ", "buffer\n"} {
		for _, b := range []*Buffer{tail, all} {
			if n, err := fmt.Fprint(b, s); n != len(s) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", s, n, err)
			}
		}
	}
	if got, want := tail.String(), " buffer\n"; got != want {
		t.Errorf("Max 8: String() = %q, want %q", got, want)
	}
	if got, want := all.String(), "hello tail buffer\n"; got != want {
		t.Errorf("no Max: String() = %q, want %q", got, want)
	}

	// exec.Cmd writes stdout and stderr from goroutines of its own.
	var wg sync.WaitGroup
	b := &Buffer{Max: 100}
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("0123456789"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("0123456789", 10) {
		t.Errorf("after concurrent writes: String() = %q", got)
	}
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("FreePorts(3) = %v, want three distinct ports", ports)
		}
		seen[p] = true
	}
	if p, err := FreePort(); err != nil || p <= 0 {
		t.Errorf("FreePort() = %d, %v", p, err)
	}
}

func TestCheckExecutable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "exe")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		path, want string // want: "" for no error, else a part of the error
	}{
		{"", "no path given"},
		{missing, missing},
		{dir, "is not an executable file"},
		{plain, "is not an executable file"},
		{exe, ""},
	}
	for _, tt := range tests {
		err := CheckExecutable(tt.path)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckExecutable(%q) = %v, want nil", tt.path, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckExecutable(%q) = %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	if err := CheckExecutable(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckExecutable(missing) = %v, want os.ErrNotExist", err)
	}
}
