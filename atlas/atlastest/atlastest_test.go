package atlastest_test

import (
	"bytes"
	"crypto/md5" //nolint:gosec // HTTP Digest
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongodb-forks/digest"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

const (
	pub, priv      = "pubkeyab", "private-key-value"
	clientID       = "mdb_sa_id_0123"
	clientSecret   = "mdb_sa_sk_secret"
	v2Type         = "application/vnd.atlas.2023-01-01+json"
	v1Type         = "application/json"
	pid            = atlastest.DefaultProjectID
	sid            = atlastest.DefaultServiceID
	vpce           = "vpce-0123456789abcdef0"
	step           = 10 * time.Second // status step on the fake clock
	v2Services     = "/api/atlas/v2/groups/" + pid + "/privateEndpoint/AWS/endpointService"
	v1Services     = "/api/atlas/v1.0/groups/" + pid + "/privateEndpoint"
	v2Endpoints    = v2Services + "/" + sid + "/endpoint"
	v1Endpoints    = v1Services + "/" + sid + "/interfaceEndpoints"
	tokenPath      = "/api/oauth/token"
	errorBodyShape = "detail,error,errorCode,parameters,reason"
)

// clock is a manual clock for deterministic status progression.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func options(clk *clock) atlastest.Options {
	o := atlastest.Options{
		APIKeys: map[string]string{pub: priv},
		Clients: map[string]string{clientID: clientSecret},
	}
	if clk != nil {
		o.Now = clk.Now
		o.PendingAcceptance, o.Pending, o.DeleteDelay = step, step, step
		o.TokenTTL = 1000 * time.Hour // outlive the clock's jumps
	}
	return o
}

func start(t *testing.T, opts atlastest.Options) *atlastest.Server {
	t.Helper()
	s := atlastest.NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// errorCode checks the Atlas error body shape and returns its errorCode. A 400
// may carry badRequestDetail as well.
func (r reply) errorCode(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "badRequestDetail" && r.status == http.StatusBadRequest {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != errorBodyShape || m["error"] != float64(r.status) {
		t.Errorf("error body %s does not have Atlas's shape", r.body)
	}
	return m["errorCode"].(string)
}

// apiError decodes the error body's parameters and badRequestDetail.
func (r reply) apiError(t *testing.T) (params []any, fields []atlas.FieldViolation) {
	t.Helper()
	var body struct {
		Parameters       []any `json:"parameters"`
		BadRequestDetail *struct {
			Fields []atlas.FieldViolation `json:"fields"`
		} `json:"badRequestDetail"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if body.BadRequestDetail != nil {
		if len(body.BadRequestDetail.Fields) == 0 {
			t.Errorf("badRequestDetail without fields: %s", r.body)
		}
		fields = body.BadRequestDetail.Fields
	}
	return body.Parameters, fields
}

// send makes one raw request; auth is an Authorization header value or "".
func send(t *testing.T, s *atlastest.Server, method, path, accept, body, auth string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != "" {
		req.Header.Set("Content-Type", accept)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// token fetches an access token and returns the Authorization header value.
func token(t *testing.T, s *atlastest.Server) string {
	t.Helper()
	r := tokenRequest(t, s, clientID, clientSecret, "grant_type=client_credentials")
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	return "Bearer " + r.json(t)["access_token"].(string)
}

func tokenRequest(t *testing.T, s *atlastest.Server, id, secret, form string) reply {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+tokenPath, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

var challengeRE = regexp.MustCompile(`^Digest realm="MMS Public API", domain="", nonce="([0-9a-f]{32})", algorithm=MD5, qop="auth", stale=false$`)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // HTTP Digest
	return hex.EncodeToString(sum[:])
}

// digestHeader computes an RFC 7616 response by hand, independent of the client library.
func digestHeader(user, pass, method, uri, nonce, nc, cnonce string) string {
	ha1 := md5hex(user + ":MMS Public API:" + pass)
	ha2 := md5hex(method + ":" + uri)
	resp := md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="MMS Public API", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"`,
		user, nonce, uri, resp, nc, cnonce)
}

func TestDigestAuth(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))

	r := send(t, s, http.MethodGet, v2Services, v2Type, "", "")
	m := challengeRE.FindStringSubmatch(r.header.Get("WWW-Authenticate"))
	if r.status != http.StatusUnauthorized || m == nil || r.errorCode(t) != "UNAUTHORIZED" {
		t.Fatalf("challenge: %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	nonce := m[1]

	// A hand-computed response is accepted once; replaying its nonce count is not.
	good := digestHeader(pub, priv, http.MethodGet, v2Services, nonce, "00000001", "0a4f113b")
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", good); r.status != http.StatusOK {
		t.Fatalf("valid digest: %d %s", r.status, r.body)
	}
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", good); r.status != http.StatusUnauthorized {
		t.Errorf("replayed digest: %d", r.status)
	}
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", digestHeader(pub, priv, http.MethodGet, v2Services, nonce, "00000002", "0a4f113b")); r.status != http.StatusOK {
		t.Errorf("next nonce count: %d", r.status)
	}

	for name, h := range map[string]string{
		"wrong password": digestHeader(pub, "nope", http.MethodGet, v2Services, nonce, "00000009", "c"),
		"unknown user":   digestHeader("someone", priv, http.MethodGet, v2Services, nonce, "0000000a", "c"),
		"wrong uri":      digestHeader(pub, priv, http.MethodGet, v1Services, nonce, "0000000b", "c"),
		"wrong method":   digestHeader(pub, priv, http.MethodPost, v2Services, nonce, "0000000c", "c"),
		"unknown nonce":  digestHeader(pub, priv, http.MethodGet, v2Services, strings.Repeat("0", 32), "00000001", "c"),
		"not digest":     "Basic " + pub,
		"garbage":        `Digest username="unterminated`,
	} {
		r := send(t, s, http.MethodGet, v2Services, v2Type, "", h)
		if r.status != http.StatusUnauthorized || r.errorCode(t) != "UNAUTHORIZED" || !challengeRE.MatchString(r.header.Get("WWW-Authenticate")) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}

	// The client library pays one challenge round trip per request.
	s.ResetRequests()
	c := &http.Client{Transport: digest.NewTransport(pub, priv)}
	for range 3 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+v2Services, nil)
		req.Header.Set("Accept", v2Type)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("digest transport: %d", resp.StatusCode)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 6 {
		t.Fatalf("requests = %d, want 6", len(reqs))
	}
	for i, r := range reqs {
		if i%2 == 0 && (r.Authenticated || r.Status != 401 || r.Auth != "") ||
			i%2 == 1 && (!r.Authenticated || r.Status != 200 || r.Auth != "digest") {
			t.Errorf("request %d = %+v", i, r)
		}
	}

	// Wrong key through the library: challenge, refused answer, nothing more.
	s.ResetRequests()
	bad := &http.Client{Transport: digest.NewTransport(pub, "wrong")}
	resp, err := bad.Get(s.URL + v2Services)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || s.Count("", "") != 2 {
		t.Errorf("wrong key: %d after %d requests", resp.StatusCode, s.Count("", ""))
	}
}

