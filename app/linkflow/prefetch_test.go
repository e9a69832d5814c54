package linkflow_test

// Prefetching link tokens against the real simulator over loopback: the
// simulated Cybrid and Plaid share a settable clock (cybridsim.Options.Now,
// plaidsim.Options.Now), which the flow's prefetch also reads, so that a
// token's 4-hour life passes in an instant.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// prefetchRig is a Flow with prefetching on, over the real Cybrid client and
// the real simulated Cybrid and Plaid on one loopback port.
type prefetchRig struct {
	*rig
	clk      *simclock.Clock
	sim      *sim.Sim
	cyb      *cybridsim.Server
	plaidURL string
	shelf    *linkflow.Shelf

	pmu   sync.Mutex
	notes []linkflow.Event
	preps chan linkflow.Prepared
	calls []cybrid.Call
}

func newPrefetchRig(t *testing.T, delay time.Duration, settings linkflow.Settings) *prefetchRig {
	t.Helper()
	clk := &simclock.Clock{}
	s, err := sim.Start(sim.Options{ClientID: "id", ClientSecret: "secret-3f1", Now: clk.Now, WorkflowDelay: delay, AccountDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := &prefetchRig{clk: clk, sim: s, cyb: s.Cybrid, plaidURL: s.PlaidURL, preps: make(chan linkflow.Prepared, 100)}
	if settings.Shelf == nil {
		settings.Shelf = linkflow.NewShelf()
	}
	p.shelf = settings.Shelf
	p.rig = p.newFlow(t, settings)
	return p
}

// newFlow starts a(nother) Flow on the rig's simulator and shelf, as an
// environment that is entered again does; the rig records every Cybrid
// call (by attempt) and every prefetch note.
func (p *prefetchRig) newFlow(t *testing.T, settings linkflow.Settings) *rig {
	t.Helper()
	if settings.PollInitial == 0 {
		settings.PollInitial, settings.PollMax = 20*time.Millisecond, 200*time.Millisecond
	}
	if settings.Shelf == nil {
		settings.Shelf = p.shelf
	}
	settings.Now = p.clk.Now
	settings.OnPrefetch = func(pr linkflow.Prepared, ev linkflow.Event) {
		p.pmu.Lock()
		p.notes = append(p.notes, ev)
		p.pmu.Unlock()
		p.preps <- pr
	}
	r := flowrig.New(t, flowrig.Options{On: p.sim, Settings: settings, Client: func(o *cybrid.Options) {
		o.Observer = func(c cybrid.Call) { p.pmu.Lock(); p.calls = append(p.calls, c); p.pmu.Unlock() }
	}})
	return &rig{Rig: r, t: t}
}

// customer returns the n-th seeded customer in the given state.
func (p *prefetchRig) customer(state string, n int) string {
	p.t.Helper()
	for _, c := range p.cyb.Customers() {
		if c.State == state {
			if n == 0 {
				return c.GUID
			}
			n--
		}
	}
	p.t.Fatalf("no %d-th %s customer", n, state)
	return ""
}

// prepared waits for the customer's preparation to reach want.
func (p *prefetchRig) prepared(customer, want string) linkflow.Prepared {
	p.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case pr := <-p.preps:
			if pr.CustomerGUID != customer {
				continue
			}
			if pr.State == want {
				return pr
			}
		case <-timeout:
			pr, _ := p.shelf.Get(customer)
			p.t.Fatalf("the preparation for %s is %q after 15 s, want %s", customer, pr.State, want)
		}
	}
}

func (p *prefetchRig) workflowPosts() int { return p.cyb.Stats().ByRoute["POST /api/workflows"] }

// note returns the first OnPrefetch note containing s, or false.
func (p *prefetchRig) note(s string) (linkflow.Event, bool) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	for _, ev := range p.notes {
		if strings.Contains(ev.Message, s) {
			return ev, true
		}
	}
	return linkflow.Event{}, false
}

// callsFor returns "METHOD path" of the Cybrid calls filed under an attempt.
func (p *prefetchRig) callsFor(id string) []string {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	var out []string
	for _, c := range p.calls {
		if c.AttemptID == id {
			out = append(out, c.Method+" "+c.Path)
		}
	}
	return out
}

