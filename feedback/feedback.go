// Package feedback tells the owners of VPC endpoints what the registrar did
// with them. Owners often sit in member accounts of an organisation, where
// the function's logs are out of reach. Each outcome becomes an EventBridge
// event ("Atlas Endpoint Outcome" from atlas-vpce-registrar) on the
// registrar's bus, for rules to route anywhere; and, where the owners opted
// in, the status is written on the endpoint itself as atlas-registrar:* tags.
// Neither ever fails a registration: what cannot be sent is logged.
package feedback

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/atlasvpce/registrar/awsvpc"
	"github.com/atlasvpce/registrar/handler"
)

// EventsAPI is the part of *eventbridge.Client that Reporter uses.
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventsAPI = (*eventbridge.Client)(nil)

// The outcome event's source and detail-type: a rule matches them.
const (
	Source     = "atlas-vpce-registrar"
	DetailType = "Atlas Endpoint Outcome"
)

// The tags written on an endpoint. IAM allows the function to write keys
// under TagPrefix only.
const (
	TagPrefix  = "atlas-registrar:"
	TagStatus  = TagPrefix + "status"  // handler.TagStatus…
	TagProject = TagPrefix + "project" // the Atlas project id
	TagUpdated = TagPrefix + "updated" // RFC 3339, UTC
	TagMessage = TagPrefix + "message" // what happened and what to do
)

// maxEntries is the most entries one PutEvents call takes.
const maxEntries = 10

// maxReason bounds an event's reason, so that an entry stays far below
// EventBridge's 256 KB.
const maxReason = 4096

// maxTagging bounds the CreateTags calls in flight.
const maxTagging = 8

// Detail is an outcome event's detail.
type Detail struct {
	VPCEndpointID     string            `json:"vpcEndpointId"`
	AccountID         string            `json:"accountId"`
	Region            string            `json:"region"`
	ProjectID         string            `json:"projectId"`
	EndpointServiceID string            `json:"endpointServiceId"`
	Kind              string            `json:"kind"`
	Outcome           string            `json:"outcome"`
	ConnectionStatus  string            `json:"connectionStatus"`
	Reason            string            `json:"reason"`
	Warnings          []handler.Warning `json:"warnings"`
}

// Reporter is the handler's Reporter: events to Bus (when Events is set and
// Bus is not empty), and status tags when Tags is set. It is safe for
// concurrent use.
type Reporter struct {
	Events EventsAPI
	Bus    string // a name or an ARN
	Tags   bool
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
}

var _ handler.Reporter = (*Reporter)(nil)

// Report publishes the outcomes and writes the tags, logging what fails.
func (r *Reporter) Report(ctx context.Context, outs []handler.EndpointOutcome) {
	if r.Events != nil && r.Bus != "" {
		r.publish(ctx, outs)
	}
	if r.Tags {
		r.tag(ctx, outs)
	}
}

func (r *Reporter) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Entry is the PutEvents entry of one outcome.
func Entry(bus string, o handler.EndpointOutcome) (ebtypes.PutEventsRequestEntry, error) {
	d := Detail{
		VPCEndpointID: o.VPCEndpointID, AccountID: o.AccountID, Region: o.Region,
		ProjectID: o.ProjectID, EndpointServiceID: o.EndpointServiceID, Kind: o.Kind,
		Outcome: o.Outcome, ConnectionStatus: o.ConnectionStatus, Reason: cut(o.Reason, maxReason),
		Warnings: o.Warnings,
	}
	if d.Warnings == nil {
		d.Warnings = []handler.Warning{} // a rule can then test it as a list
	}
	if d.Kind == "" {
		d.Kind = handler.KindCluster
	}
	b, err := json.Marshal(d)
	if err != nil {
		return ebtypes.PutEventsRequestEntry{}, err
	}
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailType),
		Detail:       aws.String(string(b)),
		Resources:    []string{},
	}, nil
}

// cut shortens s to at most n bytes, on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// sending is one entry on its way, with what its last attempt said.
type sending struct {
	entry      ebtypes.PutEventsRequestEntry
	endpointID string
	code, msg  string
}

// publish sends one event per outcome, ten to a call. Entries that fail are
// sent once more; what fails again is logged.
func (r *Reporter) publish(ctx context.Context, outs []handler.EndpointOutcome) {
	all := make([]*sending, 0, len(outs))
	for _, o := range outs {
		e, err := Entry(r.Bus, o)
		if err != nil {
			r.log().WarnContext(ctx, "outcome event not published", slog.String("vpcEndpointId", o.VPCEndpointID), slog.String("error", err.Error()))
			continue
		}
		all = append(all, &sending{entry: e, endpointID: o.VPCEndpointID})
	}
	for chunk := range slices.Chunk(all, maxEntries) {
		failed := r.put(ctx, chunk)
		if len(failed) > 0 {
			failed = r.put(ctx, failed)
		}
		for _, s := range failed {
			r.log().LogAttrs(ctx, slog.LevelWarn, "outcome event not published",
				slog.String("vpcEndpointId", s.endpointID),
				slog.String("eventBus", r.Bus),
				slog.String("errorCode", s.code),
				slog.String("error", s.msg),
				slog.String("next", "none: the outcome is in this log only"),
			)
		}
	}
}

