package session_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/wait"
	"linkdesk/app/keychain"
	"linkdesk/app/session"
	"linkdesk/app/sim"
)

// The route of an OAuth bank that refuses embedded views: Chase (ins_56),
// which the simulator models and LINKDESK_OAUTH_BROWSER_INSTITUTIONS lists
// by default. The system browser is the test's stand-in registered as
// Navigation.OpenExternal; it approves at the simulated bank as a browser
// would and follows Plaid's return (the redirect URI, since it has no
// window.opener).

// browserStandIn records the pages linkdesk hands to "the system browser",
// or fails to start as told.
type browserStandIn struct {
	opened chan string
	mu     sync.Mutex
	fail   error
}

func newBrowser() *browserStandIn { return &browserStandIn{opened: make(chan string, 16)} }

func (b *browserStandIn) install(s *session.Session) { s.Navigation.OpenExternal = b.open }

func (b *browserStandIn) open(u string) error {
	b.mu.Lock()
	fail := b.fail
	b.mu.Unlock()
	if fail != nil {
		return fail
	}
	select {
	case b.opened <- u:
	default: // nobody reads them: the test is not about the browser
	}
	return nil
}

// failWith makes the browser fail to start, with err, until reset.
func (b *browserStandIn) failWith(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = err
}

// reset forgets the pages opened and starts working again.
func (b *browserStandIn) reset() {
	b.failWith(nil)
	for {
		select {
		case <-b.opened:
		default:
			return
		}
	}
}

// page waits for the page linkdesk opened in the browser.
func (b *browserStandIn) page(a *app) string {
	a.t.Helper()
	select {
	case u := <-b.opened:
		return u
	case <-time.After(10 * time.Second):
		a.fatalf("linkdesk opened nothing in the system browser")
	}
	return ""
}

// approve signs in at the bank page bankURL as the browser and returns its
// oauth_state_id and the address Plaid's return page sends the browser to
// (the redirect URI with oauth_state_id).
func (b *browserStandIn) approve(a *app, bankURL string) (state, redirect string) {
	a.t.Helper()
	u, _ := url.Parse(bankURL)
	state = u.Query().Get("oauth_state_id")
	if state == "" {
		a.fatalf("bank URL %s carries no oauth_state_id", bankURL)
	}
	origin := u.Scheme + "://" + u.Host
	call := func(name string, body map[string]any) map[string]any {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", origin+"/link/v2/stable/sim/"+name, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		// A desktop browser's user agent: the bank signs in there.
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			a.fatalf("%s at the bank: %v %v", name, err, resp)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	call("bank/decide", map[string]any{"oauth_state_id": state, "decision": "approve"})
	ret := call("bank/return", map[string]any{"oauth_state_id": state})
	ru, _ := ret["redirect_uri"].(string)
	if ru == "" {
		a.fatalf("Plaid's return page has no redirect URI to send the browser to: %v", ret)
	}
	return state, ru + "?oauth_state_id=" + url.QueryEscape(state)
}

// visit opens rawURL as the browser's top-level page and returns the status
// and the page's text.
func visit(a *app, rawURL string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Dest", "document")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.fatalf("visiting %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openBank walks Link to the OAuth bank's "Continue to bank" and presses it.
func (a *app) openBank(search, id string) string {
	a.t.Helper()
	customer := a.takeCustomer().GUID
	a.click("link-account")
	a.inLink("pane-consent", 15*time.Second)
	a.linkClick("consent-continue")
	a.linkFill("institution-search", search)
	a.linkClick("institution-" + id)
	a.inLink("pane-oauth", 10*time.Second)
	a.linkClick("oauth-continue")
	return customer
}

// inBrowserWait checks that linkdesk waits for the bank in the browser: no
// bank window is shown, Link waits in its OAuth step, and the attempt and
// the page's call say so with the bank page's address.
func (a *app) inBrowserWait(bankURL string) string {
	a.t.Helper()
	wait.Until(5*time.Second, func() (bool, error) { return a.w.BrowserWaitCount() == 1, nil })
	if n, m := a.w.PopupCount(), a.w.BrowserWaitCount(); n != 0 || m != 1 {
		a.fatalf("%d bank windows shown and %d placeholders; want none shown and one placeholder", n, m)
	}
	a.inLink("oauth-waiting", 5*time.Second)
	at, _, _ := a.env().Flow.OpenLink()
	id := at.ID
	if !at.BankInBrowser {
		a.fatalf("the attempt does not show that its bank runs in the browser: %+v", at)
	}
	w := a.s.BrowserWait(id)
	if !w.Waiting || w.URL != bankURL || w.InstitutionID != "ins_56" {
		a.fatalf("oauth.browserWait = %+v; want the bank page %s at ins_56", w, bankURL)
	}
	// The operator sees it: where to finish, and what can be done.
	a.waitJS(`document.querySelector('[data-testid="bank-browser-title"]')`, 5*time.Second)
	if title := a.text("bank-browser-title"); !strings.Contains(title, "Chase") || !strings.Contains(title, "in your browser") {
		a.fatalf("the attempt panel says %q; want to finish signing in to Chase in the browser", title)
	}
	return id
}

// finishLink selects the account after Link resumed and checks the result.
func (a *app) finishLink(customer string) {
	a.t.Helper()
	a.inLink("pane-select-account", 15*time.Second)
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		a.fatalf("attempt ended %q: %s", r, a.text("result"))
	}
	accts := a.sim().Cybrid.Accounts(customer)
	if len(accts) != 1 || accts[0].InstitutionID != "ins_56" {
		a.fatalf("simulator accounts = %+v, want one at Chase", accts)
	}
}

func oauthBrowserOnlyBankThroughTheSystemBrowserAndLoopback(a *app) {
	t, b := a.t, a.browser
	customer := a.openBank("Chase", "ins_56")
	bankURL := b.page(a)
	id := a.inBrowserWait(bankURL)
	a.shot("chase-in-system-browser")
	_, redirect := b.approve(a, bankURL)
	if status, body := visit(a, redirect); status != 200 || !strings.Contains(body, "Back to linkdesk") {
		t.Fatalf("the browser back at the loopback redirect URI: %d %s", status, body)
	}
	a.finishLink(customer)
	if a.w.BrowserWaitCount() != 0 {
		t.Error("the placeholder outlived the return")
	}
	if w := a.s.BrowserWait(id); w.Waiting {
		t.Error("oauth.browserWait still waits after the return")
	}
	logs := a.log()
	for _, want := range []string{"the bank's sign-in page opened in the system browser (OAuth route)", "ins_56 is listed to sign in in the system browser",
		"OAuth redirect received; resuming Plaid Link", `oauth_state_id_checked\":true`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %q", want)
		}
	}
}

