package registrar_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/atlasvpce/registrar/internal/mddoc"
)

// TestDocLinks fails on a relative link in the README, the CHANGELOG or a
// docs/ page that leads nowhere: a file that does not exist, or an #anchor
// that no heading of the target page produces under GitHub's slug rules.
// Pages are split and headings renamed over time; a dead link is found here
// rather than by a reader.
func TestDocLinks(t *testing.T) {
	t.Parallel()
	pages, err := docPages(".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pages, "README.md") || !slices.ContainsFunc(pages, func(p string) bool { return strings.HasPrefix(p, "docs/") }) {
		t.Fatalf("expected README.md and pages under docs/, found %v", pages)
	}
	problems, err := checkDocLinks(".", pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// The checker must catch what it is for: a missing file, a missing anchor in
// another page and in the same page, an anchor into a file that has no
// headings, and a link out of the repository; and it must pass links that do
// resolve, including GitHub's suffix for a repeated heading, headings with
// code and punctuation, and anything inside code.
func TestDocLinksCatchesDeadLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"README.md": strings.Join([]string{
			"# Title",
			"See [how](docs/how.md#the-flow), [setup](docs/how.md#setup-make-run) and [again](docs/how.md#notes-1).",
			"[up](#title), [licence](LICENSE), [docs](docs/), [web](https://example.com/x#y), [mail](mailto:a@example.com).",
			"Dead: [gone](docs/gone.md) and [anchor](docs/how.md#no-such-heading).",
			"Dead here: [self](#nowhere). Dead anchor into a non-page: [lic](LICENSE#section).",
			"Outside: [out](../elsewhere.md).",
			"`[in code](missing.md)` is not a link.",
			"```",
			"[in a block](missing-too.md)",
			"```",
			"[ref]: docs/missing-ref.md",
		}, "\n"),
		"docs/how.md": strings.Join([]string{
			"# How",
			"## The flow",
			"## Setup: `make run`",
			"## Notes",
			"## Notes",
			"Back to [the README](../README.md#title).",
		}, "\n"),
		"LICENSE": "text",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pages, err := docPages(dir)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := checkDocLinks(dir, pages)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`README.md:4: "docs/gone.md"`,
		`README.md:4: "docs/how.md#no-such-heading"`,
		`README.md:5: "#nowhere"`,
		`README.md:5: "LICENSE#section"`,
		`README.md:6: "../elsewhere.md"`,
		`README.md:11: "docs/missing-ref.md"`,
	}
	if len(problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, w+": ") }) {
			t.Errorf("no problem starting %s; got:\n%s", w, strings.Join(problems, "\n"))
		}
	}
}

// docPages lists the Markdown pages whose links are checked, relative to
// root and with forward slashes.
func docPages(root string) ([]string, error) {
	var pages []string
	for _, pattern := range []string{"*.md", "docs/*.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return nil, err
		}
		for _, p := range m {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return nil, err
			}
			pages = append(pages, filepath.ToSlash(rel))
		}
	}
	slices.Sort(pages)
	return pages, nil
}

var hasScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// checkDocLinks returns one message per relative link in pages (paths
// relative to root) whose file does not exist inside root or whose #anchor
// no heading of the target page produces.
func checkDocLinks(root string, pages []string) ([]string, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	anchorCache := map[string]map[string]bool{}
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchorCache[path]; ok {
			return a, nil
		}
		a, err := mddoc.Anchors(path)
		anchorCache[path] = a
		return a, err
	}
	var problems []string
	for _, page := range pages {
		pagePath := filepath.Join(absRoot, filepath.FromSlash(page))
		links, err := mddoc.Links(pagePath)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if hasScheme.MatchString(l.Dest) || strings.HasPrefix(l.Dest, "//") {
				continue // not relative: another site's business
			}
			if problem := checkDest(absRoot, pagePath, l.Dest, anchorsOf); problem != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: %q: %s", page, l.Line, l.Dest, problem))
			}
		}
	}
	return problems, nil
}

// checkDest says what is wrong with one relative link target, or "".
func checkDest(absRoot, pagePath, dest string, anchorsOf func(string) (map[string]bool, error)) string {
	pathPart, anchor, hasAnchor := strings.Cut(dest, "#")
	target := pagePath
	if pathPart != "" {
		target = filepath.Join(filepath.Dir(pagePath), filepath.FromSlash(pathPart))
	}
	rel, err := filepath.Rel(absRoot, target)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "leads out of the repository; link to a file in it, or use a full https:// address"
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Sprintf("no file %s; fix the path (relative to the page) or add the file", filepath.ToSlash(rel))
	}
	if !hasAnchor {
		return ""
	}
	if info.IsDir() || !strings.HasSuffix(target, ".md") {
		return fmt.Sprintf("#%s points into %s, which is not a Markdown page with headings", anchor, filepath.ToSlash(rel))
	}
	anchors, err := anchorsOf(target)
	if err != nil {
		return err.Error()
	}
	if anchors[anchor] {
		return ""
	}
	have := make([]string, 0, len(anchors))
	for a := range anchors {
		have = append(have, a)
	}
	slices.Sort(have)
	return fmt.Sprintf("no heading in %s has the anchor #%s (GitHub's slug: lower case, punctuation dropped, spaces to hyphens); its anchors: %s",
		filepath.ToSlash(rel), anchor, strings.Join(have, ", "))
}
