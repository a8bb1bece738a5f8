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
	"net/url"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

func TestTemporary(t *testing.T) {
	t.Parallel()
	resp := func(code int) error { return &ErrorResponse{Method: "GET", Path: "/p", StatusCode: code} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"429", resp(429), true},
		{"500", resp(500), true},
		{"502", resp(502), true},
		{"503", resp(503), true},
		{"504", resp(504), true},
		{"501", resp(501), false},
		{"400", resp(400), false},
		{"401", resp(401), false},
		{"403", resp(403), false},
		{"404", resp(404), false},
		{"409", resp(409), false},
		{"wrapped 503", fmt.Errorf("register: %w", resp(503)), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"EOF from transport", &url.Error{Op: "Get", URL: "u", Err: io.EOF}, true},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", fmt.Errorf("x: %w", syscall.ECONNREFUSED), true},
		{"dial error", &net.OpError{Op: "dial", Err: errors.New("no route")}, true},
		{"request timeout", &requestTimeoutError{method: "GET", path: "/p", timeout: time.Second, cause: "x"}, true},
		{"caller cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"caller deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"caller deadline with last 503", fmt.Errorf("%w: %w", context.DeadlineExceeded, resp(503)), false},
		{"invalid id", ValidateEndpointID("nope"), false},
		{"decode error", fmt.Errorf("x: %w", &json.SyntaxError{}), false},
		{"body too large", fmt.Errorf("x: %w", errBodyTooLarge), false},
		{"other", errors.New("boom"), false},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("%s: Temporary(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestErrorResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e       *ErrorResponse
		msg     string
		matches []error
	}{
		{&ErrorResponse{Method: "POST", Path: "/api/atlas/v2/x", StatusCode: 409, ErrorCode: "DUPLICATE_INTERFACE_ENDPOINT", Detail: "exists"},
			"atlas: POST /api/atlas/v2/x: 409 DUPLICATE_INTERFACE_ENDPOINT: exists", []error{ErrConflict}},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 404, ErrorCode: "RESOURCE_NOT_FOUND"},
			"atlas: GET /p: 404 RESOURCE_NOT_FOUND", []error{ErrNotFound}},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 502, Reason: "Bad Gateway"},
			"atlas: GET /p: 502 Bad Gateway", nil},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 429, ErrorCode: "RATE_LIMITED", RetryAfter: 2 * time.Second},
			"atlas: GET /p: 429 RATE_LIMITED (retry after 2s)", []error{ErrRateLimited}},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 503, ErrorCode: "RATE_LIMITED_TOKEN_BUCKET"},
			"atlas: GET /p: 503 RATE_LIMITED_TOKEN_BUCKET", []error{ErrRateLimited}},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 401}, "atlas: GET /p: 401 Unauthorized", []error{ErrUnauthorized}},
		{&ErrorResponse{Method: "GET", Path: "/p", StatusCode: 403}, "atlas: GET /p: 403 Forbidden", []error{ErrUnauthorized}},
	} {
		if got := tc.e.Error(); got != tc.msg {
			t.Errorf("Error() = %q, want %q", got, tc.msg)
		}
		wrapped := fmt.Errorf("outer: %w", tc.e)
		for _, s := range []error{ErrNotFound, ErrConflict, ErrUnauthorized, ErrRateLimited, ErrInvalidID} {
			want := false
			for _, m := range tc.matches {
				want = want || m == s
			}
			if got := errors.Is(wrapped, s); got != want {
				t.Errorf("%d: errors.Is(%v) = %v, want %v", tc.e.StatusCode, s, got, want)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"99999999999999", 24 * time.Hour},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-10 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func response(status int, body []byte, retryAfter string) *http.Response {
	req, _ := http.NewRequest(http.MethodGet, "https://cloud.mongodb.com/api/atlas/v2/groups/x?secret=1", nil)
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	if err := checkResponse(response(204, nil, "")); err != nil {
		t.Fatal(err)
	}
	err := checkResponse(response(409, []byte(`{"detail":"d","error":409,"errorCode":"X","parameters":[],"reason":"Conflict"}`), "3"))
	want := &ErrorResponse{Method: "GET", Path: "/api/atlas/v2/groups/x", StatusCode: 409, ErrorCode: "X", Detail: "d", Reason: "Conflict", RetryAfter: 3 * time.Second}
	var er *ErrorResponse
	if !errors.As(err, &er) || !reflect.DeepEqual(er, want) {
		t.Fatalf("checkResponse = %#v, want %#v", err, want)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("query leaked into the error: %v", err)
	}
}

// A 400 keeps its parameters and badRequestDetail (the specification's
// ApiError), bounded, and a part of an unexpected shape costs nothing else.
func TestCheckResponseBadRequestDetail(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 300)
	manyParams := make([]string, 15)
	for i := range manyParams {
		manyParams[i] = fmt.Sprintf("%q", fmt.Sprint("p", i))
	}
	manyFields := make([]string, 12)
	for i := range manyFields {
		manyFields[i] = fmt.Sprintf(`{"field":"f%d","description":"d"}`, i)
	}
	for _, tc := range []struct {
		name       string
		body       string
		wantCode   string
		wantParams []string
		wantFields []FieldViolation
		wantMsg    string
	}{
		{
			name: "validation error",
			body: `{"badRequestDetail":{"fields":[{"description":"must match \"^vpce-[0-9a-f]{17}$\"","field":"id"}]},` +
				`"detail":"Invalid attribute id specified.","error":400,"errorCode":"VALIDATION_ERROR","parameters":["id","vpce-0123abcd"],"reason":"Bad Request"}`,
			wantCode:   "VALIDATION_ERROR",
			wantParams: []string{"id", "vpce-0123abcd"},
			wantFields: []FieldViolation{{Field: "id", Description: `must match "^vpce-[0-9a-f]{17}$"`}},
			wantMsg:    `atlas: GET /api/atlas/v2/groups/x: 400 VALIDATION_ERROR: Invalid attribute id specified. (id: must match "^vpce-[0-9a-f]{17}$")`,
		},
		{
			name:       "parameters of any JSON type",
			body:       `{"errorCode":"X","parameters":[3, true, null, {"a": [1, 2]}, "` + long + `"]}`,
			wantCode:   "X",
			wantParams: []string{"3", "true", "null", `{"a":[1,2]}`, strings.Repeat("p", maxParameterLen) + "…"},
			wantMsg:    "atlas: GET /api/atlas/v2/groups/x: 400 X",
		},
		{
			name:       "too many",
			body:       `{"errorCode":"X","parameters":[` + strings.Join(manyParams, ",") + `],"badRequestDetail":{"fields":[` + strings.Join(manyFields, ",") + `]}}`,
			wantCode:   "X",
			wantParams: []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "… 5 more"},
			wantFields: []FieldViolation{{"f0", "d"}, {"f1", "d"}, {"f2", "d"}, {"f3", "d"}, {"f4", "d"}, {"f5", "d"}, {"f6", "d"}, {"f7", "d"}, {"f8", "d"}, {"f9", "d"}, {"…", "2 more"}},
		},
		{
			name:     "parameters not an array",
			body:     `{"errorCode":"VALIDATION_ERROR","parameters":"id","badRequestDetail":{"fields":[{"field":"id","description":"d"}]}}`,
			wantCode: "VALIDATION_ERROR",
		},
		{
			name:       "badRequestDetail of another shape",
			body:       `{"errorCode":"VALIDATION_ERROR","parameters":["id"],"badRequestDetail":{"fields":{"field":"id"}}}`,
			wantCode:   "VALIDATION_ERROR",
			wantParams: nil,
		},
		{
			name:     "detail of another shape keeps the details",
			body:     `{"errorCode":"VALIDATION_ERROR","detail":5,"parameters":["id"]}`,
			wantCode: "", wantParams: []string{"id"},
		},
		{
			name:     "empty",
			body:     `{"errorCode":"VALIDATION_ERROR","parameters":[],"badRequestDetail":{}}`,
			wantCode: "VALIDATION_ERROR",
		},
	} {
		err := checkResponse(response(400, []byte(tc.body), ""))
		er, ok := errors.AsType[*ErrorResponse](err)
		if !ok {
			t.Fatalf("%s: checkResponse = %v", tc.name, err)
		}
		if er.ErrorCode != tc.wantCode || !reflect.DeepEqual(er.Parameters, tc.wantParams) || !reflect.DeepEqual(er.BadRequestFields, tc.wantFields) {
			t.Errorf("%s: code %q parameters %q fields %q\nwant code %q parameters %q fields %q",
				tc.name, er.ErrorCode, er.Parameters, er.BadRequestFields, tc.wantCode, tc.wantParams, tc.wantFields)
		}
		if tc.wantMsg != "" && er.Error() != tc.wantMsg {
			t.Errorf("%s: Error() = %q, want %q", tc.name, er.Error(), tc.wantMsg)
		}
	}
}

