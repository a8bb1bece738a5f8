package handler

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv() map[string]string {
	return map[string]string{
		"ATLAS_PROJECT_ID": "5f1a2b3c4d5e6f7081920a1b",
		"ATLAS_SECRET_ID":  "arn:aws:secretsmanager:us-east-1:123456789012:secret:atlas/registrar-AbCdEf",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(envFrom(validEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ProjectIDs: []string{"5f1a2b3c4d5e6f7081920a1b"}, SecretID: validEnv()["ATLAS_SECRET_ID"], MemberRoleName: DefaultMemberRoleName,
		BaseURL: atlas.DefaultBaseURL, APIVersion: atlas.V2, MaxAttempts: 3,
		PollInitial: 5 * time.Second, PollMax: 30 * time.Second,
		CredentialsTTL: 15 * time.Minute, DeadlineMargin: 5 * time.Second,
		MetricsNamespace: "AtlasVpceRegistrar",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig() = %+v, want %+v", c, want)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantVar string
	}{
		{name: "missing project", unset: "ATLAS_PROJECT_ID", wantVar: "ATLAS_PROJECT_ID"},
		{name: "short project", set: map[string]string{"ATLAS_PROJECT_ID": "abc"}, wantVar: "ATLAS_PROJECT_ID"},
		{name: "upper-case project", set: map[string]string{"ATLAS_PROJECT_ID": "5F1A2B3C4D5E6F7081920A1B"}, wantVar: "ATLAS_PROJECT_ID"},
		{name: "missing secret", unset: "ATLAS_SECRET_ID", wantVar: "ATLAS_SECRET_ID"},
		{name: "secret with spaces", set: map[string]string{"ATLAS_SECRET_ID": "my secret"}, wantVar: "ATLAS_SECRET_ID"},
		{name: "plain http", set: map[string]string{"ATLAS_BASE_URL": "http://cloud.mongodb.com"}, wantVar: "ATLAS_BASE_URL"},
		{name: "unknown version", set: map[string]string{"ATLAS_API_VERSION": "v3"}, wantVar: "ATLAS_API_VERSION"},
		{name: "attempts zero", set: map[string]string{"ATLAS_MAX_ATTEMPTS": "0"}, wantVar: "ATLAS_MAX_ATTEMPTS"},
		{name: "attempts word", set: map[string]string{"ATLAS_MAX_ATTEMPTS": "three"}, wantVar: "ATLAS_MAX_ATTEMPTS"},
		{name: "poll not a duration", set: map[string]string{"ATLAS_POLL_INITIAL": "5"}, wantVar: "ATLAS_POLL_INITIAL"},
		{name: "poll max below initial", set: map[string]string{"ATLAS_POLL_INITIAL": "10s", "ATLAS_POLL_MAX": "1s"}, wantVar: "ATLAS_POLL_MAX"},
		{name: "negative margin", set: map[string]string{"DEADLINE_MARGIN": "-1s"}, wantVar: "DEADLINE_MARGIN"},
		{name: "removal switch as yes", set: map[string]string{"ATLAS_ALLOW_SERVICE_REMOVAL": "yes"}, wantVar: "ATLAS_ALLOW_SERVICE_REMOVAL"},
		{name: "removal switch as 1", set: map[string]string{"ATLAS_ALLOW_SERVICE_REMOVAL": "1"}, wantVar: "ATLAS_ALLOW_SERVICE_REMOVAL"},
		{name: "project list with a bad id", set: map[string]string{"ATLAS_PROJECT_IDS": "5f1a2b3c4d5e6f7081920a1c,nope"}, wantVar: "ATLAS_PROJECT_IDS"},
		{name: "no project at all", unset: "ATLAS_PROJECT_ID", set: map[string]string{"ATLAS_PROJECT_IDS": " , "}, wantVar: "ATLAS_PROJECT_ID"},
		{name: "account too short", set: map[string]string{"ALLOWED_ACCOUNT_IDS": "222222222222,12345"}, wantVar: "ALLOWED_ACCOUNT_IDS"},
		{name: "role name with a slash", set: map[string]string{"MEMBER_ROLE_NAME": "path/role"}, wantVar: "MEMBER_ROLE_NAME"},
		{name: "role name too long", set: map[string]string{"MEMBER_ROLE_NAME": strings.Repeat("r", 65)}, wantVar: "MEMBER_ROLE_NAME"},
		{name: "orphan switch misspelt", set: map[string]string{"RECONCILE_DELETE_ORPHANS": "ture"}, wantVar: "RECONCILE_DELETE_ORPHANS"},
		{name: "namespace with a leading colon", set: map[string]string{"METRICS_NAMESPACE": ":Registrar"}, wantVar: "METRICS_NAMESPACE"},
		{name: "namespace under AWS/", set: map[string]string{"METRICS_NAMESPACE": "AWS/Lambda"}, wantVar: "METRICS_NAMESPACE"},
		{name: "namespace with a star", set: map[string]string{"METRICS_NAMESPACE": "Atlas*"}, wantVar: "METRICS_NAMESPACE"},
		{name: "namespace too long", set: map[string]string{"METRICS_NAMESPACE": strings.Repeat("n", 256)}, wantVar: "METRICS_NAMESPACE"},
		{name: "tag switch as yes", set: map[string]string{"ENDPOINT_STATUS_TAGS": "yes"}, wantVar: "ENDPOINT_STATUS_TAGS"},
		{name: "bus name with a slash", set: map[string]string{"OUTCOME_EVENT_BUS": "a/b"}, wantVar: "OUTCOME_EVENT_BUS"},
		{name: "bus ARN of a rule", set: map[string]string{"OUTCOME_EVENT_BUS": "arn:aws:events:us-east-1:111111111111:rule/r"}, wantVar: "OUTCOME_EVENT_BUS"},
		{name: "bus ARN of another service", set: map[string]string{"OUTCOME_EVENT_BUS": "arn:aws:sqs:us-east-1:111111111111:event-bus/b"}, wantVar: "OUTCOME_EVENT_BUS"},
		{name: "bus name too long", set: map[string]string{"OUTCOME_EVENT_BUS": strings.Repeat("b", 257)}, wantVar: "OUTCOME_EVENT_BUS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := validEnv()
			delete(env, tt.unset)
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := LoadConfig(envFrom(env))
			ce, ok := errors.AsType[*ConfigError](err)
			if !ok {
				t.Fatalf("LoadConfig() error = %v, want *ConfigError", err)
			}
			if ce.Variable != tt.wantVar || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error %q names %s, want %s", err, ce.Variable, tt.wantVar)
			}
			if !strings.Contains(err.Error(), "expected") && !strings.Contains(err.Error(), "required") {
				t.Errorf("error %q does not say what is expected", err)
			}
		})
	}
}

