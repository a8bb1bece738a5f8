package mddoc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ heading, want string }{
		{"The two commands", "the-two-commands"},
		{"Bursts: `make soak`", "bursts-make-soak"},
		{"What it deletes, and what it never deletes", "what-it-deletes-and-what-it-never-deletes"},
		{"The endpoint's whole life", "the-endpoints-whole-life"},
		{"`make run SCENARIO=lifecycle`", "make-run-scenariolifecycle"},
		{"`ATLAS_PROJECT_ID` and friends", "atlas_project_id-and-friends"},
		{"[1.0.0] - 2026-12-06", "100---2026-12-06"},
		{"**Bold** and *emphasis*", "bold-and-emphasis"},
		{"A [link](https://example.com) in it", "a-link-in-it"},
		{"Diátaxis × 2", "diátaxis--2"},
	} {
		if got := Slug(tc.heading); got != tc.want {
			t.Errorf("Slug(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

func writePage(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnchorsAndLinks(t *testing.T) {
	t.Parallel()
	p := writePage(t,
		"# Page",
		"## Notes",
		"## Notes",
		`<a id="custom"></a>`,
		"[a](x.md#y) and ![img](pic.png \"title\") and `[code](not.md)`",
		"````md",
		"```",
		"## Not a heading",
		"[not](a-link.md)",
		"```",
		"````",
		"   [ref]: other.md",
	)
	anchors, err := Anchors(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"page": true, "notes": true, "notes-1": true, "custom": true}
	if !reflect.DeepEqual(anchors, want) {
		t.Errorf("Anchors = %v, want %v", anchors, want)
	}
	links, err := Links(p)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := []Link{{5, "x.md#y"}, {5, "pic.png"}, {12, "other.md"}}
	if !reflect.DeepEqual(links, wantLinks) {
		t.Errorf("Links = %v, want %v", links, wantLinks)
	}
}

func TestSectionTableNames(t *testing.T) {
	t.Parallel()
	p := writePage(t,
		"# Page",
		"## Reference",
		"### Parameters",
		"| parameter | default |",
		"|---|---|",
		"| `A` | `x` |",
		"| `B` / `C` | 1 |",
		"#### Detail",
		"| `D` | |",
		"### Outputs",
		"| `E` | |",
	)
	sec, err := Section(p, "parameters")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := TableNames(sec), []string{"A", "B", "C", "D"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TableNames(parameters) = %v, want %v", got, want)
	}
	if _, err := Section(p, "missing"); err == nil || !strings.Contains(err.Error(), "#missing") {
		t.Errorf("Section(missing) error = %v, want one naming #missing", err)
	}
}
