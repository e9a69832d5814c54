package linkflow_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// The link flow over the real client against the real simulator on
// loopback, with the simulator injecting faults. Short per-request timeouts
// and backoff keep it fast.

const flowRequestTimeout = 250 * time.Millisecond

func newFaultFlowRig(t *testing.T, settings linkflow.Settings) *rig {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{t: t, sim: s, snaps: make(chan linkflow.Attempt, 1000)}
	// No contract transport here: faulted answers (a 502 page, cut JSON)
	// are not in the spec on purpose.
	c, err := cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		RequestTimeout: flowRequestTimeout, Retry: cybrid.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	settings.Language, settings.Asset, settings.LinkCustomizationName = "en", "USD", "default"
	settings.PollInitial, settings.PollMax = 20*time.Millisecond, 100*time.Millisecond
	if settings.ReconcileDelay == 0 {
		settings.ReconcileDelay = 50 * time.Millisecond
	}
	r.flow = linkflow.New(c, settings, slog.New(slog.DiscardHandler), func(a linkflow.Attempt, ev linkflow.Event) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.snaps <- a
	})
	t.Cleanup(r.flow.Close)
	return r
}

func (r *rig) faults(fs ...cybridsim.Fault) {
	r.t.Helper()
	for i := range fs {
		if fs[i].Kind == cybridsim.FaultSlow && fs[i].Delay == 0 {
			fs[i].Delay = 1500 * time.Millisecond
		}
	}
	if err := r.sim.Cybrid.SetFaults(fs); err != nil {
		r.t.Fatal(err)
	}
}

// toSuccess starts a link for the first customer, goes through Link and
// hands onSuccess to the flow.
func (r *rig) toSuccess() (linkflow.Attempt, string) {
	r.t.Helper()
	cust := r.sim.Cybrid.Customers()[0].GUID
	a, err := r.flow.StartLink(cust)
	if err != nil {
		r.t.Fatal(err)
	}
	open := r.until(a.ID, linkflow.LinkOpen)
	pub, meta := r.linkInPlaid(open.LinkToken, 1)
	if err := r.flow.Success(a.ID, pub, meta); err != nil {
		r.t.Fatal(err)
	}
	return a, cust
}

func (r *rig) posts() int {
	return r.sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]
}

func (r *rig) hasEvent(typ, contains string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Type == typ && strings.Contains(ev.Message, contains) {
			return true
		}
	}
	return false
}