func TestLoadConfigAcceptsLoopbackHTTPAndV1(t *testing.T) {
	t.Parallel()
	env := validEnv()
	env["ATLAS_BASE_URL"] = "http://127.0.0.1:8080"
	env["ATLAS_API_VERSION"] = "v1.0"
	env["ATLAS_MAX_ATTEMPTS"] = "5"
	env["ATLAS_SECRET_ID"] = "atlas/registrar"
	env["METRICS_NAMESPACE"] = "Team/Atlas Registrar"
	c, err := LoadConfig(envFrom(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != atlas.V1 || c.MaxAttempts != 5 || c.BaseURL != "http://127.0.0.1:8080" || c.MetricsNamespace != "Team/Atlas Registrar" {
		t.Errorf("LoadConfig() = %+v", c)
	}
}

// The switches that allow deletes are off unless set to exactly true (in any case).
func TestLoadConfigDeletionSwitches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  bool
	}{{"", false}, {"false", false}, {"FALSE", false}, {"true", true}, {"True", true}}
	for _, tt := range tests {
		env := validEnv()
		env["ATLAS_ALLOW_SERVICE_REMOVAL"] = tt.value
		env["RECONCILE_DELETE_ORPHANS"] = tt.value
		c, err := LoadConfig(envFrom(env))
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if c.AllowServiceRemoval != tt.want || c.ReconcileDeleteOrphans != tt.want {
			t.Errorf("%q: AllowServiceRemoval %v, ReconcileDeleteOrphans %v; want %v", tt.value, c.AllowServiceRemoval, c.ReconcileDeleteOrphans, tt.want)
		}
	}
}

