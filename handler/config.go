package handler

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/emf"
)

// Config is the function's configuration, read once from the environment at start.
type Config struct {
	// ProjectIDs are the Atlas projects served: ATLAS_PROJECT_ID and the
	// comma list ATLAS_PROJECT_IDS, in that order, without repeats.
	ProjectIDs     []string
	SecretID       string        // ATLAS_SECRET_ID: name or ARN of the credentials secret
	BaseURL        string        // ATLAS_BASE_URL
	APIVersion     atlas.Version // ATLAS_API_VERSION
	MaxAttempts    int           // ATLAS_MAX_ATTEMPTS: registrations per invocation before giving up
	PollInitial    time.Duration // ATLAS_POLL_INITIAL: first wait between status polls
	PollMax        time.Duration // ATLAS_POLL_MAX: cap on the wait between status polls
	CredentialsTTL time.Duration // ATLAS_CREDENTIALS_TTL: how long a warm container trusts cached keys
	DeadlineMargin time.Duration // DEADLINE_MARGIN: time kept back from the Lambda deadline to report cleanly

	// AllowServiceRemoval (ATLAS_ALLOW_SERVICE_REMOVAL) lets a delete remove a
	// service's last endpoint, which Atlas documents removes the service too.
	AllowServiceRemoval bool
	// ReconcileDeleteOrphans (RECONCILE_DELETE_ORPHANS) lets reconcile delete
	// Atlas endpoints that no live VPC endpoint in this account and region matches.
	ReconcileDeleteOrphans bool

	// Region is the function's own region (AWS_REGION); events from other
	// regions are looked up there.
	Region string
	// AllowedAccountIDs (ALLOWED_ACCOUNT_IDS) are the accounts besides its
	// own whose endpoints the function serves; empty means only its own.
	AllowedAccountIDs []string
	// MemberRoleName (MEMBER_ROLE_NAME) is the role assumed in those accounts.
	MemberRoleName string
	// MetricsNamespace (METRICS_NAMESPACE) is the CloudWatch namespace of the function's metrics.
	MetricsNamespace string

	// DataFederationProjectID (ATLAS_DATA_FEDERATION_PROJECT_ID) is the
	// project whose federated database instances and online archives the
	// Data Federation endpoints serve; empty: such endpoints are ignored.
	DataFederationProjectID string
	// DataFederationServices (ATLAS_DATA_FEDERATION_SERVICES) adds to or
	// replaces entries of MongoDB's table of Data Federation endpoint
	// services, by AWS region.
	DataFederationServices map[string]string
}

// DefaultMemberRoleName is the role member-account.yaml creates.
const DefaultMemberRoleName = "atlas-vpce-registrar-member"

// maxProjects and maxAccounts bound the lists, and with them the work of one reconcile.
const (
	maxProjects = 100
	maxAccounts = 1000
)

// Defaults applied when a variable is unset.
const (
	DefaultMaxAttempts      = 3
	DefaultPollInitial      = 5 * time.Second
	DefaultPollMax          = 30 * time.Second
	DefaultCredentialsTTL   = 15 * time.Minute
	DefaultDeadlineMargin   = 5 * time.Second
	DefaultMetricsNamespace = "AtlasVpceRegistrar"
)

// ConfigError names the environment variable that is missing or invalid.
type ConfigError struct {
	Variable string
	Problem  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config: %s %s", e.Variable, e.Problem)
}

// maxSecretNameLen is the longest secret name accepted, as Secrets Manager allows.
const maxSecretNameLen = 512

// validSecretID reports whether id is a secret name (1 to 512 letters, digits
// and /_+=.@-) or a Secrets Manager ARN ending in one: the language of
//
//	^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$
//
// It is written out rather than compiled from that expression because the
// bounded repetition compiles into a large program, and compiling it at
// package init cost about a millisecond of every cold start. config_test.go
// checks it against the expression.
func validSecretID(id string) bool {
	name := id
	// A name has no colon, so the last one ends the ARN prefix, if there is one.
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		if !validSecretARNPrefix(id[:i]) {
			return false
		}
		name = id[i+1:]
	}
	return len(name) >= 1 && len(name) <= maxSecretNameLen && allBytes(name, isSecretNameByte)
}

func isSecretNameByte(c byte) bool { return isAlnum(c) || strings.IndexByte("/_+=.@-", c) >= 0 }

// validSecretARNPrefix checks "arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret",
// an ARN up to its resource's name.
func validSecretARNPrefix(p string) bool {
	f := strings.Split(p, ":")
	if len(f) != 6 || f[0] != "arn" || f[2] != "secretsmanager" || f[5] != "secret" {
		return false
	}
	partition, ok := strings.CutPrefix(f[1], "aws")
	if !ok || !allBytes(partition, func(c byte) bool { return isLower(c) || c == '-' }) {
		return false
	}
	region, account := f[3], f[4]
	return region != "" && allBytes(region, func(c byte) bool { return isLower(c) || isDigit(c) || c == '-' }) &&
		len(account) == 12 && allBytes(account, isDigit)
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || 'A' <= c && c <= 'Z' || isDigit(c) }

