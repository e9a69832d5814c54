package session_test

// Link prepared before the click (issue 12), in the real window on the
// simulator: opening a customer prepares a link token and creates Plaid Link
// hidden; the click opens it at once, with no second workflow, as exactly
// one attempt.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
)

// waitLogged waits until msg has been logged n times since the test
// began.
func (a *app) waitLogged(msg string, n int, timeout time.Duration) {
	a.t.Helper()
	a.until(timeout, fmt.Sprintf("%d× %q in the log", n, msg), func() (bool, error) {
		got := strings.Count(a.log(), msg)
		return got >= n, fmt.Errorf("%d so far", got)
	})
}

// preparedLink is Link created ahead of the click: its iframe exists and is
// hidden.
const preparedLink = `(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return !!f && f.style.display === "none"; })()`

// attemptsOf lists the attempts of the session's timeline for customer.
func (a *app) attemptsOf(customer string) []timeline.Attempt {
	var out []timeline.Attempt
	for _, at := range a.env().Timeline.Attempts() {
		if at.CustomerGUID == customer {
			out = append(out, at)
		}
	}
	return out
}

var usableRE = regexp.MustCompile(`Plaid Link on screen and usable (\d+) ms after the click \(Link created (before|at) the click\)`)

// (A workflow that takes 1.5 s: a Link usable sooner after the click
// cannot have waited for it.)
func prefetchedLinkOpensOnTheClick(a *app) {
	t := a.t
	a.setDelays(1500*time.Millisecond, quickSim.AccountDelay)
	customer := a.takeCustomer().GUID
	// Before any click: Go prepares the token (the customer is read, then the
	// workflow created) and the page creates Link, hidden. No attempt.
	a.waitLogged("Link token prepared in", 1, 15*time.Second)
	a.waitJS(preparedLink, 10*time.Second)
	if n := len(a.env().Flow.Running()); n != 0 {
		t.Fatalf("%d attempts run before the click", n)
	}
	if !strings.Contains(a.text("attempt"), "No attempt for this customer yet") {
		t.Errorf("the attempt panel shows %q before the click", a.text("attempt"))
	}
	workflows := len(a.workflowsOf(customer))
	if workflows != 1 {
		t.Fatalf("the customer's workflows before the click: %+v", a.workflowsOf(customer))
	}
	// Link has loaded, hidden: its page has the banks (its onLoad waits in
	// the page for the attempt).
	a.until(10*time.Second, "Link created ahead to load", func() (bool, error) {
		_, err := a.link("text", sel("institution-ins_109508"), nil)
		return err == nil, err
	})
	time.Sleep(500 * time.Millisecond) // the token ages a little: "prepared 0.5 s ago"
	a.shot("prepared-before-the-click")

	clicked := time.Now()
	a.click("link-account")
	a.waitJS(`(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return f && f.style.display === "block"; })()`, 3*time.Second)
	a.inLink("pane-consent", 3*time.Second)
	t.Logf("Link on screen %s after the click (as the test saw it)", time.Since(clicked).Round(time.Millisecond))
	a.shot("link-open-at-the-click")

	// One attempt, under the id the prefetch reserved, with the prepared
	// token; no second workflow.
	atts := a.attemptsOf(customer)
	if len(atts) != 1 || atts[0].State != linkflow.LinkOpen {
		t.Fatalf("attempts after the click: %+v", atts)
	}
	if n := len(a.workflowsOf(customer)); n != workflows {
		t.Errorf("the click created %d more workflows", n-workflows)
	}
	step := a.text("step-token")
	if !regexp.MustCompile(`ready \(prepared \d+\.\d s ago\)`).MatchString(step) {
		t.Errorf("the token step reads %q, want it ready and prepared some seconds ago", step)
	}
	// The page measured click → Link usable and Go recorded it.
	a.waitLogged("Plaid Link on screen and usable", 1, 5*time.Second)
	m := usableRE.FindStringSubmatch(a.log())
	if m == nil || m[2] != "before" {
		t.Fatalf("no click → usable record with Link created before the click: %v", m)
	}
	ms, _ := strconv.Atoi(m[1])
	t.Logf("click → Link usable, measured by the page: %d ms", ms)
	if ms > 1500 {
		t.Errorf("Link took %d ms after the click to be usable", ms)
	}

	// The customer links; the callbacks Link delivered before the click
	// (onLoad) reached Go first.
	a.signInToPlatypus(false)
	a.inLink("pane-select-account", 10*time.Second)
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.inLink("pane-connected", 10*time.Second)
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		a.fatalf("link ended %q: %s", r, a.text("result"))
	}
	a.shot("linked")
	if n := len(a.sim().Cybrid.Accounts(customer)); n != 1 {
		t.Errorf("%d accounts for the customer, want 1", n)
	}
	id := atts[0].ID
	res, err := a.env().Timeline.Timeline(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	seq := 0
	for _, e := range res.Entries {
		kinds = append(kinds, string(e.Kind)+" "+e.Message)
		if e.Kind == timeline.KindPlaidCallback || e.Kind == timeline.KindPlaidEvent {
			n, _ := strconv.Atoi(fmt.Sprint(e.Data["seq"]))
			if n != seq+1 {
				t.Errorf("Plaid callbacks out of order at %q: seq %v after %d", e.Message, e.Data["seq"], seq)
			}
			seq = n
		}
	}
	all := strings.Join(kinds, "\n")
	for _, want := range []string{"note Preparing a link token before the click", "api GET /api/customers/" + customer, "api POST /api/workflows",
		"state Opening Plaid Link with the link token prepared", "plaid_callback Plaid Link: onLoad", "link_window Plaid Link on screen and usable"} {
		if !strings.Contains(all, want) {
			t.Errorf("the attempt's timeline lacks %q:\n%s", want, all)
		}
	}
	if i, j := strings.Index(all, "Plaid Link: onLoad"), strings.Index(all, "Opening Plaid Link"); i < j {
		t.Errorf("onLoad is recorded before the attempt began:\n%s", all)
	}
}

