package handler

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
)

// stubLookup answers every endpoint as an Interface endpoint for one service name.
type stubLookup map[string]string // endpoint id -> service name

func (s stubLookup) LookupEndpoint(_ context.Context, id string) (*awsvpc.Endpoint, error) {
	name, ok := s[id]
	if !ok {
		return nil, awsvpc.ErrEndpointNotFound
	}
	return &awsvpc.Endpoint{ID: id, VPCID: "vpc-1", ServiceName: name, Type: "Interface", State: "available", SubnetIDs: []string{"subnet-1"}}, nil
}

func (s stubLookup) DescribeEndpoint(ctx context.Context, id string) (*awsvpc.Endpoint, error) {
	return s.LookupEndpoint(ctx, id)
}

func (stubLookup) ServiceEndpoints(context.Context, string, ...string) ([]awsvpc.Endpoint, error) {
	return nil, errors.New("stub: ServiceEndpoints not expected")
}

func (stubLookup) DescribeNetwork(context.Context, []string, []string) (*awsvpc.Network, error) {
	return &awsvpc.Network{}, nil // describes nothing, so judges nothing
}

// lookupOnly supplies the EndpointLookup methods that a stub made for
// registrations does not expect to be called.
type lookupOnly struct{}

func (lookupOnly) DescribeEndpoint(context.Context, string) (*awsvpc.Endpoint, error) {
	return nil, errors.New("stub: DescribeEndpoint not expected")
}

func (lookupOnly) ServiceEndpoints(context.Context, string, ...string) ([]awsvpc.Endpoint, error) {
	return nil, errors.New("stub: ServiceEndpoints not expected")
}

func (lookupOnly) DescribeNetwork(context.Context, []string, []string) (*awsvpc.Network, error) {
	return &awsvpc.Network{}, nil // describes nothing, so judges nothing
}

type stubSecrets struct {
	calls   int
	private string // the private key; "" is "k"
}

func (s *stubSecrets) SecretJSON(context.Context, string) ([]byte, error) {
	s.calls++
	return []byte(`{"publicKey":"p","privateKey":"` + cmp.Or(s.private, "k") + `"}`), nil
}

// growingAtlas lists one more endpoint service on each list call, as a project
// does when someone adds a service while the container is warm. Endpoints
// become AVAILABLE as soon as they are posted.
type growingAtlas struct {
	noFederation
	mu        sync.Mutex
	services  []atlas.EndpointService
	lists     int
	endpoints map[string]bool
}

func (g *growingAtlas) ListEndpointServices(context.Context) ([]atlas.EndpointService, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lists++
	return g.services[:min(g.lists, len(g.services))], nil
}

func (g *growingAtlas) GetInterfaceEndpoint(_ context.Context, _, id string) (*atlas.InterfaceEndpoint, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.endpoints[id] {
		return nil, &atlas.ErrorResponse{StatusCode: 404}
	}
	return &atlas.InterfaceEndpoint{ID: id, ConnectionStatus: atlas.StatusAvailable}, nil
}

func (g *growingAtlas) CreateInterfaceEndpoint(_ context.Context, _, id string) (*atlas.InterfaceEndpoint, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endpoints[id] = true
	return &atlas.InterfaceEndpoint{ID: id, ConnectionStatus: atlas.StatusPendingAcceptance}, nil
}

func (g *growingAtlas) DeleteInterfaceEndpoint(context.Context, string, string) error { return nil }

func (g *growingAtlas) GetEndpointService(_ context.Context, id string) (*atlas.EndpointService, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.services {
		if s.ID == id {
			return &s, nil
		}
	}
	return nil, atlas.ErrNotFound
}

var _ AtlasAPI = (*growingAtlas)(nil)

// noFederation is an AtlasAPI's Data Federation part for fakes that serve
// cluster endpoints only: any call is a test failure's cause, not a result.
type noFederation struct{}

var errNoFederation = errors.New("stub: Data Federation not expected")

func (noFederation) ListDataFederationEndpoints(context.Context) ([]atlas.DataFederationEndpoint, error) {
	return nil, errNoFederation
}

func (noFederation) GetDataFederationEndpoint(context.Context, string) (*atlas.DataFederationEndpoint, error) {
	return nil, errNoFederation
}

func (noFederation) CreateDataFederationEndpoint(context.Context, atlas.DataFederationEndpoint) (*atlas.DataFederationEndpoint, error) {
	return nil, errNoFederation
}

func (noFederation) DeleteDataFederationEndpoint(context.Context, string) error {
	return errNoFederation
}

