package atlastest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/atlasvpce/registrar/atlas"
)

// The Data Federation / Online Archive endpoint list of a project
// (privateNetworkSettings/endpointIds), as MongoDB's v2 specification
// defines it: POST is an upsert answered 201 with the first page of the
// list, DELETE is answered 204, the list is paginated, and an entry moves
// from PENDING to OK (or FAILED, with an errorMessage) and, once deleted,
// reads DELETING before it is gone. The route is served under v2 only, the
// only version the client uses for it.

// fedEntry is one entry of a project's list.
type fedEntry struct {
	atlas.DataFederationEndpoint
	created  time.Time
	failMsg  string
	deleteAt time.Time
}

// atlasRegionPattern is what the fake accepts as a region: Atlas's names are
// upper case (US_EAST_1); the specification has no enum for it.
var atlasRegionPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// fedState computes an entry's status now. Callers hold f.mu.
func (f *Fake) fedState(e *fedEntry, now time.Time) (status, errorMessage string, gone bool) {
	if !e.deleteAt.IsZero() {
		if !f.holdDeleting && now.Sub(e.deleteAt) >= f.deleteDelay {
			return "", "", true
		}
		return atlas.StatusDeleting, "", false
	}
	switch {
	case f.holdPending || now.Sub(e.created) < f.pending:
		return atlas.StatusPending, "", false
	case e.failMsg != "":
		return atlas.StatusFailed, e.failMsg, false
	}
	return atlas.StatusOK, "", false
}

// sweepFederation forgets deleted entries whose DELETING time is over.
// Callers hold f.mu.
func (f *Fake) sweepFederation(now time.Time) {
	for p, list := range f.federation {
		kept := list[:0]
		for _, e := range list {
			if _, _, gone := f.fedState(e, now); gone {
				f.logf("data federation endpoint %s: DELETING -> gone", e.EndpointID)
				continue
			}
			kept = append(kept, e)
		}
		clear(list[len(kept):])
		f.federation[p] = kept
	}
}

// view is the entry as Atlas reports it now. Callers hold f.mu.
func (f *Fake) view(e *fedEntry, now time.Time) atlas.DataFederationEndpoint {
	v := e.DataFederationEndpoint
	v.Status, v.ErrorMessage, _ = f.fedState(e, now)
	return v
}

func (f *Fake) fedEntry(project, id string) *fedEntry {
	for _, e := range f.federation[project] {
		if e.EndpointID == id {
			return e
		}
	}
	return nil
}

// seedFederation adds entries that have long been OK.
func (f *Fake) seedFederation(project string, entries []atlas.DataFederationEndpoint) {
	longAgo := f.now().Add(-24 * time.Hour)
	for _, e := range entries {
		if !endpointIDPattern.MatchString(e.EndpointID) {
			panic(fmt.Sprintf("atlastest: data federation endpoint id %q does not match %s", e.EndpointID, endpointIDPattern))
		}
		if e.Provider == "" {
			e.Provider = atlas.ProviderAWS
		}
		if e.Type == "" {
			e.Type = atlas.TypeDataLake
		}
		e.Status, e.ErrorMessage = "", ""
		if f.federation == nil {
			f.federation = map[string][]*fedEntry{}
		}
		f.federation[project] = append(f.federation[project], &fedEntry{DataFederationEndpoint: e, created: longAgo})
	}
}

// FailDataFederation makes the next registration of each of ids end FAILED
// with errorMessage msg once it leaves PENDING.
func (f *Fake) FailDataFederation(msg string, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fedFail == nil {
		f.fedFail = map[string]string{}
	}
	for _, id := range ids {
		f.fedFail[id] = msg
	}
}

// DataFederationEndpoints returns a project's entries ("" for the default
// project) as Atlas reports them now, in the order they were added.
func (f *Fake) DataFederationEndpoints(project string) []atlas.DataFederationEndpoint {
	if project == "" {
		project = f.projectID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepFederation(now)
	out := make([]atlas.DataFederationEndpoint, 0, len(f.federation[project]))
	for _, e := range f.federation[project] {
		out = append(out, f.view(e, now))
	}
	return out
}

// routeFederation serves groups/{p}/privateNetworkSettings/endpointIds[/{id}];
// rest is what follows privateNetworkSettings.
func (f *Fake) routeFederation(w http.ResponseWriter, r *http.Request, project string, rest []string, body []byte) {
	switch {
	case len(rest) == 1 && rest[0] == "endpointIds":
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodGet {
			f.listFederation(w, r, project)
		} else {
			f.createFederation(w, r, project, body)
		}
	case len(rest) == 2 && rest[0] == "endpointIds":
		if !allow(w, r, http.MethodGet, http.MethodDelete) {
			return
		}
		if !endpointIDPattern.MatchString(rest[1]) {
			badPathParameter(w, "endpointId", rest[1], endpointIDPattern.String())
			return
		}
		f.oneFederation(w, r, project, rest[1])
	default:
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
	}
}

// pageParams reads itemsPerPage (1–500, default 100), pageNum (≥1, default
// 1) and includeCount (default true), answering 400 for a bad one.
func pageParams(w http.ResponseWriter, r *http.Request) (size, num int, count, ok bool) {
	q := r.URL.Query()
	size, num, count = 100, 1, true
	bad := func(name, v, want string) {
		writeError(w, http.StatusBadRequest, "INVALID_QUERY_PARAMETER",
			fmt.Sprintf("Invalid query parameter %s: %q, want %s.", name, v, want), name, v)
	}
	if v := q.Get("itemsPerPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			bad("itemsPerPage", v, "an integer from 1 to 500")
			return 0, 0, false, false
		}
		size = n
	}
	if v := q.Get("pageNum"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad("pageNum", v, "an integer of at least 1")
			return 0, 0, false, false
		}
		num = n
	}
	if v := q.Get("includeCount"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("includeCount", v, "true or false")
			return 0, 0, false, false
		}
		count = b
	}
	return size, num, count, true
}

