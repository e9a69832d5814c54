package session_test

// The attempt panel belongs to one customer: the customer on screen. An
// operator links an account for one customer, looks at another, comes back;
// or starts a slow link and looks at someone else meanwhile. Each customer
// shows only their own attempt, every button acts on the attempt's own
// customer and account, and Plaid Link opens only over its own customer.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// selectCustomer clicks the customer's row and waits for the customer's
// panel and attempt to load.
func (a *app) selectCustomer(guid string) {
	a.t.Helper()
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid="%s"]')`, guid), 10*time.Second)
	a.js(fmt.Sprintf(`(document.querySelector('[data-testid="customer-row"][data-guid="%s"]').click(), true)`, guid), nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, guid), 5*time.Second)
	// currentAttempt has answered: either the empty panel or this
	// customer's card is shown.
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="attempt-empty"]') || document.querySelector('[data-testid="steps"]') && (document.querySelector('[data-testid="result"]') ? document.querySelector('[data-testid="result"]').dataset.customer === %q : true)`, guid), 5*time.Second)
}

// panelCustomer returns the customer of the result card shown ("" when the
// panel shows no result).
func (a *app) panelCustomer() string {
	a.t.Helper()
	var c string
	a.js(`(() => { const r = document.querySelector('[data-testid="result"]'); return r ? r.dataset.customer : ""; })()`, &c)
	return c
}

func (a *app) linkIframeShown() bool {
	a.t.Helper()
	var shown bool
	a.js(`(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return !!f && f.style.display === "block"; })()`, &shown)
	return shown
}

func attemptPanelBelongsToItsCustomer(shared *app) {
	t := shared.t
	elena, jonah, carla := shared.pool.take(t), shared.pool.take(t), shared.pool.take(t)

	t.Run("after a result", func(t *testing.T) {
		a := shared.in(t)
		a.selectCustomer(elena.GUID)
		a.click("link-account")
		a.signInToPlatypus(false)
		a.linkClick("account-0000")
		a.linkClick("account-continue")
		a.inLink("pane-connected", 10*time.Second)
		a.linkClick("connected-continue")
		a.waitJS(`document.querySelector('[data-testid="verify-now"]')`, 15*time.Second)
		linked := a.sim().Cybrid.Accounts(elena.GUID)
		if len(linked) != 1 || linked[0].State != "unverified" {
			t.Fatalf("Elena's accounts: %+v", linked)
		}
		a.shot("elena-linked")

		// Jonah: his own (empty) panel, nothing of Elena's.
		a.selectCustomer(jonah.GUID)
		if c := a.panelCustomer(); c != "" {
			t.Fatalf("Jonah's panel shows a result card of customer %s", c)
		}
		var buttons int
		a.js(`document.querySelectorAll('[data-testid="verify-now"], [data-testid="try-again"]').length`, &buttons)
		if buttons != 0 {
			t.Errorf("Jonah's panel offers %d buttons of another customer's attempt", buttons)
		}
		a.shot("jonah-no-attempt")

		// Back to Elena: her card, and its Verify ownership verifies her
		// account for her.
		a.selectCustomer(elena.GUID)
		if c := a.panelCustomer(); c != elena.GUID {
			t.Fatalf("Elena's panel shows a result card of %q", c)
		}
		a.click("verify-now")
		a.waitJS(`document.querySelector('[data-testid="result"]') && document.querySelector('[data-testid="steps"]').dataset.kind === "verify" && document.querySelector('[data-testid="result"]').dataset.result === "done"`, 15*time.Second)
		acct, ok := a.sim().Cybrid.Account(linked[0].GUID)
		if !ok || !acct.Verified || acct.State != "completed" {
			t.Errorf("after Verify ownership on Elena's card, her account is %+v", acct)
		}
		if got := a.sim().Cybrid.Accounts(jonah.GUID); len(got) != 0 {
			t.Errorf("Jonah has accounts: %+v", got)
		}
		a.shot("elena-verified")
	})

	t.Run("mid-attempt", func(t *testing.T) {
		a := shared.in(t)
		if err := a.sim().ApplyScenario("slow_workflow", map[string]string{"delay": "2s"}); err != nil {
			t.Fatal(err)
		}
		defer a.sim().ApplyScenario("normal", nil)
		// Carla is opened while Cybrid is slow: the link token prepared for
		// her is still being made when the operator clicks (Elena's, made
		// earlier, would open Link at once), and the click waits for it.
		a.selectCustomer(carla.GUID)
		a.click("link-account")
		a.waitJS(`document.querySelector('[data-testid="step-token"][data-status="active"]')`, 5*time.Second)
		// Jonah while Carla's token is being made: his panel, and Link does
		// not open over him when her token arrives.
		a.selectCustomer(jonah.GUID)
		if c := a.panelCustomer(); c != "" {
			t.Fatalf("Jonah's panel shows a result of %s", c)
		}
		var steps int
		a.js(`document.querySelectorAll('[data-testid="steps"]').length`, &steps)
		if steps != 0 {
			t.Error("Jonah's panel shows the steps of Carla's attempt")
		}
		a.waitJS(`!document.querySelector('[data-testid="elsewhere"]').hidden`, 20*time.Second)
		if a.linkIframeShown() {
			t.Fatal("Plaid Link opened for Carla over Jonah's page")
		}
		if got := a.text("elsewhere"); !strings.Contains(got, carla.Name) {
			t.Errorf("the notice says %q; want Carla's name", got)
		}
		a.shot("carla-link-ready-elsewhere")
		// The notice takes the operator back, and Link opens for Carla.
		a.click("elsewhere-open")
		a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, carla.GUID), 5*time.Second)
		a.waitJS(`(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return f && f.style.display === "block"; })()`, 20*time.Second)
		a.inLink("pane-consent", 15*time.Second)
		a.shot("carla-link-open")
		a.closeLink()
		a.waitJS(`document.querySelector('[data-testid="result"]') && document.querySelector('[data-testid="result"]').dataset.result === "exited"`, 15*time.Second)
		if c := a.panelCustomer(); c != carla.GUID {
			t.Errorf("the exited attempt's card is %q's", c)
		}
		if !a.hidden("elsewhere") {
			t.Error("the notice is still shown")
		}
	})
}

func (a *app) hidden(testid string) bool {
	a.t.Helper()
	var h bool
	a.js(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !e || e.hidden; })()`, sel(testid)), &h)
	return h
}