// LoadConfig reads the configuration through getenv (os.Getenv in production).
// The first missing or invalid variable is reported by name.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID:       getenv("ATLAS_SECRET_ID"),
		BaseURL:        getenv("ATLAS_BASE_URL"),
		APIVersion:     atlas.Version(getenv("ATLAS_API_VERSION")),
		Region:         getenv("AWS_REGION"),
		MemberRoleName: getenv("MEMBER_ROLE_NAME"),
	}
	var err error
	if c.ProjectIDs, err = projectIDs(getenv); err != nil {
		return Config{}, err
	}
	if c.AllowedAccountIDs, err = listVar(getenv, "ALLOWED_ACCOUNT_IDS", maxAccounts, "12-digit AWS account ids", isAccount); err != nil {
		return Config{}, err
	}
	if c.MemberRoleName == "" {
		c.MemberRoleName = DefaultMemberRoleName
	}
	if !isRoleName(c.MemberRoleName) {
		return Config{}, &ConfigError{"MEMBER_ROLE_NAME", fmt.Sprintf("is %q; expected an IAM role name (1 to 64 letters, digits and +=,.@_-)", truncate(c.MemberRoleName, 64))}
	}
	switch {
	case c.SecretID == "":
		return Config{}, &ConfigError{"ATLAS_SECRET_ID", "is required: set it to the name or ARN of the Secrets Manager secret holding the Atlas credentials"}
	case !validSecretID(c.SecretID):
		return Config{}, &ConfigError{"ATLAS_SECRET_ID", fmt.Sprintf("is %q; expected a secret name or a Secrets Manager ARN", truncate(c.SecretID, 64))}
	}
	if c.BaseURL == "" {
		c.BaseURL = atlas.DefaultBaseURL
	}
	if c.APIVersion == "" {
		c.APIVersion = atlas.V2
	}
	if c.APIVersion != atlas.V2 && c.APIVersion != atlas.V1 {
		return Config{}, &ConfigError{"ATLAS_API_VERSION", fmt.Sprintf("is %q; expected %q or %q", truncate(string(c.APIVersion), 64), atlas.V2, atlas.V1)}
	}
	// The client owns the rules for base URLs (https, except loopback); report them under the variable's name.
	if err := (atlas.Config{BaseURL: c.BaseURL, Version: c.APIVersion, ProjectID: c.ProjectIDs[0]}).Validate(); err != nil {
		return Config{}, &ConfigError{"ATLAS_BASE_URL", fmt.Sprintf("is invalid: %v; expected an https:// URL (http:// only for loopback)", err)}
	}

	if c.MaxAttempts, err = intVar(getenv, "ATLAS_MAX_ATTEMPTS", DefaultMaxAttempts, 1, 10); err != nil {
		return Config{}, err
	}
	durations := []struct {
		name     string
		dst      *time.Duration
		def      time.Duration
		min, max time.Duration
	}{
		{"ATLAS_POLL_INITIAL", &c.PollInitial, DefaultPollInitial, time.Millisecond, 5 * time.Minute},
		{"ATLAS_POLL_MAX", &c.PollMax, DefaultPollMax, time.Millisecond, 15 * time.Minute},
		{"ATLAS_CREDENTIALS_TTL", &c.CredentialsTTL, DefaultCredentialsTTL, 0, 12 * time.Hour},
		{"DEADLINE_MARGIN", &c.DeadlineMargin, DefaultDeadlineMargin, 0, 5 * time.Minute},
	}
	for _, d := range durations {
		if *d.dst, err = durationVar(getenv, d.name, d.def, d.min, d.max); err != nil {
			return Config{}, err
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{
		{"ATLAS_ALLOW_SERVICE_REMOVAL", &c.AllowServiceRemoval},
		{"RECONCILE_DELETE_ORPHANS", &c.ReconcileDeleteOrphans},
	} {
		if *b.dst, err = boolVar(getenv, b.name); err != nil {
			return Config{}, err
		}
	}
	if c.PollMax < c.PollInitial {
		return Config{}, &ConfigError{"ATLAS_POLL_MAX", fmt.Sprintf("is %s; expected at least ATLAS_POLL_INITIAL (%s)", c.PollMax, c.PollInitial)}
	}
	if c.DataFederationProjectID = strings.TrimSpace(getenv("ATLAS_DATA_FEDERATION_PROJECT_ID")); c.DataFederationProjectID != "" &&
		atlas.ValidateObjectID("project id", c.DataFederationProjectID) != nil {
		return Config{}, &ConfigError{"ATLAS_DATA_FEDERATION_PROJECT_ID", fmt.Sprintf("is %q; expected 24 lower-case hex digits, or empty to leave Data Federation endpoints alone", truncate(c.DataFederationProjectID, 64))}
	}
	if c.DataFederationServices, err = federationServices(getenv("ATLAS_DATA_FEDERATION_SERVICES")); err != nil {
		return Config{}, err
	}
	c.MetricsNamespace = cmp.Or(getenv("METRICS_NAMESPACE"), DefaultMetricsNamespace)
	if err := emf.ValidateNamespace(c.MetricsNamespace); err != nil {
		return Config{}, &ConfigError{"METRICS_NAMESPACE", fmt.Sprintf("is %q; expected a CloudWatch namespace: 1 to 255 letters, digits, spaces and . - _ / # :, not starting with a colon or AWS/ (%v)", truncate(c.MetricsNamespace, 64), err)}
	}
	return c, nil
}

// federationServices reads ATLAS_DATA_FEDERATION_SERVICES: a comma list of
// region=serviceName, each service in its own region.
func federationServices(s string) (map[string]string, error) {
	var out map[string]string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		region, name, _ := strings.Cut(item, "=")
		region, name = strings.TrimSpace(region), strings.TrimSpace(name)
		if !isAWSRegion(region) || !validServiceName(name, region) {
			return nil, &ConfigError{"ATLAS_DATA_FEDERATION_SERVICES", fmt.Sprintf("has %q; expected region=serviceName, as "+
				"us-east-1=com.amazonaws.vpce.us-east-1.vpce-svc-00e311695874992b4 (the service in the same region)", truncate(item, 128))}
		}
		if prev, dup := out[region]; dup && prev != name {
			return nil, &ConfigError{"ATLAS_DATA_FEDERATION_SERVICES", fmt.Sprintf("names region %s twice (%s and %s); expected one service per region", region, prev, name)}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[region] = name
	}
	return out, nil
}

func intVar(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &ConfigError{name, fmt.Sprintf("is %q; expected a whole number from %d to %d", truncate(s, 64), lo, hi)}
	}
	return n, nil
}

