package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// A small soak without rate pressure passes, rejects exactly the chosen first
// registrations, and the handlers retry each once.
func TestSmallSoakPasses(t *testing.T) {
	cfg := defaults()
	cfg.n, cfg.reject = 20, 0.25
	cfg.capacity, cfg.refill = 1000, 1000
	cfg.step, cfg.pollInitial, cfg.pollMax = 10*time.Millisecond, 5*time.Millisecond, 50*time.Millisecond
	cfg.deadline = 30 * time.Second
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	rep := run(t.Context(), cfg, io.Discard)
	var out strings.Builder
	rep.print(&out)
	if f := rep.failures(); len(f) > 0 {
		t.Fatalf("failures: %v\n%s", f, out.String())
	}
	if rep.postsPerEP[1] != 15 || rep.postsPerEP[2] != 5 || rep.limited != 0 {
		t.Errorf("want 15 endpoints with 1 POST, 5 with 2, no 429s:\n%s", out.String())
	}
	if min, _ := rep.minimum(); rep.requests < min {
		t.Errorf("%d requests is below the claimed minimum %d", rep.requests, min)
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Errorf("no PASS in\n%s", out.String())
	}
}

// inspect counts a second POST without a DELETE in between as a duplicate,
// from the fake's request log alone.
func TestInspectFindsDuplicatePOST(t *testing.T) {
	srv := atlastest.NewServer(atlastest.Options{APIKeys: map[string]string{publicKey: privateKey}})
	defer srv.Close()
	c, err := atlas.NewClient(atlas.Config{BaseURL: srv.URL, ProjectID: srv.ProjectID()},
		atlas.Credentials{PublicKey: publicKey, PrivateKey: privateKey})
	if err != nil {
		t.Fatal(err)
	}
	id := endpointID(1)
	ctx := context.Background()
	if _, err := c.CreateInterfaceEndpoint(ctx, atlastest.DefaultServiceID, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateInterfaceEndpoint(ctx, atlastest.DefaultServiceID, id); !errors.Is(err, atlas.ErrConflict) {
		t.Fatalf("second POST: got %v, want a conflict", err)
	}
	rep := &report{cfg: config{n: 1}}
	rep.inspect(srv.Fake, []string{id})
	if len(rep.duplicates) != 1 || rep.conflicts != 1 {
		t.Errorf("duplicates %v, conflicts %d; want 1 and 1", rep.duplicates, rep.conflicts)
	}
}
