package atlas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/mongodb-forks/digest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Version selects which generation of the Administration API the client speaks.
type Version string

const (
	// V2 is the current API under /api/atlas/v2, resource version 2023-01-01.
	V2 Version = "v2"
	// V1 is the deprecated API under /api/atlas/v1.0.
	V1 Version = "v1.0"
)

// DefaultBaseURL is the Atlas commercial cloud.
const DefaultBaseURL = "https://cloud.mongodb.com"

const (
	defaultTimeout   = 20 * time.Second
	defaultUserAgent = "atlasvpce-registrar"
	mediaTypeV2      = "application/vnd.atlas.2023-01-01+json"
	mediaTypeV1      = "application/json"
	tokenPath        = "api/oauth/token"
	// Atlas tokens live an hour; renewing a little early keeps a token from expiring
	// between the check and the request without spending the token endpoint's small
	// rate limit.
	tokenEarlyExpiry = 30 * time.Second
)

// RetryPolicy bounds the retries of transient failures. Zero fields take defaults:
// Initial 500ms, Max 10s, MaxTries 6. MaxTries counts attempts that fail with a
// server or network error, the first included; rate-limited attempts (429) are
// retried, at least Retry-After apart, until the caller's context ends.
type RetryPolicy struct {
	Initial, Max time.Duration
	MaxTries     uint
}

// Config describes where and how the client talks to Atlas.
type Config struct {
	BaseURL   string            // default DefaultBaseURL; https unless the host is loopback
	Version   Version           // default V2
	ProjectID string            // 24 lower-case hex, required
	Timeout   time.Duration     // per HTTP request (and per token fetch), default 20s
	Retry     RetryPolicy       // transient-error retry; zero fields take defaults
	Transport http.RoundTripper // optional base transport; default a clone of http.DefaultTransport
	UserAgent string            // default "atlasvpce-registrar"

	// OnRetry, if set, is called before each wait with the call's context and
	// the error that caused the retry.
	OnRetry func(ctx context.Context, err error, wait time.Duration)

	// OnRequest, if set, is called once for every HTTP request written to
	// Atlas, with the request's context and the response's status code, or 0
	// when no response arrived. Every request on the wire counts: digest
	// challenges, retried attempts, resends by net/http and service-account
	// token requests; a connection that never opened sends none. One request
	// cancelled as it was sent may be counted without reaching Atlas: net/http
	// reports a request written once it is buffered, before the flush. A token
	// request runs under the client's own context (so that one caller's
	// cancellation cannot spoil the token all callers share), so its ctx
	// carries none of the caller's values.
	OnRequest func(ctx context.Context, status int)
}

// Validate reports every field that is wrong and what it expects. Empty fields that
// have defaults are fine.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseBaseURL(c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	switch c.Version {
	case "", V1, V2:
	default:
		errs = append(errs, fmt.Errorf("atlas: config Version: got %q, want %q or %q", truncate(string(c.Version)), V2, V1))
	}
	if err := ValidateObjectID("project id", c.ProjectID); err != nil {
		errs = append(errs, fmt.Errorf("atlas: config ProjectID: %w", err))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("atlas: config Timeout: must not be negative, got %s", c.Timeout))
	}
	if c.Retry.Initial < 0 || c.Retry.Max < 0 {
		errs = append(errs, errors.New("atlas: config Retry: Initial and Max must not be negative"))
	}
	r := c.Retry.withDefaults()
	if r.Max < r.Initial {
		errs = append(errs, fmt.Errorf("atlas: config Retry: Max (%s) must not be less than Initial (%s)", r.Max, r.Initial))
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		errs = append(errs, errors.New("atlas: config UserAgent: must not contain line breaks"))
	}
	return errors.Join(errs...)
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Initial == 0 {
		r.Initial = 500 * time.Millisecond
	}
	if r.Max == 0 {
		r.Max = 10 * time.Second
	}
	if r.MaxTries == 0 {
		r.MaxTries = 6
	}
	return r
}

