package handler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler/event"
)

// An SQS event source mapping delivers the rules' events in batches. One
// invocation handles a whole batch: every endpoint is read from EC2, then
// every registration and deregistration of the batch runs in one drive loop,
// sharing the container's credentials, its service list and, through the
// sentinel, the polling of each endpoint service. Records that failed, or
// were still pending at the deadline, are reported back as batch item
// failures: SQS delivers them again after the visibility timeout, and the
// retry resumes where this one stopped.

// batchItem is one record of a batch on its way through the invocation.
type batchItem struct {
	msg    event.Message
	ctx    context.Context // names the record's endpoint in log lines
	res    Result
	err    error
	lookup EndpointLookup
	place  string // the account and region of lookup

	atlas bool // still needs Atlas: EC2 found work to do

	// A registration.
	ep      *awsvpc.Endpoint
	task    *task
	checked bool // its connectivity was checked
	// A deregistration.
	gone   []string
	failed map[string]error
	dereg  *deregisterRun
}

// ReasonReconcileFromQueue is why a reconcile request found in a batch is
// ignored: the schedule invokes the function directly for it.
const ReasonReconcileFromQueue = "reconcile runs on the schedule or by direct invocation, not from the queue"

// HandleBatch processes an SQS batch and returns the records to deliver
// again. It logs one line per record (with its messageId) and one for the
// batch, and writes the batch's metrics.
func (h *Handler) HandleBatch(ctx context.Context, msgs []event.Message) events.SQSEventResponse {
	start := h.deps.Now()
	ctx, stats := withStats(ctx)
	items := make([]*batchItem, len(msgs))
	for i, m := range msgs {
		items[i] = &batchItem{msg: m, ctx: withEndpoint(ctx, m.Request.EndpointID),
			res: Result{ProjectID: h.soleProject(), VPCEndpointID: m.Request.EndpointID}}
	}
	work, cancel, err := h.workContext(ctx, "")
	if err != nil {
		for _, it := range items {
			if it.msg.Err == nil {
				it.err = err
			}
		}
	} else {
		h.prepareBatch(work, items)
		h.atlasBatch(work, items)
		cancel()
	}
	for _, it := range items {
		if it.err == nil && it.msg.Err != nil {
			it.err = it.msg.Err
		}
	}
	return h.reportBatch(ctx, stats, items, h.deps.Now().Sub(start))
}

// maxLookups bounds the EC2 calls one batch has in flight.
const maxLookups = 8

// prepareBatch decodes what each record asks and reads its endpoints from
// EC2, several records at a time.
func (h *Handler) prepareBatch(ctx context.Context, items []*batchItem) {
	sem := make(chan struct{}, maxLookups)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h.prepareItem(ctx, it)
		})
	}
	wg.Wait()
}

func (h *Handler) prepareItem(ctx context.Context, it *batchItem) {
	req := it.msg.Request
	ctx = withEndpoint(ctx, req.EndpointID)
	switch {
	case it.msg.Err != nil:
		return
	case req.Ignore != "":
		it.res.Outcome, it.res.Reason = OutcomeIgnored, req.Ignore
		return
	case req.Action == event.Reconcile:
		it.res.Outcome, it.res.Reason = OutcomeIgnored, ReasonReconcileFromQueue
		return
	}
	lookup, skip, err := h.route(ctx, req.Account, req.Region, req.EndpointID)
	switch {
	case err != nil:
		it.err = err
		return
	case skip != "":
		it.res.Outcome, it.res.Reason = OutcomeIgnored, skip
		return
	}
	it.lookup, it.place = lookup, h.place(ctx, req.Account, req.Region)
	it.res.origin.account, it.res.origin.region = req.Account, req.Region
	if req.Action == event.Deregister {
		it.gone, it.failed = h.deregisterCheck(ctx, lookup, req, &it.res)
		it.atlas = len(it.gone) > 0
		return
	}
	ep, settled, err := h.lookupToRegister(ctx, lookup, req, &it.res)
	if err != nil || settled {
		it.err = err
		return
	}
	it.ep, it.atlas = ep, true
}