func TestBearerAuth(t *testing.T) {
	t.Parallel()
	clk := newClock()
	opts := options(clk)
	opts.TokenTTL = time.Hour
	s := start(t, opts)

	r := tokenRequest(t, s, clientID, clientSecret, "grant_type=client_credentials")
	m := r.json(t)
	if r.status != http.StatusOK || m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["access_token"] == "" {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	auth := "Bearer " + m["access_token"].(string)
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", auth); r.status != http.StatusOK {
		t.Fatalf("with token: %d %s", r.status, r.body)
	}
	if got := s.Requests(); got[len(got)-1].Auth != "bearer" || !got[len(got)-1].Authenticated {
		t.Errorf("recorded %+v", got[len(got)-1])
	}

	for _, tc := range []struct {
		name, id, secret, form string
		status                 int
		code                   string
	}{
		{"wrong secret", clientID, "nope", "grant_type=client_credentials", 401, "invalid_client"},
		{"unknown client", "other", clientSecret, "grant_type=client_credentials", 401, "invalid_client"},
		{"no basic auth", "", "", "grant_type=client_credentials", 401, "invalid_client"},
		{"wrong grant", clientID, clientSecret, "grant_type=password", 400, "unsupported_grant_type"},
	} {
		r := tokenRequest(t, s, tc.id, tc.secret, tc.form)
		if r.status != tc.status || r.json(t)["error"] != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
	if got := s.TokenRequests(); got != 5 {
		t.Errorf("token requests = %d, want 5", got)
	}
	if r := send(t, s, http.MethodGet, tokenPath, "", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %d", r.status)
	}

	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", "Bearer forged"); r.status != http.StatusUnauthorized {
		t.Errorf("forged token: %d", r.status)
	}
	clk.Advance(time.Hour)
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", auth); r.status != http.StatusUnauthorized || r.errorCode(t) != "UNAUTHORIZED" {
		t.Errorf("expired token: %d", r.status)
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))
	auth := token(t, s)
	for _, tc := range []struct {
		name, path, accept string
		status             int
		contentType        string
	}{
		{"v2 versioned", v2Services, v2Type, 200, v2Type},
		{"v2 versioned among others", v2Services, "application/json, " + v2Type + ";q=0.9", 200, v2Type},
		{"v2 unversioned", v2Services, v1Type, 406, v1Type},
		{"v2 no accept", v2Services, "", 406, v1Type},
		{"v2 unknown date", v2Services, "application/vnd.atlas.2099-01-01+json", 406, v1Type},
		{"v2 wildcard", v2Services, "*/*", 406, v1Type},
		{"v1 json", v1Services, v1Type, 200, v1Type},
		{"v1 no accept", v1Services, "", 200, v1Type},
		{"v1 versioned only", v1Services, v2Type, 406, v1Type},
		{"unknown version", "/api/atlas/v3/groups/" + pid + "/privateEndpoint", v1Type, 404, v1Type},
	} {
		r := send(t, s, http.MethodGet, tc.path, tc.accept, "", auth)
		if r.status != tc.status || r.header.Get("Content-Type") != tc.contentType {
			t.Errorf("%s: %d %s (%s)", tc.name, r.status, r.header.Get("Content-Type"), r.body)
		}
		if r.status == 406 && r.errorCode(t) != "INVALID_VERSION_DATE" {
			t.Errorf("%s: %s", tc.name, r.body)
		}
	}
}

func TestResourceShapes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	const failedSID = "5f00000000000000000000b2"
	s := start(t, atlastest.Options{
		Clients:  map[string]string{clientID: clientSecret},
		Now:      clk.Now,
		TokenTTL: 1000 * time.Hour,
		Services: []atlas.EndpointService{{
			ID: sid, EndpointServiceName: "com.amazonaws.vpce.eu-west-2.vpce-svc-0aaaaaaaaaaaaaaaa",
			InterfaceEndpoints: []string{vpce},
		}, {
			ID: failedSID, EndpointServiceName: "com.amazonaws.vpce.eu-west-2.vpce-svc-0bbbbbbbbbbbbbbbb",
			Status: atlas.StatusFailed, ErrorMessage: "service failed",
		}},
	})
	auth := token(t, s)
	const failed = "vpce-0000000000000000f"
	s.FailNextWithMessage(1, "endpoint failed")
	if r := send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+failed+`"}`, auth); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	clk.Advance(time.Hour)
	// v2's errorMessage is a string in the specification: absent when there is
	// none, never null. v1.0 sends null, as its documented example shows.
	for _, tc := range []struct{ path, accept, want string }{
		{v2Services + "/" + sid, v2Type, `{"cloudProvider":"AWS","endpointServiceName":"com.amazonaws.vpce.eu-west-2.vpce-svc-0aaaaaaaaaaaaaaaa","id":"` + sid + `","interfaceEndpoints":["` + vpce + `","` + failed + `"],"regionName":"EU_WEST_2","status":"AVAILABLE"}`},
		{v2Services + "/" + failedSID, v2Type, `{"cloudProvider":"AWS","endpointServiceName":"com.amazonaws.vpce.eu-west-2.vpce-svc-0bbbbbbbbbbbbbbbb","errorMessage":"service failed","id":"` + failedSID + `","interfaceEndpoints":[],"regionName":"EU_WEST_2","status":"FAILED"}`},
		{v1Services + "/" + sid, v1Type, `{"endpointServiceName":"com.amazonaws.vpce.eu-west-2.vpce-svc-0aaaaaaaaaaaaaaaa","errorMessage":null,"id":"` + sid + `","interfaceEndpoints":["` + vpce + `","` + failed + `"],"region":"eu-west-2","status":"WAITING_FOR_USER"}`},
		{v2Endpoints + "/" + vpce, v2Type, `{"cloudProvider":"AWS","connectionStatus":"AVAILABLE","deleteRequested":false,"interfaceEndpointId":"` + vpce + `"}`},
		{v2Endpoints + "/" + failed, v2Type, `{"cloudProvider":"AWS","connectionStatus":"PENDING","deleteRequested":false,"errorMessage":"endpoint failed","interfaceEndpointId":"` + failed + `"}`},
		{v1Endpoints + "/" + vpce, v1Type, `{"connectionStatus":"AVAILABLE","deleteRequested":false,"errorMessage":null,"interfaceEndpointId":"` + vpce + `"}`},
		{v1Endpoints + "/" + failed, v1Type, `{"connectionStatus":"PENDING","deleteRequested":false,"errorMessage":"endpoint failed","interfaceEndpointId":"` + failed + `"}`},
		{"/api/atlas/v2/groups/" + pid + "/privateEndpoint/AZURE/endpointService", v2Type, `[]`},
	} {
		r := send(t, s, http.MethodGet, tc.path, tc.accept, "", auth)
		if r.status != 200 || string(r.body) != tc.want {
			t.Errorf("GET %s: %d\n got %s\nwant %s", tc.path, r.status, r.body, tc.want)
		}
	}
	r := send(t, s, http.MethodGet, v2Services, v2Type, "", auth)
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %s", r.body)
	}
	if _, ok := list[0]["errorMessage"]; ok || list[1]["errorMessage"] != "service failed" {
		t.Errorf("list errorMessage: %s", r.body)
	}
}

