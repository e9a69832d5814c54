package linkflow_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// The link flow over the real client against the real simulator on
// loopback, with the simulator injecting faults. Short per-request timeouts
// and backoff keep it fast.

const flowRequestTimeout = 250 * time.Millisecond

func newFaultFlowRig(t *testing.T, settings linkflow.Settings) *rig {
	t.Helper()
	return newFaultFlowRigOn(t, startFaultSim(t), settings, nil)
}

func startFaultSim(t *testing.T) *sim.Sim {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newFaultFlowRigOn is a flow (one linkdesk) on the simulator s; also, when
// not nil, observes its attempts first (e.g. a journal). No contract
// checking here: faulted answers (a 502 page, cut JSON) are not in the spec
// on purpose.
func newFaultFlowRigOn(t *testing.T, s *sim.Sim, settings linkflow.Settings, also linkflow.Observer) *rig {
	t.Helper()
	return &rig{t: t, Rig: flowrig.New(t, flowrig.Options{On: s, Settings: settings, Observe: also, OffSpec: true,
		Client: func(o *cybrid.Options) {
			o.RequestTimeout = flowRequestTimeout
			o.Retry = cybrid.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
		}})}
}

// faults injects fs (a slow fault holds its answer 1.5 s unless it says).
func (r *rig) faults(fs ...cybridsim.Fault) {
	r.t.Helper()
	for i := range fs {
		if fs[i].Kind == cybridsim.FaultSlow && fs[i].Delay == 0 {
			fs[i].Delay = 1500 * time.Millisecond
		}
	}
	r.Faults(fs...)
}

// toSuccess starts a link for the first customer, goes through Link and
// hands onSuccess to the flow.
func (r *rig) toSuccess() (linkflow.Attempt, string) {
	r.t.Helper()
	cust := r.Customer()
	return r.ToSuccess(cust), cust
}

func (r *rig) posts() int {
	return r.Sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]
}

// oneLiveAccount checks that the simulator holds exactly one account for
// the customer, not failed, and that it is the attempt's.
func (r *rig) oneLiveAccount(cust string, done linkflow.Attempt) {
	r.t.Helper()
	accts := r.Sim.Cybrid.Accounts(cust)
	if len(accts) != 1 {
		var states []string
		for _, a := range accts {
			states = append(states, a.State+"/"+a.FailureCode)
		}
		r.t.Fatalf("the simulator holds %d accounts for the customer (%v), want exactly 1", len(accts), states)
	}
	if accts[0].GUID != done.AccountGUID || accts[0].State == "failed" {
		r.t.Fatalf("account %+v; the attempt has %s", accts[0], done.AccountGUID)
	}
}

// TestAmbiguousAccountPostNeverDuplicates: every fault on POST
// /api/external_bank_accounts, before and after the server created the
// account. The attempt ends done with exactly one account; after a fault
// that left the outcome unknown, the customer's accounts were listed before
// anything was sent again, and an account the faulted POST created was
// adopted instead of POSTed twice.
func TestAmbiguousAccountPostNeverDuplicates(t *testing.T) {
	cases := []struct {
		kind   cybridsim.FaultKind
		commit bool
	}{
		{cybridsim.Fault500, false}, {cybridsim.Fault500, true},
		{cybridsim.Fault502, false}, {cybridsim.Fault502, true},
		{cybridsim.Fault503, false}, {cybridsim.Fault503, true},
		{cybridsim.FaultReset, false}, {cybridsim.FaultReset, true},
		{cybridsim.FaultSlow, false}, {cybridsim.FaultSlow, true},
		{cybridsim.FaultMalformed, false}, {cybridsim.FaultMalformed, true},
		{cybridsim.FaultRateLimited, false},
		{cybridsim.FaultUnauthorized, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/commit=%v", tc.kind, tc.commit), func(t *testing.T) {
			t.Parallel()
			r := newFaultFlowRig(t, linkflow.Settings{})
			r.faults(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: tc.kind, Times: 1, Commit: tc.commit})
			a, cust := r.toSuccess()
			done := r.Until(a.ID, linkflow.Done)
			r.oneLiveAccount(cust, done)
			ambiguous := tc.kind != cybridsim.FaultRateLimited && tc.kind != cybridsim.FaultUnauthorized
			listed := r.Sim.Cybrid.Stats().ByRoute["GET /api/external_bank_accounts"]
			switch {
			case ambiguous && tc.commit:
				// The account the faulted POST created is the one; no second POST.
				if r.posts() != 1 || listed == 0 || !r.HasEvent("reconcile", "Found the account") {
					t.Errorf("posts %d, lists %d: the created account was not found by listing", r.posts(), listed)
				}
			case ambiguous:
				// Nothing was created: listed, then POSTed again.
				if r.posts() != 2 || listed == 0 || !r.HasEvent("reconcile", "safe to send it again") {
					t.Errorf("posts %d, lists %d: want a list, then a second POST", r.posts(), listed)
				}
			default:
				// 429/401: certainly not processed; the client retried the POST
				// itself, nothing to reconcile.
				if r.posts() != 2 || listed != 0 {
					t.Errorf("posts %d, lists %d: want the client's own retry and no listing", r.posts(), listed)
				}
			}
		})
	}
}

