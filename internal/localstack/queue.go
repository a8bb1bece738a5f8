package localstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// invokeQueue fronts the emulator's invoke API and hands it one invocation
// at a time. The emulator, like a Lambda execution environment, runs one
// invocation at a time; unlike Lambda it does not start a second environment
// for an overlapping one but crashes (a nil pointer panic), and the stack goes
// down with it. Every caller (Stack.Invoke, `make invoke` in another process,
// a curl) goes through the queue, so an overlapping invocation waits its turn.
type invokeQueue struct {
	URL string // http://127.0.0.1:PORT, serving the emulator's paths

	target string        // the emulator's base URL
	turn   chan struct{} // holds a token while an invocation is with the emulator
	client *http.Client
	notify func(string) // optional: told when an invocation has to wait
	// reports, if set, counts the emulator's REPORT lines: an answer is
	// passed on once the function's output for it has been read.
	reports *reportCounter
	srv     *http.Server
	served  chan struct{}

	mu      sync.Mutex
	waiting int // invocations waiting for their turn
}

// startInvokeQueue serves the queue on a free loopback port. forwardTimeout
// bounds one invocation at the emulator, which itself ends a run at the
// function timeout; it only matters if the emulator hangs. reports may be nil.
func startInvokeQueue(target string, forwardTimeout time.Duration, notify func(string), reports *reportCounter) (*invokeQueue, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("invoke queue: listen: %w", err)
	}
	q := &invokeQueue{
		URL:     "http://" + ln.Addr().String(),
		target:  target,
		turn:    make(chan struct{}, 1),
		client:  &http.Client{Timeout: forwardTimeout},
		notify:  notify,
		reports: reports,
		served:  make(chan struct{}),
	}
	q.srv = &http.Server{Handler: q, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(q.served)
		_ = q.srv.Serve(ln) // http.ErrServerClosed after close
	}()
	return q, nil
}

// ServeHTTP forwards one request to the emulator when it is its turn.
func (q *invokeQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the payload first, so that a slow sender does not hold the turn.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponse+1))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxResponse {
		http.Error(w, fmt.Sprintf("request larger than %d bytes", maxResponse), http.StatusRequestEntityTooLarge)
		return
	}

	select {
	case q.turn <- struct{}{}:
	default:
		q.mu.Lock()
		q.waiting++
		n := q.waiting
		q.mu.Unlock()
		if q.notify != nil {
			q.notify(fmt.Sprintf("%s (%d waiting)", QueuedNotice, n))
		}
		// Tell the caller too, before the answer: an informational
		// response, which curl passes over and OnQueued reports.
		w.WriteHeader(StatusQueued)
		select {
		case q.turn <- struct{}{}:
		case <-r.Context().Done():
			// Gone before its turn: it never reaches the emulator.
		}
		q.mu.Lock()
		q.waiting--
		q.mu.Unlock()
		if r.Context().Err() != nil {
			return
		}
	}
	before := q.reportCount()
	status, header, respBody, err := q.forward(r, body)
	if err == nil && status == http.StatusOK && q.reports != nil {
		// An answer of 200 is a run of the function (its result, its
		// error or its timeout), which the emulator ends with a REPORT line.
		if !q.reports.waitPast(before, reportWait) && q.notify != nil {
			q.notify(fmt.Sprintf("no REPORT line from the emulator within %s of its answer; the function's output may be incomplete", reportWait))
		}
	}
	<-q.turn
	if err != nil {
		http.Error(w, "invoke queue: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length") // set again for the body as read
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

// QueuedNotice is what the stack's console, and `make invoke` through
// OnQueued, say of an invocation that waits for another to end.
const QueuedNotice = "queued behind a running invocation"

// StatusQueued is the informational status (102 Processing) the queue sends
// a caller whose invocation has to wait.
const StatusQueued = http.StatusProcessing

// OnQueued returns a context whose Invoke calls fn if the invocation waits
// behind another one before it runs.
func OnQueued(ctx context.Context, fn func()) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			if code == StatusQueued {
				fn()
			}
			return nil
		},
	})
}

// reportWait bounds the wait for an invocation's REPORT line after its
// answer; it comes within milliseconds.
const reportWait = 5 * time.Second

func (q *invokeQueue) reportCount() int {
	if q.reports == nil {
		return 0
	}
	return q.reports.count()
}

// forward sends the request to the emulator and reads the whole answer, so
// that the turn passes on only when the emulator is done with it. A caller
// that leaves meanwhile does not cut it short: the function would still be
// running when the next invocation arrived.
func (q *invokeQueue) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	ctx := context.WithoutCancel(r.Context())
	req, err := http.NewRequestWithContext(ctx, r.Method, q.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := q.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("the runtime interface emulator: %w", err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("the runtime interface emulator: read the answer: %w", err)
	}
	return resp.StatusCode, resp.Header, respBody, nil
}

// close stops accepting invocations and drops the waiting ones.
func (q *invokeQueue) close() {
	_ = q.srv.Close()
	<-q.served
}
