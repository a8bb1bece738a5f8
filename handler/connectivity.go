package handler

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atlasvpce/registrar/awsvpc"
)

// Atlas reporting AVAILABLE does not mean an application can connect. Its
// troubleshooting page asks two things first: do the endpoint's security
// groups let clients in on Atlas's ports, and does the endpoint have subnets
// in more than one zone. Every registration asks EC2 (the endpoint's own
// account and region) and reports what it finds as warnings; they never
// stop or fail a registration.

// Warning codes (Warning.Code).
const (
	// WarningSecurityGroupPorts: no inbound rule of the endpoint's security
	// groups allows TCP on the whole of AtlasPortLow–AtlasPortHigh.
	WarningSecurityGroupPorts = "security-group-ports"
	// WarningSingleZone: all the endpoint's subnets are in one availability zone.
	WarningSingleZone = "single-availability-zone"
	// WarningNoSubnet: the endpoint has no subnet, so it has no DNS entries.
	WarningNoSubnet = "no-subnet"
)

// The ports Atlas may use for a private endpoint; MongoDB recommends allowing
// the whole range rather than single ports.
const (
	AtlasPortLow  = 1024
	AtlasPortHigh = 65535
)

// connectivityTimeout bounds the check, so that a slow EC2 delays a
// registration by little; the check is given up, the registration is not.
const connectivityTimeout = 5 * time.Second

// checkTarget is one endpoint to check and where its warnings go.
type checkTarget struct {
	place  string // the account and region lookup answers for; one EC2 read per place
	lookup EndpointLookup
	ep     *awsvpc.Endpoint
	out    *[]Warning
}

// checkConnectivity reads the security groups and subnets of every target's
// endpoint, one DescribeSecurityGroups and one DescribeSubnets per place
// (account and region) for all its endpoints together, and writes each
// endpoint's warnings. A failed read is logged and leaves its endpoints
// without warnings.
func (h *Handler) checkConnectivity(ctx context.Context, targets []checkTarget) {
	if len(targets) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, connectivityTimeout)
	defer cancel()
	byPlace := map[string][]checkTarget{}
	var places []string
	for _, t := range targets {
		if _, ok := byPlace[t.place]; !ok {
			places = append(places, t.place)
		}
		byPlace[t.place] = append(byPlace[t.place], t)
	}
	for _, place := range places {
		ts := byPlace[place]
		var groups, subnets, ids []string
		for _, t := range ts {
			groups = append(groups, t.ep.SecurityGroupIDs...)
			subnets = append(subnets, t.ep.SubnetIDs...)
			ids = append(ids, t.ep.ID)
		}
		network, err := ts[0].lookup.DescribeNetwork(ctx, groups, subnets)
		if err != nil {
			h.log.WarnContext(ctx, "connectivity not checked: EC2 did not describe the endpoints' security groups and subnets",
				slog.Any("vpcEndpointIds", ids), slog.String("error", err.Error()),
				slog.String("next", "the registration goes on; the next registration of these endpoints checks again"))
			continue
		}
		for _, t := range ts {
			*t.out = connectivityWarnings(t.ep, network)
		}
	}
}

// place names the account and region an event's endpoint is looked up in,
// so that endpoints a batch reads from the same lookup share one read.
func (h *Handler) place(ctx context.Context, account, region string) string {
	if h.deps.Accounts == nil {
		return "" // one lookup for every event
	}
	if region == "" {
		region = h.cfg.Region
	}
	if account != "" {
		// Known by now: route asked for it.
		if self, err := h.deps.Accounts.Self(ctx); err == nil && self == account {
			account = ""
		}
	}
	return account + "/" + region
}

