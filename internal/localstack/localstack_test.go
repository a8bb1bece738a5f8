package localstack

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/internal/motoserver"
	"github.com/atlasvpce/registrar/internal/proc"
	"github.com/atlasvpce/registrar/internal/testsupport"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

func TestStartChecksBinaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bootstrap, rie, want string
	}{
		{"no bootstrap", filepath.Join(dir, "missing"), "/bin/true", "lambda binary"},
		{"bootstrap not executable", notExec, "/bin/true", "not an executable"},
		{"no emulator", "/bin/true", "", "runtime interface emulator: no path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), Options{Bootstrap: tt.bootstrap, RIE: tt.rie})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// An emulator that exits at once is reported with its output, after the
// retries, and the fake started before it is stopped.
func TestStartEmulatorExits(t *testing.T) {
	t.Parallel()
	rie := filepath.Join(t.TempDir(), "rie")
	if err := os.WriteFile(rie, []byte("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Bootstrap: "/bin/true", RIE: rie, Moto: motoserver.Shared(t)})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("Start() error = %v, want the exit and the emulator's output", err)
	}
}

// Close kills the emulator and the function process it started in a
// process group of its own.
func TestCloseKillsFunction(t *testing.T) {
	t.Parallel()
	s, err := Start(context.Background(), Options{
		Bootstrap: testsupport.Binary(t, "BOOTSTRAP", "../../bin/bootstrap"),
		RIE:       testsupport.Binary(t, "RIE", "../../bin/aws-lambda-rie"),
		Moto:      motoserver.Shared(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Any invocation starts the function; an invalid id needs no Atlas.
	_, err = s.Invoke(context.Background(), []byte(`{"vpcEndpointId":"bad"}`))
	if fe, ok := errors.AsType[*FunctionError](err); !ok || fe.Type != "InvalidEventError" {
		t.Fatalf("Invoke() error = %v, want a function error InvalidEventError", err)
	}
	rie := s.emu.cmd.Process.Pid
	kids, _ := proc.Children(rie)
	if len(kids) == 0 {
		t.Fatal("the emulator has no child process after an invocation")
	}
	s.Close()
	s.Close() // idempotent
	for _, pid := range append(kids, rie) {
		if proc.Alive(pid) {
			t.Errorf("process %d still running after Close", pid)
		}
	}
	if s.Running() {
		t.Error("Running() = true after Close")
	}
	if _, err := s.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Invoke after Close succeeded")
	}
}

func TestInvokeResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantType string // "" for success; "plain" for a non-function error
	}{
		{"result", 200, `{"outcome":"registered"}`, ""},
		{"function error", 200, `{"errorMessage":"invalid event","errorType":"InvalidEventError"}`, "InvalidEventError"},
		{"timeout", 200, "Task timed out after 3.00 seconds", TimeoutErrorType},
		{"init failure", 502, "", "plain"},
		{"bad request", 400, "", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/function/invocations" {
					t.Errorf("request %s %s", r.Method, r.URL.Path)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			info := &Info{InvokeURL: srv.URL + "/2015-03-31/functions/function/invocations"}
			body, err := info.Invoke(context.Background(), []byte(`{}`))
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			fe, isFE := errors.AsType[*FunctionError](err)
			switch tt.wantType {
			case "":
				if err != nil {
					t.Errorf("error = %v, want none", err)
				}
			case "plain":
				if err == nil || isFE {
					t.Errorf("error = %v, want a plain error", err)
				}
			default:
				if !isFE || fe.Type != tt.wantType {
					t.Errorf("error = %v, want a *FunctionError of type %s", err, tt.wantType)
				}
			}
		})
	}

	info := &Info{InvokeURL: "http://127.0.0.1:1/2015-03-31/functions/function/invocations"}
	if _, err := info.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Invoke of a closed port succeeded")
	}
}

func TestStateFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "stack.json")
	if _, err := ReadState(path); !errors.Is(err, ErrNoState) {
		t.Errorf("ReadState(missing) error = %v, want ErrNoState", err)
	}
	want := &Info{InvokeURL: "http://127.0.0.1:9/x", EndpointID: "vpce-0123456789abcdef0", SubnetIDs: []string{"subnet-1"}, PID: os.Getpid()}
	if err := want.WriteState(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.InvokeURL != want.InvokeURL || got.EndpointID != want.EndpointID || len(got.SubnetIDs) != 1 {
		t.Errorf("ReadState() = %+v, want %+v", got, want)
	}

	// A record left by a process that has exited.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := *want
	stale.PID = cmd.Process.Pid
	if err := stale.WriteState(path); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); !errors.Is(err, ErrNoState) {
		t.Errorf("ReadState(stale) error = %v, want ErrNoState", err)
	}
}

func TestServeAtlas(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "10.0.0.1:0", ":0", "example.com:80", "[::]:0"} {
		if _, err := ServeAtlas(addr, atlastestOptions()); !errors.As(err, new(*NotLoopbackError)) {
			t.Errorf("ServeAtlas(%q) error = %v, want *NotLoopbackError", addr, err)
		}
	}
	if _, err := ServeAtlas("127.0.0.1:0", atlastestOptionsProject("not-hex")); err == nil {
		t.Error("ServeAtlas with a malformed project id succeeded")
	}

	a, err := ServeAtlas("127.0.0.1:0", atlastestOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(a.URL + "/api/atlas/v2/groups/" + a.ProjectID() + "/privateEndpoint/AWS/endpointService")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated request: %s, want a 401 digest challenge", resp.Status)
	}
	a.Close()
	a.Close()
	if resp, err := c.Get(a.URL); err == nil {
		resp.Body.Close()
		t.Error("the fake still answers after Close")
	}
}
