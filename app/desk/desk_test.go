package desk_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/linkflow"
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
	f := linkflow.New(c, linkflow.Settings{Language: "en", LinkCustomizationName: "default", Asset: "USD"}, nil, nil)
	t.Cleanup(f.Close)
	return desk.New(desk.Info{Environment: "sim"}, c, f), s
}

func call(t *testing.T, d *desk.Desk, method, params string) (any, error) {
	t.Helper()
	m, ok := d.Methods()[method]
	if !ok {
		t.Fatalf("no method %q", method)
	}
	return m(context.Background(), json.RawMessage(params))
}

func TestCustomersArePagedWithNames(t *testing.T) {
	d, s := newDesk(t)
	v, err := call(t, d, "listCustomers", `{"page":1,"per_page":10}`)
	if err != nil {
		t.Fatal(err)
	}
	p := v.(desk.CustomerPage)
	all := s.Cybrid.Customers()
	if p.Total != len(all) || p.Page != 1 || len(p.Customers) != 10 {
		t.Fatalf("page 1 of 10: total %d page %d rows %d; simulator has %d", p.Total, p.Page, len(p.Customers), len(all))
	}
	if p.Customers[0].GUID != all[10].GUID || p.Customers[0].Name != all[10].Name || p.Customers[0].Name == "" {
		t.Errorf("first row of page 1 = %+v, want %+v", p.Customers[0], all[10])
	}
}

func TestCallsRejectBadParameters(t *testing.T) {
	d, _ := newDesk(t)
	cases := []struct{ method, params, want string }{
		{"listCustomers", `{"page":-1}`, "pages start at 0"},
		{"listCustomers", `{"per_page":500}`, "use 1 to 100"},
		{"listCustomers", `{"pgae":1}`, "do not fit"},
		{"listCustomers", `{"page":`, "not valid JSON"},
		{"listAccounts", `{"customer_guid":"x"}`, "32 lowercase hexadecimal"},
		{"startLink", `{"customer_guid":"` + strings.Repeat("Z", 32) + `"}`, "32 lowercase hexadecimal"},
		{"startRefresh", `{"customer_guid":"` + strings.Repeat("a", 32) + `","account_guid":""}`, "32 lowercase hexadecimal"},
		{"plaid.onSuccess", `{"attempt_id":"nope","public_token":"public-sandbox-1","metadata":{"accounts":[]}}`, "unknown attempt"},
		{"plaid.onEvent", `{"attempt_id":"nope","event_name":""}`, "no event name"},
		{"listCustomers", `"` + strings.Repeat("a", 70000) + `"`, "limit"},
	}
	for _, c := range cases {
		_, err := call(t, d, c.method, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%.40s) = %v, want an error containing %q", c.method, c.params, err, c.want)
		}
	}
	// Plaid adds metadata fields without notice: unknown ones are accepted.
	a, err := call(t, d, "startLink", `{"customer_guid":"`+strings.Repeat("0", 32)+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	id := a.(linkflow.Attempt).ID
	if _, err := call(t, d, "plaid.onEvent", `{"attempt_id":"`+id+`","event_name":"OPEN","metadata":{"view_name":"CONSENT","brand_new_key":1},"extra":true}`); err != nil {
		t.Errorf("onEvent with unknown fields: %v", err)
	}
}