func TestStatusProgression(t *testing.T) {
	t.Parallel()
	for _, v := range []struct{ name, endpoints, accept, body string }{
		{"v2", v2Endpoints, v2Type, `{"id":"` + vpce + `"}`},
		{"v1", v1Endpoints, v1Type, `{"interfaceEndpointId":"` + vpce + `"}`},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			o := options(clk)
			o.KeepEmptyServices = true // re-created below; TestServiceRemovedWithLastEndpoint covers removal
			s := start(t, o)
			auth := token(t, s)
			r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth)
			if r.status != http.StatusOK || r.json(t)["connectionStatus"] != atlas.StatusPendingAcceptance || r.json(t)["interfaceEndpointId"] != vpce {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			for _, want := range []struct {
				after  time.Duration
				status string
			}{
				{step - time.Nanosecond, atlas.StatusPendingAcceptance},
				{time.Nanosecond, atlas.StatusPending},
				{step - time.Nanosecond, atlas.StatusPending},
				{time.Nanosecond, atlas.StatusAvailable},
				{time.Hour, atlas.StatusAvailable},
			} {
				clk.Advance(want.after)
				r := send(t, s, http.MethodGet, v.endpoints+"/"+vpce, v.accept, "", auth)
				if got := r.json(t)["connectionStatus"]; r.status != 200 || got != want.status {
					t.Fatalf("after %s: %d %v, want %s", want.after, r.status, got, want.status)
				}
				if ie, ok := s.Endpoint(sid, vpce); !ok || ie.ConnectionStatus != want.status {
					t.Errorf("Endpoint() = %+v, %v", ie, ok)
				}
			}
			if svcs := s.Services(); len(svcs) != 1 || !slices.Equal(svcs[0].InterfaceEndpoints, []string{vpce}) {
				t.Errorf("Services() = %+v", svcs)
			}

			// Duplicate registration.
			r = send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth)
			if r.status != http.StatusConflict || r.errorCode(t) != "DUPLICATE_INTERFACE_ENDPOINT" {
				t.Errorf("duplicate: %d %s", r.status, r.body)
			}

			// Deletion: DELETING with deleteRequested, then gone.
			if r := send(t, s, http.MethodDelete, v.endpoints+"/"+vpce, v.accept, "", auth); r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			clk.Advance(step - time.Nanosecond)
			r = send(t, s, http.MethodGet, v.endpoints+"/"+vpce, v.accept, "", auth)
			if m := r.json(t); m["connectionStatus"] != atlas.StatusDeleting || m["deleteRequested"] != true {
				t.Fatalf("deleting: %s", r.body)
			}
			if r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth); r.status != http.StatusConflict {
				t.Errorf("re-create while deleting: %d", r.status)
			}
			clk.Advance(time.Nanosecond)
			r = send(t, s, http.MethodGet, v.endpoints+"/"+vpce, v.accept, "", auth)
			if r.status != http.StatusNotFound || r.errorCode(t) != "RESOURCE_NOT_FOUND" {
				t.Fatalf("after delete: %d %s", r.status, r.body)
			}
			if r := send(t, s, http.MethodDelete, v.endpoints+"/"+vpce, v.accept, "", auth); r.status != http.StatusNotFound {
				t.Errorf("delete again: %d", r.status)
			}
			if _, ok := s.Endpoint(sid, vpce); ok || len(s.Services()[0].InterfaceEndpoints) != 0 {
				t.Errorf("endpoint still listed: %+v", s.Services())
			}
			// It can be added again once gone.
			if r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth); r.status != http.StatusOK {
				t.Errorf("re-create: %d %s", r.status, r.body)
			}
		})
	}
}

// The default clock and delays work in real time too.
func TestRealTimeProgression(t *testing.T) {
	t.Parallel()
	opts := options(nil)
	opts.PendingAcceptance, opts.Pending, opts.DeleteDelay = 15*time.Millisecond, 15*time.Millisecond, 15*time.Millisecond
	s := start(t, opts)
	auth := token(t, s)
	posted := time.Now()
	send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+vpce+`"}`, auth)
	seen := []string{}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st := send(t, s, http.MethodGet, v2Endpoints+"/"+vpce, v2Type, "", auth).json(t)["connectionStatus"].(string)
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == atlas.StatusAvailable {
			if took := time.Since(posted); took < opts.PendingAcceptance+opts.Pending {
				t.Errorf("AVAILABLE %s after the POST, before the delays of %s", took, opts.PendingAcceptance+opts.Pending)
			}
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// In order and ending AVAILABLE; a slow poll on a loaded machine may miss
	// a step, even the first. The exact steps are tested on the manual clock.
	order := []string{"PENDING_ACCEPTANCE", "PENDING", "AVAILABLE"}
	inOrder := len(seen) > 0 && seen[len(seen)-1] == atlas.StatusAvailable
	for i := 1; inOrder && i < len(seen); i++ {
		inOrder = slices.Index(order, seen[i-1]) < slices.Index(order, seen[i])
	}
	if !inOrder || slices.Index(order, seen[0]) < 0 {
		t.Errorf("statuses seen = %v, want an in-order part of %v ending AVAILABLE", seen, order)
	}
	send(t, s, http.MethodDelete, v2Endpoints+"/"+vpce, v2Type, "", auth)
	time.Sleep(20 * time.Millisecond)
	if r := send(t, s, http.MethodGet, v2Endpoints+"/"+vpce, v2Type, "", auth); r.status != http.StatusNotFound {
		t.Errorf("after delete delay: %d", r.status)
	}
}

