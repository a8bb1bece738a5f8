package atlas_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// requestLog records what OnRequest reports: each status, and whether the
// request ran under the caller's context (marked with callerKey).
type requestLog struct {
	mu       sync.Mutex
	statuses []int
	caller   []bool
}

type callerKey struct{}

func (l *requestLog) hook(ctx context.Context, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses = append(l.statuses, status)
	l.caller = append(l.caller, ctx.Value(callerKey{}) != nil)
}

func (l *requestLog) snapshot() ([]int, []bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.statuses), slices.Clone(l.caller)
}

func callerContext(t *testing.T) context.Context {
	return context.WithValue(t.Context(), callerKey{}, true)
}

// OnRequest sees every request on the wire once, with the caller's context:
// the digest challenge before each call, and the token request of a service
// account (under the client's own context).
func TestOnRequestSeesEveryRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		creds      atlas.Credentials
		want       []int
		wantCaller []bool
	}{
		{"api key: a challenge before each call", apiKey,
			[]int{401, 200, 401, 200}, []bool{true, true, true, true}},
		{"service account: one token request, then the calls", serviceAccount,
			[]int{200, 200, 200}, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log requestLog
			c, srv := setup(t, atlas.V2, tt.creds, fakeOptions(), func(cfg *atlas.Config) { cfg.OnRequest = log.hook })
			for range 2 {
				if _, err := c.ListEndpointServices(callerContext(t)); err != nil {
					t.Fatal(err)
				}
			}
			got, caller := log.snapshot()
			if !slices.Equal(got, tt.want) || !slices.Equal(caller, tt.wantCaller) {
				t.Errorf("OnRequest saw statuses %v (caller's context %v), want %v (%v)", got, caller, tt.want, tt.wantCaller)
			}
			if n := len(srv.Requests()); n != len(got) {
				t.Errorf("the fake received %d requests, OnRequest saw %d", n, len(got))
			}
		})
	}
}

// Retried attempts count one each: a 429, a 503 and a dropped connection (status 0).
func TestOnRequestCountsRetries(t *testing.T) {
	t.Parallel()
	var log requestLog
	c, srv := rawSetup(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			reset(w)
		default:
			okList(w)
		}
	}, func(cfg *atlas.Config) { cfg.OnRequest = log.hook })
	if _, err := c.ListEndpointServices(callerContext(t)); err != nil {
		t.Fatal(err)
	}
	got, caller := log.snapshot()
	if want := []int{429, 503, 0, 200}; !slices.Equal(got, want) {
		t.Errorf("OnRequest saw %v, want %v", got, want)
	}
	if slices.Contains(caller, false) {
		t.Errorf("a request ran without the caller's context: %v", caller)
	}
	if srv.count() != len(got) {
		t.Errorf("server saw %d requests, OnRequest %d", srv.count(), len(got))
	}
}

// A connection that never opens sends no request, so OnRequest is not called.
func TestOnRequestNotCalledWithoutARequest(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now: every dial is refused
	var log requestLog
	c, err := atlas.NewClient(atlas.Config{
		BaseURL: "http://" + addr, ProjectID: atlastest.DefaultProjectID, Retry: fastRetry, OnRequest: log.hook,
	}, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListEndpointServices(callerContext(t)); err == nil {
		t.Fatal("ListEndpointServices succeeded against a closed port")
	}
	if got, _ := log.snapshot(); len(got) != 0 {
		t.Errorf("OnRequest saw %v for refused connections, want nothing", got)
	}
}
