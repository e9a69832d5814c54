package cybridsim

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// restart is a new server (as at the next start of the simulator) with the
// same clock and Plaid, restored from h's state through its JSON form.
func (h *harness) restart(t *testing.T) *harness {
	t.Helper()
	raw, err := json.Marshal(h.srv.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), testClientSecret) || strings.Contains(string(raw), h.tok) {
		t.Fatal("the state holds the client secret or an access token")
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, spec: h.spec, idSpec: h.idSpec, plaid: h.plaid, clock: h.clock}
	h2.srv = New(Options{ClientID: testClientID, ClientSecret: testClientSecret, Plaid: h.plaid, Now: h.clock.Now})
	if err := h2.srv.Restore(st); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	h2.http = httptest.NewServer(h2.srv)
	t.Cleanup(h2.http.Close)
	h2.tok = h2.token(allScopes)
	return h2
}

// Everything a client can read is the same after a save and a restart, and
// transitions still pending when the state was saved happen on the clock
// afterwards, as they would have without the restart.
func TestARestoredServerAnswersAsTheOneSaved(t *testing.T) {
	h := newHarness(t)
	cust, other := h.verifiedCustomer(0), h.verifiedCustomer(1)
	// A linked, verified account; a second one at another bank whose
	// connection expired; a third still storing; a workflow still storing;
	// a verification still under way.
	h.plaid.addItem("public-1", "item-1", "ins_109508", "acc-1:0000")
	verified := str(h.linkAccount(cust, "public-1", "acc-1")["guid"])
	st, iv, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"customer_guid": cust, "external_bank_account_guid": verified}, h.tok)
	if st != 201 {
		t.Fatalf("verification: %d %v", st, iv)
	}
	h.clock.Advance(2 * DefaultVerificationDelay)
	h.plaid.addItem("public-2", "item-2", "ins_109509", "acc-2:1111")
	expired := str(h.linkAccount(cust, "public-2", "acc-2")["guid"])
	if err := h.srv.ExpireConnection(expired); err != nil {
		t.Fatal(err)
	}
	h.plaid.addItem("public-3", "item-3", "ins_109508", "acc-3:2222")
	st, storing, _ := h.post("/api/external_bank_accounts", map[string]any{"name": "Savings", "account_kind": "plaid",
		"customer_guid": other, "plaid_public_token": "public-3", "plaid_account_id": "acc-3"}, h.tok)
	if st != 201 {
		t.Fatalf("account: %d %v", st, storing)
	}
	wf := h.createWorkflow(workflowBody("link_token_create", other))
	st, iv2, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"external_bank_account_guid": expired}, h.tok)
	if st != 201 {
		t.Fatalf("verification: %d %v", st, iv2)
	}

	reads := []string{
		"/api/customers?per_page=100&include_pii=true",
		"/api/external_bank_accounts?per_page=100",
		"/api/external_bank_accounts/" + verified + "?include_pii=true",
		"/api/workflows?per_page=100",
		"/api/workflows/" + wf,
		"/api/identity_verifications?per_page=100",
		"/api/identity_verifications/" + str(iv2["guid"]),
	}
	read := func(h *harness) map[string]any {
		out := map[string]any{}
		for _, p := range reads {
			st, obj, _ := h.do("GET", p, nil, h.tok)
			if st != 200 {
				t.Fatalf("GET %s: %d %v", p, st, obj)
			}
			out[p] = obj
		}
		return out
	}
	same := func(what string, a, b map[string]any) {
		t.Helper()
		for _, p := range reads {
			if !reflect.DeepEqual(a[p], b[p]) {
				ja, _ := json.Marshal(a[p])
				jb, _ := json.Marshal(b[p])
				t.Errorf("%s, GET %s differs:\n%s\n%s", what, p, ja, jb)
			}
		}
	}
	before := read(h)
	h2 := h.restart(t)
	same("after the restart", before, read(h2))
	if a, _ := h2.srv.Account(expired); a.State != stateRefreshRequired {
		t.Errorf("the expired account is %s after the restart", a.State)
	}

	// What was under way goes on on the clock, in both alike.
	h.clock.Advance(time.Minute)
	same("a minute later", read(h), read(h2))
	_, acct, _ := h2.do("GET", "/api/external_bank_accounts/"+str(storing["guid"]), nil, h2.tok)
	_, w, _ := h2.do("GET", "/api/workflows/"+wf, nil, h2.tok)
	if acct["state"] != stateUnverified || w["state"] != stateCompleted || w["plaid_link_token"] == nil {
		t.Errorf("after the restart and a minute: account %v, workflow %v", acct["state"], w)
	}
	// New records do not reuse the restored ones' order.
	st, fresh, _ := h2.post("/api/workflows", workflowBody("link_token_create", cust), h2.tok)
	_, list, _ := h2.do("GET", "/api/workflows?per_page=1", nil, h2.tok)
	if st != 201 || str(list["objects"].([]any)[0].(map[string]any)["guid"]) != str(fresh["guid"]) {
		t.Errorf("the newest workflow after the restart is not the one just created: %v", list)
	}
}

