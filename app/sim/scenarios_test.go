package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/sim/plaidsim"
)

func errorCode(m map[string]any) (typ, code string) {
	e, _ := m["error"].(map[string]any)
	typ, _ = e["error_type"].(string)
	code, _ = e["error_code"].(string)
	return typ, code
}

// apiRig is a started simulator with an API token and a verified customer,
// every /api/ exchange checked against Cybrid's spec; clk is its clock.
type apiRig struct {
	t    *testing.T
	s    *Sim
	clk  *simclock.Clock
	c    *http.Client
	tr   *contract.Transport
	at   string
	cust string
	link *simlink.Client
}

func newRig(t *testing.T, o Options) *apiRig {
	t.Helper()
	clk := &simclock.Clock{}
	o.Now = clk.Now
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr := &contract.Transport{Spec: contract.Optional(t, contract.BankSpecFile)}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	_, tok := call(t, c, "POST", s.IdentityURL+"/oauth/token", "", map[string]any{"grant_type": "client_credentials",
		"client_id": DefaultClientID, "client_secret": DefaultClientSecret,
		"scope": "workflows:read workflows:execute external_bank_accounts:read external_bank_accounts:write external_bank_accounts:execute"})
	r := &apiRig{t: t, s: s, clk: clk, c: c, tr: tr, at: tok["access_token"].(string), cust: s.Cybrid.Customers()[0].GUID, link: simlink.New(s.PlaidURL)}
	t.Cleanup(func() { tr.Check(t) })
	return r
}

// workflow creates a link_token_create workflow and returns its GUID.
func (r *apiRig) workflow() string {
	r.t.Helper()
	st, wf := call(r.t, r.c, "POST", r.s.BankURL+"/api/workflows", r.at, map[string]any{"type": "plaid", "kind": "link_token_create",
		"customer_guid": r.cust, "language": "en", "link_customization_name": "default"})
	if st != 201 {
		r.t.Fatalf("POST workflow: %d %v", st, wf)
	}
	return wf["guid"].(string)
}

func (r *apiRig) getWorkflow(guid string) map[string]any {
	r.t.Helper()
	_, wf := call(r.t, r.c, "GET", r.s.BankURL+"/api/workflows/"+guid, r.at, nil)
	return wf
}

// linkToken creates a workflow and returns its link token (no delay expected).
func (r *apiRig) linkToken() string {
	r.t.Helper()
	wf := r.getWorkflow(r.workflow())
	lt, _ := wf["plaid_link_token"].(string)
	if wf["state"] != "completed" || lt == "" {
		r.t.Fatalf("workflow = %v", wf)
	}
	return lt
}

// toAccountSelect opens Link with lt, chooses First Platypus Bank and signs
// in with user_good / pass_good; it returns the session and the accounts
// offered.
func (r *apiRig) toAccountSelect(lt string) (*simlink.Session, []string) {
	r.t.Helper()
	se := r.link.Open(r.t, lt)
	se.Call(r.t, "institution", "institution_id", "ins_109508")
	sel := se.Call(r.t, "credentials", "username", "user_good", "password", "pass_good")
	if sel["status"] != "select_account" {
		r.t.Fatalf("credentials: %v", sel)
	}
	return se, simlink.Accounts(sel)
}

// createAccount links accountIDs in the session se and POSTs an external bank
// account for the first; it returns the account after storing.
func (r *apiRig) createAccount(se *simlink.Session, accountIDs []string) map[string]any {
	r.t.Helper()
	done := se.Call(r.t, "accounts", "account_ids", accountIDs)
	if done["status"] != "connected" {
		r.t.Fatalf("accounts: %v", done)
	}
	st, eba := call(r.t, r.c, "POST", r.s.BankURL+"/api/external_bank_accounts", r.at, map[string]any{"name": "Plaid Checking",
		"account_kind": "plaid", "customer_guid": r.cust, "asset": "USD",
		"plaid_public_token": done["public_token"], "plaid_account_id": accountIDs[0]})
	if st != 201 {
		r.t.Fatalf("POST external bank account: %d %v", st, eba)
	}
	_, eba = call(r.t, r.c, "GET", r.s.BankURL+"/api/external_bank_accounts/"+eba["guid"].(string), r.at, nil)
	return eba
}

