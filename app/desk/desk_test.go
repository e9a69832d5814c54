package desk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/sim"
)

func newDesk(t *testing.T) (*desk.Desk, *sim.Sim) {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return desk.New(c, ""), s
}

func TestCustomersArePagedWithNames(t *testing.T) {
	d, s := newDesk(t)
	p, err := d.ListCustomers(context.Background(), 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	all := s.Cybrid.Customers()
	if p.Total != len(all) || p.Page != 1 || len(p.Customers) != 10 {
		t.Fatalf("page 1 of 10: total %d page %d rows %d; simulator has %d", p.Total, p.Page, len(p.Customers), len(all))
	}
	if p.Customers[0].GUID != all[10].GUID || p.Customers[0].Name != all[10].Name || p.Customers[0].Name == "" {
		t.Errorf("first row of page 1 = %+v, want %+v", p.Customers[0], all[10])
	}
}

// CustomerNames names the customers asked for (duplicates once), leaves
// out one Cybrid does not know, and refuses a malformed GUID or too many.
func TestCustomerNamesInOneRequest(t *testing.T) {
	d, s := newDesk(t)
	all := s.Cybrid.Customers()
	unknown := strings.Repeat("ab", 16)
	before := s.Cybrid.Stats().ByRoute["GET /api/customers"]
	got, err := d.CustomerNames(context.Background(), []string{all[3].GUID, all[20].GUID, all[3].GUID, unknown})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[all[3].GUID] != all[3].Name || got[all[20].GUID] != all[20].Name {
		t.Errorf("names = %v, want %s → %q and %s → %q only", got, all[3].GUID, all[3].Name, all[20].GUID, all[20].Name)
	}
	if n := s.Cybrid.Stats().ByRoute["GET /api/customers"] - before; n != 1 {
		t.Errorf("%d requests to Cybrid, want 1", n)
	}
	if _, err := d.CustomerNames(context.Background(), []string{"not-a-guid"}); err == nil || !strings.Contains(err.Error(), "32 lowercase hexadecimal") {
		t.Errorf("a malformed GUID: %v", err)
	}
	many := make([]string, desk.MaxNames+1)
	for i := range many {
		many[i] = fmt.Sprintf("%032x", i)
	}
	if _, err := d.CustomerNames(context.Background(), many); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("%d GUIDs: %v", len(many), err)
	}
}

// fakeAccounts answers the account calls from a list; the customer calls
// are not used.
type fakeAccounts struct {
	desk.Customers
	accounts []cybrid.ExternalBankAccount
}

func (f fakeAccounts) ListExternalBankAccounts(_ context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error) {
	return cybrid.ExternalBankAccountList{Objects: f.accounts, Total: len(f.accounts), Page: p.Page, PerPage: p.PerPage}, nil
}

type names map[string]string

func (n names) Name(id string) string { return n[id] }

// Rows name their bank when its name is known (else only the id), and
// deleted accounts are listed only when asked for.
func TestAccountRowsNameTheBankAndMayIncludeDeletedAccounts(t *testing.T) {
	cust := strings.Repeat("c", 32)
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	acct := func(i int, state cybrid.AccountState, ins string) cybrid.ExternalBankAccount {
		return cybrid.ExternalBankAccount{GUID: fmt.Sprintf("%032x", i), CustomerGUID: cust, State: state, PlaidInstitutionID: ins, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
	}
	api := fakeAccounts{accounts: []cybrid.ExternalBankAccount{
		acct(1, cybrid.AccountCompleted, "ins_109508"), acct(2, cybrid.AccountDeleted, "ins_109508"),
		acct(3, cybrid.AccountDeleting, "ins_404"), acct(4, cybrid.AccountUnverified, ""),
	}}
	d := desk.New(api, "", desk.WithInstitutionNames(names{"ins_109508": "First Platypus Bank"}))
	rows, err := d.ListAccounts(context.Background(), cust)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowSummary(rows); got != "4 unverified  |3 deleting ins_404 |1 completed ins_109508 First Platypus Bank" {
		t.Errorf("ListAccounts: %s", got)
	}
	rows, err = d.ListAccountsIncludingDeleted(context.Background(), cust)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowSummary(rows); got != "4 unverified  |3 deleting ins_404 |2 deleted ins_109508 First Platypus Bank|1 completed ins_109508 First Platypus Bank" {
		t.Errorf("ListAccountsIncludingDeleted: %s", got)
	}
	// Without names, rows carry the id only.
	rows, _ = desk.New(api, "").ListAccounts(context.Background(), cust)
	if rows[2].InstitutionName != "" || rows[2].InstitutionID != "ins_109508" {
		t.Errorf("without names: %+v", rows[2])
	}
}

func rowSummary(rows []desk.Account) string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %s %s %s", strings.TrimLeft(r.GUID, "0"), r.State, r.InstitutionID, r.InstitutionName))
	}
	return strings.Join(out, "|")
}
