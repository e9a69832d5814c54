package cybrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestErrorResponseBecomesAPIError(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			errorResponse(w, 422, "invalid_parameter", "plaid_public_token is invalid")
			return true
		}
	})
	c := f.client(t, nil, nil)
	_, err := c.CreateExternalBankAccount(context.Background(), PostExternalBankAccount{Name: "Checking", AccountKind: AccountKindPlaid,
		CustomerGUID: testCustomerGUID, Asset: "USD", PlaidPublicToken: "public-sandbox-0000", PlaidAccountID: "acc"})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %T %v, want *APIError", err, err)
	}
	want := APIError{StatusCode: 422, MessageCode: "invalid_parameter", Message: "plaid_public_token is invalid",
		Method: "POST", Path: "/api/external_bank_accounts", RequiredScope: "external_bank_accounts:execute"}
	if ae.StatusCode != want.StatusCode || ae.MessageCode != want.MessageCode || ae.Message != want.Message ||
		ae.Method != want.Method || ae.Path != want.Path || ae.RequiredScope != want.RequiredScope {
		t.Fatalf("APIError = %+v, want %+v", *ae, want)
	}
	if got := err.Error(); got != "cybrid: POST /api/external_bank_accounts: 422 invalid_parameter: plaid_public_token is invalid" {
		t.Fatalf("Error() = %q", got)
	}
	if IsNotFound(err) || IsForbidden(err) || IsUnauthorized(err) {
		t.Fatal("a 422 classified as 404/403/401")
	}
}

func TestNonJSONErrorBodyIsExcerpted(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	page := "<html><head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center>\x00\x1b[31m" +
		strings.Repeat("upstream connect error or disconnect/reset before headers. ", 100) + "</body></html>"
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte(page))
			return true
		}
	})
	c := f.client(t, nil, nil)
	_, err := c.GetExternalBankAccount(context.Background(), strings.Repeat("1f", 16))
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 502 || ae.MessageCode != "" {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(ae.Message, "502 Bad Gateway 502 Bad Gateway upstream connect error") {
		t.Fatalf("excerpt = %q", ae.Message)
	}
	if n := utf8.RuneCountInString(ae.Message); n > 201 {
		t.Fatalf("excerpt is %d characters", n)
	}
	if strings.ContainsAny(ae.Message, "<>\x00\x1b\r\n") {
		t.Fatalf("excerpt keeps markup or control characters: %q", ae.Message)
	}
	if !strings.HasPrefix(err.Error(), "cybrid: GET /api/external_bank_accounts/"+strings.Repeat("1f", 16)+": 502 Bad Gateway: 502 Bad Gateway") {
		t.Fatalf("Error() = %q", err)
	}

	// An empty body still says the status.
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool { w.WriteHeader(503); return true }
	})
	_, err = c.GetCustomer(context.Background(), testCustomerGUID, false)
	if err == nil || !strings.HasPrefix(err.Error(), "cybrid: GET /api/customers/"+testCustomerGUID+": 503 Service Unavailable (gave up after 4 attempts in ") {
		t.Fatalf("empty 503: %v", err)
	}
	if !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Fatalf("empty 503 is not an APIError: %v", err)
	}
}

