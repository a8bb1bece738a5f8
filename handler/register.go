package handler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/atlasvpce/registrar/atlas"
)

// task is one endpoint's way through the state machine that every action
// shares: registration (read, POST, poll until settled, on failure delete and
// post again), deregistration (delete, wait for 404) and reconcile, which
// drives many tasks at once. A task runs one step at a time; each step makes
// a few Atlas calls, then schedules the next step or finishes the task.
// Every delete goes through guard first, so that no step can remove the
// endpoint service itself (see protect.go).
type task struct {
	h          *Handler
	api        AtlasAPI       // the project's client
	ec2        EndpointLookup // the endpoint's account and region; nil: the function's own
	fed        *federated     // a Data Federation entry; nil: an interface endpoint of serviceID
	project    string
	endpointID string
	serviceID  string

	phase string                // what the task is doing, for logs and DeadlineError
	next  func(context.Context) // the step to run when due
	due   time.Time
	poll  *backoff.ExponentialBackOff
	pause backoff.BackOff

	attempts      int       // registrations made or resumed
	status        string    // last connectionStatus seen
	lastErr       string    // last Atlas errorMessage seen
	recovered     bool      // a failed registration was deleted on the way
	lastOne       bool      // the guard found no other live endpoint in the service
	deregistering bool      // the goal is removal, not registration
	postedAt      time.Time // this task's last POST; zero when it resumed an earlier one
	settleSince   time.Time // when it began waiting for AVAILABLE; orders the sentinel
	released      bool      // its sentinel saw AVAILABLE: poll now, whatever the order

	done    bool
	outcome string
	reason  string
	err     error
}

// Phases, as an operator reads them in a DeadlineError.
const (
	phaseRead   = "reading the endpoint"
	phaseSettle = "waiting for AVAILABLE"
	phaseGone   = "deleting"
	phasePause  = "waiting to retry"
)

// statusGone is the status recorded for an endpoint Atlas answers 404 for.
const statusGone = "NOT_FOUND"

func (h *Handler) newTask(api AtlasAPI, project, serviceID, endpointID string, first func(*task) func(context.Context)) *task {
	t := &task{h: h, api: api, project: project, serviceID: serviceID, endpointID: endpointID, phase: phaseRead, pause: h.retryPause()}
	t.next = first(t)
	return t
}

// startRegister begins a registration by reading the endpoint's state.
func startRegister(t *task) func(context.Context) { return t.start }

// startPost begins with a POST: the caller has just read that Atlas lacks it.
func startPost(t *task) func(context.Context) { return t.post }

// startRecover begins with deleting a failed registration, then posting again.
func startRecover(t *task) func(context.Context) { return t.recoverFailed }

// startDeregister begins with removing the endpoint from its service.
func startDeregister(t *task) func(context.Context) {
	t.deregistering = true
	return t.deregister
}

func (t *task) schedule(phase string, after time.Duration, step func(context.Context)) {
	t.phase, t.next, t.due = phase, step, time.Now().Add(after)
}

func (t *task) finish(outcome, reason string) {
	t.done, t.outcome, t.reason = true, outcome, reason
}

func (t *task) fail(err error) { t.done, t.err = true, err }

func (t *task) start(ctx context.Context) {
	cur, err := t.get(ctx)
	if err != nil {
		t.fail(t.atlasErr("get "+t.noun(), err))
		return
	}
	switch {
	case cur == nil:
		t.post(ctx)
	case failed(cur):
		t.recoverFailed(ctx)
	case ready(cur):
		t.finish(OutcomeAlreadyRegistered, "")
	case cur.ConnectionStatus == atlas.StatusDeleting || cur.DeleteRequested:
		t.awaitGone(t.post)
	default:
		// Pending: an earlier invocation posted it (or someone else did). Resume the wait.
		t.attempts = 1
		t.awaitSettled()
	}
}

