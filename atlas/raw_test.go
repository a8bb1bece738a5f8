package atlas_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// rawServer serves byte-exact answers the fake does not produce. handler gets the
// 1-based number of the request. The client authenticates with an API key; without
// a challenge the digest transport sends each request once.
type rawServer struct {
	n     atomic.Int32
	mu    sync.Mutex
	times []time.Time
}

func (s *rawServer) count() int { return int(s.n.Load()) }

func (s *rawServer) gap(i int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[i+1].Sub(s.times[i])
}

func rawSetup(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int), mutate ...func(*atlas.Config)) (*atlas.Client, *rawServer) {
	t.Helper()
	rs := &rawServer{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(rs.n.Add(1))
		rs.mu.Lock()
		rs.times = append(rs.times, time.Now())
		rs.mu.Unlock()
		handler(w, r, n)
	}))
	t.Cleanup(ts.Close)
	cfg := atlas.Config{BaseURL: ts.URL, ProjectID: atlastest.DefaultProjectID, Timeout: 2 * time.Second, Retry: fastRetry}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := atlas.NewClient(cfg, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	return c, rs
}

func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.(*net.TCPConn).SetLinger(0)
	_ = conn.Close()
}

func okList(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
	_, _ = w.Write([]byte(`[{"id":"` + serviceID + `","endpointServiceName":"x","status":"AVAILABLE","interfaceEndpoints":[]}]`))
}

func TestRawResponses(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat(" ", 1<<20) + "[]" // valid JSON, one byte too many is enough
	for _, tc := range []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request, n int)
		mutate    func(*atlas.Config)
		wantCalls int
		check     func(t *testing.T, err error)
	}{
		{
			name:      "malformed JSON",
			handler:   func(w http.ResponseWriter, _ *http.Request, _ int) { _, _ = w.Write([]byte(`[{"id":`)) },
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if err == nil || atlas.Temporary(err) || !strings.Contains(err.Error(), "GET /api/atlas/v2/groups/"+atlastest.DefaultProjectID+"/privateEndpoint/AWS/endpointService") {
					t.Errorf("err = %v, want a permanent error naming the route", err)
				}
			},
		},
		{
			name:      "2xx body over 1 MiB",
			handler:   func(w http.ResponseWriter, _ *http.Request, _ int) { _, _ = w.Write([]byte(huge)) },
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if err == nil || atlas.Temporary(err) || !strings.Contains(err.Error(), "response body exceeds 1 MiB") {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "error body over 1 MiB keeps the status",
			handler: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(huge))
			},
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				var er *atlas.ErrorResponse
				if !errors.Is(err, atlas.ErrNotFound) || !errors.As(err, &er) || er.Detail != "response body exceeds 1 MiB" {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "non-JSON error body",
			handler: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>bad gateway</html>"))
			},
			wantCalls: 3,
			check: func(t *testing.T, err error) {
				var er *atlas.ErrorResponse
				if !errors.As(err, &er) || er.StatusCode != 502 || er.Reason != "Bad Gateway" || !atlas.Temporary(err) {
					t.Errorf("err = %#v", err)
				}
			},
		},
		{
			name: "connection reset then success",
			handler: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n <= 2 {
					reset(w)
					return
				}
				okList(w)
			},
			wantCalls: 3,
			check:     noErr,
		},
		{
			name:      "connection reset every time",
			handler:   func(w http.ResponseWriter, _ *http.Request, _ int) { reset(w) },
			wantCalls: 3,
			check: func(t *testing.T, err error) {
				if err == nil || !atlas.Temporary(err) {
					t.Errorf("err = %v, want temporary", err)
				}
			},
		},
		{
			name: "slow response beyond the client timeout",
			handler: func(w http.ResponseWriter, r *http.Request, _ int) {
				select {
				case <-r.Context().Done():
				case <-time.After(2 * time.Second):
				}
			},
			mutate:    func(c *atlas.Config) { c.Timeout = 50 * time.Millisecond; c.Retry.MaxTries = 2 },
			wantCalls: 2,
			check: func(t *testing.T, err error) {
				// Atlas being slow is retryable, and distinct from the caller's deadline.
				if err == nil || !atlas.Temporary(err) || errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "500 then success",
			handler: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte(`{"detail":"boom","error":500,"errorCode":"UNEXPECTED_ERROR","parameters":[],"reason":"Internal Server Error"}`))
					return
				}
				okList(w)
			},
			wantCalls: 2,
			check:     noErr,
		},
		{
			name: "429 without Retry-After then success",
			handler: func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				okList(w)
			},
			wantCalls: 2,
			check:     noErr,
		},
		{
			name: "401 without challenge is not retried",
			handler: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":401,"errorCode":"UNAUTHORIZED"}`))
			},
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, atlas.ErrUnauthorized) || atlas.Temporary(err) {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "403 is unauthorized",
			handler: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusForbidden)
			},
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, atlas.ErrUnauthorized) || atlas.Temporary(err) {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "redirects are not followed",
			handler: func(w http.ResponseWriter, r *http.Request, _ int) {
				http.Redirect(w, r, "https://example.com/elsewhere", http.StatusFound)
			},
			wantCalls: 1,
			check: func(t *testing.T, err error) {
				var er *atlas.ErrorResponse
				if !errors.As(err, &er) || er.StatusCode != http.StatusFound {
					t.Errorf("err = %v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mut []func(*atlas.Config)
			if tc.mutate != nil {
				mut = append(mut, tc.mutate)
			}
			c, rs := rawSetup(t, tc.handler, mut...)
			_, err := c.ListEndpointServices(t.Context())
			tc.check(t, err)
			if got := rs.count(); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("err = %v", err)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			retryAfterOnce(t, status)
		})
	}
}

