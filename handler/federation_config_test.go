package handler

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfigDataFederation(t *testing.T) {
	t.Parallel()
	const west = "com.amazonaws.vpce.us-west-2.vpce-svc-09d86b19e59d1b4bb"
	const seoul = "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0123456789abcdef0"
	const east = "com.amazonaws.vpce.us-east-1.vpce-svc-0fffffffffffffff0"
	for _, tc := range []struct {
		name, project, services string
		wantProject             string
		want                    map[string]string
		wantErr                 string // a fragment of the error, "" for none
	}{
		{name: "unset"},
		{name: "project", project: " 5f00000000000000000000df ", wantProject: "5f00000000000000000000df"},
		{name: "a new region", services: "ap-northeast-2=" + seoul, want: map[string]string{"ap-northeast-2": seoul}},
		{name: "a replaced and a repeated region, blanks", services: " us-east-1 = " + east + " ,, us-west-2=" + west + ",us-west-2=" + west,
			want: map[string]string{"us-east-1": east, "us-west-2": west}},
		{name: "bad project", project: "5F00000000000000000000DF", wantErr: "ATLAS_DATA_FEDERATION_PROJECT_ID"},
		{name: "no equals sign", services: seoul, wantErr: `has "` + seoul + `"`},
		{name: "service in another region", services: "us-west-1=" + west, wantErr: `"us-west-1=` + west + `"`},
		{name: "Atlas region name", services: "US_EAST_1=" + east, wantErr: `"US_EAST_1=`},
		{name: "short service id", services: "us-east-1=com.amazonaws.vpce.us-east-1.vpce-svc-0123", wantErr: "vpce-svc-0123"},
		{name: "empty service", services: "us-east-1=", wantErr: `"us-east-1="`},
		{name: "two services for a region", services: "us-east-1=" + east + ",us-east-1=com.amazonaws.vpce.us-east-1.vpce-svc-00e311695874992b4", wantErr: "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := validEnv()
			env["ATLAS_DATA_FEDERATION_PROJECT_ID"] = tc.project
			env["ATLAS_DATA_FEDERATION_SERVICES"] = tc.services
			c, err := LoadConfig(envFrom(env))
			if tc.wantErr != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Variable == "" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a ConfigError naming %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), ce.Variable) || (tc.services != "" && ce.Variable != "ATLAS_DATA_FEDERATION_SERVICES") {
					t.Errorf("err = %v names the wrong variable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DataFederationProjectID != tc.wantProject || !reflect.DeepEqual(c.DataFederationServices, tc.want) {
				t.Errorf("project %q services %v, want %q %v", c.DataFederationProjectID, c.DataFederationServices, tc.wantProject, tc.want)
			}
		})
	}
}

// The built-in table is MongoDB's (11 regions), and an override wins.
func TestDataFederationServiceTable(t *testing.T) {
	t.Parallel()
	var c Config
	if got := len(c.federationRegions()); got != 11 {
		t.Errorf("built-in regions: %d, want 11", got)
	}
	for region, name := range dataFederationServices {
		if !validServiceName(name, region) {
			t.Errorf("built-in %s=%s is not a service of its region", region, name)
		}
		if got := c.federationRegion(name); got != region {
			t.Errorf("federationRegion(%s) = %q, want %s", name, got, region)
		}
	}
	if got := c.federationRegion("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"); got != "" {
		t.Errorf("a cluster service is taken for Data Federation's: %q", got)
	}
	east := "com.amazonaws.vpce.us-east-1.vpce-svc-0fffffffffffffff0"
	c.DataFederationServices = map[string]string{"us-east-1": east, "ap-northeast-2": "com.amazonaws.vpce.ap-northeast-2.vpce-svc-0123456789abcdef0"}
	if c.federationRegion(east) != "us-east-1" || c.federationRegion(dataFederationServices["us-east-1"]) != "" {
		t.Error("an override does not replace the built-in service")
	}
	if got := len(c.federationRegions()); got != 12 {
		t.Errorf("regions with one added: %d, want 12", got)
	}
}