// parseBaseURL returns the base URL with a trailing slash so that API paths resolve
// relative to it. Errors never echo the URL: it might carry credentials.
func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		s = DefaultBaseURL
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("atlas: config BaseURL: not a valid URL")
	}
	if u.User != nil {
		return nil, errors.New("atlas: config BaseURL: must not contain user information")
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, errors.New("atlas: config BaseURL: must be an absolute URL with a host")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, errors.New("atlas: config BaseURL: must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("atlas: config BaseURL: http is allowed only for loopback hosts, use https for %q", u.Hostname())
		}
	default:
		return nil, fmt.Errorf("atlas: config BaseURL: scheme %q is not supported, want https", truncate(u.Scheme))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client calls the Atlas Administration API for one project. It is safe for
// concurrent use.
type Client struct {
	baseURL   *url.URL
	version   Version
	projectID string
	userAgent string
	accept    string
	http      *http.Client
	retry     RetryPolicy
	onRetry   func(context.Context, error, time.Duration)
}

// NewClient builds an authenticated client. It does no network I/O: a service
// account's token is fetched on first use and then reused until shortly before it
// expires.
func NewClient(cfg Config, creds Credentials) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := creds.validate(); err != nil {
		return nil, err
	}
	base, _ := parseBaseURL(cfg.BaseURL) // validated above
	if cfg.Version == "" {
		cfg.Version = V2
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUserAgent
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.OnRequest != nil {
		// Below the authentication layers, so that the digest challenge and the
		// token request are seen as the separate requests they are.
		rt = observed(rt, cfg.OnRequest)
	}

	var auth http.RoundTripper
	switch creds.Kind() {
	case kindAPIKey:
		auth = digest.NewTransportWithHTTPRoundTripper(creds.PublicKey, creds.PrivateKey, rt)
	case kindServiceAccount:
		tokenURL := base.ResolveReference(&url.URL{Path: tokenPath}).String()
		// One token for every client built from credentials marked
		// WithSharedToken (the first client's transport fetches it).
		src := creds.tokens.source(tokenURL, func() oauth2.TokenSource {
			cc := &clientcredentials.Config{
				ClientID:     creds.ClientID,
				ClientSecret: creds.ClientSecret,
				TokenURL:     tokenURL,
				AuthStyle:    oauth2.AuthStyleInHeader,
			}
			// The token fetch runs under its own context so that one caller's cancellation
			// cannot poison the shared token source; its client has the same timeout.
			tokenHTTP := &http.Client{Transport: rt, Timeout: cfg.Timeout, CheckRedirect: noRedirects}
			tctx := context.WithValue(context.Background(), oauth2.HTTPClient, tokenHTTP)
			return oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(tctx), tokenEarlyExpiry)
		})
		// Hide oauth2.Transport's deprecated CancelRequest, which http.Client calls on
		// timeout and which only logs a warning.
		auth = roundTripperFunc((&oauth2.Transport{Source: src, Base: rt}).RoundTrip)
	}

	accept := mediaTypeV2
	if cfg.Version == V1 {
		accept = mediaTypeV1
	}
	return &Client{
		baseURL:   base,
		version:   cfg.Version,
		projectID: cfg.ProjectID,
		userAgent: cfg.UserAgent,
		accept:    accept,
		http:      &http.Client{Transport: auth, Timeout: cfg.Timeout, CheckRedirect: noRedirects},
		retry:     cfg.Retry.withDefaults(),
		onRetry:   cfg.OnRetry,
	}, nil
}

// observed calls fn once for each request rt writes to the wire. Counting
// writes rather than round trips matters because net/http resends by itself
// an idempotent request whose reused connection broke before any response:
// that is two requests for Atlas and one round trip here. Only the last write
// of a round trip can have a response.
func observed(rt http.RoundTripper, fn func(context.Context, int)) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		ctx := r.Context()
		var writes atomic.Int32
		trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				writes.Add(1)
			}
		}}
		resp, err := rt.RoundTrip(r.WithContext(httptrace.WithClientTrace(ctx, trace)))
		n := writes.Load()
		if n == 0 {
			return resp, err // nothing reached Atlas (a failed dial, say)
		}
		for range n - 1 {
			fn(ctx, 0)
		}
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		fn(ctx, status)
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// noRedirects stops the client from following redirects: the API never redirects,
// and following one would send authenticated requests somewhere unexpected.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ProjectID returns the project (group) the client works on.
func (c *Client) ProjectID() string { return c.projectID }

// Version returns the API version the client speaks.
func (c *Client) Version() Version { return c.version }

