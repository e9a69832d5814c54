package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
)

func call(t *testing.T, c *http.Client, method, url, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var obj map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, obj
}

// TestStartRoundTrip runs the composed simulator on a real port: a token
// from the identity URL, a workflow on the bank URL that completes with a
// link token issued by the real plaidsim, and Plaid's script on the Plaid
// origin — all through the one listener, every /api/ exchange validated
// against Cybrid's spec.
func TestStartRoundTrip(t *testing.T) {
	spec := contract.Optional(t, contract.BankSpecFile)
	clk := &simclock.Clock{}
	s, err := Start(Options{WorkflowDelay: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.BankURL, "http://127.0.0.1:") || s.IdentityURL != s.BankURL ||
		s.PlaidURL != strings.Replace(s.BankURL, "127.0.0.1", "localhost", 1) {
		t.Fatalf("URLs: bank %s identity %s plaid %s", s.BankURL, s.IdentityURL, s.PlaidURL)
	}
	tr := &contract.Transport{Spec: spec}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	st, tok := call(t, c, "POST", s.IdentityURL+"/oauth/token", "", map[string]any{"grant_type": "client_credentials",
		"client_id": DefaultClientID, "client_secret": DefaultClientSecret, "scope": "customers:read workflows:read workflows:execute"})
	if st != 200 || tok["access_token"] == nil {
		t.Fatalf("token: %d %v", st, tok)
	}
	at := tok["access_token"].(string)
	st, list := call(t, c, "GET", s.BankURL+"/api/customers?per_page=1", at, nil)
	objs, _ := list["objects"].([]any)
	if st != 200 || len(objs) != 1 {
		t.Fatalf("customers: %d %v", st, list)
	}
	cust := objs[0].(map[string]any)["guid"].(string)
	st, wf := call(t, c, "POST", s.BankURL+"/api/workflows", at, map[string]any{"type": "plaid", "kind": "link_token_create",
		"customer_guid": cust, "language": "en", "link_customization_name": "default"})
	if st != 201 || wf["state"] != "storing" {
		t.Fatalf("workflow: %d %v", st, wf)
	}
	// The workflow stays storing until its delay has passed on the
	// simulator's clock, and is then completed.
	if st, wf = call(t, c, "GET", s.BankURL+"/api/workflows/"+wf["guid"].(string), at, nil); st != 200 || wf["state"] != "storing" {
		t.Fatalf("GET workflow before its delay: %d %v, want storing", st, wf)
	}
	clk.Skip(time.Minute)
	if st, wf = call(t, c, "GET", s.BankURL+"/api/workflows/"+wf["guid"].(string), at, nil); st != 200 {
		t.Fatalf("GET workflow: %d %v", st, wf)
	}
	lt, _ := wf["plaid_link_token"].(string)
	if wf["state"] != "completed" || !strings.HasPrefix(lt, "link-sandbox-") {
		t.Fatalf("workflow did not complete with a Plaid link token: %v", wf)
	}
	// The token is one the real Plaid simulator knows.
	found := false
	for _, w := range s.Cybrid.Workflows() {
		found = found || w.LinkToken == lt
	}
	if !found {
		t.Errorf("link token %s not in Cybrid.Workflows()", lt)
	}
	tr.Check(t)

	// Plaid's script is served on the Plaid origin of the same port.
	resp, err := http.Get(s.PlaidURL + "/link/v2/stable/link-initialize.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(js), "Plaid") {
		t.Errorf("link-initialize.js: %d, %d bytes", resp.StatusCode, len(js))
	}
	// The scenario endpoint is routed to cybridsim.
	st, sc := call(t, http.DefaultClient, "GET", s.BankURL+"/sim/scenario", "", nil)
	if st != 200 || sc["workflow_delay"] != "1m0s" {
		t.Errorf("/sim/scenario: %d %v", st, sc)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := http.Get(s.BankURL + "/sim/scenario"); err == nil {
		t.Errorf("simulator still answers after Close")
	}
}

func TestStartRejectsNonLoopbackAddr(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", "192.168.1.1:80", "nonsense", "127.0.0.1:70000"} {
		if s, err := Start(Options{Addr: a}); err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", a)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer and the test to share.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

func TestRunPrintsURLsAndStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, errb := newSyncBuffer(), newSyncBuffer()
	code := Run(ctx, []string{"--addr", "127.0.0.1:0", "--workflow-delay", "0"}, out, errb)
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errb.String())
	}
	o := out.String()
	for _, want := range []string{"http://127.0.0.1:", "http://localhost:", "LINKDESK_BANK_API_URL=http://127.0.0.1:",
		"LINKDESK_IDENTITY_API_URL=http://127.0.0.1:", "LINKDESK_ENVIRONMENT=sandbox", DefaultClientID, DefaultClientSecret} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if n := strings.Count(o, " verified\n"); n < 20 {
		t.Errorf("output lists %d verified customers:\n%s", n, o)
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errb := newSyncBuffer(), newSyncBuffer()
	done := make(chan int)
	go func() { done <- Run(ctx, []string{"--addr", "127.0.0.1:0"}, out, errb) }()
	var url string
	wait.For(t, 5*time.Second, "the scenario URL in the banner", func() (bool, error) {
		for _, line := range strings.Split(out.String(), "\n") {
			if i := strings.Index(line, "Scenario (QA):        GET/PUT "); i >= 0 {
				url = strings.TrimSpace(line[i+len("Scenario (QA):        GET/PUT "):])
			}
		}
		return url != "", fmt.Errorf("printed %q, stderr %q", out.String(), errb.String())
	})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("running simulator unreachable: %v", err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("simulator still answers after Run returned")
	}
}

func TestRunBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "nonsense"}, "--addr"},
		{[]string{"--addr", "10.0.0.1:8080"}, "loopback"},
		{[]string{"--addr", "127.0.0.1:99999"}, "port"},
		{[]string{"--workflow-delay", "soon"}, "workflow-delay"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), c.args, &out, &errb)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", c.args, code)
		}
		if !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: stderr %q does not mention %q", c.args, errb.String(), c.want)
		}
	}
}

