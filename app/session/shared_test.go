package session_test

// Tests that need only "a running linkdesk on the simulator" share one app:
// starting a window and its simulator costs seconds, and the operator's
// desk runs all day in one. Each subtest works on customers of its own
// (the simulator seeds 25: customerPool), so accounts and attempts do not
// mix, and starts from a fresh page (fresh: the pop-ups closed, running
// attempts cancelled, the Normal scenario, the page reloaded) with its own
// part of the log. Tests about start-up, an environment switch, the
// configuration, a keychain, the window's size or a hostile page start an
// app of their own.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// quickSim is the simulator of the window tests: its workflows, accounts,
// verifications and Link's loading pane take little time, since most tests
// need not see them wait. A test that must see a wait sets it for a while
// (setDelays, a scenario).
var quickSim = sim.Options{WorkflowDelay: 50 * time.Millisecond, AccountDelay: 50 * time.Millisecond, VerificationDelay: 50 * time.Millisecond, LinkLoadingTime: -1}

// withDriver is o with the Link test driver: a simulator run apart (a
// sandbox stand-in) whose Link the test drives.
func withDriver(o sim.Options) sim.Options { o.TestDriver = true; return o }

// withCredentials is o accepting only these credentials.
func withCredentials(o sim.Options, id, secret string) sim.Options {
	o.ClientID, o.ClientSecret = id, secret
	return o
}

// customerPool hands out the simulator's verified customers, one each.
type customerPool struct {
	mu   sync.Mutex
	free []cybridsim.Customer
}

