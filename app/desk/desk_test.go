package desk_test

import (
	"context"
	"testing"

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
