package cybridsim

import (
	"linkdesk/app/internal/contract"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A restricted API key (Options.ClientScopes) gets tokens for the scopes it
// is allowed, and invalid_scope naming the others, as Cybrid's identity
// service answers a key created without them.
func TestClientScopesRestrictTheKey(t *testing.T) {
	h := &harness{t: t, spec: contract.Optional(t, contract.BankSpecFile), plaid: newFakePlaid(), clock: &fakeClock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}}
	h.srv = New(Options{ClientID: testClientID, ClientSecret: testClientSecret, Plaid: h.plaid, Now: h.clock.Now,
		ClientScopes: []string{"customers:read", "workflows:read"}})
	h.http = httptest.NewServer(h.srv)
	t.Cleanup(h.http.Close)

	req := func(scope string) (int, map[string]any) {
		st, obj, _ := h.post("/oauth/token", map[string]any{"grant_type": "client_credentials",
			"client_id": testClientID, "client_secret": testClientSecret, "scope": scope}, "")
		return st, obj
	}
	if st, obj := req("customers:read workflows:read"); st != 200 || obj["scope"] != "customers:read workflows:read" {
		t.Errorf("allowed scopes: %d %v", st, obj)
	}
	st, obj := req("customers:read workflows:execute")
	if st != 400 || obj["error"] != "invalid_scope" || !strings.Contains(str(obj["error_description"]), "workflows:execute is not granted to this API key") {
		t.Errorf("scope outside the key: %d %v", st, obj)
	}
	if _, ok := obj["access_token"]; ok {
		t.Error("a refused request carries a token")
	}
}
