package cybridsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// raw sends one request without checks and returns status, headers, body
// and the transport error.
func (h *harness) raw(c *http.Client, method, path, tok string, body any) (int, http.Header, []byte, error) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.http.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (h *harness) accountBody(customer, pub string) map[string]any {
	return map[string]any{"name": "Checking", "account_kind": "plaid", "customer_guid": customer, "asset": "USD",
		"plaid_public_token": pub, "plaid_account_id": "acc1"}
}

func TestFaultKindsOnTheWire(t *testing.T) {
	h := newHarness(t)
	wf := h.createWorkflow(workflowBody("link_token_create", h.verifiedCustomer(0)))
	get := "/api/workflows/" + wf
	route := "GET /api/workflows/{guid}"

	cases := []struct {
		kind  FaultKind
		check func(st int, hd http.Header, b []byte, err error)
	}{
		{Fault500, func(st int, _ http.Header, b []byte, err error) {
			if st != 500 || !strings.Contains(string(b), `"message_code":"internal_error"`) {
				t.Errorf("500: %d %s %v", st, b, err)
			}
		}},
		{Fault502, func(st int, hd http.Header, b []byte, err error) {
			if st != 502 || !strings.Contains(string(b), "502 Bad Gateway") || hd.Get("Content-Type") != "text/html" {
				t.Errorf("502: %d %s %v", st, b, err)
			}
		}},
		{Fault503, func(st int, hd http.Header, b []byte, err error) {
			if st != 503 || hd.Get("Retry-After") != "1" || !strings.Contains(string(b), "service_unavailable") {
				t.Errorf("503: %d %v %s %v", st, hd, b, err)
			}
		}},
		{FaultReset, func(st int, _ http.Header, b []byte, err error) {
			if err == nil {
				t.Errorf("reset: got %d %s, want a connection error", st, b)
			}
		}},
		{FaultRateLimited, func(st int, hd http.Header, b []byte, err error) {
			if st != 429 || hd.Get("Retry-After") != "1" || !strings.Contains(string(b), "rate_limited") {
				t.Errorf("429: %d %v %s %v", st, hd, b, err)
			}
		}},
		{FaultMalformed, func(st int, _ http.Header, b []byte, err error) {
			var v any
			if st != 200 || json.Unmarshal(b, &v) == nil {
				t.Errorf("malformed: %d %s is valid JSON", st, b)
			}
		}},
	}
	for _, tc := range cases {
		if err := h.srv.SetFaults([]Fault{{Route: route, Kind: tc.kind, Times: 1, RetryAfter: time.Second}}); err != nil {
			t.Fatal(err)
		}
		// A fresh connection each time, so that net/http does not replay a
		// GET on a reused connection after the reset.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		st, hd, b, err := h.raw(c, "GET", get, h.tok, nil)
		tc.check(st, hd, b, err)
		// Spent: the next request is normal.
		if st, _, b, err := h.raw(c, "GET", get, h.tok, nil); st != 200 || err != nil {
			t.Errorf("after the %s fault: %d %s %v", tc.kind, st, b, err)
		}
	}
	if got := h.srv.Stats().Faults; got != len(cases) {
		t.Errorf("Stats.Faults = %d, want %d", got, len(cases))
	}
}

func TestUnauthorizedFaultRevokesTheToken(t *testing.T) {
	h := newHarness(t)
	tok := h.token(allScopes)
	h.srv.AddFault(Fault{Route: "GET /api/customers", Kind: FaultUnauthorized, Times: 1})
	st, _, b, _ := h.raw(nil, "GET", "/api/customers", tok, nil)
	if st != 401 || !strings.Contains(string(b), "authentication_failed") {
		t.Fatalf("fault: %d %s", st, b)
	}
	// The token stays refused: it was revoked, not just one answer faked.
	if st, _, b, _ := h.raw(nil, "GET", "/api/customers", tok, nil); st != 401 {
		t.Fatalf("revoked token accepted: %d %s", st, b)
	}
	if st, _, _, _ := h.raw(nil, "GET", "/api/customers", h.token(allScopes), nil); st != 200 {
		t.Fatalf("a new token is refused: %d", st)
	}
}

