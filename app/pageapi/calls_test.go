package pageapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"linkdesk/app/desk"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/timeline"
)

func serve(t *testing.T, api *pageapi.API, method, params string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return api.Serve(ctx, method, []byte(params))
}

// Every call checks what the page sent and says what to fix; Plaid's data
// is read leniently, linkdesk's own parameters strictly.
func TestCallsRejectBadParameters(t *testing.T) {
	env := simEnv(t)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	cust := env.Target.Sim.Cybrid.Customers()[0].GUID
	cases := []struct{ method, params, want string }{
		{"listCustomers", `{"page":-1}`, "pages start at 0"},
		{"listCustomers", `{"per_page":500}`, "use 1 to 100"},
		{"listCustomers", `{"pgae":1}`, `unknown parameter "pgae"`},
		{"listCustomers", `{"Page":1}`, `unknown parameter "Page"`},
		{"listCustomers", `{"page":`, "not valid JSON"},
		{"listCustomers", `{} {}`, "more after the parameters object"},
		{"listCustomers", `[1]`, "not a JSON object"},
		{"listAccounts", `{"customer_guid":"x"}`, "32 lowercase hexadecimal"},
		{"startLink", `{"customer_guid":"` + strings.Repeat("Z", 32) + `"}`, "32 lowercase hexadecimal"},
		{"startRefresh", `{"customer_guid":"` + strings.Repeat("a", 32) + `","account_guid":""}`, "32 lowercase hexadecimal"},
		{"unlinkAccount", `{"account_guid":"` + strings.Repeat("a", 32) + `"}`, "customer GUID"},
		{"plaid.onSuccess", `{"attempt_id":"nope","seq":1,"public_token":"public-sandbox-1","metadata":{"accounts":[]}}`, "not an attempt id"},
		{"plaid.onSuccess", `{"attempt_id":"feedfeedfeedfeed","seq":1,"public_token":"public-sandbox-1","metadata":{"accounts":[]}}`, "unknown attempt"},
		{"plaid.onEvent", `{"attempt_id":"feedfeedfeedfeed","event_name":"OPEN"}`, "sequence number"},
		{"cancel", `{"attempt_id":"eyJhbGciOi.J9.x"}`, "is not an attempt id"},
		{"timeline", `{"attempt":"x"}`, "unknown parameter"},
		{"timeline", `{"since":-1}`, "since -1 is not valid"},
		{"timeline", `{"since":"x"}`, "do not fit"},
		{"timeline", `{"attempt_id":"eyJhbGciOi.J9.x"}`, "is not an attempt id"},
		{"timeline", `{"attempt_id":"feedfeedfeedfeed"}`, "no attempt"},
		{"exportAttempt", `{}`, "attempt_id is missing"},
		{"exportAttempt", `{"attempt_id":"0123456789abcdef","format":"pdf"}`, `format "pdf" is not known`},
		{"exportAttempt", `{"attempt_id":"0123456789abcdef","format":"html"}`, "no attempt"},
		{"exportSession", `{"format":"csv"}`, "is not known"},
		{"exportSession", `{"attempt_id":"0123456789abcdef"}`, "unknown parameter"},
		{"openExportFolder", `{"dir":"/etc"}`, "unknown parameter"},
		{"recovered.dismiss", `{"attempt_id":"nope"}`, "16 lowercase hexadecimal"},
		{"switchEnvironment", `{"environment":"staging"}`, "not one of sim, sandbox, production"},
		{"storeCredentials", `{"environment":"sim","client_id":"a","client_secret":"b"}`, "sandbox or production"},
		{"nope", `{}`, "unknown call"},
		{"listCustomers", `{"x":"` + strings.Repeat("a", 70000) + `"}`, "the limit is"},
	}
	for _, c := range cases {
		_, err := serve(t, api, c.method, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%.50s) = %v, want an error containing %q", c.method, c.params, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "eyJhbGciOi") {
			t.Errorf("%s: the error echoes a token-shaped value: %v", c.method, err)
		}
	}
	// Plaid adds metadata fields without notice: unknown ones are accepted.
	v, err := serve(t, api, "startLink", `{"customer_guid":"`+cust+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	id := v.(linkflow.Attempt).ID
	if _, err := serve(t, api, "plaid.onEvent", `{"attempt_id":"`+id+`","seq":1,"at":1700000000000,"event_name":"OPEN","metadata":{"view_name":"CONSENT","brand_new_key":1},"extra":true}`); err != nil {
		t.Errorf("onEvent with unknown fields: %v", err)
	}
	// The timeline holds it, and answers what the page reads.
	res, err := serve(t, api, "timeline", `{"attempt_id":"`+id+`","since":0}`)
	if err != nil {
		t.Fatal(err)
	}
	tl := res.(timeline.TimelineResult)
	if len(tl.Attempts) != 1 || tl.Attempts[0].ID != id || len(tl.Entries) < 2 {
		t.Errorf("timeline = %+v", tl)
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"brand_new_key":1`) {
		t.Errorf("the timeline lost onEvent's metadata: %s", b)
	}
	// The customer's current attempt is this one.
	cur, err := serve(t, api, "currentAttempt", `{"customer_guid":"`+cust+`"}`)
	if err != nil || cur.(*linkflow.Attempt).ID != id {
		t.Errorf("currentAttempt = %+v, %v; want %s", cur, err, id)
	}
	other := env.Target.Sim.Cybrid.Customers()[1].GUID
	if cur, err := serve(t, api, "currentAttempt", `{"customer_guid":"`+other+`"}`); err != nil || cur.(*linkflow.Attempt) != nil {
		t.Errorf("another customer's currentAttempt = %+v, %v; want none", cur, err)
	}
	if _, err := serve(t, api, "cancel", `{"attempt_id":"`+id+`"}`); err != nil {
		t.Error(err)
	}
}

// Without an environment (the first-run screen waits for credentials), the
// calls that need one say so; the page's header and the interrupted-attempts
// panel still answer.
func TestCallsWithoutAnEnvironmentSaySo(t *testing.T) {
	api := pageapi.New(envBackend{}, slog.New(slog.DiscardHandler))
	for _, c := range []struct{ method, params string }{
		{"listCustomers", `{}`},
		{"listAccounts", `{"customer_guid":"` + strings.Repeat("a", 32) + `"}`},
		{"startLink", `{"customer_guid":"` + strings.Repeat("a", 32) + `"}`},
		{"timeline", `{}`},
		{"exportSession", `{}`},
	} {
		if _, err := serve(t, api, c.method, c.params); err == nil || !strings.Contains(err.Error(), "linkdesk credentials set --env sandbox") {
			t.Errorf("%s without an environment: %v", c.method, err)
		}
	}
	v, err := serve(t, api, "info", ``)
	if err != nil || !v.(pageapi.SessionInfo).NeedsCredentials {
		t.Errorf("info = %+v, %v", v, err)
	}
	st, err := serve(t, api, "recovered.list", `{}`)
	if err != nil || st.(journal.Status).On {
		t.Errorf("recovered.list = %+v, %v", st, err)
	}
	if v, err := serve(t, api, "runningAttempts", `{}`); err != nil || len(v.([]linkflow.Attempt)) != 0 {
		t.Errorf("runningAttempts = %+v, %v", v, err)
	}
}

// Unlinking acts on the customer's own account only, and no attempt panel
// goes on showing the account as ready.
func TestUnlinkUpdatesTheAttemptThatLinkedTheAccount(t *testing.T) {
	env := simEnv(t)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	sm := env.Target.Sim
	custs := sm.Cybrid.Customers()
	a, b := custs[0].GUID, custs[1].GUID
	at, _, _ := linkWalk(t, api, env, a)
	if at.State != linkflow.Done || at.Account == nil {
		t.Fatalf("the link ended %s: %s", at.State, at.Error)
	}
	acct := at.Account.GUID
	// Another customer's GUID with this account: refused, nothing deleted.
	if _, err := serve(t, api, "unlinkAccount", `{"customer_guid":"`+b+`","account_guid":"`+acct+`"}`); err == nil || !strings.Contains(err.Error(), "belongs to another customer") {
		t.Errorf("unlinking with another customer's GUID: %v", err)
	}
	if got := sm.Cybrid.Accounts(a); len(got) != 1 || got[0].State == "deleting" || got[0].State == "deleted" {
		t.Fatalf("after a refused unlink the account is %+v", got)
	}
	v, err := serve(t, api, "unlinkAccount", `{"customer_guid":"`+a+`","account_guid":"`+acct+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if row := v.(desk.Account); row.GUID != acct || row.CustomerGUID != a || (row.State != "deleting" && row.State != "deleted") {
		t.Errorf("unlinkAccount = %+v", row)
	}
	// The customer's latest attempt, the one that linked it, now says so.
	cur, err := serve(t, api, "currentAttempt", `{"customer_guid":"`+a+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cur.(*linkflow.Attempt); got.ID != at.ID || got.Account.State != "deleting" && got.Account.State != "deleted" {
		t.Errorf("after unlinking, the attempt that linked it shows account %+v", got.Account)
	}
}
