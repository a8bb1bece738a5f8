package atlas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
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

// ErrorResponse is a non-2xx answer from Atlas.
type ErrorResponse struct {
	Method     string
	Path       string // URL path only, no query, no credentials
	StatusCode int
	ErrorCode  string // Atlas "errorCode"
	Detail     string
	Reason     string
	RetryAfter time.Duration // parsed Retry-After, 0 if absent
}

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

// apiError is the body Atlas sends with errors.
type apiError struct {
	Detail    string `json:"detail"`
	Error     int    `json:"error"`
	ErrorCode string `json:"errorCode"`
	Reason    string `json:"reason"`
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
	}
	return e
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

var (
	endpointIDPattern = regexp.MustCompile(`^vpce-[0-9a-f]{8,17}$`)
	objectIDPattern   = regexp.MustCompile(`^[0-9a-f]{24}$`)
)

// InvalidIDError reports an identifier that does not have the expected form.
// It matches ErrInvalidID.
type InvalidIDError struct {
	Kind    string // e.g. "interface endpoint id", "project id"
	ID      string
	Pattern string
}

func (e *InvalidIDError) Error() string {
	return fmt.Sprintf("atlas: invalid %s %q: want %s", e.Kind, truncateN(e.ID, 64), e.Pattern)
}

// Is matches ErrInvalidID.
func (e *InvalidIDError) Is(target error) bool { return target == ErrInvalidID }

// ValidateEndpointID checks an AWS interface endpoint id (vpce-…, lower-case hex).
func ValidateEndpointID(id string) error {
	if !endpointIDPattern.MatchString(id) {
		return &InvalidIDError{Kind: "interface endpoint id", ID: id, Pattern: endpointIDPattern.String()}
	}
	return nil
}

// ValidateObjectID checks a 24-hex Atlas object id such as a project or endpoint
// service id; kind names it in the error.
func ValidateObjectID(kind, id string) error {
	if !objectIDPattern.MatchString(id) {
		return &InvalidIDError{Kind: kind, ID: id, Pattern: objectIDPattern.String()}
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
