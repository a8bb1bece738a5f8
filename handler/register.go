package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/atlasvpce/registrar/atlas"
)

// registration drives one endpoint to AVAILABLE in one endpoint service:
// read its state, POST when absent, poll until settled, and on failure delete
// it and try again, up to Config.MaxAttempts registrations.
type registration struct {
	h          *Handler
	api        AtlasAPI
	serviceID  string
	endpointID string

	attempts int    // registrations made or resumed by this invocation
	status   string // last connectionStatus seen
	lastErr  string // last Atlas errorMessage seen

	postedAt time.Time // this invocation's last POST; zero when it resumed an earlier one
}

// errPending keeps the poll going; errGone reports an endpoint that vanished while watched.
var (
	errPending = errors.New("still pending")
	errGone    = errors.New("endpoint is gone")
)

const statusGone = "NOT_FOUND"

func (r *registration) run(ctx context.Context) (string, error) {
	cur, err := r.get(ctx)
	if err != nil {
		return "", r.atlasErr("get interface endpoint", err)
	}
	post := true
	switch {
	case cur == nil:
	case failed(cur):
		// Left behind by an earlier invocation: Atlas's documented recovery is delete, then add again.
		r.logFailure(ctx, "found a failed registration from an earlier invocation", "delete-and-retry")
		if err := r.remove(ctx); err != nil {
			return "", err
		}
	case cur.ConnectionStatus == atlas.StatusAvailable:
		return OutcomeAlreadyRegistered, nil
	case cur.ConnectionStatus == atlas.StatusDeleting || cur.DeleteRequested:
		if err := r.waitGone(ctx); err != nil {
			return "", err
		}
	default:
		// Pending: an earlier invocation posted it (or someone else did). Resume the wait.
		post = false
		r.attempts = 1
	}

	pause := r.retryPause()
	for {
		if post {
			r.attempts++
			r.postedAt = r.h.deps.Now()
			created, err := r.api.CreateInterfaceEndpoint(ctx, r.serviceID, r.endpointID)
			switch {
			case errors.Is(err, atlas.ErrConflict):
				// Already there (a concurrent delivery, or a lost response): wait for it like our own.
			case err != nil:
				return "", r.atlasErr("add interface endpoint", err)
			default:
				r.observe(created)
			}
		}
		post = true

		if err := r.waitSettled(ctx); err != nil {
			return "", err
		}
		if r.status == atlas.StatusAvailable {
			r.recordAvailable(ctx)
			return OutcomeRegistered, nil
		}

		last := r.attempts >= r.h.cfg.MaxAttempts
		next := "delete-and-retry"
		if last {
			next = "delete-and-give-up"
		}
		r.logFailure(ctx, "atlas registration attempt failed", next)
		failedStatus, failedErr := r.status, r.lastErr
		if err := r.remove(ctx); err != nil {
			return "", err
		}
		if last {
			return "", &RegistrationFailedError{
				EndpointID: r.endpointID, ProjectID: r.h.cfg.ProjectID, ServiceID: r.serviceID,
				Attempts: r.attempts, LastStatus: failedStatus, LastError: failedErr,
			}
		}
		if err := sleep(ctx, pause.NextBackOff()); err != nil {
			return "", r.deadlineErr("waiting to retry")
		}
	}
}