// recoverFailed handles a failed registration left behind by an earlier
// invocation: Atlas's documented recovery is delete, then add again.
func (t *task) recoverFailed(ctx context.Context) {
	t.recovered = true
	t.deleteThen(ctx, "found a failed registration", "delete-and-retry", t.post)
}

func (t *task) post(ctx context.Context) {
	t.attempts++
	t.postedAt = t.h.deps.Now()
	created, err := t.write(ctx)
	switch {
	case errors.Is(err, atlas.ErrConflict):
		// Already there (a concurrent delivery, or a lost response): wait for it like our own.
	case err != nil:
		t.fail(t.atlasErr("add "+t.noun(), err))
		return
	case created != nil:
		t.observe(created)
	}
	t.awaitSettled()
}

func (t *task) awaitSettled() {
	t.resetPoll()
	t.settleSince = time.Now()
	t.schedule(phaseSettle, t.poll.NextBackOff(), t.settle)
}

func (t *task) settle(ctx context.Context) {
	ie, err := t.get(ctx)
	switch {
	case err != nil:
		t.pollFailed(ctx, err, t.settle)
	case ie == nil:
		t.lastErr = "the endpoint disappeared from Atlas while pending"
		t.attemptFailed(ctx, false)
	case ready(ie):
		t.recordAvailable(ctx)
		t.finish(OutcomeRegistered, "")
	case failed(ie):
		t.attemptFailed(ctx, true)
	default:
		t.schedule(phaseSettle, t.poll.NextBackOff(), t.settle)
	}
}

// attemptFailed deletes a failed registration (if Atlas still has it) and
// posts again after a pause, or gives up after Config.MaxAttempts.
func (t *task) attemptFailed(ctx context.Context, present bool) {
	last := t.attempts >= t.h.cfg.MaxAttempts
	then := func(context.Context) {
		t.schedule(phasePause, t.pause.NextBackOff(), t.post)
	}
	next := "delete-and-retry"
	if last {
		// Report the failure, not the 404 that the cleanup ends with.
		status := t.status
		then = func(context.Context) {
			t.status = status
			t.giveUp()
		}
		next = "delete-and-give-up"
	}
	if !present {
		t.logFailure(ctx, "atlas registration attempt failed", next)
		then(ctx)
		return
	}
	t.deleteThen(ctx, "atlas registration attempt failed", next, then)
}

func (t *task) giveUp() {
	t.fail(&RegistrationFailedError{
		EndpointID: t.endpointID, ProjectID: t.project, ServiceID: t.serviceID,
		Attempts: t.attempts, LastStatus: t.status, LastError: t.lastErr,
	})
}

// deleteThen deletes the endpoint once the guard allows it, waits until it is
// gone and the service is still there, then runs then. When the guard keeps
// the endpoint, the registration fails with the entry kept. msg and next
// describe the failure in the one log line this path writes.
func (t *task) deleteThen(ctx context.Context, msg, next string, then func(context.Context)) {
	v, err := t.guard(ctx)
	switch {
	case err != nil:
		t.fail(err)
	case v == verdictServiceGone:
		t.fail(t.serviceRemoved(false))
	case v == verdictAbsent:
		// Not listed by its service: nothing to delete.
		t.logFailure(ctx, msg, next)
		then(ctx)
	case v == verdictKeep:
		t.logFailure(ctx, msg, nextKept)
		t.fail(&RegistrationFailedError{
			EndpointID: t.endpointID, ProjectID: t.project, ServiceID: t.serviceID,
			Attempts: t.attempts, LastStatus: t.status, LastError: t.lastErr, Kept: true,
		})
	default:
		t.logFailure(ctx, msg, next)
		t.delete(ctx, then)
	}
}

// nextKept is the log's "next" when a failed entry is kept to protect its service.
const nextKept = "kept-to-protect-service"

