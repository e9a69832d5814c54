package linkflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/contract"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/linkflow"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
)

// rig is the flow over the real Cybrid client against the real simulator on
// loopback, with every /api/ message checked against Cybrid's spec when the
// spec is present.
type rig struct {
	t      *testing.T
	sim    *sim.Sim
	flow   *linkflow.Flow
	tr     *contract.Transport
	mu     sync.Mutex
	events []linkflow.Event
	snaps  chan linkflow.Attempt
}

func newRig(t *testing.T, so sim.Options, settings linkflow.Settings) *rig {
	t.Helper()
	s, err := sim.Start(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{t: t, sim: s, snaps: make(chan linkflow.Attempt, 1000)}
	var base http.RoundTripper = http.DefaultTransport
	if spec := contract.Optional(t, contract.BankSpecFile); spec != nil {
		r.tr = &contract.Transport{Spec: spec}
		base = r.tr
	}
	c, err := cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		HTTPClient: &http.Client{Transport: base, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if settings.Language == "" {
		settings.Language, settings.Asset = "en", "USD"
	}
	if settings.LinkCustomizationName == "" {
		settings.LinkCustomizationName = "default"
	}
	if settings.PollInitial == 0 {
		settings.PollInitial, settings.PollMax = 20*time.Millisecond, 200*time.Millisecond
	}
	r.flow = linkflow.New(c, settings, nil, func(a linkflow.Attempt, ev linkflow.Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.snaps <- a
	})
	t.Cleanup(r.flow.Close)
	return r
}

// until waits for a snapshot of attempt id in state want (or any final
// state, which fails the test when it is not want).
func (r *rig) until(id string, want linkflow.State) linkflow.Attempt {
	r.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case a := <-r.snaps:
			if a.ID != id {
				continue
			}
			if a.State == want {
				return a
			}
			if a.State.Final() {
				r.t.Fatalf("attempt ended %s (%s: %s), want %s", a.State, a.Code, a.Error, want)
			}
		case <-timeout:
			a, _ := r.flow.Get(id)
			r.t.Fatalf("attempt still %s after 15s, want %s", a.State, want)
		}
	}
}

// linkInPlaid goes through the simulated Link (see simlink.Link).
func (r *rig) linkInPlaid(linkToken string, n int) (string, linkflow.SuccessMetadata) {
	r.t.Helper()
	var first []int
	for i := range n {
		first = append(first, i)
	}
	return simlink.Link(r.t, r.sim.PlaidURL, linkToken, first...)
}

func (r *rig) checkContract() {
	if r.tr != nil {
		r.tr.Check(r.t)
	}
}

func TestLinkCreatesOneAccountAgainstTheSimulator(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 300 * time.Millisecond, AccountDelay: 200 * time.Millisecond}, linkflow.Settings{})
	cust := r.sim.Cybrid.Customers()[0].GUID
	a, err := r.flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != linkflow.CreatingWorkflow {
		t.Errorf("a new attempt is %s", a.State)
	}
	open := r.until(a.ID, linkflow.LinkOpen)
	if !strings.HasPrefix(open.LinkToken, "link-sandbox-") || open.Polls == 0 || open.WorkflowGUID == "" {
		t.Fatalf("link_open snapshot = %+v", open)
	}
	pub, meta := r.linkInPlaid(open.LinkToken, 1)
	if err := r.flow.Success(a.ID, pub, meta); err != nil {
		t.Fatal(err)
	}
	done := r.until(a.ID, linkflow.Done)
	if done.Account == nil || done.Account.State != "unverified" || done.AccountGUID == "" {
		t.Fatalf("done snapshot = %+v", done)
	}
	accts := r.sim.Cybrid.Accounts(cust)
	if len(accts) != 1 || accts[0].GUID != done.AccountGUID || accts[0].PlaidAccountID != meta.Accounts[0].ID {
		t.Fatalf("simulator accounts = %+v, want the one the attempt made", accts)
	}
	// No snapshot or event carries the public token.
	r.mu.Lock()
	for _, ev := range r.events {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), pub) {
			t.Errorf("event carries the public token: %s", b)
		}
	}
	r.mu.Unlock()
	if b, _ := json.Marshal(done); strings.Contains(string(b), pub) {
		t.Error("the attempt snapshot carries the public token")
	}
	r.checkContract()
}

func TestMoreThanOneAccountIsRefusedBeforeAnyPost(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond}, linkflow.Settings{LinkCustomizationName: "multi_account"})
	cust := r.sim.Cybrid.Customers()[0].GUID
	a, _ := r.flow.StartLink(cust)
	open := r.until(a.ID, linkflow.LinkOpen)
	pub, meta := r.linkInPlaid(open.LinkToken, 2)
	if len(meta.Accounts) != 2 {
		t.Fatalf("Link returned %d accounts, want 2 for this test", len(meta.Accounts))
	}
	r.flow.Success(a.ID, pub, meta)
	failed := r.until(a.ID, linkflow.Failed)
	if failed.Code != "account_count" || !strings.Contains(failed.Error, "exactly one account") {
		t.Errorf("refusal = %s: %s", failed.Code, failed.Error)
	}
	wantProblem(t, failed, problem.Plaid, "exactly one account")
	if n := r.sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]; n != 0 {
		t.Errorf("%d accounts posted for a refused selection", n)
	}
}

func TestFailedWorkflowEndsWithItsFailureCode(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 100 * time.Millisecond}, linkflow.Settings{})
	sc := r.sim.Cybrid.Scenario()
	sc.WorkflowFailureCode = "plaid_failure"
	r.sim.Cybrid.SetScenario(sc)
	a, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[0].GUID)
	f := r.until(a.ID, linkflow.Failed)
	if f.Code != "plaid_failure" || !strings.Contains(f.Error, "plaid_failure") || !strings.Contains(f.Error, f.WorkflowGUID) {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.CybridFailure, "Try again")
	r.checkContract()
}

