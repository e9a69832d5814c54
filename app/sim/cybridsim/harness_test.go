package cybridsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
	"linkdesk/app/sim/plaidsim"
)

// fakePlaid is a small in-test plaidsim.Backend: the test registers which
// public tokens stand for which items; link tokens are numbered.
type fakePlaid struct {
	mu       sync.Mutex
	items    map[string]plaidsim.Item // by public token
	used     map[string]bool
	linkErr  error
	linkReqs []plaidsim.LinkTokenRequest
	resets   []string
	n        int
}

func newFakePlaid() *fakePlaid {
	return &fakePlaid{items: map[string]plaidsim.Item{}, used: map[string]bool{}}
}

func (f *fakePlaid) CreateLinkToken(req plaidsim.LinkTokenRequest) (plaidsim.LinkToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.linkReqs = append(f.linkReqs, req)
	if f.linkErr != nil {
		return plaidsim.LinkToken{}, f.linkErr
	}
	f.n++
	return plaidsim.LinkToken{Token: fmt.Sprintf("link-sandbox-test-%d", f.n), Expiration: time.Now().Add(4 * time.Hour)}, nil
}

func (f *fakePlaid) ExchangePublicToken(pub string) (plaidsim.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[pub]
	if !ok {
		return plaidsim.Item{}, plaidsim.ErrPublicTokenUnknown
	}
	if f.used[pub] {
		return plaidsim.Item{}, plaidsim.ErrPublicTokenUsed
	}
	f.used[pub] = true
	return it, nil
}

func (f *fakePlaid) ResetLogin(itemID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, itemID)
	return nil
}

// addItem registers public token pub for an item at institution ins with
// accounts given as "id:mask" strings.
func (f *fakePlaid) addItem(pub, itemID, ins string, accounts ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := plaidsim.Item{ItemID: itemID, InstitutionID: ins, InstitutionName: "Test Bank"}
	for _, a := range accounts {
		id, mask, _ := strings.Cut(a, ":")
		it.Accounts = append(it.Accounts, plaidsim.Account{ID: id, Name: "Plaid Checking", Mask: mask,
			Type: "depository", Subtype: "checking", IsoCurrencyCode: "USD"})
	}
	f.items[pub] = it
}

func (f *fakePlaid) lastLinkReq(t *testing.T) plaidsim.LinkTokenRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.linkReqs) == 0 {
		t.Fatal("Plaid CreateLinkToken was never called")
	}
	return f.linkReqs[len(f.linkReqs)-1]
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	testClientID     = "test-client"
	testClientSecret = "test-secret-value"
)

// allScopes is what the link flow needs (a typical bank token).
var allScopes = "customers:read customers:pii:read workflows:read workflows:execute external_bank_accounts:read external_bank_accounts:pii:read external_bank_accounts:write external_bank_accounts:execute identity_verifications:read identity_verifications:execute"

type harness struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	spec   *contract.Spec
	idSpec *contract.Spec // the identity spec: POST /api/customer_tokens
	clock  *fakeClock
	plaid  *fakePlaid
	tok    string // token with allScopes
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	spec := contract.Optional(t, contract.BankSpecFile)
	h := &harness{t: t, spec: spec, idSpec: contract.Optional(t, contract.IdentitySpecFile), plaid: newFakePlaid(),
		clock: &fakeClock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}}
	h.srv = New(Options{ClientID: testClientID, ClientSecret: testClientSecret, Plaid: h.plaid, Now: h.clock.Now})
	h.http = httptest.NewServer(h.srv)
	t.Cleanup(h.http.Close)
	h.tok = h.token(allScopes)
	return h
}

// token gets an access token with the given scopes over HTTP.
func (h *harness) token(scopes string) string {
	h.t.Helper()
	st, obj, _ := h.post("/oauth/token", map[string]any{"grant_type": "client_credentials",
		"client_id": testClientID, "client_secret": testClientSecret, "scope": scopes}, "")
	if st != 200 {
		h.t.Fatalf("token: status %d: %v", st, obj)
	}
	return obj["access_token"].(string)
}

