package plaidsim

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/simlink"
)

// clock is a settable time source for token expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)} }

// simServer runs a Sim on a real loopback HTTP server; link calls its Link
// API as the Link page does (Origin = the simulator's own origin).
type simServer struct {
	t    *testing.T
	sim  *Sim
	clk  *clock
	srv  *httptest.Server
	link *simlink.Client
}

func startSim(t *testing.T, o Options) *simServer {
	t.Helper()
	clk := newClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	s := New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &simServer{t: t, sim: s, clk: clk, srv: srv, link: simlink.New(srv.URL)}
}

// from is a client of ss's Link API calling from a page of origin ("" for
// none).
func (ss *simServer) from(origin string) *simlink.Client {
	return &simlink.Client{URL: ss.srv.URL, Origin: origin}
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["error_code"].(string)
	return s
}

func errType(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["error_type"].(string)
	return s
}

func (ss *simServer) token(req LinkTokenRequest) string {
	ss.t.Helper()
	if req.CustomerGUID == "" {
		req.CustomerGUID = "cust-1"
	}
	lt, err := ss.sim.CreateLinkToken(req)
	if err != nil {
		ss.t.Fatalf("CreateLinkToken: %v", err)
	}
	return lt.Token
}

// linkItem walks a non-OAuth flow at institutionID to Account Select and
// picks the first account; it returns the public token and the connected
// reply.
func (ss *simServer) linkItem(tok, institutionID string) (string, map[string]any) {
	t := ss.t
	t.Helper()
	se := ss.link.Open(t, tok)
	se.Call(t, "institution", "institution_id", institutionID)
	r := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
	if r["status"] != "select_account" {
		t.Fatalf("credentials user_good/pass_good: status %v, want select_account (%v)", r["status"], r)
	}
	c := se.Call(t, "accounts", "account_ids", simlink.Accounts(r)[:1])
	if c["status"] != "connected" {
		t.Fatalf("accounts: status %v, want connected", c["status"])
	}
	return c["public_token"].(string), c
}

