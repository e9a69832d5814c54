// Package flowrig is the tests' one rig for linkdesk's link flow: the real
// Cybrid client (app/cybrid) and the real linkflow.Flow, wired as the app
// wires them, against the built-in simulator (app/sim) on loopback, with
// the simulated Link reached through simlink. The tests of the flow
// (app/linkflow) and of what observes it (app/timeline, app/journal) build
// it instead of their own.
//
// What the rig guarantees:
//
//   - Every snapshot the flow reports is recorded, per attempt and in order;
//     Until waits for an attempt to reach a state without missing a
//     transient one, and fails at once, saying so, when the attempt ends in
//     another state. Other attempts' snapshots are never consumed.
//   - Every Bank API exchange is validated against Cybrid's spec when the
//     spec is present (contract.Optional; with LINKDESK_REQUIRE_SPECS=1 a
//     missing spec fails the test): a violation fails the test at its end.
//     Options.OffSpec, or injecting faults (Faults), stops the checking
//     for traffic that leaves the spec on purpose.
//   - Waits are wait.ForWoken: polled, and re-checked at once on every
//     snapshot, so a test pays no poll interval for a state the flow reports.
//
// The flow's own timing (its poller's 50 ms floor and 20 polls a second,
// request timeouts, retries) runs on real time, as in the app; the rig
// changes none of it.
package flowrig

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/contract"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// Timeout bounds every wait of the rig: an attempt that has not reached a
// state by then fails the test.
const Timeout = 15 * time.Second

// Brief is a simulated delay (sim.Options.WorkflowDelay, AccountDelay) for
// a test that needs the flow to poll but not to wait: Cybrid answers the
// POST storing, so the flow polls, and its first poll — no sooner than the
// poller's floor, linkflow.MinGap — finds the workflow or account done. A
// test that needs the resource to stay storing sets a longer delay.
const Brief = time.Millisecond

// Options configure New. The zero value is a flow over a new simulator with
// the simulator's default delays.
type Options struct {
	// Sim configures the simulator New starts (unused with On).
	Sim sim.Options
	// On runs the flow on a simulator already started — another linkdesk
	// on the same Cybrid, or one that outlives this rig. New does not close
	// it. The rig itself reads only its URLs and credentials, so On may
	// stand for another process's simulator with just those set (the
	// journal's crash child); Customer then has nothing to read.
	On *sim.Sim
	// Settings are the flow's settings. Zero fields take the rig's
	// defaults: language en, asset USD, customization "default", polls
	// every 20 ms (the poller raises it to its floor) growing to 100 ms, and
	// a 50 ms pause before reconciling an unanswered POST.
	Settings linkflow.Settings
	// Client, when set, adjusts the Cybrid client's options before the
	// client is made (another BankURL, a transport, an Observer, a retry
	// policy, a request timeout). The default HTTP client times out after
	// 10 s.
	Client func(*cybrid.Options)
	// Observe, when set, sees every snapshot and event first, as the app's
	// observers do (a journal, a timeline recorder).
	Observe linkflow.Observer
	// OffSpec says the test's traffic leaves Cybrid's spec on purpose (a
	// fault injected from the start, a proxy answering for Cybrid): it is
	// not validated, and the spec is not needed.
	OffSpec bool
}

// Rig is a running flow. Its fields are the parts, for the test to use
// directly.
type Rig struct {
	Sim    *sim.Sim
	Client *cybrid.Client
	Flow   *linkflow.Flow
	// Link is the simulated Link of Sim.
	Link *simlink.Client

	t        testing.TB
	contract *contract.Transport
	changed  wait.Signal

	mu      sync.Mutex
	seen    map[string][]linkflow.Attempt // every snapshot, per attempt
	read    map[string]int                // how many of seen[id] Until consumed
	events  []linkflow.Event
	checked int // contract violations before the first fault (-1: none yet)
}

// New starts the rig; everything it started is stopped when the test ends.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	s := o.On
	if s == nil {
		var err error
		if s, err = sim.Start(o.Sim); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	r := &Rig{Sim: s, Link: simlink.New(s.PlaidURL), t: t, changed: wait.NewSignal(),
		seen: map[string][]linkflow.Attempt{}, read: map[string]int{}, checked: -1}

	co := cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	if o.Client != nil {
		o.Client(&co)
	}
	if !o.OffSpec {
		if spec := contract.Optional(t, contract.BankSpecFile); spec != nil {
			hc := *co.HTTPClient
			r.contract = &contract.Transport{Spec: spec, Base: hc.Transport}
			hc.Transport = r.contract
			co.HTTPClient = &hc
			t.Cleanup(r.reportContract)
		}
	}
	c, err := cybrid.New(co)
	if err != nil {
		t.Fatal(err)
	}
	r.Client = c

	st := o.Settings
	if st.Language == "" {
		st.Language = "en"
	}
	if st.Asset == "" {
		st.Asset = "USD"
	}
	if st.LinkCustomizationName == "" {
		st.LinkCustomizationName = "default"
	}
	if st.PollInitial == 0 {
		st.PollInitial = 20 * time.Millisecond
	}
	if st.PollMax == 0 {
		st.PollMax = 100 * time.Millisecond
	}
	if st.ReconcileDelay == 0 {
		st.ReconcileDelay = 50 * time.Millisecond
	}
	r.Flow = linkflow.New(c, st, slog.New(slog.DiscardHandler), func(a linkflow.Attempt, ev linkflow.Event) {
		if o.Observe != nil {
			o.Observe(a, ev)
		}
		r.mu.Lock()
		r.seen[a.ID] = append(r.seen[a.ID], a)
		r.events = append(r.events, ev)
		r.mu.Unlock()
		r.changed.Notify()
	})
	t.Cleanup(r.Flow.Close)
	return r
}

