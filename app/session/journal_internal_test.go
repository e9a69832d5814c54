package session

// Tests of the journal's wiring in the session, without a window: an
// attempt run through the page's calls is journaled (with the account
// chosen in Link), and the next session on the same state directory checks
// it with Cybrid in the background and offers the outcome through the
// page's recovered.* calls.

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

func sandboxOn(t *testing.T, other *sim.Sim) *config.Config {
	t.Helper()
	env := map[string]string{
		config.VarEnvironment: "sandbox", config.VarBankAPIURL: other.BankURL, config.VarIdentityAPIURL: other.IdentityURL,
		config.VarPollInitial: "20ms", config.VarPollMax: "100ms",
	}
	cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func call(t *testing.T, s *Session, name string, params any) any {
	t.Helper()
	b, _ := json.Marshal(params)
	out, err := s.methods()[name](context.Background(), b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func plaidCall(t *testing.T, plaidURL, name string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", plaidURL+"/link/v2/stable/sim/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", plaidURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("plaid %s: %d %v", name, resp.StatusCode, out)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionJournalsAttemptsAndReconcilesThemAtTheNextStart(t *testing.T) {
	other, err := sim.Start(sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	store := keychain.NewMemory()
	if err := store.Set("sandbox", keychain.Credentials{ClientID: other.ClientID, ClientSecret: other.ClientSecret}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := sandboxOn(t, other)
	log := slog.New(slog.DiscardHandler)

	// A first run: Link succeeds, and the account POST is performed by
	// Cybrid but its answer is held; the session ends meanwhile.
	s1, err := Start(cfg, "test", log, store, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := s1.currentJournal().Path()
	if !strings.HasPrefix(path, dir+string(os.PathSeparator)) || !strings.Contains(path, "journal-sandbox-") {
		t.Fatalf("the sandbox journal is %q, want one in %s", path, dir)
	}
	cust := other.Cybrid.Customers()[0].GUID
	a := call(t, s1, "startLink", map[string]any{"customer_guid": cust}).(linkflow.Attempt)
	var open linkflow.Attempt
	waitFor(t, "link_open", func() bool { open, _ = s1.Flow.Get(a.ID); return open.State == linkflow.LinkOpen })
	o := plaidCall(t, other.PlaidURL, "open", map[string]any{"link_token": open.LinkToken})
	sid := o["link_session_id"]
	if o["institution"] == nil {
		plaidCall(t, other.PlaidURL, "institution", map[string]any{"link_token": open.LinkToken, "link_session_id": sid, "institution_id": "ins_109508"})
	}
	sel := plaidCall(t, other.PlaidURL, "credentials", map[string]any{"link_token": open.LinkToken, "link_session_id": sid, "username": "user_good", "password": "pass_good"})
	first := sel["accounts"].([]any)[0].(map[string]any)
	done := plaidCall(t, other.PlaidURL, "accounts", map[string]any{"link_token": open.LinkToken, "link_session_id": sid, "account_ids": []any{first["id"]}})
	if err := other.Cybrid.SetFaults([]cybridsim.Fault{{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultSlow, Commit: true, Delay: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	meta := map[string]any{"institution": done["institution"], "accounts": done["accounts"]} // what the page forwards from onSuccess
	call(t, s1, "plaid.onSuccess", map[string]any{"attempt_id": a.ID, "public_token": done["public_token"], "metadata": meta})
	waitFor(t, "the account created", func() bool { return len(other.Cybrid.Accounts(cust)) == 1 })
	s1.Close()
	other.Cybrid.ClearFaults()
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"plaid_account_name":"`+first["name"].(string)+`"`)) || !bytes.Contains(raw, []byte(`"state":"creating_account"`)) {
		t.Fatalf("the journal lacks the chosen account or the step:\n%s", raw)
	}
	if bytes.Contains(raw, []byte(done["public_token"].(string))) || bytes.Contains(raw, []byte(open.LinkToken)) {
		t.Fatal("the journal holds a Plaid token")
	}

	// The next start shows it and checks it in the background.
	s2, err := Start(cfg, "test", log, store, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var st journal.Status
	waitFor(t, "reconciled", func() bool {
		st = call(t, s2, "recovered.list", nil).(journal.Status)
		return len(st.Attempts) == 1 && st.Attempts[0].Outcome != journal.OutcomeChecking
	})
	acct := other.Cybrid.Accounts(cust)[0]
	r := st.Attempts[0]
	if !st.On || r.AttemptID != a.ID || r.Step != linkflow.CreatingAccount || r.AccountGUID != acct.GUID ||
		(r.Outcome != journal.OutcomeLinked && r.Outcome != journal.OutcomeStoring) {
		t.Errorf("recovered %+v; the simulator has %s in %s", st, acct.GUID, acct.State)
	}
	if n := len(other.Cybrid.Accounts(cust)); n != 1 {
		t.Errorf("the customer has %d accounts after reconciling", n)
	}
	call(t, s2, "recovered.dismiss", map[string]any{"attempt_id": a.ID})
	if st := call(t, s2, "recovered.list", nil).(journal.Status); len(st.Attempts) != 0 {
		t.Errorf("after dismissing: %+v", st.Attempts)
	}
	if _, err := s2.methods()["recovered.dismiss"](context.Background(), json.RawMessage(`{"attempt_id":"nope"}`)); err == nil ||
		!strings.Contains(err.Error(), "16 lowercase hexadecimal") {
		t.Errorf("dismissing a malformed id: %v", err)
	}

	// Switching to the simulator: its attempts are not journaled.
	call(t, s2, "switchEnvironment", map[string]any{"environment": "sim"})
	if st := call(t, s2, "recovered.list", nil).(journal.Status); st.On || !strings.Contains(st.Off, "simulator") {
		t.Errorf("in the simulator the journal is %+v", st)
	}
	// …and the sandbox journal's lock was released with the switch.
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: other.BankURL})
	if err != nil {
		t.Fatalf("the sandbox journal is still held after switching away: %v", err)
	}
	j.Close()
}