// connectivityWarnings is what network shows about ep that would keep
// applications out. What EC2 did not describe (a group or subnet deleted
// meanwhile) is not guessed at.
func connectivityWarnings(ep *awsvpc.Endpoint, network *awsvpc.Network) []Warning {
	var out []Warning
	if len(ep.SubnetIDs) == 0 {
		out = append(out, Warning{Code: WarningNoSubnet, Message: "the endpoint has no subnet, so it has no DNS entries: Atlas fails it with \"No dns entries found for endpoint " + ep.ID +
			"\"; add a subnet (one in each of several availability zones)"})
	} else if zones, known := subnetZones(ep.SubnetIDs, network); known && len(zones) == 1 {
		out = append(out, Warning{Code: WarningSingleZone, Message: "all of the endpoint's subnets (" + strings.Join(ep.SubnetIDs, ", ") + ") are in availability zone " + zones[0] +
			"; an outage of that zone cuts applications off: add a subnet in another zone"})
	}
	// An Interface endpoint always has a group (the VPC's default when none
	// was named); an endpoint that lists none, or none EC2 knows, is not judged.
	var rules []awsvpc.Rule
	var groups []string
	for _, id := range ep.SecurityGroupIDs {
		if g, ok := network.Groups[id]; ok {
			rules = append(rules, g.Inbound...)
			groups = append(groups, describeGroup(g))
		}
	}
	if len(groups) > 0 && !coversPorts(tcpRanges(rules), AtlasPortLow, AtlasPortHigh) {
		allowed := "no TCP port"
		if r := tcpRanges(rules); len(r) > 0 {
			allowed = "TCP " + formatRanges(r) + " only"
		}
		out = append(out, Warning{Code: WarningSecurityGroupPorts, Message: fmt.Sprintf(
			"no inbound rule of security group %s allows TCP on the whole of ports %d-%d, which Atlas may use for a private endpoint (they allow %s): allow TCP %d-%d from the applications",
			strings.Join(groups, ", "), AtlasPortLow, AtlasPortHigh, allowed, AtlasPortLow, AtlasPortHigh)})
	}
	return out
}

// subnetZones lists the zones of subnets; known is false when EC2 did not
// describe one of them.
func subnetZones(subnets []string, network *awsvpc.Network) (zones []string, known bool) {
	for _, id := range subnets {
		s, ok := network.Subnets[id]
		if !ok || s.AvailabilityZone == "" {
			return nil, false
		}
		if !slices.Contains(zones, s.AvailabilityZone) {
			zones = append(zones, s.AvailabilityZone)
		}
	}
	return zones, true
}

func describeGroup(g awsvpc.SecurityGroup) string {
	if g.Name == "" {
		return g.ID
	}
	return g.ID + " (" + g.Name + ")"
}

// portRange is an inclusive range of ports.
type portRange struct{ from, to int32 }

// tcpRanges merges the ports the rules open to TCP into sorted, disjoint
// ranges; adjacent ranges join. Protocol "-1" opens every port; "tcp" and
// its number "6" open FromPort–ToPort. Other protocols open no TCP port.
func tcpRanges(rules []awsvpc.Rule) []portRange {
	var rs []portRange
	for _, r := range rules {
		switch strings.ToLower(r.Protocol) {
		case "-1":
			rs = append(rs, portRange{0, 65535})
		case "tcp", "6":
			if r.FromPort <= r.ToPort && r.ToPort >= 0 {
				rs = append(rs, portRange{max(r.FromPort, 0), r.ToPort})
			}
		}
	}
	slices.SortFunc(rs, func(a, b portRange) int { return cmp.Compare(a.from, b.from) })
	var out []portRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.from <= out[n-1].to+1 {
			out[n-1].to = max(out[n-1].to, r.to)
			continue
		}
		out = append(out, r)
	}
	return out
}

// coversPorts says whether the merged ranges hold every port from lo to hi.
func coversPorts(merged []portRange, lo, hi int32) bool {
	for _, r := range merged {
		if r.from <= lo && r.to >= hi {
			return true
		}
	}
	return false
}

func formatRanges(rs []portRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.Itoa(int(r.from))
		if r.to != r.from {
			parts[i] += "-" + strconv.Itoa(int(r.to))
		}
	}
	return strings.Join(parts, ", ")
}