func TestTokenErrorsSayWhatToDo(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   []string
		unauth bool
	}{
		{"oauth invalid_client", 401, `{"error":"invalid_client","error_description":"Client authentication failed"}`,
			[]string{"401 invalid_client: Client authentication failed", "check the client id and secret stored with `linkdesk credentials set`"}, true},
		{"cybrid ErrorResponse 401", 401, `{"status":401,"error_message":"Invalid credentials","message_code":"authentication_failed"}`,
			[]string{"401 authentication_failed: Invalid credentials", "check the client id and secret stored with `linkdesk credentials set`"}, true},
		{"invalid_scope", 400, `{"error":"invalid_scope","error_description":"The requested scope is invalid, unknown, or malformed."}`,
			[]string{"400 invalid_scope", "not allowed some of the scopes asked for (" + strings.Join(DefaultScopes, " ") + ")"}, false},
		{"not json", 500, "Internal Server Error\n",
			[]string{"500 Internal Server Error: Internal Server Error", "the identity service failed; try again later"}, false},
		{"no endpoint", 404, "404 page not found\n",
			[]string{"404 Not Found", "there is no token endpoint there; check the identity URL"}, false},
		{"200 without token", 200, `{"token_type":"Bearer"}`,
			[]string{"200 OK", "the answer is not an OAuth token"}, false},
		{"200 html", 200, `<html>welcome</html>`,
			[]string{"not OAuth token JSON", "the answer is not an OAuth token"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCybrid(t, "test-secret-0123456789")
			f.with(func() {
				f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
					w.WriteHeader(tc.status)
					w.Write([]byte(tc.body))
					return true
				}
			})
			c := f.client(t, nil, nil)
			_, err := c.GetWorkflow(context.Background(), strings.Repeat("ab", 16))
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %T %v, want a *TokenError", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "cybrid: GET /api/workflows/") {
				t.Errorf("error %q does not name the call", err)
			}
			if IsUnauthorized(err) != tc.unauth {
				t.Errorf("IsUnauthorized = %v", !tc.unauth)
			}
			if f.apiCount() != 0 {
				t.Error("an API request went out without a token")
			}
		})
	}

	// Nobody listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err := New(Options{BankURL: dead.URL, IdentityURL: dead.URL, ClientID: "id", ClientSecret: "secret-xyz", Retry: fastRetries})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background())
	var te *TokenError
	if !errors.As(err, &te) || te.StatusCode != 0 || !strings.Contains(err.Error(), "check the network connection and the identity URL") {
		t.Fatalf("unreachable token endpoint: %v", err)
	}
	if !IsNetwork(err) {
		t.Errorf("IsNetwork(%v) = false for an unreachable token endpoint", err)
	}
	if _, err := c.ListCustomers(context.Background(), ListCustomersParams{PerPage: 1}); !IsNetwork(err) {
		t.Errorf("IsNetwork(%v) = false for an API call that got no token", err)
	}
	for _, err := range []error{&APIError{StatusCode: 503}, &TokenError{StatusCode: 401}, context.Canceled, errors.New("x")} {
		if IsNetwork(err) {
			t.Errorf("IsNetwork(%v) = true: an answer (or the caller's cancellation) is not a network failure", err)
		}
	}
}

