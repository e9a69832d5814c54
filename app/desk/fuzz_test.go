package desk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
)

// FuzzDeskResponses feeds arbitrary bodies, as Cybrid's answers to the list
// calls, to the desk's ListCustomers, ListAccounts and SearchCustomers
// (through the real cybrid client, over loopback). Whatever the API answers,
// each call must end, within a bounded number of requests (an API that keeps
// answering full pages must not keep the desk reading), without panicking,
// with one readable line as its error.
func FuzzDeskResponses(f *testing.F) {
	var body atomic.Pointer[[]byte]
	var status, requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2lnbmF0dXJl","token_type":"bearer","expires_in":7200,"scope":"customers:read customers:pii:read external_bank_accounts:read"}`)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		w.Write(*body.Load())
	})
	srv := httptest.NewServer(mux)
	f.Cleanup(srv.Close)
	c, err := cybrid.New(cybrid.Options{BankURL: srv.URL, IdentityURL: srv.URL, ClientID: "fuzz-client", ClientSecret: "fuzz-client-secret-CANARY",
		RequestTimeout: 2 * time.Second,
		// Retries on (one, without waiting), so that fuzzing stays fast.
		Retry: cybrid.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Microsecond, MaxDelay: time.Microsecond, MaxRetryAfter: time.Millisecond}})
	if err != nil {
		f.Fatal(err)
	}
	d := desk.New(c, "")
	cust := strings.Repeat("c", 32)

	account := func(i int) string {
		return fmt.Sprintf(`{"guid":"%032x","name":"Plaid Checking","asset":"USD","account_kind":"plaid","environment":"sandbox","customer_guid":"%s","created_at":"2024-05-0%dT10:00:00.000Z","plaid_institution_id":"ins_109508","plaid_account_mask":"0000","plaid_account_name":"Plaid Checking","state":"completed"}`, i, cust, 1+i%9)
	}
	customer := func(i int) string {
		return fmt.Sprintf(`{"guid":"%032x","bank_guid":"%s","type":"individual","state":"verified","created_at":"2024-05-01T10:00:00Z","name":{"first":"Ada","last":"Lovelace %d"}}`, i, strings.Repeat("b", 32), i)
	}
	page := func(item func(int) string, n, total int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = item(i)
		}
		return []byte(fmt.Sprintf(`{"total":%d,"page":0,"per_page":100,"objects":[%s]}`, total, strings.Join(items, ",")))
	}
	for _, b := range [][]byte{
		page(account, 2, 2),
		page(customer, 3, 3),
		page(account, 100, 100),
		// An API that always answers a full page and a huge total.
		page(account, 100, 1000000000),
		page(customer, 100, 1<<62),
		[]byte(`{"total":-5,"page":-1,"per_page":0,"objects":null}`),
		[]byte(`{"total":1,"objects":[{"guid":7}]}`),
		[]byte(`{"total":1,"objects":[{"guid":"x","created_at":"yesterday","name":{"full":"\u0000\u202e"}}]}`),
		[]byte(`{"error_message":"nope","message_code":"invalid_parameter","status":422}`),
		[]byte(`<html><body>502 Bad Gateway</body></html>`),
		[]byte(`{"total":1,"objects":[`),
	} {
		f.Add(uint8(0), uint8(0), b) // 200
		f.Add(uint8(0), uint8(1), b)
		f.Add(uint8(0), uint8(2), b)
	}
	f.Add(uint8(8), uint8(1), []byte(`{"error_message":"customer_guid is invalid","message_code":"invalid_parameter","status":422}`))
	f.Add(uint8(6), uint8(2), []byte(``))
	calls := []struct {
		method string
		call   func(ctx context.Context) (any, error)
	}{
		{"ListAccounts", func(ctx context.Context) (any, error) { return d.ListAccounts(ctx, cust) }},
		{"ListCustomers", func(ctx context.Context) (any, error) { return d.ListCustomers(ctx, 0, 100) }},
		{"SearchCustomers", func(ctx context.Context) (any, error) { return d.SearchCustomers(ctx, "lovelace", "") }},
	}
	f.Fuzz(func(t *testing.T, codeIndex, which uint8, b []byte) {
		// A 2xx, 4xx or 5xx status (no 1xx or 3xx: net/http treats those
		// as something else than an answer).
		code := []int{200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503}[int(codeIndex)%13]
		status.Store(int64(code))
		body.Store(&b)
		requests.Store(0)
		call := calls[int(which)%len(calls)]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		v, err := call.call(ctx)
		n := requests.Load()
		if el := time.Since(start); el > 10*time.Second || n > 2*101 {
			t.Fatalf("%s: %d requests in %v, status %d, body %.200q", call.method, n, el, code, b)
		}
		if err != nil {
			if msg := err.Error(); len(msg) > 1200 || !utf8.ValidString(msg) || strings.IndexFunc(msg, unicode.IsControl) >= 0 || strings.Contains(msg, "CANARY") {
				t.Fatalf("%s: error is not one readable line without secrets: %q", call.method, msg)
			}
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%s: the result cannot be sent to the page: %v", call.method, err)
		}
	})
}