// linkdeskBinary builds linkdesk once for the tests that run it as the
// second process the OS starts for linkdesk:// URLs.
var linkdeskBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "linkdesk-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "linkdesk")
	cmd := exec.Command("go", "build", "-o", bin, "linkdesk")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &exec.ExitError{Stderr: out}
	}
	return bin, nil
})

// handOver runs `linkdesk <rawURL>` as the OS would for the scheme, against
// the running session, and returns its exit code and output.
func (a *app) handOver(rawURL string) (int, string) {
	a.t.Helper()
	bin, err := linkdeskBinary()
	if err != nil {
		var ee *exec.ExitError
		if errorsAs(err, &ee) {
			a.fatalf("go build: %s", ee.Stderr)
		}
		a.fatalf("go build: %v", err)
	}
	cmd := exec.Command(bin, rawURL)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+a.runtime)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		a.fatalf("running %s: %v", bin, err)
	}
	return code, string(out)
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// The production way back, rehearsed in the simulator: the hosted return
// page forwards the bank's answer as linkdesk://oauth-return?<query>, the OS
// starts a second linkdesk with it, and that one hands it to the running
// linkdesk and exits.
func oauthBrowserOnlyBankReturnsThroughTheLinkdeskScheme(a *app) {
	t, b := a.t, a.browser
	if _, err := linkdeskBinary(); err != nil {
		t.Fatalf("building linkdesk: %v", err)
	}
	customer := a.openBank("Chase", "ins_56")
	bankURL := b.page(a)
	a.inBrowserWait(bankURL)
	state, _ := b.approve(a, bankURL)
	start := time.Now()
	code, out := a.handOver("linkdesk://oauth-return?oauth_state_id=" + url.QueryEscape(state))
	if code != 0 || !strings.Contains(out, "went to the running linkdesk") {
		t.Fatalf("linkdesk linkdesk://… exited %d: %s", code, out)
	}
	if strings.Contains(out, state) {
		t.Errorf("the second linkdesk printed the oauth_state_id: %s", out)
	}
	t.Logf("the second linkdesk handed over and exited in %s", time.Since(start).Round(time.Millisecond))
	a.shot("handed-over")
	a.finishLink(customer)
	if !strings.Contains(a.log(), "a bank's answer was handed over through linkdesk://") {
		t.Error("the hand-over was not logged")
	}
	// The same answer a second time is stale: refused, and said so.
	if code, out := a.handOver("linkdesk://oauth-return?oauth_state_id=" + url.QueryEscape(state)); code != 1 || !strings.Contains(out, "already took this answer") {
		t.Errorf("the same answer again: exit %d: %s", code, out)
	}
}

