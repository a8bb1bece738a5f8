package handler

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
)

// Atlas Data Federation (federated database instances and online archives)
// is reached through an interface endpoint toward an endpoint service that
// MongoDB runs, one per region and shared by every customer; the project
// lists the endpoint in its privateNetworkSettings endpoint list. Such an
// endpoint is a second kind of Atlas entry for the same state machine: the
// task reaches it through read, write and remove below, and, since the
// service is MongoDB's and not the project's, there is no service to guard
// (removing an entry removes only that endpoint's access).

// dataFederationServices is MongoDB's published table of Data Federation /
// Online Archive endpoint services, by AWS region. MongoDB adds regions:
// ATLAS_DATA_FEDERATION_SERVICES adds or replaces entries.
var dataFederationServices = map[string]string{
	"us-east-1":      "com.amazonaws.vpce.us-east-1.vpce-svc-00e311695874992b4",
	"us-west-2":      "com.amazonaws.vpce.us-west-2.vpce-svc-09d86b19e59d1b4bb",
	"eu-west-1":      "com.amazonaws.vpce.eu-west-1.vpce-svc-0824460b72e1a420e",
	"eu-west-2":      "com.amazonaws.vpce.eu-west-2.vpce-svc-052f1840aa0c4f1f9",
	"eu-central-1":   "com.amazonaws.vpce.eu-central-1.vpce-svc-0ac8ce91871138c0d",
	"sa-east-1":      "com.amazonaws.vpce.sa-east-1.vpce-svc-0b56e75e8cdf50044",
	"ap-southeast-2": "com.amazonaws.vpce.ap-southeast-2.vpce-svc-036f1de74d761706e",
	"ap-south-1":     "com.amazonaws.vpce.ap-south-1.vpce-svc-03eb8a541f96d356d",
	"ca-central-1":   "com.amazonaws.vpce.ca-central-1.vpce-svc-08564bb8ccae8ba64",
	"ap-northeast-1": "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0b63834ecd618a332",
	"ap-southeast-1": "com.amazonaws.vpce.ap-southeast-1.vpce-svc-07728d2dfd2860efb",
}

// DataFederationService is the Data Federation endpoint service name for an
// AWS region under c, and whether there is one.
func (c *Config) DataFederationService(region string) (string, bool) {
	if s, ok := c.DataFederationServices[region]; ok {
		return s, true
	}
	s, ok := dataFederationServices[region]
	return s, ok
}

// federationRegion is the AWS region whose Data Federation service is
// serviceName, or "" when it is no Data Federation service.
func (c *Config) federationRegion(serviceName string) string {
	region := serviceRegion(serviceName)
	if s, ok := c.DataFederationService(region); ok && s == serviceName {
		return region
	}
	return ""
}

