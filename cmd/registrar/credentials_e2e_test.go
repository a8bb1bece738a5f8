package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/localstack"
	"github.com/atlasvpce/registrar/internal/motoserver"
)

// signingRecorder sits in front of moto_server and notes the access key id
// each AWS request was signed with (moto accepts any), and its operation
// (X-Amz-Target; EC2's query protocol has none).
type signingRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	keys []string
	ops  map[string]int // by X-Amz-Target
}

var sigV4Credential = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func recordSigning(t *testing.T, target string) *signingRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &signingRecorder{ops: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		key := "unsigned"
		if m := sigV4Credential.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
			key = m[1]
		}
		r.mu.Lock()
		r.keys = append(r.keys, key)
		r.ops[req.Header.Get("X-Amz-Target")]++
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// count is how many requests had X-Amz-Target target.
func (r *signingRecorder) count(target string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[target]
}

func (r *signingRecorder) signedWith() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

// With SnapStart and on Lambda Managed Instances the function gets no
// AWS_ACCESS_KEY_ID: its credentials come from a container credential
// endpoint on loopback, with an authorization token. The real binary takes
// them from there, and registers the endpoint with them.
func TestE2EContainerCredentials(t *testing.T) {
	t.Parallel()
	creds := serveCredentials(t)
	moto := motoserver.Shared(t)
	aws := recordSigning(t, moto.URL)
	env := []string{"AWS_ENDPOINT_URL_EC2=" + aws.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + aws.URL, "AWS_ENDPOINT_URL_STS=" + aws.URL}
	for k, v := range creds.env() {
		env = append(env, k+"="+v)
	}
	s := startStack(t, localstack.Options{Env: env, Unset: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}})

	res := invoke(t, s, fixture(t, s, "create-vpc-endpoint.json"))
	if res.Outcome != handler.OutcomeRegistered || res.ConnectionStatus != atlas.StatusAvailable || res.VPCEndpointID != s.EndpointID {
		t.Fatalf("result %+v; want registered, AVAILABLE, %s", res, s.EndpointID)
	}

	// What the function was started with: no access key, the endpoint's URI and token.
	environ, err := s.FunctionEnviron()
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if (k == "AWS_ACCESS_KEY_ID" || k == "AWS_SECRET_ACCESS_KEY" || k == "AWS_SESSION_TOKEN") && v != "" {
			t.Errorf("the function was started with %s set", k)
		}
	}
	if !slices.Contains(environ, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+creds.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"]) {
		t.Errorf("the function was started without the credential endpoint's URI")
	}
	if creds.authorized.Load() == 0 || creds.refused.Load() != 0 {
		t.Errorf("the credential endpoint was asked %d times with its token and %d without; want at least once, and never without",
			creds.authorized.Load(), creds.refused.Load())
	}
	// Both calls (the secret, the endpoint) were signed with the endpoint's key.
	keys := slices.Compact(slices.Sorted(slices.Values(aws.signedWith())))
	if len(aws.signedWith()) < 2 || !slices.Equal(keys, []string{creds.accessKeyID}) {
		t.Errorf("AWS requests signed with %v, want at least two, all with %s", aws.signedWith(), creds.accessKeyID)
	}
}
