package desk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// maxErrorLen bounds an error the page shows: whatever the page sent, the
// message must stay a readable sentence, not an echo of the input.
const maxErrorLen = 400

// strictParams lists, for each call whose parameters the desk reads strictly,
// the only keys it accepts. The plaid.* callbacks are lenient (Plaid adds
// metadata fields without notice).
var strictParams = map[string][]string{
	"info":            {},
	"listCustomers":   {"page", "per_page"},
	"listAccounts":    {"customer_guid"},
	"startLink":       {"customer_guid"},
	"startRefresh":    {"customer_guid", "account_guid"},
	"cancel":          {"attempt_id"},
	"searchCustomers": {"query"},
	"unlinkAccount":   {"account_guid"},
	"verifyAccount":   {"customer_guid", "account_guid"},
}

var fuzzGUID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// fuzzDesk is a Desk over the real simulator (loopback HTTP) for a whole
// fuzzing run.
func fuzzDesk(f *testing.F) (*desk.Desk, *linkflow.Flow, *sim.Sim) {
	f.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	c, err := cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret})
	if err != nil {
		f.Fatal(err)
	}
	fl := linkflow.New(c, linkflow.Settings{Language: "en", LinkCustomizationName: "default", Asset: "USD"}, slog.New(slog.DiscardHandler), nil)
	f.Cleanup(fl.Close)
	return desk.New(desk.Info{Environment: "sim"}, c, fl), fl, s
}

// FuzzDeskMethods sends arbitrary parameters to every call of the page's
// table (desk.Methods), against the real simulator. Every call must return
// within its deadline without panicking; an error must be one readable line
// (valid UTF-8, no control characters, at most maxErrorLen bytes) that never
// repeats a Plaid public token; and a call that succeeds must have been given
// only what it allows: known keys (exact spelling) for the strict calls, a
// single JSON value, GUIDs of 32 lowercase hex characters, page >= 0 and
// per_page 1..100, at most 64 KiB.
func FuzzDeskMethods(f *testing.F) {
	d, fl, s := fuzzDesk(f)
	methods := d.Methods()
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	index := func(name string) uint8 {
		i := sort.SearchStrings(names, name)
		if i == len(names) || names[i] != name {
			f.Fatalf("no method %q", name)
		}
		return uint8(i)
	}
	cust := s.Cybrid.Customers()[0].GUID
	g := strings.Repeat("0", 32)
	for _, seed := range []struct{ method, params string }{
		{"info", `{}`},
		{"info", ``},
		{"listCustomers", `{"page":0,"per_page":25}`},
		{"listCustomers", `{"page":1}`},
		{"listCustomers", `{"page":-1,"per_page":500}`},
		{"listCustomers", `{"Page":1}`},
		{"listCustomers", `{"page":1} {"page":2}`},
		{"listCustomers", `{"page":1e3,"per_page":"x"}`},
		{"listCustomers", `null`},
		{"listAccounts", `{"customer_guid":"` + cust + `"}`},
		{"listAccounts", `{"customer_guid":"` + strings.ToUpper(cust) + `"}`},
		{"listAccounts", `{"customer_guid":"` + strings.Repeat("x", 2000) + `"}`},
		{"startLink", `{"customer_guid":"` + cust + `"}`},
		{"startLink", `{"customer_guid":"` + g + `\n"}`},
		{"startRefresh", `{"customer_guid":"` + cust + `","account_guid":"` + g + `"}`},
		{"cancel", `{"attempt_id":"` + strings.Repeat("é", 300) + `"}`},
		{"searchCustomers", `{"query":"a"}`},
		{"searchCustomers", `{"query":"` + cust + `"}`},
		{"unlinkAccount", `{"account_guid":"` + g + `"}`},
		{"verifyAccount", `{"customer_guid":"` + cust + `","account_guid":"` + g + `"}`},
		{"plaid.onLoad", `{"attempt_id":"a1"}`},
		{"plaid.onEvent", `{"attempt_id":"a1","event_name":"OPEN","metadata":{"view_name":"CONSENT","x":[1,{"y":null}]}}`},
		{"plaid.onExit", `{"attempt_id":"a1","error":{"error_type":"ITEM_ERROR","error_code":"INVALID_CREDENTIALS","error_message":"bad"},"metadata":{"status":"requires_credentials","link_session_id":"s","institution":{"name":"Bank","institution_id":"ins_1"}}}`},
		{"plaid.onSuccess", `{"attempt_id":"a1","public_token":"public-sandbox-0f3e5a1c-CANARY-token","metadata":{"institution":{"name":"First Platypus Bank","institution_id":"ins_109508"},"accounts":[{"id":"acc1","name":"Plaid Checking","mask":"0000","type":"depository","subtype":"checking"}],"link_session_id":"s1"}}`},
		{"plaid.onSuccess", `{"attempt_id":"public-sandbox-x","public_token":7}`},
		{"listCustomers", `"` + strings.Repeat("a", 70000) + `"`},
		// Found by the fuzzer: the flow's own GUID check quoted all of it.
		{"startRefresh", `{"customer_guid":"` + strings.Repeat("0", 300) + `","account_guid":""}`},
	} {
		f.Add(index(seed.method), []byte(seed.params))
	}
	f.Fuzz(func(t *testing.T, which uint8, params []byte) {
		name := names[int(which)%len(names)]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		v, err := methods[name](ctx, json.RawMessage(params))
		if el := time.Since(start); el > 6*time.Second {
			t.Fatalf("%s took %v", name, el)
		}
		if err != nil {
			checkErrorText(t, name, params, err)
			return
		}
		checkAccepted(t, name, params, v)
		if a, ok := v.(linkflow.Attempt); ok {
			// Stop it, so attempts do not pile up (it may have ended already).
			if err := fl.Cancel(a.ID); errors.Is(err, linkflow.ErrUnknownAttempt) {
				t.Fatalf("the attempt %s just started is unknown: %v", a.ID, err)
			}
		}
	})
}