// A return whose oauth_state_id is not the one the attempt waits for
// (foreign), one that was used already (stale), and one when nothing waits
// are refused on every way back, and linkdesk goes on waiting for the right
// one.
func oauthReturnWithAStaleOrForeignStateIsRefused(a *app) {
	t, b := a.t, a.browser
	if _, err := linkdeskBinary(); err != nil {
		t.Fatalf("building linkdesk: %v", err)
	}
	redirectURI := a.env().Redirect.URI
	if code, out := a.handOver("linkdesk://oauth-return?oauth_state_id=nothing-waits"); code != 1 || !strings.Contains(out, "not waiting") {
		t.Errorf("a hand-over while nothing waits: exit %d: %s", code, out)
	}
	customer := a.openBank("Chase", "ins_56")
	bankURL := b.page(a)
	a.inBrowserWait(bankURL)
	const foreign = "0d7f3c52-5e1a-4c4b-9a57-3f1e2d4c5b6a"
	if code, out := a.handOver("linkdesk://oauth-return?oauth_state_id=" + foreign); code != 1 || !strings.Contains(out, "another bank sign-in") {
		t.Errorf("a foreign oauth_state_id handed over: exit %d: %s", code, out)
	}
	if status, body := visit(a, redirectURI+"?oauth_state_id="+foreign); status != 409 || !strings.Contains(body, "another bank sign-in") {
		t.Errorf("a foreign oauth_state_id at the loopback redirect URI: %d %s", status, body)
	}
	if strings.Contains(a.logs.String(), foreign) {
		t.Error("the log holds the refused oauth_state_id")
	}
	// linkdesk still waits, and takes the right answer.
	if w := a.s.BrowserWait(a.inBrowserWait(bankURL)); !w.Waiting {
		t.Fatal("a refused return ended the wait")
	}
	_, redirect := b.approve(a, bankURL)
	if status, _ := visit(a, redirect); status != 200 {
		t.Fatalf("the right answer: %d", status)
	}
	a.finishLink(customer)
	if status, body := visit(a, redirect); status != 409 || !strings.Contains(body, "already took this answer") {
		t.Errorf("the same answer again at the loopback redirect URI: %d %s", status, body)
	}
}

// The simulated Chase refuses to sign in inside linkdesk's pop-up (the
// OAuth route popup, as QA sets it to rehearse the refusal): the bank shows
// its own "open this in your browser" message and Link reports FAIL_OAUTH.
func oauthBankThatRefusesTheEmbeddedPopup(a *app) {
	t := a.t
	before := a.s.OAuthRoute().Route
	if info, err := a.s.SetOAuthRoute("popup"); err != nil || info.Route != "popup" {
		t.Fatalf("SetOAuthRoute(popup) = %+v, %v", info, err)
	}
	defer a.s.SetOAuthRoute(before)
	customer := a.openBank("Chase", "ins_56")
	a.waitPopups(1, 10*time.Second)
	a.inPopup("bank-refused", 10*time.Second)
	v, err := a.popup("text", sel("bank-refused"))
	if err != nil || !strings.Contains(string(v), "open this page in your browser") && !strings.Contains(string(v), "Open this page in your browser") {
		t.Errorf("the bank's refusal says %s (%v)", v, err)
	}
	a.shot("chase-refuses-embedded")
	a.inLink("pane-error", 10*time.Second)
	a.linkClick("error-exit")
	if r := a.result(); r == "done" {
		t.Fatal("an attempt whose bank refused ended done")
	}
	// Link delivers its events at the end of the flow.
	if !strings.Contains(a.log(), "Plaid Link event FAIL_OAUTH") {
		t.Error("FAIL_OAUTH did not reach Go")
	}
	if n := len(a.sim().Cybrid.Accounts(customer)); n != 0 {
		t.Errorf("%d accounts after the bank refused", n)
	}
}

