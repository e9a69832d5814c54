package cybridsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAccountFailureCodes(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-multi", "item-m", "ins_3", "m1:1111", "m2:2222")
	h.plaid.addItem("pub-ok", "item-ok", "ins_3", "x:3333")
	h.plaid.addItem("pub-dup", "item-dup", "ins_3", "y:3333")
	h.plaid.addItem("pub-wrong-id", "item-w", "ins_3", "z:4444")

	cases := []struct {
		name, pub, account, state, code string
	}{
		{"unknown public token", "public-sandbox-never-issued", "x", "failed", "plaid_processor_token"},
		{"item with two accounts", "pub-multi", "m1", "failed", "plaid_multiple_accounts"},
		{"first link", "pub-ok", "x", "unverified", ""},
		{"same institution and mask", "pub-dup", "y", "failed", "duplicate"},
		{"used public token", "pub-ok", "x", "failed", "plaid_processor_token"},
		{"account id not in the item", "pub-wrong-id", "not-z", "failed", "plaid_processor_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acct := h.linkAccount(cust, c.pub, c.account)
			h.wantState(acct, "ExternalBankAccountState", c.state)
			if c.code == "" && acct["failure_code"] != nil || c.code != "" && acct["failure_code"] != c.code {
				t.Errorf("failure_code = %v, want %q", acct["failure_code"], c.code)
			}
		})
	}

	// A duplicate is judged per customer: another customer may link the same account.
	h.plaid.addItem("pub-dup2", "item-dup2", "ins_3", "y:3333")
	acct := h.linkAccount(h.verifiedCustomer(1), "pub-dup2", "y")
	h.wantState(acct, "ExternalBankAccountState", "unverified")

	// Once the first account is deleted, the same account can be linked again.
	first := h.srv.Accounts(cust)
	var ok string
	for _, a := range first {
		if a.State == "unverified" {
			ok = a.GUID
		}
	}
	h.do("DELETE", "/api/external_bank_accounts/"+ok, nil, h.tok)
	h.plaid.addItem("pub-again", "item-again", "ins_3", "x:3333")
	acct = h.linkAccount(cust, "pub-again", "x")
	h.wantState(acct, "ExternalBankAccountState", "unverified")

	// Scenario-forced failure.
	sc := h.srv.Scenario()
	sc.AccountFailureCode = "create_failed"
	h.srv.SetScenario(sc)
	h.plaid.addItem("pub-forced", "item-f", "ins_9", "f:9999")
	acct = h.linkAccount(cust, "pub-forced", "f")
	h.wantState(acct, "ExternalBankAccountState", "failed")
	if acct["failure_code"] != "create_failed" {
		t.Errorf("forced failure_code = %v", acct["failure_code"])
	}
}

func TestAccountValidation(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	var unverified string
	for _, c := range h.srv.Customers() {
		if c.State == "unverified" {
			unverified = c.GUID
		}
	}
	full := func() map[string]any {
		return map[string]any{"name": "Checking", "account_kind": "plaid", "customer_guid": cust, "asset": "USD",
			"plaid_public_token": "public-sandbox-x", "plaid_account_id": "acc"}
	}
	cases := []struct {
		name   string
		edit   func(map[string]any)
		status int
		code   string
		msg    string
	}{
		{"missing name and token", func(b map[string]any) { delete(b, "name"); delete(b, "plaid_public_token") }, 400, "missing_parameter", "name, plaid_public_token"},
		{"bad kind", func(b map[string]any) { b["account_kind"] = "paypal" }, 400, "invalid_value", "account_kind"},
		{"long name", func(b map[string]any) { b["name"] = strings.Repeat("n", 129) }, 400, "invalid_value", "name"},
		{"short customer guid", func(b map[string]any) { b["customer_guid"] = "abc" }, 400, "invalid_value", "customer_guid"},
		{"unknown customer", func(b map[string]any) { b["customer_guid"] = "0123456789abcdef0123456789abcdef" }, 422, "no_customer", "Customer not found"},
		{"unverified customer", func(b map[string]any) { b["customer_guid"] = unverified }, 422, "unverified_customer", "unverified"},
		{"unsupported asset", func(b map[string]any) { b["asset"] = "EUR" }, 422, "unsupported_value", "asset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := full()
			c.edit(b)
			st, obj, _ := h.post("/api/external_bank_accounts", b, h.tok)
			wantError(t, st, obj, c.status, c.code, c.msg)
		})
	}
	if n := len(h.srv.Accounts("")); n != 0 {
		t.Errorf("%d accounts stored from invalid requests", n)
	}
}

