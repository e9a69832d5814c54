package cybridsim

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
)

// specExample returns the named example of an error response in spec for
// method path and status (it fails the test when the spec has none).
func specExample(t *testing.T, spec *contract.Spec, method, path string, status int, name string) map[string]any {
	t.Helper()
	item := spec.Doc.Paths.Find(path)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("spec has no %s %s", method, path)
	}
	resp := item.GetOperation(method).Responses.Status(status)
	if resp == nil || resp.Value == nil || resp.Value.Content.Get("application/json") == nil {
		t.Fatalf("spec has no %d for %s %s", status, method, path)
	}
	ex := resp.Value.Content.Get("application/json").Examples[name]
	if ex == nil || ex.Value == nil {
		t.Fatalf("spec has no example %q for %d of %s %s", name, status, method, path)
	}
	m, _ := ex.Value.Value.(map[string]any)
	return m
}

// TestErrorsAnswerAsTheSpecExamplesShow: the same kind of bad request gets
// the status and message_code of the spec's own examples, on every endpoint.
func TestErrorsAnswerAsTheSpecExamplesShow(t *testing.T) {
	contract.Load(t, contract.BankSpecFile) // the spec's examples are the point
	h := newHarness(t)
	cust := h.verifiedCustomer(0)

	// POST /api/workflows {}: the spec's example is 400 missing_parameter
	// "Missing parameter. Required: type".
	want := specExample(t, h.spec, "POST", "/api/workflows", 400, "missing_parameter")
	st, obj, _ := h.post("/api/workflows", map[string]any{}, h.tok)
	wantError(t, st, obj, 400, str(want["message_code"]), str(want["error_message"]))

	// POST /api/external_bank_accounts without name and account_kind.
	want = specExample(t, h.spec, "POST", "/api/external_bank_accounts", 400, "missing_parameter")
	st, obj, _ = h.post("/api/external_bank_accounts", map[string]any{"customer_guid": cust, "asset": "USD",
		"plaid_public_token": "p", "plaid_account_id": "a"}, h.tok)
	wantError(t, st, obj, 400, str(want["message_code"]), "Missing parameter. Required: name, account_kind")

	// A query parameter with a bad value: 400 invalid_value everywhere (the
	// lists' documented example), also where the spec documents no status.
	want = specExample(t, h.spec, "GET", "/api/external_bank_accounts", 400, "invalid_value")
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	for _, path := range []string{
		"/api/external_bank_accounts?per_page=0",
		"/api/identity_verifications?page=-1",
		"/api/workflows?per_page=101",
		"/api/customers?page=x",
	} {
		st, obj, _ := h.do("GET", path, nil, h.tok)
		wantError(t, st, obj, 400, str(want["message_code"]), "Invalid value.")
	}
	for _, path := range []string{
		"/api/external_bank_accounts/" + eba + "?include_balances=maybe",
		"/api/external_bank_accounts/" + eba + "?include_pii=maybe",
		"/api/customers/" + cust + "?include_pii=maybe",
	} {
		st, obj := h.doUndocumented("GET", path, nil, h.tok)
		wantError(t, st, obj, 400, "invalid_value", "must be true or false")
	}
}

// TestNewerClientFilters: the list filters Cybrid's newer clients (0.126)
// send are honoured, not ignored.
func TestNewerClientFilters(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	h.plaid.addItem("pub-2", "item-2", "ins_2", "b:2222")
	a := str(h.linkAccount(cust, "pub-1", "a")["guid"])
	b := str(h.linkAccount(cust, "pub-2", "b")["guid"])
	for _, x := range []struct{ eba, method string }{{a, "account_ownership"}, {b, "attested_ownership"}} {
		if st, obj, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": x.method,
			"customer_guid": cust, "external_bank_account_guid": x.eba}, h.tok); st != 201 {
			t.Fatalf("verification: %d %v", st, obj)
		}
	}
	count := func(path string) int {
		t.Helper()
		st, list, _ := h.do("GET", path, nil, h.tok)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", path, st, list)
		}
		return len(objects(t, list))
	}
	for path, want := range map[string]int{
		"/api/external_bank_accounts": 2,
		"/api/external_bank_accounts?counterparty_guid=0123456789abcdef0123456789abcdef": 0,
		"/api/identity_verifications": 2,
		"/api/identity_verifications?counterparty_guid=0123456789abcdef0123456789abcdef":   0,
		"/api/identity_verifications?method=account_ownership":                             1,
		"/api/identity_verifications?method=attested_ownership,account_ownership":          2,
		"/api/identity_verifications?method=id_and_selfie":                                 0,
		"/api/identity_verifications?type=bank_account&method=attested_ownership":          1,
		"/api/external_bank_accounts?customer_guid=" + cust + "&counterparty_guid=" + cust: 0,
	} {
		if got := count(path); got != want {
			t.Errorf("GET %s: %d objects, want %d", path, got, want)
		}
	}
}

