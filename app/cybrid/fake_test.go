package cybrid

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fastRetries keeps retried calls quick in tests.
var fastRetries = RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

// fakeCybrid is a loopback server answering like Cybrid's identity service
// (/oauth/token) and Bank API (/api/...), with bodies shaped as in Cybrid's
// OpenAPI spec. It keeps a tiny store so that a create followed by a get
// reads back what was created.
type fakeCybrid struct {
	t   *testing.T
	srv *httptest.Server

	clientID, clientSecret string

	mu sync.Mutex
	// token endpoint
	expiresIn     any    // expires_in in the token answer (number)
	grantedScope  string // scope in the answer; "" echoes the requested scope
	tokenHook     func(w http.ResponseWriter, r *http.Request) bool
	tokenRequests []tokenRequestSeen
	valid         map[string]bool // access tokens the API accepts
	issued        []string
	// bank API
	apiHook     func(w http.ResponseWriter, r *http.Request, body []byte) bool
	apiRequests []apiRequestSeen
	workflows   map[string]map[string]any
	accounts    map[string]map[string]any
	ivs         map[string]map[string]any
}

type tokenRequestSeen struct {
	Method, Path, ContentType string
	Body                      map[string]any
}

type apiRequestSeen struct {
	Method, Path, RawQuery, Auth, ContentType string
	Body                                      []byte
}

const (
	testBankGUID     = "0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e"
	testCustomerGUID = "c0ffee00c0ffee00c0ffee00c0ffee00"
	testClientID     = "client-id-for-tests"
)

func newFakeCybrid(t *testing.T, clientSecret string) *fakeCybrid {
	t.Helper()
	f := &fakeCybrid{
		t: t, clientID: testClientID, clientSecret: clientSecret,
		expiresIn: 1800,
		valid:     map[string]bool{},
		workflows: map[string]map[string]any{},
		accounts:  map[string]map[string]any{},
		ivs:       map[string]map[string]any{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", f.token)
	mux.HandleFunc("/api/", f.api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func errorResponse(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "error_message": msg, "message_code": code})
}

func (f *fakeCybrid) token(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.tokenRequests = append(f.tokenRequests, tokenRequestSeen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
	hook := f.tokenHook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	if body["grant_type"] != "client_credentials" {
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	if body["client_id"] != f.clientID || body["client_secret"] != f.clientSecret {
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})
		return
	}
	f.mu.Lock()
	tok := fmt.Sprintf("canary-access-token-%d-%s", len(f.issued)+1, newGUID())
	f.issued = append(f.issued, tok)
	f.valid[tok] = true
	scope := f.grantedScope
	if scope == "" {
		scope, _ = body["scope"].(string)
	}
	exp := f.expiresIn
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": exp,
		"scope": scope, "created_at": time.Now().Unix(),
	})
}

func (f *fakeCybrid) tokenCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenRequests)
}

func (f *fakeCybrid) apiCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.apiRequests)
}

