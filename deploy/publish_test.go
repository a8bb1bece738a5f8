package deploy_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/internal/mddoc"
)

// apache20SHA256 is the SHA-256 of the Apache License 2.0 as the Apache
// Software Foundation publishes it (LICENSE-2.0.txt, also Debian's
// /usr/share/common-licenses/Apache-2.0): LICENSE must be that text, unedited,
// for SpdxLicenseId Apache-2.0 to be true.
const apache20SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

// TestServerlessRepoMetadata checks what `sam publish` sends to the AWS
// Serverless Application Repository: the fields it requires, within its
// published limits; files that exist; a licence id that matches the licence
// text; the version of the newest CHANGELOG entry; and addresses that agree
// with the Go module path.
func TestServerlessRepoMetadata(t *testing.T) {
	t.Parallel()
	app, ok := mustDig(t, mustTemplate(t), "Metadata", "AWS::ServerlessRepo::Application").(map[string]any)
	if !ok {
		t.Fatal("Metadata.AWS::ServerlessRepo::Application is not a mapping")
	}
	str := func(key string) string {
		t.Helper()
		s, ok := app[key].(string)
		if !ok || s == "" {
			t.Fatalf("AWS::ServerlessRepo::Application.%s is %#v, want a non-empty string", key, app[key])
		}
		return s
	}
	root := filepath.Dir(templatePath)

	// The limits the repository documents for each field.
	fields := []struct {
		key     string
		max     int
		pattern string
	}{
		{"Name", 140, `^[a-zA-Z0-9-]+$`},
		{"Description", 256, ``},
		{"Author", 127, `^[a-z0-9]([a-z0-9]|-[a-z0-9])*$`},
	}
	for _, f := range fields {
		v := str(f.key)
		if len(v) > f.max {
			t.Errorf("%s has %d characters, the repository allows %d", f.key, len(v), f.max)
		}
		if f.pattern != "" && !regexp.MustCompile(f.pattern).MatchString(v) {
			t.Errorf("%s = %q does not match the repository's pattern %s", f.key, v, f.pattern)
		}
	}
	if got := str("Name"); got != "atlas-vpce-registrar" {
		t.Errorf("Name = %q, want atlas-vpce-registrar", got)
	}
	labels, ok := stringList(app["Labels"])
	if !ok || len(labels) == 0 || len(labels) > 10 {
		t.Errorf("Labels = %#v, want 1 to 10 strings", app["Labels"])
	}
	for _, l := range labels {
		if len(l) > 127 || !regexp.MustCompile(`^[a-zA-Z0-9+\-_:/@]+$`).MatchString(l) {
			t.Errorf("label %q: want at most 127 of a-z A-Z 0-9 + - _ : / @", l)
		}
	}

	for _, key := range []string{"LicenseUrl", "ReadmeUrl"} {
		if _, err := os.Stat(filepath.Join(root, str(key))); err != nil {
			t.Errorf("%s = %q: %v; sam package uploads it from beside the template", key, str(key), err)
		}
	}

	license, err := os.ReadFile(filepath.Join(root, str("LicenseUrl")))
	if err != nil {
		t.Fatal(err)
	}
	if str("SpdxLicenseId") != "Apache-2.0" {
		t.Errorf("SpdxLicenseId = %q; this test knows the text of Apache-2.0 only", str("SpdxLicenseId"))
	}
	if sum := sha256.Sum256(license); hex.EncodeToString(sum[:]) != apache20SHA256 {
		t.Errorf("%s is not the Apache License 2.0 as published (SHA-256 %x, want %s); copy it unedited from /usr/share/common-licenses/Apache-2.0",
			str("LicenseUrl"), sum, apache20SHA256)
	}

	newest, err := newestChangelogVersion(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := str("SemanticVersion"); got != newest {
		t.Errorf("SemanticVersion = %q, but the newest CHANGELOG.md entry is %q; publish what the changelog describes", got, newest)
	}

	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"HomePageUrl", "SourceCodeUrl"} {
		if got, want := str(key), "https://"+module; got != want {
			t.Errorf("%s = %q, want %q (the Go module path)", key, got, want)
		}
	}
}

var (
	semver         = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$`)
	releaseHeading = regexp.MustCompile(`^## \[([^\]]+)\] - (\d{4}-\d{2}-\d{2})$`)
)

// newestChangelogVersion returns the version of the first release heading
// ("## [x.y.z] - yyyy-mm-dd") of a Keep a Changelog file, past any
// "## [Unreleased]".
func newestChangelogVersion(path string) (string, error) {
	lines, err := mddoc.ProseLines(path)
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		if !strings.HasPrefix(l.Text, "## ") || strings.HasPrefix(l.Text, "## [Unreleased]") {
			continue
		}
		m := releaseHeading.FindStringSubmatch(l.Text)
		if m == nil || !semver.MatchString(m[1]) {
			return "", fmt.Errorf("%s:%d: %q: want a release heading \"## [x.y.z] - yyyy-mm-dd\" with a semantic version", path, l.N, l.Text)
		}
		return m[1], nil
	}
	return "", fmt.Errorf("%s: no release heading; want \"## [x.y.z] - yyyy-mm-dd\"", path)
}

func TestNewestChangelogVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want, wantErr string
	}{
		{"first release", "# Changelog\n\n## [1.0.0] - 2026-12-06\n### Added\n", "1.0.0", ""},
		{"past unreleased", "# Changelog\n## [Unreleased]\n## [1.2.0-rc.1] - 2027-01-02\n## [1.1.0] - 2026-12-20\n", "1.2.0-rc.1", ""},
		{"inside code", "# Changelog\n```\n## [9.9.9] - 2030-01-01\n```\n## [1.0.0] - 2026-12-06\n", "1.0.0", ""},
		{"not semantic", "## [1.0] - 2026-12-06\n", "", ":1: "},
		{"no date", "## [1.0.0]\n", "", ":1: "},
		{"none", "# Changelog\n## [Unreleased]\n", "", "no release heading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "CHANGELOG.md")
			if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := newestChangelogVersion(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// modulePath reads the module path from a go.mod file.
func modulePath(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s has no module line", path)
}

// The rules deliver to the event queue, not to the function: the outputs of
// their dead-letter queues must say so.
func TestTemplateRuleDeadLetterOutputs(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	for output, queue := range map[string]string{
		"RuleDeadLetterQueueUrl":          "RuleDeadLetterQueue",
		"ForwardedRuleDeadLetterQueueUrl": "ForwardedRuleDeadLetterQueue",
	} {
		desc, _ := mustDig(t, tpl, "Outputs", output, "Description").(string)
		if !strings.Contains(desc, "could not deliver") || !strings.HasSuffix(desc, "to the event queue.") {
			t.Errorf("%s.Description = %q, want it to say what EventBridge could not deliver to the event queue", output, desc)
		}
		if got := mustDig(t, tpl, "Outputs", output, "Value"); !reflect.DeepEqual(got, ref(queue)) {
			t.Errorf("%s.Value = %#v, want !Ref %s", output, got, queue)
		}
	}
}