// TestCustomerGUIDOptionalWhereTheSpecSaysSo: POST /api/identity_verifications
// (type bank_account) and POST /api/external_bank_accounts work without
// customer_guid.
func TestCustomerGUIDOptionalWhereTheSpecSaysSo(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	h.plaid.addItem("pub-1", "item-1", "ins_1", "a:1111")
	eba := str(h.linkAccount(cust, "pub-1", "a")["guid"])

	st, iv, _ := h.post("/api/identity_verifications", map[string]any{"type": "bank_account", "method": "account_ownership",
		"external_bank_account_guid": eba, "expected_behaviours": []string{"passed_immediately"}}, h.tok)
	if st != 201 || iv["customer_guid"] != cust {
		t.Fatalf("verification without customer_guid: %d %v, want 201 for the account's customer %s", st, iv, cust)
	}
	h.clock.Advance(DefaultVerificationDelay)
	if a, _ := h.srv.Account(eba); a.State != "completed" {
		t.Errorf("account after the verification passed = %s, want completed", a.State)
	}

	// A bank token without customer_guid creates a bank-level account.
	h.plaid.addItem("pub-2", "item-2", "ins_2", "b:2222")
	st, acct, _ := h.post("/api/external_bank_accounts", map[string]any{"name": "Operating", "account_kind": "plaid",
		"asset": "USD", "plaid_public_token": "pub-2", "plaid_account_id": "b"}, h.tok)
	if st != 201 || acct["customer_guid"] != nil || acct["bank_guid"] != DefaultBankGUID {
		t.Fatalf("account without customer_guid: %d %v, want 201 with customer_guid null", st, acct)
	}
	h.clock.Advance(DefaultAccountDelay)
	_, acct, _ = h.do("GET", "/api/external_bank_accounts/"+str(acct["guid"]), nil, h.tok)
	h.wantState(acct, "ExternalBankAccountState", "unverified")
}

// jwtClaims decodes a JWT's claims without verifying it, as Cybrid's web
// SDK does.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT claims are not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWT claims are not JSON: %v", err)
	}
	return m
}

// customerToken mints a customer token over HTTP.
func (h *harness) customerToken(cust string, scopes ...string) string {
	h.t.Helper()
	st, obj, _ := h.post("/api/customer_tokens", map[string]any{"customer_guid": cust, "scopes": scopes}, h.tok)
	if st != 201 {
		h.t.Fatalf("POST /api/customer_tokens: %d %v", st, obj)
	}
	return str(obj["access_token"])
}

var customerTokenScopes = []string{"customers:read", "workflows:read", "workflows:execute", "external_bank_accounts:read",
	"external_bank_accounts:write", "external_bank_accounts:execute", "identity_verifications:read", "identity_verifications:execute"}

