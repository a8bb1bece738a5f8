package atlas_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/atlas/atlastest"
)

const fedDNS = "vpce-0123456789abcdef0-abcd1234.vpce-svc-00e311695874992b4.us-east-1.vpce.amazonaws.com"

func fedEntry(id string) atlas.DataFederationEndpoint {
	return atlas.DataFederationEndpoint{
		EndpointID: id, Provider: atlas.ProviderAWS, Type: atlas.TypeDataLake,
		Region: "US_EAST_1", CustomerEndpointDNSName: fedDNS, Comment: "registered by atlas-vpce-registrar",
	}
}

// waitFederation polls the entry until it has status want.
func waitFederation(t *testing.T, c *atlas.Client, id, want string) *atlas.DataFederationEndpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		e, err := c.GetDataFederationEndpoint(ctx, id)
		if err != nil {
			t.Fatalf("GetDataFederationEndpoint: %v", err)
		}
		if e.Status == want {
			return e
		}
		if ctx.Err() != nil {
			t.Fatalf("status %s, want %s", e.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Each operation, with each kind of credentials and with either configured
// API version: the route is v2's, with v2's media type, always.
func TestFederationLifecycle(t *testing.T) {
	t.Parallel()
	for _, v := range []atlas.Version{atlas.V2, atlas.V1} {
		for name, creds := range map[string]atlas.Credentials{"api key": apiKey, "service account": serviceAccount} {
			t.Run(string(v)+" "+name, func(t *testing.T) {
				t.Parallel()
				c, srv := setup(t, v, creds, fakeOptions())
				ctx := t.Context()
				if _, err := c.GetDataFederationEndpoint(ctx, vpceA); !errors.Is(err, atlas.ErrNotFound) {
					t.Fatalf("get before create: %v, want ErrNotFound", err)
				}
				e, err := c.CreateDataFederationEndpoint(ctx, fedEntry(vpceA))
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				if e == nil || e.EndpointID != vpceA || e.Status != atlas.StatusPending || e.Region != "US_EAST_1" {
					t.Errorf("create returned %+v, want the PENDING entry from the list page", e)
				}
				got := waitFederation(t, c, vpceA, atlas.StatusOK)
				if got.CustomerEndpointDNSName != fedDNS || got.Type != atlas.TypeDataLake || got.Provider != atlas.ProviderAWS {
					t.Errorf("entry %+v", got)
				}
				// A second create is an upsert, not a conflict.
				if _, err := c.CreateDataFederationEndpoint(ctx, fedEntry(vpceA)); err != nil {
					t.Errorf("second create: %v", err)
				}
				list, err := c.ListDataFederationEndpoints(ctx)
				if err != nil || len(list) != 1 || list[0].Status != atlas.StatusOK {
					t.Errorf("list: %+v, %v", list, err)
				}
				if err := c.DeleteDataFederationEndpoint(ctx, vpceA); err != nil {
					t.Fatalf("delete: %v", err)
				}
				// DELETING until it is gone (the fake's clock test sees DELETING itself;
				// here a slow machine may miss it).
				for {
					e, err := c.GetDataFederationEndpoint(ctx, vpceA)
					if errors.Is(err, atlas.ErrNotFound) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if e.Status != atlas.StatusDeleting {
						t.Fatalf("after DELETE: %+v, want DELETING until 404", e)
					}
					time.Sleep(5 * time.Millisecond)
				}
				for _, r := range srv.Requests() {
					if !r.Authenticated || r.Path == "/api/oauth/token" {
						continue
					}
					if !strings.HasPrefix(r.Path, "/api/atlas/v2/groups/"+srv.ProjectID()+"/privateNetworkSettings/endpointIds") || r.Accept != "application/vnd.atlas.2023-01-01+json" {
						t.Errorf("%s %s Accept %q: want the v2 route and media type", r.Method, r.Path, r.Accept)
					}
					if len(r.Body) > 0 && r.ContentType != "application/vnd.atlas.2023-01-01+json" {
						t.Errorf("%s %s Content-Type %q", r.Method, r.Path, r.ContentType)
					}
				}
				deletes := 0
				for _, r := range srv.Requests() {
					if r.Authenticated && r.Method == http.MethodDelete {
						deletes++
					}
				}
				if deletes != 1 {
					t.Errorf("DELETE requests = %d, want 1", deletes)
				}
			})
		}
	}
}

// The list reads every page, 500 entries at a time, and stops at a short
// page or at totalCount.
func TestFederationListPages(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 499, 500, 1201} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			opts := fakeOptions()
			for i := range n {
				opts.DataFederation = append(opts.DataFederation, atlas.DataFederationEndpoint{EndpointID: fmt.Sprintf("vpce-%017x", i)})
			}
			c, srv := setup(t, atlas.V2, serviceAccount, opts)
			list, err := c.ListDataFederationEndpoints(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != n {
				t.Fatalf("listed %d, want %d", len(list), n)
			}
			for i, e := range list {
				if want := fmt.Sprintf("vpce-%017x", i); e.EndpointID != want {
					t.Fatalf("entry %d is %s, want %s", i, e.EndpointID, want)
				}
			}
			// Whole pages end at totalCount: 500 entries are one request.
			if got, want := srv.Count(http.MethodGet, "/endpointIds"), max(1, (n+499)/500); got != want {
				t.Errorf("pages requested = %d, want %d", got, want)
			}
		})
	}
}

