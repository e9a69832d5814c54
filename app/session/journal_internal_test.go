package session

// Tests of the journal's wiring in the session, without a window: an
// attempt run through the page's calls (over the app server's real HTTP
// route, as the page makes them) is journaled (with the account chosen in
// Link), and the next session on the same state directory checks it with
// Cybrid in the background and offers the outcome through the page's
// recovered.* calls.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/simapart"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
	"linkdesk/app/ui"
)

// quickPolls make a sandbox's linkdesk poll its simulator quickly.
var quickPolls = config.Vars{config.VarPollInitial: "50ms", config.VarPollMax: "100ms"}

// pageClient makes calls as linkdesk's page does: it opens the one-time
// launch URL (for the session cookie), then POSTs /call/<name> from the
// app's origin with the per-launch secret.
type pageClient struct {
	s *Session
	c *http.Client
}

func newPageClient(t *testing.T, s *Session) *pageClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(s.Server.LaunchURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("launch: %s", resp.Status)
	}
	return &pageClient{s: s, c: c}
}

// try makes the call and decodes its result into out (when not nil).
func (p *pageClient) try(name string, params, out any) error {
	b, _ := json.Marshal(params)
	req, _ := http.NewRequest("POST", p.s.Server.URL+"/call/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.s.Server.URL)
	req.Header.Set(ui.CallHeader, p.s.Server.Secret)
	resp, err := p.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

func (p *pageClient) call(t *testing.T, name string, params, out any) {
	t.Helper()
	if err := p.try(name, params, out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestSessionJournalsAttemptsAndReconcilesThemAtTheNextStart(t *testing.T) {
	apart := simapart.Start(t, sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond}, quickPolls)
	other, store, cfg := apart.Sim, apart.Store, apart.Config
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)

	// A first run: Link succeeds, and the account POST is performed by
	// Cybrid but its answer is held; the session ends meanwhile.
	s1, err := Start(cfg, "test", log, store, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e1, err := s1.Env()
	if err != nil {
		t.Fatal(err)
	}
	page1 := newPageClient(t, s1)
	path := e1.Journal.Path()
	if !strings.HasPrefix(path, dir+string(os.PathSeparator)) || !strings.Contains(path, "journal-sandbox-") {
		t.Fatalf("the sandbox journal is %q, want one in %s", path, dir)
	}
	cust := other.Cybrid.Customers()[0].GUID
	var a linkflow.Attempt
	page1.call(t, "startLink", map[string]any{"customer_guid": cust}, &a)
	var open linkflow.Attempt
	wait.True(t, 15*time.Second, "link_open", func() bool { open, _ = e1.Flow.Get(a.ID); return open.State == linkflow.LinkOpen })
	pub, meta := simlink.Link(t, other.PlaidURL, open.LinkToken)
	if err := other.Cybrid.SetFaults([]cybridsim.Fault{{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultSlow, Commit: true, Delay: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	// What the page forwards from onSuccess.
	page1.call(t, "plaid.onSuccess", map[string]any{"attempt_id": a.ID, "seq": 1, "at": time.Now().UnixMilli(), "public_token": pub, "metadata": meta}, nil)
	wait.True(t, 15*time.Second, "the account created", func() bool { return len(other.Cybrid.Accounts(cust)) == 1 })
	s1.Close()
	other.Cybrid.ClearFaults()
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"plaid_account_name":"`+meta.Accounts[0].Name+`"`)) || !bytes.Contains(raw, []byte(`"state":"creating_account"`)) {
		t.Fatalf("the journal lacks the chosen account or the step:\n%s", raw)
	}
	if bytes.Contains(raw, []byte(pub)) || bytes.Contains(raw, []byte(open.LinkToken)) {
		t.Fatal("the journal holds a Plaid token")
	}

	// The next start shows it and checks it in the background.
	s2, err := Start(cfg, "test", log, store, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	page2 := newPageClient(t, s2)
	var st journal.Status
	wait.True(t, 15*time.Second, "the attempt reconciled", func() bool {
		page2.call(t, "recovered.list", nil, &st)
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
	page2.call(t, "recovered.dismiss", map[string]any{"attempt_id": a.ID}, nil)
	var after journal.Status
	if page2.call(t, "recovered.list", nil, &after); len(after.Attempts) != 0 {
		t.Errorf("after dismissing: %+v", after.Attempts)
	}
	if err := page2.try("recovered.dismiss", map[string]any{"attempt_id": "nope"}, nil); err == nil ||
		!strings.Contains(err.Error(), "16 lowercase hexadecimal") {
		t.Errorf("dismissing a malformed id: %v", err)
	}

	// Switching to the simulator: its attempts are journaled too, in a
	// journal of its own (its state is kept in the same folder).
	page2.call(t, "switchEnvironment", map[string]any{"environment": "sim"}, nil)
	var simSt journal.Status
	if page2.call(t, "recovered.list", nil, &simSt); !simSt.On {
		t.Errorf("in the simulator the journal is %+v", simSt)
	}
	// …and the sandbox journal's lock was released with the switch.
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: other.BankURL})
	if err != nil {
		t.Fatalf("the sandbox journal is still held after switching away: %v", err)
	}
	j.Close()
}
