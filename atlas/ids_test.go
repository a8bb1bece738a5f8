package atlas

import (
	"regexp"
	"strings"
	"testing"
)

// The checks must accept exactly what the expressions in the errors describe.
var (
	endpointIDRE       = regexp.MustCompile(endpointIDPattern)
	legacyEndpointIDRE = regexp.MustCompile(legacyEndpointIDPattern)
	objectIDRE         = regexp.MustCompile(objectIDPattern)
)

func TestIDChecksMatchPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id                    string
		endpoint, legacy, obj bool
	}{
		{"vpce-0123456789abcdef0", true, false, false},
		{"vpce-0123abcd", false, true, false},
		{"vpce-0123abc", false, false, false},              // 7 hex digits
		{"vpce-0123abcd0", false, false, false},            // 9
		{"vpce-0123456789abcdef", false, false, false},     // 16
		{"vpce-0123456789abcdef01", false, false, false},   // 18
		{"vpce-0123456789ABCDEF0", false, false, false},    // upper case
		{"vpce-0123456789abcdeg0", false, false, false},    // not hex
		{"VPCE-0123456789abcdef0", false, false, false},    // prefix case
		{"vpce0123456789abcdef0", false, false, false},     // no dash
		{"vpce-0123456789abcdef0\n", false, false, false},  // trailing newline
		{" vpce-0123456789abcdef0", false, false, false},   // leading space
		{"vpce-0123456789abcdef\xff", false, false, false}, // invalid UTF-8
		{"vpce-", false, false, false},
		{"", false, false, false},
		{"5f0000000000000000000001", false, false, true},
		{"5f000000000000000000001", false, false, false},
		{"5f00000000000000000000011", false, false, false},
		{"5F0000000000000000000001", false, false, false},
		{"5f00000000000000000000/1", false, false, false},
		{"5f000000000000000000000\xff", false, false, false},
		{strings.Repeat("a", 24), false, false, true},
	}
	for _, tt := range tests {
		if endpointIDRE.MatchString(tt.id) != tt.endpoint || legacyEndpointIDRE.MatchString(tt.id) != tt.legacy || objectIDRE.MatchString(tt.id) != tt.obj {
			t.Fatalf("%q: the table disagrees with the expressions", tt.id)
		}
		if got := validEndpointID(tt.id); got != tt.endpoint {
			t.Errorf("validEndpointID(%q) = %v, want %v", tt.id, got, tt.endpoint)
		}
		if got := legacyEndpointID(tt.id); got != tt.legacy {
			t.Errorf("legacyEndpointID(%q) = %v, want %v", tt.id, got, tt.legacy)
		}
		if got := validObjectID(tt.id); got != tt.obj {
			t.Errorf("validObjectID(%q) = %v, want %v", tt.id, got, tt.obj)
		}
	}
}

func FuzzIDChecks(f *testing.F) {
	for _, s := range []string{"vpce-0123abcd", "vpce-0123456789abcdef0", "5f0000000000000000000001", "vpce-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validEndpointID(id), endpointIDRE.MatchString(id); got != want {
			t.Errorf("validEndpointID(%q) = %v, the expression says %v", id, got, want)
		}
		if got, want := legacyEndpointID(id), legacyEndpointIDRE.MatchString(id); got != want {
			t.Errorf("legacyEndpointID(%q) = %v, the expression says %v", id, got, want)
		}
		if got, want := validObjectID(id), objectIDRE.MatchString(id); got != want {
			t.Errorf("validObjectID(%q) = %v, the expression says %v", id, got, want)
		}
	})
}

// EndpointIDProblem names each fault in words a person can act on, never the
// regular expression, and says what Atlas accepts.
func TestEndpointIDProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want []string // each must appear
		not  []string // none may appear
	}{
		{"vpce-0123456789abcdef0", nil, nil},
		{"vpce-0123456789ABCDEF0", []string{"it has upper-case letters"}, []string{"characters after", "not a hex digit", "does not start"}},
		{"VPCE-0123456789abcdef0", []string{"it has upper-case letters"}, []string{"does not start", "characters after"}},
		{"0123456789abcdef0", []string{`it does not start with "vpce-"`}, []string{"upper-case"}},
		{"vpce0123456789abcdef0", []string{`it does not start with "vpce-"`}, nil},
		{"vpce-0123456789abcdef", []string{`it has 16 characters after "vpce-", not 17`}, nil},
		{"vpce-0123456789abcdef01", []string{`it has 18 characters after "vpce-", not 17`}, nil},
		{"vpce-0123abcd", []string{"8-digit legacy AWS id, which Atlas refuses"}, []string{"characters after"}},
		{"vpce-0123ABCD", []string{"upper-case", `it has 8 characters after "vpce-"`}, []string{"legacy"}},
		{"vpce-0123456789abcdeg0", []string{`it has 'g', which is not a hex digit`}, []string{"characters after"}},
		{"vpce-1/../../orgs", []string{`'/', which is not a hex digit`, "12 characters"}, nil},
		{"", []string{"it is empty"}, nil},
	}
	for _, tt := range tests {
		got := EndpointIDProblem(tt.id)
		if tt.want == nil {
			if got != "" {
				t.Errorf("EndpointIDProblem(%q) = %q, want \"\"", tt.id, got)
			}
			continue
		}
		for _, w := range append(tt.want, EndpointIDForm) {
			if !strings.Contains(got, w) {
				t.Errorf("EndpointIDProblem(%q) = %q, want it to say %q", tt.id, got, w)
			}
		}
		for _, n := range append(tt.not, "^vpce", "[0-9a-f]") {
			if strings.Contains(got, n) {
				t.Errorf("EndpointIDProblem(%q) = %q, must not say %q", tt.id, got, n)
			}
		}
	}
}
