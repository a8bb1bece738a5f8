package handler

import (
	"bytes"
	"context"
	"github.com/atlasvpce/registrar/handler/event"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/emf"
)

// benchLookup stands in for EC2: every endpoint is an Interface endpoint for
// the fake's endpoint service.
type benchLookup struct{ lookupOnly }

var _ EndpointLookup = benchLookup{}

func (benchLookup) LookupEndpoint(_ context.Context, id string) (*awsvpc.Endpoint, error) {
	return &awsvpc.Endpoint{
		ID: id, VPCID: "vpc-0b0000000000000b1", ServiceName: atlastest.DefaultEndpointServiceName,
		State: "pendingAcceptance", Type: "Interface", SubnetIDs: []string{"subnet-0b0000000000000b1"},
	}, nil
}

// benchSecrets stands in for Secrets Manager.
type benchSecrets struct{}

var _ SecretSource = benchSecrets{}

func (benchSecrets) SecretJSON(context.Context, string) ([]byte, error) {
	return []byte(`{"public_key":"` + testPublicKey + `","private_key":"` + testPrivateKey + `"}`), nil
}

// eventTemplate splits the create-vpc-endpoint fixture around its endpoint id,
// so an iteration can put a fresh id in without reformatting the event.
func eventTemplate(tb testing.TB) [][]byte {
	tb.Helper()
	ev := readEvent(tb, "create-vpc-endpoint.json")
	req, err := event.Parse(ev)
	if err != nil || req.EndpointID == "" {
		tb.Fatalf("fixture: %v", err)
	}
	return bytes.Split(ev, []byte(req.EndpointID))
}

// appendEndpointID appends vpce- and i as 17 hex digits.
func appendEndpointID(b []byte, i uint64) []byte {
	b = append(b, "vpce-"...)
	var hex [17]byte
	for k := len(hex) - 1; k >= 0; k-- {
		hex[k] = "0123456789abcdef"[i&0xf]
		i >>= 4
	}
	return append(b, hex[:]...)
}

// BenchmarkHandle measures one registration in a warm container: the secret
// and the endpoint service list are cached, and the Atlas fake (on loopback,
// digest auth, no status delays) answers GET 404, POST, then AVAILABLE on the
// first poll. The figures include the client's and the fake's HTTP work in
// this process (6 round trips: 3 calls, each with digest's 401 challenge), the
// JSON outcome log line, and the metrics line with its count of requests.
func BenchmarkHandle(b *testing.B) {
	fake := atlastest.NewServer(atlastest.Options{
		APIKeys:           map[string]string{testPublicKey: testPrivateKey},
		PendingAcceptance: -1, Pending: -1, DeleteDelay: -1,
		// The cleaner below deletes each registration, the service's only
		// endpoint: the service must outlive it.
		KeepEmptyServices: true,
	})
	defer fake.Close()
	atlasCfg := atlas.Config{BaseURL: fake.URL, Version: atlas.V2, ProjectID: fake.ProjectID(), OnRequest: CountAtlasRequest}
	metrics, err := emf.New(io.Discard, DefaultMetricsNamespace)
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{
		ProjectIDs: []string{fake.ProjectID()}, SecretID: "atlas/registrar", BaseURL: fake.URL, APIVersion: atlas.V2,
		MaxAttempts: 3, PollInitial: time.Millisecond, PollMax: time.Millisecond,
		CredentialsTTL: time.Hour, DeadlineMargin: time.Second,
	}, Deps{
		Endpoints: benchLookup{},
		Secrets:   benchSecrets{},
		NewAtlas: func(c atlas.Credentials, project string) (AtlasAPI, error) {
			return atlas.NewClient(atlasCfg, c)
		},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Metrics: metrics,
	})
	// A client of our own removes each registered endpoint outside the timer,
	// so the fake's state (which it scans per request) stays the same size.
	cleaner, err := atlas.NewClient(atlas.Config{BaseURL: fake.URL, Version: atlas.V2, ProjectID: fake.ProjectID()},
		atlas.Credentials{PublicKey: testPublicKey, PrivateKey: testPrivateKey})
	if err != nil {
		b.Fatal(err)
	}
	parts := eventTemplate(b)
	var payload, id []byte
	register := func(ctx context.Context, i uint64) {
		id = appendEndpointID(id[:0], i)
		payload = append(payload[:0], parts[0]...)
		for _, p := range parts[1:] {
			payload = append(append(payload, id...), p...)
		}
		res, err := h.Handle(ctx, payload)
		if err != nil {
			b.Fatal(err)
		}
		if res.Outcome != OutcomeRegistered || res.Attempts != 1 {
			b.Fatalf("outcome %s after %d attempts, want %s after 1", res.Outcome, res.Attempts, OutcomeRegistered)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	register(ctx, 0) // warm the container: secret, client, service list, connections
	if err := cleaner.DeleteInterfaceEndpoint(ctx, atlastest.DefaultServiceID, string(id)); err != nil {
		b.Fatal(err)
	}
	fake.ResetRequests()

	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		register(ctx, i)
		b.StopTimer()
		if err := cleaner.DeleteInterfaceEndpoint(ctx, atlastest.DefaultServiceID, string(id)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	// What the handler sent (the cleaner's DELETEs aside), per registration.
	var sent, lists int
	for _, r := range fake.Requests() {
		if r.Method == http.MethodDelete {
			continue
		}
		sent++
		if strings.HasSuffix(r.Path, "/endpointService") {
			lists++
		}
	}
	if lists != 0 {
		b.Fatalf("%d endpoint service lists in a warm container, want 0", lists)
	}
	b.ReportMetric(float64(sent)/float64(b.N), "http-requests/op")
}
