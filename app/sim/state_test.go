package sim

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/simlink"
)

// qa is a tester's session with a simulator over HTTP: a bank token and
// the simulator's clock.
type qa struct {
	t   *testing.T
	s   *Sim
	clk *simclock.Clock
	tok string
}

func newQA(t *testing.T, s *Sim, clk *simclock.Clock) *qa {
	t.Helper()
	st, tok := call(t, http.DefaultClient, "POST", s.IdentityURL+"/oauth/token", "", map[string]any{"grant_type": "client_credentials",
		"client_id": DefaultClientID, "client_secret": DefaultClientSecret,
		"scope": "customers:read workflows:read workflows:execute external_bank_accounts:read external_bank_accounts:write external_bank_accounts:execute"})
	if st != 200 {
		t.Fatalf("token: %d %v", st, tok)
	}
	return &qa{t: t, s: s, clk: clk, tok: tok["access_token"].(string)}
}

func (q *qa) do(method, path string, body any) (int, map[string]any) {
	q.t.Helper()
	return call(q.t, http.DefaultClient, method, q.s.BankURL+path, q.tok, body)
}

// linkToken creates a workflow and returns its link token once completed.
func (q *qa) linkToken(body map[string]any) string {
	q.t.Helper()
	body["type"], body["language"], body["link_customization_name"] = "plaid", "en", "default"
	st, wf := q.do("POST", "/api/workflows", body)
	if st != 201 {
		q.t.Fatalf("workflow: %d %v", st, wf)
	}
	q.clk.Skip(time.Minute)
	_, wf = q.do("GET", "/api/workflows/"+wf["guid"].(string), nil)
	lt, _ := wf["plaid_link_token"].(string)
	if lt == "" {
		q.t.Fatalf("workflow %v", wf)
	}
	return lt
}

// link goes through Link for cust and creates the account; it returns the
// account as POST answered it (storing).
func (q *qa) link(cust string) map[string]any {
	q.t.Helper()
	pub, meta := simlink.Link(q.t, q.s.PlaidURL, q.linkToken(map[string]any{"kind": "link_token_create", "customer_guid": cust}))
	st, a := q.do("POST", "/api/external_bank_accounts", map[string]any{"name": "Checking", "account_kind": "plaid",
		"customer_guid": cust, "plaid_public_token": pub, "plaid_account_id": meta.Accounts[0].ID})
	if st != 201 {
		q.t.Fatalf("account: %d %v", st, a)
	}
	return a
}

func verified(s *Sim, i int) string {
	var out []string
	for _, c := range s.Cybrid.Customers() {
		if c.State == "verified" {
			out = append(out, c.GUID)
		}
	}
	return out[i]
}

// plain is v as JSON: what it says, without the clock readings Go keeps
// in a time.Time beside its value.
func plain(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func startWith(t *testing.T, o Options) *Sim {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// What a tester did in the simulator is there after it stopped and started
// again: accounts (one whose connection expired, one still being stored,
// which goes on on the clock), Plaid's items (update mode works on the
// expired one) — and an account is in the file as soon as its POST is
// answered, before any save at Close.
func TestTheSimulatorsStateSurvivesARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", StateFileName)
	clk := &simclock.Clock{}
	s1 := startWith(t, Options{StateFile: file, Now: clk.Now})
	if p := s1.Persistence(); p.File != file || p.Restored || p.Note != "" {
		t.Fatalf("a first start: %+v", p)
	}
	q := newQA(t, s1, clk)
	cust, other := verified(s1, 0), verified(s1, 1)
	expired := q.link(cust)["guid"].(string)
	clk.Skip(time.Minute)
	if err := s1.Cybrid.ExpireConnection(expired); err != nil {
		t.Fatal(err)
	}
	storing := q.link(other)["guid"].(string)
	raw, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(raw), storing) {
		t.Fatalf("the account just answered is not in the state file yet (%v)", err)
	}
	for _, secret := range []string{DefaultClientSecret, q.tok} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the state file holds the client secret or an access token")
		}
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("the state file's mode is %v", fi.Mode().Perm())
	}
	accounts, items := s1.Cybrid.Accounts(""), s1.Plaid.Items()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startWith(t, Options{StateFile: file, Now: clk.Now})
	if p := s2.Persistence(); p.File != file || !p.Restored || p.SavedAt.IsZero() {
		t.Errorf("the second start: %+v", p)
	}
	if got := s2.Cybrid.Accounts(""); plain(got) != plain(accounts) {
		t.Errorf("accounts after the restart:\n%+v\nwant\n%+v", got, accounts)
	}
	if got := s2.Plaid.Items(); plain(got) != plain(items) || len(got) != 2 || !got[0].NeedsUpdate {
		t.Errorf("Plaid items after the restart:\n%+v\nwant\n%+v", got, items)
	}
	q2 := newQA(t, s2, clk)
	if a, _ := s2.Cybrid.Account(storing); a.State != "storing" {
		t.Errorf("the account being stored is %s at once after the restart", a.State)
	}
	clk.Skip(time.Minute)
	if st, a := q2.do("GET", "/api/external_bank_accounts/"+storing, nil); st != 200 || a["state"] != "unverified" {
		t.Errorf("the account being stored, a minute later: %d %v", st, a["state"])
	}
	// Update mode for the expired account: Link repairs the restored item.
	lt := q2.linkToken(map[string]any{"kind": "link_token_update", "customer_guid": cust, "external_bank_account_guid": expired})
	simlink.Link(t, s2.PlaidURL, lt)
	if it := s2.Plaid.Items()[0]; it.NeedsUpdate {
		t.Errorf("update mode did not repair the restored item: %+v", it)
	}
}

