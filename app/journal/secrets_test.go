package journal_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/app/journal"
	"linkdesk/app/sim"
)

// TestJournalHoldsNoSecrets runs a link and a refresh through the real flow
// and desk against the real simulator with the journal as observer, then
// looks for every secret the run handled in the journal's bytes.
func TestJournalHoldsNoSecrets(t *testing.T) {
	s, err := sim.Start(sim.Options{WorkflowDelay: 50 * time.Millisecond, AccountDelay: 50 * time.Millisecond,
		ClientSecret: "canary-client-secret-5b0e7c"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: s.BankURL})
	if err != nil {
		t.Fatal(err)
	}
	cust := s.Cybrid.Customers()[0].GUID
	cfg := driverConfig{BankURL: s.BankURL, PlaidURL: s.PlaidURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Customer: cust}
	d := newDriver(t, s, cfg, j, func(string, ...any) {})
	linked, pub1 := run(t, d, cfg)
	if err := s.Cybrid.ExpireConnection(linked.AccountGUID); err != nil {
		t.Fatal(err)
	}
	cfg.Refresh = linked.AccountGUID
	run(t, d, cfg)
	// The refresh's public token: Link hands out a new one per session.
	d.Flow.Close()
	j.Close()

	raw, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"client secret": s.ClientSecret, "public token": pub1}
	for i, w := range s.Cybrid.Workflows() {
		if w.LinkToken == "" {
			t.Fatalf("workflow %s has no link token", w.GUID)
		}
		secrets["link token "+string(rune('1'+i))] = w.LinkToken
	}
	for what, v := range secrets {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the journal holds the %s", what)
		}
	}
	// Any token of these kinds, including the refresh's public token and
	// the client's access token (a JWT: base64 of `{"` is "eyJ").
	for _, shape := range []string{"public-sandbox-", "link-sandbox-", "access-sandbox-", "eyJ", "Bearer", "secret", `_token":`} {
		if bytes.Contains(raw, []byte(shape)) {
			t.Errorf("the journal holds something shaped like a secret: %q\n%s", shape, raw)
		}
	}
	// …and it does hold what reconciliation needs.
	for _, need := range []string{linked.AccountGUID, linked.WorkflowGUID, `"plaid_account_mask":"`, `"plaid_account_name":"`, `"institution_id":"ins_109508"`, `"state":"done"`} {
		if !strings.Contains(string(raw), need) {
			t.Errorf("the journal lacks %s:\n%s", need, raw)
		}
	}
}
