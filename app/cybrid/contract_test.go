package cybrid

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
)

// TestEveryCallMatchesTheSpec runs the whole linking flow and every other
// typed call through a contract.Transport: every request the client sends
// and every answer it decodes must be valid against Cybrid's bank spec.
func TestEveryCallMatchesTheSpec(t *testing.T) {
	spec := contract.Load(t, contract.BankSpecFile)
	f := newFakeCybrid(t, "test-secret-0123456789")
	tr := &contract.Transport{Spec: spec}
	c := f.client(t, tr, nil)
	ctx := context.Background()

	// Customers.
	list, err := c.ListCustomers(ctx, ListCustomersParams{PerPage: 10, BankGUID: testBankGUID, GUIDs: []string{testCustomerGUID}, IncludePII: true})
	if err != nil {
		t.Fatal(err)
	}
	if list.Total != 1 || len(list.Objects) != 1 || list.Objects[0].Name.Full != "Ada Lovelace" {
		t.Fatalf("ListCustomers = %+v", list)
	}
	if none, err := c.ListCustomers(ctx, ListCustomersParams{GUIDs: []string{strings.Repeat("9", 32)}}); err != nil || len(none.Objects) != 0 {
		t.Fatalf("ListCustomers of another guid = %+v, %v; want none", none, err)
	}
	cust, err := c.GetCustomer(ctx, testCustomerGUID, false)
	if err != nil {
		t.Fatal(err)
	}
	if cust.GUID != testCustomerGUID || cust.State != CustomerVerified || cust.Name.Full != "" || cust.CreatedAt.IsZero() {
		t.Fatalf("GetCustomer without PII = %+v", cust)
	}
	if len(cust.ActivityLimits) != 1 || cust.ActivityLimits[0].Amount != 500000 || *cust.ActivityLimits[0].Interval != 86400 {
		t.Fatalf("activity limits = %+v", cust.ActivityLimits)
	}
	cust, err = c.GetCustomer(ctx, testCustomerGUID, true)
	if err != nil {
		t.Fatal(err)
	}
	if cust.Name.Full != "Ada Lovelace" || cust.Address.City != "Toronto" || cust.DateOfBirth != "1815-12-10" {
		t.Fatalf("GetCustomer with PII = %+v", cust)
	}

	// Link: workflow → token.
	wf, err := c.CreateWorkflow(ctx, PostWorkflow{Kind: LinkTokenCreate, CustomerGUID: testCustomerGUID,
		Language: "en", LinkCustomizationName: "default", RedirectURI: "http://localhost:4200/bank-account-connect"})
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.GUID) != 32 || wf.State != WorkflowStoring || wf.PlaidLinkToken != "" || wf.CustomerGUID != testCustomerGUID {
		t.Fatalf("CreateWorkflow = %+v", wf)
	}
	got, err := c.GetWorkflow(ctx, wf.GUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != WorkflowCompleted || !strings.HasPrefix(got.PlaidLinkToken, "link-sandbox-") {
		t.Fatalf("GetWorkflow = %+v", got)
	}
	wfs, err := c.ListWorkflows(ctx, ListWorkflowsParams{Page: 0, PerPage: 5, CustomerGUID: testCustomerGUID, GUIDs: []string{wf.GUID}, BankGUID: testBankGUID})
	if err != nil {
		t.Fatal(err)
	}
	if len(wfs.Objects) != 1 || wfs.Objects[0].GUID != wf.GUID {
		t.Fatalf("ListWorkflows = %+v", wfs)
	}
	if none, err := c.ListWorkflows(ctx, ListWorkflowsParams{CustomerGUID: strings.Repeat("9", 32)}); err != nil || len(none.Objects) != 0 {
		t.Fatalf("ListWorkflows of another customer = %+v, %v; want none", none, err)
	}

	// Link: Plaid's public token → account.
	acct, err := c.CreateExternalBankAccount(ctx, PostExternalBankAccount{
		Name: "Plaid Checking", AccountKind: AccountKindPlaid, CustomerGUID: testCustomerGUID, Asset: "USD",
		PlaidPublicToken: "public-sandbox-5c224a01-8314-4491-a06f-39e193d5cddc", PlaidAccountID: "vzeNDwK7KQIm4yEog683uElbp9GRLEFXGK98D",
	})
	if err != nil {
		t.Fatal(err)
	}
	if acct.State != AccountStoring || acct.AccountKind != AccountKindPlaid || acct.CustomerGUID != testCustomerGUID || acct.FailureCode != "" {
		t.Fatalf("CreateExternalBankAccount = %+v", acct)
	}
	var sent map[string]any
	for _, r := range f.apiSeen() {
		if r.Method == "POST" && r.Path == "/api/external_bank_accounts" {
			json.Unmarshal(r.Body, &sent)
		}
	}
	if sent["plaid_public_token"] != "public-sandbox-5c224a01-8314-4491-a06f-39e193d5cddc" || sent["plaid_account_id"] != "vzeNDwK7KQIm4yEog683uElbp9GRLEFXGK98D" || sent["asset"] != "USD" {
		t.Fatalf("the account request body carried %v", sent)
	}
	acct, err = c.GetExternalBankAccount(ctx, acct.GUID)
	if err != nil {
		t.Fatal(err)
	}
	if acct.State != AccountUnverified || acct.Balances.Available == nil || *acct.Balances.Available != 12000 || acct.BalanceUpdatedAt.IsZero() {
		t.Fatalf("GetExternalBankAccount = %+v", acct)
	}
	accts, err := c.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{PerPage: 100, CustomerGUID: testCustomerGUID,
		GUIDs: []string{acct.GUID}, States: []string{string(AccountUnverified), string(AccountCompleted)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(accts.Objects) != 1 || accts.Objects[0].GUID != acct.GUID {
		t.Fatalf("ListExternalBankAccounts = %+v", accts)
	}
	// Filters reach the server: no account of this customer is failed, and
	// another customer has none.
	for _, p := range []ListExternalBankAccountsParams{{CustomerGUID: testCustomerGUID, States: []string{string(AccountFailed)}},
		{CustomerGUID: strings.Repeat("9", 32)}, {GUIDs: []string{strings.Repeat("8", 32)}}} {
		none, err := c.ListExternalBankAccounts(ctx, p)
		if err != nil || len(none.Objects) != 0 {
			t.Fatalf("ListExternalBankAccounts(%+v) = %+v, %v; want none", p, none, err)
		}
	}

	// Ownership check.
	iv, err := c.CreateIdentityVerification(ctx, PostIdentityVerification{Type: VerificationTypeBankAccount, Method: VerificationMethodAccountOwnership,
		CustomerGUID: testCustomerGUID, ExternalBankAccountGUID: acct.GUID, ExpectedBehaviours: []string{ExpectPassedImmediately}})
	if err != nil {
		t.Fatal(err)
	}
	if iv.State != VerificationStoring || iv.ExternalBankAccountGUID != acct.GUID || iv.Outcome != "" {
		t.Fatalf("CreateIdentityVerification = %+v", iv)
	}
	iv, err = c.GetIdentityVerification(ctx, iv.GUID)
	if err != nil {
		t.Fatal(err)
	}
	if iv.State != VerificationCompleted || iv.Outcome != VerificationPassed || len(iv.ComplianceDecisions) != 1 {
		t.Fatalf("GetIdentityVerification = %+v", iv)
	}

	// Refresh (update mode), then disconnect.
	upd, err := c.CreateWorkflow(ctx, PostWorkflow{Kind: LinkTokenUpdate, CustomerGUID: testCustomerGUID, ExternalBankAccountGUID: acct.GUID,
		Language: "en", LinkCustomizationName: "default"})
	if err != nil || upd.State != WorkflowStoring {
		t.Fatalf("update workflow = %+v, %v", upd, err)
	}
	acct, err = c.PatchExternalBankAccount(ctx, acct.GUID, PatchExternalBankAccount{State: AccountCompleted})
	if err != nil || acct.State != AccountCompleted {
		t.Fatalf("PatchExternalBankAccount = %+v, %v", acct, err)
	}
	acct, err = c.DeleteExternalBankAccount(ctx, acct.GUID)
	if err != nil || acct.State != AccountDeleting {
		t.Fatalf("DeleteExternalBankAccount = %+v, %v", acct, err)
	}

	// A documented error answer decodes and validates too.
	_, err = c.GetWorkflow(ctx, strings.Repeat("ab", 16))
	var ae *APIError
	if !IsNotFound(err) || !errors.As(err, &ae) || ae.MessageCode != "not_found" || ae.Message != "Workflow not found" {
		t.Fatalf("GetWorkflow of an unknown guid: %v", err)
	}

	tr.Check(t)
	if _, n := tr.Errors(); n != 2*20 {
		t.Fatalf("%d messages were validated, want 2 for each of 20 calls", n)
	}
}

// operations: every typed call with the spec operation it performs.
type operation struct {
	method, path string // spec path template
	call         func(ctx context.Context, c *Client) error
}

func operations() []operation {
	g := strings.Repeat("0a", 16)
	return []operation{
		{"GET", "/api/customers", func(ctx context.Context, c *Client) error {
			_, err := c.ListCustomers(ctx, ListCustomersParams{})
			return err
		}},
		{"GET", "/api/customers/{customer_guid}", func(ctx context.Context, c *Client) error { _, err := c.GetCustomer(ctx, g, false); return err }},
		{"POST", "/api/workflows", func(ctx context.Context, c *Client) error {
			_, err := c.CreateWorkflow(ctx, PostWorkflow{Kind: LinkTokenCreate, CustomerGUID: g, Language: "en", LinkCustomizationName: "default"})
			return err
		}},
		{"GET", "/api/workflows/{workflow_guid}", func(ctx context.Context, c *Client) error { _, err := c.GetWorkflow(ctx, g); return err }},
		{"GET", "/api/workflows", func(ctx context.Context, c *Client) error {
			_, err := c.ListWorkflows(ctx, ListWorkflowsParams{})
			return err
		}},
		{"POST", "/api/external_bank_accounts", func(ctx context.Context, c *Client) error {
			_, err := c.CreateExternalBankAccount(ctx, PostExternalBankAccount{Name: "n", AccountKind: AccountKindPlaid, CustomerGUID: g, Asset: "USD", PlaidPublicToken: "public-sandbox-x", PlaidAccountID: "a"})
			return err
		}},
		{"GET", "/api/external_bank_accounts/{external_bank_account_guid}", func(ctx context.Context, c *Client) error { _, err := c.GetExternalBankAccount(ctx, g); return err }},
		{"GET", "/api/external_bank_accounts", func(ctx context.Context, c *Client) error {
			_, err := c.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{})
			return err
		}},
		{"PATCH", "/api/external_bank_accounts/{external_bank_account_guid}", func(ctx context.Context, c *Client) error {
			_, err := c.PatchExternalBankAccount(ctx, g, PatchExternalBankAccount{State: AccountCompleted})
			return err
		}},
		{"DELETE", "/api/external_bank_accounts/{external_bank_account_guid}", func(ctx context.Context, c *Client) error { _, err := c.DeleteExternalBankAccount(ctx, g); return err }},
		{"POST", "/api/identity_verifications", func(ctx context.Context, c *Client) error {
			_, err := c.CreateIdentityVerification(ctx, PostIdentityVerification{Type: VerificationTypeBankAccount, Method: VerificationMethodAccountOwnership, CustomerGUID: g, ExternalBankAccountGUID: g})
			return err
		}},
		{"GET", "/api/identity_verifications/{identity_verification_guid}", func(ctx context.Context, c *Client) error { _, err := c.GetIdentityVerification(ctx, g); return err }},
	}
}

// TestScopesAreTheSpecsAndCoverEveryCall checks DefaultScopes against the
// spec: each is a declared client-credentials scope, each operation's
// required scope is among them, and a 403 names that scope.
func TestScopesAreTheSpecsAndCoverEveryCall(t *testing.T) {
	spec := contract.Load(t, contract.BankSpecFile)
	flows := spec.Doc.Components.SecuritySchemes["oauth2"].Value.Flows
	declared := flows.ClientCredentials.Scopes
	for _, s := range DefaultScopes {
		if _, ok := declared[s]; !ok {
			t.Errorf("DefaultScopes has %q, which the spec does not declare", s)
		}
	}

	f := newFakeCybrid(t, "test-secret-0123456789")
	tr := &contract.Transport{Spec: spec}
	c := f.client(t, tr, nil)
	var reqScope string
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			errorResponse(w, 403, "invalid_scopes", "Invalid scopes. Required: "+reqScope)
			return true
		}
	})
	for _, op := range operations() {
		o := spec.Doc.Paths.Find(op.path).GetOperation(op.method)
		if o == nil || o.Security == nil || len(*o.Security) == 0 {
			t.Fatalf("%s %s: no operation with security in the spec", op.method, op.path)
		}
		required := (*o.Security)[0]["oauth2"]
		if len(required) != 1 {
			t.Fatalf("%s %s: spec requires %v", op.method, op.path, required)
		}
		reqScope = required[0]
		if !slices.Contains(DefaultScopes, reqScope) {
			t.Errorf("%s %s needs %s, which DefaultScopes lacks", op.method, op.path, reqScope)
		}
		err := op.call(context.Background(), c)
		var ae *APIError
		if !IsForbidden(err) || !errors.As(err, &ae) || ae.RequiredScope != reqScope || !strings.Contains(err.Error(), "may lack the "+reqScope+" scope") {
			t.Errorf("%s %s: 403 gave %v (want RequiredScope %s)", op.method, op.path, err, reqScope)
		}
	}
	tr.Check(t)
	if n := f.tokenCount(); n != 1 {
		t.Errorf("%d token requests for %d calls, want 1", n, len(operations()))
	}
}