// page renders one page of a project's list. Callers hold f.mu.
func (f *Fake) page(project string, size, num int, count bool, now time.Time) map[string]any {
	list := f.federation[project]
	results := []atlas.DataFederationEndpoint{}
	if from := (num - 1) * size; from < len(list) {
		for _, e := range list[from:min(from+size, len(list))] {
			results = append(results, f.view(e, now))
		}
	}
	out := map[string]any{"results": results, "links": []any{}}
	if count {
		out["totalCount"] = len(list)
	}
	return out
}

func (f *Fake) listFederation(w http.ResponseWriter, r *http.Request, project string) {
	size, num, count, ok := pageParams(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepFederation(now)
	writeJSON(w, "v2", http.StatusOK, f.page(project, size, num, count, now))
}

// invalidAttribute answers Atlas's 400 for a refused body field.
func invalidAttribute(w http.ResponseWriter, field, why string) {
	writeBadRequest(w, "INVALID_ATTRIBUTE", "Invalid attribute "+field+" specified.", []any{field},
		atlas.FieldViolation{Field: field, Description: why})
}

func (f *Fake) createFederation(w http.ResponseWriter, r *http.Request, project string, body []byte) {
	var req atlas.DataFederationEndpoint
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil || obj == nil || json.Unmarshal(body, &req) != nil {
		writeError(w, http.StatusBadRequest, "MALFORMED_JSON", "The request body is not a JSON object of the expected shape.")
		return
	}
	switch {
	case req.EndpointID == "":
		writeBadRequest(w, "VALIDATION_ERROR", "The required attribute endpointId was not specified.", []any{"endpointId"},
			atlas.FieldViolation{Field: "endpointId", Description: "is required"})
		return
	case req.Provider != "" && req.Provider != atlas.ProviderAWS:
		// The specification also allows AZURE; this fake serves AWS only.
		invalidAttribute(w, "provider", "must be AWS here")
		return
	case req.Type != "" && req.Type != atlas.TypeDataLake:
		invalidAttribute(w, "type", "must be DATA_LAKE")
		return
	case !endpointIDPattern.MatchString(req.EndpointID):
		invalidAttribute(w, "endpointId", fmt.Sprintf("an AWS endpoint id must match %q", endpointIDPattern.String()))
		return
	case req.Region != "" && req.CustomerEndpointDNSName == "":
		invalidAttribute(w, "region", "requires customerEndpointDNSName")
		return
	case req.Region == "" && req.CustomerEndpointDNSName != "":
		invalidAttribute(w, "customerEndpointDNSName", "requires region")
		return
	case req.Region != "" && !atlasRegionPattern.MatchString(req.Region):
		invalidAttribute(w, "region", "must be an Atlas region name, as US_EAST_1")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepFederation(now)
	switch e := f.fedEntry(project, req.EndpointID); {
	case e != nil && !e.deleteAt.IsZero():
		// Atlas does not document a POST during DELETING; refusing it catches
		// a client that does not wait for the 404.
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Private endpoint "+req.EndpointID+" is being deleted.", req.EndpointID)
		return
	case e != nil:
		// An upsert: only the comment changes.
		e.Comment = req.Comment
	default:
		if req.Provider == "" {
			req.Provider = atlas.ProviderAWS
		}
		if req.Type == "" {
			req.Type = atlas.TypeDataLake
		}
		req.Status, req.ErrorMessage = "", ""
		e = &fedEntry{DataFederationEndpoint: req, created: now, failMsg: f.fedFail[req.EndpointID]}
		delete(f.fedFail, req.EndpointID)
		if f.federation == nil {
			f.federation = map[string][]*fedEntry{}
		}
		f.federation[project] = append(f.federation[project], e)
		f.logf("data federation endpoint %s: new -> PENDING", e.EndpointID)
	}
	writeJSON(w, "v2", http.StatusCreated, f.page(project, 100, 1, true, now))
}

func (f *Fake) oneFederation(w http.ResponseWriter, r *http.Request, project, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweepFederation(now)
	e := f.fedEntry(project, id)
	if e == nil {
		// The errorCode of this 404 is not documented.
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find private endpoint "+id+".", id)
		return
	}
	if r.Method == http.MethodGet {
		writeJSON(w, "v2", http.StatusOK, f.view(e, now))
		return
	}
	if e.deleteAt.IsZero() {
		e.deleteAt = now
		f.logf("data federation endpoint %s: -> DELETING", id)
	}
	w.Header().Set("Content-Type", mediaTypeV2)
	w.WriteHeader(http.StatusNoContent)
}
