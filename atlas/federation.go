package atlas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Statuses of a Data Federation private endpoint entry (besides PENDING,
// FAILED and DELETING, which it shares with interface endpoints).
const StatusOK = "OK"

// Fixed values of an AWS Data Federation entry.
const (
	ProviderAWS  = "AWS"
	TypeDataLake = "DATA_LAKE"
)

// federationPageSize is the most entries Atlas returns in one page of the
// list (itemsPerPage is 1–500), so that a project's list costs one request.
const federationPageSize = 500

// DataFederationEndpoint is an entry of a project's privateNetworkSettings
// endpoint list: an AWS interface endpoint toward MongoDB's Data Federation /
// Online Archive endpoint service of its region. The specification calls it
// PrivateNetworkEndpointIdEntry.
type DataFederationEndpoint struct {
	EndpointID string `json:"endpointId"`
	Provider   string `json:"provider,omitempty"` // AWS
	Type       string `json:"type,omitempty"`     // DATA_LAKE
	// Region is the Atlas region name (US_EAST_1, not us-east-1). Atlas takes
	// it only together with CustomerEndpointDNSName.
	Region                  string `json:"region,omitempty"`
	CustomerEndpointDNSName string `json:"customerEndpointDNSName,omitempty"`
	Comment                 string `json:"comment,omitempty"`
	// Response only: PENDING, OK, FAILED or DELETING, and why it FAILED.
	Status       string `json:"status,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// federationPage is the specification's PaginatedPrivateNetworkEndpointIdEntry.
type federationPage struct {
	Results    []DataFederationEndpoint `json:"results"`
	TotalCount *int                     `json:"totalCount"`
}

// federationPath is the project's Data Federation endpoint list. It is a v2
// route whatever the client's Version: v1.0's legacy private endpoint routes
// serve cluster endpoints only.
func (c *Client) federationPath() string {
	return "api/atlas/v2/groups/" + url.PathEscape(c.projectID) + "/privateNetworkSettings/endpointIds"
}

// newV2Request is newRequest with v2's media type, for the routes that exist
// only in v2.
func (c *Client) newV2Request(method, path string, body any) (*http.Request, error) {
	req, err := c.newRequest(method, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", mediaTypeV2)
	if body != nil {
		req.Header.Set("Content-Type", mediaTypeV2)
	}
	return req, nil
}

func (c *Client) validateFederation(endpointID string) error {
	if err := ValidateObjectID("project id", c.projectID); err != nil {
		return err
	}
	return ValidateEndpointID(endpointID)
}

// ListDataFederationEndpoints returns every entry of the project's Data
// Federation endpoint list, reading all its pages.
func (c *Client) ListDataFederationEndpoints(ctx context.Context) ([]DataFederationEndpoint, error) {
	if err := ValidateObjectID("project id", c.projectID); err != nil {
		return nil, err
	}
	var out []DataFederationEndpoint
	for page := 1; ; page++ {
		req, err := c.newV2Request(http.MethodGet, c.federationPath(), nil)
		if err != nil {
			return nil, err
		}
		req.URL.RawQuery = url.Values{
			"itemsPerPage": {strconv.Itoa(federationPageSize)},
			"pageNum":      {strconv.Itoa(page)},
		}.Encode()
		var p federationPage
		if err := c.do(ctx, req, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Results...)
		// A short page is the end; so is reaching totalCount, when Atlas
		// sends it (it calls it an estimate, so it only ever ends the reading).
		if len(p.Results) < federationPageSize || (p.TotalCount != nil && len(out) >= *p.TotalCount) {
			return out, nil
		}
	}
}

// GetDataFederationEndpoint returns one entry; ErrNotFound when the list has
// none for the endpoint.
func (c *Client) GetDataFederationEndpoint(ctx context.Context, endpointID string) (*DataFederationEndpoint, error) {
	if err := c.validateFederation(endpointID); err != nil {
		return nil, err
	}
	req, err := c.newV2Request(http.MethodGet, c.federationPath()+"/"+url.PathEscape(endpointID), nil)
	if err != nil {
		return nil, err
	}
	var e DataFederationEndpoint
	if err := c.do(ctx, req, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// CreateDataFederationEndpoint adds an entry to the project's list. Atlas
// treats it as an upsert: an entry that is already listed keeps everything
// but its comment, and there is no 409. Atlas answers with the first page of
// the list, not the entry: the entry is returned when that page holds it,
// and otherwise nil.
func (c *Client) CreateDataFederationEndpoint(ctx context.Context, e DataFederationEndpoint) (*DataFederationEndpoint, error) {
	if err := c.validateFederation(e.EndpointID); err != nil {
		return nil, err
	}
	if (e.Region == "") != (e.CustomerEndpointDNSName == "") {
		return nil, errors.New("atlas: data federation endpoint " + e.EndpointID + ": region and customerEndpointDNSName go together; Atlas refuses one without the other")
	}
	if e.Region != "" && !validAtlasRegion(e.Region) {
		return nil, fmt.Errorf("atlas: data federation endpoint %s: region %q is not an Atlas region name: want upper case, as US_EAST_1", e.EndpointID, truncateN(e.Region, 64))
	}
	req, err := c.newV2Request(http.MethodPost, c.federationPath(), e)
	if err != nil {
		return nil, err
	}
	var p federationPage
	if err := c.do(ctx, req, &p); err != nil {
		return nil, err
	}
	for i := range p.Results {
		if p.Results[i].EndpointID == e.EndpointID {
			return &p.Results[i], nil
		}
	}
	return nil, nil
}

// DeleteDataFederationEndpoint removes an entry from the project's list. It
// removes only that endpoint's access: the endpoint service is MongoDB's.
func (c *Client) DeleteDataFederationEndpoint(ctx context.Context, endpointID string) error {
	if err := c.validateFederation(endpointID); err != nil {
		return err
	}
	req, err := c.newV2Request(http.MethodDelete, c.federationPath()+"/"+url.PathEscape(endpointID), nil)
	if err != nil {
		return err
	}
	return c.do(ctx, req, nil)
}

// validAtlasRegion accepts an Atlas region name: upper-case letters, digits
// and underscores (US_EAST_1, AP_SOUTHEAST_2).
func validAtlasRegion(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// RegionName is the Atlas name of an AWS region: us-east-1 is US_EAST_1.
func RegionName(awsRegion string) string {
	return strings.ToUpper(strings.ReplaceAll(awsRegion, "-", "_"))
}