// TestAccountRetryByOperator: POSTs keep failing; after one automatic retry
// the attempt waits in account_retry with the public token kept, and the
// operator's RetryAccount links the account without Link.
func TestAccountRetryByOperator(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	r.faults(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.Fault503}) // every POST
	a, cust := r.toSuccess()
	wait := r.Until(a.ID, linkflow.AccountRetry)
	if wait.Code != linkflow.CodeAccountNotCreated || !strings.Contains(wait.Error, "Retry account creation") ||
		!strings.Contains(wait.Error, "without sending the customer through Link") {
		t.Errorf("account_retry = %s: %s", wait.Code, wait.Error)
	}
	wantProblem(t, wait, problem.CybridFailure, "choose Retry account creation")
	if wait.Problem.Action != problem.RetryAccount || !strings.Contains(wait.Problem.Fix, "503") {
		t.Errorf("account_retry problem: %+v, want the retry_account action and the 503 as its cause", wait.Problem)
	}
	if r.posts() != 2 || len(r.Sim.Cybrid.Accounts(cust)) != 0 {
		t.Fatalf("posts %d, accounts %d: want the first POST and one automatic retry, nothing created", r.posts(), len(r.Sim.Cybrid.Accounts(cust)))
	}
	if dl, ok := r.Flow.RetryDeadline(a.ID); !ok || time.Until(dl) < 29*time.Minute || time.Until(dl) > 30*time.Minute {
		t.Errorf("retry deadline %v (%v from now), want ~30 minutes", dl, time.Until(dl))
	}
	r.Sim.Cybrid.ClearFaults()
	if err := r.Flow.RetryAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	done := r.Until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if err := r.Flow.RetryAccount(a.ID); err == nil || !strings.Contains(err.Error(), "account_retry") {
		t.Errorf("RetryAccount on a done attempt: %v", err)
	}
}

// TestReconcileFailureWaitsForTheOperator: the POST's answer is lost and
// the listing fails too: nothing is sent again until a check succeeds; the
// operator's retry then finds the account the lost POST created.
func TestReconcileFailureWaitsForTheOperator(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	r.faults(
		cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultReset, Times: 1, Commit: true},
		cybridsim.Fault{Route: "GET /api/external_bank_accounts", Kind: cybridsim.Fault502}, // every listing
	)
	a, cust := r.toSuccess()
	wait := r.Until(a.ID, linkflow.AccountRetry)
	if wait.Code != linkflow.CodeOutcomeUnknown || !strings.Contains(wait.Error, "Nothing is sent again") {
		t.Errorf("account_retry = %s: %s", wait.Code, wait.Error)
	}
	wantProblem(t, wait, problem.CybridFailure, "choose Retry account creation")
	if r.posts() != 1 {
		t.Fatalf("%d POSTs while the outcome was unknown, want 1", r.posts())
	}
	r.Sim.Cybrid.ClearFaults()
	if err := r.Flow.RetryAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	done := r.Until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if r.posts() != 1 {
		t.Errorf("%d POSTs, want 1: the retry must find the account, not create another", r.posts())
	}
}

// TestPublicTokenExpiryEndsTheRetryWindow: in account_retry the attempt
// fails when the public token expires, saying to link again.
func TestPublicTokenExpiryEndsTheRetryWindow(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newFaultFlowRig(t, linkflow.Settings{PublicTokenLifetime: 2 * time.Second})
	r.faults(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultReset})
	a, cust := r.toSuccess()
	r.Until(a.ID, linkflow.AccountRetry)
	f := r.Until(a.ID, linkflow.Failed)
	if f.Code != linkflow.CodePublicTokenExpired || !strings.Contains(f.Error, "Link again") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	if err := r.Flow.RetryAccount(a.ID); err == nil {
		t.Error("RetryAccount accepted after the public token expired")
	}
	if n := len(r.Sim.Cybrid.Accounts(cust)); n != 0 {
		t.Errorf("%d accounts", n)
	}
}