func FuzzCheckResponse(f *testing.F) {
	f.Add(200, []byte(`[]`), "")
	f.Add(404, []byte(`{"detail":"x","error":404,"errorCode":"RESOURCE_NOT_FOUND","parameters":[],"reason":"Not Found"}`), "")
	f.Add(429, []byte(`{"errorCode":"RATE_LIMITED_TOKEN_BUCKET"}`), "7")
	f.Add(400, []byte(`{"badRequestDetail":{"fields":[{"description":"must match","field":"id"}]},"detail":"x","error":400,"errorCode":"VALIDATION_ERROR","parameters":["id",1,{"a":null}],"reason":"Bad Request"}`), "")
	f.Add(503, []byte(`<html>`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(302, []byte{}, "-1")
	f.Add(500, []byte(`{"detail":`+`"`+strings.Repeat("é", 600)+`"}`), "1e9")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		if status < 100 || status > 999 {
			return
		}
		err := checkResponse(response(status, body, retryAfter))
		if (err == nil) != (status >= 200 && status <= 299) {
			t.Fatalf("status %d: err = %v", status, err)
		}
		if err == nil {
			return
		}
		var er *ErrorResponse
		if !errors.As(err, &er) || er.StatusCode != status || er.RetryAfter < 0 || er.RetryAfter > 24*time.Hour {
			t.Fatalf("status %d: %#v", status, err)
		}
		if len(er.Detail) > 4*513 || len(er.ErrorCode) > 4*513 {
			t.Fatalf("unbounded detail: %d bytes", len(er.Detail))
		}
		if len(er.Parameters) > maxParameters+1 || len(er.BadRequestFields) > maxFieldViolations+1 {
			t.Fatalf("unbounded details: %d parameters, %d fields", len(er.Parameters), len(er.BadRequestFields))
		}
		for _, p := range er.Parameters {
			if len(p) > 4*(maxParameterLen+1) {
				t.Fatalf("unbounded parameter: %d bytes", len(p))
			}
		}
		for _, f := range er.BadRequestFields {
			if len(f.Field) > 4*(maxFieldLen+1) || len(f.Description) > 4*(maxDescriptionLen+1) {
				t.Fatalf("unbounded field violation: %d + %d bytes", len(f.Field), len(f.Description))
			}
		}
		_ = err.Error()
		if Temporary(err) != (status == 429 || status == 500 || status == 502 || status == 503 || status == 504) {
			t.Fatalf("Temporary(%d) wrong", status)
		}
	})
}

