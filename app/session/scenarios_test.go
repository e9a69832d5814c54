package session_test

// Every QA scenario of the simulator's catalogue (app/sim/scenarios.go),
// walked in the real window the way a tester would: apply the scenario
// (through the Go API; the picker in the page is tested with the page), do
// in Link what the scenario's how-to says, and check what an operator or QA
// checks — the result card, the simulator's store, the Plaid callbacks and
// events the app received (its log) — with a screenshot of each.
//
// One app serves all scenarios (starting a window costs seconds); each
// scenario works on a customer of its own, so stores do not mix.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/wait"
	"linkdesk/app/sim/plaidsim"
)

// scenarioRun is one scenario's walk through the app.
type scenarioRun struct {
	*app
	id       string
	customer string
	posts    int // POST /api/external_bank_accounts before the walk
}

func (a *app) accountPosts() int {
	return a.sim().Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]
}

// beginScenario ends any attempt still running, applies the scenario, picks
// the customer and marks the log and the old result card.
func (a *app) beginScenario(t *testing.T, id string, opts map[string]string, customer string) *scenarioRun {
	t.Helper()
	a = a.in(t)
	if a.w.PopupCount() > 0 { // left over by a failed scenario
		a.w.ClosePopups(false)
	}
	var running bool
	a.js(`!!document.querySelector('[data-testid="cancel-attempt"]')`, &running)
	if running {
		a.click("cancel-attempt")
		a.waitJS(`!document.querySelector('[data-testid="cancel-attempt"]')`, 10*time.Second)
	}
	if err := a.sim().ApplyScenario(id, opts); err != nil {
		t.Fatalf("ApplyScenario(%s): %v", id, err)
	}
	if got := a.sim().ActiveScenario(); got != id {
		t.Fatalf("active scenario = %q after applying %s", got, id)
	}
	row := fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid="%s"]')`, customer)
	a.waitJS(row, 10*time.Second)
	a.js(row+`.click()`, nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q`, customer), 5*time.Second)
	// The previous attempt's result card stays until a new attempt renders;
	// mark it so that waits only see the new one.
	a.js(`(() => { const r = document.querySelector('[data-testid="result"]'); if (r) r.dataset.stale = "1"; return true; })()`, nil)
	a.logMark = len(a.logs.String())
	return &scenarioRun{app: a, id: id, customer: customer, posts: a.accountPosts()}
}

func (r *scenarioRun) shot(name string) { r.app.shot(r.id + "-" + name) }

// logLine returns the first line logged since the scenario began that
// contains msg, or "".
func (r *scenarioRun) logLine(msg string) string {
	for _, l := range strings.Split(r.log(), "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	return ""
}

var logDataRE = regexp.MustCompile(`\bdata=("(?:[^"\\]|\\.)*")`)

// logData returns the JSON the line's data attribute carries (the flow logs
// event data as JSON), decoded; nil when there is none.
func logData(line string) map[string]any {
	m := logDataRE.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	raw, err := strconv.Unquote(m[1])
	if err != nil {
		return nil
	}
	var out map[string]any
	if json.Unmarshal([]byte(raw), &out) != nil {
		return nil
	}
	return out
}