// TestCustomerTokens: POST /api/customer_tokens as the identity spec
// describes, and the token it issues works only for its customer.
func TestCustomerTokens(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedCustomer(0), h.verifiedCustomer(1)
	h.tok = h.token(allScopes + " customers:write")

	tok := h.customerToken(alice, customerTokenScopes...)
	c := jwtClaims(t, tok)
	if c["sub_type"] != "customer" || c["sub"] != alice {
		t.Errorf("customer token claims sub_type=%v sub=%v, want customer %s", c["sub_type"], c["sub"], alice)
	}
	if exp, iat := num(c["exp"]), num(c["iat"]); exp-iat != DefaultTokenLifetime.Seconds() {
		t.Errorf("exp - iat = %v s, want %v (the web SDK's session timer)", exp-iat, DefaultTokenLifetime.Seconds())
	}
	if sc, _ := c["scope"].([]any); len(sc) != len(customerTokenScopes) {
		t.Errorf("scope claim = %v", c["scope"])
	}

	// Refusals, with the identity spec's codes.
	st, obj, _ := h.post("/api/customer_tokens", map[string]any{"customer_guid": bob, "scopes": []string{"customers:read"}}, tok)
	wantError(t, st, obj, 401, "invalid_subject", "Required: bank")
	st, obj, _ = h.post("/api/customer_tokens", map[string]any{"customer_guid": bob, "scopes": []string{"customers:read"}}, h.token("customers:read"))
	wantError(t, st, obj, 403, "invalid_scopes", "customers:write")
	st, obj, _ = h.post("/api/customer_tokens", map[string]any{"customer_guid": "0123456789abcdef0123456789abcdef", "scopes": []string{"customers:read"}}, h.tok)
	if h.idSpec != nil {
		if ex := str(specExample(t, h.idSpec, "POST", "/api/customer_tokens", 422, "no_customer")["message_code"]); ex != "no_customer" {
			t.Errorf("the identity spec's example code is %q, this test expects no_customer", ex)
		}
	}
	wantError(t, st, obj, 422, "no_customer", "Unknown customer")
	for _, c := range []struct {
		body        map[string]any
		code, field string
	}{
		{map[string]any{"scopes": []string{"customers:read"}}, "missing_parameter", "customer_guid"},
		{map[string]any{"customer_guid": bob}, "missing_parameter", "scopes"},
		{map[string]any{"customer_guid": bob, "scopes": []string{}}, "invalid_value", "scopes"},
		{map[string]any{"customer_guid": bob, "scopes": []string{"banks:write"}}, "invalid_value", "banks:write"},
		{map[string]any{"customer_guid": "short", "scopes": []string{"customers:read"}}, "invalid_value", "customer_guid"},
	} {
		st, obj := h.doUndocumented("POST", "/api/customer_tokens", c.body, h.tok)
		wantError(t, st, obj, 400, c.code, c.field)
	}

	// Bob has an account (linked with the bank token), Alice links her own
	// with her customer token: customer_guid may be left out.
	h.plaid.addItem("pub-b", "item-b", "ins_1", "b:2222")
	bobAcct := str(h.linkAccount(bob, "pub-b", "b")["guid"])
	h.plaid.addItem("pub-a", "item-a", "ins_1", "a:1111")
	st, obj, _ = h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid",
		"asset": "USD", "plaid_public_token": "pub-a", "plaid_account_id": "a"}, tok)
	if st != 201 || obj["customer_guid"] != alice {
		t.Fatalf("Alice's account with her token: %d %v, want 201 for %s", st, obj, alice)
	}
	aliceAcct := str(obj["guid"])
	h.clock.Advance(DefaultAccountDelay)
	st, wf, _ := h.post("/api/workflows", map[string]any{"type": "plaid", "kind": "link_token_create", "language": "en",
		"link_customization_name": "default"}, tok)
	if st != 201 || wf["customer_guid"] != alice {
		t.Fatalf("workflow with Alice's token and no customer_guid: %d %v", st, wf)
	}
	bobWF := h.createWorkflow(workflowBody("link_token_create", bob))

	// Her own records answer; Bob's as if they did not exist.
	for _, p := range []string{"/api/customers/" + alice, "/api/external_bank_accounts/" + aliceAcct, "/api/workflows/" + str(wf["guid"])} {
		if st, obj, _ := h.do("GET", p, nil, tok); st != 200 {
			t.Errorf("GET %s with Alice's token: %d %v", p, st, obj)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/customers/" + bob}, {"GET", "/api/external_bank_accounts/" + bobAcct},
		{"PATCH", "/api/external_bank_accounts/" + bobAcct}, {"DELETE", "/api/external_bank_accounts/" + bobAcct},
		{"GET", "/api/workflows/" + bobWF},
	} {
		var body any
		if c.method == "PATCH" {
			body = map[string]any{"state": "completed"}
		}
		st, obj, _ := h.do(c.method, c.path, body, tok)
		wantError(t, st, obj, 404, "not_found")
	}
	if a, _ := h.srv.Account(bobAcct); a.State != "unverified" {
		t.Errorf("Bob's account after Alice's token tried to change it: %s", a.State)
	}
	for _, p := range []string{"/api/customers", "/api/external_bank_accounts", "/api/workflows",
		"/api/external_bank_accounts?customer_guid=" + bob, "/api/workflows?customer_guid=" + alice + "," + bob} {
		_, list, _ := h.do("GET", p, nil, tok)
		for _, o := range objects(t, list) {
			owner := str(o["customer_guid"])
			if p == "/api/customers" {
				owner = str(o["guid"])
			}
			if owner != alice {
				t.Errorf("GET %s with Alice's token lists %s's record %v", p, owner, o["guid"])
			}
		}
	}
	st, obj, _ = h.post("/api/workflows", workflowBody("link_token_create", bob), tok)
	wantError(t, st, obj, 422, "invalid_parameter", "not found")
	st, obj, _ = h.post("/api/workflows", map[string]any{"type": "plaid", "kind": "link_token_update", "language": "en",
		"link_customization_name": "default", "external_bank_account_guid": bobAcct}, tok)
	wantError(t, st, obj, 422, "invalid_parameter", "not found")
	h.plaid.addItem("pub-c", "item-c", "ins_1", "c:3333")
	st, obj, _ = h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid",
		"customer_guid": bob, "asset": "USD", "plaid_public_token": "pub-c", "plaid_account_id": "c"}, tok)
	wantError(t, st, obj, 422, "no_customer", "Customer not found")
	st, obj2 := h.doUndocumented("POST", "/api/identity_verifications", map[string]any{"type": "bank_account",
		"method": "account_ownership", "external_bank_account_guid": bobAcct}, tok)
	wantError(t, st, obj2, 422, "invalid_parameter", "not found")
	if n := len(h.srv.Verifications(bob)); n != 0 {
		t.Errorf("Alice's token created %d verifications for Bob", n)
	}
}

