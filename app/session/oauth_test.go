package session_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"linkdesk/app/internal/wait"
)

// openOAuthBank starts linking and walks Link to Platypus OAuth Bank's
// "Continue to bank", which opens the bank's sign-in page in a native pop-up
// (window.open from Link's cross-origin iframe).
func (a *app) openOAuthBank() string {
	a.t.Helper()
	customer := a.takeCustomer().GUID
	a.click("link-account")
	a.inLink("pane-consent", 15*time.Second)
	a.linkClick("consent-continue")
	a.linkFill("institution-search", "OAuth")
	a.linkClick("institution-ins_127287")
	a.inLink("pane-oauth", 10*time.Second)
	a.shot("link-oauth")
	a.linkClick("oauth-continue")
	a.waitPopups(1, 10*time.Second)
	a.inPopup("bank-approve", 10*time.Second)
	a.shot("bank-popup")
	return customer
}

func (a *app) result() string {
	a.t.Helper()
	a.waitJS(`document.querySelector('[data-testid="result"]')`, 15*time.Second)
	var r string
	a.js(`document.querySelector('[data-testid="result"]').dataset.result`, &r)
	return r
}

func oauthBankApprovedInPopup(a *app) {
	t := a.t
	customer := a.openOAuthBank()
	if _, err := a.popup("click", sel("bank-approve")); err != nil {
		t.Fatalf("approve in the bank pop-up: %v", err)
	}
	// The bank page returns to Link through window.opener and closes itself.
	a.waitPopups(0, 10*time.Second)
	a.inLink("pane-select-account", 10*time.Second)
	a.shot("after-oauth-select-account")
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		t.Fatalf("attempt ended %q: %s", r, a.text("result"))
	}
	a.shot("oauth-linked")
	accts := a.sim().Cybrid.Accounts(customer)
	if len(accts) != 1 || accts[0].InstitutionID != "ins_127287" {
		t.Fatalf("simulator accounts = %+v, want one at Platypus OAuth Bank", accts)
	}
	logs := a.log()
	for _, want := range []string{"Plaid Link event OPEN_OAUTH", "The bank's sign-in window opened", "The bank's sign-in window closed itself"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %q", want)
		}
	}
}

func oauthBankDenied(a *app) {
	t := a.t
	customer := a.openOAuthBank()
	if _, err := a.popup("click", sel("bank-deny")); err != nil {
		t.Fatalf("deny in the bank pop-up: %v", err)
	}
	a.waitPopups(0, 10*time.Second)
	// Plaid shows its error pane; the customer leaves Link from there.
	a.inLink("pane-error", 10*time.Second)
	a.shot("oauth-denied-in-link")
	a.linkClick("error-exit")
	r := a.result()
	a.shot("oauth-denied")
	if r == "done" {
		t.Fatal("a denied OAuth attempt ended done")
	}
	if txt := a.text("result-text"); !strings.Contains(txt, "declined") || !strings.Contains(txt, "Link again") {
		t.Errorf("the result does not explain the denial and what to do: %q", txt)
	}
	if !strings.Contains(a.log(), "Plaid Link event FAIL_OAUTH") {
		t.Error("FAIL_OAUTH did not reach Go")
	}
	if !strings.Contains(a.log(), "status=requires_oauth") {
		t.Error("onExit did not report status requires_oauth")
	}
	if n := len(a.sim().Cybrid.Accounts(customer)); n != 0 {
		t.Errorf("%d accounts after a denied OAuth", n)
	}
}

func oauthPopupClosedByHand(a *app) {
	t := a.t
	customer := a.openOAuthBank()
	a.w.ClosePopups(false) // as the user closing the window
	a.waitPopups(0, 5*time.Second)
	// The flow hears it at once; Link, which looks for its window every
	// 400 ms, goes back to its OAuth step (Continue to bank again, no
	// longer waiting for the bank).
	a.waitJS(`[...document.querySelectorAll('[data-testid="activity"] li')].some(li => li.innerText.includes("closed before finishing"))`, 5*time.Second)
	a.inLink("pane-oauth", 10*time.Second)
	a.until(10*time.Second, "Link back at its OAuth step", func() (bool, error) {
		v, err := a.link("text", sel("oauth-continue"), nil)
		return err == nil && strings.Contains(string(v), "Continue to bank") && !a.drv.LinkShows("oauth-waiting"), fmt.Errorf("Continue button %s %v", v, err)
	})
	a.shot("popup-closed-by-hand")
	a.closeLink()
	if r := a.result(); r != "exited" {
		t.Fatalf("attempt ended %q, want exited: %s", r, a.text("result"))
	}
	if !strings.Contains(a.text("result-text"), "OAuth") {
		t.Errorf("the result does not say the customer left at the bank's page: %q", a.text("result-text"))
	}
	if !strings.Contains(a.log(), "Plaid Link event CLOSE_OAUTH") {
		t.Error("CLOSE_OAUTH did not reach Go")
	}
	if n := len(a.sim().Cybrid.Accounts(customer)); n != 0 {
		t.Errorf("%d accounts after the pop-up was closed", n)
	}
}

