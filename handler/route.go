package handler

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// route picks the EC2 lookup for an event's account and region. An account
// other than the function's own that ALLOWED_ACCOUNT_IDS does not list is
// not served: skip says why, and nothing is called, in EC2 or Atlas.
func (h *Handler) route(ctx context.Context, account, region, endpointID string) (lookup EndpointLookup, skip string, err error) {
	own := h.deps.Accounts == nil || account == ""
	if !own {
		self, err := h.deps.Accounts.Self(ctx)
		if err != nil {
			return nil, "", &LookupError{EndpointID: endpointID, Err: fmt.Errorf("identify the function's own account: %w", err)}
		}
		own = account == self
		if !own && !slices.Contains(h.cfg.AllowedAccountIDs, account) {
			allowed := "none besides its own, " + self
			if len(h.cfg.AllowedAccountIDs) > 0 {
				allowed = strings.Join(h.cfg.AllowedAccountIDs, ", ") + " and its own, " + self
			}
			return nil, fmt.Sprintf("account %s is not in ALLOWED_ACCOUNT_IDS (allowed: %s)", account, allowed), nil
		}
	}
	if own && (region == "" || region == h.cfg.Region || h.deps.Accounts == nil) {
		return h.deps.Endpoints, "", nil
	}
	if own {
		account = "" // the Accounts lookup treats its own account by its own credentials
	}
	lookup, err = h.accountLookup(ctx, account, region)
	if err != nil {
		return nil, "", h.lookupErr(endpointID, account, err)
	}
	return lookup, "", nil
}

// accountLookup returns the lookup for account ("" for the function's own) in region.
func (h *Handler) accountLookup(ctx context.Context, account, region string) (EndpointLookup, error) {
	if account == "" {
		self, err := h.deps.Accounts.Self(ctx)
		if err != nil {
			return nil, fmt.Errorf("identify the function's own account: %w", err)
		}
		account = self
	}
	return h.deps.Accounts.Lookup(ctx, account, region)
}

// lookupErr is a LookupError that names the member role when one was assumed.
func (h *Handler) lookupErr(endpointID, account string, err error) error {
	le := &LookupError{EndpointID: endpointID, Account: account, Err: err}
	if h.deps.Accounts != nil && account != "" {
		if self, serr := h.deps.Accounts.Self(context.Background()); serr == nil && self != account {
			le.Role = h.deps.Accounts.RoleARN(account)
		}
	}
	return le
}