func TestLoadConfigOwnerFeedback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tags, bus string
		wantTags  bool
		wantBus   string
	}{
		{"", "", false, ""},
		{"true", "atlas-vpce-registrar", true, "atlas-vpce-registrar"},
		{"FALSE", " ops.bus_1-x ", false, "ops.bus_1-x"},
		{"", "arn:aws-us-gov:events:us-gov-west-1:111111111111:event-bus/registrar", false, "arn:aws-us-gov:events:us-gov-west-1:111111111111:event-bus/registrar"},
	}
	for _, tt := range tests {
		env := validEnv()
		env["ENDPOINT_STATUS_TAGS"], env["OUTCOME_EVENT_BUS"] = tt.tags, tt.bus
		c, err := LoadConfig(envFrom(env))
		if err != nil {
			t.Fatalf("%q, %q: %v", tt.tags, tt.bus, err)
		}
		if c.TagEndpoints != tt.wantTags || c.OutcomeEventBus != tt.wantBus {
			t.Errorf("%q, %q: TagEndpoints %v, OutcomeEventBus %q; want %v, %q", tt.tags, tt.bus, c.TagEndpoints, c.OutcomeEventBus, tt.wantTags, tt.wantBus)
		}
	}
}

func TestLoadConfigOrganisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		set                map[string]string
		unset              string
		projects, accounts []string
		role               string
	}{
		{
			name:     "one project, own account",
			projects: []string{"5f1a2b3c4d5e6f7081920a1b"}, role: DefaultMemberRoleName,
		},
		{
			name:     "both project variables, repeats dropped, blanks ignored",
			set:      map[string]string{"ATLAS_PROJECT_IDS": " 5f1a2b3c4d5e6f7081920a1c, 5f1a2b3c4d5e6f7081920a1b ,,5f1a2b3c4d5e6f7081920a1c"},
			projects: []string{"5f1a2b3c4d5e6f7081920a1b", "5f1a2b3c4d5e6f7081920a1c"}, role: DefaultMemberRoleName,
		},
		{
			name:     "only the list",
			unset:    "ATLAS_PROJECT_ID",
			set:      map[string]string{"ATLAS_PROJECT_IDS": "5f1a2b3c4d5e6f7081920a1c"},
			projects: []string{"5f1a2b3c4d5e6f7081920a1c"}, role: DefaultMemberRoleName,
		},
		{
			name:     "member accounts and a role of their own",
			set:      map[string]string{"ALLOWED_ACCOUNT_IDS": "222222222222, 333333333333", "MEMBER_ROLE_NAME": "org+registrar.member@x"},
			projects: []string{"5f1a2b3c4d5e6f7081920a1b"}, accounts: []string{"222222222222", "333333333333"}, role: "org+registrar.member@x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := validEnv()
			delete(env, tt.unset)
			maps.Copy(env, tt.set)
			c, err := LoadConfig(envFrom(env))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.ProjectIDs, tt.projects) || !slices.Equal(c.AllowedAccountIDs, tt.accounts) || c.MemberRoleName != tt.role {
				t.Errorf("projects %v, accounts %v, role %q; want %v, %v, %q", c.ProjectIDs, c.AllowedAccountIDs, c.MemberRoleName, tt.projects, tt.accounts, tt.role)
			}
		})
	}
}