// federationRegions lists every region with a Data Federation service, in order.
func (c *Config) federationRegions() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{dataFederationServices, c.DataFederationServices} {
		for r := range m {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

// validServiceName checks com.amazonaws.vpce.<region>.vpce-svc-<17 hex>.
func validServiceName(name, region string) bool {
	id, ok := strings.CutPrefix(name, "com.amazonaws.vpce."+region+".vpce-svc-")
	return ok && len(id) == 17 && allBytes(id, func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' })
}

// isAWSRegion checks the form of an AWS region name (us-east-1, us-gov-west-1).
func isAWSRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || !allBytes(p, isLower) {
			return false
		}
	}
	last := parts[len(parts)-1]
	return last != "" && allBytes(last, isDigit)
}

// federated is what a task knows of a Data Federation entry beyond its id:
// what a POST sends. Both are empty for a task that only deletes.
type federated struct {
	region  string // AWS form, us-east-1
	dnsName string // the endpoint's first DNS name
}

// federationComment is the comment each entry is posted with, so that a
// person reading the project's list knows who added it.
const federationComment = "registered by atlas-vpce-registrar"

// atlasProjects are the projects the function builds clients for: the
// cluster projects and the Data Federation project.
func (h *Handler) atlasProjects() []string {
	p := h.cfg.DataFederationProjectID
	if p == "" || slices.Contains(h.cfg.ProjectIDs, p) {
		return h.cfg.ProjectIDs
	}
	return append(slices.Clip(h.cfg.ProjectIDs), p)
}

// federationSkip says why an endpoint toward a Data Federation service is
// not registered, or "" (also for every other endpoint). No Atlas call is
// made for a skipped endpoint.
func (h *Handler) federationSkip(ep *awsvpc.Endpoint) string {
	region := h.cfg.federationRegion(ep.ServiceName)
	if region == "" {
		return ""
	}
	switch {
	case h.cfg.DataFederationProjectID == "":
		return "it points at MongoDB's Data Federation service for " + region +
			", and ATLAS_DATA_FEDERATION_PROJECT_ID is empty: no project is set to list it in"
	case len(ep.DNSNames) == 0:
		return "EC2 shows no DNS name for it (an interface endpoint gets them with a subnet), " +
			"and Atlas Data Federation needs its first DNS name with its region"
	}
	return ""
}

// newFederationTask makes the task for a Data Federation entry in the Data
// Federation project; ep gives what a POST sends, nil for a task that only
// deletes.
func (h *Handler) newFederationTask(apis clients, ep *awsvpc.Endpoint, id string, first func(*task) func(context.Context)) *task {
	p := h.cfg.DataFederationProjectID
	t := h.newTask(apis[p], p, "", id, first)
	t.fed = &federated{}
	if ep != nil && len(ep.DNSNames) > 0 {
		t.fed.region, t.fed.dnsName = serviceRegion(ep.ServiceName), ep.DNSNames[0]
	}
	return t
}

// The task reaches its entry through read, write and remove, the one place
// the two kinds of entry differ in Atlas's API. A Data Federation entry is
// shown to the state machine in an interface endpoint's terms: its status
// (PENDING, OK, FAILED, DELETING) as the connection status, which ready and
// failed read.

// says is a phase as an operator reads it for this kind of entry: a Data
// Federation entry waits for OK, not AVAILABLE.
func (t *task) says(phase string) string {
	if t.fed != nil && phase == phaseSettle {
		return "waiting for OK"
	}
	return phase
}

func (t *task) noun() string {
	if t.fed != nil {
		return "data federation endpoint"
	}
	return "interface endpoint"
}

func (t *task) read(ctx context.Context) (*atlas.InterfaceEndpoint, error) {
	if t.fed == nil {
		return t.api.GetInterfaceEndpoint(ctx, t.serviceID, t.endpointID)
	}
	e, err := t.api.GetDataFederationEndpoint(ctx, t.endpointID)
	if err != nil {
		return nil, err
	}
	return asInterfaceEndpoint(e), nil
}

// write posts the entry. For a Data Federation entry a POST is an upsert,
// so there is no ErrConflict; Atlas answers with the list's first page, and
// nil comes back when the entry is not on it.
func (t *task) write(ctx context.Context) (*atlas.InterfaceEndpoint, error) {
	if t.fed == nil {
		return t.api.CreateInterfaceEndpoint(ctx, t.serviceID, t.endpointID)
	}
	e := atlas.DataFederationEndpoint{EndpointID: t.endpointID, Provider: atlas.ProviderAWS, Type: atlas.TypeDataLake, Comment: federationComment}
	if t.fed.dnsName != "" {
		e.Region, e.CustomerEndpointDNSName = atlas.RegionName(t.fed.region), t.fed.dnsName
	}
	created, err := t.api.CreateDataFederationEndpoint(ctx, e)
	if err != nil || created == nil {
		return nil, err
	}
	return asInterfaceEndpoint(created), nil
}

func (t *task) remove(ctx context.Context) error {
	if t.fed == nil {
		return t.api.DeleteInterfaceEndpoint(ctx, t.serviceID, t.endpointID)
	}
	return t.api.DeleteDataFederationEndpoint(ctx, t.endpointID)
}

func asInterfaceEndpoint(e *atlas.DataFederationEndpoint) *atlas.InterfaceEndpoint {
	return &atlas.InterfaceEndpoint{ID: e.EndpointID, ConnectionStatus: e.Status, ErrorMessage: e.ErrorMessage}
}

func (t *task) kind() string {
	if t.fed != nil {
		return KindDataFederation
	}
	return KindCluster
}

// federationLists reports whether the Data Federation project lists id; it
// asks only when there is such a project.
func (h *Handler) federationLists(ctx context.Context, apis clients, id string) (bool, error) {
	p := h.cfg.DataFederationProjectID
	if p == "" {
		return false, nil
	}
	_, err := apis[p].GetDataFederationEndpoint(ctx, id)
	switch {
	case errors.Is(err, atlas.ErrNotFound):
		return false, nil
	case err != nil:
		return false, atlasFailure("get data federation endpoint", id, p, err)
	}
	return true, nil
}

// federationNotListed completes a "not registered" reason.
func (h *Handler) federationNotListed() string {
	if h.cfg.DataFederationProjectID == "" {
		return ""
	}
	return ", nor does the Data Federation endpoint list of project " + h.cfg.DataFederationProjectID
}