// delete asks Atlas to remove the endpoint, then waits for it to be gone.
func (t *task) delete(ctx context.Context, then func(context.Context)) {
	err := t.remove(ctx)
	if err != nil && !errors.Is(err, atlas.ErrNotFound) {
		t.fail(t.atlasErr("delete "+t.noun(), err))
		return
	}
	t.awaitGone(then)
}

// awaitGone polls until a GET answers 404, so the next POST does not collide
// with a half-deleted endpoint; then it checks that the service survived.
func (t *task) awaitGone(then func(context.Context)) {
	t.resetPoll()
	var step func(context.Context)
	step = func(ctx context.Context) {
		ie, err := t.get(ctx)
		switch {
		case err != nil:
			t.pollFailed(ctx, err, step)
		case ie != nil:
			t.schedule(phaseGone, t.poll.NextBackOff(), step)
		default:
			t.afterGone(ctx, then)
		}
	}
	t.schedule(phaseGone, t.poll.NextBackOff(), step)
}

// pollFailed keeps polling through transient Atlas errors that outlast the
// client's own retries, and fails the task on anything else.
func (t *task) pollFailed(ctx context.Context, err error, step func(context.Context)) {
	if atlas.Temporary(err) && ctx.Err() == nil {
		t.schedule(t.phase, t.poll.NextBackOff(), step)
		return
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.fail(t.deadlineErr(t.phase))
		return
	}
	t.fail(t.atlasErr("get "+t.noun()+" ("+t.says(t.phase)+")", err))
}

// get returns the endpoint, or nil when Atlas does not have it.
func (t *task) get(ctx context.Context) (*atlas.InterfaceEndpoint, error) {
	ie, err := t.read(ctx)
	if errors.Is(err, atlas.ErrNotFound) {
		t.status = statusGone
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.observe(ie)
	return ie, nil
}

func (t *task) observe(ie *atlas.InterfaceEndpoint) {
	t.status = ie.ConnectionStatus
	if ie.ErrorMessage != "" {
		t.lastErr = ie.ErrorMessage
	}
}

// failed reports a registration Atlas will not complete. v2 has no FAILED
// connection status: a non-empty errorMessage is the failure signal.
func failed(ie *atlas.InterfaceEndpoint) bool {
	switch ie.ConnectionStatus {
	case atlas.StatusRejected, atlas.StatusFailed:
		return true
	}
	return ie.ErrorMessage != "" && !ready(ie)
}

// ready reports a registration Atlas completed: an interface endpoint
// AVAILABLE, a Data Federation entry OK.
func ready(ie *atlas.InterfaceEndpoint) bool {
	return ie.ConnectionStatus == atlas.StatusAvailable || ie.ConnectionStatus == atlas.StatusOK
}

// resetPoll starts a capped exponential schedule with jitter. The first GET
// waits one interval: the caller has just seen or changed the state.
func (t *task) resetPoll() {
	t.poll = &backoff.ExponentialBackOff{
		InitialInterval:     t.h.cfg.PollInitial,
		RandomizationFactor: 0.2,
		Multiplier:          1.5,
		MaxInterval:         t.h.cfg.PollMax,
	}
	t.poll.Reset()
}

// retryPause spaces registration attempts: Atlas tends to reject again if
// asked again at once.
func (h *Handler) retryPause() backoff.BackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     h.cfg.PollInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         h.cfg.PollMax,
	}
	b.Reset()
	return b
}

func (t *task) deadlineErr(phase string) error {
	return &DeadlineError{EndpointID: t.endpointID, ProjectID: t.project, Phase: t.says(phase), Status: t.status}
}

func (t *task) atlasErr(op string, err error) error {
	return atlasFailure(op, t.endpointID, t.project, err)
}

// logFailure writes the one structured line a failure path owes the operator.
func (t *task) logFailure(ctx context.Context, msg, next string) {
	t.h.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("vpcEndpointId", t.endpointID),
		slog.String("projectId", t.project),
		slog.String("endpointServiceId", t.serviceID),
		slog.Int("attempt", t.attempts),
		slog.Int("maxAttempts", t.h.cfg.MaxAttempts),
		slog.String("connectionStatus", t.status),
		slog.String("atlasErrorMessage", t.lastErr),
		slog.String("next", next),
	)
}