func TestOutcomeInjection(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := start(t, options(clk))
	auth := token(t, s)
	ids := []string{"vpce-000000000000000a1", "vpce-000000000000000a2", "vpce-000000000000000a3", "vpce-000000000000000a4"}

	s.RejectNext(1)
	s.FailNextWithMessage(1, "AWS endpoint service rejected the connection")
	for _, id := range ids[:3] {
		if r := send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+id+`"}`, auth); r.status != 200 {
			t.Fatalf("create %s: %d", id, r.status)
		}
	}
	clk.Advance(time.Hour)
	for _, tc := range []struct {
		id, status string
		msg        bool
	}{
		{ids[0], atlas.StatusRejected, true},
		{ids[1], atlas.StatusPending, true},
		{ids[2], atlas.StatusAvailable, false},
	} {
		ie, _ := s.Endpoint(sid, tc.id)
		if ie.ConnectionStatus != tc.status || (ie.ErrorMessage != "") != tc.msg {
			t.Errorf("%s = %+v, want %s", tc.id, ie, tc.status)
		}
	}
	if ie, _ := s.Endpoint(sid, ids[1]); ie.ErrorMessage != "AWS endpoint service rejected the connection" {
		t.Errorf("errorMessage = %q", ie.ErrorMessage)
	}

	s.HoldPending(true)
	send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+ids[3]+`"}`, auth)
	clk.Advance(time.Hour)
	if ie, _ := s.Endpoint(sid, ids[3]); ie.ConnectionStatus != atlas.StatusPending {
		t.Errorf("held: %+v", ie)
	}
	s.HoldPending(false)
	if ie, _ := s.Endpoint(sid, ids[3]); ie.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("released: %+v", ie)
	}

	s.HoldDeleting(true)
	send(t, s, http.MethodDelete, v2Endpoints+"/"+ids[3], v2Type, "", auth)
	clk.Advance(time.Hour)
	if ie, ok := s.Endpoint(sid, ids[3]); !ok || ie.ConnectionStatus != atlas.StatusDeleting || !ie.DeleteRequested {
		t.Errorf("held deleting: %+v %v", ie, ok)
	}
	s.HoldDeleting(false)
	if _, ok := s.Endpoint(sid, ids[3]); ok {
		t.Errorf("still there after release")
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  atlastest.Fault
		check  func(t *testing.T, rs []reply)
		method string
	}{
		{"status with Retry-After", atlastest.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, func(t *testing.T, rs []reply) {
			if rs[0].status != 429 || rs[0].header.Get("Retry-After") != "2" || rs[0].errorCode(t) != "RATE_LIMITED" || rs[1].status != 200 {
				t.Errorf("%d %q %s / %d", rs[0].status, rs[0].header.Get("Retry-After"), rs[0].body, rs[1].status)
			}
		}, ""},
		{"custom error code twice", atlastest.Fault{Status: 503, ErrorCode: "SERVICE_UNAVAILABLE", Times: 2}, func(t *testing.T, rs []reply) {
			if rs[0].status != 503 || rs[1].status != 503 || rs[2].status != 200 || rs[0].errorCode(t) != "SERVICE_UNAVAILABLE" || rs[0].header.Get("Retry-After") != "" {
				t.Errorf("%d %d %d", rs[0].status, rs[1].status, rs[2].status)
			}
		}, ""},
		{"until cleared", atlastest.Fault{Status: 500, Times: -1}, func(t *testing.T, rs []reply) {
			if rs[0].status != 500 || rs[1].status != 500 || rs[2].status != 500 || rs[0].errorCode(t) != "UNEXPECTED_ERROR" {
				t.Errorf("%d %d %d", rs[0].status, rs[1].status, rs[2].status)
			}
		}, ""},
		{"other method untouched", atlastest.Fault{Status: 500, Method: http.MethodPost}, func(t *testing.T, rs []reply) {
			if rs[0].status != 200 {
				t.Errorf("%d", rs[0].status)
			}
		}, ""},
		{"other path untouched", atlastest.Fault{Status: 500, PathContains: "/endpoint/"}, func(t *testing.T, rs []reply) {
			if rs[0].status != 200 {
				t.Errorf("%d", rs[0].status)
			}
		}, ""},
		{"400 with parameters and badRequestDetail", atlastest.Fault{
			Status: 400, Parameters: []any{"id", "vpce-0123abcd"},
			BadRequestFields: []atlas.FieldViolation{{Field: "id", Description: "must match"}},
		}, func(t *testing.T, rs []reply) {
			if rs[0].status != 400 || rs[0].errorCode(t) != "VALIDATION_ERROR" || rs[1].status != 200 {
				t.Fatalf("%d %s / %d", rs[0].status, rs[0].body, rs[1].status)
			}
			params, fields := rs[0].apiError(t)
			if !reflect.DeepEqual(params, []any{"id", "vpce-0123abcd"}) || !reflect.DeepEqual(fields, []atlas.FieldViolation{{Field: "id", Description: "must match"}}) {
				t.Errorf("parameters %v, fields %v", params, fields)
			}
		}, ""},
		{"raw body", atlastest.Fault{Status: 200, Body: []byte(`[{"id":`)}, func(t *testing.T, rs []reply) {
			if rs[0].status != 200 || string(rs[0].body) != `[{"id":` {
				t.Errorf("%d %s", rs[0].status, rs[0].body)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, options(nil))
			auth := token(t, s)
			s.InjectFault(tc.fault)
			var rs []reply
			for range 3 {
				rs = append(rs, send(t, s, http.MethodGet, v2Services, v2Type, "", auth))
			}
			tc.check(t, rs)
			s.ClearFaults()
			if r := send(t, s, http.MethodGet, v2Services, v2Type, "", auth); r.status != 200 {
				t.Errorf("after ClearFaults: %d", r.status)
			}
		})
	}
}