// OnChange hears every change before its answer is written: what it saves
// already holds the record the answer reports.
func TestOnChangeHearsAChangeBeforeItsAnswer(t *testing.T) {
	h := newHarness(t)
	var calls atomic.Int32
	var sawAccount atomic.Bool
	var srv *Server
	srv = New(Options{ClientID: testClientID, ClientSecret: testClientSecret, Plaid: h.plaid, Now: h.clock.Now,
		OnChange: func() {
			calls.Add(1)
			if len(srv.Snapshot().Accounts) == 1 {
				sawAccount.Store(true)
			}
		}})
	h.srv = srv
	h.http = httptest.NewServer(srv)
	t.Cleanup(h.http.Close)
	h.tok = h.token(allScopes)
	if calls.Load() != 0 {
		t.Fatalf("a token request called OnChange")
	}
	cust := h.verifiedCustomer(0)
	h.createWorkflow(workflowBody("link_token_create", cust))
	h.plaid.addItem("public-1", "item-1", "ins_109508", "acc-1:0000")
	st, obj, _ := h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid",
		"customer_guid": cust, "plaid_public_token": "public-1", "plaid_account_id": "acc-1"}, h.tok)
	if st != 201 || !sawAccount.Load() {
		t.Fatalf("POST account: %d; OnChange saw it before the answer: %v", st, sawAccount.Load())
	}
	n := calls.Load()
	h.clock.Advance(time.Minute)
	h.do("GET", "/api/external_bank_accounts/"+str(obj["guid"]), nil, h.tok)
	if calls.Load() != n {
		t.Errorf("a read called OnChange")
	}
	h.do("PATCH", "/api/external_bank_accounts/"+str(obj["guid"]), map[string]any{"name": "Renamed"}, h.tok)
	h.srv.ExpireConnection(str(obj["guid"]))
	h.do("DELETE", "/api/external_bank_accounts/"+str(obj["guid"]), nil, h.tok)
	if got := calls.Load(); got != n+3 {
		t.Errorf("OnChange heard %d of patch, expire and delete, want 3", got-n)
	}
}

func TestRestoreRefusesAStateItCannotServeAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.plaid.addItem("public-1", "item-1", "ins_109508", "acc-1:0000")
	acct := str(h.linkAccount(h.verifiedCustomer(0), "public-1", "acc-1")["guid"])
	good := h.srv.Snapshot()
	for _, tc := range []struct {
		name   string
		break_ func(*State)
		why    string
	}{
		{"another bank", func(s *State) { s.BankGUID = strings.Repeat("0", 32) }, "state of bank"},
		{"a malformed guid", func(s *State) { s.Accounts[0].GUID = "nope" }, "not 32 lowercase hexadecimal"},
		{"a guid twice", func(s *State) { s.Customers[1].GUID = s.Customers[0].GUID }, "appears twice"},
		{"an unknown state", func(s *State) { s.Accounts[0].State = "exploded" }, `unknown state "exploded"`},
		{"an account of no customer", func(s *State) { s.Customers = s.Customers[:0] }, "not in the state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(good)
			var st State
			json.Unmarshal(raw, &st)
			tc.break_(&st)
			if err := h.srv.Restore(st); err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Restore: %v, want %q", err, tc.why)
			}
			if a, ok := h.srv.Account(acct); !ok || a.State != stateUnverified || len(h.srv.Customers()) != SeedCustomerCount {
				t.Errorf("a refused Restore changed the server")
			}
		})
	}
}

func TestResetBringsBackTheSeedCustomersAndNothingElse(t *testing.T) {
	h := newHarness(t)
	seed := h.srv.Customers()
	h.plaid.addItem("public-1", "item-1", "ins_109508", "acc-1:0000")
	h.linkAccount(h.verifiedCustomer(0), "public-1", "acc-1")
	h.createWorkflow(workflowBody("link_token_create", h.verifiedCustomer(0)))
	sc := h.srv.Scenario()
	sc.AccountFailureCode = "create_failed"
	h.srv.SetScenario(sc)
	h.srv.Reset()
	if len(h.srv.Accounts("")) != 0 || len(h.srv.Workflows()) != 0 || h.srv.Scenario().AccountFailureCode != "" {
		t.Errorf("after Reset: %d accounts, %d workflows, scenario %+v", len(h.srv.Accounts("")), len(h.srv.Workflows()), h.srv.Scenario())
	}
	if !reflect.DeepEqual(seed, h.srv.Customers()) {
		t.Error("after Reset the customers are not the seed ones")
	}
	// The token from before still works.
	if st, _, _ := h.do("GET", "/api/external_bank_accounts", nil, h.tok); st != 200 {
		t.Errorf("a token from before the reset: %d", st)
	}
}
