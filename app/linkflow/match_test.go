package linkflow_test

import (
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
)

// TestMatchCreatedRule is the one rule both the live retry and the
// journal's reconciliation use to find what an unanswered POST created.
func TestMatchCreatedRule(t *testing.T) {
	cust := strings.Repeat("c", 32)
	asked := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	want := linkflow.AccountRequest{CustomerGUID: cust, PlaidAccountName: "  Plaid Checking ", InstitutionID: "ins_109508", Mask: "0000", RequestedAt: asked}
	acct := func(guid string, edit func(*cybrid.ExternalBankAccount)) cybrid.ExternalBankAccount {
		a := cybrid.ExternalBankAccount{GUID: strings.Repeat(guid, 32), Name: "Plaid Checking", CustomerGUID: cust, AccountKind: cybrid.AccountKindPlaid,
			CreatedAt: asked.Add(time.Second), PlaidInstitutionID: "ins_109508", PlaidAccountMask: "0000", State: cybrid.AccountUnverified}
		if edit != nil {
			edit(&a)
		}
		return a
	}
	guids := func(as []cybrid.ExternalBankAccount) string {
		var s []string
		for _, a := range as {
			s = append(s, a.GUID[:1])
		}
		return strings.Join(s, ",")
	}
	match := func(what, wantGUIDs string, w linkflow.AccountRequest, owned func(string) bool, accts ...cybrid.ExternalBankAccount) {
		t.Helper()
		if got := guids(linkflow.MatchCreated(w, accts, owned)); got != wantGUIDs {
			t.Errorf("%s: matched [%s], want [%s]", what, got, wantGUIDs)
		}
	}

	// Each condition on its own.
	match("the request's account", "1", want, nil, acct("1", nil))
	match("owned by another attempt", "", want, func(g string) bool { return g == strings.Repeat("1", 32) }, acct("1", nil))
	match("owned: only that one is left out", "2", want, func(g string) bool { return g == strings.Repeat("1", 32) }, acct("1", nil), acct("2", nil))
	match("another customer", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.CustomerGUID = strings.Repeat("d", 32) }))
	match("no customer shown", "1", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.CustomerGUID = "" }))
	match("another kind", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.AccountKind = "raw_routing_details" }))

	// Clock skew: Cybrid's clock may be up to ClockSkew behind ours.
	match("at the edge of the clock skew", "1", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.CreatedAt = asked.Add(-linkflow.ClockSkew) }))
	match("within the clock skew", "1", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.CreatedAt = asked.Add(-time.Minute) }))
	match("older than the clock skew", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.CreatedAt = asked.Add(-linkflow.ClockSkew - time.Millisecond) }))

	// The name: what linkflow POSTs (PostedName), or Cybrid's Plaid name.
	match("another name", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.Name, a.PlaidAccountName = "Plaid Saving", "Plaid Saving" }))
	match("plaid_account_name is the chosen account's", "1", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.Name, a.PlaidAccountName = "Renamed", "  Plaid Checking " }))
	unnamed := want
	unnamed.PlaidAccountName = ""
	match("the choice unknown: any name", "1", unnamed, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.Name = "Anything" }))
	long := want
	long.PlaidAccountName = strings.Repeat("é", 200)
	match("a long name is cut as it was POSTed", "1", long, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.Name = strings.Repeat("é", 128) }))
	if linkflow.PostedName("  ") != "Bank account" || linkflow.PostedName(" X ") != "X" || linkflow.PostedName(strings.Repeat("é", 200)) != strings.Repeat("é", 128) {
		t.Error("PostedName: want trimmed, \"Bank account\" when empty, at most 128 characters")
	}

	// Bank and mask: compared once Cybrid shows them.
	match("another bank", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.PlaidInstitutionID = "ins_109509" }))
	match("another mask", "", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) { a.PlaidAccountMask = "9999" }))
	match("storing: bank and mask not shown yet", "1", want, nil, acct("1", func(a *cybrid.ExternalBankAccount) {
		a.State, a.PlaidInstitutionID, a.PlaidAccountMask = cybrid.AccountStoring, "", ""
	}))

	// Which of the matching accounts.
	failed := func(guid string, created time.Duration) cybrid.ExternalBankAccount {
		return acct(guid, func(a *cybrid.ExternalBankAccount) {
			a.State, a.FailureCode, a.CreatedAt = cybrid.AccountFailed, "duplicate", asked.Add(created)
		})
	}
	deleted := func(guid string, created time.Duration) cybrid.ExternalBankAccount {
		return acct(guid, func(a *cybrid.ExternalBankAccount) { a.State, a.CreatedAt = cybrid.AccountDeleted, asked.Add(created) })
	}
	match("live before failed", "1", want, nil, failed("a", 2*time.Second), acct("1", nil), failed("b", time.Second))
	match("several live: all, none chosen", "1,2", want, nil, acct("1", nil), failed("a", time.Second), acct("2", nil))
	match("only failed: the newest", "a", want, nil, failed("b", time.Second), failed("a", 2*time.Second))
	match("failed before deleted", "b", want, nil, deleted("d", 3*time.Second), failed("b", time.Second))
	match("only deleted: the newest", "e", want, nil, deleted("d", time.Second), deleted("e", 2*time.Second))
	match("an owned live account does not hide the request's failed one", "b", want,
		func(g string) bool { return g == strings.Repeat("1", 32) }, acct("1", nil), failed("b", time.Second))
	if got := linkflow.MatchCreated(want, nil, nil); got != nil {
		t.Errorf("no accounts: matched %v", got)
	}
}
