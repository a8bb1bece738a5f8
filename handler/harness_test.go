package handler

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/emf"
	"github.com/atlasvpce/registrar/internal/motoserver"
	"github.com/atlasvpce/registrar/internal/proc"
)

func TestMain(m *testing.M) { os.Exit(motoserver.Main(m)) }

// Known credential values, so tests can prove they never leak.
const (
	testPublicKey    = "pubkey-harness-7c1e"
	testPrivateKey   = "PRIVATE-d41d8cd98f00b204e9800998ecf8427e"
	testClientID     = "mdb_sa_id_harness_0b2c"
	testClientSecret = "mdb_sa_sk_SECRET-3a7bd3e2360a3d29eea436fcfb7e44c7"
)

var secretValues = []string{testPrivateKey, testClientSecret}

// harness wires a Handler to the real AWS SDK clients talking to moto_server
// and to an Atlas fake, the same way cmd/registrar does for Lambda.
type harness struct {
	t       *testing.T
	h       *Handler
	cfg     Config
	fake    *atlastest.Server
	moto    *motoserver.Server
	awsCfg  aws.Config
	aws     *awsRecorder
	seeded  *motoserver.Seeded
	logs    *proc.Buffer
	ec2     awsvpc.EC2API // what the handler's lookup calls; tests may wrap it
	network awsvpc.NetworkAPI
	metrics *syncBuffer // the EMF lines, one per invocation

	serviceName   string // of the fake's service and the seeded endpoint
	liveCompanion string // the live companion's id, if harnessOptions.liveCompanion
}

type harnessOptions struct {
	version    atlas.Version
	oauth      bool
	fake       atlastest.Options
	secretJSON *string // nil: valid credentials for the auth kind
	config     func(*Config)
	wrapEC2    func(awsvpc.EC2API) awsvpc.EC2API
	timeout    time.Duration // per Atlas HTTP request; default 2s
	// alone leaves the fake's service without the AVAILABLE companion endpoint
	// that otherwise lets the guard allow deletes: the registered endpoint is
	// then the service's last.
	alone bool
	// registered lists the seeded VPC endpoint in the fake's service, AVAILABLE.
	registered bool
	// liveCompanion adds a second VPC endpoint in moto, AVAILABLE in the
	// fake's service: a companion the guard can see is live on both sides.
	liveCompanion bool
	// serviceName replaces the default service name on both sides. Tests
	// that list endpoints by service name (reconcile) need their own, since
	// they share one moto_server.
	serviceName string
	// accounts wires the real awsvpc.Accounts on moto (STS included), as
	// the function ships; sts replaces its STS client when set.
	accounts bool
	sts      awsvpc.STSAPI
}

