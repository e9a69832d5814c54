package pageapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"linkdesk/app/desk"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
)

// maxErrorLen bounds an error the page shows: whatever the page sent, the
// message must stay a readable sentence, not an echo of the input.
const maxErrorLen = 400

// strictParams lists, for each call the fuzzer makes whose parameters are
// read strictly, the only keys it accepts. The plaid.* callbacks are lenient
// (Plaid adds metadata fields without notice).
var strictParams = map[string][]string{
	"info":            {},
	"listCustomers":   {"page", "per_page"},
	"listAccounts":    {"customer_guid"},
	"startLink":       {"customer_guid"},
	"startRefresh":    {"customer_guid", "account_guid"},
	"cancel":          {"attempt_id"},
	"retryAccount":    {"attempt_id"},
	"currentAttempt":  {"customer_guid"},
	"runningAttempts": {},
	"searchCustomers": {"query", "state"},
	"unlinkAccount":   {"customer_guid", "account_guid"},
	"verifyAccount":   {"customer_guid", "account_guid"},
	"timeline":        {"attempt_id", "since"},
	"recovered.list":  {},
	"scenarios":       {},
	"prefetchLink":    {"customer_guid"},
	"linkShown":       {"attempt_id", "click_ms", "signal", "prepared", "phases"},
}

// fuzzed are the calls the fuzzer makes: all but those that act outside
// the process (switching or storing credentials, writing exports, opening a
// folder, applying a scenario) or need a window.
func fuzzed() []string {
	skip := map[string]bool{"switchEnvironment": true, "storeCredentials": true, "exportAttempt": true, "exportSession": true,
		"openExportFolder": true, "applyScenario": true, "recovered.dismiss": true, "recovered.recheck": true, "ready": true}
	var out []string
	for _, n := range pageapi.Calls() {
		if !skip[n] {
			out = append(out, n)
		}
	}
	return out
}

var fuzzGUID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// FuzzPageCalls sends arbitrary parameters to the page's calls
// (pageapi.API.Serve, see fuzzed), against the real simulator. Every call must return
// within its deadline without panicking; an error must be one readable line
// (valid UTF-8, no control characters, at most maxErrorLen bytes) that never
// repeats a Plaid public token; and a call that succeeds must have been given
// only what it allows: known keys (exact spelling) for the strict calls, a
// single JSON value, GUIDs of 32 lowercase hex characters, page >= 0 and
// per_page 1..100, at most 64 KiB.
func FuzzPageCalls(f *testing.F) {
	env := simEnv(f)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	fl, s := env.Flow, env.Target.Sim
	names := fuzzed()
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
		{"unlinkAccount", `{"customer_guid":"` + cust + `","account_guid":"` + g + `"}`},
		{"currentAttempt", `{"customer_guid":"` + cust + `"}`},
		{"timeline", `{"attempt_id":"","since":0}`},
		{"verifyAccount", `{"customer_guid":"` + cust + `","account_guid":"` + g + `"}`},
		{"plaid.onLoad", `{"attempt_id":"00000000000000a1","seq":1}`},
		{"plaid.onEvent", `{"attempt_id":"00000000000000a1","seq":1,"event_name":"OPEN","metadata":{"view_name":"CONSENT","x":[1,{"y":null}]}}`},
		{"plaid.onExit", `{"attempt_id":"00000000000000a1","seq":1,"error":{"error_type":"ITEM_ERROR","error_code":"INVALID_CREDENTIALS","error_message":"bad"},"metadata":{"status":"requires_credentials","link_session_id":"s","institution":{"name":"Bank","institution_id":"ins_1"}}}`},
		{"plaid.onSuccess", `{"attempt_id":"00000000000000a1","seq":1,"public_token":"public-sandbox-0f3e5a1c-CANARY-token","metadata":{"institution":{"name":"First Platypus Bank","institution_id":"ins_109508"},"accounts":[{"id":"acc1","name":"Plaid Checking","mask":"0000","type":"depository","subtype":"checking"}],"link_session_id":"s1"}}`},
		{"plaid.onSuccess", `{"attempt_id":"public-sandbox-x","public_token":7}`},
		{"prefetchLink", `{"customer_guid":"` + cust + `"}`},
		{"prefetchRefused", `{"attempt_id":"00000000000000a1","error":{"error_code":"INVALID_LINK_TOKEN"}}`},
		{"linkShown", `{"attempt_id":"00000000000000a1","click_ms":12.5,"signal":"first_pane","prepared":true}`},
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
		v, err := api.Serve(ctx, name, params)
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
	case "listAccounts", "startLink", "prefetchLink":
		if !fuzzGUID.MatchString(str("customer_guid")) {
			t.Fatalf("%s accepted customer_guid %q", name, str("customer_guid"))
		}
	case "unlinkAccount":
		if !fuzzGUID.MatchString(str("customer_guid")) || !fuzzGUID.MatchString(str("account_guid")) {
			t.Fatalf("unlinkAccount accepted %q / %q", str("customer_guid"), str("account_guid"))
		}
	case "searchCustomers":
		q, st := strings.TrimSpace(str("query")), str("state")
		if q == "" && st == "" || len(q) > 128 || st != "" && !slices.Contains(desk.CustomerStates, st) {
			t.Fatalf("searchCustomers accepted the query %q, state %q", q, st)
		}
	case "startRefresh", "verifyAccount":
		if !fuzzGUID.MatchString(str("customer_guid")) || !fuzzGUID.MatchString(str("account_guid")) {
			t.Fatalf("%s accepted %q / %q", name, str("customer_guid"), str("account_guid"))
		}
	}
}
