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
	"github.com/atlasvpce/registrar/internal/proc"
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
	q, err := startInvokeQueue(be.URL, 10*time.Second, notify, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.close)
	return q
}

func TestInvokeQueueOneAtATime(t *testing.T) {
	t.Parallel()
	b := &oneAtATime{hold: 50 * time.Millisecond}
	var waits, told atomic.Int32
	q := startQueue(t, b, func(msg string) {
		if strings.HasPrefix(msg, "queued behind a running invocation (") {
			waits.Add(1)
		}
	})
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			payload := `{"n":` + string(rune('0'+i)) + `}`
			ctx := OnQueued(context.Background(), func() { told.Add(1) })
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, q.URL+InvokePath, strings.NewReader(payload))
			resp, err := http.DefaultClient.Do(req)
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
	// The console and the waiting caller both hear of each wait.
	if waits.Load() == 0 || told.Load() != waits.Load() {
		t.Errorf("%d invocations reported waiting on the console, %d to their caller; want some, the same", waits.Load(), told.Load())
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
// both succeed (without the queue the emulator panics on the second), each
// answer comes after the function's output for it, and an explicit id
// reaches the function untouched.
func TestStackInvokes(t *testing.T) {
	t.Parallel()
	var queued, noReport atomic.Int32
	var out proc.Buffer
	s, err := Start(context.Background(), Options{
		FunctionLog:       &out,
		Bootstrap:         testsupport.Binary(t, "BOOTSTRAP", "../../bin/bootstrap"),
		RIE:               testsupport.Binary(t, "RIE", "../../bin/aws-lambda-rie"),
		Moto:              motoserver.Shared(t),
		PendingAcceptance: 200 * time.Millisecond,
		Pending:           200 * time.Millisecond,
		QueueLog: func(msg string) {
			if strings.Contains(msg, "no REPORT line") {
				noReport.Add(1)
			} else {
				queued.Add(1)
			}
		},
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
			if want := `"outcome":"` + results[i].Outcome + `"`; err == nil && !strings.Contains(out.String(), want) {
				err = errors.New("the answer came before the function's line with " + want)
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
	if queued.Load() != 1 || noReport.Load() != 0 {
		t.Errorf("queue reported %d waits and %d missing REPORT lines, want 1 and 0", queued.Load(), noReport.Load())
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

// reportCounter counts whole lines that start with the REPORT prefix,
// however the writes cut them.
func TestReportCounter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		want   int
	}{
		{"one line", []string{"REPORT RequestId: a\tDuration: 1 ms\n"}, 1},
		{"cut inside the prefix", []string{"START RequestId: a\nREP", "ORT Req", "uestId: a\n"}, 1},
		{"two in one write", []string{"REPORT RequestId: a\nEND RequestId: b\nREPORT RequestId: b\n"}, 2},
		{"not at a line's start", []string{`{"msg":"REPORT RequestId: a"}` + "\n", "x REPORT RequestId: b\n"}, 0},
		{"function output only", []string{"END RequestId: a\n", "REPORT\n", "REPORT Request\n"}, 0},
		{"a line without its newline yet", []string{"REPORT RequestId: a"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newReportCounter()
			for _, w := range tt.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := c.count(); got != tt.want {
				t.Errorf("count() = %d, want %d", got, tt.want)
			}
		})
	}
}

// The emulator can answer before the function's output for that invocation
// has been read from its pipe. The queue passes the answer on only after
// the invocation's REPORT line, which follows that output, so a caller
// finds the whole output in FunctionLog.
func TestInvokeQueueWaitsForTheReportLine(t *testing.T) {
	t.Parallel()
	reports := newReportCounter()
	var log proc.Buffer
	out := io.MultiWriter(&log, reports) // as the emulator's stdout is wired
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`"done"`))
		// The output arrives after the answer has gone.
		go func() {
			time.Sleep(200 * time.Millisecond)
			_, _ = io.WriteString(out, "{\"msg\":\"the function's line\"}\nEND RequestId: a\nREPORT RequestId: a\tDuration: 1 ms\n")
		}()
	})
	be := httptest.NewServer(backend)
	t.Cleanup(be.Close)
	var notes []string
	var mu sync.Mutex
	q, err := startInvokeQueue(be.URL, 10*time.Second, func(m string) { mu.Lock(); notes = append(notes, m); mu.Unlock() }, reports)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.close)
	resp, err := http.Post(q.URL+InvokePath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !strings.Contains(log.String(), "the function's line") {
		t.Errorf("the answer came before the function's output; the log holds %q", log.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 0 {
		t.Errorf("queue notes %q, want none", notes)
	}
}