func TestFaultDelayResetAndToken(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))
	auth := token(t, s)

	s.InjectFault(atlastest.Fault{Delay: 40 * time.Millisecond})
	begin := time.Now()
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", auth); r.status != 200 || time.Since(begin) < 40*time.Millisecond {
		t.Errorf("delayed: %d after %s", r.status, time.Since(begin))
	}

	s.InjectFault(atlastest.Fault{ResetConn: true, PathContains: "/endpointService"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+v2Services, nil)
	req.Header.Set("Accept", v2Type)
	req.Header.Set("Authorization", auth)
	// A fresh connection, so net/http does not quietly retry on another.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reset: got %d, want a connection error", resp.StatusCode)
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.Status != 0 || !last.Authenticated {
		t.Errorf("reset recorded as %+v", last)
	}

	// Token endpoint faults apply before client authentication.
	s.InjectFault(atlastest.Fault{PathContains: tokenPath, Status: 503})
	if r := tokenRequest(t, s, clientID, clientSecret, "grant_type=client_credentials"); r.status != 503 {
		t.Errorf("token fault: %d", r.status)
	}
	if r := tokenRequest(t, s, clientID, clientSecret, "grant_type=client_credentials"); r.status != 200 {
		t.Errorf("after token fault: %d", r.status)
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))
	auth := token(t, s)
	other := "5f00000000000000000000ff"
	idRule := `must match "^vpce-[0-9a-f]{17}$"`
	for _, tc := range []struct {
		name, method, path, accept, body string
		status                           int
		code                             string
		params                           []any                  // nil: not checked
		fields                           []atlas.FieldViolation // the badRequestDetail expected (nil: none)
	}{
		{"bad endpoint id in path", "GET", v2Endpoints + "/vpce-XYZ", v2Type, "", 400, "VALIDATION_ERROR", []any{"endpointId", "vpce-XYZ"}, nil},
		{"short endpoint id in path", "DELETE", v1Endpoints + "/vpce-0123abcd", v1Type, "", 400, "VALIDATION_ERROR", []any{"endpointId", "vpce-0123abcd"}, nil},
		{"bad endpoint id in body", "POST", v2Endpoints, v2Type, `{"id":"vpce-../../x"}`, 400, "VALIDATION_ERROR",
			[]any{"id", "vpce-../../x"}, []atlas.FieldViolation{{Field: "id", Description: idRule}}},
		{"legacy endpoint id in body", "POST", v2Endpoints, v2Type, `{"id":"vpce-0123abcd"}`, 400, "VALIDATION_ERROR",
			[]any{"id", "vpce-0123abcd"}, []atlas.FieldViolation{{Field: "id", Description: idRule}}},
		{"legacy endpoint id in v1 body", "POST", v1Endpoints, v1Type, `{"interfaceEndpointId":"vpce-0123abcd"}`, 400, "VALIDATION_ERROR",
			[]any{"interfaceEndpointId", "vpce-0123abcd"}, []atlas.FieldViolation{{Field: "interfaceEndpointId", Description: idRule}}},
		{"v1 field in v2 body", "POST", v2Endpoints, v2Type, `{"interfaceEndpointId":"` + vpce + `"}`, 400, "VALIDATION_ERROR",
			[]any{"id"}, []atlas.FieldViolation{{Field: "id", Description: "is required"}}},
		{"v2 field in v1 body", "POST", v1Endpoints, v1Type, `{"id":"` + vpce + `"}`, 400, "VALIDATION_ERROR",
			[]any{"interfaceEndpointId"}, []atlas.FieldViolation{{Field: "interfaceEndpointId", Description: "is required"}}},
		{"malformed body", "POST", v2Endpoints, v2Type, `{"id":`, 400, "MALFORMED_JSON", []any{}, nil},
		{"v1 unacceptable Accept", "POST", v1Endpoints, "text/plain", `{"interfaceEndpointId":"` + vpce + `"}`, 406, "INVALID_VERSION_DATE", nil, nil},
		{"unknown endpoint", "GET", v2Endpoints + "/" + vpce, v2Type, "", 404, "RESOURCE_NOT_FOUND", []any{vpce}, nil},
		{"unknown service", "GET", v2Services + "/" + other, v2Type, "", 404, "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND", []any{other}, nil},
		{"unknown service on create", "POST", v2Services + "/" + other + "/endpoint", v2Type, `{"id":"` + vpce + `"}`, 404, "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND", []any{other}, nil},
		{"malformed service", "GET", v2Services + "/XYZ/endpoint/" + vpce, v2Type, "", 400, "VALIDATION_ERROR", []any{"endpointServiceId", "XYZ"}, nil},
		{"unknown project", "GET", "/api/atlas/v2/groups/" + other + "/privateEndpoint/AWS/endpointService", v2Type, "", 404, "RESOURCE_NOT_FOUND", []any{other}, nil},
		{"malformed project", "GET", "/api/atlas/v1.0/groups/nope/privateEndpoint", v1Type, "", 400, "VALIDATION_ERROR", []any{"groupId", "nope"}, nil},
		{"bad provider", "GET", "/api/atlas/v2/groups/" + pid + "/privateEndpoint/IBM/endpointService", v2Type, "", 400, "VALIDATION_ERROR", []any{"IBM"}, nil},
		{"method not allowed", "PUT", v2Endpoints + "/" + vpce, v2Type, "", 405, "METHOD_NOT_ALLOWED", nil, nil},
		{"unknown route", "GET", v2Services + "/" + sid + "/endpoint/" + vpce + "/extra", v2Type, "", 404, "RESOURCE_NOT_FOUND", nil, nil},
		{"dot segments", "GET", v2Endpoints + "/../../../../orgs", v2Type, "", 404, "RESOURCE_NOT_FOUND", nil, nil},
		{"encoded slash", "GET", v2Endpoints + "/vpce-1%2F..%2Fx", v2Type, "", 404, "RESOURCE_NOT_FOUND", nil, nil},
		{"outside the API", "GET", "/api/private/x", v2Type, "", 404, "RESOURCE_NOT_FOUND", nil, nil},
	} {
		r := send(t, s, tc.method, tc.path, tc.accept, tc.body, auth)
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			continue
		}
		params, fields := r.apiError(t)
		if (tc.params != nil && !reflect.DeepEqual(params, tc.params)) || !reflect.DeepEqual(fields, tc.fields) {
			t.Errorf("%s: parameters %v, badRequestDetail %v; want %v, %v (%s)", tc.name, params, fields, tc.params, tc.fields, r.body)
		}
	}
	if n := s.Count(http.MethodPost, "/endpoint"); n == 0 || len(s.Services()[0].InterfaceEndpoints) != 0 {
		t.Errorf("a refused request registered an endpoint: %+v", s.Services())
	}
	if r := send(t, s, "POST", v2Endpoints, "text/plain", `{"id":"`+vpce+`"}`, auth); r.status != 406 {
		t.Errorf("v2 text/plain: %d", r.status)
	}
}

