package atlas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxBody caps how much of any response body is read.
const maxBody = 1 << 20

var errBodyTooLarge = errors.New("response body exceeds 1 MiB")

// Sentinel errors matched by *ErrorResponse through errors.Is.
var (
	ErrNotFound     = errors.New("atlas: not found")    // 404
	ErrConflict     = errors.New("atlas: conflict")     // 409
	ErrUnauthorized = errors.New("atlas: unauthorized") // 401, 403
	ErrRateLimited  = errors.New("atlas: rate limited") // 429, or a RATE_LIMITED* error code
	ErrInvalidID    = errors.New("atlas: invalid id")   // matched by *InvalidIDError
)

// ErrorResponse is a non-2xx answer from Atlas. Every text in it comes from the
// server and is bounded: a hostile body cannot flood an error string or a log.
type ErrorResponse struct {
	Method     string
	Path       string // URL path only, no query, no credentials
	StatusCode int
	ErrorCode  string // Atlas "errorCode"
	Detail     string
	Reason     string
	RetryAfter time.Duration // parsed Retry-After, 0 if absent
	// Parameters are Atlas's "parameters", the values its message was made
	// from (which id, which attribute): strings as they are, other JSON values
	// in compact form. At most maxParameters are kept, each cut to
	// maxParameterLen characters; a last "… N more" counts the rest.
	Parameters []string
	// BadRequestFields is a 400's "badRequestDetail.fields": the request body
	// fields Atlas refused and why. At most maxFieldViolations are kept; a last
	// entry with Field "…" counts the rest.
	BadRequestFields []FieldViolation
}

// FieldViolation is one entry of a 400's badRequestDetail: a path to a field
// in the request body, and why Atlas refused it.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// Bounds on what an error keeps of a body's parameters and badRequestDetail.
const (
	maxParameters      = 10
	maxParameterLen    = 128
	maxFieldViolations = 10
	maxFieldLen        = 128
	maxDescriptionLen  = 256
)

func (e *ErrorResponse) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atlas: %s %s: %d", e.Method, e.Path, e.StatusCode)
	switch {
	case e.ErrorCode != "":
		b.WriteString(" " + e.ErrorCode)
	case e.Reason != "":
		b.WriteString(" " + e.Reason)
	default:
		b.WriteString(" " + http.StatusText(e.StatusCode))
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	// Which field was refused is what a reader of the error needs to fix it.
	for i, f := range e.BadRequestFields {
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		b.WriteString(sep + f.Field + ": " + f.Description)
		if i == len(e.BadRequestFields)-1 {
			b.WriteString(")")
		}
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Is matches the sentinel for the status code.
func (e *ErrorResponse) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests || strings.HasPrefix(e.ErrorCode, "RATE_LIMITED")
	}
	return false
}

// apiError is the body Atlas sends with errors (the specification's ApiError).
type apiError struct {
	Detail    string `json:"detail"`
	Error     int    `json:"error"`
	ErrorCode string `json:"errorCode"`
	Reason    string `json:"reason"`
}

// apiErrorDetails are ApiError's optional parts, decoded apart from the rest
// so that one of an unexpected shape cannot cost the errorCode.
type apiErrorDetails struct {
	Parameters       []json.RawMessage `json:"parameters"`
	BadRequestDetail *struct {
		Fields []FieldViolation `json:"fields"`
	} `json:"badRequestDetail"`
}

