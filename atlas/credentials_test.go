package atlas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		in         string
		want       atlas.Credentials
		wantKind   string
		wantFields []string // for errors: fields the error names
	}{
		{"camel api key", `{"publicKey":"pub","privateKey":"priv"}`, atlas.Credentials{PublicKey: "pub", PrivateKey: "priv"}, "api-key", nil},
		{"snake api key", `{"public_key":"pub","private_key":"priv","name":"x"}`, atlas.Credentials{PublicKey: "pub", PrivateKey: "priv"}, "api-key", nil},
		{"pascal api key", `{"PublicKey":"pub","PrivateKey":"priv"}`, atlas.Credentials{PublicKey: "pub", PrivateKey: "priv"}, "api-key", nil},
		{"camel service account", `{"clientId":"id","clientSecret":"sec"}`, atlas.Credentials{ClientID: "id", ClientSecret: "sec"}, "service-account", nil},
		{"snake service account", `{"client_id":"id","client_secret":"sec"}`, atlas.Credentials{ClientID: "id", ClientSecret: "sec"}, "service-account", nil},
		{"trimmed", `{"publicKey":" pub\n","privateKey":"priv\n"}`, atlas.Credentials{PublicKey: "pub", PrivateKey: "priv"}, "api-key", nil},
		{"null member is absent", `{"publicKey":"pub","privateKey":"priv","clientId":null}`, atlas.Credentials{PublicKey: "pub", PrivateKey: "priv"}, "api-key", nil},
		{"missing private key", `{"publicKey":"pub"}`, atlas.Credentials{}, "", []string{"privateKey"}},
		{"empty client secret", `{"client_id":"id","client_secret":"  "}`, atlas.Credentials{}, "", []string{"client_secret"}},
		{"both kinds", `{"publicKey":"pub","privateKey":"priv","clientId":"id","clientSecret":"sec"}`, atlas.Credentials{}, "", []string{"publicKey", "clientId"}},
		{"no known fields", `{"user":"u","password":"p"}`, atlas.Credentials{}, "", nil},
		{"two spellings", `{"publicKey":"pub","public_key":"pub","privateKey":"priv"}`, atlas.Credentials{}, "", []string{"publicKey", "public_key"}},
		{"number value", `{"publicKey":"pub","privateKey":12345}`, atlas.Credentials{}, "", []string{"privateKey"}},
		{"inner whitespace", `{"publicKey":"pub","privateKey":"pr iv"}`, atlas.Credentials{}, "", []string{"privateKey"}},
		{"not an object", `["pub","priv"]`, atlas.Credentials{}, "", nil},
		{"null", `null`, atlas.Credentials{}, "", nil},
		{"syntax error", `{"publicKey":"pub","privateKey":priv}`, atlas.Credentials{}, "", nil},
		{"trailing data", `{"publicKey":"pub","privateKey":"priv"} x`, atlas.Credentials{}, "", nil},
		{"empty", ``, atlas.Credentials{}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := atlas.ParseCredentials([]byte(tc.in))
			if tc.wantKind != "" {
				if err != nil || got != tc.want || got.Kind() != tc.wantKind {
					t.Fatalf("got %#v (%s), %v", got, got.Kind(), err)
				}
				return
			}
			var ce *atlas.CredentialsError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CredentialsError", err)
			}
			if got != (atlas.Credentials{}) {
				t.Errorf("credentials returned with an error")
			}
			for _, f := range tc.wantFields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}

func TestCredentialsKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    atlas.Credentials
		want string
	}{
		{apiKey, "api-key"},
		{serviceAccount, "service-account"},
		{atlas.Credentials{}, ""},
		{atlas.Credentials{PublicKey: "p"}, ""},
		{atlas.Credentials{PublicKey: "p", PrivateKey: "q", ClientID: "c"}, ""},
	} {
		if got := tc.c.Kind(); got != tc.want {
			t.Errorf("Kind() = %q, want %q", got, tc.want)
		}
	}
}

