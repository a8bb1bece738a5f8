package handler

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// route picks the EC2 lookup for an event's account and region ("" for the
// function's own). An account other than the function's own that
// ALLOWED_ACCOUNT_IDS does not list is not served: skip says why, and
// nothing is called, in EC2 or Atlas. STS is asked for the function's own
// account only when the event names an account or another region.
func (h *Handler) route(ctx context.Context, account, region, endpointID string) (lookup EndpointLookup, skip string, err error) {
	if h.deps.Accounts == nil || account == "" && (region == "" || region == h.cfg.Region) {
		return h.deps.Endpoints, "", nil
	}
	self, err := h.deps.Accounts.Self(ctx)
	if err != nil {
		return nil, "", &LookupError{EndpointID: endpointID, Err: fmt.Errorf("identify the function's own account: %w", err)}
	}
	if account == "" {
		account = self
	}
	if account != self && !slices.Contains(h.cfg.AllowedAccountIDs, account) {
		allowed := "none besides its own, " + self
		if len(h.cfg.AllowedAccountIDs) > 0 {
			allowed = strings.Join(h.cfg.AllowedAccountIDs, ", ") + " and its own, " + self
		}
		return nil, fmt.Sprintf("account %s is not in ALLOWED_ACCOUNT_IDS (allowed: %s)", account, allowed), nil
	}
	if account == self && (region == "" || region == h.cfg.Region) {
		return h.deps.Endpoints, "", nil
	}
	if lookup, err = h.deps.Accounts.Lookup(ctx, account, region); err != nil {
		return nil, "", h.lookupErr(endpointID, account, err)
	}
	return lookup, "", nil
}

// lookupErr is a LookupError that names the member role when one was assumed.
func (h *Handler) lookupErr(endpointID, account string, err error) error {
	le := &LookupError{EndpointID: endpointID, Account: account, Err: err}
	if h.deps.Accounts != nil && account != "" {
		// Self is cached by the time an account's lookup has failed.
		if self, serr := h.deps.Accounts.Self(context.Background()); serr == nil && self != account {
			le.Role = h.deps.Accounts.RoleARN(account)
		}
	}
	return le
}