// TestWorkflowAndAccountGetsRideOutFaults: two faults in a row on every GET
// the flow polls (workflow, account) still end in done. (One 401 only: a
// second 401 in a row means the API refuses a fresh token, a real error.)
func TestWorkflowAndAccountGetsRideOutFaults(t *testing.T) {
	for _, kind := range []cybridsim.FaultKind{cybridsim.Fault500, cybridsim.Fault502, cybridsim.Fault503, cybridsim.FaultReset,
		cybridsim.FaultSlow, cybridsim.FaultMalformed, cybridsim.FaultRateLimited, cybridsim.FaultUnauthorized} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			r := newFaultFlowRig(t, linkflow.Settings{})
			times := 2
			if kind == cybridsim.FaultUnauthorized || kind == cybridsim.FaultRateLimited {
				times = 1 // see above; and each 429 costs a 1 s Retry-After
			}
			r.faults(
				cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: kind, Times: times},
				cybridsim.Fault{Route: "GET /api/external_bank_accounts/{guid}", Kind: kind, Times: times},
			)
			a, cust := r.toSuccess()
			done := r.Until(a.ID, linkflow.Done)
			r.oneLiveAccount(cust, done)
			for _, fs := range r.Sim.Cybrid.Faults() {
				if fs.Applied != times {
					t.Errorf("%s on %s applied %d times, want %d", fs.Kind, fs.Route, fs.Applied, times)
				}
			}
		})
	}
}

// TestUnauthorizedMidFlowOneNewToken: the token is revoked while the flow
// polls the workflow; exactly one more token request follows.
func TestUnauthorizedMidFlowOneNewToken(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	r.faults(cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: cybridsim.FaultUnauthorized, Times: 1})
	a, cust := r.toSuccess()
	done := r.Until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if n := r.Sim.Cybrid.Stats().TokenRequests; n != 2 {
		t.Errorf("%d token requests, want 2 (the first and exactly one after the revocation)", n)
	}
}

// TestWorkflowPostFaults: a lost answer to POST /api/workflows makes the
// flow create a new workflow (a spare one is harmless); the link still
// completes.
func TestWorkflowPostFaults(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newFaultFlowRig(t, linkflow.Settings{})
	r.faults(cybridsim.Fault{Route: "POST /api/workflows", Kind: cybridsim.FaultReset, Times: 1, Commit: true},
		cybridsim.Fault{Route: "POST /oauth/token", Kind: cybridsim.Fault502, Times: 1})
	a, cust := r.toSuccess()
	done := r.Until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if n := len(r.Sim.Cybrid.Workflows()); n != 2 {
		t.Errorf("%d workflows, want 2 (the one whose answer was lost, and the new one)", n)
	}
	if !r.HasEvent("retry", "creating a new one") {
		t.Error("no event says a new workflow was created")
	}
	if n := r.Sim.Cybrid.Stats().TokenRequests; n != 2 {
		t.Errorf("%d token requests, want 2 (one 502, one good)", n)
	}
}

// TestRefreshPatchIsRetried: PATCH state=completed after update mode is
// idempotent, so a lost answer (the server applied it, then reset the
// connection) is simply sent again.
func TestRefreshPatchIsRetried(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	a, cust := r.toSuccess()
	done := r.Until(a.ID, linkflow.Done)
	if err := r.Sim.Cybrid.ExpireConnection(done.AccountGUID); err != nil {
		t.Fatal(err)
	}
	r.faults(cybridsim.Fault{Route: "PATCH /api/external_bank_accounts/{guid}", Kind: cybridsim.FaultReset, Times: 1, Commit: true})
	ref, err := r.Flow.StartRefresh(cust, done.AccountGUID)
	if err != nil {
		t.Fatal(err)
	}
	open := r.Until(ref.ID, linkflow.LinkOpen)
	pub, meta := r.LinkInPlaid(open.LinkToken)
	r.Flow.Success(ref.ID, pub, meta)
	fin := r.Until(ref.ID, linkflow.Done)
	acct, _ := r.Sim.Cybrid.Account(done.AccountGUID)
	if acct.State == "refresh_required" || fin.Account.State != acct.State {
		t.Errorf("after update mode: simulator %s, attempt %s", acct.State, fin.Account.State)
	}
	if n := r.Sim.Cybrid.Stats().ByRoute["PATCH /api/external_bank_accounts/{guid}"]; n != 2 {
		t.Errorf("%d PATCHes, want 2 (the one whose answer was lost, and its retry)", n)
	}
	if n := len(r.Sim.Cybrid.Accounts(cust)); n != 1 {
		t.Errorf("%d accounts", n)
	}
}

