package motoserver

import (
	"context"
	"sync"
	"testing"
)

// StartT starts a moto_server for one test and stops it in t.Cleanup. A
// missing or broken moto_server fails the test (with InstallHint); it never skips.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the moto_server shared by every test in the test binary,
// starting it on first use. Use it with Main so the server is stopped at the
// end. Tests that share it must not Reset it and should use their own
// resources (their own VPC, uniquely named secrets) so they can run in parallel.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start(context.Background(), Options{})
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// Main runs the tests and then stops the shared server, if one was started:
//
//	func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Close()
	}
	return code
}