// get returns the endpoint, or nil when Atlas does not have it.
func (r *registration) get(ctx context.Context) (*atlas.InterfaceEndpoint, error) {
	ie, err := r.api.GetInterfaceEndpoint(ctx, r.serviceID, r.endpointID)
	if errors.Is(err, atlas.ErrNotFound) {
		r.status = statusGone
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.observe(ie)
	return ie, nil
}

func (r *registration) observe(ie *atlas.InterfaceEndpoint) {
	r.status = ie.ConnectionStatus
	if ie.ErrorMessage != "" {
		r.lastErr = ie.ErrorMessage
	}
}

// failed reports a registration Atlas will not complete. v2 has no FAILED
// connection status: a non-empty errorMessage is the failure signal.
func failed(ie *atlas.InterfaceEndpoint) bool {
	switch ie.ConnectionStatus {
	case atlas.StatusRejected, atlas.StatusFailed:
		return true
	}
	return ie.ErrorMessage != "" && ie.ConnectionStatus != atlas.StatusAvailable
}

// waitSettled polls until the endpoint is AVAILABLE or failed. An endpoint
// that vanishes counts as a failed attempt.
func (r *registration) waitSettled(ctx context.Context) error {
	err := r.poll(ctx, func(ie *atlas.InterfaceEndpoint) error {
		if ie == nil {
			return backoff.Permanent(errGone)
		}
		if ie.ConnectionStatus == atlas.StatusAvailable || failed(ie) {
			return nil
		}
		return errPending
	})
	switch {
	case errors.Is(err, errGone):
		r.lastErr = "the endpoint disappeared from Atlas while pending"
		return nil
	case err != nil:
		return r.waitErr("waiting for AVAILABLE", err)
	}
	return nil
}

// remove deletes the endpoint in Atlas and waits until a GET answers 404, so
// the next POST does not collide with a half-deleted one.
func (r *registration) remove(ctx context.Context) error {
	err := r.api.DeleteInterfaceEndpoint(ctx, r.serviceID, r.endpointID)
	if err != nil && !errors.Is(err, atlas.ErrNotFound) {
		if ctx.Err() != nil {
			return r.deadlineErr("deleting")
		}
		return r.atlasErr("delete interface endpoint", err)
	}
	return r.waitGone(ctx)
}

func (r *registration) waitGone(ctx context.Context) error {
	err := r.poll(ctx, func(ie *atlas.InterfaceEndpoint) error {
		if ie == nil {
			return nil
		}
		return errPending
	})
	if err != nil {
		return r.waitErr("deleting", err)
	}
	return nil
}

// poll calls GET on a capped exponential schedule with jitter until check
// accepts the state, returns a permanent error, or ctx ends. The first GET
// waits one interval: the caller has just seen or changed the state.
// Transient Atlas errors that outlast the client's own retries keep polling.
func (r *registration) poll(ctx context.Context, check func(*atlas.InterfaceEndpoint) error) error {
	first := true
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		if first {
			first = false
			return struct{}{}, errPending
		}
		ie, err := r.get(ctx)
		switch {
		case err != nil && atlas.Temporary(err) && ctx.Err() == nil:
			return struct{}{}, err
		case err != nil:
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, check(ie)
	}, backoff.WithBackOff(r.pollSchedule()), backoff.WithMaxElapsedTime(0))
	return err
}

func (r *registration) pollSchedule() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     r.h.cfg.PollInitial,
		RandomizationFactor: 0.2,
		Multiplier:          1.5,
		MaxInterval:         r.h.cfg.PollMax,
	}
}

// retryPause spaces registration attempts: Atlas tends to reject again if
// asked again at once.
func (r *registration) retryPause() backoff.BackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.h.cfg.PollInitial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         r.h.cfg.PollMax,
	}
	b.Reset()
	return b
}

// waitErr maps a failed wait to the deadline, or to the Atlas error that stopped it.
func (r *registration) waitErr(phase string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return r.deadlineErr(phase)
	}
	return r.atlasErr("get interface endpoint ("+phase+")", err)
}

func (r *registration) deadlineErr(phase string) error {
	return &DeadlineError{EndpointID: r.endpointID, ProjectID: r.h.cfg.ProjectID, Phase: phase, Status: r.status}
}

func (r *registration) atlasErr(op string, err error) error {
	return atlasFailure(op, r.endpointID, r.h.cfg.ProjectID, err)
}

// logFailure writes the one structured line a failure path owes the operator.
func (r *registration) logFailure(ctx context.Context, msg, next string) {
	r.h.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("vpcEndpointId", r.endpointID),
		slog.String("projectId", r.h.cfg.ProjectID),
		slog.String("endpointServiceId", r.serviceID),
		slog.Int("attempt", r.attempts),
		slog.Int("maxAttempts", r.h.cfg.MaxAttempts),
		slog.String("connectionStatus", r.status),
		slog.String("atlasErrorMessage", r.lastErr),
		slog.String("next", next),
	)
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