// checkResponse returns nil for a 2xx response and otherwise an *ErrorResponse
// built from the body (read through a 1 MiB limit). A body that is not Atlas's
// error JSON still yields an *ErrorResponse carrying the status.
func checkResponse(r *http.Response) error {
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		return nil
	}
	e := &ErrorResponse{
		StatusCode: r.StatusCode,
		Reason:     http.StatusText(r.StatusCode),
		RetryAfter: parseRetryAfter(r.Header.Get("Retry-After"), time.Now()),
	}
	if r.Request != nil && r.Request.URL != nil {
		e.Method = r.Request.Method
		e.Path = r.Request.URL.Path
	}
	body, err := readBody(r.Body)
	switch {
	case errors.Is(err, errBodyTooLarge):
		e.Detail = errBodyTooLarge.Error()
	case err != nil:
		// The status alone decides what the caller does; a half-read body adds nothing.
	default:
		var ae apiError
		if json.Unmarshal(body, &ae) == nil {
			e.ErrorCode = truncate(ae.ErrorCode)
			e.Detail = truncate(ae.Detail)
			if ae.Reason != "" {
				e.Reason = truncate(ae.Reason)
			}
		}
		var d apiErrorDetails
		if json.Unmarshal(body, &d) == nil {
			e.Parameters = parameters(d.Parameters)
			if d.BadRequestDetail != nil {
				e.BadRequestFields = fieldViolations(d.BadRequestDetail.Fields)
			}
		}
	}
	return e
}

// parameters renders Atlas's parameters as bounded text.
func parameters(raw []json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(raw), maxParameters)+1)
	for _, r := range raw[:min(len(raw), maxParameters)] {
		var s string
		if json.Unmarshal(r, &s) != nil || !bytes.HasPrefix(r, []byte(`"`)) {
			var b bytes.Buffer
			if json.Compact(&b, r) == nil {
				s = b.String()
			} else {
				s = string(r)
			}
		}
		out = append(out, truncateN(s, maxParameterLen))
	}
	if n := len(raw) - maxParameters; n > 0 {
		out = append(out, fmt.Sprintf("… %d more", n))
	}
	return out
}

// fieldViolations bounds a badRequestDetail's fields.
func fieldViolations(fields []FieldViolation) []FieldViolation {
	if len(fields) == 0 {
		return nil
	}
	out := make([]FieldViolation, 0, min(len(fields), maxFieldViolations)+1)
	for _, f := range fields[:min(len(fields), maxFieldViolations)] {
		out = append(out, FieldViolation{Field: truncateN(f.Field, maxFieldLen), Description: truncateN(f.Description, maxDescriptionLen)})
	}
	if n := len(fields) - maxFieldViolations; n > 0 {
		out = append(out, FieldViolation{Field: "…", Description: fmt.Sprintf("%d more", n)})
	}
	return out
}

// readBody reads at most maxBody bytes and reports a larger body as errBodyTooLarge.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// parseRetryAfter accepts delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// A hostile or broken server must not park the client for years: cap it.
	const maxWait = 24 * time.Hour
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxWait/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxWait)
	}
	return 0
}