// revokeAll makes the API refuse every token issued so far.
func (f *fakeCybrid) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func (f *fakeCybrid) lastToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.issued) == 0 {
		return ""
	}
	return f.issued[len(f.issued)-1]
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (f *fakeCybrid) api(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := r.Header.Get("Authorization")
	f.mu.Lock()
	f.apiRequests = append(f.apiRequests, apiRequestSeen{r.Method, r.URL.Path, r.URL.RawQuery, auth, r.Header.Get("Content-Type"), body})
	ok := strings.HasPrefix(auth, "Bearer ") && f.valid[strings.TrimPrefix(auth, "Bearer ")]
	hook := f.apiHook
	f.mu.Unlock()
	if !ok {
		errorResponse(w, 401, "authentication_failed", "Signature has expired")
		return
	}
	if hook != nil && hook(w, r, body) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := ts(time.Now())
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	id := ""
	if len(parts) > 1 {
		id = parts[1]
	}
	switch parts[0] {
	case "customers":
		cust := func(guid string) map[string]any {
			c := map[string]any{
				"guid": guid, "bank_guid": testBankGUID, "type": "individual",
				"created_at": "2025-01-01T12:00:00.000Z", "updated_at": "2025-01-02T12:00:00.000Z",
				"state": "verified", "labels": nil,
				"compliance_decisions": []any{map[string]any{"type": "person_attested", "state": "passed", "failure_codes": nil}},
				"activity_limits":      []any{map[string]any{"type": "rolling", "name": "deposits", "asset": "USD", "amount": 500000, "interval": 86400, "activities": []any{"funding"}, "sides": []any{"deposit"}}},
			}
			if r.URL.Query().Get("include_pii") == "true" {
				c["name"] = map[string]any{"first": "Ada", "middle": nil, "last": "Lovelace", "full": "Ada Lovelace"}
				c["address"] = map[string]any{"street": "12 Analytical Row", "street2": nil, "city": "Toronto", "subdivision": "ON", "postal_code": "M5V 2T6", "country_code": "CA"}
				c["email_address"] = "ada@example.com"
				c["phone_number"] = "+14165550100"
				c["date_of_birth"] = "1815-12-10"
				c["aliases"] = []any{}
				c["website"] = nil
				c["identification_numbers"] = []any{map[string]any{"type": "passport", "issuing_country_code": "GB", "identification_number": "X123"}}
			}
			return c
		}
		if id == "" {
			objs := []any{}
			if matches(r, "guid", testCustomerGUID) && matches(r, "bank_guid", testBankGUID) {
				objs = append(objs, cust(testCustomerGUID))
			}
			writeJSON(w, 200, map[string]any{"total": len(objs), "page": 0, "per_page": 10, "objects": objs})
			return
		}
		if id != testCustomerGUID {
			errorResponse(w, 404, "not_found", "customer not found")
			return
		}
		writeJSON(w, 200, cust(id))
	case "workflows":
		switch {
		case r.Method == "POST":
			var in map[string]any
			json.Unmarshal(body, &in)
			guid := newGUID()
			wf := map[string]any{"guid": guid, "bank_guid": testBankGUID, "customer_guid": in["customer_guid"],
				"type": "plaid", "state": "storing", "failure_code": nil, "created_at": now, "updated_at": now}
			f.workflows[guid] = wf
			writeJSON(w, 201, wf)
		case id == "":
			objs := []any{}
			for _, wf := range f.workflows {
				if matches(r, "customer_guid", wf["customer_guid"]) && matches(r, "guid", wf["guid"]) && matches(r, "bank_guid", wf["bank_guid"]) {
					objs = append(objs, wf)
				}
			}
			writeJSON(w, 200, map[string]any{"total": len(objs), "page": 0, "per_page": 10, "objects": objs})
		default:
			wf, ok := f.workflows[id]
			if !ok {
				errorResponse(w, 404, "not_found", "Workflow not found")
				return
			}
			wf["state"] = "completed"
			out := map[string]any{"plaid_link_token": "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176"}
			for k, v := range wf {
				out[k] = v
			}
			writeJSON(w, 200, out)
		}
	case "external_bank_accounts":
		switch {
		case r.Method == "POST":
			var in map[string]any
			json.Unmarshal(body, &in)
			guid := newGUID()
			a := map[string]any{"guid": guid, "name": in["name"], "asset": in["asset"], "account_kind": in["account_kind"],
				"environment": "sandbox", "bank_guid": testBankGUID, "customer_guid": in["customer_guid"], "counterparty_guid": nil,
				"created_at": now, "updated_at": now, "plaid_institution_id": "ins_109508", "plaid_account_mask": "0000",
				"plaid_account_name": "Plaid Checking", "state": "storing", "failure_code": nil,
				"balance_updated_at": nil, "balances": map[string]any{"available": nil, "current": nil}, "pii": nil}
			f.accounts[guid] = a
			writeJSON(w, 201, a)
		case id == "":
			objs := []any{}
			for _, a := range f.accounts {
				if matches(r, "customer_guid", a["customer_guid"]) && matches(r, "guid", a["guid"]) && matches(r, "state", a["state"]) {
					objs = append(objs, a)
				}
			}
			writeJSON(w, 200, map[string]any{"total": len(objs), "page": 0, "per_page": 10, "objects": objs})
		default:
			a, ok := f.accounts[id]
			if !ok {
				errorResponse(w, 404, "not_found", "ExternalBankAccount not found")
				return
			}
			switch r.Method {
			case "GET":
				if a["state"] == "storing" {
					a["state"] = "unverified"
					a["balances"] = map[string]any{"available": 12000, "current": 12500}
					a["balance_updated_at"] = now
				}
			case "PATCH":
				var in map[string]any
				json.Unmarshal(body, &in)
				if in["state"] != nil {
					a["state"] = in["state"]
				}
			case "DELETE":
				a["state"] = "deleting"
			}
			a["updated_at"] = now
			writeJSON(w, 200, a)
		}
	case "identity_verifications":
		if r.Method == "POST" {
			var in map[string]any
			json.Unmarshal(body, &in)
			guid := newGUID()
			iv := map[string]any{"guid": guid, "type": in["type"], "method": in["method"], "created_at": now, "updated_at": now,
				"customer_guid": in["customer_guid"], "counterparty_guid": nil, "external_bank_account_guid": in["external_bank_account_guid"],
				"state": "storing", "outcome": nil, "failure_codes": []any{}, "compliance_decisions": []any{}}
			f.ivs[guid] = iv
			writeJSON(w, 201, iv)
			return
		}
		iv, ok := f.ivs[id]
		if !ok {
			errorResponse(w, 404, "not_found", "Identity verification not found")
			return
		}
		iv["state"], iv["outcome"] = "completed", "passed"
		iv["compliance_decisions"] = []any{map[string]any{"type": "external_bank_account_verification", "state": "passed", "failure_codes": nil}}
		out := map[string]any{"persona_inquiry_id": nil, "persona_state": nil, "documents": []any{}}
		for k, v := range iv {
			out[k] = v
		}
		writeJSON(w, 200, out)
	default:
		errorResponse(w, 404, "not_found", "no such resource")
	}
}