// The operator's actions on the wait: Open again hands the same page to the
// browser; Cancel ends the wait — the placeholder goes, Link is back at its
// OAuth step, the attempt no longer waits, and the bank's return that comes
// later is refused.
func oauthBrowserWaitOpenAgainAndCancel(a *app) {
	t, b := a.t, a.browser
	a.openBank("Chase", "ins_56")
	bankURL := b.page(a)
	id := a.inBrowserWait(bankURL)
	a.click("bank-browser-open")
	a.waitJS(`document.querySelector('[data-testid="bank-browser-note"]')`, 5*time.Second)
	if msg := a.text("bank-browser-note"); !strings.Contains(msg, "opened in your browser again") {
		t.Errorf("Open again says %q", msg)
	}
	if again := b.page(a); again != bankURL {
		t.Errorf("open again opened %s, want %s", again, bankURL)
	}
	a.click("bank-browser-cancel")
	// The card goes (the wait ended: oauth_browser "cancelled").
	a.waitJS(`!document.querySelector('[data-testid="bank-browser"]')`, 5*time.Second)
	wait.Until(5*time.Second, func() (bool, error) { return a.w.BrowserWaitCount() == 0, nil })
	if n := a.w.BrowserWaitCount(); n != 0 {
		t.Fatalf("%d placeholders after cancel", n)
	}
	// Link sees its window closed and goes back to its OAuth step.
	a.inLink("pane-oauth", 10*time.Second)
	var v json.RawMessage
	wait.Until(5*time.Second, func() (bool, error) {
		v, _ = a.link("text", sel("oauth-continue"), nil)
		return strings.Contains(string(v), "Continue to bank"), nil
	})
	if !strings.Contains(string(v), "Continue to bank") {
		t.Errorf("Link's OAuth step after cancel shows %s", v)
	}
	if at, _, _ := a.env().Flow.OpenLink(); at.BankInBrowser {
		t.Error("the attempt still waits for its bank in the browser")
	}
	if _, err := a.s.BrowserAction(id, "cancel"); err == nil {
		t.Error("a second cancel found a wait")
	}
	_, redirect := b.approve(a, bankURL)
	if status, body := visit(a, redirect); status != 409 || !strings.Contains(body, "not waiting") {
		t.Errorf("the bank's return after cancel: %d %s", status, body)
	}
	a.shot("browser-wait-cancelled")
}

// Production's way back, in sandbox against a simulator run apart (its
// Plaid stands in for Plaid's): the redirect URI is https, registered with
// Cybrid, so the bank sends the browser to the operator team's hosted page,
// which — where linkdesk:// is not registered — forwards the query to
// linkdesk's loopback port (LINKDESK_OAUTH_RETURN_PORT). Link is re-created
// with the https address as receivedRedirectUri, which Plaid (here the
// simulator) checks against the link token's redirect_uri.
func TestOAuthHttpsRedirectReturnsThroughTheLoopbackPort(t *testing.T) {
	other, err := sim.Start(withDriver(quickSim))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	const hosted = "https://linkdesk.example.com/oauth-return"
	env := other.SandboxEnv()
	env[config.VarRedirectURI], env[config.VarOAuthReturnPort] = hosted, strconv.Itoa(port)
	cfg, err := config.LoadFrom(env.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	store := keychain.NewMemory()
	store.Set("sandbox", keychain.Credentials{ClientID: other.ClientID, ClientSecret: other.ClientSecret})
	b := newBrowser()
	a := startAppConfig(t, cfg, sim.Options{}, store, b.install)
	customer := a.openBank("Chase", "ins_56")
	bankURL := b.page(a)
	a.inBrowserWait(bankURL)
	state, redirect := b.approve(a, bankURL)
	if want := hosted + "?oauth_state_id=" + state; redirect != want {
		t.Fatalf("the bank sends the browser to %s, want the hosted page %s", redirect, want)
	}
	// The hosted page's loopback route, as its script forms it.
	u, _ := url.Parse(redirect)
	if status, body := visit(a, fmt.Sprintf("http://127.0.0.1:%d/oauth-return?%s", port, u.RawQuery)); status != 200 || !strings.Contains(body, "Back to linkdesk") {
		t.Fatalf("the hosted page forwarding to the loopback port: %d %s", status, body)
	}
	a.inLink("pane-select-account", 15*time.Second)
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	if r := a.result(); r != "done" {
		t.Fatalf("attempt ended %q: %s", r, a.text("result"))
	}
	if accts := other.Cybrid.Accounts(customer); len(accts) != 1 || accts[0].InstitutionID != "ins_56" {
		t.Fatalf("accounts = %+v, want one at Chase", accts)
	}
	if !strings.Contains(a.logs.String(), "OAuth redirect received; resuming Plaid Link") {
		t.Error("the return was not recorded")
	}
}
