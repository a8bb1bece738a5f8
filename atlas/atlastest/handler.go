package atlastest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atlasvpce/registrar/atlas"
)

const (
	mediaTypeV2 = "application/vnd.atlas.2023-01-01+json"
	mediaTypeV1 = "application/json"
	tokenPath   = "/api/oauth/token"
	maxBody     = 1 << 20
)

// recorder captures the status for the request log, and records the request
// just before the first byte of the answer goes out, so a client that has seen
// the answer always finds it counted.
type recorder struct {
	http.ResponseWriter
	status int
	commit func(status int)
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.commit(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection for ResetConn.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP serves the fake API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var entry Request
	committed := false
	commit := func(status int) {
		if committed {
			return
		}
		committed = true
		entry.Status = status
		f.logMu.Lock()
		f.requests = append(f.requests, entry)
		f.logMu.Unlock()
		f.logf("%s %s -> %s", entry.Method, entry.Path, statusText(status))
	}
	rec := &recorder{ResponseWriter: w, commit: commit}
	body, err := io.ReadAll(http.MaxBytesReader(rec, r.Body, maxBody))
	entry = Request{
		Method: r.Method, Path: r.URL.Path, Accept: r.Header.Get("Accept"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Body: body, Time: f.now(),
	}
	// No answer was written: the connection was reset, or the client left during a delay.
	defer func() { commit(rec.status) }()
	if err != nil {
		writeError(rec, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "The request body is too large or could not be read.")
		return
	}

	switch {
	case r.URL.Path == tokenPath:
		f.serveToken(rec, r, body, &entry)
	case strings.HasPrefix(r.URL.Path, "/api/atlas/"):
		f.serveAPI(rec, r, body, &entry)
	default:
		writeError(rec, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
	}
}

func statusText(code int) string {
	if code == 0 {
		return "no response (connection reset or client gone)"
	}
	return strconv.Itoa(code)
}

func (f *Fake) serveAPI(w *recorder, r *http.Request, body []byte, entry *Request) {
	h := r.Header.Get("Authorization")
	var ok bool
	switch {
	case strings.HasPrefix(h, "Digest "):
		entry.Auth = "digest"
		ok = f.checkDigest(r, h[len("Digest "):])
	case strings.HasPrefix(h, "Bearer "):
		entry.Auth = "bearer"
		ok = f.checkBearer(h[len("Bearer "):])
	}
	if !ok {
		f.challenge(w)
		return
	}
	entry.Authenticated = true

	if f.applyFault(w, r) {
		return
	}
	if f.rateLimited(w) {
		return
	}

	var version string
	rest := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(rest, "/api/atlas/v2/"):
		version, rest = "v2", strings.TrimPrefix(rest, "/api/atlas/v2/")
	case strings.HasPrefix(rest, "/api/atlas/v1.0/"):
		version, rest = "v1.0", strings.TrimPrefix(rest, "/api/atlas/v1.0/")
	default:
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
		return
	}
	if !acceptable(version, r.Header.Get("Accept")) {
		writeError(w, http.StatusNotAcceptable, "INVALID_VERSION_DATE",
			"The Accept header must name a supported API version, e.g. "+mediaTypeV2+".")
		return
	}
	if len(body) > 0 && !contentTypeOK(version, r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
			"The Content-Type of the request body is not supported.")
		return
	}

	segs, ok := splitPath(rest)
	if !ok {
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
		return
	}
	f.route(w, r, version, segs, body)
}

// splitPath splits an escaped path into unescaped segments, refusing empty, dot and
// undecodable segments (and so encoded slashes cannot smuggle extra segments).
func splitPath(p string) ([]string, bool) {
	raw := strings.Split(strings.TrimSuffix(p, "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" || u == "." || u == ".." || strings.Contains(u, "/") {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

func acceptable(version, accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if version == "v2" && mt == mediaTypeV2 {
			return true
		}
		if version == "v1.0" && (mt == mediaTypeV1 || mt == "*/*" || mt == "application/*") {
			return true
		}
	}
	// v1.0 predates versioned media types and takes requests without Accept.
	return version == "v1.0" && strings.TrimSpace(accept) == ""
}

func contentTypeOK(version, ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if version == "v2" {
		return mt == mediaTypeV2 || mt == mediaTypeV1
	}
	return mt == mediaTypeV1
}

// route dispatches on the path segments after /api/atlas/{version}/:
//
//	v2:   groups/{p}/privateEndpoint/AWS/endpointService[/{sid}[/endpoint[/{eid}]]]
//	v1.0: groups/{p}/privateEndpoint[/{sid}[/interfaceEndpoints[/{eid}]]]
//	v2:   groups/{p}/privateNetworkSettings/endpointIds[/{eid}] (federation.go)
func (f *Fake) route(w http.ResponseWriter, r *http.Request, version string, segs []string, body []byte) {
	notFound := func() {
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find resource "+r.URL.Path+".")
	}
	fed := version == "v2" && len(segs) >= 3 && segs[2] == "privateNetworkSettings"
	if len(segs) < 3 || segs[0] != "groups" || (segs[2] != "privateEndpoint" && !fed) {
		notFound()
		return
	}
	if !objectIDPattern.MatchString(segs[1]) {
		badPathParameter(w, "groupId", segs[1], objectIDPattern.String())
		return
	}
	project := segs[1]
	if !f.hasProject(project) {
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find project "+segs[1]+".", segs[1])
		return
	}
	rest := segs[3:]
	if fed {
		f.routeFederation(w, r, project, rest, body)
		return
	}
	child := "interfaceEndpoints"
	if version == "v2" {
		if len(rest) < 2 || rest[1] != "endpointService" {
			notFound()
			return
		}
		switch rest[0] {
		case "AWS":
		case "AZURE", "GCP":
			if len(rest) == 2 && r.Method == http.MethodGet {
				writeJSON(w, version, http.StatusOK, []any{})
				return
			}
			notFound()
			return
		default:
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid cloud provider "+rest[0]+".", rest[0])
			return
		}
		rest, child = rest[2:], "endpoint"
	}

	switch {
	case len(rest) == 0:
		if !allow(w, r, http.MethodGet) {
			return
		}
		f.listServices(w, version, project)
	case len(rest) == 1:
		if !allow(w, r, http.MethodGet) {
			return
		}
		f.getService(w, version, project, rest[0])
	case len(rest) == 2 && rest[1] == child:
		if !allow(w, r, http.MethodPost) {
			return
		}
		f.createEndpoint(w, version, project, rest[0], body)
	case len(rest) == 3 && rest[1] == child:
		if !allow(w, r, http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodGet {
			f.getEndpoint(w, version, project, rest[0], rest[2])
		} else {
			f.deleteEndpoint(w, project, rest[0], rest[2])
		}
	default:
		notFound()
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method "+r.Method+" is not allowed here.")
	return false
}

// serviceJSON renders an endpoint service: v2's endpoint service or v1.0's
// private endpoint connection (which has no AVAILABLE status: a ready connection
// waits for the user's interface endpoints).
func serviceJSON(version string, s *service) any {
	ids := s.endpointIDs()
	if version == "v1.0" {
		status := s.currentStatus()
		if status == "AVAILABLE" {
			status = "WAITING_FOR_USER"
		}
		return map[string]any{
			"id": s.id, "endpointServiceName": s.name, "errorMessage": nullable(s.errorMessage),
			"interfaceEndpoints": ids, "status": status, "region": awsRegion(s.name),
		}
	}
	m := map[string]any{
		"id": s.id, "endpointServiceName": s.name,
		"interfaceEndpoints": ids, "status": s.currentStatus(), "regionName": s.region, "cloudProvider": s.cloudProvider,
	}
	omitEmpty(m, "errorMessage", s.errorMessage)
	return m
}

// nullable is v1.0's spelling of "no error message": an explicit null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// omitEmpty sets m[key] only when v is set. The v2 specification types
// errorMessage as a string, not a nullable one, so v2 leaves it out instead of
// sending null.
func omitEmpty(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

func (f *Fake) listServices(w http.ResponseWriter, version, project string) {
	f.mu.Lock()
	f.sweep(f.now())
	out := make([]any, 0, len(f.services))
	for _, s := range f.services {
		if s.project != project {
			continue
		}
		out = append(out, serviceJSON(version, s))
	}
	f.mu.Unlock()
	writeJSON(w, version, http.StatusOK, out)
}

// lookupService validates and finds a service, answering the error itself.
// Callers hold f.mu.
func (f *Fake) lookupService(w http.ResponseWriter, project, sid string) *service {
	if !objectIDPattern.MatchString(sid) {
		badPathParameter(w, "endpointServiceId", sid, objectIDPattern.String())
		return nil
	}
	s := f.service(sid)
	if s == nil || s.project != project {
		writeError(w, http.StatusNotFound, "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND", "Cannot find endpoint service "+sid+".", sid)
		return nil
	}
	return s
}

func (f *Fake) getService(w http.ResponseWriter, version, project, sid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.now())
	if s := f.lookupService(w, project, sid); s != nil {
		writeJSON(w, version, http.StatusOK, serviceJSON(version, s))
	}
}

func endpointJSON(version string, e *endpoint, st endpointState) any {
	m := map[string]any{
		"interfaceEndpointId": e.id, "connectionStatus": st.status, "deleteRequested": st.deleteRequested,
	}
	if version == "v2" {
		m["cloudProvider"] = "AWS"
		omitEmpty(m, "errorMessage", st.errorMessage)
	} else {
		m["errorMessage"] = nullable(st.errorMessage)
	}
	return m
}

// report computes the endpoint's state and logs a change since the last report.
// Callers hold f.mu.
func (f *Fake) report(e *endpoint, now time.Time) endpointState {
	st := f.state(e, now)
	if st.status != e.lastReported {
		f.logf("endpoint %s: %s -> %s", e.id, orNew(e.lastReported), st.status)
		e.lastReported = st.status
	}
	return st
}

func orNew(s string) string {
	if s == "" {
		return "new"
	}
	return s
}

func (f *Fake) createEndpoint(w http.ResponseWriter, version, project, sid string, body []byte) {
	field := "id"
	if version == "v1.0" {
		field = "interfaceEndpointId"
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil || req == nil {
		writeError(w, http.StatusBadRequest, "MALFORMED_JSON", "The request body is not a JSON object.")
		return
	}
	id, _ := req[field].(string)
	if id == "" {
		writeBadRequest(w, "VALIDATION_ERROR", "The required attribute "+field+" was not specified.", []any{field},
			atlas.FieldViolation{Field: field, Description: "is required"})
		return
	}
	if !endpointIDPattern.MatchString(id) {
		writeBadRequest(w, "VALIDATION_ERROR", fmt.Sprintf("Invalid attribute %s specified: %q does not match %s.", field, id, endpointIDPattern), []any{field, id},
			atlas.FieldViolation{Field: field, Description: fmt.Sprintf("must match %q", endpointIDPattern.String())})
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweep(now)
	s := f.lookupService(w, project, sid)
	if s == nil {
		return
	}
	if !s.deleteAt.IsZero() {
		// Atlas does not document this answer; a service on its way out cannot take endpoints.
		writeError(w, http.StatusNotFound, "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND", "Endpoint service "+sid+" is being deleted.")
		return
	}
	if s.endpoint(id) != nil {
		writeError(w, http.StatusConflict, "DUPLICATE_INTERFACE_ENDPOINT",
			"Interface endpoint "+id+" already exists for endpoint service "+sid+".", id, sid)
		return
	}
	e := &endpoint{id: id, created: now}
	if f.rejectFirst[id] {
		delete(f.rejectFirst, id)
		e.rejected = true
	} else if f.rejectNext > 0 {
		f.rejectNext--
		e.rejected = true
	} else if f.failNext > 0 {
		f.failNext--
		e.failMsg = f.failMsg
	}
	s.endpoints = append(s.endpoints, e)
	writeJSON(w, version, http.StatusOK, endpointJSON(version, e, f.report(e, now)))
}

func (f *Fake) findEndpoint(w http.ResponseWriter, project, sid, eid string) *endpoint {
	s := f.lookupService(w, project, sid)
	if s == nil {
		return nil
	}
	if !endpointIDPattern.MatchString(eid) {
		badPathParameter(w, "endpointId", eid, endpointIDPattern.String())
		return nil
	}
	e := s.endpoint(eid)
	if e == nil {
		writeError(w, http.StatusNotFound, "RESOURCE_NOT_FOUND", "Cannot find interface endpoint "+eid+".", eid)
	}
	return e
}

func (f *Fake) getEndpoint(w http.ResponseWriter, version, project, sid, eid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweep(now)
	if e := f.findEndpoint(w, project, sid, eid); e != nil {
		writeJSON(w, version, http.StatusOK, endpointJSON(version, e, f.report(e, now)))
	}
}

func (f *Fake) deleteEndpoint(w http.ResponseWriter, project, sid, eid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.sweep(now)
	e := f.findEndpoint(w, project, sid, eid)
	if e == nil {
		return
	}
	if e.deleteAt.IsZero() {
		e.deleteAt = now
	}
	f.report(e, now)
	w.WriteHeader(http.StatusNoContent)
}

// applyFault answers with the first matching fault, if any, and reports whether it
// did. A fault with only a Delay slows the request down and lets it through.
func (f *Fake) applyFault(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	var flt *Fault
	for i, c := range f.faults {
		if (c.Method == "" || c.Method == r.Method) && strings.Contains(r.URL.Path, c.PathContains) {
			cp := *c
			flt = &cp
			if c.Times > 0 {
				c.Times--
				if c.Times == 0 {
					f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
				}
			}
			break
		}
	}
	f.mu.Unlock()
	if flt == nil {
		return false
	}
	if flt.Delay > 0 {
		t := time.NewTimer(flt.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	if flt.ResetConn {
		if rec, ok := w.(*recorder); ok {
			rec.commit(0) // counted before the client can see the reset
		}
		resetConn(w)
		return true
	}
	if flt.Status == 0 {
		return false
	}
	if flt.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(flt.RetryAfter.Seconds()))))
	}
	if flt.Body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(flt.Status)
		_, _ = w.Write(flt.Body)
		return true
	}
	code := flt.ErrorCode
	if code == "" {
		code = defaultErrorCode(flt.Status)
	}
	writeBadRequestOr(w, flt.Status, code, "Injected fault.", flt.Parameters, flt.BadRequestFields)
	return true
}

func defaultErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "VALIDATION_ERROR"
	case http.StatusNotFound:
		return "RESOURCE_NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RATE_LIMITED"
	case http.StatusInternalServerError:
		return "UNEXPECTED_ERROR"
	}
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// resetConn drops the connection so that the client sees a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// bucket is a token bucket on the fake's clock.
type bucket struct {
	cfg      TokenBucket
	level    float64
	at       time.Time
	perToken time.Duration
}

// newBucket returns a full bucket; it panics on a configuration that cannot
// work, naming the Options field.
func newBucket(field string, cfg TokenBucket, now time.Time) *bucket {
	if cfg.Capacity <= 0 || cfg.Refill <= 0 || cfg.Interval <= 0 {
		panic("atlastest: " + field + " needs positive Capacity, Refill and Interval")
	}
	return &bucket{cfg: cfg, level: float64(cfg.Capacity), at: now, perToken: cfg.Interval / time.Duration(cfg.Refill)}
}

// take spends a token if there is one; otherwise it reports how long until
// there will be. Callers hold f.mu.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	if el := now.Sub(b.at); el > 0 {
		b.level = math.Min(float64(b.cfg.Capacity), b.level+float64(el)/float64(b.perToken))
	}
	b.at = now
	if b.level >= 1 {
		b.level--
		return true, 0
	}
	return false, time.Duration((1 - b.level) * float64(b.perToken))
}

// retryAfter writes the whole seconds until a token is back, at least 1, as
// Atlas does.
func retryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}

// rateLimited applies the API token bucket, answering 429 when it is empty.
func (f *Fake) rateLimited(w http.ResponseWriter) bool {
	if f.apiBucket == nil {
		return false
	}
	f.mu.Lock()
	ok, wait := f.apiBucket.take(f.now())
	f.mu.Unlock()
	if ok {
		return false
	}
	retryAfter(w, wait)
	writeError(w, http.StatusTooManyRequests, "RATE_LIMITED_TOKEN_BUCKET",
		"You have exceeded the rate limit for this resource. Please retry later.")
	return true
}

// errorBody is the specification's ApiError. Atlas fills parameters with the
// values its message names, and adds badRequestDetail to some 400s.
type errorBody struct {
	BadRequestDetail *badRequestDetail `json:"badRequestDetail,omitempty"`
	Detail           string            `json:"detail"`
	Error            int               `json:"error"`
	ErrorCode        string            `json:"errorCode"`
	Parameters       []any             `json:"parameters"`
	Reason           string            `json:"reason"`
}

type badRequestDetail struct {
	Fields []atlas.FieldViolation `json:"fields"`
}

// writeError answers with Atlas's error body; params are the values detail names.
func writeError(w http.ResponseWriter, status int, code, detail string, params ...any) {
	writeBadRequestOr(w, status, code, detail, params, nil)
}

// writeBadRequest answers 400 with the request body fields that were refused.
func writeBadRequest(w http.ResponseWriter, code, detail string, params []any, fields ...atlas.FieldViolation) {
	writeBadRequestOr(w, http.StatusBadRequest, code, detail, params, fields)
}

// badPathParameter answers 400 for a path parameter that does not match its
// pattern. badRequestDetail names request body fields, so it is left out.
func badPathParameter(w http.ResponseWriter, name, value, pattern string) {
	writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
		fmt.Sprintf("Invalid path parameter %s: %q does not match %s.", name, value, pattern), name, value)
}

func writeBadRequestOr(w http.ResponseWriter, status int, code, detail string, params []any, fields []atlas.FieldViolation) {
	body := errorBody{Detail: detail, Error: status, ErrorCode: code, Parameters: params, Reason: http.StatusText(status)}
	if body.Parameters == nil {
		body.Parameters = []any{}
	}
	if len(fields) > 0 {
		body.BadRequestDetail = &badRequestDetail{Fields: fields}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, version string, status int, v any) {
	ct := mediaTypeV2
	if version == "v1.0" {
		ct = mediaTypeV1
	}
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNEXPECTED_ERROR", "encode: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
