package session

// Problems as the page receives them, without a window: page calls over the
// app server's real HTTP route against a simulator run apart (as sandbox),
// with its fault injection.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/simapart"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
	"linkdesk/app/ui"
)

// answer is a page call's raw answer: status and body.
type answer struct {
	status int
	body   map[string]json.RawMessage
}

func (p *pageClient) raw(t *testing.T, name string, params any) answer {
	t.Helper()
	b, _ := json.Marshal(params)
	req, _ := http.NewRequest("POST", p.s.Server.URL+"/call/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", p.s.Server.URL)
	req.Header.Set(ui.CallHeader, p.s.Server.Secret)
	resp, err := p.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var a answer
	a.status = resp.StatusCode
	if err := json.Unmarshal(data, &a.body); err != nil {
		t.Fatalf("%s: the answer is not a JSON object: %s", name, data)
	}
	return a
}

func (a answer) problem(t *testing.T) problem.Problem {
	t.Helper()
	var p problem.Problem
	if raw, ok := a.body["problem"]; !ok || json.Unmarshal(raw, &p) != nil {
		t.Fatalf("answer %d has no problem: %v", a.status, a.body)
	}
	return p
}

func sandboxSession(t *testing.T) (*Session, *sim.Sim) {
	t.Helper()
	apart := simapart.Start(t, sim.Options{WorkflowDelay: 100 * time.Millisecond, AccountDelay: 100 * time.Millisecond}, quickPolls)
	other := apart.Sim
	s, err := Start(apart.Config, "test", slog.New(slog.DiscardHandler), apart.Store, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, other
}

// TestFailedCustomerListIsNotAnEmptyOne: a customer list Cybrid could not
// give is answered with an error status and a problem that says what
// happened and what to do; an empty page is a 200 with no customers. The
// page can never mistake one for the other.
func TestFailedCustomerListIsNotAnEmptyOne(t *testing.T) {
	s, other := sandboxSession(t)
	page := newPageClient(t, s)

	empty := page.raw(t, "listCustomers", map[string]any{"page": 99, "per_page": 25})
	if _, failed := empty.body["error"]; empty.status != 200 || failed || string(empty.body["customers"]) != "[]" {
		t.Fatalf("an empty page: %d %v", empty.status, empty.body)
	}
	for _, tc := range []struct {
		fault cybridsim.FaultKind
		kind  problem.Kind
		says  string
	}{
		{cybridsim.FaultReset, problem.Network, "cannot reach Cybrid"},
		{cybridsim.Fault503, problem.CybridFailure, "Cybrid failed (503"},
	} {
		if err := other.Cybrid.SetFaults([]cybridsim.Fault{{Route: "GET /api/customers", Kind: tc.fault}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		a := page.raw(t, "listCustomers", map[string]any{"page": 0, "per_page": 25})
		took := time.Since(start)
		if a.status < 400 || a.status > 499 {
			t.Errorf("%s: status %d, want a 4xx", tc.fault, a.status)
		}
		if _, ok := a.body["customers"]; ok {
			t.Errorf("%s: a failed list carries customers: %v", tc.fault, a.body)
		}
		p := a.problem(t)
		if p.Kind != tc.kind || !strings.Contains(p.Headline, tc.says) || p.Action != problem.TryAgain || p.Detail == "" {
			t.Errorf("%s: %+v", tc.fault, p)
		}
		if strings.Contains(string(a.body["problem"]), other.ClientSecret) {
			t.Errorf("%s: the problem leaks the client secret", tc.fault)
		}
		t.Logf("%s after %s: %d %s | %s", tc.fault, took.Round(time.Millisecond), a.status, p.Headline, p.Detail)
	}
	other.Cybrid.ClearFaults()
}

// TestStartLinkRefusesCustomersCybridWouldNotLink: startLink and
// startRefresh for a frozen or unverified customer are refused with a
// customer_state problem before any workflow is requested; a verified
// customer's link starts.
func TestStartLinkRefusesCustomersCybridWouldNotLink(t *testing.T) {
	s, other := sandboxSession(t)
	page := newPageClient(t, s)
	var verified string
	for _, c := range other.Cybrid.Customers() {
		switch c.State {
		case "verified":
			if verified == "" {
				verified = c.GUID
			}
			continue
		case "frozen", "unverified":
		default:
			continue
		}
		for _, call := range []struct {
			name   string
			params map[string]any
		}{
			{"startLink", map[string]any{"customer_guid": c.GUID}},
			{"startRefresh", map[string]any{"customer_guid": c.GUID, "account_guid": strings.Repeat("0a", 16)}},
		} {
			a := page.raw(t, call.name, call.params)
			p := a.problem(t)
			if a.status != http.StatusUnprocessableEntity || p.Kind != problem.CustomerState || !strings.Contains(p.Headline, c.State) {
				t.Errorf("%s for a %s customer: %d %+v", call.name, c.State, a.status, p)
			}
		}
	}
	if n := other.Cybrid.Stats().ByRoute["POST /api/workflows"]; n != 0 || len(other.Cybrid.Workflows()) != 0 {
		t.Fatalf("%d workflow requests and %d workflows after the refusals, want none", n, len(other.Cybrid.Workflows()))
	}
	var started linkflow.Attempt
	page.call(t, "startLink", map[string]any{"customer_guid": verified}, &started)
	if started.State != linkflow.CreatingWorkflow || started.Problem != nil {
		t.Errorf("a verified customer's link: %+v", started)
	}
}

// flakyStore is a keychain whose Get fails with err until it is cleared:
// the session's waiting and retrying, without a desktop (the real locked,
// denied and absent keychains are in keychain_window_test.go).
type flakyStore struct {
	keychain.Store
	err error
}

func (f *flakyStore) Get(env string) (keychain.Credentials, error) {
	if f.err != nil {
		return keychain.Credentials{}, f.err
	}
	return f.Store.Get(env)
}

// TestKeychainProblemMakesTheSessionWait: Start succeeds with a keychain
// problem (the window can open), Info carries it, page calls that need the
// environment fail with it, and retryEnvironment starts the environment
// once the keychain answers — without a restart.
func TestKeychainProblemMakesTheSessionWait(t *testing.T) {
	apart := simapart.Start(t, sim.Options{WorkflowDelay: -1, AccountDelay: -1}, quickPolls)
	store := &flakyStore{Store: apart.Store, err: &keychain.LockedError{Op: "get", Env: "sandbox", Keyring: "Login", Cause: errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'")}}
	s, err := Start(apart.Config, "test", slog.New(slog.DiscardHandler), store, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Start with a locked keychain: %v", err)
	}
	defer s.Close()
	page := newPageClient(t, s)
	var info pageapi.SessionInfo
	call := func(name string, params any) {
		t.Helper()
		info = pageapi.SessionInfo{} // a field the answer leaves out must not survive
		page.call(t, name, params, &info)
	}
	call("info", nil)
	if info.Problem == nil || info.Problem.Kind != problem.KeychainLocked || info.NeedsCredentials || info.Environment != "sandbox" ||
		info.Problem.Action != problem.RetryEnvironment || !strings.Contains(info.Problem.Headline, `"Login" keyring`) || !strings.Contains(info.Problem.Fix, "simulator") {
		t.Fatalf("info while locked: %+v %+v", info, info.Problem)
	}
	if a := page.raw(t, "listCustomers", map[string]any{"page": 0, "per_page": 25}); a.problem(t).Kind != problem.KeychainLocked {
		t.Errorf("listCustomers while locked: %d %v", a.status, a.body)
	}
	call("retryEnvironment", nil)
	if info.Problem == nil || info.Problem.Kind != problem.KeychainLocked {
		t.Errorf("retry while still locked: %+v", info)
	}
	store.err = nil // the operator unlocked it
	call("retryEnvironment", nil)
	if info.Problem != nil || info.NeedsCredentials || !strings.HasPrefix(info.Credentials, "OS keychain (") {
		t.Fatalf("retry after unlocking: %+v %+v", info, info.Problem)
	}
	var list struct{ Total int }
	page.call(t, "listCustomers", map[string]any{"page": 0, "per_page": 25}, &list)
	if list.Total == 0 {
		t.Error("no customers after the retry")
	}
	// Retrying while the environment runs changes nothing.
	e, _ := s.Env()
	call("retryEnvironment", nil)
	if e2, _ := s.Env(); e2 != e {
		t.Error("retryEnvironment restarted a running environment")
	}
	// Switching to an environment whose keychain is locked waits too, and
	// the simulator works meanwhile.
	store.err = &keychain.TimeoutError{Op: "get", Env: "sandbox", Timeout: 5 * time.Second}
	call("switchEnvironment", map[string]any{"environment": "sim"})
	call("switchEnvironment", map[string]any{"environment": "sandbox"})
	if info.Problem == nil || info.Problem.Kind != problem.KeychainTimeout {
		t.Errorf("switch to a keychain that does not answer: %+v", info)
	}
	call("switchEnvironment", map[string]any{"environment": "sim"})
	if info.Problem != nil || info.Environment != "sim" {
		t.Errorf("back to the simulator: %+v", info)
	}
}
