package handler

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/atlasvpce/registrar/atlas"
	"github.com/atlasvpce/registrar/awsvpc"
)

// planFederation plans the Data Federation project's list as planService
// plans a service's endpoints, with two differences: there is no service of
// the project's to keep alive, so nothing is kept for its sake; and the
// regions to search are the function's own and those the entries name
// (every region with a Data Federation service when the function's own
// region is not known), since MongoDB's services are one per region.
func (h *Handler) planFederation(ctx context.Context, apis clients, accounts []string, unread map[string]error) ([]*planned, error) {
	project := h.cfg.DataFederationProjectID
	if project == "" {
		return nil, nil
	}
	entries, err := apis[project].ListDataFederationEndpoints(ctx)
	if err != nil {
		return nil, atlasFailure("list data federation endpoints", "", project, err)
	}
	inAtlas := map[string]*atlas.InterfaceEndpoint{}
	regionOf := map[string]string{} // entry id -> AWS region, "" when unknown
	regions := []string{}
	if h.cfg.Region == "" {
		regions = h.cfg.federationRegions()
	} else if _, ok := h.cfg.DataFederationService(h.cfg.Region); ok {
		regions = append(regions, h.cfg.Region)
	}
	for i := range entries {
		e := &entries[i]
		inAtlas[e.EndpointID] = asInterfaceEndpoint(e)
		r := strings.ToLower(strings.ReplaceAll(e.Region, "_", "-"))
		if _, ok := h.cfg.DataFederationService(r); ok {
			regionOf[e.EndpointID] = r
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	sort.Strings(regions)

	aws := map[string]awsvpc.Endpoint{}
	lookups := map[string]EndpointLookup{}
	places := map[string]string{}
	unsearched := map[string][]string{} // region -> accounts that could not be searched
	for _, r := range regions {
		name, _ := h.cfg.DataFederationService(r)
		found := h.search(ctx, accounts, name, unread)
		for id, ep := range found.endpoints {
			aws[id], lookups[id], places[id] = ep, found.lookups[id], found.places[id]
		}
		if len(found.failures) > 0 {
			unsearched[r] = found.failures
		}
	}

	ids := make([]string, 0, len(aws)+len(inAtlas))
	for id := range aws {
		ids = append(ids, id)
	}
	for id := range inAtlas {
		if _, ok := aws[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []*planned
	for _, id := range ids {
		ie := inAtlas[id]
		ep, inAWS := aws[id]
		p := &planned{EndpointResult: EndpointResult{VPCEndpointID: id, ProjectID: project, Kind: KindDataFederation},
			ec2: lookups[id], place: places[id], ep: ep}
		out = append(out, p)
		region := regionOf[id]
		switch {
		case inAWS && optedOut(&ep) != "" && (ie == nil || !ready(ie)):
			p.Outcome, p.Reason = OutcomeIgnored, optedOut(&ep)
		case inAWS && ie == nil && len(ep.DNSNames) == 0:
			p.Outcome, p.Reason = OutcomeIgnored, h.federationSkip(&ep)
		case inAWS && ie == nil:
			p.Outcome, p.start, p.done = OutcomeWouldRegister, startPost, OutcomeRegistered
			p.Reason = "in AWS but not in the Data Federation endpoint list"
		case ie.ConnectionStatus == atlas.StatusDeleting:
			p.Outcome, p.Reason = OutcomePending, "being deleted in Atlas; a later run acts on what is left"
		case inAWS && failed(ie):
			p.Outcome, p.start, p.done = OutcomeWouldReRegister, startRecover, OutcomeReRegistered
			p.Reason = "failed in Atlas (" + describe(ie) + ")"
		case inAWS && ready(ie):
			p.Outcome = OutcomeAlreadyRegistered
		case inAWS:
			p.Outcome, p.Reason = OutcomePending, "Atlas reports "+ie.ConnectionStatus
		case region == "":
			p.Outcome = OutcomeKept
			p.Reason = "in the Data Federation endpoint list (" + describe(ie) + ") with no region that has a known Data Federation service, " +
				"so no VPC endpoint could be looked for; it is not called an orphan"
		case len(unsearched[region]) > 0:
			p.Outcome = OutcomeKept
			p.Reason = "in the Data Federation endpoint list (" + describe(ie) + ") and not found in the accounts searched, but account " +
				strings.Join(unsearched[region], ", ") + " could not be searched, so it may belong there; it is not called an orphan"
		default:
			p.orphan = true
			p.Outcome = OutcomeOrphan
			name, _ := h.cfg.DataFederationService(region)
			p.Reason = "in the Data Federation endpoint list (" + describe(ie) + ") but no live VPC endpoint in the accounts served, in region " +
				region + ", points at " + name + "; it may belong to another account"
			if h.cfg.ReconcileDeleteOrphans {
				p.Outcome, p.start, p.done = OutcomeWouldDeregister, startDeregister, OutcomeDeregistered
			}
		}
	}
	return out, nil
}