// TestSecretsNeverLeak: a server that echoes every secret it was sent back
// in its error bodies; no error string, Observer call, or printed request
// carries any of them.
func TestSecretsNeverLeak(t *testing.T) {
	const secret = "canary-client-secret-7f3a9b"
	const publicToken = "public-sandbox-canary-3d1c2b7e-aaaa-bbbb-cccc-0123456789ab"
	const opaquePublic = "plaid-canary-opaque-token-5e6f" // not shaped like a Plaid token
	f := newFakeCybrid(t, secret)
	var seen calls
	c := f.client(t, nil, seen.observe)
	ctx := context.Background()
	var errs []error

	// The API echoes the Authorization header and the body it got.
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			if r.URL.Query().Get("per_page") == "7" {
				w.WriteHeader(500)
				fmt.Fprintf(w, "panic: bad auth %s for body %s", r.Header.Get("Authorization"), body)
				return true
			}
			var in map[string]any
			json.Unmarshal(body, &in)
			errorResponse(w, 422, "invalid_parameter", fmt.Sprintf("token %s is invalid (request %s with %s)", in["plaid_public_token"], body, r.Header.Get("Authorization")))
			return true
		}
	})
	for _, pt := range []string{publicToken, opaquePublic} {
		_, err := c.CreateExternalBankAccount(ctx, PostExternalBankAccount{Name: "Checking", AccountKind: AccountKindPlaid,
			CustomerGUID: testCustomerGUID, Asset: "USD", PlaidPublicToken: Secret(pt), PlaidAccountID: "acc"})
		errs = append(errs, err)
	}
	_, err := c.ListWorkflows(ctx, ListWorkflowsParams{PerPage: 7})
	errs = append(errs, err)

	// The token endpoint echoes the secret in its refusal.
	f.revokeAll()
	f.with(func() {
		f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
			writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "client_secret " + secret + " is wrong"})
			return true
		}
	})
	_, err = c.GetCustomer(ctx, testCustomerGUID, false)
	errs = append(errs, err)
	f.with(func() {
		f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(500)
			fmt.Fprintf(w, "<pre>secret=%s</pre>", secret)
			return true
		}
	})
	_, err = c.Token(ctx)
	errs = append(errs, err)

	canaries := append([]string{secret, publicToken, opaquePublic}, f.issuedTokens()...)
	if len(canaries) < 4 {
		t.Fatal("no access token was issued")
	}
	var texts []string
	for _, err := range errs {
		if err == nil {
			t.Fatal("a call that should fail succeeded")
		}
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	for _, call := range seen.list() {
		texts = append(texts, fmt.Sprintf("%+v", call))
	}
	opts := Options{BankURL: f.srv.URL, ClientID: testClientID, ClientSecret: secret}
	req := PostExternalBankAccount{Name: "x", PlaidPublicToken: publicToken}
	js, _ := json.Marshal(req)
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("req", "req", req, "tok", req.PlaidPublicToken)
	texts = append(texts, fmt.Sprintf("%v %+v %#v %s", opts, opts, opts, opts), fmt.Sprintf("%v %+v %#v %s %q", req, req, req, req.PlaidPublicToken, req.PlaidPublicToken), string(js), logged.String())
	for _, text := range texts {
		for _, canary := range canaries {
			if strings.Contains(text, canary) {
				t.Errorf("%q leaks %q", text, canary)
			}
		}
	}
	// The errors still say something useful.
	if !strings.Contains(errs[0].Error(), "422 invalid_parameter: token [redacted secret]") || !strings.Contains(errs[3].Error(), "credentials set") {
		t.Errorf("redacted errors lost their meaning: %q / %q", errs[0], errs[3])
	}
	if len(seen.list()) < 6 {
		t.Errorf("only %d calls observed", len(seen.list()))
	}
}

func TestObserverSeesEveryExchange(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	var seen calls
	c := f.client(t, nil, seen.observe)
	ctx := context.Background()
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			time.Sleep(20 * time.Millisecond)
			return false
		}
	})
	if _, err := c.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{PerPage: 20, CustomerGUID: testCustomerGUID, States: []string{"completed"}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetWorkflow(ctx, strings.Repeat("cd", 16))
	if !IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
	got := seen.list()
	want := []struct {
		method, path string
		status       int
	}{
		{"POST", "/oauth/token", 200},
		{"GET", "/api/external_bank_accounts?customer_guid&per_page&state", 200},
		{"GET", "/api/workflows/" + strings.Repeat("cd", 16), 404},
	}
	if len(got) != len(want) {
		t.Fatalf("observed %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Method != w.method || g.Path != w.path || g.Status != w.status || g.Err != nil {
			t.Errorf("call %d = %+v, want %s %s %d", i, g, w.method, w.path, w.status)
		}
		if g.Duration <= 0 || g.Duration > 5*time.Second {
			t.Errorf("call %d duration %v", i, g.Duration)
		}
		if i > 0 && g.Duration < 20*time.Millisecond {
			t.Errorf("call %d duration %v is shorter than the server's 20 ms", i, g.Duration)
		}
	}

	// A failed exchange is observed with its error.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	var seen2 calls
	c2, err := New(Options{BankURL: dead.URL, IdentityURL: dead.URL, ClientID: "id", ClientSecret: "secret-xyz", Observer: seen2.observe})
	if err != nil {
		t.Fatal(err)
	}
	c2.Token(ctx)
	l := seen2.list()
	if len(l) != DefaultRetryPolicy.MaxAttempts {
		t.Fatalf("a token request to a dead server was observed %d times, want %d tries: %+v", len(l), DefaultRetryPolicy.MaxAttempts, l)
	}
	for i, call := range l {
		if call.Err == nil || call.Status != 0 || call.Path != "/oauth/token" || call.Attempt != i+1 {
			t.Errorf("failed exchange %d observed as %+v", i, call)
		}
		if (i == 0) != (call.Retry == "") || i > 0 && call.Retry != "connection refused" {
			t.Errorf("try %d is marked Retry %q", i+1, call.Retry)
		}
	}
}

