package handler

import (
	"slices"
	"strings"
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
