package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/handler"
	"github.com/atlasvpce/registrar/internal/motoserver"
	"github.com/atlasvpce/registrar/internal/testsupport"
)

// oneAtATime stands in for the emulator: it fails every request that
// arrives while another is in progress, as the emulator crashes on one.
type oneAtATime struct {
	busy, overlaps, served atomic.Int32
	hold                   time.Duration
}

func (b *oneAtATime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !b.busy.CompareAndSwap(0, 1) {
		b.overlaps.Add(1)
		http.Error(w, "overlapping invocation", http.StatusInternalServerError)
		return
	}
	defer b.busy.Store(0)
	body, _ := io.ReadAll(r.Body)
	time.Sleep(b.hold)
	b.served.Add(1)
	w.Header().Set("X-Path", r.URL.Path)
	_, _ = w.Write(append([]byte("echo "), body...))
}

func startQueue(t *testing.T, backend http.Handler, notify func(string)) *invokeQueue {
	t.Helper()
	be := httptest.NewServer(backend)
	t.Cleanup(be.Close)
	q, err := startInvokeQueue(be.URL, 10*time.Second, notify)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.close)
	return q
}

func TestInvokeQueueOneAtATime(t *testing.T) {
	t.Parallel()
	b := &oneAtATime{hold: 50 * time.Millisecond}
	var waits atomic.Int32
	q := startQueue(t, b, func(msg string) {
		if strings.Contains(msg, "waits its turn") {
			waits.Add(1)
		}
	})
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			payload := `{"n":` + string(rune('0'+i)) + `}`
			resp, err := http.Post(q.URL+InvokePath, "application/json", strings.NewReader(payload))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "echo "+payload || resp.Header.Get("X-Path") != InvokePath {
				errs <- errors.New(resp.Status + " " + string(body))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b.overlaps.Load() != 0 || b.served.Load() != n {
		t.Errorf("backend: %d overlapping, %d served; want 0 and %d", b.overlaps.Load(), b.served.Load(), n)
	}
	if waits.Load() == 0 {
		t.Error("no invocation was reported waiting")
	}
}

// A caller that gives up while waiting never reaches the emulator; one that
// gives up during its invocation does not free the turn before the emulator
// has answered.
func TestInvokeQueueCallerLeaves(t *testing.T) {
	t.Parallel()
	b := &oneAtATime{hold: 300 * time.Millisecond}
	q := startQueue(t, b, nil)
	post := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, q.URL+InvokePath, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	// The first caller leaves during its invocation.
	ctx1, cancel1 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel1()
	first := make(chan error, 1)
	go func() { first <- post(ctx1) }()
	time.Sleep(20 * time.Millisecond)
	// The second waits, then leaves before its turn.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := post(ctx2); err == nil {
		t.Error("the second caller got an answer before its turn")
	}
	if err := <-first; err == nil {
		t.Error("the first caller got an answer before the backend's hold ended")
	}
	// The third comes while the first invocation is still at the backend.
	if err := post(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.overlaps.Load() != 0 || b.served.Load() != 2 {
		t.Errorf("backend: %d overlapping, %d served; want 0 and 2 (the first and the third)", b.overlaps.Load(), b.served.Load())
	}
}

// Two overlapping invocations of the real function under the real emulator
// both succeed (without the queue the emulator panics on the second), and an
// explicit id reaches the function untouched.
func TestStackInvokes(t *testing.T) {
	t.Parallel()
	var queued atomic.Int32
	s, err := Start(context.Background(), Options{
		Bootstrap:         testsupport.Binary(t, "BOOTSTRAP", "../../bin/bootstrap"),
		RIE:               testsupport.Binary(t, "RIE", "../../bin/aws-lambda-rie"),
		Moto:              motoserver.Shared(t),
		PendingAcceptance: 200 * time.Millisecond,
		Pending:           200 * time.Millisecond,
		QueueLog:          func(string) { queued.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	payload, err := s.RewriteEvent([]byte(`{"vpcEndpointId":"vpce-0a1b2c3d4e5f60718"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]handler.Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			// A separate Info, as `make invoke` in another process has.
			info := s.Info
			body, err := info.Invoke(ctx, payload)
			if err == nil {
				err = json.Unmarshal(body, &results[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	outcomes := map[string]int{}
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("invoke %d: %v", i, errs[i])
		}
		outcomes[results[i].Outcome]++
	}
	if outcomes[handler.OutcomeRegistered] != 1 || outcomes[handler.OutcomeAlreadyRegistered] != 1 {
		t.Errorf("outcomes = %v, want one registered and one already-registered", outcomes)
	}
	if !s.Running() {
		t.Error("the emulator is not running after two overlapping invocations")
	}
	if queued.Load() != 1 {
		t.Errorf("queue reported %d waits, want 1", queued.Load())
	}

	// An explicit id that is no sample's reaches the function as it is: a
	// second endpoint of the same service is registered, not mistaken for the
	// seeded one (which would read already-registered).
	awsCfg, err := s.Moto.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := motoserver.CreateEndpoint(ctx, awsCfg, s.VPCID, s.SubnetIDs, s.EndpointServiceName, "Interface")
	if err != nil {
		t.Fatal(err)
	}
	payload, rewrites, err := s.RewriteSample([]byte(`{"vpcEndpointId":"` + mine + `"}`))
	if err != nil || len(rewrites) != 0 {
		t.Fatalf("RewriteSample: %v, rewrites %v", err, rewrites)
	}
	body, err := s.Invoke(ctx, payload)
	var res handler.Result
	if err != nil || json.Unmarshal(body, &res) != nil {
		t.Fatalf("invoke %s: %v %s", mine, err, body)
	}
	if res.Outcome != handler.OutcomeRegistered || res.VPCEndpointID != mine {
		t.Errorf("result = %s, want %s registered", body, mine)
	}
}
