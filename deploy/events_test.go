package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// eventFiles returns the sample events by base name.
func eventFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no events/*.json files")
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

func TestEventFiles(t *testing.T) {
	t.Parallel()
	envelope := []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
	for name, b := range eventFiles(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if !json.Valid(b) {
				t.Fatal("not valid JSON")
			}
			m, err := decodeObject(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m["detail-type"]; !ok {
				return // a direct invocation payload, not an EventBridge event
			}
			for _, k := range envelope {
				if _, ok := m[k]; !ok {
					t.Errorf("EventBridge envelope lacks %q", k)
				}
			}
		})
	}
}

// matchPattern reports whether the event matches the pattern under
// EventBridge's rules, for the part of the pattern language used here:
// lists of exact values (strings, numbers, booleans, null) and
// {"exists": bool}. Any other operator is an error rather than a guess.
//
// Like EventBridge (aws/event-ruler), both sides are flattened to leaf paths;
// arrays in the event are transparent, so a leaf matches if any element
// matches; a JSON null is a present leaf with the value null. Array-consistent
// matching across sibling fields is not modelled; the pattern has no such
// fields.
// eventMatches reports whether events/file matches pattern; a missing file,
// or a pattern matchPattern cannot evaluate, fails the test.
func eventMatches(t *testing.T, files map[string][]byte, file string, pattern any) bool {
	t.Helper()
	b, ok := files[file]
	if !ok {
		t.Fatalf("events/%s is missing", file)
	}
	got, err := matchPattern(pattern, b)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func matchPattern(pattern any, event []byte) (bool, error) {
	var p, e any
	// Normalise the pattern to JSON types (float64 numbers).
	pb, err := json.Marshal(pattern)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(pb, &p); err != nil {
		return false, err
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return false, err
	}
	pm, ok := p.(map[string]any)
	if !ok {
		return false, fmt.Errorf("pattern is %T, want an object", p)
	}
	rules := make(map[string][]any)
	if err := flattenPattern(pm, "", rules); err != nil {
		return false, err
	}
	leaves := make(map[string][]any)
	flattenEvent(e, "", leaves)
	for path, matchers := range rules {
		ok, err := matchLeaf(matchers, leaves[path])
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func flattenPattern(m map[string]any, prefix string, out map[string][]any) error {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			if err := flattenPattern(v, join(prefix, k), out); err != nil {
				return err
			}
		case []any:
			out[join(prefix, k)] = v
		default:
			return fmt.Errorf("pattern field %s is %T; EventBridge wants an array or object", join(prefix, k), v)
		}
	}
	return nil
}

func flattenEvent(v any, path string, out map[string][]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			flattenEvent(c, join(path, k), out)
		}
	case []any:
		for _, c := range v {
			flattenEvent(c, path, out)
		}
	default:
		out[path] = append(out[path], v)
	}
}

func matchLeaf(matchers, values []any) (bool, error) {
	for _, m := range matchers {
		if op, ok := m.(map[string]any); ok {
			exists, isExists := op["exists"].(bool)
			if len(op) != 1 || !isExists {
				return false, fmt.Errorf("unsupported pattern operator %v", op)
			}
			if exists == (len(values) > 0) {
				return true, nil
			}
			continue
		}
		switch m.(type) {
		case string, float64, bool, nil:
		default:
			return false, fmt.Errorf("unsupported pattern value %v", m)
		}
		for _, v := range values {
			// Strings, numbers, booleans and null never match each other.
			if m == v {
				return true, nil
			}
		}
	}
	return false, nil
}

func TestPatternMatcher(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern, event string
		want                 bool
	}{
		{"exact", `{"a":["x"]}`, `{"a":"x"}`, true},
		{"any of", `{"a":["x","y"]}`, `{"a":"y"}`, true},
		{"mismatch", `{"a":["x"]}`, `{"a":"z"}`, false},
		{"missing field", `{"a":["x"]}`, `{"b":"x"}`, false},
		{"nested", `{"d":{"a":["x"]}}`, `{"d":{"a":"x","b":1}}`, true},
		{"object is not a leaf", `{"d":["x"]}`, `{"d":{"a":"x"}}`, false},
		{"event array", `{"a":["x"]}`, `{"a":["w","x"]}`, true},
		{"array of objects", `{"d":{"a":["x"]}}`, `{"d":[{"a":"w"},{"a":"x"}]}`, true},
		{"string is not number", `{"a":["1"]}`, `{"a":1}`, false},
		{"number", `{"a":[1]}`, `{"a":1}`, true},
		{"null", `{"a":[null]}`, `{"a":null}`, true},
		{"empty string is not null", `{"a":[""]}`, `{"a":null}`, false},
		{"exists false on absent", `{"e":[{"exists":false}]}`, `{"a":"x"}`, true},
		{"exists false on value", `{"e":[{"exists":false}]}`, `{"e":"Client.UnauthorizedOperation"}`, false},
		// Why the rule has no errorCode filter: a null is a present value.
		{"exists false on null", `{"e":[{"exists":false}]}`, `{"e":null}`, false},
		{"exists true on null", `{"e":[{"exists":true}]}`, `{"e":null}`, true},
		{"all fields must match", `{"a":["x"],"b":["y"]}`, `{"a":"x","b":"z"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var pattern any
			if err := json.Unmarshal([]byte(tt.pattern), &pattern); err != nil {
				t.Fatal(err)
			}
			got, err := matchPattern(pattern, []byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("match(%s, %s) = %v, want %v", tt.pattern, tt.event, got, tt.want)
			}
		})
	}
	t.Run("unsupported operator", func(t *testing.T) {
		t.Parallel()
		pattern := map[string]any{"a": []any{map[string]any{"prefix": "x"}}}
		if _, err := matchPattern(pattern, []byte(`{"a":"xy"}`)); err == nil {
			t.Error("prefix pattern accepted; the matcher must refuse what it does not model")
		}
	})
}