// newCustomerPool pools the verified customers of a's simulator but those
// listed (held for a test that needs a particular one).
func newCustomerPool(a *app, held ...string) *customerPool {
	p := &customerPool{}
	for _, c := range a.sim().Cybrid.Customers() {
		if c.State == "verified" && !contains(held, c.GUID) {
			p.free = append(p.free, c)
		}
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// take returns a customer no other test has had.
func (p *customerPool) take(t *testing.T) cybridsim.Customer {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		t.Fatal("the shared app's simulator has no verified customer left: start another shared app")
	}
	c := p.free[0]
	p.free = p.free[1:]
	return c
}

// startSharedApp starts linkdesk on the simulator (quickSim) for the
// subtests of t, with a stand-in for the system browser (a.browser) and
// exports in a folder of t's.
func startSharedApp(t *testing.T) *app {
	t.Helper()
	t.Setenv("XDG_DOWNLOAD_DIR", t.TempDir())
	b := newBrowser()
	a := startApp(t, quickSim, b.install)
	a.browser = b
	a.pool = newCustomerPool(a)
	return a
}

// fresh is the shared app as the subtest t starts it: the bank's pop-ups
// and the system browser's waits closed, no attempt running, the Normal
// scenario, the browser stand-in working and empty, the page reloaded
// (no customer open, no dialog, the first tab) and the log read from here.
func (a *app) fresh(t *testing.T) *app {
	t.Helper()
	b := a.in(t)
	if b.w.PopupCount() > 0 {
		b.w.ClosePopups(false)
		b.waitPopups(0, 5*time.Second)
	}
	if b.w.BrowserWaitCount() > 0 {
		b.w.CancelBrowserWait()
		b.until(5*time.Second, "the browser's placeholders to close", func() (bool, error) {
			n := b.w.BrowserWaitCount()
			return n == 0, fmt.Errorf("%d open", n)
		})
	}
	e := b.env()
	for _, at := range e.Flow.Running() {
		e.Flow.Cancel(at.ID)
	}
	b.until(10*time.Second, "no attempt running", func() (bool, error) {
		n := len(e.Flow.Running())
		return n == 0, fmt.Errorf("%d running", n)
	})
	b.sim().ResetScenario()
	if b.browser != nil {
		b.browser.reset()
	}
	b.js(`(window.__uitestStale = true, localStorage.clear(), true)`, nil)
	b.ui().Exec(`location.reload()`)
	b.waitJS(`!window.__uitestStale && document.body && document.body.dataset.ready === "true"`, 20*time.Second)
	b.logMark = len(b.logs.String())
	return b
}

// log is what the app logged since the test began (fresh).
func (a *app) log() string { return a.logs.String()[a.logMark:] }

// takeCustomer opens, on the page, a customer of the pool's: one no other
// test of the shared app works on.
// An app of its own has no pool: the first customer of the list.
func (a *app) takeCustomer() cybridsim.Customer {
	a.t.Helper()
	if a.pool == nil {
		return cybridsim.Customer{GUID: a.pickFirstCustomer()}
	}
	c := a.pool.take(a.t)
	a.selectCustomer(c.GUID)
	return c
}

// setDelays makes the simulated Cybrid's workflows and accounts take this
// long until the test ends (the shared app's are short).
func (a *app) setDelays(workflow, account time.Duration) {
	sc := a.sim().Cybrid.Scenario()
	sc.WorkflowDelay, sc.AccountDelay = workflow, account
	a.sim().Cybrid.SetScenario(sc)
	a.t.Cleanup(a.sim().ResetScenario)
}

// workflowsOf lists the simulated Cybrid's workflows for customer.
func (a *app) workflowsOf(customer string) []cybridsim.Workflow {
	var out []cybridsim.Workflow
	for _, w := range a.sim().Cybrid.Workflows() {
		if w.CustomerGUID == customer {
			out = append(out, w)
		}
	}
	return out
}

// TestTheDeskOnTheSimulator: what an operator does at the desk, on one
// running linkdesk.
func TestTheDeskOnTheSimulator(t *testing.T) {
	a := startSharedApp(t)
	// KeyboardOnlyDay's arrow keys land on the list's second customer.
	a.pool = newCustomerPool(a, a.sim().Cybrid.Customers()[1].GUID)
	// The first: the page of the app's start-up, not reloaded.
	t.Run("PageInteractiveIsLoggedOnce", func(t *testing.T) { pageInteractiveIsLoggedOnce(a.in(t)) })
	for _, st := range []struct {
		name string
		f    func(*app)
	}{
		{"CSPBlocksInjectedInlineScript", cspBlocksInjectedInlineScript},
		{"FailedWorkflowIsExplained", failedWorkflowIsExplained},
		{"ExitFromLinkLinksNothing", exitFromLinkLinksNothing},
		{"KeyboardOnlyDay", keyboardOnlyDay},
		{"UnlinkAsksFirstAndDeletes", unlinkAsksFirstAndDeletes},
		{"TimelineAndExport", timelineAndExport},
		{"DarkTheme", darkTheme},
		{"DoubleClickMakesOneAttempt", doubleClickMakesOneAttempt},
		{"SimulatorPanelAndScenarioPicker", simulatorPanelAndScenarioPicker},
		{"Accessibility", accessibility},
		// Last, the ones with slow workflows: linkdesk's poller learns how
		// long workflows take, and would wait longer for the fast ones.
		{"LinkAccountEndToEnd", linkAccountEndToEnd},
		{"PrefetchedLinkOpensOnTheClick", prefetchedLinkOpensOnTheClick},
		{"AttemptPanelBelongsToItsCustomer", attemptPanelBelongsToItsCustomer},
	} {
		t.Run(st.name, func(t *testing.T) { st.f(a.fresh(t)) })
	}
}

// TestOAuthBanksInTheWindow: banks that sign in through OAuth, in
// linkdesk's pop-up and in the system browser, on one running linkdesk.
func TestOAuthBanksInTheWindow(t *testing.T) {
	go linkdeskBinary() // built meanwhile, for the linkdesk:// hand-overs
	a := startSharedApp(t)
	for _, st := range []struct {
		name string
		f    func(*app)
	}{
		{"BankApprovedInPopup", oauthBankApprovedInPopup},
		{"BankDenied", oauthBankDenied},
		{"PopupClosedByHand", oauthPopupClosedByHand},
		{"InSystemBrowserReturnsThroughTheRedirectURI", oauthInSystemBrowserReturnsThroughTheRedirectURI},
		{"SystemBrowserThatDoesNotStart", oauthSystemBrowserThatDoesNotStart},
		{"BrowserOnlyBankThroughTheSystemBrowserAndLoopback", oauthBrowserOnlyBankThroughTheSystemBrowserAndLoopback},
		{"BrowserOnlyBankReturnsThroughTheLinkdeskScheme", oauthBrowserOnlyBankReturnsThroughTheLinkdeskScheme},
		{"ReturnWithAStaleOrForeignStateIsRefused", oauthReturnWithAStaleOrForeignStateIsRefused},
		{"BankThatRefusesTheEmbeddedPopup", oauthBankThatRefusesTheEmbeddedPopup},
		{"BrowserWaitOpenAgainAndCancel", oauthBrowserWaitOpenAgainAndCancel},
	} {
		t.Run(st.name, func(t *testing.T) { st.f(a.fresh(t)) })
	}
}