func TestScenarioCatalogue(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{"normal", "slow_workflow", "failed_workflow", "several_accounts", "mfa", "wrong_password",
		"institution_down", "exit_consent", "exit_institution_search", "exit_credentials", "exit_mfa",
		"exit_account_selection", "exit_oauth", "oauth_approve", "oauth_deny", "account_creation_failed",
		"connection_expired", "link_token_expired"}
	list := s.Scenarios()
	var ids []string
	for _, sc := range list {
		ids = append(ids, sc.ID)
		if sc.Title == "" || sc.Description == "" || sc.HowTo == "" || sc.Expect == "" {
			t.Errorf("scenario %s lacks a title, description, how-to or expectation: %+v", sc.ID, sc)
		}
		if sc.Kind != KindSwitch && sc.Kind != KindGuide {
			t.Errorf("scenario %s has kind %q", sc.ID, sc.Kind)
		}
		// Where the behaviour comes from is kept for maintainers; the texts
		// a tester reads cite nothing they do not have.
		if !strings.Contains(sc.Source, "notes §") && sc.ID != ScenarioNormal {
			t.Errorf("scenario %s cites no reference in Source: %q", sc.ID, sc.Source)
		}
		for _, text := range []string{sc.Title, sc.Description, sc.HowTo, sc.Expect} {
			if strings.Contains(text, "§") || strings.Contains(text, "notes") {
				t.Errorf("scenario %s shows a tester an internal reference: %s", sc.ID, text)
			}
		}
	}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("catalogue = %v\nwant        %v", ids, want)
	}
	// Scenarios returns a copy.
	list[0].Title = "changed"
	if s.Scenarios()[0].Title == "changed" {
		t.Error("Scenarios returned the catalogue itself")
	}
	if got := s.ActiveScenario(); got != ScenarioNormal {
		t.Errorf("active scenario at start = %q", got)
	}

	// Over HTTP.
	resp, err := http.Get(s.BankURL + "/sim/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	var body ScenariosResponse
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.Active != "normal" || len(body.Scenarios) != len(want) || body.Scenarios[1].Options[0].Name != "delay" {
		t.Errorf("GET /sim/scenarios: %d %+v", resp.StatusCode, body)
	}
}