// field follows path through nested JSON objects ("error.error_code").
func field(data map[string]any, path string) any {
	var v any = data
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// wantLogged checks that each message was logged (a Plaid callback or event
// reached Go).
func (r *scenarioRun) wantLogged(msgs ...string) {
	r.t.Helper()
	for _, m := range msgs {
		if r.logLine(m) == "" {
			r.t.Errorf("%s: the app did not log %q", r.id, m)
		}
	}
}

// wantExit checks the onExit the app received: its status and error code
// ("" for none).
func (r *scenarioRun) wantExit(status, errorCode string) {
	r.t.Helper()
	l := r.logLine(`msg="Plaid Link: onExit"`)
	if l == "" {
		r.t.Errorf("%s: no onExit reached the app", r.id)
		return
	}
	d := logData(l)
	if status != "" && field(d, "metadata.status") != status {
		r.t.Errorf("%s: onExit status is not %s: %s", r.id, status, l)
	}
	if errorCode == "" && field(d, "error") != nil {
		r.t.Errorf("%s: onExit carried an error: %s", r.id, l)
	}
	if errorCode != "" && field(d, "error.error_code") != errorCode {
		r.t.Errorf("%s: onExit error is not %s: %s", r.id, errorCode, l)
	}
}

func (r *scenarioRun) startLink() {
	r.t.Helper()
	r.waitJS(`!document.querySelector('[data-testid="link-account"]').disabled`, 5*time.Second)
	r.click("link-account")
}

// result waits for the new attempt's result card and returns its state.
func (r *scenarioRun) result() string {
	r.t.Helper()
	r.waitJS(`document.querySelector('[data-testid="result"]:not([data-stale])')`, 20*time.Second)
	var s string
	r.js(`document.querySelector('[data-testid="result"]').dataset.result`, &s)
	return s
}

// wantResult checks the result card: state, a title fragment, text
// fragments and the code ("" for none).
func (r *scenarioRun) wantResult(state, title string, code string, text ...string) {
	r.t.Helper()
	if got := r.result(); got != state {
		r.fatalf("%s: attempt ended %q, want %q: %s", r.id, got, state, r.text("result"))
	}
	if got := r.text("result-title"); !strings.Contains(got, title) {
		r.t.Errorf("%s: result title %q, want it to contain %q", r.id, got, title)
	}
	body := r.text("result-text")
	for _, want := range text {
		if !strings.Contains(body, want) {
			r.t.Errorf("%s: result text %q does not contain %q", r.id, body, want)
		}
	}
	var gotCode string
	r.js(`(() => { const e = document.querySelector('[data-testid="result-code"]'); return e ? e.innerText : ""; })()`, &gotCode)
	if want := map[bool]string{true: "", false: "code: " + code}[code == ""]; strings.TrimSpace(gotCode) != want {
		r.t.Errorf("%s: result code %q, want %q", r.id, gotCode, want)
	}
}

// wantNothingLinked checks that Cybrid got no account for the customer and
// no account was even posted.
func (r *scenarioRun) wantNothingLinked() {
	r.t.Helper()
	if n := len(r.sim().Cybrid.Accounts(r.customer)); n != 0 {
		r.t.Errorf("%s: the simulator holds %d accounts for the customer, want none", r.id, n)
	}
	if n := r.accountPosts() - r.posts; n != 0 {
		r.t.Errorf("%s: %d POST /api/external_bank_accounts were made, want none", r.id, n)
	}
}

// lastSession is the simulated Plaid's record of the newest Link session,
// once it has ended (Link reports an exit without waiting for the answer,
// so the record may trail onExit a little; it waits up to 3 s).
func (r *scenarioRun) lastSession() plaidsim.SessionInfo {
	var last plaidsim.SessionInfo
	wait.Until(3*time.Second, func() (bool, error) {
		if ss := r.sim().Plaid.Sessions(); len(ss) > 0 {
			last = ss[len(ss)-1]
		}
		return last.Step == "exited" || last.Step == "connected", nil
	})
	return last
}

// waitLinkShown waits until Link's iframe is shown (after onLoad and
// open()), so that the test driver inside it is loaded and answers at once.
func (r *scenarioRun) waitLinkShown() {
	r.t.Helper()
	r.waitJS(`(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return f && f.style.display === "block"; })()`, 20*time.Second)
}

func (r *scenarioRun) toInstitutions() {
	r.t.Helper()
	r.waitLinkShown()
	r.inLink("pane-consent", 15*time.Second)
	r.linkClick("consent-continue")
	r.inLink("pane-select-institution", 10*time.Second)
}

// signIn goes from consent to First Platypus Bank's sign-in and submits the
// credentials.
func (r *scenarioRun) signIn(user, pass string) {
	r.t.Helper()
	r.toInstitutions()
	r.linkClick("institution-ins_109508")
	r.inLink("pane-credentials", 10*time.Second)
	r.linkFill("credentials-username", user)
	r.linkFill("credentials-password", pass)
	r.linkClick("credentials-submit")
}

// pickAccounts ticks the accounts (by mask) at Account Select and goes on
// to the success pane and back to the app.
func (r *scenarioRun) pickAccounts(masks ...string) {
	r.t.Helper()
	r.inLink("pane-select-account", 10*time.Second)
	for _, m := range masks {
		r.linkClick("account-" + m)
	}
	r.linkClick("account-continue")
	r.inLink("pane-connected", 10*time.Second)
	r.linkClick("connected-continue")
}

// TestQAScenariosInTheWindow walks every scenario of the catalogue.
func TestQAScenariosInTheWindow(t *testing.T) {
	a := startApp(t, quickSim)
	var customers []string
	for _, c := range a.sim().Cybrid.Customers() {
		if c.State == "verified" {
			customers = append(customers, c.GUID)
		}
	}
	next := 0
	newCustomer := func() string {
		if next >= len(customers) {
			t.Fatalf("more scenarios than verified customers (%d)", len(customers))
		}
		next++
		return customers[next-1]
	}
	covered := map[string]bool{}
	run := func(id string, f func(t *testing.T)) {
		covered[id] = true
		t.Run(id, f)
	}
	var linkedCustomer, linkedAccount string // from "normal", reused by "connection_expired"

	run("normal", func(t *testing.T) {
		r := a.beginScenario(t, "normal", nil, newCustomer())
		r.startLink()
		r.signIn("user_good", "pass_good")
		r.pickAccounts("0000")
		r.wantResult("done", "Linked", "", "Plaid Checking", "ownership verification")
		r.waitJS(`document.querySelector('[data-testid="account-row"][data-state="unverified"]')`, 5*time.Second)
		r.shot("linked")
		accts := a.sim().Cybrid.Accounts(r.customer)
		if len(accts) != 1 || accts[0].State != "unverified" || accts[0].Mask != "0000" || accts[0].InstitutionID != "ins_109508" {
			t.Fatalf("simulator accounts = %+v, want Plaid Checking 0000 at ins_109508, unverified", accts)
		}
		r.wantLogged("Plaid Link: onLoad", "Plaid Link event OPEN", "Plaid Link event SUBMIT_CREDENTIALS", "Plaid Link event HANDOFF", "Plaid Link: onSuccess")
		linkedCustomer, linkedAccount = r.customer, accts[0].GUID
	})

	run("failed_workflow", func(t *testing.T) {
		r := a.beginScenario(t, "failed_workflow", nil, newCustomer())
		r.startLink()
		r.wantResult("failed", "Linking failed", "plaid_failure", "plaid_failure", "Try again")
		r.shot("failed")
		wf := a.sim().Cybrid.Workflows()[0]
		if wf.CustomerGUID != r.customer || wf.State != "failed" || wf.FailureCode != "plaid_failure" {
			t.Errorf("newest workflow = %+v, want the customer's, failed/plaid_failure", wf)
		}
		if txt := r.text("result-text"); !strings.Contains(txt, wf.GUID) {
			t.Errorf("the result does not name the workflow %s to report: %q", wf.GUID, txt)
		}
		if r.logLine("Plaid Link: onLoad") != "" {
			t.Error("Link was opened although the workflow failed")
		}
		r.wantNothingLinked()
	})

	run("several_accounts", func(t *testing.T) {
		r := a.beginScenario(t, "several_accounts", nil, newCustomer())
		r.startLink()
		r.signIn("user_good", "pass_good")
		r.inLink("pane-select-account", 10*time.Second)
		if got := r.linkText("account-title"); got != "Select accounts" {
			t.Errorf("Account Select title %q: not in multi-select", got)
		}
		r.linkClick("account-0000")
		r.linkClick("account-1111")
		r.shot("two-accounts")
		r.linkClick("account-continue")
		r.inLink("pane-connected", 10*time.Second)
		r.linkClick("connected-continue")
		r.wantResult("failed", "Linking failed", "account_count", "2 accounts", "exactly one account")
		r.shot("refused")
		l := r.logLine(`msg="Plaid Link: onSuccess"`)
		if accts, _ := field(logData(l), "metadata.accounts").([]any); len(accts) != 2 {
			t.Errorf("onSuccess did not report 2 accounts: %q", l)
		}
		r.wantNothingLinked()
	})

	run("mfa", func(t *testing.T) {
		r := a.beginScenario(t, "mfa", nil, newCustomer())
		r.startLink()
		r.signIn("user_good", "mfa_device")
		r.inLink("pane-mfa", 10*time.Second)
		r.linkFill("mfa-code", "0000")
		r.linkClick("mfa-submit")
		r.inLink("mfa-error", 10*time.Second)
		if got := r.linkText("mfa-error"); !strings.Contains(got, "MFA") {
			t.Errorf("wrong code: inline error %q", got)
		}
		r.shot("wrong-code")
		r.linkFill("mfa-code", "1234")
		r.linkClick("mfa-submit")
		r.pickAccounts("1111")
		r.wantResult("done", "Linked", "", "Plaid Saving")
		r.shot("linked")
		if accts := a.sim().Cybrid.Accounts(r.customer); len(accts) != 1 || accts[0].Mask != "1111" || accts[0].State != "unverified" {
			t.Errorf("simulator accounts = %+v, want Plaid Saving 1111, unverified", accts)
		}
		r.wantLogged("Plaid Link event SUBMIT_MFA", "INVALID_MFA", "Plaid Link: onSuccess")
	})

	run("wrong_password", func(t *testing.T) {
		r := a.beginScenario(t, "wrong_password", nil, newCustomer())
		r.startLink()
		r.signIn("user_good", "pass_good")
		r.inLink("credentials-error", 10*time.Second)
		if got := r.linkText("credentials-error"); !strings.Contains(got, "credentials were not correct") {
			t.Errorf("inline error %q", got)
		}
		r.shot("inline-error")
		r.closeLink()
		r.wantResult("failed", "Linking failed", "INVALID_CREDENTIALS", "rejected the sign-in details")
		r.shot("result")
		r.wantLogged("Plaid Link event ERROR")
		r.wantExit("requires_credentials", "INVALID_CREDENTIALS")
		r.wantNothingLinked()
	})

	run("institution_down", func(t *testing.T) {
		r := a.beginScenario(t, "institution_down", nil, newCustomer())
		r.startLink()
		r.toInstitutions()
		r.linkClick("institution-ins_109508") // healthy in Plaid's Sandbox
		r.inLink("pane-error", 10*time.Second)
		if got := r.linkText("error-code"); got != "INSTITUTION_DOWN" {
			t.Errorf("Link's error pane shows code %q", got)
		}
		r.shot("error-pane")
		r.linkClick("error-exit")
		r.wantResult("failed", "Linking failed", "INSTITUTION_DOWN", "not available right now", "another bank")
		r.shot("result")
		r.wantLogged("Plaid Link event SELECT_DOWN_INSTITUTION", "Plaid Link event ERROR")
		r.wantExit("", "INSTITUTION_DOWN")
		if l := r.logLine(`msg="Plaid Link: onExit"`); field(logData(l), "error.error_type") != "INSTITUTION_ERROR" {
			t.Errorf("onExit error_type is not INSTITUTION_ERROR: %s", l)
		}
		r.wantNothingLinked()
	})

	// Exits: where the customer leaves, what onExit says, what the operator reads.
	exits := []struct {
		id, status, where string
		walk              func(r *scenarioRun)
	}{
		{"exit_consent", "requires_credentials", "", func(r *scenarioRun) { r.waitLinkShown(); r.inLink("pane-consent", 15*time.Second) }},
		{"exit_institution_search", "institution_not_found", "while searching for the bank", func(r *scenarioRun) {
			r.toInstitutions()
			r.linkFill("institution-search", "Tartan")
			time.Sleep(500 * time.Millisecond) // Link reports a search after a pause in typing
		}},
		{"exit_credentials", "requires_credentials", "at the bank sign-in", func(r *scenarioRun) {
			r.toInstitutions()
			r.linkClick("institution-ins_109508")
			r.inLink("pane-credentials", 10*time.Second)
		}},
		{"exit_mfa", "requires_code", "at the one-time code", func(r *scenarioRun) {
			r.signIn("user_good", "mfa_device")
			r.inLink("pane-mfa", 10*time.Second)
		}},
		{"exit_account_selection", "requires_account_selection", "at the account selection", func(r *scenarioRun) {
			r.signIn("user_good", "pass_good")
			r.inLink("pane-select-account", 10*time.Second)
		}},
		{"exit_oauth", "requires_oauth", "OAuth", func(r *scenarioRun) {
			r.toInstitutions()
			r.linkFill("institution-search", "OAuth")
			r.linkClick("institution-ins_127287")
			r.inLink("pane-oauth", 10*time.Second)
		}},
	}
	for _, e := range exits {
		run(e.id, func(t *testing.T) {
			r := a.beginScenario(t, e.id, nil, newCustomer())
			r.startLink()
			e.walk(r)
			r.shot("before-exit")
			r.closeLink()
			r.wantResult("exited", "nothing linked", "", "Nothing was linked")
			r.shot("result")
			txt := r.text("result-text")
			if e.where != "" && !strings.Contains(txt, e.where) {
				t.Errorf("the result does not say the customer left %s: %q", e.where, txt)
			}
			if e.id == "exit_consent" && strings.Contains(txt, "at the bank sign-in") {
				// Plaid's status requires_credentials also covers "before an
				// institution was chosen" (no institution in onExit's
				// metadata); the customer never saw a sign-in.
				t.Errorf("the customer left at the consent pane, before choosing a bank, but the result says %q", txt)
			}
			r.wantExit(e.status, "")
			if se := r.lastSession(); se.ExitStatus != e.status {
				t.Errorf("the simulated Plaid recorded exit status %q, want %q (session %+v)", se.ExitStatus, e.status, se)
			}
			if e.id == "exit_institution_search" {
				r.wantLogged("Plaid Link event SEARCH_INSTITUTION")
			}
			r.wantNothingLinked()
		})
	}

	run("oauth_approve", func(t *testing.T) {
		r := a.beginScenario(t, "oauth_approve", nil, newCustomer())
		r.startLink()
		r.toInstitutions()
		r.linkFill("institution-search", "OAuth")
		r.linkClick("institution-ins_127287")
		r.linkClick("oauth-continue")
		r.waitPopups(1, 10*time.Second)
		r.inPopup("bank-approve", 20*time.Second)
		r.shot("bank")
		if _, err := r.popup("click", sel("bank-approve")); err != nil {
			t.Fatalf("approve in the bank's window: %v", err)
		}
		r.waitPopups(0, 10*time.Second)
		r.pickAccounts("0000")
		r.wantResult("done", "Linked", "")
		r.shot("linked")
		if accts := a.sim().Cybrid.Accounts(r.customer); len(accts) != 1 || accts[0].InstitutionID != "ins_127287" {
			t.Errorf("simulator accounts = %+v, want one at Platypus OAuth Bank", accts)
		}
		r.wantLogged("Plaid Link event OPEN_OAUTH", "Plaid Link: onSuccess")
		if r.logLine("Plaid Link event SUBMIT_CREDENTIALS") != "" {
			t.Error("an OAuth bank reported SUBMIT_CREDENTIALS")
		}
	})

	run("oauth_deny", func(t *testing.T) {
		r := a.beginScenario(t, "oauth_deny", nil, newCustomer())
		r.startLink()
		r.toInstitutions()
		r.linkFill("institution-search", "OAuth")
		r.linkClick("institution-ins_127287")
		r.linkClick("oauth-continue")
		r.waitPopups(1, 10*time.Second)
		r.inPopup("bank-deny", 20*time.Second)
		if _, err := r.popup("click", sel("bank-deny")); err != nil {
			t.Fatalf("deny in the bank's window: %v", err)
		}
		r.waitPopups(0, 10*time.Second)
		r.inLink("pane-error", 10*time.Second)
		r.shot("denied-in-link")
		r.linkClick("error-exit")
		r.wantResult("failed", "Linking failed", "INTERNAL_SERVER_ERROR", "declined", "Link again")
		r.shot("result")
		r.wantLogged("Plaid Link event FAIL_OAUTH", "Plaid Link event ERROR")
		r.wantExit("requires_oauth", "INTERNAL_SERVER_ERROR")
		r.wantNothingLinked()
	})

	run("account_creation_failed", func(t *testing.T) {
		r := a.beginScenario(t, "account_creation_failed", nil, newCustomer())
		r.startLink()
		r.signIn("user_good", "pass_good")
		r.pickAccounts("0000")
		r.wantResult("failed", "Linking failed", "create_failed", "create_failed", "could not create the account")
		r.waitJS(`document.querySelector('[data-testid="account-row"][data-state="failed"]')`, 5*time.Second)
		r.shot("failed")
		accts := a.sim().Cybrid.Accounts(r.customer)
		if len(accts) != 1 || accts[0].State != "failed" || accts[0].FailureCode != "create_failed" {
			t.Errorf("simulator accounts = %+v, want one failed/create_failed", accts)
		}
		if got := r.text("account-rows"); !strings.Contains(got, "create_failed") {
			t.Errorf("the accounts table does not show the failure code: %q", got)
		}
		if got := a.sim().ActiveScenario(); got != "normal" {
			t.Errorf("after one account the scenario is still %q", got)
		}
	})

	run("connection_expired", func(t *testing.T) {
		if linkedAccount == "" {
			t.Skip("needs the account linked by the normal scenario, which failed")
		}
		r := a.beginScenario(t, "connection_expired", map[string]string{"customer_guid": linkedCustomer}, linkedCustomer)
		if acct, _ := a.sim().Cybrid.Account(linkedAccount); acct.State != "refresh_required" {
			t.Fatalf("after applying the account is %s, want refresh_required", acct.State)
		}
		needs := func() bool {
			for _, it := range a.sim().Plaid.Items() {
				if it.CustomerGUID == linkedCustomer && it.NeedsUpdate {
					return true
				}
			}
			return false
		}
		if !needs() {
			t.Error("the Plaid item does not need update mode")
		}
		r.click("accounts-reload")
		btn := fmt.Sprintf(`document.querySelector('[data-testid="refresh-account"][data-guid="%s"]')`, linkedAccount)
		r.waitJS(btn, 5*time.Second)
		r.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="account-row"][data-guid="%s"]').dataset.state === "refresh_required"`, linkedAccount), 5*time.Second)
		r.shot("refresh-required")
		r.js(btn+`.click()`, nil)
		r.waitLinkShown()
		r.inLink("pane-credentials", 15*time.Second)
		r.linkFill("credentials-username", "user_good")
		r.linkFill("credentials-password", "pass_good")
		r.linkClick("credentials-submit")
		r.inLink("pane-connected", 10*time.Second)
		r.linkClick("connected-continue")
		r.wantResult("done", "Connection renewed", "")
		r.shot("renewed")
		if acct, _ := a.sim().Cybrid.Account(linkedAccount); acct.State != "unverified" {
			t.Errorf("after update mode the account is %s, want unverified (not yet verified)", acct.State)
		}
		if needs() {
			t.Error("the Plaid item still needs update mode")
		}
		wf := a.sim().Cybrid.Workflows()[0]
		if wf.Kind != "link_token_update" || wf.ExternalBankAccountGUID != linkedAccount {
			t.Errorf("newest workflow = %+v, want link_token_update for %s", wf, linkedAccount)
		}
		if l := r.logLine("Plaid Link event OPEN"); field(logData(l), "metadata.is_update_mode") != "true" {
			t.Errorf("Link's OPEN was not in update mode: %s", l)
		}
		if n := len(a.sim().Cybrid.Accounts(linkedCustomer)); n != 1 {
			t.Errorf("update mode left %d accounts, want the one", n)
		}
	})

	run("link_token_expired", func(t *testing.T) {
		r := a.beginScenario(t, "link_token_expired", nil, newCustomer())
		// Prefetching is on: the token prepared when the customer was opened
		// is the expired one. Link, created before the click, refuses it at
		// once, and linkdesk prepares another without the operator.
		r.waitLogged("Plaid Link refused the prepared link token before the click (INVALID_LINK_TOKEN", 1, 20*time.Second)
		r.until(15*time.Second, "a second link token prepared after Link refused the first", func() (bool, error) {
			return strings.Count(r.log(), "Link token prepared in") >= 2, nil
		})
		if got := a.sim().ActiveScenario(); got != "normal" {
			t.Errorf("after one token the scenario is still %q", got)
		}
		r.startLink()
		r.waitLinkShown()
		r.inLink("pane-consent", 15*time.Second)
		r.shot("expired-token-replaced")
		if l := r.logLine(`msg="Plaid Link refused the prepared link token`); field(logData(l), "error_code") != "INVALID_LINK_TOKEN" {
			t.Errorf("the refusal's record lacks its error code: %s", l)
		}
		r.closeLink()
		r.wantResult("exited", "nothing linked", "")
		r.wantNothingLinked()
		// Starting again gets a new token, and Link opens.
		r.js(`document.querySelector('[data-testid="result"]').dataset.stale = "1"`, nil)
		r.click("try-again")
		r.waitLinkShown()
		r.inLink("pane-consent", 15*time.Second)
		r.shot("started-again")
		r.closeLink()
		r.wantResult("exited", "nothing linked", "")
	})

	// Last: linkdesk's poller learns how long workflows take, and a slow one
	// would make it wait longer for the fast ones of the scenarios after.
	run("slow_workflow", func(t *testing.T) {
		const delay = 1500 * time.Millisecond
		r := a.beginScenario(t, "slow_workflow", map[string]string{"delay": delay.String()}, newCustomer())
		started := time.Now()
		r.startLink()
		// Meanwhile: a spinner, the elapsed time and the poll count; the
		// workflow is still storing at Cybrid.
		r.waitJS(`document.querySelector('[data-testid="step-token"][data-status="active"] .spinner')`, 5*time.Second)
		r.waitJS(`/^\d+\.\d s · [2-9]\d* polls$/.test(document.querySelector('[data-testid="elapsed"]').innerText.trim())`, 3*time.Second)
		// Cybrid's side: the customer's workflow is still storing (checked
		// only while the delay is not over, which a loaded machine may miss).
		if wf := a.sim().Cybrid.Workflows()[0]; wf.CustomerGUID != r.customer {
			t.Errorf("the newest workflow is %+v, want the customer's", wf)
		} else if time.Since(wf.CreatedAt) < delay-300*time.Millisecond && wf.State != "storing" {
			t.Errorf("%s after its creation the workflow is %s, want storing", time.Since(wf.CreatedAt), wf.State)
		}
		r.shot("waiting")
		r.waitLinkShown()
		r.inLink("pane-consent", 15*time.Second)
		if d := time.Since(started); d < delay-200*time.Millisecond {
			t.Errorf("Link opened %s after starting; the workflow takes %s", d, delay)
		}
		l := r.logLine("Link token ready; opening Plaid Link")
		if n, ok := field(logData(l), "polls").(float64); !ok {
			t.Errorf("no poll count logged when the token arrived: %q", l)
		} else if n < 3 {
			t.Errorf("the workflow was polled %v times in %s", n, delay)
		}
		r.closeLink()
		r.wantResult("exited", "nothing linked", "")
	})

	// A scenario added to the catalogue needs a walk here.
	for _, sc := range a.sim().Scenarios() {
		if !covered[sc.ID] {
			t.Errorf("scenario %s (%s) is not walked in the window", sc.ID, sc.Title)
		}
	}
	a.sim().ResetScenario()
}