var (
	linkTokenRE   = regexp.MustCompile(`^link-sandbox-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	publicTokenRE = regexp.MustCompile(`^public-sandbox-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestLinkTokenLifetimeAndExpiry(t *testing.T) {
	ss := startSim(t, Options{})
	lt, err := ss.sim.CreateLinkToken(LinkTokenRequest{CustomerGUID: "c1", Language: "en", LinkCustomizationName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if !linkTokenRE.MatchString(lt.Token) {
		t.Errorf("link token %q does not look like link-sandbox-<uuid>", lt.Token)
	}
	if want := ss.clk.Now().Add(4 * time.Hour); !lt.Expiration.Equal(want) {
		t.Errorf("expiration %v, want %v (4 h)", lt.Expiration, want)
	}
	ss.clk.Add(4*time.Hour - time.Second)
	ss.link.Call(t, "init", map[string]any{"link_token": lt.Token})
	ss.clk.Add(time.Second)
	code, r := ss.link.Try(t, "init", map[string]any{"link_token": lt.Token})
	if code != http.StatusBadRequest || errCode(r) != "INVALID_LINK_TOKEN" || errType(r) != "INVALID_INPUT" {
		t.Errorf("init at expiry: HTTP %d %v, want 400 INVALID_INPUT/INVALID_LINK_TOKEN", code, r)
	}
	code, r = ss.link.Try(t, "init", map[string]any{"link_token": "link-sandbox-00000000-0000-4000-8000-000000000000"})
	if code != http.StatusBadRequest || errCode(r) != "INVALID_LINK_TOKEN" {
		t.Errorf("unknown token: HTTP %d %v, want INVALID_LINK_TOKEN", code, r)
	}
}

func TestCreateLinkTokenRejectsBadRequests(t *testing.T) {
	s := New(Options{})
	cases := []struct {
		name string
		req  LinkTokenRequest
		want error
	}{
		{"no customer", LinkTokenRequest{Language: "en"}, ErrInvalidLinkField},
		{"bad language", LinkTokenRequest{CustomerGUID: "c", Language: "pt"}, ErrInvalidLinkField},
		{"http redirect off localhost", LinkTokenRequest{CustomerGUID: "c", RedirectURI: "http://example.com/oauth"}, ErrInvalidLinkField},
		{"redirect with query", LinkTokenRequest{CustomerGUID: "c", RedirectURI: "https://example.com/oauth?x=1"}, ErrInvalidLinkField},
		{"custom scheme", LinkTokenRequest{CustomerGUID: "c", RedirectURI: "linkdesk://oauth"}, ErrInvalidLinkField},
		{"unknown update item", LinkTokenRequest{CustomerGUID: "c", UpdateItemID: "nope"}, ErrItemNotFound},
	}
	for _, c := range cases {
		if _, err := s.CreateLinkToken(c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	for _, ok := range []string{"http://localhost:5173/oauth", "http://127.0.0.1:8080/", "https://app.example.com/oauth-return"} {
		if _, err := s.CreateLinkToken(LinkTokenRequest{CustomerGUID: "c", RedirectURI: ok}); err != nil {
			t.Errorf("redirect_uri %q refused: %v", ok, err)
		}
	}
}

func TestNonOAuthFlowAndPublicTokenSingleUse(t *testing.T) {
	ss := startSim(t, Options{})
	tok := ss.token(LinkTokenRequest{LinkCustomizationName: "default"})
	init := ss.link.Call(t, "init", map[string]any{"link_token": tok})
	if init["update_mode"] != false || init["start_view"] != "CONSENT" || init["account_select"] != "single" {
		t.Errorf("init = %v, want new-item mode starting at CONSENT with single Account Select", init)
	}
	if n := len(init["institutions"].([]any)); n < 7 {
		t.Errorf("init lists %d institutions, want the Sandbox set", n)
	}
	sid := ss.link.Call(t, "open", map[string]any{"link_token": tok})["link_session_id"].(string)
	se := ss.link.Session(tok, sid)
	se.Call(t, "institution", "institution_id", "ins_109508")

	bad := se.Call(t, "credentials", "username", "user_good", "password", "error_INVALID_CREDENTIALS")
	if bad["status"] != "error" || errCode(bad) != "INVALID_CREDENTIALS" || bad["retry"] != true {
		t.Fatalf("error_INVALID_CREDENTIALS: %v, want a retryable INVALID_CREDENTIALS", bad)
	}
	wrong := se.Call(t, "credentials", "username", "someone", "password", "guess")
	if errCode(wrong) != "INVALID_CREDENTIALS" {
		t.Errorf("wrong credentials: %v, want INVALID_CREDENTIALS", wrong)
	}
	r := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
	accts := r["accounts"].([]any)
	if r["status"] != "select_account" || len(accts) != 3 {
		t.Fatalf("user_good/pass_good: %v, want Account Select with First Platypus Bank's 3 accounts", r)
	}
	a0 := accts[0].(map[string]any)
	if a0["name"] != "Plaid Checking" || a0["mask"] != "0000" || a0["type"] != "depository" || a0["subtype"] != "checking" ||
		len(a0["id"].(string)) != 37 {
		t.Errorf("first account = %v, want Plaid Checking 0000 depository/checking with a 37-char id", a0)
	}
	for _, k := range []string{"verification_status", "class_type"} {
		if v, ok := a0[k]; !ok || v != nil {
			t.Errorf("account %s = %v (present %v), want present and null", k, v, ok)
		}
	}
	code, two := se.Try(t, "accounts", "account_ids", []any{a0["id"], accts[1].(map[string]any)["id"]})
	if code != http.StatusBadRequest {
		t.Errorf("two accounts under the default customization: HTTP %d %v, want 400", code, two)
	}
	c := se.Call(t, "accounts", "account_ids", []any{a0["id"]})
	pt := c["public_token"].(string)
	if !publicTokenRE.MatchString(pt) {
		t.Errorf("public token %q does not look like public-sandbox-<uuid>", pt)
	}

	it, err := ss.sim.ExchangePublicToken(pt)
	if err != nil {
		t.Fatalf("ExchangePublicToken: %v", err)
	}
	if it.InstitutionID != "ins_109508" || it.InstitutionName != "First Platypus Bank" || len(it.Accounts) != 1 ||
		it.Accounts[0].ID != a0["id"] || it.Accounts[0].IsoCurrencyCode != "USD" {
		t.Errorf("item = %+v, want First Platypus Bank with the one selected account", it)
	}
	if _, err := ss.sim.ExchangePublicToken(pt); !errors.Is(err, ErrPublicTokenUsed) {
		t.Errorf("second exchange: %v, want ErrPublicTokenUsed", err)
	}
	if _, err := ss.sim.ExchangePublicToken("public-sandbox-nope"); !errors.Is(err, ErrPublicTokenUnknown) {
		t.Errorf("unknown token: %v, want ErrPublicTokenUnknown", err)
	}
	items := ss.sim.Items()
	if len(items) != 1 || items[0].ItemID != it.ItemID || items[0].CustomerGUID != "cust-1" || items[0].NeedsUpdate {
		t.Errorf("Items() = %+v", items)
	}
	sess := ss.sim.Sessions()
	if len(sess) != 1 || sess[0].Step != "connected" || sess[0].ItemID != it.ItemID || sess[0].InstitutionID != "ins_109508" {
		t.Errorf("Sessions() = %+v", sess)
	}
	// The link token is used up once it linked an item.
	if code, r := ss.link.Try(t, "init", map[string]any{"link_token": tok}); code != http.StatusBadRequest || errCode(r) != "INVALID_LINK_TOKEN" {
		t.Errorf("init with a used link token: HTTP %d %v, want INVALID_LINK_TOKEN", code, r)
	}
}

func TestPublicTokenExpiresAfter30Minutes(t *testing.T) {
	ss := startSim(t, Options{})
	pt, _ := ss.linkItem(ss.token(LinkTokenRequest{}), "ins_109511")
	ss.clk.Add(30 * time.Minute)
	if _, err := ss.sim.ExchangePublicToken(pt); !errors.Is(err, ErrPublicTokenExpired) {
		t.Errorf("exchange after 30 min: %v, want ErrPublicTokenExpired", err)
	}
	pt2, _ := ss.linkItem(ss.token(LinkTokenRequest{}), "ins_109511")
	ss.clk.Add(30*time.Minute - time.Second)
	if _, err := ss.sim.ExchangePublicToken(pt2); err != nil {
		t.Errorf("exchange at 29:59: %v", err)
	}
}

func TestMultiAccountCustomization(t *testing.T) {
	ss := startSim(t, Options{})
	tok := ss.token(LinkTokenRequest{LinkCustomizationName: "multi_account"})
	if ss.link.Call(t, "init", map[string]any{"link_token": tok})["account_select"] != "multi" {
		t.Fatal("customization multi_account: Account Select is not multi")
	}
	sid := ss.link.Call(t, "open", map[string]any{"link_token": tok})["link_session_id"].(string)
	se := ss.link.Session(tok, sid)
	se.Call(t, "institution", "institution_id", "ins_109509")
	r := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
	var ids []any
	for _, a := range r["accounts"].([]any) {
		ids = append(ids, a.(map[string]any)["id"])
	}
	c := se.Call(t, "accounts", "account_ids", ids)
	if n := len(c["accounts"].([]any)); n != len(ids) {
		t.Errorf("connected with %d accounts, want %d", n, len(ids))
	}
}

func TestMFAAndSandboxErrors(t *testing.T) {
	ss := startSim(t, Options{})
	tok := ss.token(LinkTokenRequest{})
	se := ss.link.Open(t, tok)
	se.Call(t, "institution", "institution_id", "ins_109508")
	if code, _ := se.Try(t, "mfa", "code", "1234"); code != http.StatusBadRequest {
		t.Errorf("MFA without a challenge: HTTP %d, want 400", code)
	}
	r := se.Call(t, "credentials", "username", "user_good", "password", "mfa_device")
	if r["status"] != "mfa" || r["mfa_type"] != "code" {
		t.Fatalf("mfa_device: %v, want an MFA code challenge", r)
	}
	r = se.Call(t, "mfa", "code", "0000")
	if errCode(r) != "INVALID_MFA" || r["retry"] != true {
		t.Errorf("wrong code: %v, want retryable INVALID_MFA", r)
	}
	if r = se.Call(t, "mfa", "code", "1234"); r["status"] != "select_account" {
		t.Errorf("code 1234: %v, want select_account", r)
	}

	for _, c := range []struct{ code, typ string }{
		{"ITEM_LOCKED", "ITEM_ERROR"}, {"INSTITUTION_DOWN", "INSTITUTION_ERROR"}, {"INTERNAL_SERVER_ERROR", "API_ERROR"},
	} {
		tok := ss.token(LinkTokenRequest{})
		se := ss.link.Open(t, tok)
		se.Call(t, "institution", "institution_id", "ins_109510")
		r := se.Call(t, "credentials", "username", "user_good", "password", "error_"+c.code)
		if errCode(r) != c.code || errType(r) != c.typ || r["retry"] == true {
			t.Errorf("error_%s: %v, want final %s/%s", c.code, r, c.typ, c.code)
		}
		if code, _ := se.Try(t, "credentials", "username", "user_good", "password", "pass_good"); code != http.StatusBadRequest {
			t.Errorf("after error_%s the session must be over; retry got HTTP %d", c.code, code)
		}
	}

	tok = ss.token(LinkTokenRequest{})
	se = ss.link.Open(t, tok)
	if r := se.Call(t, "institution", "institution_id", "ins_132361"); errCode(r) != "INSTITUTION_DOWN" {
		t.Errorf("selecting the Down bank: %v, want INSTITUTION_DOWN", r)
	}
	se.Call(t, "exit", "status", "institution_not_found", "error_code", "INSTITUTION_DOWN")
	last := ss.sim.Sessions()[len(ss.sim.Sessions())-1]
	if last.Step != "exited" || last.ExitStatus != "institution_not_found" || last.ErrorCode != "INSTITUTION_DOWN" {
		t.Errorf("session after exit = %+v", last)
	}
}

func TestUpdateModeAndResetLogin(t *testing.T) {
	ss := startSim(t, Options{})
	pt, _ := ss.linkItem(ss.token(LinkTokenRequest{CustomerGUID: "cust-9"}), "ins_109508")
	it, err := ss.sim.ExchangePublicToken(pt)
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.sim.ResetLogin("no-such-item"); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("ResetLogin(unknown) = %v, want ErrItemNotFound", err)
	}
	if err := ss.sim.ResetLogin(it.ItemID); err != nil {
		t.Fatal(err)
	}
	if !ss.sim.Items()[0].NeedsUpdate {
		t.Fatal("ResetLogin did not mark the item as needing update mode")
	}
	lt, err := ss.sim.CreateLinkToken(LinkTokenRequest{CustomerGUID: "cust-9", UpdateItemID: it.ItemID})
	if err != nil {
		t.Fatal(err)
	}
	if want := ss.clk.Now().Add(30 * time.Minute); !lt.Expiration.Equal(want) {
		t.Errorf("update-mode token expires %v, want %v (30 min)", lt.Expiration, want)
	}
	init := ss.link.Call(t, "init", map[string]any{"link_token": lt.Token})
	if init["update_mode"] != true || init["start_view"] != "CREDENTIAL" {
		t.Errorf("update-mode init = %v, want update_mode and start at CREDENTIAL", init)
	}
	o := ss.link.Call(t, "open", map[string]any{"link_token": lt.Token})
	if ins := o["institution"].(map[string]any); ins["institution_id"] != "ins_109508" {
		t.Errorf("update-mode session institution = %v", ins)
	}
	se := ss.link.Session(lt.Token, o["link_session_id"].(string))
	if code, _ := se.Try(t, "institution", "institution_id", "ins_109509"); code != http.StatusBadRequest {
		t.Errorf("choosing another institution in update mode: HTTP %d, want 400", code)
	}
	c := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
	if c["status"] != "connected" || !publicTokenRE.MatchString(c["public_token"].(string)) {
		t.Fatalf("update-mode credentials: %v, want connected with a public token", c)
	}
	accts := c["accounts"].([]any)
	if len(accts) != 1 || accts[0].(map[string]any)["id"] != it.Accounts[0].ID {
		t.Errorf("update-mode accounts = %v, want the item's selected account %s", accts, it.Accounts[0].ID)
	}
	if ss.sim.Items()[0].NeedsUpdate {
		t.Error("a successful update-mode session left NeedsUpdate set")
	}
	if len(ss.sim.Items()) != 1 {
		t.Errorf("update mode created a new item: %+v", ss.sim.Items())
	}

	lt2, _ := ss.sim.CreateLinkToken(LinkTokenRequest{CustomerGUID: "cust-9", UpdateItemID: it.ItemID})
	ss.clk.Add(30 * time.Minute)
	if code, r := ss.link.Try(t, "init", map[string]any{"link_token": lt2.Token}); code != http.StatusBadRequest || errCode(r) != "INVALID_LINK_TOKEN" {
		t.Errorf("update token after 30 min: HTTP %d %v, want INVALID_LINK_TOKEN", code, r)
	}
}

func TestOAuthApproveDenyAndRedirectResume(t *testing.T) {
	ss := startSim(t, Options{})
	// Approve through the pop-up path.
	tok := ss.token(LinkTokenRequest{})
	se := ss.link.Open(t, tok)
	r := se.Call(t, "institution", "institution_id", "ins_127287")
	oauth := r["oauth"].(map[string]any)
	state := oauth["oauth_state_id"].(string)
	if !strings.HasPrefix(oauth["url"].(string), "/link/v2/stable/sandbox-oauth-login.html?oauth_state_id=") {
		t.Errorf("oauth url = %v", oauth["url"])
	}
	resp, err := http.Get(ss.srv.URL + oauth["url"].(string))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bank page: %v %v", err, resp)
	}
	resp.Body.Close()
	if code, _ := se.Try(t, "credentials", "username", "user_good", "password", "pass_good"); code != http.StatusBadRequest {
		t.Errorf("credentials at an OAuth bank: HTTP %d, want 400", code)
	}
	if s := se.Call(t, "oauth/status"); s["result"] != "pending" {
		t.Errorf("status before the bank decided = %v", s["result"])
	}
	if c := se.Call(t, "oauth/complete"); c["status"] != "pending" {
		t.Errorf("complete before the bank decided = %v, want pending", c)
	}
	d := ss.link.Call(t, "bank/decide", map[string]any{"oauth_state_id": state, "decision": "approve"})
	if d["return_url"] != "/link/v2/stable/oauth-return.html?oauth_state_id="+state {
		t.Errorf("return_url = %v", d["return_url"])
	}
	if rr := ss.link.Call(t, "bank/return", map[string]any{"oauth_state_id": state}); rr["result"] != "approved" || rr["redirect_uri"] != "" {
		t.Errorf("bank/return = %v", rr)
	}
	c := se.Call(t, "oauth/complete")
	if c["status"] != "select_account" {
		t.Fatalf("complete after approve = %v, want select_account", c)
	}
	if c2 := se.Call(t, "oauth/complete"); errCode(c2) != "OAUTH_STATE_ID_ALREADY_PROCESSED" {
		t.Errorf("second complete = %v, want OAUTH_STATE_ID_ALREADY_PROCESSED", c2)
	}

	// Deny.
	tok = ss.token(LinkTokenRequest{})
	se = ss.link.Open(t, tok)
	state = se.Call(t, "institution", "institution_id", "ins_127287")["oauth"].(map[string]any)["oauth_state_id"].(string)
	ss.link.Call(t, "bank/decide", map[string]any{"oauth_state_id": state, "decision": "deny"})
	if c := se.Call(t, "oauth/complete"); c["status"] != "error" || errCode(c) != "INTERNAL_SERVER_ERROR" {
		t.Errorf("complete after deny = %v, want INTERNAL_SERVER_ERROR", c)
	}

	// Redirect flow: re-initialise with receivedRedirectUri.
	redirect := "http://localhost:5555/oauth-return"
	tok = ss.token(LinkTokenRequest{RedirectURI: redirect})
	se = ss.link.Open(t, tok)
	state = se.Call(t, "institution", "institution_id", "ins_127287")["oauth"].(map[string]any)["oauth_state_id"].(string)
	ss.link.Call(t, "bank/decide", map[string]any{"oauth_state_id": state, "decision": "approve"})
	if rr := ss.link.Call(t, "bank/return", map[string]any{"oauth_state_id": state}); rr["redirect_uri"] != redirect {
		t.Errorf("bank/return redirect_uri = %v, want %s", rr["redirect_uri"], redirect)
	}
	code, bad := ss.link.Try(t, "init", map[string]any{"link_token": tok, "received_redirect_uri": redirect + "?oauth_state_id=" + newUUID()})
	if code != http.StatusBadRequest || errCode(bad) != "OAUTH_STATE_ID_NOT_FOUND" || errType(bad) != "OAUTH_ERROR" {
		t.Errorf("unknown oauth_state_id: HTTP %d %v", code, bad)
	}
	if code, bad := ss.link.Try(t, "init", map[string]any{"link_token": tok, "received_redirect_uri": "http://localhost:5555/elsewhere?oauth_state_id=" + state}); code != http.StatusBadRequest {
		t.Errorf("received URI off the token's redirect_uri: HTTP %d %v, want 400", code, bad)
	}
	received := redirect + "?oauth_state_id=" + url.QueryEscape(state)
	init := ss.link.Call(t, "init", map[string]any{"link_token": tok, "received_redirect_uri": received})
	if init["resume"] != true || init["link_session_id"] != se.ID {
		t.Errorf("resume init = %v, want resume of session %s", init, se.ID)
	}
	o := ss.link.Call(t, "open", map[string]any{"link_token": tok, "oauth_state_id": state})
	if o["link_session_id"] != se.ID || o["resume"].(map[string]any)["status"] != "select_account" {
		t.Errorf("resume open = %v, want the same session at select_account", o)
	}
	if code, again := ss.link.Try(t, "init", map[string]any{"link_token": tok, "received_redirect_uri": received}); code != http.StatusBadRequest ||
		errCode(again) != "OAUTH_STATE_ID_ALREADY_PROCESSED" {
		t.Errorf("re-using the oauth_state_id: HTTP %d %v", code, again)
	}
}

func TestAPIRefusesOtherOrigins(t *testing.T) {
	ss := startSim(t, Options{})
	tok := ss.token(LinkTokenRequest{})
	for _, origin := range []string{"", "http://127.0.0.1:1", "https://evil.example", "null"} {
		code, r := ss.from(origin).Try(t, "init", map[string]any{"link_token": tok})
		if code != http.StatusForbidden || errCode(r) != "FORBIDDEN_ORIGIN" {
			t.Errorf("Origin %q: HTTP %d %v, want 403 FORBIDDEN_ORIGIN", origin, code, r)
		}
	}
	if code, _ := ss.from(ss.srv.URL).Try(t, "init", map[string]any{"link_token": tok}); code != http.StatusOK {
		t.Errorf("own origin refused: HTTP %d", code)
	}
	resp, err := http.Get(ss.srv.URL + apiPrefix + "init")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on the API: HTTP %d, want 405", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, ss.srv.URL+apiPrefix+"init", strings.NewReader("link_token="+tok))
	req.Header.Set("Origin", ss.srv.URL)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("form-encoded POST: HTTP %d, want 400", resp.StatusCode)
	}
}

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAssetsAndDriverGate(t *testing.T) {
	plain := startSim(t, Options{})
	code, h, body := get(t, plain.srv.URL+"/link/v2/stable/link-initialize.js")
	if code != 200 || !strings.Contains(h.Get("Content-Type"), "javascript") || !strings.Contains(body, "Plaid.create") {
		t.Errorf("link-initialize.js: HTTP %d %q", code, h.Get("Content-Type"))
	}
	if code, _, _ := get(t, plain.srv.URL+"/link/v2/stable/sim-driver.js"); code != 404 {
		t.Errorf("sim-driver.js without TestDriver: HTTP %d, want 404", code)
	}
	if _, _, body := get(t, plain.srv.URL+"/link/v2/stable/link.html?token=x"); strings.Contains(body, "sim-driver.js") {
		t.Error("link.html loads the test driver although TestDriver is off")
	}
	for _, p := range []string{"/link/v2/stable/README.md", "/link/v2/stable/", "/api/customers", "/link/v2/stable/../stable/link.js"} {
		if code, _, _ := get(t, plain.srv.URL+p); code != 404 {
			t.Errorf("GET %s: HTTP %d, want 404", p, code)
		}
	}
	driven := startSim(t, Options{TestDriver: true})
	for _, p := range []string{"link.html", "sandbox-oauth-login.html"} {
		if _, h, body := get(t, driven.srv.URL+"/link/v2/stable/"+p); !strings.Contains(body, driverTag) || h.Get("Content-Security-Policy") == "" {
			t.Errorf("%s with TestDriver: driver tag or CSP missing", p)
		}
	}
	if code, _, _ := get(t, driven.srv.URL+"/link/v2/stable/sim-driver.js"); code != 200 {
		t.Errorf("sim-driver.js with TestDriver: HTTP %d", code)
	}
}

// Link's page is told how long its loading pane shows at least: 350 ms,
// what the options say, or nothing.
func TestLinkIsToldItsLoadingTime(t *testing.T) {
	for _, tc := range []struct {
		opt  time.Duration
		want float64
	}{{0, 350}, {20 * time.Millisecond, 20}, {-1, 0}} {
		ss := startSim(t, Options{LoadingTime: tc.opt})
		init := ss.link.Call(t, "init", map[string]any{"link_token": ss.token(LinkTokenRequest{})})
		if init["loading_ms"] != tc.want {
			t.Errorf("LoadingTime %s: init says loading_ms %v, want %v", tc.opt, init["loading_ms"], tc.want)
		}
	}
}
