package atlas_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

const (
	testPublicKey    = "pubkeyab"
	testPrivateKey   = "5b1c9f0e-priv-4e8a-9c1d-secretvalue1"
	testClientID     = "mdb_sa_id_0123456789abcdef01234567"
	testClientSecret = "mdb_sa_sk_supersecretvalue-0123456789"

	serviceID = atlastest.DefaultServiceID
	vpceA     = "vpce-0123456789abcdef0"
)

var (
	apiKey         = atlas.Credentials{PublicKey: testPublicKey, PrivateKey: testPrivateKey}
	serviceAccount = atlas.Credentials{ClientID: testClientID, ClientSecret: testClientSecret}
)

// fastRetry keeps retrying tests quick.
var fastRetry = atlas.RetryPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxTries: 3}

func fakeOptions() atlastest.Options {
	return atlastest.Options{
		APIKeys:           map[string]string{testPublicKey: testPrivateKey},
		Clients:           map[string]string{testClientID: testClientSecret},
		PendingAcceptance: 20 * time.Millisecond,
		Pending:           20 * time.Millisecond,
		DeleteDelay:       20 * time.Millisecond,
	}
}

// setup starts a fake and returns a client for it; mutate adjusts the config.
func setup(t *testing.T, v atlas.Version, creds atlas.Credentials, opts atlastest.Options, mutate ...func(*atlas.Config)) (*atlas.Client, *atlastest.Server) {
	t.Helper()
	srv := atlastest.NewServer(opts)
	t.Cleanup(srv.Close)
	cfg := atlas.Config{
		BaseURL:   srv.URL,
		Version:   v,
		ProjectID: srv.ProjectID(),
		Timeout:   2 * time.Second,
		Retry:     fastRetry,
		UserAgent: "registrar-test/1",
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := atlas.NewClient(cfg, creds)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, srv
}

func waitStatus(t *testing.T, c *atlas.Client, want string) *atlas.InterfaceEndpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		ie, err := c.GetInterfaceEndpoint(ctx, serviceID, vpceA)
		if err != nil {
			t.Fatalf("GetInterfaceEndpoint: %v", err)
		}
		if ie.ConnectionStatus == want {
			return ie
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status %s never reached, last %s", want, ie.ConnectionStatus)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		version    atlas.Version
		creds      atlas.Credentials
		accept     string
		createBody string
		basePath   string
		perCall    int // requests per API call: digest pays a challenge each time
	}{
		{"v2 api key", atlas.V2, apiKey, "application/vnd.atlas.2023-01-01+json", `{"id":"` + vpceA + `"}`,
			"/api/atlas/v2/groups/" + atlastest.DefaultProjectID + "/privateEndpoint/AWS/endpointService", 2},
		{"v2 service account", atlas.V2, serviceAccount, "application/vnd.atlas.2023-01-01+json", `{"id":"` + vpceA + `"}`,
			"/api/atlas/v2/groups/" + atlastest.DefaultProjectID + "/privateEndpoint/AWS/endpointService", 1},
		{"v1 api key", atlas.V1, apiKey, "application/json", `{"interfaceEndpointId":"` + vpceA + `"}`,
			"/api/atlas/v1.0/groups/" + atlastest.DefaultProjectID + "/privateEndpoint", 2},
		{"v1 service account", atlas.V1, serviceAccount, "application/json", `{"interfaceEndpointId":"` + vpceA + `"}`,
			"/api/atlas/v1.0/groups/" + atlastest.DefaultProjectID + "/privateEndpoint", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, tc.version, tc.creds, fakeOptions())
			ctx := t.Context()
			if c.Version() != tc.version || c.ProjectID() != atlastest.DefaultProjectID {
				t.Fatalf("Version/ProjectID = %s/%s", c.Version(), c.ProjectID())
			}

			svcs, err := c.ListEndpointServices(ctx)
			if err != nil {
				t.Fatalf("ListEndpointServices: %v", err)
			}
			if len(svcs) != 1 || svcs[0].ID != serviceID || svcs[0].EndpointServiceName != atlastest.DefaultEndpointServiceName ||
				svcs[0].CloudProvider != "AWS" || svcs[0].RegionName == "" {
				t.Fatalf("services = %+v", svcs)
			}
			if n := srv.Count("", "/api/atlas/"); n != tc.perCall {
				t.Errorf("list took %d requests, want %d", n, tc.perCall)
			}

			ie, err := c.CreateInterfaceEndpoint(ctx, serviceID, vpceA)
			if err != nil {
				t.Fatalf("CreateInterfaceEndpoint: %v", err)
			}
			if ie.ID != vpceA || ie.ConnectionStatus != atlas.StatusPendingAcceptance {
				t.Fatalf("created = %+v", ie)
			}
			waitStatus(t, c, atlas.StatusAvailable)

			svc, err := c.GetEndpointService(ctx, serviceID)
			if err != nil {
				t.Fatalf("GetEndpointService: %v", err)
			}
			if svc.ID != serviceID || svc.EndpointServiceName != atlastest.DefaultEndpointServiceName || !slices.Equal(svc.InterfaceEndpoints, []string{vpceA}) {
				t.Fatalf("service = %+v, want it to list %s", svc, vpceA)
			}

			_, err = c.CreateInterfaceEndpoint(ctx, serviceID, vpceA)
			if !errors.Is(err, atlas.ErrConflict) || atlas.Temporary(err) {
				t.Fatalf("second create: %v, want ErrConflict", err)
			}
			var er *atlas.ErrorResponse
			if !errors.As(err, &er) || er.Method != http.MethodPost || er.Path != tc.basePath+"/"+serviceID+"/"+lastSegment(tc.basePath, tc.version) {
				t.Fatalf("second create error = %#v", er)
			}

			if err := c.DeleteInterfaceEndpoint(ctx, serviceID, vpceA); err != nil {
				t.Fatalf("DeleteInterfaceEndpoint: %v", err)
			}
			ie, err = c.GetInterfaceEndpoint(ctx, serviceID, vpceA)
			if err == nil && (ie.ConnectionStatus != atlas.StatusDeleting || !ie.DeleteRequested) {
				t.Fatalf("after delete: %+v", ie)
			}
			time.Sleep(30 * time.Millisecond)
			if _, err := c.GetInterfaceEndpoint(ctx, serviceID, vpceA); !errors.Is(err, atlas.ErrNotFound) {
				t.Fatalf("after delete delay: %v, want ErrNotFound", err)
			}
			// It was the service's last endpoint: Atlas removes the service too.
			if svc, err := c.GetEndpointService(ctx, serviceID); !errors.Is(err, atlas.ErrNotFound) && (err != nil || svc.Status != atlas.StatusDeleting) {
				t.Fatalf("service after its last endpoint went: %+v, %v; want DELETING or ErrNotFound", svc, err)
			}
			if _, err := c.GetEndpointService(ctx, "5f00000000000000000000ff"); !errors.Is(err, atlas.ErrNotFound) {
				t.Fatalf("unknown service: %v, want ErrNotFound", err)
			}

			// Every API request carried the version's media type and the user agent,
			// and the create body has the version's shape.
			for _, r := range srv.Requests() {
				if r.Path == "/api/oauth/token" {
					continue
				}
				if r.Accept != tc.accept || r.UserAgent != "registrar-test/1" {
					t.Errorf("%s %s: Accept %q, User-Agent %q", r.Method, r.Path, r.Accept, r.UserAgent)
				}
				// A body's Content-Type is exactly the Accept media type: in v2
				// the versioned one, as MongoDB's Go SDK sends it (the fake also
				// takes application/json, as Atlas does, so only this pins it).
				if r.Method == http.MethodPost {
					if r.ContentType != tc.accept || string(r.Body) != tc.createBody {
						t.Errorf("POST Content-Type %q body %s", r.ContentType, r.Body)
					}
				}
			}
			if tc.creds.Kind() == "service-account" && srv.TokenRequests() != 1 {
				t.Errorf("token requests = %d, want 1", srv.TokenRequests())
			}
		})
	}
}

