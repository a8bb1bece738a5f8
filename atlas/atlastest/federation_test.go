package atlastest_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/atlasvpce/registrar/atlas"
)

const fedList = "/api/atlas/v2/groups/" + pid + "/privateNetworkSettings/endpointIds"

// fedBody is a POST body for vpce with the fields a registration sends.
func fedBody(id string) string {
	return `{"endpointId":"` + id + `","provider":"AWS","type":"DATA_LAKE","region":"US_EAST_1",` +
		`"customerEndpointDNSName":"` + id + `-abcd.vpce-svc-00e311695874992b4.us-east-1.vpce.amazonaws.com","comment":"c1"}`
}

// A Data Federation entry: POST answers 201 with the list page, the entry
// reads PENDING then OK, a second POST changes only the comment, DELETE
// answers 204 and the entry reads DELETING, then 404.
func TestFederationLifecycle(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := start(t, options(clk))
	auth := token(t, s)

	r := send(t, s, "POST", fedList, v2Type, fedBody(vpce), auth)
	if r.status != http.StatusCreated || r.header.Get("Content-Type") != v2Type {
		t.Fatalf("POST: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	page := r.json(t)
	results, _ := page["results"].([]any)
	if len(results) != 1 || page["totalCount"] != float64(1) {
		t.Fatalf("POST answered %s, want the list page with the one entry", r.body)
	}
	if e := results[0].(map[string]any); e["endpointId"] != vpce || e["status"] != "PENDING" || e["region"] != "US_EAST_1" {
		t.Errorf("entry in page: %v", e)
	}
	clk.Advance(step)
	r = send(t, s, "GET", fedList+"/"+vpce, v2Type, "", auth)
	if got := r.json(t); r.status != 200 || got["status"] != "OK" || got["comment"] != "c1" || got["type"] != "DATA_LAKE" {
		t.Fatalf("GET after the pending time: %d %s", r.status, r.body)
	}
	// Upsert: no 409, no second entry, the comment changes.
	body := fedBody(vpce)
	body = body[:len(body)-len(`"c1"}`)] + `"c2"}`
	if r := send(t, s, "POST", fedList, v2Type, body, auth); r.status != http.StatusCreated {
		t.Fatalf("second POST: %d %s", r.status, r.body)
	}
	if got := s.DataFederationEndpoints(""); len(got) != 1 || got[0].Comment != "c2" || got[0].Status != atlas.StatusOK {
		t.Errorf("after the upsert: %+v", got)
	}
	if r := send(t, s, "DELETE", fedList+"/"+vpce, v2Type, "", auth); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if got := send(t, s, "GET", fedList+"/"+vpce, v2Type, "", auth).json(t); got["status"] != "DELETING" {
		t.Errorf("GET after DELETE: %v, want DELETING", got)
	}
	if r := send(t, s, "POST", fedList, v2Type, fedBody(vpce), auth); r.status != 400 {
		t.Errorf("POST while DELETING: %d, want 400", r.status)
	}
	clk.Advance(step)
	if r := send(t, s, "GET", fedList+"/"+vpce, v2Type, "", auth); r.status != 404 || r.errorCode(t) != "RESOURCE_NOT_FOUND" {
		t.Errorf("GET after the delete time: %d %s", r.status, r.body)
	}
	if r := send(t, s, "DELETE", fedList+"/"+vpce, v2Type, "", auth); r.status != 404 {
		t.Errorf("DELETE of a gone entry: %d", r.status)
	}
}

func TestFederationFailed(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := start(t, options(clk))
	s.FailDataFederation("endpoint not found in region", vpce)
	auth := token(t, s)
	send(t, s, "POST", fedList, v2Type, fedBody(vpce), auth)
	if got := s.DataFederationEndpoints(pid); got[0].Status != atlas.StatusPending {
		t.Errorf("before the pending time: %+v", got)
	}
	clk.Advance(step)
	got := send(t, s, "GET", fedList+"/"+vpce, v2Type, "", auth).json(t)
	if got["status"] != "FAILED" || got["errorMessage"] != "endpoint not found in region" {
		t.Errorf("failed entry: %v", got)
	}
	// Only the next registration fails: deleted and posted again, it is OK.
	send(t, s, "DELETE", fedList+"/"+vpce, v2Type, "", auth)
	clk.Advance(step)
	send(t, s, "POST", fedList, v2Type, fedBody(vpce), auth)
	clk.Advance(step)
	if got := s.DataFederationEndpoints(""); len(got) != 1 || got[0].Status != atlas.StatusOK || got[0].ErrorMessage != "" {
		t.Errorf("second registration: %+v", got)
	}
}

func TestFederationPagination(t *testing.T) {
	t.Parallel()
	seed := make([]atlas.DataFederationEndpoint, 7)
	for i := range seed {
		seed[i].EndpointID = fmt.Sprintf("vpce-%017x", i)
	}
	opts := options(nil)
	opts.DataFederation = seed
	s := start(t, opts)
	auth := token(t, s)
	for _, tc := range []struct {
		query string
		ids   []int
		count any
	}{
		{"", []int{0, 1, 2, 3, 4, 5, 6}, float64(7)},
		{"?itemsPerPage=3&pageNum=2", []int{3, 4, 5}, float64(7)},
		{"?itemsPerPage=3&pageNum=3", []int{6}, float64(7)},
		{"?itemsPerPage=3&pageNum=4", []int{}, float64(7)},
		{"?itemsPerPage=500&includeCount=false", []int{0, 1, 2, 3, 4, 5, 6}, nil},
	} {
		r := send(t, s, "GET", fedList+tc.query, v2Type, "", auth)
		page := r.json(t)
		got := []int{}
		for _, e := range page["results"].([]any) {
			var n int
			fmt.Sscanf(e.(map[string]any)["endpointId"].(string), "vpce-%x", &n)
			got = append(got, n)
			if e.(map[string]any)["status"] != "OK" {
				t.Errorf("%s: seeded entry %v is not OK", tc.query, e)
			}
		}
		if !reflect.DeepEqual(got, tc.ids) || page["totalCount"] != tc.count {
			t.Errorf("%s: ids %v totalCount %v, want %v %v", tc.query, got, page["totalCount"], tc.ids, tc.count)
		}
	}
}

func TestFederationValidation(t *testing.T) {
	t.Parallel()
	s := start(t, options(nil))
	auth := token(t, s)
	dns := "vpce-0123456789abcdef0-abcd.vpce-svc-00e311695874992b4.us-east-1.vpce.amazonaws.com"
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
		field                    string // the badRequestDetail field, "" for none
	}{
		{"region without DNS name", "POST", fedList, `{"endpointId":"` + vpce + `","region":"US_EAST_1"}`, 400, "INVALID_ATTRIBUTE", "region"},
		{"DNS name without region", "POST", fedList, `{"endpointId":"` + vpce + `","customerEndpointDNSName":"` + dns + `"}`, 400, "INVALID_ATTRIBUTE", "customerEndpointDNSName"},
		{"AWS region form", "POST", fedList, `{"endpointId":"` + vpce + `","region":"us-east-1","customerEndpointDNSName":"` + dns + `"}`, 400, "INVALID_ATTRIBUTE", "region"},
		{"bad id in body", "POST", fedList, `{"endpointId":"vpce-0123abcd"}`, 400, "INVALID_ATTRIBUTE", "endpointId"},
		{"no id", "POST", fedList, `{"comment":"x"}`, 400, "VALIDATION_ERROR", "endpointId"},
		{"bad type", "POST", fedList, `{"endpointId":"` + vpce + `","type":"CLUSTER"}`, 400, "INVALID_ATTRIBUTE", "type"},
		{"bad provider", "POST", fedList, `{"endpointId":"` + vpce + `","provider":"GCP"}`, 400, "INVALID_ATTRIBUTE", "provider"},
		{"malformed body", "POST", fedList, `[1]`, 400, "MALFORMED_JSON", ""},
		{"bad id in path", "GET", fedList + "/vpce-XYZ", "", 400, "VALIDATION_ERROR", ""},
		{"page too large", "GET", fedList + "?itemsPerPage=501", "", 400, "INVALID_QUERY_PARAMETER", ""},
		{"page zero", "GET", fedList + "?pageNum=0", "", 400, "INVALID_QUERY_PARAMETER", ""},
		{"unknown entry", "DELETE", fedList + "/" + vpce, "", 404, "RESOURCE_NOT_FOUND", ""},
		{"method not allowed", "PUT", fedList + "/" + vpce, "", 405, "METHOD_NOT_ALLOWED", ""},
		{"unknown project", "GET", "/api/atlas/v2/groups/5f00000000000000000000ff/privateNetworkSettings/endpointIds", "", 404, "RESOURCE_NOT_FOUND", ""},
		{"v1.0 is not served", "GET", "/api/atlas/v1.0/groups/" + pid + "/privateNetworkSettings/endpointIds", "", 404, "RESOURCE_NOT_FOUND", ""},
	} {
		accept := v2Type
		if tc.name == "v1.0 is not served" {
			accept = v1Type
		}
		r := send(t, s, tc.method, tc.path, accept, tc.body, auth)
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			continue
		}
		_, fields := r.apiError(t)
		if (tc.field == "") != (len(fields) == 0) || (tc.field != "" && fields[0].Field != tc.field) {
			t.Errorf("%s: badRequestDetail %v, want field %q", tc.name, fields, tc.field)
		}
	}
	if got := s.DataFederationEndpoints(""); len(got) != 0 {
		t.Errorf("a refused request added entries: %+v", got)
	}
	// Auth as on every route: no credentials, a digest challenge.
	if r := send(t, s, "GET", fedList, v2Type, "", ""); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("unauthenticated: %d %v", r.status, r.header)
	}
}