func TestWorkflowDeadline(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 5 * time.Second}, linkflow.Settings{WorkflowTimeout: 700 * time.Millisecond})
	a, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[0].GUID)
	f := r.until(a.ID, linkflow.Failed)
	if f.Code != "timeout" || !strings.Contains(f.Error, "within 700ms") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.CybridFailure, "within 700ms")
}

func TestFailedAccountIsExplained(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond}, linkflow.Settings{})
	cust := r.sim.Cybrid.Customers()[0].GUID
	link := func() linkflow.Attempt {
		a, _ := r.flow.StartLink(cust)
		open := r.until(a.ID, linkflow.LinkOpen)
		pub, meta := r.linkInPlaid(open.LinkToken, 1)
		r.flow.Success(a.ID, pub, meta)
		return a
	}
	r.until(link().ID, linkflow.Done)
	// The same bank account again is a duplicate.
	f := r.until(link().ID, linkflow.Failed)
	if f.Code != "duplicate" || !strings.Contains(f.Error, "already linked") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.Refused, "already linked")
}

func TestExitSaysWhereTheCustomerLeft(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 100 * time.Millisecond}, linkflow.Settings{})
	a, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[0].GUID)
	r.until(a.ID, linkflow.LinkOpen)
	status := "requires_credentials"
	if err := r.flow.Exit(a.ID, nil, linkflow.ExitMetadata{Status: &status, Institution: &linkflow.Institution{Name: "First Platypus Bank", InstitutionID: "ins_109508"}}); err != nil {
		t.Fatal(err)
	}
	e := r.until(a.ID, linkflow.Exited)
	if e.ExitStatus != status || !strings.Contains(e.Error, "bank sign-in") {
		t.Errorf("exit = %s: %s", e.ExitStatus, e.Error)
	}
	if e.Problem != nil {
		t.Errorf("a customer who left Link is not a problem: %+v", e.Problem)
	}
	if err := r.flow.Success(a.ID, "public-sandbox-x", linkflow.SuccessMetadata{}); err == nil {
		t.Error("onSuccess after the attempt ended was accepted")
	}
	// The same status before a bank was chosen (the consent pane).
	c, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[0].GUID)
	r.until(c.ID, linkflow.LinkOpen)
	r.flow.Exit(c.ID, nil, linkflow.ExitMetadata{Status: &status})
	if e := r.until(c.ID, linkflow.Exited); !strings.Contains(e.Error, "before choosing a bank") {
		t.Errorf("exit at consent: %s", e.Error)
	}
	// A Plaid error in onExit fails the attempt with Plaid's code.
	b, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[0].GUID)
	r.until(b.ID, linkflow.LinkOpen)
	r.flow.Exit(b.ID, &linkflow.LinkError{ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_LINK_TOKEN", ErrorMessage: "expired"}, linkflow.ExitMetadata{})
	f := r.until(b.ID, linkflow.Failed)
	if f.Code != "INVALID_LINK_TOKEN" || !strings.Contains(f.Error, "Start again") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.Plaid, "Start again")
}

func TestRefreshPatchesTheAccountOutOfRefreshRequired(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond}, linkflow.Settings{})
	cust := r.sim.Cybrid.Customers()[0].GUID
	a, _ := r.flow.StartLink(cust)
	open := r.until(a.ID, linkflow.LinkOpen)
	pub, meta := r.linkInPlaid(open.LinkToken, 1)
	r.flow.Success(a.ID, pub, meta)
	done := r.until(a.ID, linkflow.Done)
	if err := r.sim.Cybrid.ExpireConnection(done.AccountGUID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.flow.StartRefresh(cust, "nothex"); err == nil {
		t.Error("StartRefresh accepted a malformed account GUID")
	}
	ref, err := r.flow.StartRefresh(cust, done.AccountGUID)
	if err != nil {
		t.Fatal(err)
	}
	open = r.until(ref.ID, linkflow.LinkOpen)
	pub, meta = r.linkInPlaid(open.LinkToken, 1)
	r.flow.Success(ref.ID, pub, meta)
	fin := r.until(ref.ID, linkflow.Done)
	acct, _ := r.sim.Cybrid.Account(done.AccountGUID)
	if acct.State == "refresh_required" || fin.Account.State != acct.State {
		t.Errorf("after update mode: simulator %s, attempt %s", acct.State, fin.Account.State)
	}
	var kinds []string
	for _, w := range r.sim.Cybrid.Workflows() {
		if w.ExternalBankAccountGUID == done.AccountGUID {
			kinds = append(kinds, w.Kind)
		}
	}
	if len(kinds) != 1 || kinds[0] != "link_token_update" {
		t.Errorf("workflows for the account: %v, want one link_token_update", kinds)
	}
	if n := len(r.sim.Cybrid.Accounts(cust)); n != 1 {
		t.Errorf("update mode created accounts: the customer has %d", n)
	}
	r.checkContract()
}

func TestStartValidatesTheCustomerGUID(t *testing.T) {
	r := newRig(t, sim.Options{}, linkflow.Settings{})
	for _, bad := range []string{"", "ABC", strings.Repeat("g", 32), strings.Repeat("A", 32)} {
		if _, err := r.flow.StartLink(bad); err == nil || !strings.Contains(err.Error(), "32 lowercase hexadecimal") {
			t.Errorf("StartLink(%q) = %v", bad, err)
		}
	}
}