// The service list is cached per container, and a name it lacks refreshes it
// once before the endpoint is declared not meant for Atlas.
func TestServiceCacheRefreshesOnceOnMiss(t *testing.T) {
	t.Parallel()
	const svcA, svcB = "com.amazonaws.vpce.us-east-1.vpce-svc-0aaaaaaaaaaaaaaaa", "com.amazonaws.vpce.us-east-1.vpce-svc-0bbbbbbbbbbbbbbbb"
	api := &growingAtlas{
		services: []atlas.EndpointService{
			{ID: "5f00000000000000000000a1", EndpointServiceName: svcA},
			{ID: "5f00000000000000000000b2", EndpointServiceName: svcB},
		},
		endpoints: map[string]bool{},
	}
	secrets := &stubSecrets{}
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}, MaxAttempts: 1, PollInitial: time.Millisecond, PollMax: time.Millisecond, CredentialsTTL: time.Hour}, Deps{
		Endpoints: stubLookup{"vpce-0000000000000000a": svcA, "vpce-0000000000000000b": svcB, "vpce-0000000000000000c": "com.amazonaws.us-east-1.s3"},
		Secrets:   secrets,
		NewAtlas:  func(atlas.Credentials, string) (AtlasAPI, error) { return api, nil },
	})
	steps := []struct {
		id          string
		wantOutcome string
		wantService string
		wantLists   int
	}{
		{"vpce-0000000000000000a", OutcomeRegistered, "5f00000000000000000000a1", 1}, // cold: one list
		{"vpce-0000000000000000a", OutcomeAlreadyRegistered, "5f00000000000000000000a1", 1},
		{"vpce-0000000000000000b", OutcomeRegistered, "5f00000000000000000000b2", 2}, // miss: refreshed, found
		{"vpce-0000000000000000b", OutcomeAlreadyRegistered, "5f00000000000000000000b2", 2},
		{"vpce-0000000000000000c", OutcomeIgnored, "", 3}, // miss: refreshed once, still absent
	}
	for _, s := range steps {
		res, err := h.Handle(context.Background(), []byte(`{"vpcEndpointId":"`+s.id+`"}`))
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		if res.Outcome != s.wantOutcome || res.EndpointServiceID != s.wantService || api.lists != s.wantLists {
			t.Errorf("%s: outcome %q service %q after %d lists; want %q %q after %d",
				s.id, res.Outcome, res.EndpointServiceID, api.lists, s.wantOutcome, s.wantService, s.wantLists)
		}
	}
	if secrets.calls != 1 {
		t.Errorf("secret fetched %d times, want 1 for a warm container", secrets.calls)
	}
}

// Cached credentials expire after the TTL, so a rotated secret is picked up
// even by a container that never sees a 401.
func TestCredentialsExpireAfterTTL(t *testing.T) {
	t.Parallel()
	const svc = "com.amazonaws.vpce.us-east-1.vpce-svc-0aaaaaaaaaaaaaaaa"
	api := &growingAtlas{services: []atlas.EndpointService{{ID: "5f00000000000000000000a1", EndpointServiceName: svc}}, endpoints: map[string]bool{}}
	secrets := &stubSecrets{}
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	built := 0
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}, MaxAttempts: 1, PollInitial: time.Millisecond, PollMax: time.Millisecond, CredentialsTTL: 15 * time.Minute}, Deps{
		Endpoints: stubLookup{"vpce-0000000000000000a": svc},
		Secrets:   secrets,
		NewAtlas:  func(atlas.Credentials, string) (AtlasAPI, error) { built++; return api, nil },
		Now:       func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
	})
	// The clients are built again only when the secret changed: a new client
	// would fetch a new service-account token while the old one stays active.
	for _, step := range []struct {
		advance    time.Duration
		rotate     string
		wantCalls  int
		wantBuilds int
	}{{0, "", 1, 1}, {14 * time.Minute, "", 1, 1}, {2 * time.Minute, "", 2, 1}, {16 * time.Minute, "k2", 3, 2}, {time.Minute, "", 3, 2}} {
		mu.Lock()
		now = now.Add(step.advance)
		mu.Unlock()
		if step.rotate != "" {
			secrets.private = step.rotate
		}
		if _, err := h.Handle(context.Background(), []byte(`{"vpcEndpointId":"vpce-0000000000000000a"}`)); err != nil {
			t.Fatal(err)
		}
		if secrets.calls != step.wantCalls || built != step.wantBuilds {
			t.Errorf("after +%s: secret fetched %d times, clients built %d times; want %d and %d", step.advance, secrets.calls, built, step.wantCalls, step.wantBuilds)
		}
	}
}

// slowLookup blocks until the caller's deadline, as an EC2 lookup still
// waiting out eventual consistency does.
type slowLookup struct{ lookupOnly }

func (slowLookup) LookupEndpoint(ctx context.Context, _ string) (*awsvpc.Endpoint, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestDeadlineDuringLookup(t *testing.T) {
	t.Parallel()
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}, MaxAttempts: 1, PollInitial: time.Millisecond, PollMax: time.Millisecond, DeadlineMargin: 100 * time.Millisecond}, Deps{
		Endpoints: slowLookup{},
		Secrets:   &stubSecrets{},
		NewAtlas: func(atlas.Credentials, string) (AtlasAPI, error) {
			t.Fatal("Atlas must not be reached")
			return nil, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	_, err := h.Handle(ctx, []byte(`{"vpcEndpointId":"vpce-0000000000000000a"}`))
	if de, ok := errors.AsType[*DeadlineError](err); !ok || de.Phase != "the EC2 lookup" {
		t.Fatalf("Handle() error = %v, want a DeadlineError during the EC2 lookup", err)
	}
	if ctx.Err() != nil {
		t.Error("the handler used up the margin kept for reporting")
	}
}

// A container that refreshes unchanged credentials keeps its service-account
// token: against the fake, two invocations a TTL apart ask for one token.
func TestUnchangedSecretKeepsTheToken(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{oauth: true, registered: true, config: func(c *Config) { c.CredentialsTTL = time.Millisecond }})
	for range 2 {
		if _, err := hs.invoke(hs.event(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := hs.aws.count("GetSecretValue"); n != 2 {
		t.Errorf("secret fetched %d times, want 2 (the TTL passed)", n)
	}
	if n := hs.atlasCalls("token"); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
