package cybridsim

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLinkFlow walks Cybrid's recipe end to end: workflow → link token →
// (Plaid Link, faked) → external bank account → unverified → ownership
// verification → completed.
func TestLinkFlow(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)

	b := workflowBody("link_token_create", cust)
	b["redirect_uri"] = "http://localhost:4200/bank-account-connect"
	st, wf, _ := h.post("/api/workflows", b, h.tok)
	if st != 201 {
		t.Fatalf("POST workflow: %d %v", st, wf)
	}
	h.wantState(wf, "WorkflowState", "storing")
	if v, ok := wf["failure_code"]; !ok || v != nil {
		t.Errorf("failure_code = %v (present %v), want null", v, ok)
	}
	if _, ok := wf["plaid_link_token"]; ok {
		t.Errorf("POST response carries plaid_link_token; Workflow has none")
	}
	if wf["customer_guid"] != cust || wf["bank_guid"] != DefaultBankGUID || wf["type"] != "plaid" {
		t.Errorf("workflow = %v", wf)
	}
	wfGUID := str(wf["guid"])
	req := h.plaid.lastLinkReq(t)
	if req.CustomerGUID != cust || req.Language != "en" || req.LinkCustomizationName != "default" ||
		req.RedirectURI != "http://localhost:4200/bank-account-connect" || req.UpdateItemID != "" {
		t.Errorf("Plaid link token request = %+v", req)
	}

	// Not yet: the token appears only once completed.
	h.clock.Advance(DefaultWorkflowDelay - time.Millisecond)
	_, got, _ := h.do("GET", "/api/workflows/"+wfGUID, nil, h.tok)
	h.wantState(got, "WorkflowState", "storing")
	if v, ok := got["plaid_link_token"]; !ok || v != nil {
		t.Errorf("plaid_link_token before completion = %v (present %v), want null", v, ok)
	}
	h.clock.Advance(time.Millisecond)
	_, got, _ = h.do("GET", "/api/workflows/"+wfGUID, nil, h.tok)
	h.wantState(got, "WorkflowState", "completed")
	if got["plaid_link_token"] != "link-sandbox-test-1" {
		t.Errorf("plaid_link_token = %v", got["plaid_link_token"])
	}
	if got["updated_at"] == got["created_at"] {
		t.Errorf("updated_at did not move on completion: %v", got)
	}

	// Plaid Link (faked): the user picked one account.
	h.plaid.addItem("public-sandbox-1", "item-1", "ins_109508", "acc-1:0000")
	acct := h.linkAccount(cust, "public-sandbox-1", "acc-1")
	h.wantState(acct, "ExternalBankAccountState", "unverified")
	if acct["plaid_institution_id"] != "ins_109508" || acct["plaid_account_mask"] != "0000" || acct["plaid_account_name"] != "Plaid Checking" ||
		acct["environment"] != "sandbox" || acct["bank_guid"] != DefaultBankGUID || acct["customer_guid"] != cust ||
		acct["account_kind"] != "plaid" || acct["asset"] != "USD" || acct["failure_code"] != nil {
		t.Errorf("account = %v", acct)
	}
	for k, v := range acct {
		if s, ok := v.(string); ok && (strings.Contains(s, "item-1") || strings.Contains(s, "public-sandbox")) {
			t.Errorf("account JSON leaks Plaid item id or public token in %s", k)
		}
	}
	ebaGUID := str(acct["guid"])
	snap, ok := h.srv.Account(ebaGUID)
	if !ok || snap.State != "unverified" || snap.PlaidAccountID != "acc-1" || snap.InstitutionID != "ins_109508" || snap.Mask != "0000" || snap.CustomerGUID != cust {
		t.Errorf("Account snapshot = %+v", snap)
	}

	// Ownership verification: storing → waiting → completed/passed.
	st, iv, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"customer_guid": cust, "external_bank_account_guid": ebaGUID}, h.tok)
	if st != 201 {
		t.Fatalf("POST identity verification: %d %v", st, iv)
	}
	h.wantState(iv, "IdentityVerificationState", "storing")
	ivGUID := str(iv["guid"])
	h.clock.Advance(DefaultVerificationDelay)
	_, iv, _ = h.do("GET", "/api/identity_verifications/"+ivGUID, nil, h.tok)
	h.wantState(iv, "IdentityVerificationState", "waiting")
	if iv["outcome"] != nil {
		t.Errorf("outcome while waiting = %v", iv["outcome"])
	}
	_, acct, _ = h.do("GET", "/api/external_bank_accounts/"+ebaGUID, nil, h.tok)
	h.wantState(acct, "ExternalBankAccountState", "unverified")
	h.clock.Advance(DefaultVerificationDelay)
	_, iv, _ = h.do("GET", "/api/identity_verifications/"+ivGUID, nil, h.tok)
	h.wantState(iv, "IdentityVerificationState", "completed")
	if iv["outcome"] != "passed" {
		t.Errorf("outcome = %v, want passed", iv["outcome"])
	}
	_, acct, _ = h.do("GET", "/api/external_bank_accounts/"+ebaGUID, nil, h.tok)
	h.wantState(acct, "ExternalBankAccountState", "completed")

	// The list of verifications shows it.
	_, list, _ := h.do("GET", "/api/identity_verifications?customer_guid="+cust, nil, h.tok)
	if num(list["total"]) != 1 {
		t.Errorf("identity verification list = %v", list)
	}
}