// A v2 body's Content-Type: the client sends the versioned media type, as
// MongoDB's Go SDK does and as the specification's requestBody names it. The
// specification's own curl samples for this POST send application/json, so
// Atlas takes that too and the fake must not be stricter. Anything else is 415.
func TestBodyContentType(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))
	auth := token(t, s)
	for i, tc := range []struct {
		contentType string
		status      int
	}{
		{v2Type, 200},
		{v2Type + "; charset=utf-8", 200},
		{"application/json", 200},
		{"text/plain", 415},
		{"application/x-www-form-urlencoded", 415},
		{"", 415},
		{"application/vnd.atlas.2099-01-01+json", 415},
	} {
		id := fmt.Sprintf("vpce-%017x", i+1)
		req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL+v2Endpoints, strings.NewReader(`{"id":"`+id+`"}`))
		req.Header.Set("Accept", v2Type)
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Content-Type %q: %d %s, want %d", tc.contentType, resp.StatusCode, b, tc.status)
		}
		if tc.status == 415 && (reply{status: resp.StatusCode, body: b}).errorCode(t) != "UNSUPPORTED_MEDIA_TYPE" {
			t.Errorf("Content-Type %q: %s", tc.contentType, b)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	opts := options(clk)
	opts.RateLimit = &atlastest.TokenBucket{Capacity: 2, Refill: 1, Interval: 2 * time.Second}
	s := start(t, opts)
	auth := token(t, s)
	for i := range 2 {
		if r := send(t, s, "GET", v2Services, v2Type, "", auth); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := send(t, s, "GET", v2Services, v2Type, "", auth)
	if r.status != 429 || r.errorCode(t) != "RATE_LIMITED_TOKEN_BUCKET" || r.header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	clk.Advance(2 * time.Second)
	if r := send(t, s, "GET", v2Services, v2Type, "", auth); r.status != 200 {
		t.Errorf("after refill: %d", r.status)
	}
	// Unauthenticated requests do not spend tokens.
	if r := send(t, s, "GET", v2Services, v2Type, "", ""); r.status != 401 {
		t.Errorf("unauthenticated: %d", r.status)
	}
}

func TestRecordingAndLogging(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	clk := newClock()
	opts := options(clk)
	opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	s := start(t, opts)
	auth := token(t, s)
	send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+vpce+`"}`, auth)
	clk.Advance(2 * step)
	send(t, s, http.MethodGet, v2Endpoints+"/"+vpce, v2Type, "", auth)

	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("requests = %+v", reqs)
	}
	post := reqs[1]
	if post.Method != "POST" || post.Path != v2Endpoints || post.Accept != v2Type || post.ContentType != v2Type ||
		string(post.Body) != `{"id":"`+vpce+`"}` || post.Auth != "bearer" || !post.Authenticated || post.Status != 200 || post.Time.IsZero() {
		t.Errorf("recorded POST = %+v", post)
	}
	if reqs[0].Path != tokenPath || reqs[0].Auth != "basic" || !reqs[0].Authenticated {
		t.Errorf("recorded token request = %+v", reqs[0])
	}
	if s.Count("POST", "/endpoint") != 1 || s.Count("", vpce) != 1 || s.Count("", "") != 3 || s.Count("DELETE", "") != 0 {
		t.Errorf("Count mismatch")
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, want := range []string{"POST " + v2Endpoints + " -> 200", "endpoint " + vpce + ": new -> PENDING_ACCEPTANCE", "PENDING_ACCEPTANCE -> AVAILABLE"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	s.ResetRequests()
	if len(s.Requests()) != 0 || s.TokenRequests() != 0 {
		t.Errorf("ResetRequests left data")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// NewUnstartedHandler serves on any listener, as a sandbox program would use it.
func TestHandlerOnOwnListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := atlastest.NewUnstartedHandler(options(nil))
	srv := &http.Server{Handler: f, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := atlas.NewClient(atlas.Config{BaseURL: "http://" + ln.Addr().String(), ProjectID: f.ProjectID()},
		atlas.Credentials{PublicKey: pub, PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := c.ListEndpointServices(t.Context())
	if err != nil || len(svcs) != 1 {
		t.Fatalf("%v %+v", err, svcs)
	}
	if f.Count("GET", "/endpointService") != 2 {
		t.Errorf("requests = %+v", f.Requests())
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	opts := options(nil)
	opts.PendingAcceptance, opts.Pending, opts.DeleteDelay = 5*time.Millisecond, 5*time.Millisecond, 5*time.Millisecond
	// A kept endpoint: otherwise a goroutine that deletes the service's only
	// endpoint takes the service with it, as Atlas does, and the rest get 404.
	opts.Services = []atlas.EndpointService{{ID: sid, EndpointServiceName: atlastest.DefaultEndpointServiceName, InterfaceEndpoints: []string{vpce}}}
	s := start(t, opts)
	c, err := atlas.NewClient(atlas.Config{BaseURL: s.URL, ProjectID: pid}, atlas.Credentials{ClientID: clientID, ClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			id := fmt.Sprintf("vpce-%017x", i)
			if _, err := c.CreateInterfaceEndpoint(t.Context(), sid, id); err != nil {
				t.Errorf("create %s: %v", id, err)
				return
			}
			if _, err := c.GetInterfaceEndpoint(t.Context(), sid, id); err != nil {
				t.Errorf("get %s: %v", id, err)
			}
			_ = s.Services()
			_ = s.Requests()
			if err := c.DeleteInterfaceEndpoint(t.Context(), sid, id); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if got := s.Count("POST", "/endpoint"); got != 16 {
		t.Errorf("creates = %d", got)
	}
	if got := s.TokenRequests(); got < 1 || got > 16 {
		t.Errorf("token requests = %d", got)
	}
	if svcs := s.Services(); len(svcs) != 1 || !slices.Contains(svcs[0].InterfaceEndpoints, vpce) {
		t.Errorf("services after = %+v, want the service with its kept endpoint", svcs)
	}
	for i := range 16 {
		id := fmt.Sprintf("vpce-%017x", i)
		if e, ok := s.Endpoint(sid, id); ok && !e.DeleteRequested {
			t.Errorf("%s after its delete = %+v, want gone or being deleted", id, e)
		}
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	f := atlastest.NewUnstartedHandler(atlastest.Options{})
	svcs := f.Services()
	if f.ProjectID() != atlastest.DefaultProjectID || len(svcs) != 1 || svcs[0].ID != atlastest.DefaultServiceID ||
		svcs[0].EndpointServiceName != atlastest.DefaultEndpointServiceName || svcs[0].Status != atlas.StatusAvailable ||
		svcs[0].RegionName != "US_EAST_1" || svcs[0].CloudProvider != "AWS" {
		t.Errorf("defaults: %s %+v", f.ProjectID(), svcs)
	}
	f = atlastest.NewUnstartedHandler(atlastest.Options{Services: []atlas.EndpointService{{EndpointServiceName: "a"}, {EndpointServiceName: "b", Status: "INITIATING"}}})
	if svcs := f.Services(); len(svcs) != 2 || svcs[0].ID == svcs[1].ID || svcs[1].Status != "INITIATING" {
		t.Errorf("generated ids: %+v", svcs)
	}
	for name, o := range map[string]atlastest.Options{
		"project":   {ProjectID: "nope"},
		"service":   {Services: []atlas.EndpointService{{ID: "XYZ"}}},
		"endpoint":  {Services: []atlas.EndpointService{{InterfaceEndpoints: []string{"vpce-1"}}}},
		"ratelimit": {RateLimit: &atlastest.TokenBucket{}},
		"tokenrate": {TokenRateLimit: &atlastest.TokenBucket{Capacity: 1, Refill: 0, Interval: time.Second}},
		"tokencap":  {MaxActiveTokens: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			atlastest.NewUnstartedHandler(o)
		}()
	}
}

func TestRejectFirst(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := start(t, options(clk))
	auth := token(t, s)
	a, b := "vpce-000000000000000b1", "vpce-000000000000000b2"
	s.RejectFirst(b)
	for _, id := range []string{a, b} {
		if r := send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+id+`"}`, auth); r.status != 200 {
			t.Fatalf("create %s: %d", id, r.status)
		}
	}
	clk.Advance(time.Hour)
	if ie, _ := s.Endpoint(sid, a); ie.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("%s = %+v, want AVAILABLE (not chosen)", a, ie)
	}
	if ie, _ := s.Endpoint(sid, b); ie.ConnectionStatus != atlas.StatusRejected {
		t.Errorf("%s = %+v, want REJECTED", b, ie)
	}
	// Only the first registration: after a delete, the same id registers.
	send(t, s, http.MethodDelete, v2Endpoints+"/"+b, v2Type, "", auth)
	clk.Advance(time.Hour)
	if r := send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+b+`"}`, auth); r.status != 200 {
		t.Fatalf("create %s again: %d", b, r.status)
	}
	clk.Advance(time.Hour)
	if ie, _ := s.Endpoint(sid, b); ie.ConnectionStatus != atlas.StatusAvailable {
		t.Errorf("%s second registration = %+v, want AVAILABLE", b, ie)
	}
}

// Atlas's reference: "When the last private endpoint is removed from a given
// private endpoint service, that private endpoint service is also removed."
// The fake does so by default; KeepEmptyServices keeps the service.
func TestServiceRemovedWithLastEndpoint(t *testing.T) {
	t.Parallel()
	const other = "vpce-0fedcba9876543210"
	for _, v := range []struct{ name, services, endpoints, accept, body, otherBody string }{
		{"v2", v2Services, v2Endpoints, v2Type, `{"id":"` + vpce + `"}`, `{"id":"` + other + `"}`},
		{"v1", v1Services, v1Endpoints, v1Type, `{"interfaceEndpointId":"` + vpce + `"}`, `{"interfaceEndpointId":"` + other + `"}`},
	} {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keep=%v", v.name, keep), func(t *testing.T) {
				t.Parallel()
				clk := newClock()
				o := options(clk)
				o.KeepEmptyServices = keep
				s := start(t, o)
				auth := token(t, s)
				for _, body := range []string{v.body, v.otherBody} {
					if r := send(t, s, http.MethodPost, v.endpoints, v.accept, body, auth); r.status != http.StatusOK {
						t.Fatalf("create: %d %s", r.status, r.body)
					}
				}
				// Deleting one of two endpoints leaves the service alone.
				if r := send(t, s, http.MethodDelete, v.endpoints+"/"+other, v.accept, "", auth); r.status != http.StatusNoContent {
					t.Fatalf("delete %s: %d %s", other, r.status, r.body)
				}
				clk.Advance(step)
				if r := send(t, s, http.MethodGet, v.services+"/"+sid, v.accept, "", auth); r.status != http.StatusOK || r.json(t)["status"] == atlas.StatusDeleting {
					t.Fatalf("service after deleting one of two: %d %s", r.status, r.body)
				}
				// Deleting the last one removes the service, unless kept.
				if r := send(t, s, http.MethodDelete, v.endpoints+"/"+vpce, v.accept, "", auth); r.status != http.StatusNoContent {
					t.Fatalf("delete %s: %d %s", vpce, r.status, r.body)
				}
				clk.Advance(step)
				r := send(t, s, http.MethodGet, v.services+"/"+sid, v.accept, "", auth)
				if keep {
					if r.status != http.StatusOK || r.json(t)["status"] == atlas.StatusDeleting {
						t.Errorf("kept service: %d %s", r.status, r.body)
					}
					if r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth); r.status != http.StatusOK {
						t.Errorf("re-create in kept service: %d %s", r.status, r.body)
					}
					return
				}
				if r.status != http.StatusOK || r.json(t)["status"] != atlas.StatusDeleting {
					t.Fatalf("service right after its last endpoint went: %d %s, want DELETING", r.status, r.body)
				}
				if r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth); r.status != http.StatusNotFound || r.errorCode(t) != "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND" {
					t.Errorf("post into a deleting service: %d %s", r.status, r.body)
				}
				clk.Advance(step)
				if r := send(t, s, http.MethodGet, v.services+"/"+sid, v.accept, "", auth); r.status != http.StatusNotFound || r.errorCode(t) != "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND" {
					t.Errorf("removed service: %d %s", r.status, r.body)
				}
				if r := send(t, s, http.MethodPost, v.endpoints, v.accept, v.body, auth); r.status != http.StatusNotFound || r.errorCode(t) != "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND" {
					t.Errorf("post into a removed service: %d %s", r.status, r.body)
				}
				if svcs := s.Services(); len(svcs) != 0 {
					t.Errorf("Services() = %+v, want none", svcs)
				}
			})
		}
	}
}

// One set of credentials reaches several projects; each lists only its own
// services, and a service is found only under its own project.
func TestSeveralProjects(t *testing.T) {
	t.Parallel()
	const p2, s2 = "5f0000000000000000000002", "5f00000000000000000000b2"
	const name2 = "com.amazonaws.vpce.eu-west-1.vpce-svc-0bbbbbbbbbbbbbbbb"
	o := options(nil)
	o.Projects = []atlastest.Project{{ID: p2, Services: []atlas.EndpointService{{ID: s2, EndpointServiceName: name2}}}}
	s := start(t, o)
	auth := token(t, s)
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/atlas/v2/groups/" + atlastest.DefaultProjectID + "/privateEndpoint/AWS/endpointService", 200, sid},
		{"/api/atlas/v2/groups/" + p2 + "/privateEndpoint/AWS/endpointService", 200, s2},
		{"/api/atlas/v2/groups/" + p2 + "/privateEndpoint/AWS/endpointService/" + s2, 200, name2},
		{"/api/atlas/v2/groups/" + p2 + "/privateEndpoint/AWS/endpointService/" + sid, 404, "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND"},
		{"/api/atlas/v2/groups/5f0000000000000000000003/privateEndpoint/AWS/endpointService", 404, "RESOURCE_NOT_FOUND"},
	} {
		r := send(t, s, http.MethodGet, c.path, v2Type, "", auth)
		if r.status != c.status || !strings.Contains(string(r.body), c.want) {
			t.Errorf("GET %s: %d %s; want %d with %s", c.path, r.status, r.body, c.status, c.want)
		}
	}
	if r := send(t, s, http.MethodGet, "/api/atlas/v2/groups/"+p2+"/privateEndpoint/AWS/endpointService", v2Type, "", auth); strings.Contains(string(r.body), sid) {
		t.Errorf("project %s lists another project's service: %s", p2, r.body)
	}
	if got := s.ProjectServices(p2); len(got) != 1 || got[0].ID != s2 {
		t.Errorf("ProjectServices(%s) = %+v", p2, got)
	}
}