// projectIDs reads ATLAS_PROJECT_ID and the comma list ATLAS_PROJECT_IDS.
func projectIDs(getenv func(string) string) ([]string, error) {
	var ids []string
	if one := strings.TrimSpace(getenv("ATLAS_PROJECT_ID")); one != "" {
		if atlas.ValidateObjectID("project id", one) != nil {
			return nil, &ConfigError{"ATLAS_PROJECT_ID", fmt.Sprintf("is %q; expected 24 lower-case hex digits", truncate(one, 64))}
		}
		ids = append(ids, one)
	}
	more, err := listVar(getenv, "ATLAS_PROJECT_IDS", maxProjects, "Atlas project ids (24 lower-case hex digits each)",
		func(s string) bool { return atlas.ValidateObjectID("project id", s) == nil })
	if err != nil {
		return nil, err
	}
	for _, id := range more {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, &ConfigError{"ATLAS_PROJECT_ID", "is required (or ATLAS_PROJECT_IDS): set it to the Atlas project id (24 hex digits)"}
	}
	return ids, nil
}

// listVar reads a comma list; blanks around items are ignored, and every
// item must be valid.
func listVar(getenv func(string) string, name string, limit int, want string, valid func(string) bool) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(getenv(name), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !valid(item) {
			return nil, &ConfigError{name, fmt.Sprintf("has %q; expected a comma list of %s", truncate(item, 64), want)}
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) > limit {
		return nil, &ConfigError{name, fmt.Sprintf("has %d items; expected at most %d", len(out), limit)}
	}
	return out, nil
}

func isAccount(s string) bool { return len(s) == 12 && strings.Trim(s, "0123456789") == "" }

// isRoleName checks an IAM role name without a regular expression, which
// would be compiled at every cold start.
func isRoleName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("+=,.@_-", r)) {
			return false
		}
	}
	return true
}

// boolVar reads "true" or "false"; unset is false. Anything else is refused
// rather than guessed: these switches allow deletes.
func boolVar(getenv func(string) string, name string) (bool, error) {
	switch s := getenv(name); strings.ToLower(s) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, &ConfigError{name, fmt.Sprintf("is %q; expected true or false", truncate(s, 64))}
	}
}

func durationVar(getenv func(string) string, name string, def, lo, hi time.Duration) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		return 0, &ConfigError{name, fmt.Sprintf("is %q; expected a Go duration (e.g. 5s, 1m) from %s to %s", truncate(s, 64), lo, hi)}
	}
	return d, nil
}

// truncate keeps echoed input short so a hostile value cannot flood a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