func TestVerificationExpectedBehaviours(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(1)
	h.plaid.addItem("pub-a", "item-a", "ins_1", "a:1111")
	h.plaid.addItem("pub-b", "item-b", "ins_1", "b:2222")
	a := str(h.linkAccount(cust, "pub-a", "a")["guid"])
	bg := str(h.linkAccount(cust, "pub-b", "b")["guid"])

	_, ivA, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"customer_guid": cust, "external_bank_account_guid": a, "expected_behaviours": []string{"passed_immediately"}}, h.tok)
	_, ivB, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"customer_guid": cust, "external_bank_account_guid": bg, "expected_behaviours": []string{"failed_immediately"}}, h.tok)
	h.clock.Advance(DefaultVerificationDelay)
	_, ivA, _ = h.do("GET", "/api/identity_verifications/"+str(ivA["guid"]), nil, h.tok)
	_, ivB, _ = h.do("GET", "/api/identity_verifications/"+str(ivB["guid"]), nil, h.tok)
	h.wantState(ivA, "IdentityVerificationState", "completed")
	h.wantState(ivB, "IdentityVerificationState", "completed")
	if ivA["outcome"] != "passed" || ivB["outcome"] != "failed" {
		t.Errorf("outcomes = %v, %v", ivA["outcome"], ivB["outcome"])
	}
	if fc, _ := ivB["failure_codes"].([]any); len(fc) != 1 || fc[0] != "requested_failure" {
		t.Errorf("failure_codes = %v", ivB["failure_codes"])
	}
	if acc, _ := h.srv.Account(a); acc.State != "completed" || !acc.Verified {
		t.Errorf("passed account = %+v", acc)
	}
	if acc, _ := h.srv.Account(bg); acc.State != "unverified" || acc.Verified {
		t.Errorf("failed-verification account = %+v", acc)
	}

	// Invalid verification requests name the field, with the codes every
	// endpoint uses (the spec lists no 400 or 422 here, so only the
	// ErrorResponse shape is checked): 400 missing_parameter / invalid_value
	// for the body's shape, 422 invalid_parameter for a reference.
	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{map[string]any{"type": "bank_account", "method": "account_ownership", "customer_guid": cust}, 400, "missing_parameter", "external_bank_account_guid"},
		{map[string]any{"type": "bank_account", "customer_guid": cust, "external_bank_account_guid": a}, 400, "missing_parameter", "method"},
		{map[string]any{"type": "bank_account", "method": "selfie", "customer_guid": cust, "external_bank_account_guid": a}, 400, "invalid_value", "method"},
		{map[string]any{"type": "bank_account", "method": "account_ownership", "customer_guid": h.verifiedCustomer(2), "external_bank_account_guid": a}, 422, "invalid_parameter", "does not belong"},
		{map[string]any{"type": "bank_account", "method": "account_ownership", "external_bank_account_guid": "0123456789abcdef0123456789abcdef"}, 422, "invalid_parameter", "not found"},
	} {
		st, obj := h.doUndocumented("POST", "/api/identity_verifications", c.body, h.tok)
		wantError(t, st, obj, c.status, c.code, c.field)
	}
	st, obj, _ := h.do("GET", "/api/identity_verifications/0123456789abcdef0123456789abcdef", nil, h.tok)
	wantError(t, st, obj, 404, "not_found")
}