// Customer is the simulator's first seeded customer (verified); it needs
// the simulator itself (Sim.Cybrid).
func (r *Rig) Customer() string { return r.Sim.Cybrid.Customers()[0].GUID }

// Until waits for attempt id to reach state want and returns that
// snapshot. It reads the attempt's snapshots in order from where the last
// Until for id stopped, so a state the attempt passed through is found; a
// final state other than want fails the test at once.
func (r *Rig) Until(id string, want linkflow.State) linkflow.Attempt {
	r.t.Helper()
	var got linkflow.Attempt
	r.Eventually(fmt.Sprintf("attempt %s to reach %s", id, want), func() (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		snaps := r.seen[id]
		for r.read[id] < len(snaps) {
			a := snaps[r.read[id]]
			r.read[id]++
			if a.State == want || a.State.Final() {
				got = a
				return true, nil
			}
		}
		if len(snaps) == 0 {
			return false, fmt.Errorf("no snapshot yet")
		}
		return false, fmt.Errorf("it is %s", snaps[len(snaps)-1].State)
	})
	if got.State != want {
		r.t.Fatalf("attempt %s ended %s (%s: %s), want %s", id, got.State, got.Code, got.Error, want)
	}
	return got
}

// Eventually waits, up to Timeout, for cond to be done (see wait.For),
// checking it again at once whenever the flow reports a change.
func (r *Rig) Eventually(what string, cond func() (done bool, why error)) {
	r.t.Helper()
	wait.ForWoken(r.t, Timeout, what, r.changed, cond)
}

// Await waits, up to Timeout, until flow's attempt id satisfies ok, and
// returns it. It is the rig's wait for a flow the rig did not build (an
// environment's), polling Flow.Get; what names the awaited state.
func Await(t testing.TB, flow *linkflow.Flow, id, what string, ok func(linkflow.Attempt) bool) linkflow.Attempt {
	t.Helper()
	var a linkflow.Attempt
	wait.For(t, Timeout, fmt.Sprintf("attempt %s to be %s", id, what), func() (bool, error) {
		a, _ = flow.Get(id)
		return ok(a), fmt.Errorf("it is %s", a.State)
	})
	return a
}

// LinkInPlaid goes through the simulated Link for linkToken (simlink.Link:
// the accounts at the indexes given, the first by default) and returns the
// public token and the onSuccess metadata.
func (r *Rig) LinkInPlaid(linkToken string, accounts ...int) (string, linkflow.SuccessMetadata) {
	r.t.Helper()
	return simlink.Link(r.t, r.Sim.PlaidURL, linkToken, accounts...)
}

// ToSuccess starts a link for customer, waits for Link to open, goes
// through it choosing accounts (see LinkInPlaid) and hands onSuccess to the
// flow. It returns the attempt as StartLink did; the flow goes on to
// create the account.
func (r *Rig) ToSuccess(customer string, accounts ...int) linkflow.Attempt {
	r.t.Helper()
	a, err := r.Flow.StartLink(customer)
	if err != nil {
		r.t.Fatal(err)
	}
	open := r.Until(a.ID, linkflow.LinkOpen)
	pub, meta := r.LinkInPlaid(open.LinkToken, accounts...)
	if err := r.Flow.Success(a.ID, pub, meta); err != nil {
		r.t.Fatal(err)
	}
	return a
}

// Deliver hands the flow a Plaid callback for attempt id as the page
// delivers it (numbered, through Flow.Deliver).
func (r *Rig) Deliver(id string, cb linkflow.Callback) error {
	return r.Flow.Deliver(context.Background(), id, cb)
}

// Events returns every event the flow reported so far, in order.
func (r *Rig) Events() []linkflow.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]linkflow.Event(nil), r.events...)
}

// HasEvent reports whether an event of type typ whose message contains
// phrase was reported.
func (r *Rig) HasEvent(typ, phrase string) bool {
	for _, ev := range r.Events() {
		if ev.Type == typ && strings.Contains(ev.Message, phrase) {
			return true
		}
	}
	return false
}

// Faults injects faults into the simulated Cybrid (cybridsim.SetFaults),
// failing the test when they are refused. Faulted answers leave the spec
// on purpose: traffic from now on is not held to it.
func (r *Rig) Faults(fs ...cybridsim.Fault) {
	r.t.Helper()
	if r.contract != nil && r.checked < 0 {
		errs, _ := r.contract.Errors()
		r.mu.Lock()
		r.checked = len(errs)
		r.mu.Unlock()
	}
	if err := r.Sim.Cybrid.SetFaults(fs); err != nil {
		r.t.Fatal(err)
	}
}

// CheckContract fails the test when the spec is present and none of the
// flow's traffic so far was validated against it: for a test whose point
// includes the contract. (Violations fail every test at its end.)
func (r *Rig) CheckContract() {
	r.t.Helper()
	if r.contract == nil {
		return
	}
	if _, n := r.contract.Errors(); n == 0 {
		r.t.Fatalf("contract: no request or response was validated")
	}
}

// reportContract fails the test for every violation before the first
// injected fault.
func (r *Rig) reportContract() {
	errs, _ := r.contract.Errors()
	r.mu.Lock()
	if r.checked >= 0 {
		errs = errs[:r.checked]
	}
	r.mu.Unlock()
	for _, e := range errs {
		r.t.Errorf("contract: %v", e)
	}
}
