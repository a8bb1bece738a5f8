package atlastest

import (
	"crypto/md5" //nolint:gosec // HTTP Digest as Atlas speaks it is MD5
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	realm    = "MMS Public API"
	nonceTTL = 5 * time.Minute
)

type nonce struct {
	issued time.Time
	nc     uint64 // highest nonce count seen, to refuse replays
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// challenge answers 401 with a fresh Digest challenge, as Atlas does for any
// request without valid credentials. The parameters are separated by ", " exactly:
// the mongodb-forks/digest client splits on that.
func (f *Fake) challenge(w http.ResponseWriter) {
	n := randomHex(16)
	f.mu.Lock()
	now := f.now()
	for k, v := range f.nonces {
		if now.Sub(v.issued) > nonceTTL {
			delete(f.nonces, k)
		}
	}
	f.nonces[n] = &nonce{issued: now}
	f.mu.Unlock()
	w.Header().Set("WWW-Authenticate",
		`Digest realm="`+realm+`", domain="", nonce="`+n+`", algorithm=MD5, qop="auth", stale=false`)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "You are not authorized for this resource.")
}

// parseAuthParams parses the comma-separated key=value list of an Authorization
// header, with optionally quoted values (backslash escapes allowed in quotes).
func parseAuthParams(s string) (map[string]string, bool) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out, true
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false // unterminated quote
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, dup := out[key]; dup {
			return nil, false
		}
		out[key] = val
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // required by the protocol
	return hex.EncodeToString(sum[:])
}

// checkDigest verifies an RFC 7616 MD5 / qop=auth response against the issued
// nonces and the configured API keys.
func (f *Fake) checkDigest(r *http.Request, params string) bool {
	p, ok := parseAuthParams(params)
	if !ok {
		return false
	}
	if p["realm"] != realm || p["qop"] != "auth" || p["cnonce"] == "" || p["response"] == "" {
		return false
	}
	if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return false
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if p["uri"] != uri {
		return false
	}
	nc, err := strconv.ParseUint(p["nc"], 16, 64)
	if err != nil || len(p["nc"]) != 8 {
		return false
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	n, known := f.nonces[p["nonce"]]
	if !known || f.now().Sub(n.issued) > nonceTTL || nc <= n.nc {
		return false
	}
	secret, known := f.apiKeys[p["username"]]
	if !known {
		return false
	}
	ha1 := md5hex(p["username"] + ":" + realm + ":" + secret)
	ha2 := md5hex(r.Method + ":" + p["uri"])
	want := md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
		return false
	}
	n.nc = nc
	return true
}

func (f *Fake) checkBearer(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[token]
	return ok && f.now().Before(t.expires)
}

// tokenLimitReached is Atlas's error_description when a service account already
// holds as many active tokens as it may.
const tokenLimitReached = "Access Token limit reached. Please use the existing Access Tokens or create a new Service Account."

// tokenRateLimited applies the token endpoint's per-client bucket, answering
// 429 when it is empty. The client is whoever the Basic credentials name,
// checked or not: the limit protects the endpoint before it verifies anything.
func (f *Fake) tokenRateLimited(w http.ResponseWriter, r *http.Request) bool {
	if f.tokenLimit == nil {
		return false
	}
	client, _, _ := r.BasicAuth()
	client, _ = url.QueryUnescape(client)
	f.mu.Lock()
	now := f.now()
	b := f.tokenBuckets[client]
	if b == nil {
		b = newBucket("TokenRateLimit", *f.tokenLimit, now)
		f.tokenBuckets[client] = b
	}
	ok, wait := b.take(now)
	f.mu.Unlock()
	if ok {
		return false
	}
	retryAfter(w, wait)
	writeError(w, http.StatusTooManyRequests, "RATE_LIMITED",
		"You have exceeded the rate limit for access token requests. Please retry later.")
	return true
}

// serveToken is the OAuth2 client-credentials token endpoint.
func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request, body []byte, entry *Request) {
	f.mu.Lock()
	f.tokenRequests++
	f.mu.Unlock()
	if _, _, ok := r.BasicAuth(); ok {
		entry.Auth = "basic"
	}
	if f.applyFault(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "")
		return
	}
	if f.tokenRateLimited(w, r) {
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic encoding.
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	f.mu.Lock()
	want, known := f.clients[id]
	f.mu.Unlock()
	if err1 != nil || err2 != nil || !known || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	if form.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	entry.Authenticated = true
	tok := "fake_" + randomHex(24)
	f.mu.Lock()
	now := f.now()
	for k, t := range f.tokens {
		if !now.Before(t.expires) {
			delete(f.tokens, k)
		}
	}
	active := f.activeTokens(id, now)
	if f.maxTokens > 0 && active >= f.maxTokens {
		f.mu.Unlock()
		oauthError(w, http.StatusForbidden, "access_denied", tokenLimitReached)
		return
	}
	f.tokens[tok] = accessToken{client: id, expires: now.Add(f.tokenTTL)}
	f.peakTokens[id] = max(f.peakTokens[id], active+1)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   max(1, int(math.Ceil(f.tokenTTL.Seconds()))),
		"token_type":   "Bearer",
	})
}

// oauthError answers with an RFC 6749 §5.2 error body; description may be empty.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
	}
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	_ = json.NewEncoder(w).Encode(body)
}