func TestFederationFailedEntry(t *testing.T) {
	t.Parallel()
	c, srv := setup(t, atlas.V2, apiKey, fakeOptions())
	srv.FailDataFederation("Endpoint vpce-0123456789abcdef0 not found in region us-east-1", vpceA)
	if _, err := c.CreateDataFederationEndpoint(t.Context(), fedEntry(vpceA)); err != nil {
		t.Fatal(err)
	}
	e := waitFederation(t, c, vpceA, atlas.StatusFailed)
	if !strings.Contains(e.ErrorMessage, "not found in region") {
		t.Errorf("errorMessage %q", e.ErrorMessage)
	}
}

// What is wrong is refused before any request; what Atlas refuses comes back
// as an *ErrorResponse with the refused field.
func TestFederationErrors(t *testing.T) {
	t.Parallel()
	noDNS := fedEntry(vpceA)
	noDNS.CustomerEndpointDNSName = ""
	awsForm := fedEntry(vpceA)
	awsForm.Region = "us-east-1"
	legacy := fedEntry("vpce-0123abcd")
	for _, tc := range []struct {
		name string
		call func(*atlas.Client) error
		want string
	}{
		{"region without DNS name", func(c *atlas.Client) error { _, err := c.CreateDataFederationEndpoint(t.Context(), noDNS); return err }, "go together"},
		{"AWS region form", func(c *atlas.Client) error {
			_, err := c.CreateDataFederationEndpoint(t.Context(), awsForm)
			return err
		}, "US_EAST_1"},
		{"legacy id on create", func(c *atlas.Client) error { _, err := c.CreateDataFederationEndpoint(t.Context(), legacy); return err }, "interface endpoint id"},
		{"bad id on get", func(c *atlas.Client) error {
			_, err := c.GetDataFederationEndpoint(t.Context(), "vpce-../x")
			return err
		}, "interface endpoint id"},
		{"bad id on delete", func(c *atlas.Client) error { return c.DeleteDataFederationEndpoint(t.Context(), "") }, "interface endpoint id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv := setup(t, atlas.V2, apiKey, fakeOptions())
			err := tc.call(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		fault   atlastest.Fault
		call    func(*atlas.Client) error
		is      error
		status  int
		retried bool
	}{
		{"403 on create", atlastest.Fault{Method: "POST", Status: 403, Times: -1}, func(c *atlas.Client) error {
			_, err := c.CreateDataFederationEndpoint(t.Context(), fedEntry(vpceA))
			return err
		}, atlas.ErrUnauthorized, 403, false},
		{"404 on delete", atlastest.Fault{Method: "DELETE", Status: 404, Times: -1}, func(c *atlas.Client) error {
			return c.DeleteDataFederationEndpoint(t.Context(), vpceA)
		}, atlas.ErrNotFound, 404, false},
		{"500 on list, retried", atlastest.Fault{Method: "GET", Status: 500, Times: -1}, func(c *atlas.Client) error {
			_, err := c.ListDataFederationEndpoints(t.Context())
			return err
		}, nil, 500, true},
		{"400 on create", atlastest.Fault{Method: "POST", Status: 400, Times: -1, ErrorCode: "INVALID_ATTRIBUTE",
			BadRequestFields: []atlas.FieldViolation{{Field: "region", Description: "requires customerEndpointDNSName"}}}, func(c *atlas.Client) error {
			_, err := c.CreateDataFederationEndpoint(t.Context(), fedEntry(vpceA))
			return err
		}, nil, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
			tc.fault.PathContains = "/privateNetworkSettings/"
			srv.InjectFault(tc.fault)
			err := tc.call(c)
			var er *atlas.ErrorResponse
			if !errors.As(err, &er) || er.StatusCode != tc.status || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
			if tc.status == 400 && !strings.Contains(err.Error(), "region: requires customerEndpointDNSName") {
				t.Errorf("err = %v, want the refused field", err)
			}
			want := 1
			if tc.retried {
				want = int(fastRetry.MaxTries)
			}
			if n := srv.Count("", "/privateNetworkSettings/"); n != want {
				t.Errorf("requests = %d, want %d", n, want)
			}
		})
	}

	t.Run("wrong credentials", func(t *testing.T) {
		c, _ := setup(t, atlas.V2, atlas.Credentials{PublicKey: testPublicKey, PrivateKey: "wrong-private-key"}, fakeOptions())
		_, err := c.GetDataFederationEndpoint(t.Context(), vpceA)
		if !errors.Is(err, atlas.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-private-key") {
			t.Errorf("err = %v, want ErrUnauthorized without the key", err)
		}
	})
	t.Run("rate limited, retried", func(t *testing.T) {
		c, srv := setup(t, atlas.V2, serviceAccount, fakeOptions())
		srv.InjectFault(atlastest.Fault{PathContains: "/endpointIds", Status: 429, Times: 2})
		if _, err := c.ListDataFederationEndpoints(t.Context()); err != nil {
			t.Fatalf("err = %v", err)
		}
		if n := srv.Count(http.MethodGet, "/endpointIds"); n != 3 {
			t.Errorf("requests = %d, want 3", n)
		}
	})
}

func TestRegionName(t *testing.T) {
	for in, want := range map[string]string{"us-east-1": "US_EAST_1", "ap-southeast-2": "AP_SOUTHEAST_2", "eu-central-1": "EU_CENTRAL_1"} {
		if got := atlas.RegionName(in); got != want {
			t.Errorf("RegionName(%q) = %q, want %q", in, got, want)
		}
	}
}