// The token endpoint's limit is per client: each client id has its own bucket,
// and a request counts whether or not its secret is right.
func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	opts := options(clk)
	opts.Clients["mdb_sa_id_other"] = "other-secret"
	opts.TokenRateLimit = &atlastest.TokenBucket{Capacity: 2, Refill: 1, Interval: 2 * time.Second}
	s := start(t, opts)

	ok := "grant_type=client_credentials"
	if r := tokenRequest(t, s, clientID, "wrong", ok); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d %s", r.status, r.body)
	}
	if r := tokenRequest(t, s, clientID, clientSecret, ok); r.status != http.StatusOK {
		t.Fatalf("second request: %d %s", r.status, r.body)
	}
	r := tokenRequest(t, s, clientID, clientSecret, ok)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "RATE_LIMITED" || r.header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := tokenRequest(t, s, "mdb_sa_id_other", "other-secret", ok); r.status != http.StatusOK {
		t.Errorf("another client: %d %s", r.status, r.body)
	}
	clk.Advance(time.Second)
	if r := tokenRequest(t, s, clientID, clientSecret, ok); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Errorf("half a token later: %d %q", r.status, r.header.Get("Retry-After"))
	}
	clk.Advance(time.Second)
	if r := tokenRequest(t, s, clientID, clientSecret, ok); r.status != http.StatusOK {
		t.Errorf("after refill: %d %s", r.status, r.body)
	}
	if got := s.TokenRequests(); got != 6 {
		t.Errorf("token requests = %d, want 6 (limited ones count)", got)
	}
}