func lastSegment(_ string, v atlas.Version) string {
	if v == atlas.V1 {
		return "interfaceEndpoints"
	}
	return "endpoint"
}

func TestServiceAccountTokenReused(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
	const calls = 8
	for range calls {
		if _, err := c.ListEndpointServices(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.TokenRequests(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
	if got := srv.Count(http.MethodGet, "/endpointService"); got != calls {
		t.Errorf("API requests = %d, want %d (one each, no digest challenge)", got, calls)
	}
	for _, r := range srv.Requests() {
		if r.Path != "/api/oauth/token" && r.Auth != "bearer" {
			t.Errorf("%s %s auth %q, want bearer", r.Method, r.Path, r.Auth)
		}
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		creds         atlas.Credentials
		wantAPI       int
		wantTokenReqs int
	}{
		// One challenge, one authorised attempt that fails, and no retries.
		{"api key", atlas.Credentials{PublicKey: testPublicKey, PrivateKey: "wrong-private-key"}, 2, 0},
		{"unknown public key", atlas.Credentials{PublicKey: "nobody00", PrivateKey: testPrivateKey}, 2, 0},
		// The token fetch fails once; no API request is made.
		{"service account", atlas.Credentials{ClientID: testClientID, ClientSecret: "wrong-secret"}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, atlas.V2, tc.creds, fakeOptions())
			_, err := c.ListEndpointServices(t.Context())
			if !errors.Is(err, atlas.ErrUnauthorized) || atlas.Temporary(err) {
				t.Fatalf("err = %v, want permanent ErrUnauthorized", err)
			}
			if strings.Contains(err.Error(), tc.creds.PrivateKey+tc.creds.ClientSecret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
			if got := srv.Count("", "/api/atlas/"); got != tc.wantAPI {
				t.Errorf("API requests = %d, want %d", got, tc.wantAPI)
			}
			if got := srv.TokenRequests(); got != tc.wantTokenReqs {
				t.Errorf("token requests = %d, want %d", got, tc.wantTokenReqs)
			}
		})
	}
}

func TestDigestPaysOneChallengePerCall(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, apiKey, fakeOptions())
	for range 3 {
		if _, err := c.ListEndpointServices(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 6 {
		t.Fatalf("requests = %d, want 6", len(reqs))
	}
	for i, r := range reqs {
		wantAuth := i%2 == 1
		if r.Authenticated != wantAuth || (wantAuth && r.Status != http.StatusOK) || (!wantAuth && r.Status != http.StatusUnauthorized) {
			t.Errorf("request %d: authenticated %v status %d", i, r.Authenticated, r.Status)
		}
	}
}

// Every method validates its ids before building a URL: nothing reaches the server.
func TestInvalidIDsSendNothing(t *testing.T) {
	t.Parallel()
	badEndpoints := []string{"", "vpce-1/../../orgs", "VPCE-ABC", "vpce-ABCDEF0123456789a", "vpce-0123456", "vpce-0123456789abcdef01",
		"vpce-0123abcd", "vpce-0123456789abcdef", // legacy 8 digits, and 16: Atlas takes only 17
		"vpce-0123456789abcdef0\n", "vpcé-0123456789abcdef", "vpce-0123456789abcdef0?x=1", "vpce-01234567%2F", " vpce-0123456789abcdef0"}
	badServices := []string{"", "5F00000000000000000000A1", "5f00000000000000000000a", "5f00000000000000000000a1a",
		"../../../../orgs/5f0000000", "5f0000000000000000000０a1", "5f00000000000000000000a/"}
	for _, v := range []atlas.Version{atlas.V2, atlas.V1} {
		c, srv := setup(t, v, apiKey, fakeOptions())
		calls := map[string]func(sid, eid string) error{
			"Get": func(sid, eid string) error { _, err := c.GetInterfaceEndpoint(t.Context(), sid, eid); return err },
			"Create": func(sid, eid string) error {
				_, err := c.CreateInterfaceEndpoint(t.Context(), sid, eid)
				return err
			},
			"Delete": func(sid, eid string) error { return c.DeleteInterfaceEndpoint(t.Context(), sid, eid) },
		}
		for name, call := range calls {
			for _, eid := range badEndpoints {
				checkInvalid(t, call(serviceID, eid), string(v)+" "+name+" endpoint "+eid, "interface endpoint id")
			}
			for _, sid := range badServices {
				checkInvalid(t, call(sid, vpceA), string(v)+" "+name+" service "+sid, "endpoint service id")
			}
		}
		for _, sid := range badServices {
			_, err := c.GetEndpointService(t.Context(), sid)
			checkInvalid(t, err, string(v)+" GetEndpointService "+sid, "endpoint service id")
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%s: %d requests reached the server, want 0", v, n)
		}
	}

	// A malformed project id never gets as far as a client.
	for _, pid := range []string{"", "5F0000000000000000000001", "5f000000000000000000001", "5f00000000000000000000011", "5f00000000000000000000/1"} {
		_, err := atlas.NewClient(atlas.Config{ProjectID: pid}, apiKey)
		checkInvalid(t, err, "project "+pid, "project id")
	}
}

func checkInvalid(t *testing.T, err error, what, kind string) {
	t.Helper()
	var ie *atlas.InvalidIDError
	if !errors.Is(err, atlas.ErrInvalidID) || !errors.As(err, &ie) || ie.Kind != kind || atlas.Temporary(err) {
		t.Errorf("%s: err = %v, want *InvalidIDError of kind %q", what, err, kind)
	}
}

func TestInvalidIDErrorMessage(t *testing.T) {
	t.Parallel()
	long := "vpce-" + strings.Repeat("a", 200)
	err := atlas.ValidateEndpointID(long)
	msg := err.Error()
	if strings.Contains(msg, long[:70]) || !strings.Contains(msg, long[:64]) {
		t.Errorf("id not truncated to 64 characters: %s", msg)
	}
	if !strings.Contains(msg, "interface endpoint id") || !strings.Contains(msg, `^vpce-[0-9a-f]{17}$`) ||
		!strings.Contains(msg, atlas.EndpointIDForm) {
		t.Errorf("message lacks kind, pattern or what Atlas accepts: %s", msg)
	}
	if err := atlas.ValidateEndpointID("vpce-\x00\"x"); !strings.Contains(err.Error(), `"vpce-\x00\"x"`) {
		t.Errorf("id not quoted: %s", err)
	}
	// An 8-digit id is a real, older AWS id: say so, and that Atlas refuses it.
	legacy := atlas.ValidateEndpointID("vpce-0123abcd")
	if legacy == nil || !strings.Contains(legacy.Error(), "8-digit legacy AWS id, which Atlas refuses") {
		t.Errorf("ValidateEndpointID(legacy) = %v, want it refused as an 8-digit legacy id", legacy)
	}
	for _, ok := range []string{"vpce-0123456789abcdef0", "vpce-00000000000000000"} {
		if err := atlas.ValidateEndpointID(ok); err != nil {
			t.Errorf("ValidateEndpointID(%q) = %v", ok, err)
		}
	}
	if err := atlas.ValidateObjectID("project id", atlastest.DefaultProjectID); err != nil {
		t.Error(err)
	}
}

func TestFaultsThroughFake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     atlastest.Fault
		wantErr   error
		wantCalls int // authenticated API requests
	}{
		{"500 then success", atlastest.Fault{Status: 500, Times: 1}, nil, 2},
		{"503 twice then success", atlastest.Fault{Status: 503, Times: 2}, nil, 3},
		{"500 throughout stops at MaxTries", atlastest.Fault{Status: 500, Times: -1}, nil, 3},
		{"reset then success", atlastest.Fault{ResetConn: true, Times: 1}, nil, 2},
		{"404 not retried", atlastest.Fault{Status: 404, Times: -1}, atlas.ErrNotFound, 1},
		{"400 not retried", atlastest.Fault{Status: 400, Times: -1}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
			tc.fault.PathContains = "/endpointService"
			srv.InjectFault(tc.fault)
			_, err := c.ListEndpointServices(t.Context())
			switch {
			case tc.name == "500 throughout stops at MaxTries":
				var er *atlas.ErrorResponse
				if !errors.As(err, &er) || er.StatusCode != 500 {
					t.Fatalf("err = %v, want the last 500", err)
				}
			case tc.name == "400 not retried":
				var er *atlas.ErrorResponse
				if !errors.As(err, &er) || er.StatusCode != 400 || er.ErrorCode != "VALIDATION_ERROR" || atlas.Temporary(err) {
					t.Fatalf("err = %v", err)
				}
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := srv.Count(http.MethodGet, "/endpointService"); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

// Rate limiting is not a fault: it is retried past MaxTries, until the
// caller's deadline, and the error then says what the last attempt saw.
func TestRateLimitedRetriesUntilDeadline(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
	srv.InjectFault(atlastest.Fault{PathContains: "/endpointService", Status: 429, Times: -1, ErrorCode: "RATE_LIMITED_TOKEN_BUCKET"})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.ListEndpointServices(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("err = %v, want the deadline, naming the last 429", err)
	}
	if got := srv.Count(http.MethodGet, "/endpointService"); got <= int(fastRetry.MaxTries) {
		t.Errorf("requests = %d, want more than MaxTries (%d)", got, fastRetry.MaxTries)
	}
}

func TestOnRetryAndRateLimitBucket(t *testing.T) {
	t.Parallel()
	opts := fakeOptions()
	opts.RateLimit = &atlastest.TokenBucket{Capacity: 1, Refill: 1, Interval: time.Second}
	var waits []time.Duration
	c, srv := setup(t, atlas.V2, serviceAccount, opts, func(cfg *atlas.Config) {
		cfg.OnRetry = func(_ context.Context, err error, wait time.Duration) {
			if !errors.Is(err, atlas.ErrRateLimited) {
				t.Errorf("OnRetry err = %v", err)
			}
			waits = append(waits, wait)
		}
	})
	if _, err := c.ListEndpointServices(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.ListEndpointServices(t.Context()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("second call took %s, want at least the 1s Retry-After", el)
	}
	if len(waits) != 1 || waits[0] < time.Second {
		t.Errorf("OnRetry waits = %v", waits)
	}
	if got := srv.Count(http.MethodGet, "/endpointService"); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
}

func TestTokenFetchTimeout(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions(), func(cfg *atlas.Config) {
		cfg.Timeout = 50 * time.Millisecond
		cfg.Retry.MaxTries = 1
	})
	srv.InjectFault(atlastest.Fault{PathContains: "/api/oauth/token", Delay: 2 * time.Second})
	start := time.Now()
	_, err := c.ListEndpointServices(t.Context())
	if err == nil || !atlas.Temporary(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a temporary per-request timeout", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %s; the token fetch timeout did not apply", el)
	}
}

func TestTokenEndpointRateLimited(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
	srv.InjectFault(atlastest.Fault{PathContains: "/api/oauth/token", Status: 429, Times: 1})
	if _, err := c.ListEndpointServices(t.Context()); err != nil {
		t.Fatalf("err = %v, want success after retrying the token fetch", err)
	}
	if got := srv.TokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

// Atlas's own answer over the token endpoint's limit (as quoted in
// terraform-provider-mongodbatlas PR #3791) is an ApiError, not an OAuth2
// error body: the retry hook sees its code and detail, the client waits
// (backoff, as no Retry-After came) and fetches the token again.
func TestTokenEndpointRateLimitedAsAtlasAnswers(t *testing.T) {
	t.Parallel()
	const body = `{"detail":"Resource /api/oauth/token is limited to 10 requests every 1 minutes.","error":429,` +
		`"errorCode":"RATE_LIMITED","parameters":["/api/oauth/token",10,1],"reason":"Too Many Requests"}`
	var seen []error
	var mu sync.Mutex
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions(), func(cfg *atlas.Config) {
		cfg.OnRetry = func(_ context.Context, err error, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, err)
		}
	})
	srv.InjectFault(atlastest.Fault{PathContains: "/api/oauth/token", Status: 429, Body: []byte(body), Times: 2})
	if _, err := c.ListEndpointServices(t.Context()); err != nil {
		t.Fatalf("err = %v, want success after waiting out the limit", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || srv.TokenRequests() != 3 {
		t.Fatalf("%d retries, %d token requests; want 2, 3", len(seen), srv.TokenRequests())
	}
	er, ok := errors.AsType[*atlas.ErrorResponse](seen[0])
	if !ok || !errors.Is(seen[0], atlas.ErrRateLimited) || er.Path != "/api/oauth/token" || er.ErrorCode != "RATE_LIMITED" ||
		!strings.Contains(er.Detail, "limited to 10 requests every 1 minutes") {
		t.Errorf("retried error = %#v, want a RATE_LIMITED 429 of /api/oauth/token with Atlas's detail", seen[0])
	}
}

func TestV1ServiceShape(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, atlas.V1, apiKey, fakeOptions())
	svcs, err := c.ListEndpointServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The legacy API reports the AWS region spelling and has no AVAILABLE service status.
	want := atlas.EndpointService{ID: serviceID, EndpointServiceName: atlastest.DefaultEndpointServiceName,
		Status: "WAITING_FOR_USER", RegionName: "us-east-1", CloudProvider: "AWS", InterfaceEndpoints: []string{}}
	got, _ := json.Marshal(svcs)
	exp, _ := json.Marshal([]atlas.EndpointService{want})
	if string(got) != string(exp) {
		t.Errorf("services = %s, want %s", got, exp)
	}
}

// A 400's parameters and badRequestDetail reach the caller in the typed error,
// and the request is not retried.
func TestBadRequestDetail(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
	srv.InjectFault(atlastest.Fault{
		Method: http.MethodPost, PathContains: "/endpoint", Status: http.StatusBadRequest,
		Parameters:       []any{"id", vpceA},
		BadRequestFields: []atlas.FieldViolation{{Field: "id", Description: "must match \"^vpce-[0-9a-f]{17}$\""}},
	})
	_, err := c.CreateInterfaceEndpoint(t.Context(), serviceID, vpceA)
	er, ok := errors.AsType[*atlas.ErrorResponse](err)
	if !ok || er.StatusCode != http.StatusBadRequest || er.ErrorCode != "VALIDATION_ERROR" || atlas.Temporary(err) {
		t.Fatalf("err = %v, want a permanent 400 VALIDATION_ERROR", err)
	}
	if !slices.Equal(er.Parameters, []string{"id", vpceA}) ||
		!slices.Equal(er.BadRequestFields, []atlas.FieldViolation{{Field: "id", Description: `must match "^vpce-[0-9a-f]{17}$"`}}) {
		t.Errorf("parameters %q, fields %q", er.Parameters, er.BadRequestFields)
	}
	if !strings.Contains(err.Error(), `(id: must match "^vpce-[0-9a-f]{17}$")`) {
		t.Errorf("Error() = %q, want it to name the refused field", err)
	}
	if n := srv.Count(http.MethodPost, "/endpoint"); n != 1 {
		t.Errorf("POSTs = %d, want 1 (a 400 is not retried)", n)
	}
}

// Clients built from credentials marked WithSharedToken (one per project)
// fetch one service-account token between them; unmarked, one each. A new
// marking, as after the secret is read again, fetches a new token.
func TestSharedServiceAccountToken(t *testing.T) {
	t.Parallel()
	const p2 = "5f0000000000000000000002"
	opts := fakeOptions()
	opts.Projects = []atlastest.Project{{ID: p2}}
	srv := atlastest.NewServer(opts)
	t.Cleanup(srv.Close)
	clients := func(creds atlas.Credentials) {
		t.Helper()
		for _, p := range []string{srv.ProjectID(), p2} {
			c, err := atlas.NewClient(atlas.Config{BaseURL: srv.URL, ProjectID: p, Timeout: 2 * time.Second, Retry: fastRetry}, creds)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ListEndpointServices(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	clients(serviceAccount)
	if got := srv.TokenRequests(); got != 2 {
		t.Fatalf("unshared: token requests = %d, want 2", got)
	}
	shared := serviceAccount.WithSharedToken()
	clients(shared)
	clients(shared)
	if got := srv.TokenRequests(); got != 3 {
		t.Errorf("shared by four clients: token requests = %d, want 3 (one more)", got)
	}
	clients(serviceAccount.WithSharedToken())
	if got := srv.TokenRequests(); got != 4 {
		t.Errorf("marked again: token requests = %d, want 4 (a token of its own)", got)
	}
	if s := fmt.Sprintf("%v %+v %#v", shared, shared, shared); strings.Contains(s, testClientSecret) || strings.Contains(s, "0x") {
		t.Errorf("shared credentials format as %s", s)
	}
}