func retryAfterOnce(t *testing.T, status int) {
	c, rs := rawSetup(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET"}`))
			return
		}
		okList(w)
	})
	if _, err := c.ListEndpointServices(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rs.count() != 2 {
		t.Fatalf("requests = %d", rs.count())
	}
	if gap := rs.gap(0); gap < time.Second {
		t.Errorf("retried after %s, want at least the 1s Retry-After", gap)
	}
}

func TestRetryAfterExhausted(t *testing.T) {
	t.Parallel()
	c, rs := rawSetup(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"detail":"slow down","error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET","parameters":[],"reason":"Too Many Requests"}`))
	}, func(c *atlas.Config) { c.Retry.MaxTries = 1 })
	// Rate limiting is retried until the caller's deadline, whatever MaxTries says.
	// The first wait is 1 to 1.5 s (Retry-After plus jitter), so the second 429
	// arrives with less than 1 s of the 2 s left: too little for the next wait,
	// whose start is then never raced against the deadline. The two round trips
	// have 0.5 s between them, room for a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := c.ListEndpointServices(ctx)
	if n := rs.count(); n != 2 {
		t.Errorf("requests = %d, want 2 (retried past MaxTries, stopped before the deadline)", n)
	}
	var er *atlas.ErrorResponse
	if !errors.Is(err, atlas.ErrRateLimited) || !errors.As(err, &er) || er.RetryAfter != time.Second || er.Detail != "slow down" {
		t.Fatalf("err = %v", err)
	}
	if strings.HasPrefix(err.Error(), "retry after") {
		t.Errorf("final error still carries backoff's wrapping: %v", err)
	}
}

func TestCallerContextEndsRetries(t *testing.T) {
	t.Parallel()
	handler := func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}

	// A deadline shorter than Retry-After: give up at once with Atlas's answer.
	// Waiting would take the whole 2 s; the bound leaves room for a slow machine.
	c, rs := rawSetup(t, handler)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.ListEndpointServices(ctx)
	if !errors.As(err, new(*atlas.ErrorResponse)) || time.Since(start) > time.Second || rs.count() != 1 {
		t.Errorf("short deadline: err = %v after %s and %d requests", err, time.Since(start), rs.count())
	}

	// Cancelled while waiting: the caller's cancellation, not temporary.
	c, rs = rawSetup(t, handler)
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	_, err = c.ListEndpointServices(ctx)
	if !errors.Is(err, context.Canceled) || atlas.Temporary(err) || !strings.Contains(err.Error(), "503") {
		t.Errorf("cancelled: err = %v", err)
	}
	if rs.count() != 1 {
		t.Errorf("cancelled: requests = %d", rs.count())
	}
}

// v2's errorMessage is a string in the specification, but its description says
// Atlas "returns null" when there is no error, and v1.0 sends null: the client
// reads absent, null and "" alike as no error, for both the endpoint and the
// service.
func TestErrorMessageAbsentOrNull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, field, want string
	}{
		{"absent", ``, ""},
		{"null", `,"errorMessage":null`, ""},
		{"empty", `,"errorMessage":""`, ""},
		{"set", `,"errorMessage":"rejected by the service"`, "rejected by the service"},
	} {
		c, _ := rawSetup(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			w.Header().Set("Content-Type", "application/vnd.atlas.2023-01-01+json")
			if strings.HasSuffix(r.URL.Path, "/endpointService") {
				_, _ = w.Write([]byte(`[{"id":"` + serviceID + `","endpointServiceName":"x","status":"AVAILABLE","interfaceEndpoints":[],"cloudProvider":"AWS"` + tc.field + `}]`))
				return
			}
			_, _ = w.Write([]byte(`{"cloudProvider":"AWS","connectionStatus":"PENDING","deleteRequested":false,"interfaceEndpointId":"` + vpceA + `"` + tc.field + `}`))
		})
		ie, err := c.GetInterfaceEndpoint(t.Context(), serviceID, vpceA)
		if err != nil || ie.ErrorMessage != tc.want || ie.ConnectionStatus != atlas.StatusPending || ie.ID != vpceA {
			t.Errorf("%s: endpoint %+v, %v; want errorMessage %q", tc.name, ie, err, tc.want)
		}
		svcs, err := c.ListEndpointServices(t.Context())
		if err != nil || len(svcs) != 1 || svcs[0].ErrorMessage != tc.want {
			t.Errorf("%s: services %+v, %v; want errorMessage %q", tc.name, svcs, err, tc.want)
		}
	}
}