// put sends entries in one PutEvents call and returns those that failed.
func (r *Reporter) put(ctx context.Context, entries []*sending) []*sending {
	in := &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, len(entries))}
	for i, s := range entries {
		in.Entries[i] = s.entry
	}
	out, err := r.Events.PutEvents(ctx, in)
	if err != nil {
		for _, s := range entries {
			s.code, s.msg = "", err.Error()
		}
		return entries
	}
	var failed []*sending
	for i, s := range entries {
		// The answer lists the entries in the order sent; one it lacks failed.
		if i >= len(out.Entries) {
			s.code, s.msg = "", "no result for this entry in the answer"
			failed = append(failed, s)
			continue
		}
		if res := out.Entries[i]; aws.ToString(res.ErrorCode) != "" || aws.ToString(res.EventId) == "" {
			s.code, s.msg = aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage)
			failed = append(failed, s)
		}
	}
	return failed
}

// tag writes the status tags of every outcome that has one, a few at a time.
func (r *Reporter) tag(ctx context.Context, outs []handler.EndpointOutcome) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	updated := now().UTC().Format(time.RFC3339)
	sem := make(chan struct{}, maxTagging)
	var wg sync.WaitGroup
	for _, o := range outs {
		if o.TagStatus == "" || o.Tagger == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := o.Tagger.TagEndpoint(ctx, o.VPCEndpointID, Tags(o, updated))
			switch {
			case errors.Is(err, awsvpc.ErrTagLimit):
				r.log().LogAttrs(ctx, slog.LevelWarn, "endpoint has no room for status tags",
					slog.String("vpcEndpointId", o.VPCEndpointID), slog.String("accountId", o.AccountID),
					slog.String("status", o.TagStatus), slog.String("error", err.Error()),
					slog.String("next", "none: remove a tag from the endpoint to get status tags"))
			case err != nil:
				r.log().LogAttrs(ctx, slog.LevelWarn, "status tags not written",
					slog.String("vpcEndpointId", o.VPCEndpointID), slog.String("accountId", o.AccountID),
					slog.String("status", o.TagStatus), slog.String("error", err.Error()),
					slog.String("next", "none: check ec2:CreateTags for the function's role (and the member role, TagEndpoints=true in member-account.yaml)"))
			}
		})
	}
	wg.Wait()
}

// Tags are the status tags of an outcome, updated at the given time.
func Tags(o handler.EndpointOutcome, updated string) map[string]string {
	return map[string]string{
		TagStatus:  o.TagStatus,
		TagProject: o.ProjectID,
		TagUpdated: updated,
		TagMessage: Message(o),
	}
}

// Message says in at most awsvpc.MaxTagValueLen characters what happened to
// the endpoint and what to do: Atlas's errorMessage, or the warnings' codes.
// The detail is what a cut shortens; the advice stays whole. The fixed
// words use only characters a tag value keeps, so none is lost.
func Message(o handler.EndpointOutcome) string {
	var head, detail, advice string
	switch o.TagStatus {
	case handler.TagStatusAvailable:
		head = "AVAILABLE in Atlas"
		if len(o.Warnings) > 0 {
			codes := make([]string, len(o.Warnings))
			for i, w := range o.Warnings {
				codes[i] = w.Code
			}
			head += " but applications may not connect:"
			detail = strings.Join(codes, " ")
			advice = "- see the warnings in the outcome event"
		}
	case handler.TagStatusPending:
		head = "Atlas status " + cmp.Or(o.ConnectionStatus, "unknown") + " when the registrar ran out of time"
		advice = "- it resumes on the next delivery or reconcile: nothing to do"
	case handler.TagStatusFailed:
		head, detail = "registration failed:", cmp.Or(o.AtlasError, o.Reason)
		advice = "- fix the cause in AWS: the registrar then retries"
	case handler.TagStatusKept:
		head, detail = "registration failed and the entry is kept in Atlas as the last endpoint of its service:", cmp.Or(o.AtlasError, o.Reason)
		advice = "- fix the cause in AWS and then ask the operator of the registrar"
	}
	head, advice = awsvpc.TagValue(head), awsvpc.TagValue(advice)
	room := awsvpc.MaxTagValueLen - len([]rune(head)) - len([]rune(advice)) - 2
	detail = awsvpc.TagValue(detail)
	if r := []rune(detail); len(r) > room {
		detail = strings.TrimSpace(string(r[:max(room-3, 0)])) + "..."
	}
	return awsvpc.TagValue(strings.Join(slices.DeleteFunc([]string{head, detail, advice}, func(s string) bool { return s == "" }), " "))
}