// oneLiveAccount checks that the simulator holds exactly one account for
// the customer, not failed, and that it is the attempt's.
func (r *rig) oneLiveAccount(cust string, done linkflow.Attempt) {
	r.t.Helper()
	accts := r.sim.Cybrid.Accounts(cust)
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
			done := r.until(a.ID, linkflow.Done)
			r.oneLiveAccount(cust, done)
			ambiguous := tc.kind != cybridsim.FaultRateLimited && tc.kind != cybridsim.FaultUnauthorized
			listed := r.sim.Cybrid.Stats().ByRoute["GET /api/external_bank_accounts"]
			switch {
			case ambiguous && tc.commit:
				// The account the faulted POST created is the one; no second POST.
				if r.posts() != 1 || listed == 0 || !r.hasEvent("reconcile", "Found the account") {
					t.Errorf("posts %d, lists %d: the created account was not found by listing", r.posts(), listed)
				}
			case ambiguous:
				// Nothing was created: listed, then POSTed again.
				if r.posts() != 2 || listed == 0 || !r.hasEvent("reconcile", "safe to send it again") {
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
	wait := r.until(a.ID, linkflow.AccountRetry)
	if wait.Code != linkflow.CodeAccountNotCreated || !strings.Contains(wait.Error, "Retry account creation") ||
		!strings.Contains(wait.Error, "without sending the customer through Link") {
		t.Errorf("account_retry = %s: %s", wait.Code, wait.Error)
	}
	if r.posts() != 2 || len(r.sim.Cybrid.Accounts(cust)) != 0 {
		t.Fatalf("posts %d, accounts %d: want the first POST and one automatic retry, nothing created", r.posts(), len(r.sim.Cybrid.Accounts(cust)))
	}
	if dl, ok := r.flow.RetryDeadline(a.ID); !ok || time.Until(dl) < 29*time.Minute || time.Until(dl) > 30*time.Minute {
		t.Errorf("retry deadline %v (%v from now), want ~30 minutes", dl, time.Until(dl))
	}
	r.sim.Cybrid.ClearFaults()
	if err := r.flow.RetryAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	done := r.until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if err := r.flow.RetryAccount(a.ID); err == nil || !strings.Contains(err.Error(), "account_retry") {
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
	wait := r.until(a.ID, linkflow.AccountRetry)
	if wait.Code != linkflow.CodeOutcomeUnknown || !strings.Contains(wait.Error, "Nothing is sent again") {
		t.Errorf("account_retry = %s: %s", wait.Code, wait.Error)
	}
	if r.posts() != 1 {
		t.Fatalf("%d POSTs while the outcome was unknown, want 1", r.posts())
	}
	r.sim.Cybrid.ClearFaults()
	if err := r.flow.RetryAccount(a.ID); err != nil {
		t.Fatal(err)
	}
	done := r.until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if r.posts() != 1 {
		t.Errorf("%d POSTs, want 1: the retry must find the account, not create another", r.posts())
	}
}

// TestPublicTokenExpiryEndsTheRetryWindow: in account_retry the attempt
// fails when the public token expires, saying to link again.
func TestPublicTokenExpiryEndsTheRetryWindow(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{PublicTokenLifetime: 2 * time.Second})
	r.faults(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultReset})
	a, cust := r.toSuccess()
	r.until(a.ID, linkflow.AccountRetry)
	f := r.until(a.ID, linkflow.Failed)
	if f.Code != linkflow.CodePublicTokenExpired || !strings.Contains(f.Error, "Link again") {
		t.Errorf("failure = %s: %s", f.Code, f.Error)
	}
	if err := r.flow.RetryAccount(a.ID); err == nil {
		t.Error("RetryAccount accepted after the public token expired")
	}
	if n := len(r.sim.Cybrid.Accounts(cust)); n != 0 {
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
			done := r.until(a.ID, linkflow.Done)
			r.oneLiveAccount(cust, done)
			for _, fs := range r.sim.Cybrid.Faults() {
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
	done := r.until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if n := r.sim.Cybrid.Stats().TokenRequests; n != 2 {
		t.Errorf("%d token requests, want 2 (the first and exactly one after the revocation)", n)
	}
}

// TestWorkflowPostFaults: a lost answer to POST /api/workflows makes the
// flow create a new workflow (a spare one is harmless); the link still
// completes.
func TestWorkflowPostFaults(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	r.faults(cybridsim.Fault{Route: "POST /api/workflows", Kind: cybridsim.FaultReset, Times: 1, Commit: true},
		cybridsim.Fault{Route: "POST /oauth/token", Kind: cybridsim.Fault502, Times: 1})
	a, cust := r.toSuccess()
	done := r.until(a.ID, linkflow.Done)
	r.oneLiveAccount(cust, done)
	if n := len(r.sim.Cybrid.Workflows()); n != 2 {
		t.Errorf("%d workflows, want 2 (the one whose answer was lost, and the new one)", n)
	}
	if !r.hasEvent("retry", "creating a new one") {
		t.Error("no event says a new workflow was created")
	}
	if n := r.sim.Cybrid.Stats().TokenRequests; n != 2 {
		t.Errorf("%d token requests, want 2 (one 502, one good)", n)
	}
}

// TestRefreshPatchIsRetried: PATCH state=completed after update mode is
// idempotent, so a lost answer (the server applied it, then reset the
// connection) is simply sent again.
func TestRefreshPatchIsRetried(t *testing.T) {
	r := newFaultFlowRig(t, linkflow.Settings{})
	a, cust := r.toSuccess()
	done := r.until(a.ID, linkflow.Done)
	if err := r.sim.Cybrid.ExpireConnection(done.AccountGUID); err != nil {
		t.Fatal(err)
	}
	r.faults(cybridsim.Fault{Route: "PATCH /api/external_bank_accounts/{guid}", Kind: cybridsim.FaultReset, Times: 1, Commit: true})
	ref, err := r.flow.StartRefresh(cust, done.AccountGUID)
	if err != nil {
		t.Fatal(err)
	}
	open := r.until(ref.ID, linkflow.LinkOpen)
	pub, meta := r.linkInPlaid(open.LinkToken, 1)
	r.flow.Success(ref.ID, pub, meta)
	fin := r.until(ref.ID, linkflow.Done)
	acct, _ := r.sim.Cybrid.Account(done.AccountGUID)
	if acct.State == "refresh_required" || fin.Account.State != acct.State {
		t.Errorf("after update mode: simulator %s, attempt %s", acct.State, fin.Account.State)
	}
	if n := r.sim.Cybrid.Stats().ByRoute["PATCH /api/external_bank_accounts/{guid}"]; n != 2 {
		t.Errorf("%d PATCHes, want 2 (the one whose answer was lost, and its retry)", n)
	}
	if n := len(r.sim.Cybrid.Accounts(cust)); n != 1 {
		t.Errorf("%d accounts", n)
	}
}