// newRequest builds a request for path, relative to the base URL, with the
// version's media type and, if body is non-nil, its JSON encoding.
func (c *Client) newRequest(method, path string, body any) (*http.Request, error) {
	u := c.baseURL.ResolveReference(&url.URL{Path: path})
	var buf io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("atlas: %s %s: encode request: %w", method, u.Path, err)
		}
		buf = bytes.NewReader(b)
	}
	// The context is attached per attempt in do.
	req, err := http.NewRequestWithContext(context.Background(), method, u.String(), buf)
	if err != nil {
		return nil, fmt.Errorf("atlas: %s %s: %w", method, u.Path, err)
	}
	req.Header.Set("Accept", c.accept)
	if body != nil {
		req.Header.Set("Content-Type", c.accept)
	}
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// do sends req, retrying transient failures, and decodes a 2xx JSON body into v
// (if v is non-nil). It is the only place requests are sent.
func (c *Client) do(ctx context.Context, req *http.Request, v any) error {
	var lastErr error
	var failures uint // attempts that failed for a reason other than rate limiting
	op := func() (struct{}, error) {
		err := c.attempt(ctx, req, v)
		if err == nil {
			return struct{}{}, nil
		}
		// An attempt cut short by the caller's deadline says less than the one before it.
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		if ctx.Err() != nil || !Temporary(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		// Rate limiting is Atlas asking to come back later, not a fault: only the
		// caller's deadline bounds it. Other transient failures count against MaxTries.
		if !errors.Is(err, ErrRateLimited) {
			if failures++; failures >= c.retry.MaxTries {
				return struct{}{}, backoff.Permanent(err)
			}
		}
		var er *ErrorResponse
		if errors.As(err, &er) && er.RetryAfter > 0 {
			// At least Retry-After, plus jitter so that clients limited together
			// do not all come back in the same instant.
			wait := er.RetryAfter + rand.N(er.RetryAfter/2+1)
			// Waiting past the caller's deadline only to fail would hide the real error.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return struct{}{}, backoff.Permanent(err)
			}
			return struct{}{}, fmt.Errorf("%w: %w", &backoff.RetryAfterError{Duration: wait}, err)
		}
		return struct{}{}, err
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     c.retry.Initial,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         c.retry.Max,
	}
	_, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(0), // the caller's ctx and MaxTries bound the total
		backoff.WithNotify(func(_ error, wait time.Duration) {
			if c.onRetry != nil {
				c.onRetry(ctx, lastErr, wait)
			}
		}),
	)
	if err == nil {
		return nil
	}
	if lastErr == nil {
		return err
	}
	// The caller's context ended while waiting to retry: report that, and what the
	// last attempt saw (not wrapped, so Temporary and errors.Is see only the ctx).
	if ctx.Err() != nil && !errors.Is(lastErr, context.Canceled) && !errors.Is(lastErr, context.DeadlineExceeded) {
		return fmt.Errorf("atlas: %s %s: %w (last attempt: %v)", req.Method, req.URL.Path, context.Cause(ctx), lastErr)
	}
	// Return the attempt's own error rather than backoff's wrapping of it.
	return lastErr
}

// attempt makes one round trip.
func (c *Client) attempt(ctx context.Context, req *http.Request, v any) error {
	r := req.Clone(ctx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return fmt.Errorf("atlas: %s %s: %w", req.Method, req.URL.Path, err)
		}
		r.Body = body
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return transportError(ctx, req, err, c.http.Timeout)
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	body, err := readBody(resp.Body)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return fmt.Errorf("atlas: %s %s: %d response: %w", req.Method, req.URL.Path, resp.StatusCode, err)
		}
		return transportError(ctx, req, err, c.http.Timeout)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("atlas: %s %s: %d response is not the expected JSON: %w", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return nil
}

// transportError classifies a failed round trip. The caller's own cancellation
// wins; a timeout of this one request becomes a *requestTimeoutError, which
// deliberately does not match context.DeadlineExceeded, so callers can tell "Atlas
// was slow" from "my deadline passed".
func transportError(ctx context.Context, req *http.Request, err error, timeout time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("atlas: %s %s: %w", req.Method, req.URL.Path, context.Cause(ctx))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the full URL
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return tokenError(re)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &requestTimeoutError{method: req.Method, path: req.URL.Path, timeout: timeout, cause: err.Error()}
	}
	return fmt.Errorf("atlas: %s %s: %w", req.Method, req.URL.Path, err)
}

// tokenError turns a failed token fetch into an *ErrorResponse so that a bad client
// secret is ErrUnauthorized and a throttled token endpoint is ErrRateLimited.
func tokenError(re *oauth2.RetrieveError) *ErrorResponse {
	resp := re.Response
	e := &ErrorResponse{
		Method:     http.MethodPost,
		Path:       resp.Request.URL.Path,
		StatusCode: resp.StatusCode,
		ErrorCode:  re.ErrorCode,
		Detail:     truncate(re.ErrorDescription),
		Reason:     http.StatusText(resp.StatusCode),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	// Atlas answers its own limits on the token endpoint with an ApiError body
	// rather than OAuth2's ({"error":429,"errorCode":"RATE_LIMITED","detail":
	// "Resource /api/oauth/token is limited to 10 requests every 1 minutes."}):
	// keep its code and detail for the log.
	var ae apiError
	if e.ErrorCode == "" && json.Unmarshal(re.Body, &ae) == nil && ae.ErrorCode != "" {
		e.ErrorCode, e.Detail = truncate(ae.ErrorCode), truncate(ae.Detail)
	}
	// RFC 6749 answers a bad client with 400 invalid_client; it is still a credentials problem.
	if e.StatusCode == http.StatusBadRequest && (re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client") {
		e.StatusCode = http.StatusUnauthorized
	}
	return e
}

type requestTimeoutError struct {
	method, path string
	timeout      time.Duration
	cause        string
}

func (e *requestTimeoutError) Error() string {
	return fmt.Sprintf("atlas: %s %s: no complete response within %s: %s", e.method, e.path, e.timeout, e.cause)
}

// Timeout lets net.Error-style checks see the timeout.
func (e *requestTimeoutError) Timeout() bool { return true }
