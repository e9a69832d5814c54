package session_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// key sends a key press to the focused element, as the keyboard would.
func (a *app) key(k string) {
	a.t.Helper()
	a.js(fmt.Sprintf(`(() => { const t = document.activeElement || document.body; const ev = new KeyboardEvent("keydown", {key: %q, bubbles: true, cancelable: true}); t.dispatchEvent(ev); return true; })()`, k), nil)
}

// focused returns the test id (or tag) of the focused element.
func (a *app) focused() string {
	var s string
	a.js(`(() => { const e = document.activeElement; return e ? (e.dataset.testid || e.tagName) : ""; })()`, &s)
	return s
}

// linkWithKeyboard links an account for the customer on screen: "n" starts,
// the simulated Link is driven to the end.
func (a *app) linkAccount(start func()) {
	a.t.Helper()
	start()
	a.signInToPlatypus(false)
	a.inLink("pane-select-account", 10*time.Second)
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		a.fatalf("link ended %q: %s", r, a.text("result"))
	}
}

// An operator works a customer with the keyboard alone: search, pick, link,
// verify; the shortcuts work and focus lands where the next action is.
// (The second customer of the list is held out of the shared app's pool
// for it: the arrow keys land on it.)
func keyboardOnlyDay(a *app) {
	t := a.t
	want := a.sim().Cybrid.Customers()[4]
	a.key("/")
	if f := a.focused(); f != "customer-search" {
		t.Fatalf(`"/" focused %q, want the search box`, f)
	}
	// Search by name as it is typed, without Enter (Cybrid has no name
	// filter: linkdesk scans the pages).
	last := strings.Fields(want.Name)[len(strings.Fields(want.Name))-1]
	a.js(fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid="customer-search"]'); i.value = %q; i.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, last), nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid="%s"]') && document.querySelectorAll('[data-testid="customer-row"]').length < 25`, want.GUID), 5*time.Second)
	a.shot("search")
	a.key("ArrowDown") // from the search box into the results
	a.js(`(document.querySelector('[data-testid="customer-row"]').focus(), true)`, nil)
	a.key("Enter")
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, want.GUID), 5*time.Second)
	if f := a.focused(); f != "link-account" {
		t.Errorf("after Enter the focus is on %q, want the Link button", f)
	}
	// Search by GUID.
	a.key("/")
	a.js(fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid="customer-search"]'); i.value = %q; i.form.requestSubmit(); return true; })()`, want.GUID), nil)
	// (The name searched before may have matched one customer too: the
	// GUID's answer is the one that names it.)
	a.waitJS(fmt.Sprintf(`document.querySelectorAll('[data-testid="customer-row"]').length === 1 && document.querySelector('[data-testid="search-note"]').innerText.includes(%q)`, want.GUID), 5*time.Second)
	// Esc clears the search; arrows move in the list.
	a.js(`(document.querySelector('[data-testid="customer-search"]').focus(), true)`, nil)
	a.key("Escape")
	a.waitJS(`document.querySelectorAll('[data-testid="customer-row"]').length > 5`, 5*time.Second)
	// Esc leaves the search on the first row.
	a.key("ArrowDown")
	a.key("ArrowDown")
	var idx int
	a.js(`[...document.querySelectorAll('[data-testid="customer-row"]')].indexOf(document.activeElement)`, &idx)
	if idx != 2 {
		t.Errorf("two ArrowDowns from the first row moved to row %d, want 2", idx)
	}
	// The row the keys moved to shows that it has the focus: linkdesk's
	// ring (2 px, solid, the accent colour), not WebKit's faint "auto" one.
	const ring = `(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`
	var outline string
	a.js(ring, &outline)
	if outline != "solid 2px" {
		t.Errorf("the customer row the arrow keys moved to shows its focus as %q, want linkdesk's solid 2px ring", outline)
	}
	a.key("ArrowUp")
	a.key("Enter")
	first := a.sim().Cybrid.Customers()[1]
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, first.GUID), 5*time.Second)

	// "n" links a new account.
	a.linkAccount(func() { a.key("n") })
	a.shot("linked-by-keyboard")
	// j moves to the account (focus shown), v verifies its ownership.
	a.js(`(document.activeElement && document.activeElement.blur(), true)`, nil)
	a.key("j")
	a.waitJS(`document.activeElement && document.activeElement.closest('[data-testid="account-row"]')`, 3*time.Second)
	a.js(ring, &outline)
	if outline != "solid 2px" {
		t.Errorf("the account j moved to shows its focus as %q, want linkdesk's solid 2px ring", outline)
	}
	a.shot("account-focused")
	a.key("v")
	a.waitJS(`document.querySelector('[data-testid="steps"][data-kind="verify"]')`, 5*time.Second)
	if r := a.result(); r != "done" {
		t.Fatalf("verification ended %q: %s", r, a.text("result"))
	}
	a.shot("verified")
	if !strings.Contains(a.text("result-title"), "Ownership verified") {
		t.Errorf("verification result title = %q", a.text("result-title"))
	}
	accts := a.sim().Cybrid.Accounts(first.GUID)
	if len(accts) != 1 || accts[0].State != "completed" {
		t.Fatalf("after verification the simulator holds %+v, want one completed account", accts)
	}
	a.waitJS(`document.querySelector('[data-testid="account-row"]').dataset.state === "completed"`, 5*time.Second)
	// "?" shows the shortcuts; Esc closes the dialog.
	a.js(`(document.activeElement.blur(), true)`, nil)
	a.key("?")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	if !strings.Contains(a.text("dialog-body"), "link a new bank account") {
		t.Errorf("the shortcuts dialog lacks the link shortcut: %q", a.text("dialog-body"))
	}
	a.shot("shortcuts")
	a.js(`(document.querySelector('[data-testid="dialog"]').close("cancel"), true)`, nil)
}

