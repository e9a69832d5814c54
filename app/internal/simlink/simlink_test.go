package simlink_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"linkdesk/app/internal/simlink"
	"linkdesk/app/sim/plaidsim"
)

// TestLinkChoosesTheAccountsAskedFor: Link connects the accounts at the
// indexes given (the first by default), hands onSuccess what the page does
// (the bank, the accounts, the session), follows update mode to its item,
// and says what is wrong with an index Account Select does not offer.
func TestLinkChoosesTheAccountsAskedFor(t *testing.T) {
	sim := plaidsim.New(plaidsim.Options{})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := simlink.New(srv.URL)
	token := func(req plaidsim.LinkTokenRequest) string {
		t.Helper()
		req.CustomerGUID = "cust-1"
		lt, err := sim.CreateLinkToken(req)
		if err != nil {
			t.Fatal(err)
		}
		return lt.Token
	}

	first, err := c.Link(token(plaidsim.LinkTokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Link(token(plaidsim.LinkTokenRequest{}), 1)
	if err != nil {
		t.Fatal(err)
	}
	m := first.Metadata
	if m.Institution == nil || m.Institution.InstitutionID != simlink.Bank || len(m.Accounts) != 1 || m.LinkSessionID == "" {
		t.Fatalf("onSuccess metadata = %+v, want First Platypus Bank, one account and the session", m)
	}
	if len(second.Metadata.Accounts) != 1 || second.Metadata.Accounts[0].Name == m.Accounts[0].Name {
		t.Errorf("account 1 is %+v, the default %+v: want another account", second.Metadata.Accounts, m.Accounts)
	}
	it, err := sim.ExchangePublicToken(first.PublicToken)
	if err != nil || len(it.Accounts) != 1 || it.Accounts[0].ID != m.Accounts[0].ID {
		t.Fatalf("the public token's item: %+v, %v; want the account Link chose", it, err)
	}

	multi := token(plaidsim.LinkTokenRequest{LinkCustomizationName: "multi_account"})
	two, err := c.Link(multi, 0, 2)
	if err != nil || len(two.Metadata.Accounts) != 2 {
		t.Fatalf("two accounts under multi_account: %+v, %v", two.Metadata.Accounts, err)
	}

	// Update mode: no bank to choose, no account selection.
	if err := sim.ResetLogin(it.ItemID); err != nil {
		t.Fatal(err)
	}
	upd, err := c.Link(token(plaidsim.LinkTokenRequest{UpdateItemID: it.ItemID}))
	if err != nil || len(upd.Metadata.Accounts) != 1 || upd.Metadata.Accounts[0].ID != m.Accounts[0].ID {
		t.Fatalf("update mode: %+v, %v; want the item's account", upd.Metadata, err)
	}

	if _, err := c.Link(token(plaidsim.LinkTokenRequest{}), 7); err == nil || !strings.Contains(err.Error(), "no account 7") {
		t.Errorf("index 7: %v, want an error saying there is no such account", err)
	}
	if _, err := c.Link("link-sandbox-00000000-0000-4000-8000-000000000000"); err == nil || !strings.Contains(err.Error(), "INVALID_LINK_TOKEN") {
		t.Errorf("an unknown token: %v, want Link's INVALID_LINK_TOKEN", err)
	}
}