func TestWorkflowValidation(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	other := h.verifiedCustomer(1)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	var frozen string
	for _, c := range h.srv.Customers() {
		if c.State == "frozen" {
			frozen = c.GUID
		}
	}
	with := func(kv ...any) map[string]any {
		b := workflowBody("link_token_create", cust)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(b, kv[i].(string))
			} else {
				b[kv[i].(string)] = kv[i+1]
			}
		}
		return b
	}
	// Absent fields: 400 missing_parameter; malformed ones: 400
	// invalid_value; references the simulator cannot use: 422
	// invalid_parameter (the codes of the spec's examples).
	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{"no type", with("type", nil), 400, "missing_parameter", "type"},
		{"bad type", with("type", "stripe"), 400, "invalid_value", "type"},
		{"no kind", with("kind", nil), 400, "missing_parameter", "kind"},
		{"no language", with("language", nil), 400, "missing_parameter", "language"},
		{"bad language", with("language", "pt"), 400, "invalid_value", "language"},
		{"no customization", with("link_customization_name", nil), 400, "missing_parameter", "link_customization_name"},
		{"long redirect", with("redirect_uri", "https://example.com/"+strings.Repeat("x", 120)), 400, "invalid_value", "redirect_uri"},
		{"relative redirect", with("redirect_uri", "/back"), 400, "invalid_value", "redirect_uri"},
		{"customer wrong type", with("customer_guid", 12), 400, "invalid_value", "customer_guid"},
		{"unknown customer", with("customer_guid", "0123456789abcdef0123456789abcdef"), 422, "invalid_parameter", "customer_guid"},
		{"update without account", with("kind", "link_token_update"), 400, "missing_parameter", "external_bank_account_guid"},
		{"update unknown account", with("kind", "link_token_update", "external_bank_account_guid", "0123456789abcdef0123456789abcdef"), 422, "invalid_parameter", "external_bank_account_guid"},
		{"update other customer's account", with("kind", "link_token_update", "customer_guid", other, "external_bank_account_guid", eba), 422, "invalid_parameter", "does not belong to customer_guid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, obj, _ := h.post("/api/workflows", c.body, h.tok)
			wantError(t, st, obj, c.status, c.code, c.field)
		})
	}
	st, obj, _ := h.post("/api/workflows", with("customer_guid", frozen), h.tok)
	wantError(t, st, obj, 422, "unverified_customer", "frozen")
	if n := len(h.srv.Workflows()); n != 0 {
		t.Errorf("%d workflows stored from invalid requests", n)
	}
}

func TestWorkflowFailures(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)

	sc := h.srv.Scenario()
	sc.WorkflowFailureCode = "plaid_institution_down"
	h.srv.SetScenario(sc)
	g := h.createWorkflow(workflowBody("link_token_create", cust))
	h.clock.Advance(DefaultWorkflowDelay)
	_, wf, _ := h.do("GET", "/api/workflows/"+g, nil, h.tok)
	h.wantState(wf, "WorkflowState", "failed")
	if wf["failure_code"] != "plaid_institution_down" || wf["plaid_link_token"] != nil {
		t.Errorf("scenario-failed workflow = %v", wf)
	}

	sc.WorkflowFailureCode = ""
	h.srv.SetScenario(sc)
	h.plaid.mu.Lock()
	h.plaid.linkErr = errors.New("plaid: INTERNAL_SERVER_ERROR")
	h.plaid.mu.Unlock()
	g = h.createWorkflow(workflowBody("link_token_create", cust))
	h.clock.Advance(DefaultWorkflowDelay)
	_, wf, _ = h.do("GET", "/api/workflows/"+g, nil, h.tok)
	h.wantState(wf, "WorkflowState", "failed")
	if wf["failure_code"] != FailureWorkflowPlaid {
		t.Errorf("Plaid-failed workflow failure_code = %v", wf["failure_code"])
	}
	ws := h.srv.Workflows()
	if len(ws) != 2 || ws[0].GUID != g || ws[0].State != "failed" || ws[1].FailureCode != "plaid_institution_down" {
		t.Errorf("Workflows() = %+v", ws)
	}
}