// TestTokenRequestIsCybridsJSON checks the token request: POST /oauth/token
// with Cybrid's JSON body asking for exactly the configured scopes, and what
// Token reports.
func TestTokenRequestIsCybridsJSON(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	f.with(func() { f.grantedScope = "customers:read workflows:read workflows:execute" })
	c := f.client(t, nil, nil)
	before := time.Now()
	info, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := f.tokensSeen()
	if len(seen) != 1 {
		t.Fatalf("%d token requests", len(seen))
	}
	r := seen[0]
	if r.Method != "POST" || r.Path != "/oauth/token" || r.ContentType != "application/json" {
		t.Fatalf("token request %s %s (%s)", r.Method, r.Path, r.ContentType)
	}
	want := map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": "test-secret-0123456789",
		"scope": strings.Join(DefaultScopes, " ")}
	if len(r.Body) != len(want) {
		t.Fatalf("token body %v, want %v", r.Body, want)
	}
	for k, v := range want {
		if r.Body[k] != v {
			t.Fatalf("token body %s = %v, want %v", k, r.Body[k], v)
		}
	}
	if info.Type != "Bearer" || !slices.Equal(info.Requested, DefaultScopes) ||
		!slices.Equal(info.Granted, []string{"customers:read", "workflows:read", "workflows:execute"}) ||
		len(info.Missing) != len(DefaultScopes)-3 || slices.Contains(info.Missing, "workflows:read") {
		t.Fatalf("TokenInfo = %+v", info)
	}
	if d := info.Expiry.Sub(before); d < 1799*time.Second || d > 1801*time.Second {
		t.Fatalf("expiry %v after the request, want 30 min", d)
	}

	// Options.Scopes replaces the defaults.
	c2, err := New(Options{BankURL: f.srv.URL, IdentityURL: f.srv.URL, ClientID: testClientID, ClientSecret: "test-secret-0123456789",
		Scopes: []string{"workflows:read"}})
	if err != nil {
		t.Fatal(err)
	}
	f.with(func() { f.grantedScope = "" })
	if _, err := c2.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.tokensSeen()[1].Body["scope"]; got != "workflows:read" {
		t.Fatalf("scope asked = %v", got)
	}
}