func (h *harness) post(path string, body any, tok string) (int, map[string]any, []byte) {
	return h.do("POST", path, body, tok)
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	tsRE   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// do sends one request over real HTTP and returns the status and the JSON
// body. Every response under /api/ is validated against Cybrid's bank spec
// (the identity spec for /api/customer_tokens): status documented for the
// operation, body matching its schema; and every GUID and timestamp in it is
// checked for format.
func (h *harness) do(method, path string, body any, tok string) (int, map[string]any, []byte) {
	h.t.Helper()
	return h.doCheck(method, path, body, tok, true)
}

// doUndocumented is do for a response whose status the spec does not list
// for the operation (it documents no 400 for PATCH or POST
// identity_verifications): the body must still be an ErrorResponse.
func (h *harness) doUndocumented(method, path string, body any, tok string) (int, map[string]any) {
	h.t.Helper()
	st, obj, raw := h.doCheck(method, path, body, tok, false)
	h.checkSchema("ErrorResponse", raw)
	return st, obj
}

func (h *harness) doCheck(method, path string, body any, tok string, contractCheck bool) (int, map[string]any, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.http.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	spec := h.spec
	if strings.HasPrefix(path, "/api/customer_tokens") {
		spec = h.idSpec
	}
	if contractCheck && spec != nil && strings.HasPrefix(path, "/api/") {
		if err := spec.CheckResponse(method, h.http.URL+path, req.Header, resp.StatusCode, resp.Header, raw); err != nil {
			h.t.Errorf("contract: %v\nbody: %s", err, raw)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		h.t.Fatalf("%s %s → %d: body is not a JSON object: %v: %s", method, path, resp.StatusCode, err, raw)
	}
	h.checkFormats(method+" "+path, obj)
	return resp.StatusCode, obj, raw
}

// checkFormats walks a JSON value: fields named guid or *_guid must be 32
// lowercase hex chars (or null); created_at/updated_at/*_at strings must be
// ISO-8601 with milliseconds and Z.
func (h *harness) checkFormats(where string, v any) {
	h.t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok {
				if (k == "guid" || strings.HasSuffix(k, "_guid")) && !guidRE.MatchString(s) {
					h.t.Errorf("%s: %s = %q is not 32 lowercase hex chars", where, k, s)
				}
				if strings.HasSuffix(k, "_at") && !tsRE.MatchString(s) {
					h.t.Errorf("%s: %s = %q is not ISO-8601 with milliseconds and Z", where, k, s)
				}
			}
			h.checkFormats(where, x)
		}
	case []any:
		for _, x := range v {
			h.checkFormats(where, x)
		}
	}
}

// checkSchema validates raw JSON against a components schema of the spec
// (when the spec is present).
func (h *harness) checkSchema(name string, raw []byte) {
	h.t.Helper()
	if h.spec == nil {
		return
	}
	ref := h.spec.Doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		h.t.Fatalf("spec has no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		h.t.Fatalf("not JSON: %s", raw)
	}
	if err := ref.Value.VisitJSON(v); err != nil {
		h.t.Errorf("body does not match %s: %v\n%s", name, err, raw)
	}
}

// wantState checks obj["state"] == want and, when the spec is present, that
// want is in the spec enum.
func (h *harness) wantState(obj map[string]any, enum, want string) {
	h.t.Helper()
	got, _ := obj["state"].(string)
	if h.spec != nil && !slices.Contains(h.spec.Enum(enum), got) {
		h.t.Errorf("state %q is not a value of %s %v", got, enum, h.spec.Enum(enum))
	}
	if got != want {
		h.t.Errorf("state = %q, want %q (object: %v)", got, want, obj)
	}
}

// wantError checks an ErrorResponse.
func wantError(t *testing.T, st int, obj map[string]any, status int, code string, msgContains ...string) {
	t.Helper()
	if st != status {
		t.Errorf("status = %d, want %d (%v)", st, status, obj)
	}
	if obj["message_code"] != code {
		t.Errorf("message_code = %v, want %s (%v)", obj["message_code"], code, obj)
	}
	if int(num(obj["status"])) != status {
		t.Errorf("body status = %v, want %d", obj["status"], status)
	}
	msg, _ := obj["error_message"].(string)
	for _, m := range msgContains {
		if !strings.Contains(msg, m) {
			t.Errorf("error_message %q does not mention %q", msg, m)
		}
	}
}

func num(v any) float64 { f, _ := v.(float64); return f }

func str(v any) string { s, _ := v.(string); return s }

// Convenience: the first seeded customer in list order (newest, verified).
func (h *harness) verifiedCustomer(i int) string {
	h.t.Helper()
	var out []string
	for _, c := range h.srv.Customers() {
		if c.State == "verified" {
			out = append(out, c.GUID)
		}
	}
	return out[i]
}

func workflowBody(kind, customer string) map[string]any {
	return map[string]any{"type": "plaid", "kind": kind, "language": "en", "link_customization_name": "default", "customer_guid": customer}
}

// createWorkflow creates a workflow and returns its guid.
func (h *harness) createWorkflow(b map[string]any) string {
	h.t.Helper()
	st, obj, _ := h.post("/api/workflows", b, h.tok)
	if st != 201 {
		h.t.Fatalf("POST /api/workflows: %d %v", st, obj)
	}
	return obj["guid"].(string)
}

// linkAccount creates an account from a registered public token and lets it
// settle; it returns the account JSON after AccountDelay.
func (h *harness) linkAccount(customer, pub, accountID string) map[string]any {
	h.t.Helper()
	st, obj, _ := h.post("/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid",
		"customer_guid": customer, "asset": "USD", "plaid_public_token": pub, "plaid_account_id": accountID}, h.tok)
	if st != 201 {
		h.t.Fatalf("POST /api/external_bank_accounts: %d %v", st, obj)
	}
	h.wantState(obj, "ExternalBankAccountState", "storing")
	h.clock.Advance(DefaultAccountDelay)
	st, obj, _ = h.do("GET", "/api/external_bank_accounts/"+str(obj["guid"]), nil, h.tok)
	if st != 200 {
		h.t.Fatalf("GET account: %d %v", st, obj)
	}
	return obj
}