func TestApplyScenarioSetsAndResetsSwitches(t *testing.T) {
	s, err := Start(Options{WorkflowDelay: 400 * time.Millisecond, AccountDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := s.Cybrid.Scenario()

	must := func(id string, opts map[string]string) {
		t.Helper()
		if err := s.ApplyScenario(id, opts); err != nil {
			t.Fatalf("ApplyScenario(%s, %v): %v", id, opts, err)
		}
		if got := s.ActiveScenario(); got != id {
			t.Fatalf("active = %q after applying %s", got, id)
		}
	}
	must("slow_workflow", nil)
	if got := s.Cybrid.Scenario().WorkflowDelay; got != DefaultSlowWorkflowDelay {
		t.Errorf("slow_workflow default delay = %s", got)
	}
	must("slow_workflow", map[string]string{"delay": "3s"})
	if got := s.Cybrid.Scenario().WorkflowDelay; got != 3*time.Second {
		t.Errorf("slow_workflow delay=3s gave %s", got)
	}
	// Another scenario resets the delay to the start value.
	must("institution_down", nil)
	if sc := s.Cybrid.Scenario(); sc != base {
		t.Errorf("after institution_down cybrid scenario = %+v, want the start value %+v", sc, base)
	}
	if !s.Plaid.Scenario().InstitutionDown {
		t.Error("institution_down did not switch Plaid's institutions down")
	}
	must("failed_workflow", map[string]string{"failure_code": "plaid_error"})
	if s.Plaid.Scenario().InstitutionDown || s.Cybrid.Scenario().WorkflowFailureCode != "plaid_error" {
		t.Errorf("failed_workflow: plaid %+v cybrid %+v", s.Plaid.Scenario(), s.Cybrid.Scenario())
	}
	must("mfa", nil) // a guide: every switch off
	if s.Cybrid.Scenario() != base || s.Plaid.Scenario() != (plaidsim.Scenario{}) {
		t.Errorf("a guide left switches on: cybrid %+v plaid %+v", s.Cybrid.Scenario(), s.Plaid.Scenario())
	}
	must("account_creation_failed", map[string]string{"times": "always", "failure_code": "duplicate"})
	if sc := s.Cybrid.Scenario(); sc.AccountFailureCode != "duplicate" || sc.AccountFailureLimit != 0 {
		t.Errorf("account_creation_failed always: %+v", sc)
	}
	must("link_token_expired", map[string]string{"times": "2"})
	if n := s.Plaid.Scenario().ExpiredLinkTokens; n != 2 || s.Cybrid.Scenario().AccountFailureCode != "" {
		t.Errorf("link_token_expired times=2: plaid %d, cybrid %+v", n, s.Cybrid.Scenario())
	}
	s.ResetScenario()
	if s.ActiveScenario() != "normal" || s.Plaid.Scenario().ExpiredLinkTokens != 0 {
		t.Error("ResetScenario did not reset")
	}

	// Bad input says what is wrong and changes nothing.
	must("wrong_password", nil)
	for _, c := range []struct {
		id   string
		opts map[string]string
		want error
		text string
	}{
		{"nope", nil, ErrUnknownScenario, "institution_down"},
		{"slow_workflow", map[string]string{"delay": "soon"}, ErrScenarioOption, "positive duration"},
		{"slow_workflow", map[string]string{"delay": "-1s"}, ErrScenarioOption, "positive duration"},
		{"slow_workflow", map[string]string{"failure_code": "x"}, ErrScenarioOption, "it takes: delay"},
		{"mfa", map[string]string{"delay": "1s"}, ErrScenarioOption, "no options"},
		{"failed_workflow", map[string]string{"failure_code": "Bad Code"}, ErrScenarioOption, "lowercase"},
		{"account_creation_failed", map[string]string{"times": "0"}, ErrScenarioOption, `"always"`},
		{"connection_expired", map[string]string{"customer_guid": "abc"}, ErrScenarioOption, "32 lowercase"},
		{"connection_expired", map[string]string{"customer_guid": s.Cybrid.Customers()[0].GUID, "account_guid": s.Cybrid.Customers()[0].GUID}, ErrScenarioOption, "not both"},
		{"connection_expired", nil, nil, "link one first"},
	} {
		err := s.ApplyScenario(c.id, c.opts)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("ApplyScenario(%s, %v) = %v, want %v mentioning %q", c.id, c.opts, err, c.want, c.text)
		}
		if s.ActiveScenario() != "wrong_password" || !s.Plaid.Scenario().RejectCredentials {
			t.Fatalf("a refused ApplyScenario(%s) changed the active scenario to %s", c.id, s.ActiveScenario())
		}
	}
}

func TestScenariosHTTP(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.BankURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, out := do("PUT", "/sim/scenarios/active", `{"id": "slow_workflow", "options": {"delay": "2s"}}`); st != 200 ||
		out["id"] != "slow_workflow" || out["options"].(map[string]any)["delay"] != "2s" {
		t.Errorf("PUT slow_workflow: %d %v", st, out)
	}
	if s.Cybrid.Scenario().WorkflowDelay != 2*time.Second {
		t.Errorf("PUT did not apply: %+v", s.Cybrid.Scenario())
	}
	if st, out := do("GET", "/sim/scenarios/active", ""); st != 200 || out["id"] != "slow_workflow" {
		t.Errorf("GET active: %d %v", st, out)
	}
	if st, out := do("PUT", "/sim/scenarios/active", `{"id": "bogus"}`); st != 400 || out["message_code"] != "invalid_parameter" ||
		!strings.Contains(out["error_message"].(string), "the scenarios are") {
		t.Errorf("PUT bogus: %d %v", st, out)
	}
	if st, out := do("PUT", "/sim/scenarios/active", `{"scenario": "normal"}`); st != 400 || !strings.Contains(out["error_message"].(string), `"id"`) {
		t.Errorf("PUT with a wrong field: %d %v", st, out)
	}
	if st, out := do("PUT", "/sim/scenarios/active", `{"id": "connection_expired"}`); st != 409 || out["message_code"] != "invalid_state" {
		t.Errorf("PUT connection_expired without accounts: %d %v", st, out)
	}
	if st, out := do("DELETE", "/sim/scenarios/active", ""); st != 200 || out["id"] != "normal" {
		t.Errorf("DELETE: %d %v", st, out)
	}
	if st, _ := do("POST", "/sim/scenarios", "{}"); st != 405 {
		t.Errorf("POST /sim/scenarios: %d, want 405", st)
	}
	// The rest of /sim/ still reaches cybridsim.
	if st, out := do("GET", "/sim/scenario", ""); st != 200 || out["workflow_delay"] == nil {
		t.Errorf("GET /sim/scenario: %d %v", st, out)
	}
}

// TestSwitchScenariosThroughTheAPI checks what each switch does at the
// services' interfaces: Cybrid's API (contract-checked) and the Link page's
// calls.
func TestSwitchScenariosThroughTheAPI(t *testing.T) {
	r := newRig(t, Options{WorkflowDelay: -1, AccountDelay: -1})
	s := r.s

	t.Run("slow_workflow", func(t *testing.T) {
		s.ApplyScenario("slow_workflow", map[string]string{"delay": "300ms"})
		guid := r.workflow()
		if wf := r.getWorkflow(guid); wf["state"] != "storing" || wf["plaid_link_token"] != nil {
			t.Errorf("at once: %v", wf)
		}
		r.clk.Skip(350 * time.Millisecond)
		if wf := r.getWorkflow(guid); wf["state"] != "completed" || wf["plaid_link_token"] == nil {
			t.Errorf("after the delay: %v", wf)
		}
	})
	t.Run("failed_workflow", func(t *testing.T) {
		s.ApplyScenario("failed_workflow", map[string]string{"failure_code": "plaid_error"})
		if wf := r.getWorkflow(r.workflow()); wf["state"] != "failed" || wf["failure_code"] != "plaid_error" || wf["plaid_link_token"] != nil {
			t.Errorf("workflow = %v", wf)
		}
	})
	t.Run("several_accounts", func(t *testing.T) {
		s.ApplyScenario("several_accounts", nil)
		lt := r.linkToken()
		if got := r.link.Call(t, "init", map[string]any{"link_token": lt})["account_select"]; got != "multi" {
			t.Errorf("account_select = %v with customization default", got)
		}
		spare := r.linkToken()
		se, ids := r.toAccountSelect(lt)
		eba := r.createAccount(se, ids[:2])
		if eba["state"] != "failed" || eba["failure_code"] != "plaid_multiple_accounts" {
			t.Errorf("account from a two-account token = %v", eba)
		}
		// A token issued before the switch is reset keeps its customization;
		// one issued after is single-select again.
		s.ResetScenario()
		if got := r.link.Call(t, "init", map[string]any{"link_token": spare})["account_select"]; got != "multi" {
			t.Errorf("an issued token changed: %v", got)
		}
		if got := r.link.Call(t, "init", map[string]any{"link_token": r.linkToken()})["account_select"]; got != "single" {
			t.Errorf("after reset account_select = %v", got)
		}
	})
	t.Run("wrong_password", func(t *testing.T) {
		s.ApplyScenario("wrong_password", nil)
		se := r.link.Open(t, r.linkToken())
		se.Call(t, "institution", "institution_id", "ins_109508")
		for i := 0; i < 2; i++ { // retryable: the session goes on
			o := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
			if typ, code := errorCode(o); o["status"] != "error" || o["retry"] != true || typ != "ITEM_ERROR" || code != "INVALID_CREDENTIALS" {
				t.Fatalf("credentials #%d = %v", i+1, o)
			}
		}
		// error_<CODE> passwords keep forcing their own code.
		if _, code := errorCode(se.Call(t, "credentials", "username", "user_good", "password", "error_ITEM_LOCKED")); code != "ITEM_LOCKED" {
			t.Errorf("error_ITEM_LOCKED gave %s", code)
		}
	})
	t.Run("institution_down", func(t *testing.T) {
		s.ApplyScenario("institution_down", nil)
		se := r.link.Open(t, r.linkToken())
		for _, ins := range []string{"ins_109508", "ins_127287"} { // any bank, OAuth too; the session goes on
			o := se.Call(t, "institution", "institution_id", ins)
			if typ, code := errorCode(o); typ != "INSTITUTION_ERROR" || code != "INSTITUTION_DOWN" || o["oauth"] != nil {
				t.Errorf("selecting %s = %v", ins, o)
			}
		}
	})
	t.Run("account_creation_failed", func(t *testing.T) {
		s.ApplyScenario("account_creation_failed", nil)
		se, ids := r.toAccountSelect(r.linkToken())
		if eba := r.createAccount(se, ids[:1]); eba["state"] != "failed" || eba["failure_code"] != "create_failed" {
			t.Errorf("first account = %v", eba)
		}
		if got := s.ActiveScenario(); got != "normal" {
			t.Errorf("after striking once the active scenario is %q, want normal", got)
		}
		se, ids = r.toAccountSelect(r.linkToken())
		if eba := r.createAccount(se, ids[1:2]); eba["state"] != "unverified" {
			t.Errorf("second account = %v", eba)
		}
	})
	t.Run("link_token_expired", func(t *testing.T) {
		s.ApplyScenario("link_token_expired", nil)
		lt := r.linkToken()
		st, o := r.link.Try(t, "init", map[string]any{"link_token": lt})
		if typ, code := errorCode(o); st != 400 || typ != "INVALID_INPUT" || code != "INVALID_LINK_TOKEN" || !strings.Contains(o["error"].(map[string]any)["error_message"].(string), "expired") {
			t.Errorf("init with the expired token: %d %v", st, o)
		}
		if got := s.ActiveScenario(); got != "normal" {
			t.Errorf("after one token the active scenario is %q, want normal", got)
		}
		r.link.Call(t, "init", map[string]any{"link_token": r.linkToken()}) // the next token works
	})
	t.Run("connection_expired", func(t *testing.T) {
		s.ResetScenario()
		// Two more accounts (masks 0000 and 4444; 1111 is linked above).
		var guids []string
		for _, i := range []int{0, 2} {
			se, ids := r.toAccountSelect(r.linkToken())
			eba := r.createAccount(se, ids[i:i+1])
			if eba["state"] != "unverified" {
				t.Fatalf("account = %v", eba)
			}
			guids = append(guids, eba["guid"].(string))
		}
		// customer_guid: only the newest account expires.
		if err := s.ApplyScenario("connection_expired", map[string]string{"customer_guid": r.cust}); err != nil {
			t.Fatal(err)
		}
		_, newest := call(t, r.c, "GET", s.BankURL+"/api/external_bank_accounts/"+guids[1], r.at, nil)
		_, older := call(t, r.c, "GET", s.BankURL+"/api/external_bank_accounts/"+guids[0], r.at, nil)
		if newest["state"] != "refresh_required" || older["state"] == "refresh_required" {
			t.Errorf("customer_guid: newest %v, older %v", newest["state"], older["state"])
		}
		needs := 0
		for _, it := range s.Plaid.Items() {
			if it.NeedsUpdate {
				needs++
			}
		}
		if needs != 1 {
			t.Errorf("%d Plaid items need update mode, want 1", needs)
		}
		// Neither option: every linked account.
		if err := s.ApplyScenario("connection_expired", nil); err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Cybrid.Accounts(r.cust) {
			if a.State == "unverified" || a.State == "completed" {
				t.Errorf("account %s still %s after expiring all", a.GUID, a.State)
			}
		}
		// Nothing left to expire: a clear error.
		if err := s.ApplyScenario("connection_expired", map[string]string{"account_guid": guids[0]}); err == nil || !strings.Contains(err.Error(), "refresh_required") {
			t.Errorf("expiring an expired account: %v", err)
		}
	})
}

func TestRunStartsInAScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	if code := Run(ctx, []string{"--addr", "127.0.0.1:0", "--scenario", "institution_down"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "/sim/scenarios/active") || !strings.Contains(out.String(), "(active: institution_down)") {
		t.Errorf("the banner does not show the scenarios endpoint and the active scenario:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := Run(context.Background(), []string{"--scenario", "bogus"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "link_token_expired") {
		t.Errorf("--scenario bogus: exit %d, stderr %q (want 2 and the list of scenarios)", code, errb.String())
	}
}

// The QA documentation lists every scenario of the catalogue.
func TestScenariosAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../../assets/plaidsim/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range catalogue {
		if !strings.Contains(string(b), "| `"+sc.ID+"` | "+sc.Kind+" |") {
			t.Errorf("assets/plaidsim/README.md has no row for scenario %s (%s)", sc.ID, sc.Kind)
		}
	}
}
