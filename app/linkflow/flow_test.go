package linkflow_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/flowrig"
	"linkdesk/app/linkflow"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
)

// rig is the flow rig (app/internal/flowrig: the flow over the real
// Cybrid client against the real simulator on loopback, every /api/
// message checked against Cybrid's spec when the spec is present), with
// the checks these tests share.
type rig struct {
	*flowrig.Rig
	t *testing.T
}

func newRig(t *testing.T, so sim.Options, settings linkflow.Settings) *rig {
	t.Helper()
	return &rig{Rig: flowrig.New(t, flowrig.Options{Sim: so, Settings: settings}), t: t}
}

func TestLinkCreatesOneAccountAgainstTheSimulator(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief}, linkflow.Settings{})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	a, err := r.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != linkflow.CreatingWorkflow {
		t.Errorf("a new attempt is %s", a.State)
	}
	open := r.Until(a.ID, linkflow.LinkOpen)
	if !strings.HasPrefix(open.LinkToken, "link-sandbox-") || open.Polls == 0 || open.WorkflowGUID == "" {
		t.Fatalf("link_open snapshot = %+v", open)
	}
	pub, meta := r.LinkInPlaid(open.LinkToken)
	if err := r.Flow.Success(a.ID, pub, meta); err != nil {
		t.Fatal(err)
	}
	done := r.Until(a.ID, linkflow.Done)
	if done.Account == nil || done.Account.State != "unverified" || done.AccountGUID == "" {
		t.Fatalf("done snapshot = %+v", done)
	}
	accts := r.Sim.Cybrid.Accounts(cust)
	if len(accts) != 1 || accts[0].GUID != done.AccountGUID || accts[0].PlaidAccountID != meta.Accounts[0].ID {
		t.Fatalf("simulator accounts = %+v, want the one the attempt made", accts)
	}
	// No snapshot or event carries the public token.
	for _, ev := range r.Events() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), pub) {
			t.Errorf("event carries the public token: %s", b)
		}
	}
	if b, _ := json.Marshal(done); strings.Contains(string(b), pub) {
		t.Error("the attempt snapshot carries the public token")
	}
	r.CheckContract()
}

func TestMoreThanOneAccountIsRefusedBeforeAnyPost(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief}, linkflow.Settings{LinkCustomizationName: "multi_account"})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	a, _ := r.Flow.StartLink(cust)
	open := r.Until(a.ID, linkflow.LinkOpen)
	pub, meta := r.LinkInPlaid(open.LinkToken, 0, 1)
	if len(meta.Accounts) != 2 {
		t.Fatalf("Link returned %d accounts, want 2 for this test", len(meta.Accounts))
	}
	r.Flow.Success(a.ID, pub, meta)
	failed := r.Until(a.ID, linkflow.Failed)
	if failed.Code != "account_count" || !strings.Contains(failed.Error, "exactly one account") {
		t.Errorf("refusal = %s: %s", failed.Code, failed.Error)
	}
	wantProblem(t, failed, problem.Plaid, "exactly one account")
	if n := r.Sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]; n != 0 {
		t.Errorf("%d accounts posted for a refused selection", n)
	}
}

func TestFailedWorkflowEndsWithItsFailureCode(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief}, linkflow.Settings{})
	sc := r.Sim.Cybrid.Scenario()
	sc.WorkflowFailureCode = "plaid_failure"
	r.Sim.Cybrid.SetScenario(sc)
	a, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	f := r.Until(a.ID, linkflow.Failed)
	if f.Code != "plaid_failure" || !strings.Contains(f.Error, "plaid_failure") || !strings.Contains(f.Error, f.WorkflowGUID) {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.CybridFailure, "Try again")
	r.CheckContract()
}

func TestWorkflowDeadline(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newRig(t, sim.Options{WorkflowDelay: 5 * time.Second}, linkflow.Settings{WorkflowTimeout: 700 * time.Millisecond})
	a, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	f := r.Until(a.ID, linkflow.Failed)
	if f.Code != "timeout" || !strings.Contains(f.Error, "within 700ms") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.CybridFailure, "within 700ms")
}

func TestFailedAccountIsExplained(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief}, linkflow.Settings{})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	link := func() linkflow.Attempt {
		a, _ := r.Flow.StartLink(cust)
		open := r.Until(a.ID, linkflow.LinkOpen)
		pub, meta := r.LinkInPlaid(open.LinkToken)
		r.Flow.Success(a.ID, pub, meta)
		return a
	}
	r.Until(link().ID, linkflow.Done)
	// The same bank account again is a duplicate.
	f := r.Until(link().ID, linkflow.Failed)
	if f.Code != "duplicate" || !strings.Contains(f.Error, "already linked") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.Refused, "already linked")
}