// maxInFlight bounds the steps that run at once, and so the Atlas requests
// one invocation has in flight.
const maxInFlight = 8

// drive runs tasks until each is done or ctx ends, running the steps that are
// due together, so many endpoints wait in one loop rather than one after
// another. Tasks still running when ctx ends are left as they are: their
// phase and status say where they stopped.
//
// Endpoints posted to one service together become AVAILABLE at about the
// same time, so polling each of them says little more than polling one. Of
// the tasks waiting for AVAILABLE in one service, only the sentinel (the one
// that began waiting first) polls; the others wait without a request. When a
// task sees its endpoint AVAILABLE, the others of its service are released to
// poll (each as much later as it was posted later than that one, so that its
// endpoint is as far along); when the sentinel fails or is gone, the next in line becomes
// the sentinel and polls when its own schedule says. A burst of N endpoints
// then costs one poll schedule plus about one GET each, not N schedules.
func drive(ctx context.Context, tasks []*task) {
	sem := make(chan struct{}, maxInFlight)
	for ctx.Err() == nil {
		now := time.Now()
		lead := sentinels(tasks)
		var due []*task
		var wake time.Time
		for _, t := range tasks {
			switch {
			case t.done:
			case t.phase == phaseSettle && !t.released && lead[t.serviceKey()] != t:
				// Waits for its service's sentinel.
			case !t.due.After(now):
				due = append(due, t)
			case wake.IsZero() || t.due.Before(wake):
				wake = t.due
			}
		}
		if len(due) == 0 && wake.IsZero() {
			return
		}
		if len(due) == 0 {
			if sleep(ctx, time.Until(wake)) != nil {
				return
			}
			continue
		}
		var wg sync.WaitGroup
		for _, t := range due {
			sem <- struct{}{}
			t.released = false
			wg.Go(func() {
				defer func() { <-sem }()
				t.next(withEndpoint(ctx, t.endpointID))
			})
		}
		wg.Wait()
		release(tasks, due)
	}
}

// serviceKey names the endpoint service a task works in.
func (t *task) serviceKey() string {
	if t.fed != nil {
		// Each entry is approved on its own: there is no shared service to watch.
		return t.project + "/" + KindDataFederation + "/" + t.endpointID
	}
	return t.project + "/" + t.serviceID
}

// sentinels picks, per service, the task that polls for the others: of the
// tasks waiting for AVAILABLE, the one that began waiting first.
func sentinels(tasks []*task) map[string]*task {
	lead := map[string]*task{}
	for _, t := range tasks {
		if t.done || t.phase != phaseSettle {
			continue
		}
		k := t.serviceKey()
		if cur, ok := lead[k]; !ok || t.settleSince.Before(cur.settleSince) {
			lead[k] = t
		}
	}
	return lead
}

// release lets every task still waiting for AVAILABLE in a service poll,
// when one of the tasks that just ran saw its endpoint turn AVAILABLE there.
// A task that began waiting later than the one that saw it (it was posted
// later) polls that much later, when its endpoint is as far along.
func release(tasks, ran []*task) {
	seen := map[string]time.Time{} // by service: when the task that saw AVAILABLE began waiting
	for _, t := range ran {
		if t.done && t.err == nil && t.outcome == OutcomeRegistered {
			k := t.serviceKey()
			if at, ok := seen[k]; !ok || t.settleSince.Before(at) {
				seen[k] = t.settleSince
			}
		}
	}
	if len(seen) == 0 {
		return
	}
	now := time.Now()
	for _, t := range tasks {
		at, ok := seen[t.serviceKey()]
		if !t.done && t.phase == phaseSettle && ok {
			t.released = true
			t.due = now.Add(max(0, t.settleSince.Sub(at)))
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