func unlinkAsksFirstAndDeletes(a *app) {
	t := a.t
	customer := a.takeCustomer().GUID
	a.linkAccount(func() { a.click("link-account") })
	a.waitJS(`document.querySelector('[data-testid="unlink-account"]')`, 5*time.Second)
	guid := a.sim().Cybrid.Accounts(customer)[0].GUID
	// Cancelling the confirmation changes nothing.
	a.click("unlink-account")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	a.shot("unlink-confirm")
	a.click("dialog-cancel")
	time.Sleep(300 * time.Millisecond)
	if acct, _ := a.sim().Cybrid.Account(guid); acct.State == "deleting" || acct.State == "deleted" {
		t.Fatal("cancelling the confirmation unlinked the account")
	}
	// Confirming deletes it; the list follows deleting → gone.
	a.click("unlink-account")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	a.click("dialog-ok")
	a.waitJS(`!document.querySelector('[data-testid="account-row"]') || document.querySelector('[data-testid="account-row"]').dataset.state === "deleting"`, 5*time.Second)
	a.waitJS(`!document.querySelector('[data-testid="account-row"]')`, 10*time.Second)
	// The card of the attempt that linked it no longer says it is ready.
	a.waitJS(`document.querySelector('[data-testid="result-title"]').innerText === "Unlinked since"`, 5*time.Second)
	if txt := a.text("result-text"); !strings.Contains(txt, guid) || !strings.Contains(txt, "unlinked") {
		t.Errorf("after unlinking, the result card says %q", txt)
	}
	a.shot("unlinked")
	if acct, _ := a.sim().Cybrid.Account(guid); acct.State != "deleted" {
		t.Errorf("the simulator's account is %s, want deleted", acct.State)
	}
	// Who unlinked it, and when: the unlinked account, shown on demand, and
	// the audit log.
	who, _ := user.Current()
	a.click("show-unlinked")
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="account-row"][data-guid="%s"] [data-testid="unlinked-by"]')`, guid), 5*time.Second)
	if got := a.text("unlinked-by"); !strings.Contains(got, "unlinked by "+who.Username) {
		t.Errorf("the unlinked row says %q; want it unlinked by %s", got, who.Username)
	}
	a.shot("show-unlinked")
	a.key("a")
	a.waitJS(`document.querySelector('[data-testid="audit-record"][data-action="unlink"][data-outcome="success"]')`, 5*time.Second)
	var row string
	a.js(`document.querySelector('[data-testid="audit-record"][data-action="unlink"]').innerText`, &row)
	if !strings.Contains(row, guid) || !strings.Contains(row, who.Username) || !strings.Contains(row, "sim") {
		t.Errorf("the audit log's unlink record reads %q; want the account, the environment and who", row)
	}
	a.shot("audit-log")
	a.click("audit-export")
	a.waitJS(`document.querySelector('[data-testid="audit-export-note"] code')`, 5*time.Second)
	var path string
	a.js(`document.querySelector('[data-testid="audit-export-note"] code').innerText`, &path)
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), guid) {
		t.Errorf("the audit export %s: %v (holds the account: %v)", path, err, strings.Contains(string(b), guid))
	}
	a.click("dialog-ok")
}