// The fallback: the operator opens the bank's page in the system browser
// (no window.opener there). After approval the bank sends that browser to the
// redirect URI, which linkdesk serves on loopback; linkdesk re-creates Link
// with the same link token and receivedRedirectUri and Link resumes.
func oauthInSystemBrowserReturnsThroughTheRedirectURI(a *app) {
	t := a.t
	customer := a.openOAuthBank()
	if !a.w.ClickOpenExternal() {
		t.Fatal("the pop-up has no Open in system browser button")
	}
	bankURL := a.browser.page(a)
	// The embedded pop-up is retired: the bank's page lives in the browser
	// now, and one OAuth state is not worked in two places.
	a.waitPopups(0, 5*time.Second)
	a.shot("opened-in-system-browser")
	// Be the system browser: approve on the bank page, then follow Plaid's
	// return, which (with no opener) goes to the redirect URI.
	u, _ := url.Parse(bankURL)
	state := u.Query().Get("oauth_state_id")
	if state == "" {
		t.Fatalf("bank URL %s carries no oauth_state_id", bankURL)
	}
	origin := u.Scheme + "://" + u.Host
	body, _ := json.Marshal(map[string]any{"oauth_state_id": state, "decision": "approve"})
	req, _ := http.NewRequest("POST", origin+"/link/v2/stable/sim/bank/decide", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("approving at the bank: %v %v", err, resp)
	}
	resp.Body.Close()
	redirect := a.env().Redirect.URI + "?oauth_state_id=" + url.QueryEscape(state)
	if !strings.HasPrefix(redirect, "http://localhost:") {
		t.Errorf("the simulator's redirect URI is %s, want http://localhost:PORT/…", a.env().Redirect.URI)
	}
	resp, err = http.Get(redirect)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the browser landing on the redirect URI: %v %v", err, resp)
	}
	resp.Body.Close()
	// Link is re-created with receivedRedirectUri and continues at once.
	a.waitPopups(0, 10*time.Second)
	a.inLink("pane-select-account", 15*time.Second)
	a.shot("resumed-after-redirect")
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		t.Fatalf("attempt ended %q: %s", r, a.text("result"))
	}
	if accts := a.sim().Cybrid.Accounts(customer); len(accts) != 1 {
		t.Fatalf("simulator has %d accounts, want 1", len(accts))
	}
	if !strings.Contains(a.log(), "OAuth redirect received") {
		t.Error("the redirect return was not recorded")
	}
}

// When the system browser cannot be started, the pop-up says so instead of
// claiming success, stays (the operator can go on there, or Copy link), and
// the attempt's Activity says what happened.
func oauthSystemBrowserThatDoesNotStart(a *app) {
	t := a.t
	a.browser.failWith(errors.New("no program to open a browser was found (xdg-open)"))
	a.openOAuthBank()
	if !a.w.ClickOpenExternal() {
		t.Fatal("the pop-up has no Open in system browser button")
	}
	note := ""
	wait.Until(5*time.Second, func() (bool, error) {
		note = a.w.PopupNote()
		return strings.Contains(note, "could not be opened"), nil
	})
	if !strings.Contains(note, "could not be opened") || !strings.Contains(note, "xdg-open") || !strings.Contains(note, "Copy link") {
		t.Errorf("the pop-up says %q; want that the browser could not be opened, why, and Copy link", note)
	}
	if n := a.w.PopupCount(); n != 1 {
		t.Errorf("%d pop-ups are open; the bank's page must stay in linkdesk's pop-up", n)
	}
	a.shot("browser-did-not-start")
	if !strings.Contains(a.log(), "system browser could not be opened") {
		t.Error("the failure was not recorded on the attempt")
	}
}
