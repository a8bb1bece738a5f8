package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// The batch shape, as shipped: the rules put each event in the event queue;
// Lambda's event source mapping receives them (up to 10 per ReceiveMessage,
// as SQS answers), gathers a batch until it holds BatchSize records or the
// batching window has passed since its first, and invokes the function with
// it. At most MaximumConcurrency batches run at once; Lambda starts with 5
// pollers and adds up to 300 a minute while messages wait (documented). The
// function answers with the records that failed; SQS delivers those again
// after the visibility timeout, and after maxReceiveCount deliveries moves
// them to the dead-letter queue, which the model counts as lost.

// Lambda's documented scaling of SQS pollers.
const (
	initialPollers     = 5
	pollersAddedPerMin = 300
	maxPerReceive      = 10                    // SQS returns at most 10 messages per ReceiveMessage
	receiveLatency     = 50 * time.Millisecond // model time of one ReceiveMessage call
)

// sqsMessage is one queued event.
type sqsMessage struct {
	endpoint string
	body     string
	receives int
}

// sqsQueue is the event queue on the model clock.
type sqsQueue struct {
	mu      sync.Mutex
	visible []*sqsMessage
	changed chan struct{} // closed and replaced whenever messages become visible or all are settled
	total   int
	settled int // deleted, or moved to the dead-letter queue
	dead    []string
}

func newQueue(total int) *sqsQueue {
	return &sqsQueue{changed: make(chan struct{}), total: total}
}

func (q *sqsQueue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *sqsQueue) put(m *sqsMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.visible = append(q.visible, m)
	q.signal()
}

// take receives up to max visible messages, and returns what to wait on when
// there were none.
func (q *sqsQueue) take(max int) ([]*sqsMessage, <-chan struct{}, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(max, len(q.visible))
	out := append([]*sqsMessage(nil), q.visible[:k]...)
	q.visible = q.visible[k:]
	return out, q.changed, q.settled == q.total
}

// settle records a message deleted (done) or dead-lettered.
func (q *sqsQueue) settle(m *sqsMessage, dead bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settled++
	if dead {
		q.dead = append(q.dead, m.endpoint)
	}
	if q.settled == q.total {
		q.signal()
	}
}

// outcomeTap passes log records on and keeps, per batch record (messageId),
// its outcome and errorType: the batch response names only the failures.
type outcomeTap struct {
	next  slog.Handler
	mu    *sync.Mutex
	byMsg map[string][2]string
}

func newOutcomeTap(next slog.Handler) *outcomeTap {
	return &outcomeTap{next: next, mu: &sync.Mutex{}, byMsg: map[string][2]string{}}
}

func (t *outcomeTap) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || t.next.Enabled(ctx, l)
}

func (t *outcomeTap) Handle(ctx context.Context, r slog.Record) error {
	var msg, outcome, errType string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "messageId":
			msg = a.Value.String()
		case "outcome":
			outcome = a.Value.String()
		case "errorType":
			errType = a.Value.String()
		}
		return true
	})
	if msg != "" {
		t.mu.Lock()
		t.byMsg[msg] = [2]string{outcome, errType}
		t.mu.Unlock()
	}
	if t.next.Enabled(ctx, r.Level) {
		return t.next.Handle(ctx, r)
	}
	return nil
}

func (t *outcomeTap) WithAttrs(as []slog.Attr) slog.Handler {
	return &outcomeTap{next: t.next.WithAttrs(as), mu: t.mu, byMsg: t.byMsg}
}

func (t *outcomeTap) WithGroup(name string) slog.Handler {
	return &outcomeTap{next: t.next.WithGroup(name), mu: t.mu, byMsg: t.byMsg}
}

func (t *outcomeTap) get(msg string) (outcome, errType string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := t.byMsg[msg]
	return v[0], v[1]
}

// messageID names one delivery of an endpoint's event.
func messageID(m *sqsMessage) string { return fmt.Sprintf("%s#%d", m.endpoint, m.receives) }

// sqsPayload is the event source mapping's invocation payload for a batch.
func sqsPayload(batch []*sqsMessage) []byte {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(batch))}
	for i, m := range batch {
		ev.Records[i] = events.SQSMessage{
			MessageId: messageID(m), ReceiptHandle: "soak-" + messageID(m), Body: m.body,
			Attributes:  map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.receives)},
			EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:soak-events", AWSRegion: "us-east-1",
		}
	}
	b, _ := json.Marshal(ev)
	return b
}