func TestExitSaysWhereTheCustomerLeft(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief}, linkflow.Settings{})
	a, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	r.Until(a.ID, linkflow.LinkOpen)
	status := "requires_credentials"
	if err := r.Flow.Exit(a.ID, nil, linkflow.ExitMetadata{Status: &status, Institution: &linkflow.Institution{Name: "First Platypus Bank", InstitutionID: "ins_109508"}}); err != nil {
		t.Fatal(err)
	}
	e := r.Until(a.ID, linkflow.Exited)
	if e.ExitStatus != status || !strings.Contains(e.Error, "bank sign-in") {
		t.Errorf("exit = %s: %s", e.ExitStatus, e.Error)
	}
	if e.Problem != nil {
		t.Errorf("a customer who left Link is not a problem: %+v", e.Problem)
	}
	if err := r.Flow.Success(a.ID, "public-sandbox-x", linkflow.SuccessMetadata{}); err == nil {
		t.Error("onSuccess after the attempt ended was accepted")
	}
	// The same status before a bank was chosen (the consent pane).
	c, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	r.Until(c.ID, linkflow.LinkOpen)
	r.Flow.Exit(c.ID, nil, linkflow.ExitMetadata{Status: &status})
	if e := r.Until(c.ID, linkflow.Exited); !strings.Contains(e.Error, "before choosing a bank") {
		t.Errorf("exit at consent: %s", e.Error)
	}
	// A Plaid error in onExit fails the attempt with Plaid's code.
	b, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[0].GUID)
	r.Until(b.ID, linkflow.LinkOpen)
	r.Flow.Exit(b.ID, &linkflow.LinkError{ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_LINK_TOKEN", ErrorMessage: "expired"}, linkflow.ExitMetadata{})
	f := r.Until(b.ID, linkflow.Failed)
	if f.Code != "INVALID_LINK_TOKEN" || !strings.Contains(f.Error, "Start again") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	wantProblem(t, f, problem.Plaid, "Start again")
}

func TestRefreshPatchesTheAccountOutOfRefreshRequired(t *testing.T) {
	r := newRig(t, sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief}, linkflow.Settings{})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	a, _ := r.Flow.StartLink(cust)
	open := r.Until(a.ID, linkflow.LinkOpen)
	pub, meta := r.LinkInPlaid(open.LinkToken)
	r.Flow.Success(a.ID, pub, meta)
	done := r.Until(a.ID, linkflow.Done)
	if err := r.Sim.Cybrid.ExpireConnection(done.AccountGUID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Flow.StartRefresh(cust, "nothex"); err == nil {
		t.Error("StartRefresh accepted a malformed account GUID")
	}
	ref, err := r.Flow.StartRefresh(cust, done.AccountGUID)
	if err != nil {
		t.Fatal(err)
	}
	open = r.Until(ref.ID, linkflow.LinkOpen)
	pub, meta = r.LinkInPlaid(open.LinkToken)
	r.Flow.Success(ref.ID, pub, meta)
	fin := r.Until(ref.ID, linkflow.Done)
	acct, _ := r.Sim.Cybrid.Account(done.AccountGUID)
	if acct.State == "refresh_required" || fin.Account.State != acct.State {
		t.Errorf("after update mode: simulator %s, attempt %s", acct.State, fin.Account.State)
	}
	var kinds []string
	for _, w := range r.Sim.Cybrid.Workflows() {
		if w.ExternalBankAccountGUID == done.AccountGUID {
			kinds = append(kinds, w.Kind)
		}
	}
	if len(kinds) != 1 || kinds[0] != "link_token_update" {
		t.Errorf("workflows for the account: %v, want one link_token_update", kinds)
	}
	if n := len(r.Sim.Cybrid.Accounts(cust)); n != 1 {
		t.Errorf("update mode created accounts: the customer has %d", n)
	}
	r.CheckContract()
}

func TestStartValidatesTheCustomerGUID(t *testing.T) {
	r := newRig(t, sim.Options{}, linkflow.Settings{})
	for _, bad := range []string{"", "ABC", strings.Repeat("g", 32), strings.Repeat("A", 32)} {
		if _, err := r.Flow.StartLink(bad); err == nil || !strings.Contains(err.Error(), "32 lowercase hexadecimal") {
			t.Errorf("StartLink(%q) = %v", bad, err)
		}
	}
}
