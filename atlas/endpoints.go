package atlas

import (
	"context"
	"net/http"
	"net/url"
)

// Connection statuses of an interface endpoint (and FAILED, an endpoint service status).
const (
	StatusAvailable         = "AVAILABLE"
	StatusPending           = "PENDING"
	StatusPendingAcceptance = "PENDING_ACCEPTANCE"
	StatusRejected          = "REJECTED"
	StatusDeleting          = "DELETING"
	StatusFailed            = "FAILED"
)

// EndpointService is an Atlas private endpoint service for AWS (a "private endpoint
// connection" in v1.0).
type EndpointService struct {
	ID                  string   `json:"id"`
	EndpointServiceName string   `json:"endpointServiceName"` // com.amazonaws.vpce.<region>.vpce-svc-…
	Status              string   `json:"status"`
	RegionName          string   `json:"regionName"` // v2 US_EAST_1; v1.0 reports the AWS form us-east-1
	ErrorMessage        string   `json:"errorMessage"`
	CloudProvider       string   `json:"cloudProvider"`
	InterfaceEndpoints  []string `json:"interfaceEndpoints"`
}

// InterfaceEndpoint is an AWS interface endpoint registered with an endpoint service.
// There is no FAILED connection status: a non-empty ErrorMessage means the
// registration failed.
type InterfaceEndpoint struct {
	ID               string `json:"interfaceEndpointId"`
	ConnectionStatus string `json:"connectionStatus"` // PENDING_ACCEPTANCE, PENDING, AVAILABLE, REJECTED, DELETING (v1.0 also NONE)
	ErrorMessage     string `json:"errorMessage"`
	DeleteRequested  bool   `json:"deleteRequested"`
}

// v1Connection is v1.0's spelling of an endpoint service.
type v1Connection struct {
	ID                  string   `json:"id"`
	EndpointServiceName string   `json:"endpointServiceName"`
	Status              string   `json:"status"`
	Region              string   `json:"region"`
	RegionName          string   `json:"regionName"`
	ErrorMessage        string   `json:"errorMessage"`
	InterfaceEndpoints  []string `json:"interfaceEndpoints"`
}

// service converts a v1.0 connection to the v2 shape.
func (v v1Connection) service() EndpointService {
	region := v.RegionName
	if region == "" {
		region = v.Region
	}
	return EndpointService{
		ID:                  v.ID,
		EndpointServiceName: v.EndpointServiceName,
		Status:              v.Status,
		RegionName:          region,
		ErrorMessage:        v.ErrorMessage,
		CloudProvider:       "AWS", // the v1.0 resource is AWS-only
		InterfaceEndpoints:  v.InterfaceEndpoints,
	}
}

// servicesPath is the collection of endpoint services; callers have validated the ids.
func (c *Client) servicesPath() string {
	p := url.PathEscape(c.projectID)
	if c.version == V1 {
		return "api/atlas/v1.0/groups/" + p + "/privateEndpoint"
	}
	return "api/atlas/v2/groups/" + p + "/privateEndpoint/AWS/endpointService"
}

func (c *Client) endpointsPath(serviceID string) string {
	p := c.servicesPath() + "/" + url.PathEscape(serviceID)
	if c.version == V1 {
		return p + "/interfaceEndpoints"
	}
	return p + "/endpoint"
}

func (c *Client) endpointPath(serviceID, endpointID string) string {
	return c.endpointsPath(serviceID) + "/" + url.PathEscape(endpointID)
}

func (c *Client) validateIDs(serviceID, endpointID string) error {
	// The project id was checked by NewClient; checking again costs nothing and
	// protects a Client that was not built by it.
	if err := ValidateObjectID("project id", c.projectID); err != nil {
		return err
	}
	if err := ValidateObjectID("endpoint service id", serviceID); err != nil {
		return err
	}
	return ValidateEndpointID(endpointID)
}

// ListEndpointServices returns the project's AWS endpoint services.
func (c *Client) ListEndpointServices(ctx context.Context) ([]EndpointService, error) {
	if err := ValidateObjectID("project id", c.projectID); err != nil {
		return nil, err
	}
	req, err := c.newRequest(http.MethodGet, c.servicesPath(), nil)
	if err != nil {
		return nil, err
	}
	if c.version == V1 {
		var conns []v1Connection
		if err := c.do(ctx, req, &conns); err != nil {
			return nil, err
		}
		out := make([]EndpointService, 0, len(conns))
		for _, v := range conns {
			out = append(out, v.service())
		}
		return out, nil
	}
	var out []EndpointService
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetEndpointService returns one endpoint service with the ids of its interface
// endpoints; ErrNotFound once it is gone. Read it before deleting an endpoint:
// Atlas removes a service together with its last endpoint.
func (c *Client) GetEndpointService(ctx context.Context, serviceID string) (*EndpointService, error) {
	if err := ValidateObjectID("project id", c.projectID); err != nil {
		return nil, err
	}
	if err := ValidateObjectID("endpoint service id", serviceID); err != nil {
		return nil, err
	}
	req, err := c.newRequest(http.MethodGet, c.servicesPath()+"/"+url.PathEscape(serviceID), nil)
	if err != nil {
		return nil, err
	}
	if c.version == V1 {
		var v v1Connection
		if err := c.do(ctx, req, &v); err != nil {
			return nil, err
		}
		s := v.service()
		return &s, nil
	}
	var s EndpointService
	if err := c.do(ctx, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetInterfaceEndpoint returns one interface endpoint of an endpoint service;
// ErrNotFound once it is gone.
func (c *Client) GetInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*InterfaceEndpoint, error) {
	if err := c.validateIDs(serviceID, endpointID); err != nil {
		return nil, err
	}
	req, err := c.newRequest(http.MethodGet, c.endpointPath(serviceID, endpointID), nil)
	if err != nil {
		return nil, err
	}
	var ie InterfaceEndpoint
	if err := c.do(ctx, req, &ie); err != nil {
		return nil, err
	}
	return &ie, nil
}

// CreateInterfaceEndpoint registers an AWS interface endpoint with an endpoint
// service. A 409 (ErrConflict) means it is already registered.
func (c *Client) CreateInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) (*InterfaceEndpoint, error) {
	if err := c.validateIDs(serviceID, endpointID); err != nil {
		return nil, err
	}
	var body any = map[string]string{"id": endpointID}
	if c.version == V1 {
		body = map[string]string{"interfaceEndpointId": endpointID}
	}
	req, err := c.newRequest(http.MethodPost, c.endpointsPath(serviceID), body)
	if err != nil {
		return nil, err
	}
	var ie InterfaceEndpoint
	if err := c.do(ctx, req, &ie); err != nil {
		return nil, err
	}
	if ie.ID == "" {
		ie.ID = endpointID
	}
	return &ie, nil
}

// DeleteInterfaceEndpoint asks Atlas to remove an interface endpoint; it then reads
// as DELETING until it is gone.
func (c *Client) DeleteInterfaceEndpoint(ctx context.Context, serviceID, endpointID string) error {
	if err := c.validateIDs(serviceID, endpointID); err != nil {
		return err
	}
	req, err := c.newRequest(http.MethodDelete, c.endpointPath(serviceID, endpointID), nil)
	if err != nil {
		return err
	}
	return c.do(ctx, req, nil)
}