// runBatch runs n endpoints created at once through the batch shape.
func runBatch(ctx context.Context, cfg config, n int, logw io.Writer) *modelRun {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fmt.Fprintf(logw, "soak: model: %d endpoint(s) created at once, batches of up to %d (window %s), at most %d at once, 1 model second = %s\n",
		n, cfg.batchSize, cfg.batchWindow, cfg.concurrency, cfg.scale)
	e := newModelEnv(cfg, n, logw)
	defer e.close()
	clk := e.clk

	q := newQueue(n)
	for _, id := range e.ids {
		q.put(&sqsMessage{endpoint: id, body: string(event(id))})
	}

	var poolMu sync.Mutex
	var idle []*container
	getContainer := func() (*container, bool) {
		poolMu.Lock()
		defer poolMu.Unlock()
		if k := len(idle); k > 0 {
			c := idle[k-1]
			idle = idle[:k-1]
			return c, false
		}
		return nil, true
	}
	putContainer := func(c *container) {
		poolMu.Lock()
		defer poolMu.Unlock()
		idle = append(idle, c)
	}

	// gather receives one batch: it waits for a first message, then keeps
	// receiving until the batch is full or the window since the first has passed.
	gather := func(ctx context.Context) ([]*sqsMessage, bool) {
		var batch []*sqsMessage
		var windowEnd <-chan time.Time
		for len(batch) < cfg.batchSize {
			if err := sleep(ctx, clk.real(receiveLatency)); err != nil {
				return nil, false
			}
			got, changed, finished := q.take(min(maxPerReceive, cfg.batchSize-len(batch)))
			if finished && len(batch) == 0 {
				return nil, false
			}
			if len(got) > 0 {
				if batch == nil {
					windowEnd = time.After(clk.real(cfg.batchWindow))
				}
				batch = append(batch, got...)
				continue
			}
			if batch == nil {
				select {
				case <-changed: // a message arrived, or everything is settled
					continue
				case <-ctx.Done():
					return nil, false
				}
			}
			select {
			case <-changed:
			case <-windowEnd:
				return batch, true
			case <-ctx.Done():
				return batch, true
			}
		}
		return batch, true
	}

	var invsMu sync.Mutex
	var invs []modelInvocation
	var wg sync.WaitGroup
	for p := range cfg.concurrency {
		// Lambda starts 5 pollers and adds up to 300 a minute while messages wait.
		var startAfter time.Duration
		if p >= initialPollers {
			startAfter = time.Duration((p-initialPollers)/pollersAddedPerMin+1) * time.Minute
		}
		wg.Go(func() {
			if sleep(ctx, clk.real(startAfter)) != nil {
				return
			}
			for {
				batch, ok := gather(ctx)
				if !ok {
					return
				}
				for _, m := range batch {
					m.receives++
				}
				c, cold := getContainer()
				if cold {
					c = e.newContainer()
				}
				e.invoked.Add(1)
				mi := modelInvocation{container: c.id, cold: cold, start: clk.now(), records: len(batch), outcomes: map[string]string{}}
				mi.id = fmt.Sprintf("batch of %d from %s", len(batch), batch[0].endpoint)
				failed := invokeBatch(ctx, c, batch, clk.real(cfg.deadline), &mi)
				mi.end = clk.now()
				putContainer(c)
				for _, m := range batch {
					outcome, errType := e.tap.get(messageID(m))
					switch {
					case !failed[messageID(m)]:
						mi.outcomes[m.endpoint] = outcome
						q.settle(m, false)
						continue
					case errType != "":
						mi.errKinds = append(mi.errKinds, errType)
					}
					if m.receives >= cfg.maxReceive {
						q.settle(m, true)
						continue
					}
					wg.Go(func() {
						// Visible again after the visibility timeout.
						if sleep(ctx, clk.real(cfg.visibility)) == nil {
							q.put(m)
						}
					})
				}
				invsMu.Lock()
				invs = append(invs, mi)
				invsMu.Unlock()
			}
		})
	}
	e.wait(&wg, cancel)
	q.mu.Lock()
	run := &modelRun{dropped: len(q.dead)}
	q.mu.Unlock()
	invsMu.Lock()
	defer invsMu.Unlock()
	return e.finish(run, invs)
}

// invokeBatch runs one invocation with a batch and returns the message ids
// to deliver again. A failed invocation fails every record.
func invokeBatch(ctx context.Context, c *container, batch []*sqsMessage, deadline time.Duration, mi *modelInvocation) (failed map[string]bool) {
	failed = map[string]bool{}
	all := func() map[string]bool {
		for _, m := range batch {
			failed[messageID(m)] = true
		}
		return failed
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			mi.panicked = p
			all()
		}
	}()
	out, err := c.h.Invoke(ctx, sqsPayload(batch))
	if err != nil {
		mi.err = err
		return all()
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		mi.err = fmt.Errorf("batch response %q: %w", out, err)
		return all()
	}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	return failed
}