// TestLostPostNeverAdoptsAnotherAttemptsAccount is issue 9, item 4: link
// customer C (account A); within ClockSkew link C again with the same bank
// account while the POST's answer is lost after Cybrid created account B
// (502 after commit) and the listing that would check fails six times (the
// client's four tries of the automatic check, then two of the operator's
// retry). Cybrid fails B as a duplicate of A. The operator's Retry account
// creation must report B's duplicate — never "linked" as A, which the first
// attempt owns.
func TestLostPostNeverAdoptsAnotherAttemptsAccount(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	first, cust := r.toSuccess()
	linked := r.Until(first.ID, linkflow.Done)
	guidA := linked.AccountGUID

	r.faults(
		cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.Fault502, Times: 1, Commit: true},
		cybridsim.Fault{Route: "GET /api/external_bank_accounts", Kind: cybridsim.Fault500, Times: 6},
	)
	second, _ := r.toSuccess()
	wait := r.Until(second.ID, linkflow.AccountRetry)
	if wait.Code != linkflow.CodeOutcomeUnknown || wait.AccountGUID != "" {
		t.Fatalf("account_retry = %s, account %q: %s; want outcome_unknown with no account", wait.Code, wait.AccountGUID, wait.Error)
	}
	accts := r.Sim.Cybrid.Accounts(cust)
	if len(accts) != 2 {
		t.Fatalf("the simulator holds %d accounts for the customer, want 2 (A, and B from the lost POST)", len(accts))
	}
	var a, b cybridsim.Account
	for _, x := range accts {
		if x.GUID == guidA {
			a = x
		} else {
			b = x
		}
	}
	if a.GUID == "" || b.GUID == "" {
		t.Fatalf("accounts %+v: the first attempt's %s is not among them", accts, guidA)
	}
	// The premise of the defect: A is recent enough to pass the matching
	// rule's clock-skew window, and looks like B (same name, bank, mask).
	if b.CreatedAt.Sub(a.CreatedAt) >= linkflow.ClockSkew || a.Name != b.Name || a.InstitutionID != b.InstitutionID || a.Mask != b.Mask {
		t.Fatalf("A %+v and B %+v do not reproduce the issue (same bank account within %s)", a, b, linkflow.ClockSkew)
	}

	if err := r.Flow.RetryAccount(second.ID); err != nil {
		t.Fatal(err)
	}
	end := r.Until(second.ID, linkflow.Failed)
	if end.AccountGUID == guidA || end.Account != nil && end.Account.GUID == guidA {
		t.Fatalf("the retry adopted A (%s), the first attempt's account: %s %s", guidA, end.Code, end.Error)
	}
	if end.Code != "duplicate" || end.AccountGUID != b.GUID || end.Account == nil || end.Account.GUID != b.GUID ||
		end.Account.FailureCode != "duplicate" || !strings.Contains(end.Error, "already linked") {
		t.Errorf("attempt ended %s with account %s (%+v): %s; want B %s failed duplicate", end.Code, end.AccountGUID, end.Account, end.Error, b.GUID)
	}
	if got, _ := r.Sim.Cybrid.Account(b.GUID); got.State != "failed" || got.FailureCode != "duplicate" {
		t.Errorf("the simulator's B is %s/%s, want failed/duplicate", got.State, got.FailureCode)
	}
	if r.posts() != 2 {
		t.Errorf("%d POSTs, want 2 (A's, and the one whose answer was lost): the retry must not send another", r.posts())
	}
	for _, fs := range r.Sim.Cybrid.Faults() {
		if fs.Remaining != 0 {
			t.Errorf("fault %s on %s applied %d times, %d left: the sequence did not run as in the issue", fs.Kind, fs.Route, fs.Applied, fs.Remaining)
		}
	}
	if still, _ := r.Flow.Get(first.ID); still.State != linkflow.Done || still.AccountGUID != guidA {
		t.Errorf("the first attempt is now %s with %s", still.State, still.AccountGUID)
	}
}