func TestCommitPerformsThenFails(t *testing.T) {
	h := newHarness(t)
	cust := h.verifiedCustomer(0)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 300 * time.Millisecond}
	for i, tc := range []struct {
		f    Fault
		want int // accounts created
	}{
		{Fault{Kind: FaultReset, Times: 1}, 0},
		{Fault{Kind: FaultReset, Times: 1, Commit: true}, 1},
		{Fault{Kind: Fault502, Times: 1, Commit: true}, 1},
		{Fault{Kind: FaultSlow, Times: 1, Delay: 2 * time.Second}, 0},
		{Fault{Kind: FaultSlow, Times: 1, Delay: 2 * time.Second, Commit: true}, 1},
		{Fault{Kind: FaultMalformed, Times: 1, Commit: true}, 1},
	} {
		pub := "public-sandbox-commit-" + string(rune('a'+i))
		h.plaid.addItem(pub, "item"+pub, "ins_1", "acc1:"+string(rune('0'+i))+"000")
		before := len(h.srv.Accounts(cust))
		tc.f.Route = "POST /api/external_bank_accounts"
		if err := h.srv.SetFaults([]Fault{tc.f}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		st, _, b, err := h.raw(c, "POST", "/api/external_bank_accounts", h.tok, h.accountBody(cust, pub))
		if err == nil && st == 201 && tc.f.Kind != FaultMalformed {
			t.Errorf("%s commit=%v: answered normally: %d %s", tc.f.Kind, tc.f.Commit, st, b)
		}
		if tc.f.Kind == FaultMalformed && (st != 201 || json.Valid(b)) {
			t.Errorf("malformed commit: %d %s", st, b)
		}
		if tc.f.Kind == FaultSlow && time.Since(start) > time.Second {
			t.Errorf("the client's 300 ms timeout did not end the slow request (%v)", time.Since(start))
		}
		// The handler may still be finishing after the client gave up.
		time.Sleep(50 * time.Millisecond)
		if got := len(h.srv.Accounts(cust)) - before; got != tc.want {
			t.Errorf("%s commit=%v: %d accounts created, want %d", tc.f.Kind, tc.f.Commit, got, tc.want)
		}
	}
}

func TestSlowWithoutClientTimeoutAnswersNormally(t *testing.T) {
	h := newHarness(t)
	h.srv.AddFault(Fault{Route: "GET /api/customers", Kind: FaultSlow, Times: 1, Delay: 200 * time.Millisecond})
	start := time.Now()
	st, _, _, err := h.raw(nil, "GET", "/api/customers", h.tok, nil)
	if d := time.Since(start); st != 200 || err != nil || d < 200*time.Millisecond {
		t.Fatalf("slow: %d %v after %v", st, err, d)
	}
}

func TestFaultsOverHTTP(t *testing.T) {
	h := newHarness(t)
	st, _, b, _ := h.raw(nil, "PUT", "/sim/faults", "", map[string]any{"faults": []map[string]any{
		{"route": "POST /api/external_bank_accounts", "kind": "reset", "times": 1, "commit": true},
		{"route": "GET /api/workflows/{guid}", "kind": "slow", "times": 0, "delay": "2s"},
		{"route": "POST /oauth/token", "kind": "rate_limited", "times": 2, "retry_after": "3s"},
	}})
	if st != 200 {
		t.Fatalf("PUT /sim/faults: %d %s", st, b)
	}
	var got FaultsJSON
	json.Unmarshal(b, &got)
	if len(got.Faults) != 3 || got.Faults[1].Remaining != -1 || got.Faults[1].Delay != "2s" || got.Faults[2].RetryAfter != "3s" || !got.Faults[0].Commit {
		t.Fatalf("PUT answer: %s", b)
	}
	// The token endpoint is rate limited twice, with the configured Retry-After.
	for i := 0; i < 2; i++ {
		st, hd, b, _ := h.raw(nil, "POST", "/oauth/token", "", map[string]any{"grant_type": "client_credentials",
			"client_id": testClientID, "client_secret": testClientSecret, "scope": "customers:read"})
		if st != 429 || hd.Get("Retry-After") != "3" {
			t.Fatalf("token request %d: %d %v %s", i, st, hd, b)
		}
	}
	_, _, b, _ = h.raw(nil, "GET", "/sim/faults", "", nil)
	json.Unmarshal(b, &got)
	if got.Applied != 2 || got.Faults[2].Applied != 2 || got.Faults[2].Remaining != 0 {
		t.Fatalf("GET after two faults: %s", b)
	}
	// Bad input says what is wrong and changes nothing.
	for _, bad := range []map[string]any{
		{"route": "/api/customers", "kind": "500"},
		{"route": "GET /api/customers", "kind": "explode"},
		{"route": "GET /api/customers", "kind": "unauthorized", "commit": true},
		{"route": "GET /sim/faults", "kind": "500"},
		{"route": "GET /api/customers", "kind": "slow", "delay": "soon"},
	} {
		st, _, b, _ := h.raw(nil, "PUT", "/sim/faults", "", map[string]any{"faults": []any{bad}})
		if st != 400 || !strings.Contains(string(b), "Invalid value") {
			t.Errorf("PUT %v: %d %s", bad, st, b)
		}
	}
	if n := len(h.srv.Faults()); n != 3 {
		t.Errorf("a refused PUT changed the faults: %d", n)
	}
	st, _, _, _ = h.raw(nil, "PUT", "/sim/faults", "", map[string]any{"faults": []any{}})
	if st != 200 || len(h.srv.Faults()) != 0 {
		t.Errorf("clearing: %d, %d faults left", st, len(h.srv.Faults()))
	}
	if err := h.srv.SetFaults([]Fault{{Route: "GET /api/customers", Kind: "nope"}}); err == nil || errors.Unwrap(err) == nil && !strings.Contains(err.Error(), "not one of") {
		t.Errorf("SetFaults accepted an unknown kind: %v", err)
	}
}