func checkErrorText(t *testing.T, name string, params []byte, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" || len(msg) > maxErrorLen || !utf8.ValidString(msg) || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
		t.Fatalf("%s(%.80q): error is not one readable line of at most %d bytes (%d bytes): %.300q", name, params, maxErrorLen, len(msg), msg)
	}
	var p struct {
		PublicToken string `json:"public_token"`
	}
	if json.Unmarshal(params, &p) == nil && len(p.PublicToken) >= 8 && strings.Contains(msg, p.PublicToken) &&
		bytes.Count(params, []byte(p.PublicToken)) == 1 {
		t.Fatalf("%s: the error repeats the public token: %q", name, msg)
	}
}

// checkAccepted: parameters a call accepted must be what it allows.
func checkAccepted(t *testing.T, name string, params []byte, v any) {
	t.Helper()
	if len(params) > 64<<10 {
		t.Fatalf("%s accepted %d bytes of parameters", name, len(params))
	}
	raw := bytes.TrimSpace(params)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	// One JSON object, nothing after it.
	dec := json.NewDecoder(bytes.NewReader(raw))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("%s accepted parameters that are not a JSON object: %.200q", name, params)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s accepted parameters with data after the JSON object: %.200q", name, params)
	}
	if allowed, strict := strictParams[name]; strict {
		for k := range obj {
			found := false
			for _, a := range allowed {
				found = found || k == a
			}
			if !found {
				t.Fatalf("%s accepted the unknown parameter %q: %.200q", name, k, params)
			}
		}
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(obj[k], &s)
		return s
	}
	switch name {
	case "listCustomers":
		page := v.(desk.CustomerPage)
		if page.Page < 0 || page.PerPage < 1 || page.PerPage > 100 || len(page.Customers) > page.PerPage {
			t.Fatalf("listCustomers(%q) returned page %d, per_page %d, %d rows", params, page.Page, page.PerPage, len(page.Customers))
		}
	case "listAccounts", "startLink":
		if !fuzzGUID.MatchString(str("customer_guid")) {
			t.Fatalf("%s accepted customer_guid %q", name, str("customer_guid"))
		}
	case "unlinkAccount":
		if !fuzzGUID.MatchString(str("account_guid")) {
			t.Fatalf("unlinkAccount accepted account_guid %q", str("account_guid"))
		}
	case "searchCustomers":
		if q := strings.TrimSpace(str("query")); q == "" || len(q) > 128 {
			t.Fatalf("searchCustomers accepted the query %q", q)
		}
	case "startRefresh", "verifyAccount":
		if !fuzzGUID.MatchString(str("customer_guid")) || !fuzzGUID.MatchString(str("account_guid")) {
			t.Fatalf("%s accepted %q / %q", name, str("customer_guid"), str("account_guid"))
		}
	}
}

// FuzzDeskResponses feeds arbitrary bodies, as Cybrid's answers to the list
// calls, to the desk's listCustomers, listAccounts and searchCustomers
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
	d := desk.New(desk.Info{Environment: "sandbox"}, c, nil)
	methods := d.Methods()
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
	calls := []struct{ method, params string }{
		{"listAccounts", `{"customer_guid":"` + cust + `"}`},
		{"listCustomers", `{"page":0,"per_page":100}`},
		{"searchCustomers", `{"query":"lovelace"}`},
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
		v, err := methods[call.method](ctx, json.RawMessage(call.params))
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
