// Package registrar_test checks the repository as a whole: repo_test.go
// that no build output is tracked, links_test.go that every relative link
// and #anchor in the README, the CHANGELOG and docs/ resolves,
// ensure_tools_test.go that scripts/ensure-tools installs the Python tools
// without touching the system Python; repo_test.go also that `make help`
// lists every target a user runs. The templates' tests live in deploy/.
package registrar_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxTrackedSize is the largest file the repository may hold. Anything
// bigger is build output or data that belongs elsewhere.
const maxTrackedSize = 1 << 20

// TestTrackedFiles fails when a tracked file is an executable binary or larger
// than 1 MiB: build output committed by accident (`go build ./cmd/soak` drops
// ./soak in the root) makes every clone heavier for good. It reads what git
// would commit (the index), not the working tree. It needs git and fails, never
// skips, without it.
func TestTrackedFiles(t *testing.T) {
	t.Parallel()
	problems, err := checkTrackedFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// The check must catch what it is for: run it on a throwaway repository that
// holds an ELF binary, a PE binary, a Mach-O binary and an oversized file
// next to files that are fine.
func TestTrackedFilesCatchesBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q")
	pe := make([]byte, 0x100)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	files := map[string][]byte{
		"soak":           append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...),
		"tool.exe":       pe,
		"bin/mac":        append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 64)...),
		"data/big.json":  bytes.Repeat([]byte("x"), maxTrackedSize+1),
		"scripts/run":    []byte("#!/bin/sh\necho fine\n"),
		"notes/mz.txt":   []byte("MZ is how this note starts, and it is text."),
		"exactly-1MiB":   bytes.Repeat([]byte("y"), maxTrackedSize),
		"empty":          nil,
		"dir with space": []byte("text"),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	// Deleted from the working tree but still tracked: still reported.
	if err := os.Remove(filepath.Join(dir, "soak")); err != nil {
		t.Fatal(err)
	}

	problems, err := checkTrackedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"soak":          "executable (ELF)",
		"tool.exe":      "executable (PE)",
		"bin/mac":       "executable (Mach-O)",
		"data/big.json": "larger than 1 MiB",
	}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for name, what := range want {
		found := false
		for _, p := range problems {
			if strings.HasPrefix(p, name+": ") && strings.Contains(p, what) &&
				strings.Contains(p, "git rm --cached '"+name+"'") && strings.Contains(p, ".gitignore") {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem for %s saying %q with the fix; got:\n%s", name, what, strings.Join(problems, "\n"))
		}
	}
}

// checkTrackedFiles returns one message per tracked file in the repository at
// dir that is an executable binary or larger than maxTrackedSize.
func checkTrackedFiles(dir string) ([]string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("this test lists tracked files with git, which is not available: %w; install git", err)
	}
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--stage").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w%s", dir, err, stderrOf(err))
	}
	type entry struct{ oid, path string }
	var entries []entry
	for _, rec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		// "<mode> <object> <stage>\t<path>"
		meta, path, ok := strings.Cut(rec, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-files: unexpected record %q", rec)
		}
		if fields[0] == "160000" { // a submodule: a commit, not a file
			continue
		}
		entries = append(entries, entry{oid: fields[1], path: path})
	}

	// One git process reads every blob: the index's content, which is what a
	// commit would hold, even for a file deleted from the working tree.
	cmd := exec.Command("git", "-C", dir, "cat-file", "--batch")
	var input bytes.Buffer
	for _, e := range entries {
		input.WriteString(e.oid + "\n")
	}
	cmd.Stdin = &input
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	r := bufio.NewReader(stdout)
	var problems []string
	for _, e := range entries {
		header, err := r.ReadString('\n')
		if err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: reading %s: %w: %s", e.path, err, stderr.String())
		}
		var oid, typ string
		var size int64
		if _, err := fmt.Sscanf(header, "%s %s %d", &oid, &typ, &size); err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: %s: unexpected header %q", e.path, header)
		}
		head := make([]byte, min(size, 4096))
		if _, err := io.ReadFull(r, head); err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: reading %s: %w", e.path, err)
		}
		// The rest of the content, and the newline after it.
		if _, err := io.CopyN(io.Discard, r, size-int64(len(head))+1); err != nil {
			_ = cmd.Wait()
			return nil, fmt.Errorf("git cat-file: reading %s: %w", e.path, err)
		}
		var whats []string
		if kind := executableKind(head); kind != "" {
			whats = append(whats, "it is an executable ("+kind+")")
		}
		if size > maxTrackedSize {
			whats = append(whats, fmt.Sprintf("it has %d bytes, larger than 1 MiB", size))
		}
		if what := strings.Join(whats, " and "); what != "" {
			problems = append(problems, fmt.Sprintf(
				"%s: tracked, but %s. Build output and large files do not belong in the repository: "+
					"run `git rm --cached '%s'`, delete the file, and ignore it in .gitignore (a build output in the root as /name)",
				e.path, what, e.path))
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w: %s", err, stderr.String())
	}
	return problems, nil
}

// executableKind recognises native executables by their magic bytes.
func executableKind(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "ELF"
	case len(b) >= 4 && machOMagic[binary.BigEndian.Uint32(b)]:
		return "Mach-O"
	case bytes.HasPrefix(b, []byte("MZ")) && len(b) >= 0x40:
		// A DOS header is common to text that happens to start with "MZ"
		// only in name: a PE file has the PE signature where e_lfanew says.
		off := int(binary.LittleEndian.Uint32(b[0x3c:]))
		if off >= 0x40 && off+4 <= len(b) && string(b[off:off+4]) == "PE\x00\x00" {
			return "PE"
		}
	}
	return ""
}

// machOMagic holds the Mach-O magic numbers (32- and 64-bit, either byte order)
// and the universal-binary header.
var machOMagic = map[uint32]bool{
	0xfeedface: true, 0xcefaedfe: true,
	0xfeedfacf: true, 0xcffaedfe: true,
	0xcafebabe: true,
}

func stderrOf(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// `make help` lists the targets that carry a "## " comment: every target a
// user runs must have one. The rest are steps other targets (or sam build)
// call.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	internal := map[string]bool{"build-RegistrarFunction": true, "localrun": true}
	target := regexp.MustCompile(`^([a-zA-Z][a-zA-Z_-]*):`)
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		m := target.FindStringSubmatch(line)
		if m == nil || internal[m[1]] {
			continue
		}
		seen++
		if !strings.Contains(line, " ## ") {
			t.Errorf("target %s has no \"## \" comment, so `make help` does not list it", m[1])
		}
	}
	if seen < 10 {
		t.Errorf("found %d targets in the Makefile; the pattern no longer matches it", seen)
	}
}
