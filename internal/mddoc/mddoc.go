// Package mddoc reads the project's Markdown pages the way GitHub renders
// them, as far as the tests need: the anchors its headings get, the links a
// page holds outside code, and the names in a section's tables. The tests use
// it to keep the README and docs/ linked and in step with the code.
package mddoc

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"
)

// Line is one line of a page outside fenced code blocks, with its number.
type Line struct {
	N    int
	Text string
}

// Link is a link target written on a line of a page.
type Link struct {
	Line int
	Dest string
}

var (
	// An inline link or image: [text](dest) or [text](dest "title").
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// A reference definition: [label]: dest
	refDefinition  = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	atxHeading     = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$`)
	codeSpan       = regexp.MustCompile("`+[^`]*`+")
	htmlAnchor     = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	inlineLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	backticked     = regexp.MustCompile("`([^`]+)`")
)

// ProseLines reads a Markdown file and returns its lines outside fenced code
// blocks, where links and headings live.
func ProseLines(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []Line
	var fence string // the open fence's marker, or ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			// The fence is the run of ` or ~ that opens it; it closes with
			// at least as many.
			fence = trimmed
			if i := strings.IndexFunc(trimmed, func(r rune) bool { return r != rune(trimmed[0]) }); i >= 0 {
				fence = trimmed[:i]
			}
			continue
		}
		lines = append(lines, Line{N: n, Text: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return lines, nil
}

// Links returns every link target on the page outside code: inline links,
// images and reference definitions.
func Links(path string) ([]Link, error) {
	lines, err := ProseLines(path)
	if err != nil {
		return nil, err
	}
	var links []Link
	for _, l := range lines {
		text := codeSpan.ReplaceAllString(l.Text, "")
		for _, m := range inlineLink.FindAllStringSubmatch(text, -1) {
			links = append(links, Link{Line: l.N, Dest: m[1]})
		}
		if m := refDefinition.FindStringSubmatch(text); m != nil {
			links = append(links, Link{Line: l.N, Dest: m[1]})
		}
	}
	return links, nil
}

// Slug is the anchor GitHub gives a heading: the heading's text as rendered
// (code spans keep their content, link text stays, emphasis marks go), in
// lower case, with everything but letters, digits, marks, spaces, hyphens and
// underscores dropped, and each space turned into a hyphen.
func Slug(heading string) string {
	var text strings.Builder
	rest := heading
	for rest != "" {
		loc := codeSpan.FindStringIndex(rest)
		if loc == nil {
			text.WriteString(renderInline(rest))
			break
		}
		text.WriteString(renderInline(rest[:loc[0]]))
		text.WriteString(strings.Trim(rest[loc[0]:loc[1]], "`"))
		rest = rest[loc[1]:]
	}
	var slug strings.Builder
	for _, r := range strings.ToLower(text.String()) {
		switch {
		case r == ' ':
			slug.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			slug.WriteRune(r)
		}
	}
	return slug.String()
}

// renderInline turns Markdown outside code spans into its text: links to
// their text, without emphasis marks.
func renderInline(s string) string {
	s = inlineLinkText.ReplaceAllString(s, "$1")
	return strings.NewReplacer("**", "", "*", "", "__", "").Replace(s)
}

// heading is an ATX heading: its level and its anchor.
type heading struct {
	level  int
	anchor string
}

// headings returns, per line of lines, the heading it is (level 0: none),
// with GitHub's -1, -2 … on the anchor of a repeated heading.
func headings(lines []Line) []heading {
	out := make([]heading, len(lines))
	seen := map[string]int{}
	for i, l := range lines {
		m := atxHeading.FindStringSubmatch(l.Text)
		if m == nil {
			continue
		}
		slug := Slug(m[2])
		anchor := slug
		if n := seen[slug]; n > 0 {
			anchor = fmt.Sprintf("%s-%d", slug, n)
		}
		seen[slug]++
		out[i] = heading{level: len(m[1]), anchor: anchor}
	}
	return out
}

// Anchors returns the anchors of a Markdown page: one per heading, and any
// <a name> or <a id>.
func Anchors(path string) (map[string]bool, error) {
	lines, err := ProseLines(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	for i, h := range headings(lines) {
		if h.level > 0 {
			anchors[h.anchor] = true
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(lines[i].Text, -1) {
			anchors[m[1]] = true
		}
	}
	return anchors, nil
}

// Section returns the lines under the heading with the given anchor, up to
// the next heading of the same or a higher level (its subsections included).
func Section(path, anchor string) ([]Line, error) {
	lines, err := ProseLines(path)
	if err != nil {
		return nil, err
	}
	hs := headings(lines)
	for i, h := range hs {
		if h.level == 0 || h.anchor != anchor {
			continue
		}
		end := len(lines)
		for j := i + 1; j < len(lines); j++ {
			if hs[j].level > 0 && hs[j].level <= h.level {
				end = j
				break
			}
		}
		return lines[i+1 : end], nil
	}
	return nil, fmt.Errorf("%s has no heading with the anchor #%s", path, anchor)
}

// TableNames returns the names in backticks in the first column of every
// table row among lines (header and separator rows hold none): the names a
// reference table documents.
func TableNames(lines []Line) []string {
	var names []string
	for _, l := range lines {
		t := strings.TrimSpace(l.Text)
		if !strings.HasPrefix(t, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(t, "|"), "|")
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// CodeSpans returns the content of every code span among lines, in order.
func CodeSpans(lines []Line) []string {
	var spans []string
	for _, l := range lines {
		for _, m := range backticked.FindAllStringSubmatch(l.Text, -1) {
			spans = append(spans, m[1])
		}
	}
	return spans
}
