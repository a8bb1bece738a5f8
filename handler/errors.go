package handler

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/handler/event"
)

// The function returns these named types because Lambda reports the Go type
// name as errorType, which is what an operator sees first in the console, the
// failure queue's message attributes and the logs.

// LookupError: EC2 could not be asked about the endpoint, or about the
// endpoints of a service (ServiceName, during reconcile). For a member
// account it names the account and the role assumed there.
type LookupError struct {
	EndpointID  string
	ServiceName string
	Account     string
	Role        string
	Err         error
}

func (e *LookupError) Error() string {
	where := ""
	if e.Account != "" {
		where = " of account " + e.Account
	}
	if e.Role != "" {
		where += " through role " + e.Role + " (check that the role exists there and trusts the function's role)"
	}
	if e.EndpointID == "" && e.ServiceName != "" {
		return fmt.Sprintf("list the VPC endpoints of service %s in EC2%s: %v", e.ServiceName, where, e.Err)
	}
	return fmt.Sprintf("look up VPC endpoint %s in EC2%s: %v", e.EndpointID, where, e.Err)
}

// ServiceConflictError: two configured projects have an endpoint service of
// the same AWS service name, so the endpoint's project cannot be told.
type ServiceConflictError struct {
	ServiceName string
	Projects    []string
}

func (e *ServiceConflictError) Error() string {
	return fmt.Sprintf("endpoint service name %s is held by projects %s; an endpoint can belong to only one: remove one of them from ATLAS_PROJECT_IDS",
		e.ServiceName, strings.Join(e.Projects, " and "))
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

// RegistrationFailedError: the registration ended REJECTED or with an Atlas
// errorMessage. Either every attempt failed and each was deleted again, or
// (Kept) the failed entry was kept because deleting it could remove the
// endpoint service: Atlas removes a service with its last endpoint.
type RegistrationFailedError struct {
	EndpointID string
	ProjectID  string
	ServiceID  string
	Attempts   int
	LastStatus string
	LastError  string
	Kept       bool
}

func (e *RegistrationFailedError) Error() string {
	last := e.LastError
	if last == "" {
		last = "no error message"
	}
	if e.Kept {
		return fmt.Sprintf("endpoint %s in project %s (endpoint service %s) failed registration (status %s: %s); "+
			"the failed entry was kept in Atlas, not deleted and retried, because it is the service's last live endpoint and Atlas removes a service with its last endpoint. "+
			"To recover: fix the cause in AWS, then either register another endpoint with the service first and invoke again, "+
			"or delete this one by hand (atlas privateEndpoints aws interfaces delete %s --endpointServiceId %s --projectId %s) accepting that Atlas may remove the service, "+
			"or deploy with AllowServiceRemoval=true",
			e.EndpointID, e.ProjectID, e.ServiceID, e.LastStatus, last, e.EndpointID, e.ServiceID, e.ProjectID)
	}
	where := "endpoint service " + e.ServiceID
	if e.ServiceID == "" {
		where = "Data Federation endpoint list"
	}
	return fmt.Sprintf("endpoint %s in project %s (%s) failed %d registration attempts; last status %s: %s; each attempt was deleted in Atlas",
		e.EndpointID, e.ProjectID, where, e.Attempts, e.LastStatus, last)
}

// EndpointServiceRemovedError: the endpoint service is gone or being deleted
// in Atlas, found right after this function deleted one of its endpoints
// (AfterDelete) or just before it would have. Nothing more is posted into it.
type EndpointServiceRemovedError struct {
	EndpointID  string
	ProjectID   string
	ServiceID   string
	ServiceName string // empty when the container had not cached it
	AfterDelete bool
}

func (e *EndpointServiceRemovedError) Error() string {
	svc := e.ServiceID
	if e.ServiceName != "" {
		svc += " (" + e.ServiceName + ")"
	}
	when := "before interface endpoint " + e.EndpointID + " could be deleted"
	if e.AfterDelete {
		when = "after interface endpoint " + e.EndpointID + " was deleted"
	}
	return fmt.Sprintf("atlas endpoint service %s in project %s is gone or being deleted, found %s; nothing more was posted into it. "+
		"VPC endpoints that point at its service name no longer connect: create a new endpoint service in Atlas and VPC endpoints for its new name",
		svc, e.ProjectID, when)
}

// DeregistrationError: some endpoints of a delete event could not be removed
// from Atlas. A retry of the event is safe: removed ones read not-registered.
type DeregistrationError struct {
	ProjectID string
	Failed    map[string]error // by VPC endpoint id
}

func (e *DeregistrationError) Error() string {
	return fmt.Sprintf("deregistration in project %s failed for %d endpoint(s): %s; a retry of the event resumes where this one stopped",
		e.ProjectID, len(e.Failed), joinFailures(e.Failed))
}

// ReconcileError: a reconcile run could not repair some endpoints. The run's
// log line lists every endpoint's outcome; the next run tries again.
type ReconcileError struct {
	ProjectID string
	Failed    map[string]error // by VPC endpoint id, "account …" or "service …"
}

func (e *ReconcileError) Error() string {
	return fmt.Sprintf("reconcile in project %s failed for %d endpoint(s), account(s) or service(s): %s; the next run tries again",
		e.ProjectID, len(e.Failed), joinFailures(e.Failed))
}

// joinFailures lists failures in a stable order, each with its cause.
func joinFailures(failed map[string]error) string {
	ids := make([]string, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		parts = append(parts, id+": "+failed[id].Error())
	}
	return strings.Join(parts, "; ")
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

// configCause is err's ConfigError if it has one, else err. The AWS SDK's
// configuration is loaded when an event first reaches AWS, so a setting the
// SDK refuses comes back from whatever reached AWS first (a lookup, the
// secret). It is the cause, and what the operator must fix, so it is what
// the invocation reports: Lambda's errorType is ConfigError.
func configCause(err error) error {
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		return ce
	}
	return err
}

// nextAfterError says in the log what happens to the event after err.
func nextAfterError(err error) string {
	if _, ok := errors.AsType[*event.InvalidEventError](err); ok {
		return "not-retryable: fix the event or the rule; Lambda's retries will fail the same way and the event goes to the failure queue"
	}
	return "lambda-retry: Lambda retries the event, then sends it to the failure queue"
}