// TestAssetsArePublicAndPaged: GET /api/assets needs no token (the web SDK
// sends none), pages as every list does and filters by code.
func TestAssetsArePublicAndPaged(t *testing.T) {
	h := newHarness(t)
	st, list, _ := h.do("GET", "/api/assets", nil, "")
	if st != 200 {
		t.Fatalf("GET /api/assets without a token: %d %v", st, list)
	}
	all := objects(t, list)
	codes := make([]string, len(all))
	for i, a := range all {
		codes[i] = str(a["code"])
	}
	if !slices.Contains(codes, "USD") || int(num(list["total"])) != len(all) || num(list["per_page"]) != 10 {
		t.Errorf("assets = %v (total %v, per_page %v), want USD among them on one default page", codes, list["total"], list["per_page"])
	}
	_, page1, _ := h.do("GET", "/api/assets?page=1&per_page=2", nil, "")
	if got := objects(t, page1); len(got) != 2 || str(got[0]["code"]) != codes[2] || num(page1["page"]) != 1 {
		t.Errorf("page 1 of 2 = %v, want %v", page1, codes[2:4])
	}
	_, usd, _ := h.do("GET", "/api/assets?code=USD", nil, h.tok) // a token is not looked at
	if got := objects(t, usd); len(got) != 1 || got[0]["type"] != "fiat" || num(got[0]["decimals"]) != 2 {
		t.Errorf("code=USD: %v", usd)
	}
	_, far, _ := h.do("GET", "/api/assets?page=9223372036854775807", nil, "")
	if got := objects(t, far); len(got) != 0 {
		t.Errorf("a page far past the end lists %v", got)
	}
	st, obj := h.doUndocumented("GET", "/api/assets?per_page=500", nil, "")
	wantError(t, st, obj, 400, "invalid_value", "per_page")
}