// A second simulator on a state file in use keeps its state in memory,
// says so, and leaves the file alone.
func TestASecondSimulatorOnAFileInUseKeepsItsStateInMemory(t *testing.T) {
	file := filepath.Join(t.TempDir(), StateFileName)
	clk := &simclock.Clock{}
	s1 := startWith(t, Options{StateFile: file, Now: clk.Now})
	newQA(t, s1, clk).link(verified(s1, 0))
	before, _ := os.ReadFile(file)
	var logged syncBuffer
	logged.mu = make(chan struct{}, 1)
	s2 := startWith(t, Options{StateFile: file, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	p := s2.Persistence()
	if p.File != "" || !strings.Contains(p.Note, "Another linkdesk") || !strings.Contains(p.Note, "memory only") {
		t.Errorf("the second simulator: %+v", p)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "memory only") {
		t.Errorf("log: %s", logged.String())
	}
	if n := len(s2.Cybrid.Accounts("")); n != 0 {
		t.Errorf("the second simulator has %d accounts; it starts afresh", n)
	}
	newQA(t, s2, clk).link(verified(s2, 1))
	s2.Close()
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("the second simulator wrote the first one's state file")
	}
}

// A damaged file is set aside with a log line, and the simulator starts
// afresh; it is never a reason not to start.
func TestADamagedStateFileIsSetAsideAndTheSimulatorStartsAfresh(t *testing.T) {
	file := filepath.Join(t.TempDir(), StateFileName)
	os.WriteFile(file, []byte(`{"format":"linkdesk-sim-state","version":1,"state":{"cybrid":{"bank_guid":"`), 0o600)
	var logged syncBuffer
	logged.mu = make(chan struct{}, 1)
	s := startWith(t, Options{StateFile: file, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	p := s.Persistence()
	if p.File != file || p.Restored || !strings.Contains(p.Note, "set aside") || !strings.Contains(p.Note, "starts afresh") {
		t.Errorf("persistence: %+v", p)
	}
	if m, _ := filepath.Glob(file + ".set-aside-*"); len(m) != 1 {
		t.Errorf("set aside: %v", m)
	}
	if !strings.Contains(logged.String(), "set aside") {
		t.Errorf("log: %s", logged.String())
	}
	if n := len(s.Cybrid.Customers()); n == 0 {
		t.Error("no customers")
	}
	// A state of a bank this simulator is not is set aside too.
	s.Close()
	s2 := startWith(t, Options{StateFile: file, BankGUID: strings.Repeat("ab", 16)})
	if p := s2.Persistence(); p.Restored || !strings.Contains(p.Note, "state of bank") {
		t.Errorf("another bank's state: %+v", p)
	}
}

// Reset (POST /sim/reset) starts the simulator afresh, on the same port,
// and the fresh state is what the next start finds.
func TestResetStartsTheSimulatorAfresh(t *testing.T) {
	file := filepath.Join(t.TempDir(), StateFileName)
	clk := &simclock.Clock{}
	s := startWith(t, Options{StateFile: file, Now: clk.Now})
	q := newQA(t, s, clk)
	q.link(verified(s, 0))
	if err := s.ApplyScenario("failed_workflow", nil); err != nil {
		t.Fatal(err)
	}
	st, body := call(t, http.DefaultClient, "POST", s.BankURL+"/sim/reset", "", nil)
	if st != 400 {
		t.Errorf("a reset without a JSON body: %d %v", st, body)
	}
	if st, body = call(t, http.DefaultClient, "POST", s.BankURL+"/sim/reset", "", map[string]any{}); st != 200 || body["reset"] != true {
		t.Fatalf("POST /sim/reset: %d %v", st, body)
	}
	if len(s.Cybrid.Accounts("")) != 0 || len(s.Plaid.Items()) != 0 || s.ActiveScenario() != ScenarioNormal {
		t.Errorf("after the reset: %d accounts, %d items, scenario %s", len(s.Cybrid.Accounts("")), len(s.Plaid.Items()), s.ActiveScenario())
	}
	if st, list := q.do("GET", "/api/external_bank_accounts", nil); st != 200 || list["total"] != float64(0) {
		t.Errorf("the token from before the reset lists %d %v", st, list)
	}
	s.Close()
	s2 := startWith(t, Options{StateFile: file})
	if p := s2.Persistence(); !p.Restored || len(s2.Cybrid.Accounts("")) != 0 || len(s2.Cybrid.Customers()) == 0 {
		t.Errorf("after a reset and a restart: %+v, %d accounts", p, len(s2.Cybrid.Accounts("")))
	}
}

// `linkdesk sim --state FILE` keeps its state in FILE and says where; the
// default is memory, as before.
func TestRunKeepsItsStateWhereToldAndSaysSo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "qa.json")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out, errb := newSyncBuffer(), newSyncBuffer()
		if code := Run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), out, errb); code != 0 {
			t.Fatalf("exit %d; stderr: %s", code, errb.String())
		}
		return out.String()
	}
	if o := run(); !strings.Contains(o, "State:                in memory only") {
		t.Errorf("without --state:\n%s", o)
	}
	if o := run("--state", file); !strings.Contains(o, "kept in "+file+"; start afresh with POST") || strings.Contains(o, "(restored)") {
		t.Errorf("a first run with --state:\n%s", o)
	}
	if o := run("--state", file); !strings.Contains(o, "kept in "+file+" (restored)") {
		t.Errorf("a second run with --state:\n%s", o)
	}
}
