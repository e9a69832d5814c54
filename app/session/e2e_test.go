package session_test

import (
	"fmt"
	"strings"
	"time"
)

// pickFirstCustomer selects the first customer in the list and returns its
// GUID.
func (a *app) pickFirstCustomer() string {
	a.t.Helper()
	a.waitJS(`document.querySelector('[data-testid="customer-row"]')`, 10*time.Second)
	var guid string
	a.js(`document.querySelector('[data-testid="customer-row"]').dataset.guid`, &guid)
	a.click("customer-row")
	a.waitJS(`!document.querySelector('[data-testid="customer"]').hidden`, 5*time.Second)
	return guid
}

// signInToPlatypus walks the simulated Link from consent to the connected
// pane for First Platypus Bank with the Sandbox test credentials.
func (a *app) signInToPlatypus(update bool) {
	a.t.Helper()
	if !update {
		a.inLink("pane-consent", 15*time.Second)
		a.shot("link-consent")
		a.linkClick("consent-continue")
		a.linkFill("institution-search", "Platypus")
		a.shot("link-institutions")
		a.linkClick("institution-ins_109508")
	}
	a.linkFill("credentials-username", "user_good")
	a.linkFill("credentials-password", "pass_good")
	a.shot("link-credentials")
	a.linkClick("credentials-submit")
}

func linkAccountEndToEnd(a *app) {
	t := a.t
	// A workflow slow enough to be seen waiting for (the one prepared when
	// the customer is opened, and the click waits for it).
	a.setDelays(1500*time.Millisecond, quickSim.AccountDelay)
	a.shot("customers")
	if got := a.text("env-badge"); got != "SIMULATOR" {
		t.Errorf("environment badge = %q, want SIMULATOR", got)
	}

	customer := a.takeCustomer().GUID
	a.waitJS(`!document.querySelector('[data-testid="accounts-empty"]').hidden`, 5*time.Second)
	a.shot("customer")

	// Start: the workflow is polled while the page shows progress.
	a.click("link-account")
	a.waitJS(`document.querySelector('[data-testid="step-token"][data-status="active"] .spinner')`, 5*time.Second)
	a.waitJS(`/\d+\.\d s/.test(document.querySelector('[data-testid="elapsed"]').innerText)`, 5*time.Second)
	a.shot("waiting-for-link-token")
	a.sim().ResetScenario() // the refresh below need not wait as long
	// The window stays responsive while Go polls: the page's calls are
	// answered meanwhile.
	var infoEnv string
	a.js(`import("/contract.js").then((m) => m.call("info", {})).then((v) => v.environment)`, &infoEnv)
	if infoEnv != "sim" {
		t.Errorf("a call made while polling answered environment %q", infoEnv)
	}

	a.signInToPlatypus(false)
	a.inLink("pane-select-account", 10*time.Second)
	a.shot("link-select-account")
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.inLink("pane-connected", 10*time.Second)
	a.shot("link-connected")
	a.linkClick("connected-continue")

	a.waitJS(`document.querySelector('[data-testid="result"]')`, 15*time.Second)
	var result string
	a.js(`document.querySelector('[data-testid="result"]').dataset.result`, &result)
	if result != "done" {
		t.Fatalf("attempt ended %q: %s", result, a.text("result"))
	}
	a.waitJS(`document.querySelector('[data-testid="account-row"]')`, 5*time.Second)
	a.shot("linked")

	// The simulator holds exactly one account for the customer: the chosen
	// Plaid account, created from the real public token, now past storing.
	accts := a.sim().Cybrid.Accounts(customer)
	if len(accts) != 1 {
		t.Fatalf("simulator has %d accounts for the customer, want 1: %+v", len(accts), accts)
	}
	got := accts[0]
	if got.State != "unverified" || got.Mask != "0000" || got.InstitutionID != "ins_109508" || got.Name != "Plaid Checking" {
		t.Errorf("simulator account = %+v, want Plaid Checking ••0000 at ins_109508 in unverified", got)
	}
	if title := a.text("result-title"); !strings.Contains(title, "Linked") {
		t.Errorf("result title = %q", title)
	}
	var rowGUID string
	a.js(`document.querySelector('[data-testid="account-row"]').dataset.guid`, &rowGUID)
	if rowGUID != got.GUID {
		t.Errorf("the accounts table shows %s, the simulator holds %s", rowGUID, got.GUID)
	}
	// Every Plaid callback reached Go and was logged.
	for _, cb := range []string{"Plaid Link: onLoad", "Plaid Link event OPEN", "Plaid Link: onSuccess", "Plaid Link event HANDOFF"} {
		if !strings.Contains(a.log(), cb) {
			t.Errorf("log has no %q", cb)
		}
	}
	// The public token never reaches the log.
	if strings.Contains(a.logs.String(), "public-sandbox-") {
		t.Error("a Plaid public token reached the log")
	}

	// Update mode: the bank connection expires; Refresh connection renews it
	// and the account is PATCHed out of refresh_required.
	if err := a.sim().Cybrid.ExpireConnection(got.GUID); err != nil {
		t.Fatal(err)
	}
	a.click("accounts-reload")
	a.waitJS(`document.querySelector('[data-testid="refresh-account"]')`, 5*time.Second)
	a.shot("refresh-required")
	a.click("refresh-account")
	a.inLink("pane-credentials", 20*time.Second)
	a.signInToPlatypus(true)
	a.inLink("pane-connected", 10*time.Second)
	a.linkClick("connected-continue")
	a.waitJS(`document.querySelector('[data-testid="result"]')`, 15*time.Second)
	a.js(`document.querySelector('[data-testid="result"]').dataset.result`, &result)
	if result != "done" {
		t.Fatalf("refresh ended %q: %s", result, a.text("result"))
	}
	a.shot("refreshed")
	after, _ := a.sim().Cybrid.Account(got.GUID)
	if after.State == "refresh_required" {
		t.Errorf("after update mode the account is still %s", after.State)
	}
	var kinds []string
	for _, w := range a.workflowsOf(customer) {
		kinds = append(kinds, w.Kind)
	}
	if strings.Join(kinds, ",") != "link_token_create,link_token_update" && strings.Join(kinds, ",") != "link_token_update,link_token_create" {
		t.Errorf("workflows created: %v, want one link_token_create and one link_token_update", kinds)
	}
}