func TestUpdateModeForRefreshRequiredAccount(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-42", "ins_5", "a:5555")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])

	// The connection expires (QA hook over HTTP).
	st, obj, _ := h.do("POST", "/sim/external_bank_accounts/"+eba+"/expire", nil, "")
	if st != 200 {
		t.Fatalf("expire: %d %v", st, obj)
	}
	h.checkSchema("ExternalBankAccount", mustJSON(obj))
	h.wantState(obj, "ExternalBankAccountState", "refresh_required")
	if !slices.Equal(h.plaid.resets, []string{"item-42"}) {
		t.Errorf("Plaid ResetLogin calls = %v, want [item-42]", h.plaid.resets)
	}
	// Balances cannot be read while refresh is required.
	st, obj, _ = h.do("GET", "/api/external_bank_accounts/"+eba+"?include_balances=true", nil, h.tok)
	wantError(t, st, obj, 422, "refresh_required", "Bank account refresh required")

	// Update-mode workflow: Plaid is asked for an update-mode token for the item.
	b := workflowBody("link_token_update", cust)
	b["external_bank_account_guid"] = eba
	g := h.createWorkflow(b)
	if req := h.plaid.lastLinkReq(t); req.UpdateItemID != "item-42" || req.CustomerGUID != cust {
		t.Errorf("update-mode link token request = %+v", req)
	}
	// customer_guid may be omitted: it is the account's.
	delete(b, "customer_guid")
	h.createWorkflow(b)
	if req := h.plaid.lastLinkReq(t); req.CustomerGUID != cust {
		t.Errorf("update workflow without customer_guid: Plaid request = %+v", req)
	}
	h.clock.Advance(DefaultWorkflowDelay)
	_, wf, _ := h.do("GET", "/api/workflows/"+g, nil, h.tok)
	h.wantState(wf, "WorkflowState", "completed")
	snaps := h.srv.Workflows()
	if snaps[1].Kind != "link_token_update" || snaps[1].ExternalBankAccountGUID != eba || snaps[1].LinkToken == "" {
		t.Errorf("update workflow snapshot = %+v", snaps[1])
	}

	// After Link's update mode the app PATCHes completed; never verified → unverified.
	st, obj, _ = h.do("PATCH", "/api/external_bank_accounts/"+eba, map[string]any{"state": "completed"}, h.tok)
	if st != 200 {
		t.Fatalf("PATCH: %d %v", st, obj)
	}
	h.wantState(obj, "ExternalBankAccountState", "unverified")

	// Expiring a refresh_required/failed account is refused with a reason.
	h.srv.ExpireConnection(eba)
	if err := h.srv.ExpireConnection(eba); !errors.Is(err, ErrNotExpirable) || !strings.Contains(err.Error(), "refresh_required") {
		t.Errorf("second ExpireConnection error = %v", err)
	}
	st, obj, _ = h.do("POST", "/sim/external_bank_accounts/0123456789abcdef0123456789abcdef/expire", nil, "")
	wantError(t, st, obj, 404, "not_found")
}