func (p *prefetchRig) prefetch(customer string) linkflow.Prepared {
	p.t.Helper()
	pr, ok, err := p.Flow.Prefetch(customer)
	if err != nil || !ok {
		p.t.Fatalf("Prefetch(%s) = %+v, %v, %v", customer, pr, ok, err)
	}
	return pr
}

// untilFunc waits until attempt id is in a state for which ok holds.
func (r *rig) untilFunc(id string, ok func(linkflow.Attempt) bool) linkflow.Attempt {
	r.t.Helper()
	return flowrig.Await(r.t, r.Flow, id, "the state the test waits for", ok)
}

// linkAndFinish goes through the simulated Link with the attempt's token
// and waits for the attempt to be done.
func (r *rig) linkAndFinish(p *prefetchRig, a linkflow.Attempt) {
	r.t.Helper()
	pub, meta := r.LinkInPlaid(a.LinkToken, 1)
	if err := r.Flow.Success(a.ID, pub, meta); err != nil {
		r.t.Fatal(err)
	}
	r.Until(a.ID, linkflow.Done)
}

// Opening a verified customer prepares one token, under a reserved attempt
// id, without any attempt; opening it again reuses it; the click takes it
// and opens Link at once; the next click makes a new attempt of its own.
func TestPrefetchedTokenIsTakenByTheClick(t *testing.T) {
	p := newPrefetchRig(t, 300*time.Millisecond, linkflow.Settings{})
	cust := p.customer("verified", 0)

	first := p.prefetch(cust)
	if first.State != linkflow.PreparedPending || !linkflow.ValidAttemptID(first.AttemptID) || first.LinkToken != "" {
		t.Fatalf("first Prefetch = %+v", first)
	}
	ready := p.prepared(cust, linkflow.PreparedReady)
	if ready.AttemptID != first.AttemptID || !strings.HasPrefix(ready.LinkToken, "link-sandbox-") || ready.WorkflowGUID == "" {
		t.Fatalf("ready = %+v", ready)
	}
	if !ready.UsableUntil.After(ready.RequestedAt.Add(3*time.Hour)) || ready.UsableUntil.After(ready.RequestedAt.Add(4*time.Hour)) {
		t.Errorf("usable until %s for a token requested at %s: want 3.5 h later", ready.UsableUntil, ready.RequestedAt)
	}
	// No attempt exists before the click.
	if n := len(p.Flow.Running()); n != 0 {
		t.Errorf("%d attempts run before any click", n)
	}
	if _, ok := p.Flow.Latest(cust); ok {
		t.Error("the customer has an attempt before any click")
	}
	// Opened again: the same token, no second workflow.
	again := p.prefetch(cust)
	if again.AttemptID != ready.AttemptID || again.LinkToken != ready.LinkToken || again.State != linkflow.PreparedReady {
		t.Errorf("opened again: %+v, want the same ready token", again)
	}
	if n := p.workflowPosts(); n != 1 {
		t.Errorf("%d workflows created, want 1", n)
	}
	// The prefetch's calls are filed under the attempt it becomes: the
	// customer was read, then the workflow created and polled.
	calls := p.callsFor(ready.AttemptID)
	if len(calls) > 0 && calls[0] == "POST /oauth/token" {
		calls = calls[1:] // the client's first call fetched its token
	}
	if len(calls) < 3 || calls[0] != "GET /api/customers/"+cust || calls[1] != "POST /api/workflows" || calls[2] != "GET /api/workflows/"+ready.WorkflowGUID {
		t.Errorf("calls filed under %s: %v", ready.AttemptID, calls)
	}
	if ev, ok := p.note("Workflow " + ready.WorkflowGUID + " created to prepare a link token (the operator opened the customer)"); !ok || ev.AttemptID != ready.AttemptID {
		t.Errorf("no note on when and why the workflow was created: %+v", p.notes)
	}

	// The click.
	a, err := p.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != ready.AttemptID || a.State != linkflow.LinkOpen || a.LinkToken != ready.LinkToken || a.WorkflowGUID != ready.WorkflowGUID {
		t.Fatalf("the click's attempt = %+v, want %s in link_open with the prepared token", a, ready.AttemptID)
	}
	if a.Prefetched == nil || a.Prefetched.ReadyAt.IsZero() || a.Prefetched.WorkflowGUID != ready.WorkflowGUID || a.Prefetched.Why != "the operator opened the customer" {
		t.Errorf("Prefetched = %+v", a.Prefetched)
	}
	if p.shelf.Len() != 0 {
		t.Errorf("the token is still on the shelf after the click")
	}
	p.linkAndFinish(p, a)
	if n := p.workflowPosts(); n != 1 {
		t.Errorf("%d workflows after the link, want 1", n)
	}
	// The next click has nothing prepared: a new attempt and a new workflow.
	b, err := p.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID == a.ID || b.State != linkflow.CreatingWorkflow || b.Prefetched != nil {
		t.Errorf("second click = %+v, want a new attempt creating its own workflow", b)
	}
	p.Until(b.ID, linkflow.LinkOpen)
	if n := p.workflowPosts(); n != 2 {
		t.Errorf("%d workflows after the second click, want 2", n)
	}
	// Opened again while that link runs: nothing is prepared (its Link is
	// the customer's).
	if pr, ok, err := p.Flow.Prefetch(cust); ok || err != nil {
		t.Errorf("Prefetch during the customer's running link = %+v, %v, %v", pr, ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := p.workflowPosts(); n != 2 {
		t.Errorf("%d workflows after opening the customer during a link, want 2", n)
	}
}

// A click while the token is still being prepared takes that preparation
// over: the attempt waits for the same workflow (no second one) and counts
// its polls.
func TestClickDuringPrefetchTakesItOver(t *testing.T) {
	p := newPrefetchRig(t, 1200*time.Millisecond, linkflow.Settings{})
	cust := p.customer("verified", 1)
	pr := p.prefetch(cust)
	p.prepared(cust, linkflow.PreparedPending) // the note that it started
	time.Sleep(400 * time.Millisecond)
	a, err := p.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != pr.AttemptID || (a.State != linkflow.WaitingForToken && a.State != linkflow.CreatingWorkflow) || a.Prefetched == nil || !a.Prefetched.ReadyAt.IsZero() {
		t.Fatalf("the click's attempt = %+v", a)
	}
	open := p.Until(a.ID, linkflow.LinkOpen)
	if !strings.HasPrefix(open.LinkToken, "link-sandbox-") || open.Polls == 0 || open.Prefetched.ReadyAt.IsZero() {
		t.Errorf("link_open = %+v (prefetched %+v)", open, open.Prefetched)
	}
	if n := p.workflowPosts(); n != 1 {
		t.Errorf("%d workflows created, want 1", n)
	}
	if n := len(p.Flow.Running()); n != 1 {
		t.Errorf("%d attempts run after one click, want 1", n)
	}
	p.linkAndFinish(p, open)
}

// Nothing is prepared for a customer who cannot link: the customer is read
// and no workflow is created.
func TestNoPrefetchForCustomersWhoCannotLink(t *testing.T) {
	p := newPrefetchRig(t, 100*time.Millisecond, linkflow.Settings{})
	for _, state := range []string{"frozen", "unverified"} {
		cust := p.customer(state, 0)
		p.prefetch(cust)
		gone := p.prepared(cust, linkflow.PreparedGone)
		if !strings.Contains(gone.Gone, "No link token prepared") || !strings.Contains(gone.Gone, state) || !strings.Contains(gone.Gone, "links no bank accounts while a customer is frozen") && !strings.Contains(gone.Gone, "only for verified customers") {
			t.Errorf("%s: gone because %q", state, gone.Gone)
		}
	}
	if n := p.workflowPosts(); n != 0 {
		t.Errorf("%d workflows created for customers who cannot link", n)
	}
	if n := p.cyb.Stats().ByRoute["GET /api/customers/{guid}"]; n != 2 {
		t.Errorf("the customers were read %d times, want 2", n)
	}
}

// Without a Shelf (LINKDESK_PREFETCH=false) opening a customer prepares
// nothing and calls nothing.
func TestPrefetchOff(t *testing.T) {
	p := newPrefetchRig(t, 100*time.Millisecond, linkflow.Settings{})
	offFlow := linkflow.New(p.Client, linkflow.Settings{Language: "en", Asset: "USD", LinkCustomizationName: "default"}, nil, nil)
	defer offFlow.Close()
	cust := p.customer("verified", 0)
	if pr, ok, err := offFlow.Prefetch(cust); ok || err != nil {
		t.Errorf("Prefetch with prefetching off = %+v, %v, %v", pr, ok, err)
	}
	time.Sleep(200 * time.Millisecond)
	if st := p.cyb.Stats(); st.APIRequests != 0 {
		t.Errorf("prefetching off made %d API requests: %v", st.APIRequests, st.ByRoute)
	}
}

// A token whose life is nearly over is not handed to Link: the click then
// creates a new one under the reserved id, and opening the customer again
// prepares a new one; the timeline says why.
func TestExpiringPreparedTokenIsReplaced(t *testing.T) {
	p := newPrefetchRig(t, 200*time.Millisecond, linkflow.Settings{})
	cust := p.customer("verified", 2)
	p.prefetch(cust)
	old := p.prepared(cust, linkflow.PreparedReady)

	// 3 h 40 min later the token still lives at Plaid, but has less than
	// the 30 minutes a Link session may take.
	p.clk.Skip(3*time.Hour + 40*time.Minute)
	a, err := p.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != old.AttemptID || a.State != linkflow.CreatingWorkflow || a.LinkToken != "" || a.Prefetched == nil || !strings.Contains(a.Prefetched.Why, "about to expire") {
		t.Fatalf("click on an expiring token: %+v (prefetched %+v)", a, a.Prefetched)
	}
	if _, ok := p.note("has less than 30 min left; the click creates a new one"); !ok {
		t.Errorf("no note on the discarded token: %+v", p.notes)
	}
	open := p.Until(a.ID, linkflow.LinkOpen)
	if open.LinkToken == old.LinkToken || open.WorkflowGUID == old.WorkflowGUID {
		t.Errorf("the attempt opened with the old token or workflow")
	}
	p.linkAndFinish(p, open)

	// Opened again after the token's margin: a new preparation.
	other := p.customer("verified", 3)
	p.prefetch(other)
	first := p.prepared(other, linkflow.PreparedReady)
	p.clk.Skip(3*time.Hour + 45*time.Minute)
	again := p.prefetch(other)
	if again.State != linkflow.PreparedPending || again.AttemptID == first.AttemptID {
		t.Errorf("opened again after 3 h 45 min: %+v, want a new preparation", again)
	}
	renewed := p.prepared(other, linkflow.PreparedReady)
	if renewed.LinkToken == first.LinkToken {
		t.Error("the renewed preparation has the old token")
	}
	// Plaid's side agrees: 4 hours on, the old token is refused and the
	// new one is not.
	p.clk.Skip(20 * time.Minute)
	if code := linkInit(t, p.plaidURL, first.LinkToken); code != "INVALID_LINK_TOKEN" {
		t.Errorf("Plaid's verdict on the 4-hour-old token: %q, want INVALID_LINK_TOKEN", code)
	}
	if code := linkInit(t, p.plaidURL, renewed.LinkToken); code != "" {
		t.Errorf("Plaid refused the renewed token: %s", code)
	}
}

// linkInit starts the simulated Link with token as the Link page does and
// returns the error code it answers ("" when it accepts the token).
func linkInit(t *testing.T, plaidURL, token string) string {
	t.Helper()
	req := strings.NewReader(`{"link_token":` + quoteJSON(token) + `}`)
	resp, err := httpPost(plaidURL+"/link/v2/stable/sim/init", plaidURL, req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Error *struct {
			ErrorCode string `json:"error_code"`
		} `json:"error"`
	}
	json.Unmarshal(resp, &out)
	if out.Error != nil {
		return out.Error.ErrorCode
	}
	return ""
}

// A token Plaid Link refuses before the click (INVALID_LINK_TOKEN when Link
// is created ahead of time) is replaced under the same reserved id, without
// the operator; after prefetchRefusals refusals in a row preparing stops.
func TestRefusedBeforeTheClickIsReplaced(t *testing.T) {
	p := newPrefetchRig(t, 150*time.Millisecond, linkflow.Settings{})
	cust := p.customer("verified", 4)
	p.prefetch(cust)
	first := p.prepared(cust, linkflow.PreparedReady)
	// The link token is used up (another Link session linked with it).
	simlink.Link(t, p.plaidURL, first.LinkToken, 1)
	if code := linkInit(t, p.plaidURL, first.LinkToken); code != "INVALID_LINK_TOKEN" {
		t.Fatalf("Plaid's verdict on a used token: %q", code)
	}
	invalid := &linkflow.LinkError{ErrorType: "INVALID_INPUT", ErrorCode: "INVALID_LINK_TOKEN", ErrorMessage: "the link token was already used to link an item"}
	re, ok, err := p.Flow.PrefetchRefused(first.AttemptID, invalid)
	if err != nil || !ok || re.AttemptID != first.AttemptID || re.State != linkflow.PreparedPending {
		t.Fatalf("PrefetchRefused = %+v, %v, %v", re, ok, err)
	}
	second := p.prepared(cust, linkflow.PreparedReady)
	if second.LinkToken == first.LinkToken || second.AttemptID != first.AttemptID {
		t.Fatalf("replacement = %+v", second)
	}
	if code := linkInit(t, p.plaidURL, second.LinkToken); code != "" {
		t.Errorf("Plaid refused the replacement: %s", code)
	}
	if ev, ok := p.note("Plaid Link refused the prepared link token before the click (INVALID_LINK_TOKEN"); !ok || ev.AttemptID != first.AttemptID {
		t.Errorf("the timeline does not say the token was replaced: %+v", p.notes)
	}
	if !strings.Contains(second.Why, "Plaid Link refused") {
		t.Errorf("why the replacement = %q", second.Why)
	}
	// The attempt that takes it says so, and both workflows are filed under it.
	a, _ := p.Flow.StartLink(cust)
	if a.ID != first.AttemptID || a.LinkToken != second.LinkToken {
		t.Fatalf("click = %+v", a)
	}
	posts := 0
	for _, c := range p.callsFor(a.ID) {
		if c == "POST /api/workflows" {
			posts++
		}
	}
	if posts != 2 {
		t.Errorf("%d workflow POSTs filed under the attempt, want 2: %v", posts, p.callsFor(a.ID))
	}
	p.linkAndFinish(p, a)

	// Refused again and again: bounded.
	other := p.customer("verified", 5)
	p.prefetch(other)
	for i := 0; i < 4; i++ {
		pr := p.prepared(other, linkflow.PreparedReady)
		_, ok, _ := p.Flow.PrefetchRefused(pr.AttemptID, invalid)
		if ok != (i < 3) {
			t.Fatalf("refusal %d: replaced %v", i+1, ok)
		}
		if !ok {
			break
		}
	}
	if _, ok := p.note("refused 4 prepared link tokens in a row"); !ok {
		t.Error("no note that preparing stopped")
	}
	if p.shelf.Len() != 0 {
		t.Error("a token is still prepared after four refusals")
	}
}

// After the click, Link refusing the prepared token (INVALID_LINK_TOKEN)
// does not end the attempt: it gets a new token and Link opens again, once.
func TestRefusedAfterTheClickIsReplaced(t *testing.T) {
	p := newPrefetchRig(t, 150*time.Millisecond, linkflow.Settings{})
	cust := p.customer("verified", 6)
	p.prefetch(cust)
	pr := p.prepared(cust, linkflow.PreparedReady)
	simlink.Link(t, p.plaidURL, pr.LinkToken, 1) // used elsewhere meanwhile
	a, _ := p.Flow.StartLink(cust)
	if a.State != linkflow.LinkOpen {
		t.Fatalf("click = %+v", a)
	}
	exit := func(a linkflow.Attempt) error {
		return p.Flow.Deliver(t.Context(), a.ID, linkflow.Callback{Kind: linkflow.OnExit, Seq: a.PlaidSeq + 1,
			Error:    json.RawMessage(`{"error_type":"INVALID_INPUT","error_code":"INVALID_LINK_TOKEN","error_message":"the link token was already used to link an item","display_message":null}`),
			Metadata: json.RawMessage(`{"institution":null,"status":null,"link_session_id":"x","request_id":"y"}`)})
	}
	if err := exit(a); err != nil {
		t.Fatal(err)
	}
	open := p.untilFunc(a.ID, func(a linkflow.Attempt) bool { return a.State == linkflow.LinkOpen && a.Prefetched.Replaced == 1 })
	if open.LinkToken == pr.LinkToken || open.PlaidSeq != 1 {
		t.Errorf("after the refusal: %+v (prefetched %+v)", open, open.Prefetched)
	}
	found := false
	for _, ev := range p.Events() {
		found = found || ev.AttemptID == a.ID && ev.Seq == 1 && strings.Contains(ev.Message, "INVALID_LINK_TOKEN") && strings.Contains(ev.Message, "creating a new one")
	}
	if !found {
		t.Error("the onExit that triggered the replacement is not recorded as such")
	}
	// A second refusal within the attempt ends it, as without prefetching.
	if err := exit(open); err != nil {
		t.Fatal(err)
	}
	end := p.Until(a.ID, linkflow.Failed)
	if end.Code != "INVALID_LINK_TOKEN" {
		t.Errorf("second refusal: %+v", end)
	}
}

// A failed workflow is replaced without the operator, and the timeline
// says so.
func TestFailedPrefetchWorkflowIsReplaced(t *testing.T) {
	p := newPrefetchRig(t, 150*time.Millisecond, linkflow.Settings{})
	sc := p.cyb.Scenario()
	sc.WorkflowFailureCode = "plaid_error"
	p.cyb.SetScenario(sc)
	cust := p.customer("verified", 7)
	p.prefetch(cust)
	wait.For(t, 5*time.Second, "the first workflow created", func() (bool, error) { return p.workflowPosts() > 0, nil })
	sc.WorkflowFailureCode = ""
	p.cyb.SetScenario(sc)
	ready := p.prepared(cust, linkflow.PreparedReady)
	if _, ok := p.note("failed (failure code plaid_error); creating a replacement"); !ok {
		t.Errorf("no note on the replaced workflow: %+v", p.notes)
	}
	if n := p.workflowPosts(); n != 2 {
		t.Errorf("%d workflows, want 2", n)
	}
	a, _ := p.Flow.StartLink(cust)
	if a.ID != ready.AttemptID || a.State != linkflow.LinkOpen {
		t.Errorf("click = %+v", a)
	}
}

// Tokens are kept for the PrefetchCustomers customers opened last: opening
// one more discards the token of the customer opened longest ago, and
// switching among the others keeps theirs.
func TestPrefetchKeepsTheCustomersOpenedLast(t *testing.T) {
	p := newPrefetchRig(t, 100*time.Millisecond, linkflow.Settings{})
	var custs []string
	for i := 0; i <= linkflow.PrefetchCustomers; i++ {
		custs = append(custs, p.customer("verified", i))
	}
	tokens := map[string]linkflow.Prepared{}
	for _, c := range custs[:linkflow.PrefetchCustomers] {
		p.prefetch(c)
		tokens[c] = p.prepared(c, linkflow.PreparedReady)
	}
	// Back and forth among them: nothing new.
	for _, c := range []string{custs[0], custs[2], custs[1], custs[3], custs[0]} {
		if got := p.prefetch(c); got.LinkToken != tokens[c].LinkToken {
			t.Errorf("reopening %s gave %+v", c, got)
		}
	}
	if n := p.workflowPosts(); n != linkflow.PrefetchCustomers {
		t.Errorf("%d workflows, want %d", n, linkflow.PrefetchCustomers)
	}
	// One more: the customer opened longest ago (custs[2]) loses its token.
	p.prefetch(custs[4])
	gone := p.prepared(custs[2], linkflow.PreparedGone)
	if !strings.Contains(gone.Gone, "other customers were opened since") {
		t.Errorf("discarded because %q", gone.Gone)
	}
	p.prepared(custs[4], linkflow.PreparedReady)
	if n := p.shelf.Len(); n != linkflow.PrefetchCustomers {
		t.Errorf("%d tokens kept, want %d", n, linkflow.PrefetchCustomers)
	}
	if _, ok := p.shelf.Get(custs[2]); ok {
		t.Error("the customer opened longest ago still has a token")
	}
}

// The shelf outlives a Flow: leaving the environment (the Flow closes) and
// coming back (a new Flow on the same shelf) keeps a ready token and goes
// on following a workflow that was still running.
func TestShelfOutlivesTheFlow(t *testing.T) {
	p := newPrefetchRig(t, 800*time.Millisecond, linkflow.Settings{})
	ready, pending := p.customer("verified", 0), p.customer("verified", 1)
	p.prefetch(ready)
	kept := p.prepared(ready, linkflow.PreparedReady)
	p.prefetch(pending)
	wait.For(t, 5*time.Second, "both workflows created", func() (bool, error) {
		n := p.workflowPosts()
		return n >= 2, fmt.Errorf("%d created", n)
	})
	p.Flow.Close() // the environment is left
	paused, _ := p.shelf.Get(pending)
	if paused.State != linkflow.PreparedPending || paused.WorkflowGUID == "" {
		t.Fatalf("after the Flow closed the pending token is %+v", paused)
	}
	next := p.newFlow(t, linkflow.Settings{}) // the environment again
	got, ok, _ := next.Flow.Prefetch(ready)
	if !ok || got.LinkToken != kept.LinkToken || got.AttemptID != kept.AttemptID {
		t.Errorf("after coming back: %+v, want the token kept", got)
	}
	resumed, _, _ := next.Flow.Prefetch(pending)
	if resumed.AttemptID != paused.AttemptID || resumed.WorkflowGUID != paused.WorkflowGUID {
		t.Errorf("resumed = %+v", resumed)
	}
	done := p.prepared(pending, linkflow.PreparedReady)
	if done.WorkflowGUID != paused.WorkflowGUID {
		t.Errorf("the resumed token came from workflow %s, want %s", done.WorkflowGUID, paused.WorkflowGUID)
	}
	if n := p.workflowPosts(); n != 2 {
		t.Errorf("%d workflows, want 2: nothing still valid is created again", n)
	}
	a, _ := next.Flow.StartLink(ready)
	if a.ID != kept.AttemptID || a.State != linkflow.LinkOpen {
		t.Errorf("click after coming back = %+v", a)
	}
}

// A ready token is watched: when its margin is reached it is replaced for
// the customer opened last, and discarded for the others.
func TestTokenLifetimeIsWatched(t *testing.T) {
	p := newPrefetchRig(t, 50*time.Millisecond, linkflow.Settings{TokenLifetime: 2 * time.Second})
	older, last := p.customer("verified", 0), p.customer("verified", 1)
	p.prefetch(older)
	p.prepared(older, linkflow.PreparedReady)
	p.prefetch(last)
	first := p.prepared(last, linkflow.PreparedReady)
	if d := first.UsableUntil.Sub(first.RequestedAt); d != 1500*time.Millisecond {
		t.Errorf("usable for %s of a 2 s lifetime, want 1.5 s", d)
	}
	p.prepared(older, linkflow.PreparedGone)
	p.prepared(last, linkflow.PreparedGone)
	renewed := p.prepared(last, linkflow.PreparedReady)
	if renewed.AttemptID == first.AttemptID || renewed.LinkToken == first.LinkToken || !strings.Contains(renewed.Why, "was about to expire") {
		t.Errorf("renewed = %+v", renewed)
	}
	if _, ok := p.note("replacing it for the customer opened last"); !ok {
		t.Error("no note on the replacement")
	}
	if _, ok := p.note("discarded (other customers were opened since"); !ok {
		t.Error("no note on the discarded token")
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// httpPost posts JSON to url as a page of origin does and returns the body.
func httpPost(url, origin string, body io.Reader) ([]byte, error) {
	req, _ := http.NewRequest("POST", url, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
