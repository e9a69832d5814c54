package linkflow

import (
	"strings"
	"time"

	"linkdesk/app/cybrid"
)

// The one rule that finds the account an unanswered POST
// /api/external_bank_accounts created. The live retry (Flow.findCreated)
// and the journal's reconciliation after a crash both use MatchCreated,
// PostedName and ClockSkew; neither keeps a copy.

// ClockSkew is how far Cybrid's clock (an account's created_at) may be
// behind linkdesk's (AccountRequest.RequestedAt) for an account to still
// count as created by the request.
const ClockSkew = 2 * time.Minute

// PostedName is the account name linkflow sends to Cybrid for a Plaid
// account that Plaid names plaidName: trimmed, "Bank account" when empty,
// cut to 128 characters (Cybrid's limit).
func PostedName(plaidName string) string {
	name := strings.TrimSpace(plaidName)
	if name == "" {
		name = "Bank account"
	}
	if r := []rune(name); len(r) > 128 {
		name = string(r[:128])
	}
	return name
}

// accountName is the name an account is created with (PostedName).
func accountName(acct PlaidAccount) string { return PostedName(acct.Name) }

// AccountRequest is what an attempt asked Cybrid to create: the account
// chosen in Plaid Link, for a customer, first requested at RequestedAt.
type AccountRequest struct {
	CustomerGUID string
	// PlaidAccountName is Plaid's name for the chosen account (onSuccess
	// metadata.accounts[0].name), not PostedName of it. "" when the choice
	// is not known (a journal written before it was recorded): then the
	// name is not compared.
	PlaidAccountName string
	// InstitutionID and Mask are the chosen bank and account mask; "" when
	// unknown (then not compared).
	InstitutionID string
	Mask          string
	// RequestedAt is linkdesk's time of the first request (the first POST,
	// or entering creating_account): no account the request created is
	// older, give or take ClockSkew.
	RequestedAt time.Time
}

// MatchCreated returns the account(s) among accts (the customer's accounts,
// in any order) that the request want may have created, and never one that
// owned reports: owned(guid) is true for an account another attempt owns —
// one it created, adopted, refreshed or was found by reconciliation to have
// created. owned may be nil (nothing owned); the caller must not report the
// asking attempt's own account as owned.
//
// An account is kept when all of these hold:
//
//   - owned does not report it;
//   - it belongs to want.CustomerGUID (or shows no customer);
//   - its created_at is no earlier than want.RequestedAt − ClockSkew;
//   - it is of kind plaid (or shows no kind);
//   - when want.PlaidAccountName is set, its name is PostedName of it, or
//     Cybrid's plaid_account_name for it equals it;
//   - its plaid_institution_id and plaid_account_mask equal want's, when
//     both sides have them (Cybrid shows null while the account is storing).
//
// Of the accounts kept:
//
//   - live ones (storing, completed, unverified, refresh_required) come
//     first: one is the request's account; more than one cannot be told
//     apart, and all are returned (in accts' order) — the caller must not
//     pick one;
//   - with none live, the newest failed one alone: Cybrid acted on the
//     request (and used the single-use public token) and failed it, so its
//     failure code is the answer;
//   - with none failed either, the newest deleting or deleted one alone;
//   - nothing: the request created no account.
//
// Limits: an account created within the window by a request linkdesk does
// not know about (another linkdesk, another tool) for the same customer and
// bank account is indistinguishable from the request's own unless owned
// reports it; with several live ones the result is ambiguous, never a
// guess.
func MatchCreated(want AccountRequest, accts []cybrid.ExternalBankAccount, owned func(accountGUID string) bool) []cybrid.ExternalBankAccount {
	since := want.RequestedAt.Add(-ClockSkew)
	var live []cybrid.ExternalBankAccount
	var failed, gone *cybrid.ExternalBankAccount
	newest := func(cur *cybrid.ExternalBankAccount, a cybrid.ExternalBankAccount) *cybrid.ExternalBankAccount {
		if cur == nil || a.CreatedAt.After(cur.CreatedAt) {
			return &a
		}
		return cur
	}
	for _, a := range accts {
		switch {
		case owned != nil && owned(a.GUID):
		case a.CustomerGUID != "" && a.CustomerGUID != want.CustomerGUID:
		case a.CreatedAt.Before(since):
		case a.AccountKind != "" && a.AccountKind != cybrid.AccountKindPlaid:
		case !nameMatches(want.PlaidAccountName, a):
		case want.InstitutionID != "" && a.PlaidInstitutionID != "" && a.PlaidInstitutionID != want.InstitutionID:
		case want.Mask != "" && a.PlaidAccountMask != "" && a.PlaidAccountMask != want.Mask:
		case a.State == cybrid.AccountFailed:
			failed = newest(failed, a)
		case a.State == cybrid.AccountDeleting || a.State == cybrid.AccountDeleted:
			gone = newest(gone, a)
		default:
			live = append(live, a)
		}
	}
	switch {
	case len(live) > 0:
		return live
	case failed != nil:
		return []cybrid.ExternalBankAccount{*failed}
	case gone != nil:
		return []cybrid.ExternalBankAccount{*gone}
	}
	return nil
}

// nameMatches is the account-name rule of MatchCreated.
func nameMatches(plaidName string, a cybrid.ExternalBankAccount) bool {
	return plaidName == "" || a.Name == PostedName(plaidName) || a.PlaidAccountName == plaidName
}