// atlasBatch runs the Atlas side of every record in one drive loop. When
// Atlas rejects the cached credentials, withAtlas fetches them again and the
// records that met the 401 run once more; every step reads before it writes,
// so that is safe.
func (h *Handler) atlasBatch(ctx context.Context, items []*batchItem) {
	var need []*batchItem
	for _, it := range items {
		if it.atlas {
			need = append(need, it)
		}
	}
	if len(need) > 0 {
		err := h.withAtlas(ctx, func(apis clients) error { return h.runBatch(ctx, apis, need) })
		for _, it := range need {
			if it.atlas && it.err == nil {
				it.err = err // the credentials could not be had
			}
		}
	}
	for _, it := range items {
		if it.msg.Request.Action == event.Deregister && it.failed != nil && it.err == nil {
			if it.dereg != nil {
				it.res.Endpoints = append(it.res.Endpoints, it.dereg.out...)
			}
			it.err = h.deregistered(it.msg.Request, &it.res, it.failed)
		}
	}
}

// runBatch makes the tasks of the records that still need Atlas, drives them
// all together and reads their results. It returns an unauthorized error if
// any record met one; those records stay marked as needing Atlas.
func (h *Handler) runBatch(ctx context.Context, apis clients, need []*batchItem) error {
	var tasks []*task
	registering := map[string]*task{} // one task per endpoint, however many records name it
	refreshed := false
	for _, it := range need {
		if !it.atlas {
			continue
		}
		it.err, it.task, it.dereg = nil, nil, nil
		ictx := withEndpoint(ctx, it.msg.Request.EndpointID)
		if it.ep != nil {
			t, err := h.registerTask(ictx, apis, it.lookup, it.ep, &it.res, &refreshed)
			if err != nil || t == nil {
				it.err, it.atlas = err, errors.Is(err, atlas.ErrUnauthorized)
				continue
			}
			key := t.serviceKey() + "/" + t.endpointID
			if prev, ok := registering[key]; ok {
				t = prev
			} else {
				registering[key] = t
				tasks = append(tasks, t)
			}
			it.task = t
			continue
		}
		run, err := h.deregisterTasks(ictx, apis, it.lookup, it.gone, it.failed, &refreshed)
		if err != nil {
			it.err, it.atlas = err, errors.Is(err, atlas.ErrUnauthorized)
			continue
		}
		it.dereg = run
		tasks = append(tasks, run.tasks...)
	}
	h.checkConnectivity(ctx, checkTargets(need))
	drive(ctx, tasks)
	var unauthorized error
	for _, it := range need {
		if !it.atlas {
			continue
		}
		if it.err == nil {
			switch {
			case it.task != nil:
				it.err = it.task.registered(&it.res)
			case it.dereg != nil:
				it.err = it.dereg.collect(it.failed)
			}
		}
		if it.atlas = errors.Is(it.err, atlas.ErrUnauthorized); it.atlas {
			unauthorized = it.err
		}
	}
	return unauthorized
}

// checkTargets are the registrations of the batch that found their Atlas
// service and were not checked yet; they are marked checked.
func checkTargets(items []*batchItem) []checkTarget {
	var out []checkTarget
	for _, it := range items {
		if it.task != nil && !it.checked {
			it.checked = true
			out = append(out, checkTarget{place: it.place, lookup: it.lookup, ep: it.ep, out: &it.res.Warnings})
		}
	}
	return out
}

// reportBatch logs each record's outcome and the batch's, writes the
// metrics, and lists the records SQS should deliver again: every record that
// failed or was still pending. Ignored and finished records are done.
func (h *Handler) reportBatch(ctx context.Context, stats *invocationStats, items []*batchItem, took time.Duration) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	counts := map[string]int{}
	var outs []EndpointOutcome
	for _, it := range items {
		it.err = configCause(it.err)
		h.logOutcome(it.ctx, it.msg.Request.Action, &it.res, it.err, took, slog.String("messageId", it.msg.ID))
		outs = append(outs, h.outcomes(&it.res, it.err)...)
		counts[metricOutcome(&it.res, it.err)]++
		if it.err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: it.msg.ID})
		}
	}
	retry := make([]string, len(resp.BatchItemFailures))
	for i, f := range resp.BatchItemFailures {
		retry[i] = f.ItemIdentifier
	}
	level := slog.LevelInfo
	if len(retry) > 0 {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, "batch processed",
		slog.Int("records", len(items)),
		slog.Any("counts", counts),
		slog.Any("retry", retry),
		slog.Int64("durationMs", took.Milliseconds()),
		slog.String("next", nextAfterBatch(len(retry))),
	)
	h.emitBatchMetrics(ctx, stats, items)
	h.report(ctx, outs)
	return resp
}

// nextAfterBatch says what happens to the records reported as failed.
func nextAfterBatch(failed int) string {
	if failed == 0 {
		return "done"
	}
	return "sqs-redelivers-failed-records: after the visibility timeout; after maxReceiveCount deliveries they go to the dead-letter queue"
}
