package registrar_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/ensure-tools must work where pip refuses to install into the system
// Python (PEP 668): it installs moto[server] and cfn-lint into a virtual
// environment of the checkout. These tests run it with a PATH that hides the
// installed tools, never reach a package index (pip runs with --no-index), and
// put bare pip and pip3 on PATH as stand-ins that refuse like Debian's, to show
// the script never relies on them.

// toolsEnv is a PATH and environment in which moto_server and cfn-lint are
// not found, and pip, pip3 fail as on an externally managed Python.
type toolsEnv struct {
	dir, bin, venv, pipCalled string
	env                       []string
}

func newToolsEnv(t *testing.T) *toolsEnv {
	t.Helper()
	dir := t.TempDir()
	te := &toolsEnv{
		dir:       dir,
		bin:       filepath.Join(dir, "bin"),
		venv:      filepath.Join(dir, "venv"),
		pipCalled: filepath.Join(dir, "pip-called"),
	}
	if err := os.Mkdir(te.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the commands the script needs, so no directory of the host's PATH
	// (which may hold the tools) is searched.
	for _, name := range []string{"bash", "dirname", "cat", "chmod"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed to run scripts/ensure-tools: %v", name, err)
		}
		if err := os.Symlink(p, filepath.Join(te.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	refuse := "#!/bin/sh\ntouch '" + te.pipCalled + "'\necho 'error: externally-managed-environment' >&2\nexit 1\n"
	for _, name := range []string{"pip", "pip3"} {
		if err := os.WriteFile(filepath.Join(te.bin, name), []byte(refuse), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wheels := filepath.Join(dir, "no-wheels")
	if err := os.Mkdir(wheels, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || k == "PYTHON" || k == "VIRTUAL_ENV" || strings.HasPrefix(k, "TOOLS_VENV") ||
			strings.HasPrefix(k, "PIP_") || strings.HasPrefix(k, "PYTHON") {
			continue
		}
		te.env = append(te.env, kv)
	}
	te.env = append(te.env,
		"PATH="+te.bin,
		"TOOLS_VENV="+te.venv,
		"PIP_CONFIG_FILE="+os.DevNull, // no pip.conf of the host
		"PIP_NO_INDEX=1",              // never the network
		"PIP_FIND_LINKS="+wheels,
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
	)
	return te
}

// run runs scripts/ensure-tools with extra environment variables.
func (te *toolsEnv) run(t *testing.T, extra ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join("scripts", "ensure-tools"))
	cmd.Env = append(append([]string{}, te.env...), extra...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// basePython is the interpreter that has moto and cfn-lint installed (as CI
// and these machines have them), outside any virtual environment, so that a
// venv made with --system-site-packages satisfies pip without an index.
func basePython(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c",
		"import sys, moto, cfnlint; print(sys.executable if sys.prefix == sys.base_prefix else '')").Output()
	if err != nil {
		t.Fatalf("these tests need python3 with moto and cfn-lint installed (as `make tools` provides): %v%s", err, stderrOf(err))
	}
	p := strings.TrimSpace(string(out))
	if p == "" {
		t.Fatal("python3 is a virtual environment's; run the tests with the base interpreter that has moto and cfn-lint first on PATH")
	}
	return p
}

func TestEnsureToolsInstallsIntoVenv(t *testing.T) {
	t.Parallel()
	te := newToolsEnv(t)
	python := basePython(t)
	stdout, stderr, err := te.run(t, "PYTHON="+python, "TOOLS_VENV_ARGS=--system-site-packages")
	if err != nil {
		t.Fatalf("ensure-tools: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "installed moto_server and cfn-lint into "+te.venv) {
		t.Errorf("stdout does not say where the tools went:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(te.venv, "pyvenv.cfg")); err != nil {
		t.Errorf("no virtual environment at %s: %v", te.venv, err)
	}
	if _, err := os.Stat(te.pipCalled); err == nil {
		t.Error("the script ran a bare pip, which refuses on an externally managed Python")
	}
	// The tools run from the venv's bin, with nothing else on PATH.
	for _, args := range [][]string{{"cfn-lint", "--version"}, {"moto_server", "--help"}} {
		cmd := exec.Command(filepath.Join(te.venv, "bin", args[0]), args[1:]...)
		cmd.Env = te.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s from the venv: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// With the venv's bin on PATH, as the Makefile puts it, there is nothing to do.
	stdout, stderr, err = te.run(t, "PYTHON="+filepath.Join(te.dir, "no-python"), "PATH="+filepath.Join(te.venv, "bin")+":"+te.bin)
	if err != nil || stdout != "" || stderr != "" {
		t.Errorf("second run: %v, stdout %q, stderr %q; want a silent success", err, stdout, stderr)
	}
}

// When pip cannot install (here: no index), the message names the commands
// that work on an externally managed Python: create the project's venv and
// install with its pip. Never a bare `pip install`, which fails the same way.
func TestEnsureToolsFailureNamesVenvCommand(t *testing.T) {
	t.Parallel()
	te := newToolsEnv(t)
	python := basePython(t)
	_, stderr, err := te.run(t, "PYTHON="+python)
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 {
		t.Fatalf("ensure-tools: %v, want exit status 1\nstderr:\n%s", err, stderr)
	}
	want := []string{
		"    " + python + " -m venv " + te.venv + "\n",
		"    " + te.venv + "/bin/python -m pip install 'moto[server]' cfn-lint\n",
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "pip install") || strings.HasPrefix(strings.TrimSpace(line), "pip3 install") {
			t.Errorf("stderr suggests a bare pip install: %q", line)
		}
	}
	if _, err := os.Stat(te.pipCalled); err == nil {
		t.Error("the script ran a bare pip")
	}
	// The first named command works as printed.
	cmd := exec.Command("bash", "-c", strings.TrimSpace(want[0]))
	cmd.Env = te.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", strings.TrimSpace(want[0]), err, out)
	}
}

// A Debian or Ubuntu Python without the python3-venv package cannot create a
// venv; the message says which package to install.
func TestEnsureToolsWithoutVenvModule(t *testing.T) {
	t.Parallel()
	te := newToolsEnv(t)
	python := filepath.Join(te.dir, "python3")
	stub := "#!/bin/sh\necho 'The virtual environment was not created successfully because ensurepip is not\navailable.  On Debian/Ubuntu systems, you need to install the python3-venv package.' >&2\nexit 1\n"
	if err := os.WriteFile(python, []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := te.run(t, "PYTHON="+python)
	if err == nil {
		t.Fatal("ensure-tools succeeded without a venv module")
	}
	for _, w := range []string{"ensurepip is not", "sudo apt install python3-venv", python + " -m venv " + te.venv} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}