// Temporary reports whether err is worth retrying: 429 and 5xx gateway/server
// errors, network failures and per-request timeouts. The caller's own context
// ending, other 4xx answers, invalid ids and undecodable 2xx bodies are not.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrInvalidID) || errors.Is(err, errBodyTooLarge) {
		return false
	}
	var er *ErrorResponse
	if errors.As(err, &er) {
		switch er.StatusCode {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return false
	}
	var rt *requestTimeoutError
	if errors.As(err, &rt) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// The accepted forms of ids, as errors state them. The checks are written
// out (validEndpointID, validObjectID) instead of compiled from these, which
// would run at package init in every cold start; ids_test.go holds the checks
// to the expressions.
const (
	// endpointIDPattern is the Atlas specification's pattern for an AWS
	// interface endpoint id, in the create body and in the path.
	endpointIDPattern = `^vpce-[0-9a-f]{17}$`
	// legacyEndpointIDPattern is the short form AWS used before 2018: EC2 may
	// still know such an endpoint, but Atlas refuses the id with a 400.
	legacyEndpointIDPattern = `^vpce-[0-9a-f]{8}$`
	objectIDPattern         = `^[0-9a-f]{24}$`
)

func validEndpointID(id string) bool { return endpointIDDigits(id) == 17 }

func legacyEndpointID(id string) bool { return endpointIDDigits(id) == 8 }

// endpointIDDigits is the number of hex digits after "vpce-", or -1 if id is not
// vpce- followed by lower-case hex digits only.
func endpointIDDigits(id string) int {
	hex, ok := strings.CutPrefix(id, "vpce-")
	if !ok || !isLowerHex(hex) {
		return -1
	}
	return len(hex)
}

func validObjectID(id string) bool { return len(id) == 24 && isLowerHex(id) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// InvalidIDError reports an identifier that does not have the expected form.
// It matches ErrInvalidID.
type InvalidIDError struct {
	Kind    string // e.g. "interface endpoint id", "project id"
	ID      string
	Pattern string
	Hint    string // optional: what is accepted, in words
}

func (e *InvalidIDError) Error() string {
	msg := fmt.Sprintf("atlas: invalid %s %q: want %s", e.Kind, truncateN(e.ID, 64), e.Pattern)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// Is matches ErrInvalidID.
func (e *InvalidIDError) Is(target error) bool { return target == ErrInvalidID }

// ValidateEndpointID checks an AWS interface endpoint id against the pattern
// Atlas accepts: vpce- and 17 lower-case hex digits. A legacy 8-digit id is
// refused here, before any call, rather than by Atlas with a 400.
func ValidateEndpointID(id string) error {
	if validEndpointID(id) {
		return nil
	}
	return &InvalidIDError{Kind: "interface endpoint id", ID: id, Pattern: endpointIDPattern, Hint: EndpointIDProblem(id)}
}

// EndpointIDForm is what Atlas accepts as an interface endpoint id, in words.
const EndpointIDForm = `Atlas accepts only "vpce-" followed by 17 lower-case hex digits (0-9, a-f)`

// EndpointIDProblem says in plain words what is wrong with an interface
// endpoint id, and what Atlas accepts; "" if nothing is. It is for messages
// a person reads, so it names the fault (upper-case letters, a missing
// prefix, the length) rather than quoting the pattern.
func EndpointIDProblem(id string) string {
	if validEndpointID(id) {
		return ""
	}
	if id == "" {
		return "it is empty; " + EndpointIDForm
	}
	var faults []string
	// VPCE- counts as the prefix: its case is said below.
	prefixed := len(id) >= len("vpce-") && strings.EqualFold(id[:len("vpce-")], "vpce-")
	rest := ""
	if prefixed {
		rest = id[len("vpce-"):]
	} else {
		faults = append(faults, `it does not start with "vpce-"`)
	}
	if strings.ToLower(id) != id {
		faults = append(faults, "it has upper-case letters")
	}
	if prefixed {
		if i := strings.IndexFunc(strings.ToLower(rest), func(c rune) bool { return (c < '0' || c > '9') && (c < 'a' || c > 'f') }); i >= 0 {
			c, _ := utf8.DecodeRuneInString(strings.ToLower(rest)[i:])
			faults = append(faults, fmt.Sprintf("it has %q, which is not a hex digit", c))
		}
		switch n := utf8.RuneCountInString(rest); {
		case n == 8 && len(faults) == 0:
			faults = append(faults, "it is an 8-digit legacy AWS id, which Atlas refuses")
		case n != 17:
			faults = append(faults, fmt.Sprintf(`it has %d characters after "vpce-", not 17`, n))
		}
	}
	return strings.Join(faults, ", and ") + "; " + EndpointIDForm
}

// ValidateObjectID checks a 24-hex Atlas object id such as a project or endpoint
// service id; kind names it in the error.
func ValidateObjectID(kind, id string) error {
	if !validObjectID(id) {
		return &InvalidIDError{Kind: kind, ID: id, Pattern: objectIDPattern}
	}
	return nil
}

// truncate bounds server-provided text that ends up in error strings.
func truncate(s string) string { return truncateN(s, 512) }

// truncateN cuts s to at most n runes, marking the cut.
func truncateN(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