func failedWorkflowIsExplained(a *app) {
	t := a.t
	posts := a.accountPosts()
	sc := a.sim().Cybrid.Scenario()
	sc.WorkflowFailureCode = "plaid_error"
	a.sim().Cybrid.SetScenario(sc)
	defer a.sim().ResetScenario()
	a.takeCustomer()
	a.click("link-account")
	a.waitJS(`document.querySelector('[data-testid="result"]')`, 15*time.Second)
	a.shot("workflow-failed")
	var result string
	a.js(`document.querySelector('[data-testid="result"]').dataset.result`, &result)
	if result != "failed" {
		t.Fatalf("attempt ended %q, want failed", result)
	}
	text := a.text("result")
	if !strings.Contains(text, "plaid_error") || !strings.Contains(text, "Try again") {
		t.Errorf("result does not name the failure code and what to do: %q", text)
	}
	if n := a.accountPosts() - posts; n != 0 {
		t.Errorf("%d accounts were posted after a failed workflow", n)
	}

	// A frozen customer: Go refuses before creating anything, and the
	// window says why where the attempt would be.
	var frozen string
	for _, c := range a.sim().Cybrid.Customers() {
		if c.State == "frozen" {
			frozen = c.GUID
		}
	}
	if frozen == "" {
		t.Fatal("the simulator has no frozen customer")
	}
	workflows := a.sim().Cybrid.Stats().ByRoute["POST /api/workflows"]
	a.click("customer-search")
	a.js(fmt.Sprintf(`(() => { const s = document.querySelector('[data-testid="customer-search"]'); s.value = %q; s.dispatchEvent(new Event("input")); return true; })()`, frozen), nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid=%q]')`, frozen), 10*time.Second)
	a.js(fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid=%q]').click()`, frozen), nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, frozen), 5*time.Second)
	// The page knows the customer's state: Link is disabled, and says why.
	a.waitJS(`document.querySelector('[data-testid="link-account"]').disabled`, 5*time.Second)
	if why := a.text("link-why"); !strings.Contains(why, "frozen") || !strings.Contains(why, "only for verified customers") {
		t.Errorf("the disabled Link button's reason says %q", why)
	}
	// A list older than the customer's state (frozen since) would leave the
	// button on: Go checks again at the click and refuses before anything
	// is created.
	a.js(`(() => { document.querySelector('[data-testid="link-account"]').disabled = false; return true; })()`, nil)
	a.click("link-account")
	a.waitJS(`document.querySelector('[data-testid="start-refused-headline"]')`, 10*time.Second)
	a.shot("frozen-refused")
	if h := a.text("start-refused-headline"); !strings.Contains(h, "frozen") {
		t.Errorf("the refusal says %q, want that the customer is frozen", h)
	}
	if n := a.sim().Cybrid.Stats().ByRoute["POST /api/workflows"]; n != workflows {
		t.Errorf("%d workflows were created for a frozen customer", n-workflows)
	}
}

func exitFromLinkLinksNothing(a *app) {
	t := a.t
	customer := a.takeCustomer().GUID
	a.click("link-account")
	a.inLink("pane-consent", 15*time.Second)
	a.linkClick("consent-continue")
	a.linkClick("institution-ins_109508")
	a.inLink("pane-credentials", 10*time.Second)
	a.closeLink() // Plaid may ask to confirm the exit
	a.waitJS(`document.querySelector('[data-testid="result"]')`, 10*time.Second)
	a.shot("exited")
	var result string
	a.js(`document.querySelector('[data-testid="result"]').dataset.result`, &result)
	if result != "exited" {
		t.Fatalf("attempt ended %q, want exited", result)
	}
	if text := a.text("result-text"); !strings.Contains(text, "bank sign-in") {
		t.Errorf("result does not say where the customer left: %q", text)
	}
	if n := len(a.sim().Cybrid.Accounts(customer)); n != 0 {
		t.Errorf("simulator has %d accounts after an exit", n)
	}
	// The Link iframe is gone after exit.
	a.waitJS(`!document.querySelector('iframe[id^="plaid-link-iframe"]') || document.querySelector('iframe[id^="plaid-link-iframe"]').style.display === "none" || document.querySelector('iframe[id^="plaid-link-iframe"]').hidden`, 5*time.Second)
}