// FuzzParseCredentials checks that ParseCredentials never panics and that its error
// depends only on the shape of the input, never on the secret characters: replacing
// every visible character of every string value must give the same message.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`{"publicKey":"abcdefgh","privateKey":"0f9d6a0e-1111-2222-3333-444455556666"}`,
		`{"public_key":"a","private_key":"b"}`,
		`{"PublicKey":"a","PrivateKey":"b"}`,
		`{"clientId":"mdb_sa_id_1","clientSecret":"mdb_sa_sk_2"}`,
		`{"client_id":"x","client_secret":""}`,
		`{"publicKey":"a","privateKey":"b","clientId":"c","clientSecret":"d"}`,
		`{"publicKey":"a","public_key":"a"}`,
		`{"publicKey":"a","privateKey":5}`,
		`{"publicKey":"a b","privateKey":"c"}`,
		`{"publicKey":"a","privateKey":"b"} trailing`,
		`[1,2]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err == nil {
			if c.Kind() == "" {
				t.Fatalf("accepted credentials without a kind")
			}
			return
		}
		if c != (Credentials{}) {
			t.Fatalf("values returned with an error")
		}
		var ce *CredentialsError
		if !errors.As(err, &ce) {
			t.Fatalf("error type %T", err)
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil || m == nil {
			return
		}
		orig, _ := json.Marshal(m)
		masked, _ := json.Marshal(mask(m))
		_, e1 := ParseCredentials(orig)
		_, e2 := ParseCredentials(masked)
		if fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("error depends on secret content:\n%v\n%v", e1, e2)
		}
	})
}

// mask replaces each visible character of string values (not keys) with 'x',
// keeping whitespace and control characters, which the parser treats specially.
func mask(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return r
			}
			return 'x'
		}, v)
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = mask(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = mask(x)
		}
		return out
	}
	return v
}