// TestLinkThroughRealPlaidSim runs Cybrid's recipe against the real Plaid
// simulator: workflow → Link (driven through its page API: First Platypus
// Bank, user_good/pass_good, one account) → external bank account →
// unverified; the same account again → duplicate; connection expiry →
// refresh_required and an update-mode workflow for the real item.
func TestLinkThroughRealPlaidSim(t *testing.T) {
	spec := contract.Optional(t, contract.BankSpecFile)
	s, err := Start(Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := &contract.Transport{Spec: spec}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	_, tok := call(t, c, "POST", s.IdentityURL+"/oauth/token", "", map[string]any{"grant_type": "client_credentials",
		"client_id": DefaultClientID, "client_secret": DefaultClientSecret,
		"scope": "workflows:read workflows:execute external_bank_accounts:read external_bank_accounts:write external_bank_accounts:execute"})
	at := tok["access_token"].(string)
	cust := s.Cybrid.Customers()[0].GUID

	link := func() (publicToken, accountID string) {
		_, wf := call(t, c, "POST", s.BankURL+"/api/workflows", at, map[string]any{"type": "plaid", "kind": "link_token_create",
			"customer_guid": cust, "language": "en", "link_customization_name": "default"})
		_, wf = call(t, c, "GET", s.BankURL+"/api/workflows/"+wf["guid"].(string), at, nil)
		lt, _ := wf["plaid_link_token"].(string)
		if wf["state"] != "completed" || lt == "" {
			t.Fatalf("workflow = %v", wf)
		}
		l, err := simlink.New(s.PlaidURL).Link(lt)
		if err != nil {
			t.Fatal(err)
		}
		return l.PublicToken, l.Metadata.Accounts[0].ID
	}
	createEBA := func(pub, id string) map[string]any {
		st, eba := call(t, c, "POST", s.BankURL+"/api/external_bank_accounts", at, map[string]any{"name": "Plaid Checking",
			"account_kind": "plaid", "customer_guid": cust, "asset": "USD", "plaid_public_token": pub, "plaid_account_id": id})
		if st != 201 {
			t.Fatalf("POST external bank account: %d %v", st, eba)
		}
		_, eba = call(t, c, "GET", s.BankURL+"/api/external_bank_accounts/"+eba["guid"].(string), at, nil)
		return eba
	}

	pub, id := link()
	eba := createEBA(pub, id)
	if eba["state"] != "unverified" || eba["plaid_institution_id"] != "ins_109508" || eba["plaid_account_mask"] == nil {
		t.Fatalf("account = %v", eba)
	}
	// The public token is single-use: a second account from it fails.
	if again := createEBA(pub, id); again["state"] != "failed" || again["failure_code"] != "plaid_processor_token" {
		t.Errorf("reused public token: %v", again)
	}
	// The same bank account linked again is a duplicate.
	pub2, id2 := link()
	if dup := createEBA(pub2, id2); dup["state"] != "failed" || dup["failure_code"] != "duplicate" {
		t.Errorf("second link of the same account: %v", dup)
	}

	// Connection expiry resets the real Plaid item; update mode works for it.
	guid := eba["guid"].(string)
	if err := s.Cybrid.ExpireConnection(guid); err != nil {
		t.Fatal(err)
	}
	needs := false
	for _, it := range s.Plaid.Items() {
		needs = needs || it.NeedsUpdate
	}
	if !needs {
		t.Errorf("no Plaid item needs update after ExpireConnection")
	}
	_, wf := call(t, c, "POST", s.BankURL+"/api/workflows", at, map[string]any{"type": "plaid", "kind": "link_token_update",
		"customer_guid": cust, "external_bank_account_guid": guid, "language": "en", "link_customization_name": "default"})
	_, wf = call(t, c, "GET", s.BankURL+"/api/workflows/"+wf["guid"].(string), at, nil)
	if wf["state"] != "completed" || wf["plaid_link_token"] == nil {
		t.Errorf("update workflow = %v", wf)
	}
	tr.Check(t)
}
