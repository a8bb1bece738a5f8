package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/atlasvpce/registrar/handler"
)

// The example rules the documentation gives match the outcomes they are
// meant for, and no others.
func TestOutcomeExamplePatterns(t *testing.T) {
	t.Parallel()
	examples := docExamplePatterns(t)
	tests := []struct {
		example string
		matches []string // outcomes that match; every other outcome must not
	}{
		{"failed-to-sns", []string{handler.OutcomeFailed, handler.OutcomeKept}},
		{"pipeline-waits", []string{handler.OutcomeRegistered, handler.OutcomeAlreadyRegistered}},
	}
	all := []string{handler.OutcomeRegistered, handler.OutcomeAlreadyRegistered, handler.OutcomeReRegistered,
		handler.OutcomePending, handler.OutcomeFailed, handler.OutcomeKept, handler.OutcomeDeregistered, handler.OutcomeOrphan}
	for _, tt := range tests {
		pattern, ok := examples[tt.example]
		if !ok {
			t.Errorf("docs/endpoint-owners.md has no example %q", tt.example)
			continue
		}
		for _, outcome := range all {
			got, err := matchPattern(pattern, outcomeEvent(t, outcome))
			if err != nil {
				t.Fatalf("%s: %v", tt.example, err)
			}
			if want := slices.Contains(tt.matches, outcome); got != want {
				t.Errorf("%s matches outcome %s: %v, want %v", tt.example, outcome, got, want)
			}
		}
	}
}

// docExamplePatterns reads the example event patterns of
// docs/endpoint-owners.md: each is the first ```json block after a line
// "<!-- pattern: NAME -->".
func docExamplePatterns(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "endpoint-owners.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, m := range docPattern.FindAllStringSubmatch(string(b), -1) {
		var p any
		if err := json.Unmarshal([]byte(m[2]), &p); err != nil {
			t.Fatalf("example %s is not JSON: %v", m[1], err)
		}
		out[m[1]] = p
	}
	return out
}

var docPattern = regexp.MustCompile("(?s)<!-- pattern: ([a-z0-9-]+) -->\\s*```json\n(.*?)```")