// (Exports go to the shared app's folder: startSharedApp.)
func timelineAndExport(a *app) {
	t := a.t
	customer := a.takeCustomer().GUID
	a.linkAccount(func() { a.click("link-account") })
	a.click("tab-timeline")
	a.waitJS(`document.querySelectorAll('[data-testid="timeline-entry"][data-kind="api"]').length >= 3`, 5*time.Second)
	var kinds []string
	a.js(`[...new Set([...document.querySelectorAll('[data-testid="timeline-entry"]')].map(e => e.dataset.kind))]`, &kinds)
	joined := strings.Join(kinds, ",")
	for _, k := range []string{"api", "state", "plaid_event", "plaid_callback"} {
		if !strings.Contains(joined, k) {
			t.Errorf("the timeline shows no %s entries (kinds: %s)", k, joined)
		}
	}
	a.shot("timeline")
	a.click("export-attempt")
	a.waitJS(`document.querySelectorAll('[data-testid="export-path"]').length === 2`, 10*time.Second)
	var paths []string
	a.js(`[...document.querySelectorAll('[data-testid="export-path"]')].map(e => e.innerText)`, &paths)
	a.shot("exported")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("export %s: %v", p, err)
		}
		body := string(b)
		if !strings.Contains(body, a.sim().Cybrid.Accounts(customer)[0].GUID) {
			t.Errorf("export %s does not name the account it linked", p)
		}
		for _, leak := range []string{"public-sandbox-", "link-sandbox-", a.sim().ClientSecret} {
			if strings.Contains(body, leak) {
				t.Errorf("export %s contains %q", p, leak)
			}
		}
	}
}