// TestVerificationWaitsForReview: with Scenario.VerificationReview an
// account_ownership verification without expected_behaviours stays waiting
// (as in Cybrid's sandbox) until the review hook decides it;
// expected_behaviours still decide at once.
func TestVerificationWaitsForReview(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	// Switched on over HTTP, as a QA tool does; other switches are kept.
	st, obj, _ := h.do("PUT", "/sim/scenario", map[string]any{"verification_review": true}, "")
	if st != 200 || obj["verification_review"] != true || obj["workflow_delay"] != DefaultWorkflowDelay.String() {
		t.Fatalf("PUT /sim/scenario verification_review: %d %v", st, obj)
	}
	link := func(n string) string {
		h.plaid.addItem("pub-"+n, "item-"+n, "ins_"+n, "a"+n+":"+n+n+n+n)
		return str(h.linkAccount(cust, "pub-"+n, "a"+n)["guid"])
	}
	verify := func(eba string, expected ...string) string {
		body := map[string]any{"type": "bank_account", "method": "account_ownership", "customer_guid": cust, "external_bank_account_guid": eba}
		if expected != nil {
			body["expected_behaviours"] = expected
		}
		st, iv, _ := h.post("/api/identity_verifications", body, h.tok)
		if st != 201 {
			t.Fatalf("verification: %d %v", st, iv)
		}
		return str(iv["guid"])
	}
	a, b, c := link("1"), link("2"), link("3")
	ivA, ivB, ivC := verify(a), verify(b), verify(c, "passed_immediately")

	h.clock.Advance(20 * time.Minute) // far past any delay, within the token's life
	for _, iv := range []string{ivA, ivB} {
		_, obj, _ := h.do("GET", "/api/identity_verifications/"+iv, nil, h.tok)
		h.wantState(obj, "IdentityVerificationState", "waiting")
		if obj["outcome"] != nil {
			t.Errorf("outcome before the review = %v", obj["outcome"])
		}
	}
	_, obj, _ = h.do("GET", "/api/identity_verifications/"+ivC, nil, h.tok)
	if h.wantState(obj, "IdentityVerificationState", "completed"); obj["outcome"] != "passed" {
		t.Errorf("passed_immediately under review: outcome %v", obj["outcome"])
	}
	if acc, _ := h.srv.Account(a); acc.State != "unverified" {
		t.Errorf("account before the review = %s, want unverified", acc.State)
	}

	// The reviewer decides over HTTP.
	st, obj, _ = h.post("/sim/identity_verifications/"+ivA+"/review", map[string]any{"outcome": "passed"}, "")
	if st != 200 || obj["state"] != "completed" || obj["outcome"] != "passed" {
		t.Fatalf("review passed: %d %v", st, obj)
	}
	h.checkSchema("IdentityVerification", mustJSON(obj))
	st, obj, _ = h.post("/sim/identity_verifications/"+ivB+"/review", map[string]any{"outcome": "failed"}, "")
	if fc, _ := obj["failure_codes"].([]any); st != 200 || obj["outcome"] != "failed" || len(fc) != 1 || fc[0] != ReviewFailureCode {
		t.Fatalf("review failed: %d %v", st, obj)
	}
	if acc, _ := h.srv.Account(a); acc.State != "completed" || !acc.Verified {
		t.Errorf("account after a passed review = %+v, want completed and verified", acc)
	}
	if acc, _ := h.srv.Account(b); acc.State != "unverified" {
		t.Errorf("account after a failed review = %s, want unverified", acc.State)
	}
	st, obj, _ = h.post("/sim/identity_verifications/"+ivA+"/review", map[string]any{"outcome": "passed"}, "")
	wantError(t, st, obj, 409, "invalid_state", "not waiting for a manual review")
	st, obj, _ = h.post("/sim/identity_verifications/0123456789abcdef0123456789abcdef/review", map[string]any{"outcome": "passed"}, "")
	wantError(t, st, obj, 404, "not_found")
	st, obj, _ = h.post("/sim/identity_verifications/"+ivA+"/review", map[string]any{"outcome": "maybe"}, "")
	wantError(t, st, obj, 400, "invalid_parameter", "passed or failed")

	// Without the switch the same request passes by itself.
	sc := h.srv.Scenario()
	sc.VerificationReview = false
	h.srv.SetScenario(sc)
	ivD := verify(link("4"))
	h.clock.Advance(2 * DefaultVerificationDelay)
	_, obj, _ = h.do("GET", "/api/identity_verifications/"+ivD, nil, h.tok)
	if h.wantState(obj, "IdentityVerificationState", "completed"); obj["outcome"] != "passed" {
		t.Errorf("normal verification outcome = %v", obj["outcome"])
	}
}