// companionID is an AVAILABLE endpoint the fake's service holds by default, so
// that deleting a failed registration cannot remove the service.
const companionID = "vpce-0c0000000000000c1"

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	moto := motoserver.Shared(t)
	rec := &awsRecorder{client: &http.Client{Timeout: 10 * time.Second}, ops: map[string]int{}}
	awsCfg, err := moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg.HTTPClient = rec

	secret := `{"publicKey":"` + testPublicKey + `","privateKey":"` + testPrivateKey + `"}`
	if o.oauth {
		secret = `{"client_id":"` + testClientID + `","client_secret":"` + testClientSecret + `"}`
	}
	if o.secretJSON != nil {
		secret = *o.secretJSON
	}
	secretName := motoserver.UniqueName("atlas/" + regexp.MustCompile(`[^A-Za-z0-9/_+=.@-]`).ReplaceAllString(t.Name(), "-"))
	serviceName := cmp.Or(o.serviceName, atlastest.DefaultEndpointServiceName)
	seeded, err := motoserver.Seed(ctx, awsCfg, motoserver.SeedInput{
		ServiceName: serviceName,
		SecretName:  secretName,
		SecretJSON:  secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	var live string
	if o.liveCompanion {
		if live, err = motoserver.CreateEndpoint(ctx, awsCfg, seeded.VPCID, seeded.SubnetIDs, serviceName, "Interface"); err != nil {
			t.Fatal(err)
		}
	}
	rec.reset() // count only what the handler does

	fo := o.fake
	if fo.PendingAcceptance == 0 {
		fo.PendingAcceptance = 15 * time.Millisecond
	}
	if fo.Pending == 0 {
		fo.Pending = 15 * time.Millisecond
	}
	if fo.DeleteDelay == 0 {
		fo.DeleteDelay = 15 * time.Millisecond
	}
	if fo.Services == nil {
		svc := atlas.EndpointService{ID: atlastest.DefaultServiceID, EndpointServiceName: serviceName}
		if !o.alone {
			svc.InterfaceEndpoints = append(svc.InterfaceEndpoints, companionID)
		}
		if o.registered {
			svc.InterfaceEndpoints = append(svc.InterfaceEndpoints, seeded.EndpointID)
		}
		if live != "" {
			svc.InterfaceEndpoints = append(svc.InterfaceEndpoints, live)
		}
		fo.Services = []atlas.EndpointService{svc}
	}
	fo.APIKeys = map[string]string{testPublicKey: testPrivateKey}
	fo.Clients = map[string]string{testClientID: testClientSecret}
	fake := atlastest.NewServer(fo)
	t.Cleanup(fake.Close)

	cfg := Config{
		ProjectIDs:     []string{fake.ProjectID()},
		SecretID:       seeded.SecretARN,
		BaseURL:        fake.URL,
		APIVersion:     o.version,
		MaxAttempts:    3,
		PollInitial:    10 * time.Millisecond,
		PollMax:        40 * time.Millisecond,
		CredentialsTTL: time.Hour,
		DeadlineMargin: 100 * time.Millisecond,
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = atlas.V2
	}
	if o.config != nil {
		o.config(&cfg)
	}

	hs := &harness{t: t, cfg: cfg, fake: fake, moto: moto, awsCfg: awsCfg, aws: rec, seeded: seeded, logs: &proc.Buffer{}, serviceName: serviceName, liveCompanion: live, metrics: &syncBuffer{}}
	hs.ec2 = ec2.NewFromConfig(awsCfg)
	hs.network = ec2.NewFromConfig(awsCfg)
	if o.wrapEC2 != nil {
		hs.ec2 = o.wrapEC2(hs.ec2)
	}
	logger := slog.New(slog.NewJSONHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	metrics, err := emf.New(hs.metrics, DefaultMetricsNamespace)
	if err != nil {
		t.Fatal(err)
	}
	var accounts AccountLookups
	if o.accounts {
		cfg.Region = awsCfg.Region
		stsAPI := o.sts
		if stsAPI == nil {
			stsAPI = sts.NewFromConfig(awsCfg)
		}
		accounts = lookupsOf{&awsvpc.Accounts{Config: awsCfg, STS: stsAPI, RoleName: DefaultMemberRoleName, NotFoundWait: 3 * time.Second}}
	}
	hs.h = New(cfg, Deps{
		Endpoints: &awsvpc.Endpoints{EC2: hs.ec2, Network: hs.network, NotFoundWait: 3 * time.Second},
		Accounts:  accounts,
		Secrets:   &awsvpc.Secrets{SM: secretsmanager.NewFromConfig(awsCfg)},
		NewAtlas: func(c atlas.Credentials, project string) (AtlasAPI, error) {
			return atlas.NewClient(atlas.Config{
				BaseURL: cfg.BaseURL, Version: cfg.APIVersion, ProjectID: project,
				Timeout:   cmp.Or(o.timeout, 2*time.Second),
				Retry:     atlas.RetryPolicy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, MaxTries: 4},
				OnRetry:   RetryLogger(logger, project),
				OnRequest: CountAtlasRequest,
			}, c)
		},
		Logger:  logger,
		Metrics: metrics,
	})
	return hs
}

// lookupsOf gives the handler awsvpc.Accounts' lookups, as cmd/registrar does.
type lookupsOf struct{ *awsvpc.Accounts }

func (a lookupsOf) Lookup(ctx context.Context, account, region string) (EndpointLookup, error) {
	e, err := a.Endpoints(ctx, account, region)
	if err != nil {
		return nil, err
	}
	return e, nil
}

func readEvent(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// event returns events/create-vpc-endpoint.json with the seeded endpoint's id.
func (hs *harness) event() []byte {
	b := readEvent(hs.t, "create-vpc-endpoint.json")
	return bytes.ReplaceAll(b, []byte("vpce-0a1b2c3d4e5f60718"), []byte(hs.seeded.EndpointID))
}

// invoke runs one invocation with a Lambda-like deadline.
func (hs *harness) invoke(payload []byte, timeout time.Duration) (*Result, error) {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return hs.h.Handle(ctx, payload)
}

// atlasCalls counts authenticated Atlas requests of one kind: list, service, get, post, delete.
// Digest's 401 challenges are not counted here; rawAtlasRequests counts everything.
func (hs *harness) atlasCalls(kind string) int {
	n := 0
	for _, r := range hs.fake.Requests() {
		if r.Authenticated && classify(r) == kind {
			n++
		}
	}
	return n
}

func (hs *harness) atlasWrites() int { return hs.atlasCalls("post") + hs.atlasCalls("delete") }

func classify(r atlastest.Request) string {
	switch {
	case strings.HasPrefix(r.Path, "/api/oauth/"):
		return "token"
	case r.Method == http.MethodPost:
		return "post"
	case r.Method == http.MethodDelete:
		return "delete"
	case r.Method == http.MethodGet && strings.Contains(r.Path, "/vpce-"):
		return "get"
	case r.Method == http.MethodGet && servicePath.MatchString(r.Path):
		return "service"
	case r.Method == http.MethodGet:
		return "list"
	}
	return "other"
}

// servicePath matches one endpoint service, v2 or v1.0.
var servicePath = regexp.MustCompile(`/privateEndpoint/(AWS/endpointService/)?[0-9a-f]{24}$`)

// checkNoSecrets fails if any known secret value appears in s.
func checkNoSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, v := range secretValues {
		if strings.Contains(s, v) {
			t.Errorf("%s contains a secret value", where)
		}
	}
}

// logLines decodes the JSON log lines written so far.
func (hs *harness) logLines() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(hs.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			hs.t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// awsRecorder is the AWS SDK's HTTP client with a count of calls per operation
// (X-Amz-Target for JSON protocols, Action for EC2's query protocol).
type awsRecorder struct {
	client *http.Client
	mu     sync.Mutex
	ops    map[string]int
	faults map[string][]awsFault // by operation, used in order
}

// awsFault is a canned AWS error response for one call of an operation.
type awsFault struct {
	status int
	header map[string]string
	body   string
}

func (r *awsRecorder) inject(op string, f awsFault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.faults == nil {
		r.faults = map[string][]awsFault{}
	}
	r.faults[op] = append(r.faults[op], f)
}

func (r *awsRecorder) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndex(op, "."); i >= 0 {
		op = op[i+1:]
	}
	if op == "" && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		if m := regexp.MustCompile(`Action=([A-Za-z]+)`).FindSubmatch(body); m != nil {
			op = string(m[1])
		}
	}
	r.mu.Lock()
	r.ops[op]++
	var fault *awsFault
	if fs := r.faults[op]; len(fs) > 0 {
		fault, r.faults[op] = &fs[0], fs[1:]
	}
	r.mu.Unlock()
	if fault != nil {
		h := http.Header{}
		for k, v := range fault.header {
			h.Set(k, v)
		}
		return &http.Response{
			StatusCode: fault.status, Status: http.StatusText(fault.status), Header: h,
			Body: io.NopCloser(strings.NewReader(fault.body)), Request: req,
			ContentLength: int64(len(fault.body)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		}, nil
	}
	return r.client.Do(req)
}

func (r *awsRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ops)
}

func (r *awsRecorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[op]
}

// snapshot is the requests so far, by operation.
func (r *awsRecorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.ops)
}

func (r *awsRecorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.ops {
		n += c
	}
	return n
}