// A service account holds at most MaxActiveTokens unexpired tokens; the next
// request gets Atlas's 403, which the client reports as unauthorized, until
// one expires.
func TestActiveTokenCap(t *testing.T) {
	t.Parallel()
	clk := newClock()
	opts := options(clk)
	opts.TokenTTL = time.Hour
	opts.MaxActiveTokens = 2
	opts.Clients["mdb_sa_id_other"] = "other-secret"
	s := start(t, opts)

	first := token(t, s)
	clk.Advance(10 * time.Minute)
	token(t, s)
	if active, peak := s.ActiveTokens(clientID); active != 2 || peak != 2 {
		t.Fatalf("ActiveTokens = %d, %d; want 2, 2", active, peak)
	}
	r := tokenRequest(t, s, clientID, clientSecret, "grant_type=client_credentials")
	if m := r.json(t); r.status != http.StatusForbidden || m["error"] != "access_denied" ||
		!strings.HasPrefix(m["error_description"].(string), "Access Token limit reached.") {
		t.Fatalf("third token: %d %s", r.status, r.body)
	}
	if r := send(t, s, http.MethodGet, v2Services, v2Type, "", first); r.status != http.StatusOK {
		t.Errorf("an existing token stops working: %d", r.status)
	}
	if r := tokenRequest(t, s, "mdb_sa_id_other", "other-secret", "grant_type=client_credentials"); r.status != http.StatusOK {
		t.Errorf("another service account: %d %s", r.status, r.body)
	}

	// The client library sees the cap as a credentials problem, not a transient one.
	c, err := atlas.NewClient(atlas.Config{BaseURL: s.URL, ProjectID: pid}, atlas.Credentials{ClientID: clientID, ClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListEndpointServices(t.Context())
	if !errors.Is(err, atlas.ErrUnauthorized) || atlas.Temporary(err) || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("client error = %v, want a permanent unauthorized access_denied", err)
	}

	clk.Advance(50 * time.Minute) // the first token expires
	if active, peak := s.ActiveTokens(clientID); active != 1 || peak != 2 {
		t.Errorf("after an expiry: ActiveTokens = %d, %d; want 1, 2", active, peak)
	}
	token(t, s)
	if active, _ := s.ActiveTokens(clientID); active != 2 {
		t.Errorf("after a new token: %d active, want 2", active)
	}
}

// AvailableSince reports the moment the status turned AVAILABLE, computed
// like the status itself, and nothing for endpoints that are not AVAILABLE.
func TestAvailableSince(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := start(t, options(clk))
	auth := token(t, s)
	a, b, c := "vpce-000000000000000c1", "vpce-000000000000000c2", "vpce-000000000000000c3"
	s.RejectFirst(c)
	created := clk.Now()
	for _, id := range []string{a, c} {
		send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+id+`"}`, auth)
	}
	clk.Advance(2*step - time.Nanosecond)
	if at, ok := s.AvailableSince(sid, a); ok {
		t.Errorf("still PENDING: AvailableSince = %v, true", at)
	}
	clk.Advance(time.Minute)
	if at, ok := s.AvailableSince(sid, a); !ok || !at.Equal(created.Add(2*step)) {
		t.Errorf("AvailableSince = %v, %v; want %v", at, ok, created.Add(2*step))
	}
	for _, id := range []string{c, b} { // rejected; never created
		if at, ok := s.AvailableSince(sid, id); ok {
			t.Errorf("%s: AvailableSince = %v, true", id, at)
		}
	}
	if _, ok := s.AvailableSince("5f00000000000000000000ff", a); ok {
		t.Error("unknown service: ok")
	}

	// Held in PENDING past its time: AVAILABLE from the release.
	s.HoldPending(true)
	send(t, s, http.MethodPost, v2Endpoints, v2Type, `{"id":"`+b+`"}`, auth)
	clk.Advance(time.Hour)
	if _, ok := s.AvailableSince(sid, b); ok {
		t.Error("held: ok")
	}
	released := clk.Now()
	s.HoldPending(false)
	clk.Advance(time.Second)
	if at, ok := s.AvailableSince(sid, b); !ok || !at.Equal(released) {
		t.Errorf("after the hold: AvailableSince = %v, %v; want %v", at, ok, released)
	}
}
