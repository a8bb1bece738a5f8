package handler

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/emf"
)

// Config is the function's configuration, read once from the environment at start.
type Config struct {
	ProjectID        string        // ATLAS_PROJECT_ID
	SecretID         string        // ATLAS_SECRET_ID: name or ARN of the credentials secret
	BaseURL          string        // ATLAS_BASE_URL
	APIVersion       atlas.Version // ATLAS_API_VERSION
	MaxAttempts      int           // ATLAS_MAX_ATTEMPTS: registrations per invocation before giving up
	PollInitial      time.Duration // ATLAS_POLL_INITIAL: first wait between status polls
	PollMax          time.Duration // ATLAS_POLL_MAX: cap on the wait between status polls
	CredentialsTTL   time.Duration // ATLAS_CREDENTIALS_TTL: how long a warm container trusts cached keys
	DeadlineMargin   time.Duration // DEADLINE_MARGIN: time kept back from the Lambda deadline to report cleanly
	MetricsNamespace string        // METRICS_NAMESPACE: CloudWatch namespace of the function's metrics
}

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

// secretIDPattern accepts a secret name (letters, digits and /_+=.@-) or a Secrets Manager ARN.
var secretIDPattern = regexp.MustCompile(`^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$`)

// LoadConfig reads the configuration through getenv (os.Getenv in production).
// The first missing or invalid variable is reported by name.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		ProjectID:  getenv("ATLAS_PROJECT_ID"),
		SecretID:   getenv("ATLAS_SECRET_ID"),
		BaseURL:    getenv("ATLAS_BASE_URL"),
		APIVersion: atlas.Version(getenv("ATLAS_API_VERSION")),
	}
	switch {
	case c.ProjectID == "":
		return Config{}, &ConfigError{"ATLAS_PROJECT_ID", "is required: set it to the Atlas project id (24 hex digits)"}
	case atlas.ValidateObjectID("project id", c.ProjectID) != nil:
		return Config{}, &ConfigError{"ATLAS_PROJECT_ID", fmt.Sprintf("is %q; expected 24 lower-case hex digits", truncate(c.ProjectID, 64))}
	case c.SecretID == "":
		return Config{}, &ConfigError{"ATLAS_SECRET_ID", "is required: set it to the name or ARN of the Secrets Manager secret holding the Atlas credentials"}
	case !secretIDPattern.MatchString(c.SecretID):
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
	if err := (atlas.Config{BaseURL: c.BaseURL, Version: c.APIVersion, ProjectID: c.ProjectID}).Validate(); err != nil {
		return Config{}, &ConfigError{"ATLAS_BASE_URL", fmt.Sprintf("is invalid: %v; expected an https:// URL (http:// only for loopback)", err)}
	}

	var err error
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
	if c.PollMax < c.PollInitial {
		return Config{}, &ConfigError{"ATLAS_POLL_MAX", fmt.Sprintf("is %s; expected at least ATLAS_POLL_INITIAL (%s)", c.PollMax, c.PollInitial)}
	}
	c.MetricsNamespace = cmp.Or(getenv("METRICS_NAMESPACE"), DefaultMetricsNamespace)
	if err := emf.ValidateNamespace(c.MetricsNamespace); err != nil {
		return Config{}, &ConfigError{"METRICS_NAMESPACE", fmt.Sprintf("is %q; expected a CloudWatch namespace: 1 to 255 letters, digits, spaces and . - _ / # :, not starting with a colon or AWS/ (%v)", truncate(c.MetricsNamespace, 64), err)}
	}
	return c, nil
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
