package handler

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler/event"
)

// The function returns these named types because Lambda reports the Go type
// name as errorType, which is what an operator sees first in the console, the
// failure queue's message attributes and the logs.

// LookupError: EC2 could not be asked about the endpoint.
type LookupError struct {
	EndpointID string
	Err        error
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("look up VPC endpoint %s in EC2: %v", e.EndpointID, e.Err)
}
func (e *LookupError) Unwrap() error { return e.Err }

// CredentialsError: the Atlas credentials secret is missing, unreadable or malformed.
// It names the secret, never its contents.
type CredentialsError struct {
	SecretID string
	Err      error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("atlas credentials from secret %s: %v", e.SecretID, e.Err)
}
func (e *CredentialsError) Unwrap() error { return e.Err }

// AtlasError: an Atlas API call failed after the client's own retries.
type AtlasError struct {
	Op         string
	EndpointID string
	ProjectID  string
	Err        error
}

func (e *AtlasError) Error() string {
	msg := fmt.Sprintf("atlas %s for endpoint %s in project %s: %v", e.Op, e.EndpointID, e.ProjectID, e.Err)
	if errors.Is(e.Err, atlas.ErrUnauthorized) {
		msg += " (check the API key or service account, its Project Owner role and its IP access list)"
	}
	return msg
}
func (e *AtlasError) Unwrap() error { return e.Err }

// atlasFailure wraps an Atlas call's error: one that ran into the deadline
// (for example while waiting out rate limiting) is a DeadlineError, so the
// operator reads "retried later", not "Atlas is broken".
func atlasFailure(op, endpointID, projectID string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &DeadlineError{EndpointID: endpointID, ProjectID: projectID, Phase: op, Detail: err.Error()}
	}
	return &AtlasError{Op: op, EndpointID: endpointID, ProjectID: projectID, Err: err}
}

// RegistrationFailedError: every registration attempt ended REJECTED or with
// an Atlas errorMessage; each attempt was deleted again.
type RegistrationFailedError struct {
	EndpointID string
	ProjectID  string
	ServiceID  string
	Attempts   int
	LastStatus string
	LastError  string
}

func (e *RegistrationFailedError) Error() string {
	last := e.LastError
	if last == "" {
		last = "no error message"
	}
	return fmt.Sprintf("endpoint %s in project %s (endpoint service %s) failed %d registration attempts; last status %s: %s; each attempt was deleted in Atlas",
		e.EndpointID, e.ProjectID, e.ServiceID, e.Attempts, e.LastStatus, last)
}

// DeadlineError: the Lambda deadline came before Atlas settled. The endpoint
// is left as it is, so the retried event resumes the wait.
type DeadlineError struct {
	EndpointID string
	ProjectID  string
	Phase      string // start, waiting, deleting
	Status     string
	Detail     string
}

func (e *DeadlineError) Error() string {
	msg := fmt.Sprintf("deadline reached for endpoint %s in project %s during %s", e.EndpointID, e.ProjectID, e.Phase)
	if e.Status != "" {
		msg += fmt.Sprintf(" (Atlas status %s)", e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg + "; a retry of the event resumes where this one stopped"
}

// errorType is the name Lambda gives err in its errorType field.
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// nextAfterError says in the log what happens to the event after err.
func nextAfterError(err error) string {
	if _, ok := errors.AsType[*event.InvalidEventError](err); ok {
		return "not-retryable: fix the event or the rule; Lambda's retries will fail the same way and the event goes to the failure queue"
	}
	return "lambda-retry: Lambda retries the event, then sends it to the failure queue"
}