func TestScenarioDelays(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	sc := h.srv.Scenario()
	if sc.WorkflowDelay != DefaultWorkflowDelay || sc.AccountDelay != DefaultAccountDelay {
		t.Fatalf("default scenario = %+v", sc)
	}
	sc.WorkflowDelay = 0
	h.srv.SetScenario(sc)
	st, wf, _ := h.post("/api/workflows", workflowBody("link_token_create", cust), h.tok)
	if st != 201 {
		t.Fatal(st)
	}
	// Zero delay: completed right away (still a documented 201 Workflow).
	h.wantState(wf, "WorkflowState", "completed")

	sc.WorkflowDelay = 5 * time.Second
	h.srv.SetScenario(sc)
	g := h.createWorkflow(workflowBody("link_token_create", cust))
	h.clock.Advance(4 * time.Second)
	_, wf, _ = h.do("GET", "/api/workflows/"+g, nil, h.tok)
	h.wantState(wf, "WorkflowState", "storing")
	h.clock.Advance(time.Second)
	_, wf, _ = h.do("GET", "/api/workflows/"+g, nil, h.tok)
	h.wantState(wf, "WorkflowState", "completed")
}

func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.createWorkflow(workflowBody("link_token_create", cust))
			h.do("GET", "/api/workflows?customer_guid="+cust, nil, h.tok)
		}()
	}
	wg.Wait()
	if n := len(h.srv.Workflows()); n != 20 {
		t.Errorf("%d workflows, want 20", n)
	}
	st := h.srv.Stats()
	if st.ByRoute["POST /api/workflows"] != 20 || st.ByRoute["GET /api/workflows"] != 20 || st.APIRequests < 40 {
		t.Errorf("stats = %+v", st)
	}
}

// TestLogsCarryNoSecrets runs a link flow with a debug logger and checks
// that the log tells the story without the client secret, the access token
// or the Plaid public token.
func TestLogsCarryNoSecrets(t *testing.T) {
	h := newHarness(t)
	var buf syncBuf
	h.srv.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tok := h.token(allScopes)
	h.post("/oauth/token", map[string]any{"grant_type": "client_credentials", "client_id": testClientID,
		"client_secret": testClientSecret + "-wrong", "scope": "customers:read"}, "")
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("public-sandbox-secret-1", "item-1", "ins_1", "a:1111")
	h.post("/api/workflows", workflowBody("link_token_create", cust), tok)
	h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid", "customer_guid": cust,
		"plaid_public_token": "public-sandbox-secret-1", "plaid_account_id": "a"}, tok)
	h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid", "customer_guid": cust,
		"plaid_public_token": "public-sandbox-secret-unknown", "plaid_account_id": "a"}, tok)
	log := buf.String()
	for _, secret := range []string{testClientSecret, tok, "public-sandbox-secret", strings.Split(tok, ".")[2]} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains a secret (%.12s…):\n%s", secret, log)
		}
	}
	for _, want := range []string{"token issued", "token refused", "workflow created", "external bank account created", "public token exchange failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The delays a server starts with: the defaults, the options given, none
// for a negative option.
func TestOptionDelays(t *testing.T) {
	if sc := New(Options{Plaid: newFakePlaid()}).Scenario(); sc.VerificationDelay != DefaultVerificationDelay {
		t.Errorf("default verification delay %s, want %s", sc.VerificationDelay, DefaultVerificationDelay)
	}
	sc := New(Options{Plaid: newFakePlaid(), WorkflowDelay: 20 * time.Millisecond, AccountDelay: 30 * time.Millisecond, VerificationDelay: 40 * time.Millisecond}).Scenario()
	if sc.WorkflowDelay != 20*time.Millisecond || sc.AccountDelay != 30*time.Millisecond || sc.VerificationDelay != 40*time.Millisecond {
		t.Errorf("scenario %+v, want the delays given", sc)
	}
	if sc := New(Options{Plaid: newFakePlaid(), VerificationDelay: -1}).Scenario(); sc.VerificationDelay != 0 {
		t.Errorf("a negative verification delay gave %s, want none", sc.VerificationDelay)
	}
}
