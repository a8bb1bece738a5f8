package handler

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

// A 400 from Atlas says which value and which body field it refused; the
// failure line carries both, so an operator does not have to reproduce the call.
func TestBadRequestDetailLogged(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	hs.fake.InjectFault(atlastest.Fault{
		Method: "POST", PathContains: "/endpoint", Status: 400,
		Parameters:       []any{"id", hs.seeded.EndpointID},
		BadRequestFields: []atlas.FieldViolation{{Field: "id", Description: "must match \"^vpce-[0-9a-f]{17}$\""}},
	})
	_, err := hs.invoke(hs.event(), 30*time.Second)
	if er, ok := errors.AsType[*atlas.ErrorResponse](err); !ok || er.StatusCode != 400 {
		t.Fatalf("Handle() error = %v, want the Atlas 400", err)
	}
	line := failureLine(t, hs)
	if got, want := line["atlasParameters"], []any{"id", hs.seeded.EndpointID}; !reflect.DeepEqual(got, want) {
		t.Errorf("atlasParameters = %v, want %v", got, want)
	}
	want := []any{map[string]any{"field": "id", "description": "must match \"^vpce-[0-9a-f]{17}$\""}}
	if got := line["atlasBadRequestFields"]; !reflect.DeepEqual(got, want) {
		t.Errorf("atlasBadRequestFields = %v, want %v", got, want)
	}
	if line["atlasStatus"] != float64(400) || line["atlasErrorCode"] != "VALIDATION_ERROR" {
		t.Errorf("line %v lacks the status and code", line)
	}
}

// A hostile 400 (a body of up to 1 MiB, all parameters and fields) still
// yields a short failure line.
func TestBadRequestDetailBounded(t *testing.T) {
	t.Parallel()
	hs := newHarness(t, harnessOptions{})
	var params, fields []string
	for i := range 1000 {
		params = append(params, fmt.Sprintf("%q", strings.Repeat("p", 200)+fmt.Sprint(i)))
		fields = append(fields, fmt.Sprintf(`{"field":%q,"description":%q}`, strings.Repeat("f", 200), strings.Repeat("d", 500)))
	}
	body := `{"detail":"x","error":400,"errorCode":"VALIDATION_ERROR","reason":"Bad Request","parameters":[` +
		strings.Join(params, ",") + `],"badRequestDetail":{"fields":[` + strings.Join(fields, ",") + `]}}`
	if len(body) > 1<<20 {
		t.Fatalf("body is %d bytes; the client reads at most 1 MiB", len(body))
	}
	hs.fake.InjectFault(atlastest.Fault{Method: "POST", PathContains: "/endpoint", Status: 400, Body: []byte(body)})
	if _, err := hs.invoke(hs.event(), 30*time.Second); err == nil {
		t.Fatal("Handle() succeeded")
	}
	line := failureLine(t, hs)
	b, _ := json.Marshal(line)
	if len(b) > 16<<10 {
		t.Errorf("failure line is %d bytes from a %d-byte body; want it bounded", len(b), len(body))
	}
	if ps, _ := line["atlasParameters"].([]any); len(ps) != 11 || ps[10] != "… 990 more" {
		t.Errorf("atlasParameters has %d entries, want 10 and a count of the rest", len(ps))
	}
	if fs, _ := line["atlasBadRequestFields"].([]any); len(fs) != 11 {
		t.Errorf("atlasBadRequestFields has %d entries, want 10 and a count of the rest", len(fs))
	}
}

func failureLine(t *testing.T, hs *harness) map[string]any {
	t.Helper()
	for _, l := range hs.logLines() {
		if l["msg"] == "endpoint registration failed" {
			return l
		}
	}
	t.Fatalf("no failure line:\n%s", hs.logs)
	return nil
}