// TestLostPostAfterRestartNeverAdoptsAJournaledAccount: as above, but the
// first link (account A) was made before linkdesk restarted, so the flow
// that retries does not know it; the journal does, and Settings.Claimed
// wired to journal.Claims (as the app wires it) keeps A out.
func TestLostPostAfterRestartNeverAdoptsAJournaledAccount(t *testing.T) {
	s := startFaultSim(t)
	dir := t.TempDir()
	openJournal := func() *journal.Journal {
		t.Helper()
		j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: s.BankURL})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	j := openJournal()
	before := newFaultFlowRigOn(t, s, linkflow.Settings{}, j.Observe)
	first, cust := before.toSuccess()
	guidA := before.Until(first.ID, linkflow.Done).AccountGUID
	before.Flow.Close()
	j.Close()

	j = openJournal() // the restart
	defer j.Close()
	r := newFaultFlowRigOn(t, s, linkflow.Settings{Claimed: j.Claims}, j.Observe)
	r.faults(
		cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.Fault502, Times: 1, Commit: true},
		cybridsim.Fault{Route: "GET /api/external_bank_accounts", Kind: cybridsim.Fault500, Times: 6},
	)
	second, _ := r.toSuccess()
	r.Until(second.ID, linkflow.AccountRetry)
	if err := r.Flow.RetryAccount(second.ID); err != nil {
		t.Fatal(err)
	}
	end := r.Until(second.ID, linkflow.Failed)
	var guidB string
	for _, x := range r.Sim.Cybrid.Accounts(cust) {
		if x.GUID != guidA {
			guidB = x.GUID
		}
	}
	if end.AccountGUID == guidA || end.Code != "duplicate" || guidB == "" || end.AccountGUID != guidB {
		t.Errorf("attempt ended %s with account %s; want B %s failed duplicate, never A %s", end.Code, end.AccountGUID, guidB, guidA)
	}
	if r.posts() != 2 {
		t.Errorf("%d POSTs, want 2", r.posts())
	}
}

// TestSeveralCandidatesAreNotGuessed: another linkdesk (its own journal:
// nothing here claims its account) links the same bank account for the
// customer, slowly; while both accounts are storing (Cybrid shows neither
// bank nor mask yet) this linkdesk's POST loses its answer. Two accounts
// could be the POST's: the attempt waits in account_retry naming both, and
// neither the automatic check nor the operator's retry sends anything or
// picks one.
func TestSeveralCandidatesAreNotGuessed(t *testing.T) {
	s := startFaultSim(t)
	sc := s.Cybrid.Scenario()
	sc.AccountDelay = 3 * time.Second
	s.Cybrid.SetScenario(sc)

	other := newFaultFlowRigOn(t, s, linkflow.Settings{}, nil)
	oa, cust := other.toSuccess()
	guidA := other.Until(oa.ID, linkflow.WaitingForAccount).AccountGUID

	r := newFaultFlowRigOn(t, s, linkflow.Settings{}, nil)
	r.faults(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.Fault502, Times: 1, Commit: true})
	a, _ := r.toSuccess()
	wait := r.Until(a.ID, linkflow.AccountRetry)
	var guidB string
	for _, x := range r.Sim.Cybrid.Accounts(cust) {
		if x.GUID != guidA {
			guidB = x.GUID
		}
	}
	check := func(when string, w linkflow.Attempt) {
		t.Helper()
		if w.Code != linkflow.CodeAmbiguousAccount || w.AccountGUID != "" || !strings.Contains(w.Error, guidA) ||
			!strings.Contains(w.Error, guidB) || !strings.Contains(w.Error, "does not guess") || !strings.Contains(w.Error, "Retry account creation") {
			t.Errorf("%s: account_retry = %s, account %q: %s; want ambiguous_account naming %s and %s", when, w.Code, w.AccountGUID, w.Error, guidA, guidB)
		}
		if n := r.posts(); n != 2 {
			t.Errorf("%s: %d POSTs, want 2 (the other linkdesk's and the one whose answer was lost)", when, n)
		}
	}
	check("after the automatic check", wait)
	if err := r.Flow.RetryAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	r.Until(a.ID, linkflow.CreatingAccount)
	check("after the operator's retry", r.Until(a.ID, linkflow.AccountRetry))
	if err := r.Flow.Cancel(a.ID); err != nil {
		t.Fatal(err)
	}
}