// Switching environment needs no restart; an environment without stored
// credentials shows the first-run screen, which stores them in the keychain
// (the secret is never shown again) and connects.
func TestSwitchEnvironmentAndFirstRun(t *testing.T) {
	// The "sandbox" here is a second simulator, reached through the base-URL
	// overrides (Cybrid and Plaid themselves cannot be reached from here).
	other, err := sim.Start(sim.Options{ClientID: "sandbox-id", ClientSecret: "sandbox-canary-secret-9f2"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	store := keychain.NewMemory()
	a := startAppWith(t, quickSim, store, map[string]string{
		"LINKDESK_BANK_API_URL":     other.BankURL,
		"LINKDESK_IDENTITY_API_URL": other.IdentityURL,
	})
	// Work done in the simulator before the round trip: an account linked,
	// and the timeline that recorded it.
	simCustomer := a.pickFirstCustomer()
	a.linkAccount(func() { a.click("link-account") })
	simBankURL := a.sim().BankURL
	var before struct {
		Entries []json.RawMessage `json:"entries"`
	}
	a.js(`import("/contract.js").then((m) => m.call("timeline", {attempt_id: "", since: 0}))`, &before)
	a.click("env-sandbox")
	a.waitJS(`document.body.dataset.ready === "true" && !document.querySelector('[data-testid="firstrun"]').hidden`, 15*time.Second)
	a.shot("first-run")
	var checked string
	a.js(`document.querySelector('[data-testid="env-sandbox"]').getAttribute("aria-checked")`, &checked)
	if checked != "true" {
		t.Errorf("the environment switch shows sandbox as %q", checked)
	}
	// A wrong entry is explained, and the secret field is cleared.
	a.js(`(() => { document.querySelector('[data-testid="firstrun-client-id"]').value = "sandbox-id"; document.querySelector('[data-testid="firstrun-secret"]').value = " bad secret "; document.querySelector('[data-testid="firstrun-form"]').requestSubmit(); return true; })()`, nil)
	a.waitJS(`!document.querySelector('[data-testid="firstrun-error"]').hidden`, 5*time.Second)
	var secretLeft string
	a.js(`document.querySelector('[data-testid="firstrun-secret"]').value`, &secretLeft)
	if secretLeft != "" {
		t.Error("the secret stayed in the field after a failed attempt")
	}
	if _, err := store.Get("sandbox"); err == nil {
		t.Error("invalid credentials were stored")
	}
	a.js(`(() => { document.querySelector('[data-testid="firstrun-client-id"]').value = "sandbox-id"; document.querySelector('[data-testid="firstrun-secret"]').value = "sandbox-canary-secret-9f2"; document.querySelector('[data-testid="firstrun-form"]').requestSubmit(); return true; })()`, nil)
	a.waitJS(`document.body.dataset.ready === "true" && document.querySelector('[data-testid="firstrun"]').hidden && document.querySelector('[data-testid="customer-row"]')`, 15*time.Second)
	a.shot("sandbox-connected")
	c, err := store.Get("sandbox")
	if err != nil || c.ClientID != "sandbox-id" || c.ClientSecret != "sandbox-canary-secret-9f2" {
		t.Fatalf("keychain holds %v, %v", c, err)
	}
	var page string
	a.js(`document.documentElement.outerHTML`, &page)
	if strings.Contains(page, "sandbox-canary-secret-9f2") {
		t.Error("the secret is in the page after it was stored")
	}
	if strings.Contains(a.logs.String(), "sandbox-canary-secret-9f2") {
		t.Error("the secret reached the log")
	}
	// The sandbox hint: Plaid's test credentials and the redirect URI rule.
	a.pickFirstCustomer()
	hint := a.text("sandbox-hint")
	for _, want := range []string{"user_good", "pass_good", "Platypus OAuth Bank", "registered with Cybrid"} {
		if !strings.Contains(hint, want) {
			t.Errorf("the sandbox hint lacks %q: %q", want, hint)
		}
	}
	a.shot("sandbox-customer")
	// The customers are the second simulator's: the client talks to it.
	if n := other.Cybrid.Stats().TokenRequests; n == 0 {
		t.Error("no token was requested from the sandbox stand-in")
	}
	// And back to the simulator, without a restart: the same simulator —
	// its address, the account linked before, and the timeline.
	a.click("env-sim")
	a.waitJS(`document.body.dataset.ready === "true" && document.querySelector('[data-testid="env-sim"]').getAttribute("aria-checked") === "true"`, 15*time.Second)
	a.waitJS(`document.querySelector('[data-testid="customer-row"]')`, 10*time.Second)
	if got := a.sim().BankURL; got != simBankURL {
		t.Errorf("after the round trip the simulator is at %s, before at %s", got, simBankURL)
	}
	if n := len(a.sim().Cybrid.Accounts(simCustomer)); n != 1 {
		t.Errorf("after the round trip the simulator has %d accounts for the customer, want the 1 linked before", n)
	}
	a.selectCustomer(simCustomer)
	a.waitJS(`document.querySelector('[data-testid="account-row"]')`, 5*time.Second)
	var after struct {
		Entries []json.RawMessage `json:"entries"`
	}
	a.js(`import("/contract.js").then((m) => m.call("timeline", {attempt_id: "", since: 0}))`, &after)
	if len(before.Entries) < 10 || len(after.Entries) < len(before.Entries) {
		t.Errorf("the simulator's timeline had %d entries before the round trip and %d after", len(before.Entries), len(after.Entries))
	}
	a.shot("back-in-sim")
}

func TestProductionIsUnmistakable(t *testing.T) {
	store := keychain.NewMemory()
	store.Set("production", keychain.Credentials{ClientID: "prod-id", ClientSecret: "prod-secret-xyz"})
	a := startAppWith(t, sim.Options{}, store, map[string]string{"LINKDESK_ENVIRONMENT": "production"})
	a.waitJS(`!document.querySelector('[data-testid="prod-banner"]').hidden`, 10*time.Second)
	if b := a.text("prod-banner"); !strings.Contains(b, "PRODUCTION") {
		t.Errorf("production banner = %q", b)
	}
	var bg string
	a.js(`getComputedStyle(document.querySelector('[data-testid="env-production"]')).backgroundColor`, &bg)
	if !strings.HasPrefix(bg, "rgb(192, 36, 26") {
		t.Errorf("the production switch is %s, want the production red", bg)
	}
	a.shot("production")
}

func darkTheme(a *app) {
	t := a.t
	a.takeCustomer()
	a.linkAccount(func() { a.click("link-account") })
	a.click("theme-toggle")
	var theme, bg string
	a.js(`document.documentElement.dataset.theme`, &theme)
	a.js(`getComputedStyle(document.body).backgroundColor`, &bg)
	if theme != "dark" || bg == "rgb(244, 246, 249)" {
		t.Errorf("after the toggle: theme %q, background %s", theme, bg)
	}
	a.shot("dark")
}

// startAppWith starts linkdesk with configuration variables and a keychain.
func startAppWith(t *testing.T, so sim.Options, store keychain.Store, env map[string]string) *app {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return startAppConfig(t, cfg, so, store)
}

// An attempt that linkdesk was running when it stopped (kill -9, power cut)
// is shown at the next start with what happened and what to do.
func TestInterruptedAttemptIsShownAtStart(t *testing.T) {
	other, err := sim.Start(sim.Options{ClientID: "sandbox-id", ClientSecret: "sandbox-secret-4d1"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dir := t.TempDir()
	// The panel names the customer (from the list shown, or customerNames
	// when the panel comes first).
	c := other.Cybrid.Customers()[24]
	customer := c.GUID
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: other.BankURL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j.Observe(linkflow.Attempt{ID: "0123456789abcdef", Kind: linkflow.KindLink, CustomerGUID: customer, State: linkflow.LinkOpen,
		StartedAt: now.Add(-time.Minute), UpdatedAt: now, StateSince: now}, linkflow.Event{Type: "state", Time: now})
	j.Close()

	store := keychain.NewMemory()
	store.Set("sandbox", keychain.Credentials{ClientID: "sandbox-id", ClientSecret: "sandbox-secret-4d1"})
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		v, ok := map[string]string{"LINKDESK_ENVIRONMENT": "sandbox", "LINKDESK_BANK_API_URL": other.BankURL, "LINKDESK_IDENTITY_API_URL": other.IdentityURL}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	a := startAppState(t, cfg, sim.Options{}, store, dir)
	a.waitJS(`document.querySelector('[data-testid="recovered-attempt"]') && document.querySelector('[data-testid="recovered-attempt"]').dataset.outcome !== "checking"`, 15*time.Second)
	a.shot("interrupted")
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="recovered-customer"]').textContent === %q`, c.Name), 10*time.Second)
	txt := a.text("recovered")
	var title string
	a.js(`document.querySelector('[data-testid="recovered-customer"]').title`, &title)
	if !strings.Contains(txt, c.Name) || title != customer || !strings.Contains(txt, "Link again") || strings.Contains(txt, "null") {
		t.Errorf("the interrupted attempt is shown as %q (customer title %q); want the customer's name, its GUID and a way forward", txt, title)
	}
	a.click("recovered-dismiss")
	a.waitJS(`document.querySelector('[data-testid="recovered"]').hidden`, 5*time.Second)
}

// A simulator run apart (`linkdesk sim`) stands in for Cybrid's sandbox and
// for Plaid: with the base-URL overrides and LINKDESK_PLAID_SCRIPT_URL, the
// sandbox environment links end to end through the simulated Link, and the
// account is created in that simulator.
func TestSandboxLinksAgainstASimulatorRunApart(t *testing.T) {
	apart, err := sim.Start(withCredentials(withDriver(quickSim), "apart-id", "apart-secret-6b0"))
	if err != nil {
		t.Fatal(err)
	}
	defer apart.Close()
	store := keychain.NewMemory()
	if err := store.Set("sandbox", keychain.Credentials{ClientID: "apart-id", ClientSecret: "apart-secret-6b0"}); err != nil {
		t.Fatal(err)
	}
	script := apart.PlaidURL + "/link/v2/stable/link-initialize.js"
	a := startAppWith(t, sim.Options{}, store, map[string]string{
		"LINKDESK_ENVIRONMENT":      "sandbox",
		"LINKDESK_BANK_API_URL":     apart.BankURL,
		"LINKDESK_IDENTITY_API_URL": apart.IdentityURL,
		"LINKDESK_PLAID_SCRIPT_URL": script,
	})
	var got string
	a.js(`JSON.parse(document.querySelector('meta[name="linkdesk-config"]').content).plaid_script_url`, &got)
	if got != script {
		t.Fatalf("the page loads Plaid from %q, want %q", got, script)
	}
	customer := a.pickFirstCustomer()
	a.linkAccount(func() { a.click("link-account") })
	if accts := apart.Cybrid.Accounts(customer); len(accts) != 1 || accts[0].State != "unverified" {
		t.Errorf("the simulator run apart holds %+v for the customer", accts)
	}
	a.shot("sandbox-via-sim-apart")
}
