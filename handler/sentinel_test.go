package handler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// scriptedAtlas answers each endpoint's GETs from a script, one status per
// GET, the last repeated; "" is a 404. It records the order of the GETs.
type scriptedAtlas struct {
	growingAtlas
	mu     sync.Mutex
	script map[string][]string
	gets   []string
}

func (s *scriptedAtlas) GetInterfaceEndpoint(_ context.Context, _, id string) (*atlas.InterfaceEndpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets = append(s.gets, id)
	st := s.script[id]
	status := st[0]
	if len(st) > 1 {
		s.script[id] = st[1:]
	}
	if status == "" {
		return nil, atlas.ErrNotFound
	}
	return &atlas.InterfaceEndpoint{ID: id, ConnectionStatus: status}, nil
}

func (s *scriptedAtlas) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.gets {
		if g == id {
			n++
		}
	}
	return n
}

// Only the sentinel of a service polls; the others poll once it sees
// AVAILABLE; a sentinel that fails hands over to the next; another service
// has a sentinel of its own.
func TestSentinelPolling(t *testing.T) {
	t.Parallel()
	const pending, avail = atlas.StatusPending, atlas.StatusAvailable
	api := &scriptedAtlas{script: map[string][]string{
		"vpce-00000000000000001": {""}, // the first sentinel: gone from Atlas
		"vpce-00000000000000002": {pending, pending, avail},
		"vpce-00000000000000003": {avail},
		"vpce-00000000000000004": {avail},
		"vpce-00000000000000005": {pending, pending, avail}, // another service
		"vpce-00000000000000006": {avail},
	}}
	h := New(Config{ProjectIDs: []string{"5f0000000000000000000001"}, MaxAttempts: 1, PollInitial: 5 * time.Millisecond, PollMax: 5 * time.Millisecond}, Deps{})
	var tasks []*task
	for i, id := range []string{"vpce-00000000000000001", "vpce-00000000000000002", "vpce-00000000000000003", "vpce-00000000000000004", "vpce-00000000000000005", "vpce-00000000000000006"} {
		svc := "5f00000000000000000000a1"
		if i >= 4 {
			svc = "5f00000000000000000000a2"
		}
		tk := h.newTask(api, h.cfg.ProjectIDs[0], svc, id, startPost)
		tk.attempts = 1
		tk.awaitSettled() // as after its POST, in this order
		tasks = append(tasks, tk)
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	drive(ctx, tasks)

	if _, ok := errors.AsType[*RegistrationFailedError](tasks[0].err); !ok {
		t.Errorf("the endpoint gone from Atlas: err = %v, want RegistrationFailedError", tasks[0].err)
	}
	for _, tk := range tasks[1:] {
		if !tk.done || tk.err != nil || tk.outcome != OutcomeRegistered {
			t.Errorf("%s: done %v, outcome %q, err %v", tk.endpointID, tk.done, tk.outcome, tk.err)
		}
	}
	want := map[string]int{"vpce-00000000000000001": 1, "vpce-00000000000000002": 3, "vpce-00000000000000003": 1, "vpce-00000000000000004": 1, "vpce-00000000000000005": 3, "vpce-00000000000000006": 1}
	for id, n := range want {
		if got := api.count(id); got != n {
			t.Errorf("%s: %d GETs, want %d (order %v)", id, got, n, api.gets)
		}
	}
	// The followers polled only after their sentinel saw AVAILABLE.
	lastOf := func(id string) int {
		i := -1
		for j, g := range api.gets {
			if g == id {
				i = j
			}
		}
		return i
	}
	first3 := slices.Index(api.gets, "vpce-00000000000000003")
	if first3 < lastOf("vpce-00000000000000002") || slices.Index(api.gets, "vpce-00000000000000006") < lastOf("vpce-00000000000000005") {
		t.Errorf("a follower polled before its sentinel saw AVAILABLE: %v", api.gets)
	}
}

// A burst registered together waits in one loop and costs one poll schedule
// and about one GET per endpoint, against the fake: here through reconcile,
// which drives every registration of a service in one loop.
func TestReconcileManyEndpointsTogether(t *testing.T) {
	t.Parallel()
	const n = 12
	hs := newHarness(t, harnessOptions{serviceName: uniqueServiceName(t), fake: atlastest.Options{PendingAcceptance: 100 * time.Millisecond, Pending: 100 * time.Millisecond}})
	for range n - 1 {
		hs.newEndpoint()
	}
	start := time.Now()
	res, err := hs.invoke([]byte(`{"action":"reconcile"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts[OutcomeRegistered] != n {
		t.Fatalf("counts = %v, want %d registered", res.Counts, n)
	}
	// One after another would take at least n × 200 ms.
	if took := time.Since(start); took > time.Duration(n)*200*time.Millisecond/2 {
		t.Errorf("took %s for %d endpoints: they did not wait together", took, n)
	}
	// 1 list, then per registration 1 POST; nothing deleted.
	if posts := hs.atlasCalls("post"); posts != n || hs.atlasCalls("list") != 1 || hs.atlasCalls("delete") != 0 {
		t.Errorf("posts %d, lists %d, deletes %d", posts, hs.atlasCalls("list"), hs.atlasCalls("delete"))
	}
	// The companion's GET, the sentinel's polls (200 ms with polls from 10 ms
	// growing ×1.5 to 40 ms: at most 9), then at most two GETs per other
	// endpoint (one when released, one more if its POST was a little later).
	// Every endpoint polling on its own would take about 8 each, 96 in all.
	if gets := hs.atlasCalls("get"); gets > 1+9+2*(n-1) {
		t.Errorf("GETs = %d, want at most %d", gets, 1+9+2*(n-1))
	}
}
