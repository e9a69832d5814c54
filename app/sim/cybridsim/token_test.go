package cybridsim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenSuccessShape(t *testing.T) {
	h := newHarness(t)
	st, obj, _ := h.post("/oauth/token", map[string]any{"grant_type": "client_credentials",
		"client_id": testClientID, "client_secret": testClientSecret, "scope": "customers:read  workflows:execute"}, "")
	if st != 200 {
		t.Fatalf("status %d: %v", st, obj)
	}
	if obj["token_type"] != "Bearer" || num(obj["expires_in"]) != 1800 || obj["scope"] != "customers:read workflows:execute" {
		t.Errorf("token response = %v", obj)
	}
	if int64(num(obj["created_at"])) != h.clock.Now().Unix() {
		t.Errorf("created_at = %v, want %d", obj["created_at"], h.clock.Now().Unix())
	}
	// JWT-shaped, with the bank as subject and the granted scopes.
	parts := strings.Split(str(obj["access_token"]), ".")
	if len(parts) != 3 {
		t.Fatalf("access_token has %d parts, want a JWT shape", len(parts))
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(claims, &c)
	if c["sub"] != DefaultBankGUID || c["sub_type"] != "bank" || num(c["exp"])-num(c["iat"]) != 1800 {
		t.Errorf("claims = %v", c)
	}
	if h.srv.Stats().TokenRequests != 2 { // harness + this one
		t.Errorf("TokenRequests = %d, want 2", h.srv.Stats().TokenRequests)
	}
}

func TestTokenFormEncodedAndBasicAuth(t *testing.T) {
	h := newHarness(t)
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"customers:read"}}
	req, _ := http.NewRequest("POST", h.http.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testClientID, testClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	json.Unmarshal(b, &obj)
	if resp.StatusCode != 200 || obj["scope"] != "customers:read" {
		t.Fatalf("form + basic auth: %d %s", resp.StatusCode, b)
	}
	// The token works on the API.
	if st, o, _ := h.do("GET", "/api/customers", nil, str(obj["access_token"])); st != 200 {
		t.Fatalf("token from form grant refused: %d %v", st, o)
	}
}

func TestTokenErrors(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		desc   string
	}{
		{"wrong secret", map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": "nope", "scope": "customers:read"}, 401, "invalid_client", "client id and secret"},
		{"unknown client", map[string]any{"grant_type": "client_credentials", "client_id": "x", "client_secret": testClientSecret, "scope": "customers:read"}, 401, "invalid_client", ""},
		{"org-only scope", map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testClientSecret, "scope": "customers:read banks:execute"}, 400, "invalid_scope", "banks:execute"},
		{"unknown scope", map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testClientSecret, "scope": "teleport:execute"}, 400, "invalid_scope", "teleport:execute"},
		{"empty scope", map[string]any{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testClientSecret, "scope": ""}, 400, "invalid_scope", "scope is empty"},
		{"wrong grant", map[string]any{"grant_type": "password", "client_id": testClientID, "client_secret": testClientSecret, "scope": "customers:read"}, 400, "unsupported_grant_type", "client_credentials"},
		{"no grant", map[string]any{"client_id": testClientID, "client_secret": testClientSecret, "scope": "customers:read"}, 400, "invalid_request", "grant_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, obj, raw := h.post("/oauth/token", c.body, "")
			if st != c.status || obj["error"] != c.code {
				t.Fatalf("status %d body %s; want %d %s", st, raw, c.status, c.code)
			}
			if !strings.Contains(str(obj["error_description"]), c.desc) {
				t.Errorf("error_description %q does not mention %q", obj["error_description"], c.desc)
			}
			if strings.Contains(string(raw), testClientSecret) {
				t.Errorf("error body echoes the client secret")
			}
			if _, ok := obj["access_token"]; ok {
				t.Errorf("error response carries a token")
			}
		})
	}
}

func TestBankAPIAuthErrors(t *testing.T) {
	h := newHarness(t)
	st, obj, _ := h.do("GET", "/api/customers", nil, "")
	wantError(t, st, obj, 401, "authentication_malformed", "Authorization")

	st, obj, _ = h.do("GET", "/api/customers", nil, "not-a-token-we-issued")
	wantError(t, st, obj, 401, "authentication_failed")

	narrow := h.token("customers:read")
	st, obj, _ = h.post("/api/workflows", workflowBody("link_token_create", h.verifiedCustomer(0)), narrow)
	wantError(t, st, obj, 403, "invalid_scopes", "workflows:execute")
	st, obj, _ = h.do("GET", "/api/external_bank_accounts", nil, narrow)
	wantError(t, st, obj, 403, "invalid_scopes", "external_bank_accounts:read")
	st, obj, _ = h.do("GET", "/api/customers?include_pii=true", nil, narrow)
	wantError(t, st, obj, 403, "invalid_scopes", "customers:pii:read")

	// Tokens expire after TokenLifetime.
	if st, _, _ := h.do("GET", "/api/customers", nil, narrow); st != 200 {
		t.Fatalf("fresh token refused: %d", st)
	}
	h.clock.Advance(30*time.Minute - time.Second)
	if st, _, _ := h.do("GET", "/api/customers", nil, narrow); st != 200 {
		t.Fatalf("token refused before expiry: %d", st)
	}
	h.clock.Advance(time.Second)
	st, obj, _ = h.do("GET", "/api/customers", nil, narrow)
	wantError(t, st, obj, 401, "authentication_failed", "expired")
}

func TestUnknownPathAndWrongMethod(t *testing.T) {
	h := newHarness(t)
	req, _ := http.NewRequest("GET", h.http.URL+"/api/nowhere", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	h.checkSchema("ErrorResponse", b)

	req, _ = http.NewRequest("PUT", h.http.URL+"/api/workflows", nil)
	req.Header.Set("Authorization", "Bearer "+h.tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("wrong method: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	h.checkSchema("ErrorResponse", b)
}
