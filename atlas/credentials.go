package atlas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/oauth2"
)

const (
	kindAPIKey         = "api-key"
	kindServiceAccount = "service-account"
)

// Credentials authenticate the client: either a programmatic API key
// (PublicKey/PrivateKey, HTTP Digest) or a service account (ClientID/ClientSecret,
// OAuth2 client credentials). Exactly one pair must be set.
//
// Formatting, logging and JSON encoding never reveal the values.
type Credentials struct {
	PublicKey, PrivateKey, ClientID, ClientSecret string

	// tokens, set by WithSharedToken, holds the one token source the
	// clients built from these credentials share.
	tokens *sharedTokens
}

// WithSharedToken returns the credentials marked so that every client built
// from them (one per Atlas project, say) fetches and reuses one service-account
// token instead of one each. Atlas's token endpoint takes 10 requests a minute
// per service account and IP address, and a service account holds at most
// 100 active tokens, so a container that serves several projects should ask
// once. Call it once per set of clients: credentials read again (after Atlas
// refused a token) should get a token of their own. API keys are unaffected.
func (c Credentials) WithSharedToken() Credentials {
	c.tokens = &sharedTokens{sources: map[string]oauth2.TokenSource{}}
	return c
}

// sharedTokens are token sources by token URL, shared by the clients built
// from one Credentials value.
type sharedTokens struct {
	mu      sync.Mutex
	sources map[string]oauth2.TokenSource
}

// source returns the shared source for tokenURL, building it with build the
// first time; with no sharing (a nil receiver) it always builds.
func (s *sharedTokens) source(tokenURL string, build func() oauth2.TokenSource) oauth2.TokenSource {
	if s == nil {
		return build()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.sources[tokenURL]
	if !ok {
		src = build()
		s.sources[tokenURL] = src
	}
	return src
}

// Kind returns "api-key" or "service-account", or "" when the credentials do not
// hold exactly one complete pair.
func (c Credentials) Kind() string {
	apiKey := c.PublicKey != "" || c.PrivateKey != ""
	sa := c.ClientID != "" || c.ClientSecret != ""
	switch {
	case apiKey && !sa && c.PublicKey != "" && c.PrivateKey != "":
		return kindAPIKey
	case sa && !apiKey && c.ClientID != "" && c.ClientSecret != "":
		return kindServiceAccount
	}
	return ""
}

// String reports the kind and which fields are set, never their values.
func (c Credentials) String() string {
	mark := func(v string) string {
		if v == "" {
			return `""`
		}
		return "REDACTED"
	}
	return fmt.Sprintf("atlas.Credentials{Kind:%q PublicKey:%s PrivateKey:%s ClientID:%s ClientSecret:%s}",
		c.Kind(), mark(c.PublicKey), mark(c.PrivateKey), mark(c.ClientID), mark(c.ClientSecret))
}

// GoString makes %#v redact too.
func (c Credentials) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %#v, %s, %q, %x, …) print the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// LogValue makes slog print only the kind.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", c.Kind()), slog.String("values", "REDACTED"))
}

// MarshalJSON keeps credentials from leaking through a JSON-encoded log or dump.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind   string `json:"kind"`
		Values string `json:"values"`
	}{c.Kind(), "REDACTED"})
}

// CredentialsError explains why credentials are unusable. It names fields, never
// their values.
type CredentialsError struct {
	Fields  []string // the field names concerned
	Problem string
}

func (e *CredentialsError) Error() string { return "atlas: credentials: " + e.Problem }

// validate checks a Credentials value built in Go (field names as in the struct).
func (c Credentials) validate() error {
	return checkPairs(
		field{"PublicKey", c.PublicKey}, field{"PrivateKey", c.PrivateKey},
		field{"ClientID", c.ClientID}, field{"ClientSecret", c.ClientSecret},
	)
}

type field struct{ name, value string }

func checkPairs(pub, priv, id, secret field) error {
	apiKey := pub.value != "" || priv.value != ""
	sa := id.value != "" || secret.value != ""
	switch {
	case apiKey && sa:
		return &CredentialsError{
			Fields:  []string{pub.name, id.name},
			Problem: fmt.Sprintf("both an API key (%s/%s) and a service account (%s/%s) are set; set exactly one", pub.name, priv.name, id.name, secret.name),
		}
	case !apiKey && !sa:
		return &CredentialsError{
			Problem: fmt.Sprintf("none set: want %s and %s (API key) or %s and %s (service account)", pub.name, priv.name, id.name, secret.name),
		}
	}
	pair := [2]field{pub, priv}
	if sa {
		pair = [2]field{id, secret}
	}
	for i, f := range pair {
		other := pair[1-i]
		if f.value == "" {
			return &CredentialsError{Fields: []string{f.name}, Problem: fmt.Sprintf("%s is missing or empty (%s is set)", f.name, other.name)}
		}
		if strings.IndexFunc(f.value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return &CredentialsError{Fields: []string{f.name}, Problem: fmt.Sprintf("%s contains whitespace or control characters", f.name)}
		}
	}
	return nil
}

// Accepted JSON spellings, as used by the Atlas Terraform provider, the CloudFormation
// resources and the API itself.
var (
	publicKeyNames    = []string{"publicKey", "public_key", "PublicKey"}
	privateKeyNames   = []string{"privateKey", "private_key", "PrivateKey"}
	clientIDNames     = []string{"clientId", "client_id"}
	clientSecretNames = []string{"clientSecret", "client_secret"}
)

// ParseCredentials reads credentials from a JSON object such as a Secrets Manager
// secret. It accepts publicKey/privateKey, public_key/private_key or
// PublicKey/PrivateKey for an API key, and clientId/clientSecret or
// client_id/client_secret for a service account; other members are ignored.
// Surrounding whitespace in values is trimmed. Errors are *CredentialsError and
// name fields only, never values or the input.
func ParseCredentials(b []byte) (Credentials, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&raw); err != nil || raw == nil {
		// json's own messages can quote input (a stray character, a number): never
		// pass them on.
		return Credentials{}, &CredentialsError{Problem: "not a JSON object" + syntaxOffset(err)}
	}
	if _, err := d.Token(); err != io.EOF {
		return Credentials{}, &CredentialsError{Problem: "unexpected data after the JSON object"}
	}
	pick := func(names []string) (field, error) {
		var got field
		for _, n := range names {
			v, ok := raw[n]
			if !ok {
				continue
			}
			var s *string
			if err := json.Unmarshal(v, &s); err != nil {
				return field{}, &CredentialsError{Fields: []string{n}, Problem: n + " must be a JSON string"}
			}
			if s == nil {
				continue // null counts as absent
			}
			if got.name != "" {
				return field{}, &CredentialsError{Fields: []string{got.name, n}, Problem: fmt.Sprintf("%s and %s are both set; use one spelling", got.name, n)}
			}
			got = field{n, strings.TrimSpace(*s)}
		}
		if got.name == "" {
			got.name = names[0]
		}
		return got, nil
	}
	var fs [4]field
	for i, names := range [][]string{publicKeyNames, privateKeyNames, clientIDNames, clientSecretNames} {
		f, err := pick(names)
		if err != nil {
			return Credentials{}, err
		}
		fs[i] = f
	}
	if err := checkPairs(fs[0], fs[1], fs[2], fs[3]); err != nil {
		return Credentials{}, err
	}
	return Credentials{PublicKey: fs[0].value, PrivateKey: fs[1].value, ClientID: fs[2].value, ClientSecret: fs[3].value}, nil
}

func syntaxOffset(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
	}
	return ""
}