// Two clicks in a row (a double click) make one attempt: the second comes
// while the first's startLink is on its way and does nothing.
func doubleClickMakesOneAttempt(a *app) {
	t := a.t
	customer := a.takeCustomer().GUID
	a.waitJS(preparedLink, 15*time.Second)
	a.js(`(() => { const b = document.querySelector('[data-testid="link-account"]'); b.click(); b.click(); return true; })()`, nil)
	a.inLink("pane-consent", 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	if atts := a.attemptsOf(customer); len(atts) != 1 {
		t.Errorf("a double click made %d attempts: %+v", len(atts), atts)
	}
	if n := len(a.workflowsOf(customer)); n != 1 {
		t.Errorf("%d workflows after a double click, want the prepared one", n)
	}
	a.shot("double-click")
}

// With LINKDESK_PREFETCH=false nothing is prepared: the click waits for the
// workflow, and Link opens when its token is there.
func TestPrefetchOffWaitsForTheWorkflow(t *testing.T) {
	a := startAppWith(t, sim.Options{WorkflowDelay: 800 * time.Millisecond, AccountDelay: quickSim.AccountDelay}, keychain.NewMemory(), map[string]string{"LINKDESK_ENVIRONMENT": "sim", "LINKDESK_PREFETCH": "false"})
	customer := a.pickFirstCustomer()
	time.Sleep(time.Second)
	if n := len(a.sim().Cybrid.Workflows()); n != 0 {
		t.Fatalf("%d workflows before the click with prefetching off", n)
	}
	var frames int
	a.js(`document.querySelectorAll('iframe[id^="plaid-link-iframe"]').length`, &frames)
	if frames != 0 {
		t.Errorf("Link was created before the click with prefetching off")
	}
	a.click("link-account")
	a.waitJS(`document.querySelector('[data-testid="step-token"][data-status="active"] .spinner')`, 5*time.Second)
	a.inLink("pane-consent", 10*time.Second)
	a.waitLogged("Plaid Link on screen and usable", 1, 5*time.Second)
	m := usableRE.FindStringSubmatch(a.logs.String())
	if m == nil || m[2] != "at" {
		t.Errorf("click → usable record: %v", m)
	} else if ms, _ := strconv.Atoi(m[1]); ms < 800 {
		t.Errorf("Link usable %d ms after the click, before the 800 ms workflow could have ended", ms)
	}
	if n := len(a.sim().Cybrid.Workflows()); n != 1 || len(a.attemptsOf(customer)) != 1 {
		t.Errorf("%d workflows, %d attempts", n, len(a.attemptsOf(customer)))
	}
	a.shot(fmt.Sprintf("prefetch-off-%s", customer[:6]))
}