// Secret values must not escape through formatting, logging, JSON or errors.
func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	secrets := []string{testPublicKey, testPrivateKey, testClientID, testClientSecret}
	// Both pairs at once, so every field is exercised (the value is not usable).
	all := atlas.Credentials{PublicKey: testPublicKey, PrivateKey: testPrivateKey, ClientID: testClientID, ClientSecret: testClientSecret}
	assertClean := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s leaks %q: %s", what, sec, s)
			}
		}
	}

	for _, c := range []atlas.Credentials{apiKey, serviceAccount, all} {
		wrapper := struct {
			Name  string
			Creds atlas.Credentials
			Ptr   *atlas.Credentials
		}{"w", c, &c}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
			assertClean("fmt "+verb, fmt.Sprintf(verb, c))
			assertClean("fmt ptr "+verb, fmt.Sprintf(verb, &c))
			assertClean("fmt struct "+verb, fmt.Sprintf(verb, wrapper))
			assertClean("fmt slice "+verb, fmt.Sprintf(verb, []atlas.Credentials{c}))
		}
		assertClean("Sprint", fmt.Sprint(c, &c)+fmt.Sprintln(c))

		var buf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
			l := slog.New(h)
			l.Info("loaded", "creds", c, "ptr", &c, slog.Any("any", c), slog.Group("g", "c", c))
			l.Info("wrapped", "w", wrapper)
		}
		if !strings.Contains(buf.String(), "kind") {
			t.Errorf("slog output lacks the kind: %s", buf.String())
		}
		assertClean("slog", buf.String())

		b, err := json.Marshal(wrapper)
		if err != nil {
			t.Fatal(err)
		}
		assertClean("json", string(b))

		if _, err := atlas.NewClient(atlas.Config{ProjectID: atlastest.DefaultProjectID}, c); err != nil {
			assertClean("NewClient error", err.Error())
		}
	}

	c, err := atlas.NewClient(atlas.Config{ProjectID: atlastest.DefaultProjectID}, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	assertClean("client %+v", fmt.Sprintf("%+v %#v", c, c))

	inputs := []string{
		`{"publicKey":"` + testPublicKey + `"}`,
		`{"privateKey":"` + testPrivateKey + `"}`,
		`{"clientId":"` + testClientID + `","clientSecret":""}`,
		`{"clientSecret":"` + testClientSecret + `"}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":"` + testPrivateKey + `","clientId":"` + testClientID + `","clientSecret":"` + testClientSecret + `"}`,
		`{"publicKey":"` + testPublicKey + `","public_key":"` + testPublicKey + `"}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":` + testPrivateKey + `}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":"` + testPrivateKey + `"}` + testClientSecret,
		`{"publicKey":"` + testPublicKey + `","privateKey":"` + testPrivateKey + ` x"}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":{"v":"` + testPrivateKey + `"}}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":["` + testPrivateKey + `"]}`,
		`{"publicKey":"` + testPublicKey + `","privateKey":1` + strings.Repeat("2", 20) + `}`,
		testClientSecret,
		`"` + testClientSecret + `"`,
		`{"` + testClientSecret + `":1}`,
	}
	for _, in := range inputs {
		_, err := atlas.ParseCredentials([]byte(in))
		if err == nil {
			t.Errorf("ParseCredentials(%s) succeeded", in)
			continue
		}
		assertClean("ParseCredentials error", err.Error())
		assertClean("ParseCredentials error %+v", fmt.Sprintf("%+v %#v", err, err))
		if strings.Contains(err.Error(), "12222") {
			t.Errorf("error echoes a number from the input: %v", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	pid := atlastest.DefaultProjectID
	for _, tc := range []struct {
		name    string
		cfg     atlas.Config
		wantErr string // substring; "" means valid
	}{
		{"defaults", atlas.Config{ProjectID: pid}, ""},
		{"https", atlas.Config{ProjectID: pid, BaseURL: "https://cloud.mongodbgov.com"}, ""},
		{"https with path", atlas.Config{ProjectID: pid, BaseURL: "https://proxy.example.com/atlas"}, ""},
		{"http loopback v4", atlas.Config{ProjectID: pid, BaseURL: "http://127.0.0.1:8080"}, ""},
		{"http loopback v4 range", atlas.Config{ProjectID: pid, BaseURL: "http://127.10.0.3:8080"}, ""},
		{"http loopback v6", atlas.Config{ProjectID: pid, BaseURL: "http://[::1]:8080"}, ""},
		{"http localhost", atlas.Config{ProjectID: pid, BaseURL: "http://localhost:8080/"}, ""},
		{"http remote", atlas.Config{ProjectID: pid, BaseURL: "http://cloud.mongodb.com"}, "BaseURL"},
		{"http lookalike", atlas.Config{ProjectID: pid, BaseURL: "http://127.0.0.1.example.com"}, "loopback"},
		{"http private address", atlas.Config{ProjectID: pid, BaseURL: "http://10.0.0.1"}, "https"},
		{"ftp", atlas.Config{ProjectID: pid, BaseURL: "ftp://cloud.mongodb.com"}, "scheme"},
		{"no scheme", atlas.Config{ProjectID: pid, BaseURL: "cloud.mongodb.com"}, "BaseURL"},
		{"user info", atlas.Config{ProjectID: pid, BaseURL: "https://user:hunter2@cloud.mongodb.com"}, "user information"},
		{"query", atlas.Config{ProjectID: pid, BaseURL: "https://cloud.mongodb.com/?x=1"}, "query"},
		{"unparsable", atlas.Config{ProjectID: pid, BaseURL: "https://[::1"}, "BaseURL"},
		{"missing project", atlas.Config{}, "ProjectID"},
		{"version", atlas.Config{ProjectID: pid, Version: "v3"}, "Version"},
		{"timeout", atlas.Config{ProjectID: pid, Timeout: -1}, "Timeout"},
		{"retry order", atlas.Config{ProjectID: pid, Retry: atlas.RetryPolicy{Initial: time.Minute}}, "Retry"},
		{"user agent", atlas.Config{ProjectID: pid, UserAgent: "x\r\nEvil: 1"}, "UserAgent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				if _, err := atlas.NewClient(tc.cfg, apiKey); err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes a password: %v", err)
			}
			if _, err := atlas.NewClient(tc.cfg, apiKey); err == nil {
				t.Errorf("NewClient accepted an invalid config")
			}
		})
	}
}