func TestArgumentsAreCheckedBeforeSending(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	c := f.client(t, nil, nil)
	ctx := context.Background()
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"short guid", func() error { _, err := c.GetWorkflow(ctx, "abc"); return err }, "workflow guid must be a Cybrid GUID (32 lowercase hex characters), got 3 characters"},
		{"uppercase guid", func() error { _, err := c.GetCustomer(ctx, strings.ToUpper(testCustomerGUID), false); return err }, "customer guid must be a Cybrid GUID"},
		{"token as guid", func() error {
			_, err := c.DeleteExternalBankAccount(ctx, "public-sandbox-0123456789abcdef01")
			return err
		}, "external bank account guid must be a Cybrid GUID"},
		{"per_page 101", func() error {
			_, err := c.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{PerPage: 101})
			return err
		}, "per_page must be 1..100"},
		{"negative page", func() error { _, err := c.ListCustomers(ctx, ListCustomersParams{Page: -1}); return err }, "page must be 0 or more"},
		{"bad guid filter", func() error {
			_, err := c.ListExternalBankAccounts(ctx, ListExternalBankAccountsParams{GUIDs: []string{testCustomerGUID, "x"}})
			return err
		}, "guid[1] must be a Cybrid GUID"},
		{"update without account", func() error {
			_, err := c.CreateWorkflow(ctx, PostWorkflow{Kind: LinkTokenUpdate, CustomerGUID: testCustomerGUID})
			return err
		}, "needs the external_bank_account_guid"},
		{"plaid without token", func() error {
			_, err := c.CreateExternalBankAccount(ctx, PostExternalBankAccount{Name: "n", AccountKind: AccountKindPlaid, PlaidAccountID: "a"})
			return err
		}, "needs the plaid_public_token and plaid_account_id"},
		{"empty patch", func() error {
			_, err := c.PatchExternalBankAccount(ctx, testCustomerGUID, PatchExternalBankAccount{})
			return err
		}, "nothing to change"},
		{"patch to deleted", func() error {
			_, err := c.PatchExternalBankAccount(ctx, testCustomerGUID, PatchExternalBankAccount{State: AccountDeleted})
			return err
		}, "completed or refresh_required"},
	}
	for _, tc := range cases {
		err := tc.call()
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (want %q)", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "public-sandbox") {
			t.Errorf("%s: the bad value is echoed: %v", tc.name, err)
		}
	}
	if f.tokenCount()+f.apiCount() != 0 {
		t.Fatal("a refused argument still caused a request")
	}
}