func TestPatchSemantics(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	path := "/api/external_bank_accounts/" + eba

	// Not verified: completed → unverified.
	_, obj, _ := h.do("PATCH", path, map[string]any{"state": "completed"}, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "unverified")

	// Verify ownership, then refresh_required → completed round trip.
	h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"customer_guid": cust, "external_bank_account_guid": eba, "expected_behaviours": []string{"passed_immediately"}}, h.tok)
	h.clock.Advance(DefaultVerificationDelay)
	_, obj, _ = h.do("PATCH", path, map[string]any{"state": "refresh_required"}, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "refresh_required")
	_, obj, _ = h.do("PATCH", path, map[string]any{"state": "completed", "name": "Household checking"}, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "completed")
	if obj["name"] != "Household checking" {
		t.Errorf("name = %v", obj["name"])
	}

	st, e := h.doUndocumented("PATCH", path, map[string]any{"state": "deleted"}, h.tok)
	wantError(t, st, e, 400, "invalid_value", "state")
	st, e = h.doUndocumented("PATCH", path, map[string]any{}, h.tok)
	wantError(t, st, e, 400, "missing_parameter", "state")
	st, e, _ = h.do("PATCH", "/api/external_bank_accounts/0123456789abcdef0123456789abcdef", map[string]any{"state": "completed"}, h.tok)
	wantError(t, st, e, 404, "not_found")
	st, e, _ = h.do("PATCH", path, map[string]any{"state": "completed"}, h.token("external_bank_accounts:read"))
	wantError(t, st, e, 403, "invalid_scopes", "external_bank_accounts:write")
}

func TestDeleteAccount(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	path := "/api/external_bank_accounts/" + eba

	st, obj, _ := h.do("DELETE", path, nil, h.tok)
	if st != 200 {
		t.Fatalf("DELETE: %d %v", st, obj)
	}
	h.wantState(obj, "ExternalBankAccountState", "deleting")
	h.clock.Advance(DefaultAccountDelay / 2)
	_, obj, _ = h.do("GET", path, nil, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "deleting")
	h.clock.Advance(DefaultAccountDelay / 2)
	_, obj, _ = h.do("GET", path, nil, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "deleted")
	// PATCH on a deleted account is refused.
	st, e := h.doUndocumented("PATCH", path, map[string]any{"state": "completed"}, h.tok)
	wantError(t, st, e, 400, "invalid_parameter", "deleted")
	// Deleting again returns it unchanged.
	_, obj, _ = h.do("DELETE", path, nil, h.tok)
	h.wantState(obj, "ExternalBankAccountState", "deleted")
	st, e, _ = h.do("DELETE", "/api/external_bank_accounts/0123456789abcdef0123456789abcdef", nil, h.tok)
	wantError(t, st, e, 404, "not_found")
}

func TestAccountPIIAndBalances(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	_, obj, _ := h.do("GET", "/api/external_bank_accounts/"+eba, nil, h.tok)
	if obj["pii"] != nil || obj["balances"] != nil {
		t.Errorf("pii/balances without asking: %v %v", obj["pii"], obj["balances"])
	}
	_, obj, _ = h.do("GET", "/api/external_bank_accounts/"+eba+"?include_pii=true&include_balances=true", nil, h.tok)
	pii, _ := obj["pii"].([]any)
	if len(pii) != 1 || !strings.Contains(fmt.Sprint(pii[0]), h.srv.Customers()[0].Name) {
		t.Errorf("pii = %v", obj["pii"])
	}
	bal, _ := obj["balances"].(map[string]any)
	if num(bal["available"]) <= 0 || obj["balance_updated_at"] == nil {
		t.Errorf("balances = %v at %v", obj["balances"], obj["balance_updated_at"])
	}
	st, e, _ := h.do("GET", "/api/external_bank_accounts/"+eba+"?include_pii=true", nil, h.token("external_bank_accounts:read"))
	wantError(t, st, e, 403, "invalid_scopes", "external_bank_accounts:pii:read")
}

func mustJSON(v any) []byte {
	b, err := jsonMarshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