// client returns a Client for f with the given base transport and observer.
func (f *fakeCybrid) client(t *testing.T, base http.RoundTripper, observe func(Call)) *Client {
	t.Helper()
	c, err := New(Options{
		BankURL: f.srv.URL, IdentityURL: f.srv.URL,
		ClientID: f.clientID, ClientSecret: f.clientSecret,
		HTTPClient: &http.Client{Transport: base, Timeout: 10 * time.Second},
		Observer:   observe,
		Retry:      fastRetries,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// calls collects Observer calls.
type calls struct {
	mu sync.Mutex
	l  []Call
}

func (c *calls) observe(call Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l = append(c.l, call)
}

func (c *calls) list() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.l...)
}

// with runs fn under the fake's lock (to change its behaviour mid-test).
func (f *fakeCybrid) with(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeCybrid) apiSeen() []apiRequestSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequestSeen(nil), f.apiRequests...)
}

func (f *fakeCybrid) tokensSeen() []tokenRequestSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tokenRequestSeen(nil), f.tokenRequests...)
}

func (f *fakeCybrid) issuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

// matches applies a comma-separated list filter the way Cybrid documents
// it: absent means everything.
func matches(r *http.Request, param string, v any) bool {
	q := r.URL.Query().Get(param)
	if q == "" {
		return true
	}
	s, _ := v.(string)
	for _, x := range strings.Split(q, ",") {
		if x == s {
			return true
		}
	}
	return false
}