func TestNewRefusesUnusableOptions(t *testing.T) {
	ok := Options{BankURL: "https://bank.sandbox.cybrid.app", IdentityURL: "https://id.sandbox.cybrid.app", ClientID: "id", ClientSecret: "secret"}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	loop := ok
	loop.BankURL, loop.IdentityURL = "http://127.0.0.1:8080", "http://localhost:8081/identity/"
	if _, err := New(loop); err != nil {
		t.Fatalf("loopback http refused: %v", err)
	}
	cases := []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.BankURL = "" }, "BankURL is empty"},
		{func(o *Options) { o.BankURL = "bank.sandbox.cybrid.app" }, "must be an absolute http(s) URL"},
		{func(o *Options) { o.IdentityURL = "http://id.sandbox.cybrid.app" }, "IdentityURL \"http://id.sandbox.cybrid.app\" must use https"},
		{func(o *Options) { o.BankURL = "https://bank.sandbox.cybrid.app/?x=1" }, "must not have a query"},
		{func(o *Options) { o.BankURL = "https://u:p@bank.sandbox.cybrid.app" }, "must not carry a user name"},
		{func(o *Options) { o.ClientID = "" }, "client id is empty; store the API key with `linkdesk credentials set`"},
		{func(o *Options) { o.ClientSecret = "secret\n" }, "client secret starts or ends with whitespace"},
		{func(o *Options) { o.Scopes = []string{} }, "no scopes"},
		{func(o *Options) { o.Scopes = []string{"a b"} }, "contains whitespace"},
	}
	for _, tc := range cases {
		o := ok
		tc.mod(&o)
		_, err := New(o)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v (want %q)", o, err, tc.want)
		}
	}
}

// TestToleratesNullsUnknownFieldsAndNewStates: answers from a newer API
// (unknown fields, new state values, nulls everywhere) still decode.
func TestToleratesNullsUnknownFieldsAndNewStates(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"guid":"` + strings.Repeat("ef", 16) + `","name":"Checking","asset":"USD","account_kind":"plaid_v9",
				"environment":"sandbox","bank_guid":"` + testBankGUID + `","customer_guid":null,"counterparty_guid":null,
				"created_at":"2025-01-01T12:00:00.123Z","updated_at":"2025-01-01T12:00:05+00:00","plaid_institution_id":null,
				"plaid_account_mask":null,"plaid_account_name":null,"state":"paused_for_review","failure_code":null,
				"balance_updated_at":null,"balances":{"available":null,"current":77},"pii":null,
				"brand_new_field":{"nested":[1,2,3]}}`))
			return true
		}
	})
	c := f.client(t, nil, nil)
	a, err := c.GetExternalBankAccount(context.Background(), strings.Repeat("ef", 16))
	if err != nil {
		t.Fatal(err)
	}
	if a.State != "paused_for_review" || a.AccountKind != "plaid_v9" || a.CustomerGUID != "" || a.FailureCode != "" ||
		!a.BalanceUpdatedAt.IsZero() || a.Balances.Available != nil || a.Balances.Current == nil || *a.Balances.Current != 77 {
		t.Fatalf("decoded %+v", a)
	}
	if want := time.Date(2025, 1, 1, 12, 0, 0, 123e6, time.UTC); !a.CreatedAt.Equal(want) {
		t.Fatalf("created_at = %v", a.CreatedAt)
	}
}

// TestForbiddenSaysWhichScope: a 403 names the operation's scope, and says
// whether the client asked for it at all.
func TestForbiddenSaysWhichScope(t *testing.T) {
	f := newFakeCybrid(t, "test-secret-0123456789")
	f.with(func() {
		f.apiHook = func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
			errorResponse(w, 403, "invalid_scopes", "Invalid scopes. Required: workflows:execute")
			return true
		}
	})
	wf := PostWorkflow{Kind: LinkTokenCreate, CustomerGUID: testCustomerGUID, Language: "en", LinkCustomizationName: "default"}
	_, err := f.client(t, nil, nil).CreateWorkflow(context.Background(), wf)
	if !IsForbidden(err) || !strings.HasSuffix(err.Error(), "403 invalid_scopes: Invalid scopes. Required: workflows:execute (the access token may lack the workflows:execute scope: the API key must be allowed it)") {
		t.Fatalf("403 with the scope asked for: %v", err)
	}
	c, err := New(Options{BankURL: f.srv.URL, IdentityURL: f.srv.URL, ClientID: testClientID, ClientSecret: "test-secret-0123456789", Scopes: []string{"workflows:read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateWorkflow(context.Background(), wf)
	if !IsForbidden(err) || !strings.Contains(err.Error(), "(the client does not ask for the workflows:execute scope: add it to the scopes it requests)") {
		t.Fatalf("403 with the scope not asked for: %v", err)
	}
}
