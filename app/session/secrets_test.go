package session_test

// The secrets test (issue 5, point 4): a canary client secret, stored in the
// real Secret Service, opens a sandbox stand-in (a second simulator reached
// through the base-URL overrides, behind a loopback proxy that records every
// access token it hands out). The real window works a day through it — the
// customer list, accounts, search, three link attempts (one done, one whose
// account creation fails twice and is retried with the public token kept in
// memory, one left in Link), ownership verification, unlink, a revoked
// token, the timeline, exports, the journal, the OAuth redirect page and
// `linkdesk doctor`. Then every place a secret could escape to is read and
// searched for the canary and for every access, link and public token seen:
// the log (at debug level), the export folder, the journal folder, this
// process's argv and environment, every descendant process's argv and
// environment (WebKit's), every response of the app's loopback server (fetched
// by the page with its own cookie) and of the redirect server, doctor's
// report, and every value the page's JavaScript can read. Each check is shown
// able to fail by planting the canary where it looks.
//
// Plaid's CDN cannot be reached from here, so in the window a stand-in for
// Plaid's script (window.Plaid) hands the page's own callbacks to the test;
// the public token comes from the second simulator's Link JSON API for the
// link token the page was given, and reaches Go through the page's real
// onSuccess handler and the bridge.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/doctor"
	"linkdesk/app/internal/uitest"
	"linkdesk/app/keychain"
	"linkdesk/app/keychain/keychaintest"
	"linkdesk/app/linkflow"
	"linkdesk/app/session"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
	"linkdesk/assets"
)

// leakSecret is one value that must not be found.
type leakSecret struct{ kind, value string }

// leakSource is one place searched: where it is, and what it holds.
type leakSource struct{ where, text string }

// secretForms returns the spellings under which value could be written: as
// is; JSON-, URL- and HTML-escaped; and base64 (standard, URL, raw) at each
// of the three byte alignments it could have inside a longer value (an HTTP
// Basic header holds base64("id:secret")), without the edge characters that
// depend on the neighbouring bytes.
func secretForms(value string) []string {
	forms := []string{value, url.QueryEscape(value), url.PathEscape(value), html.EscapeString(value)}
	if q := strconv.Quote(value); len(q) >= 2 {
		forms = append(forms, q[1:len(q)-1])
	}
	if b, err := json.Marshal(value); err == nil {
		forms = append(forms, string(b[1:len(b)-1]))
	}
	for shift := 0; shift < 3; shift++ {
		raw := append(bytes.Repeat([]byte{0}, shift), value...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := strings.TrimRight(enc.EncodeToString(raw), "=")
			if shift > 0 {
				s = s[4:] // the first group holds the neighbouring bytes
			}
			s = s[:len(s)-len(s)%4] // the last, partial group depends on what follows
			if len(s) > 4 {
				s = s[:len(s)-4]
			}
			if len(s) >= 16 {
				forms = append(forms, s)
			}
		}
	}
	slices.Sort(forms)
	return slices.Compact(forms)
}

// findLeaks returns one line per secret found in a source.
func findLeaks(srcs []leakSource, secrets []leakSecret) []string {
	var out []string
	for _, sec := range secrets {
		if len(sec.value) < 8 {
			continue
		}
		forms := secretForms(sec.value)
		for _, src := range srcs {
			for _, f := range forms {
				if i := strings.Index(src.text, f); i >= 0 {
					lo, hi := max(0, i-60), min(len(src.text), i+len(f)+60)
					out = append(out, fmt.Sprintf("the %s is in %s: …%s…", sec.kind, src.where, strings.ReplaceAll(src.text[lo:hi], "\n", "⏎")))
					break
				}
			}
		}
	}
	return out
}

// The scanner finds a secret however it was spelled, and nothing else.
func TestSecretScannerFindsEncodedForms(t *testing.T) {
	canary := "canary-" + randomHex(12)
	basic := base64.StdEncoding.EncodeToString([]byte("client-id:" + canary))
	secrets := []leakSecret{{"client secret", canary}}
	for _, text := range []string{
		"level=INFO msg=x secret=" + canary,
		`{"client_secret":"` + canary + `"}`,
		"grant_type=client_credentials&client_secret=" + url.QueryEscape(canary+" /"),
		"Authorization: Basic " + basic,
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("id:"+canary)),
		"Authorization: Basic " + base64.URLEncoding.EncodeToString([]byte("i:"+canary)),
		"<p>" + html.EscapeString(canary) + "</p>",
	} {
		if got := findLeaks([]leakSource{{"a sample", text}}, secrets); len(got) != 1 {
			t.Errorf("the scanner missed the canary in %q (found %d)", text, len(got))
		}
	}
	clean := "level=INFO msg=ok client_id=client-id canary-" + randomHex(12) + " " + base64.StdEncoding.EncodeToString([]byte("client-id:other"))
	if got := findLeaks([]leakSource{{"a sample", clean}}, secrets); len(got) != 0 {
		t.Errorf("the scanner found a canary that is not there: %v", got)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// aliasStore is the real keychain, where the item of env is kept under a
// name unique to this test run (so a user's own sandbox credentials are
// never touched); other environments have no credentials.
type aliasStore struct {
	kc        keychain.Store
	env, item string
}

func (s aliasStore) Get(env string) (keychain.Credentials, error) {
	if env != s.env {
		return keychain.Credentials{}, fmt.Errorf("%w for %s (this test stores only %s)", keychain.ErrNotFound, env, s.env)
	}
	return s.kc.Get(s.item)
}

func (s aliasStore) Set(env string, c keychain.Credentials) error {
	if env != s.env {
		return fmt.Errorf("this test stores only %s credentials, not %s", s.env, env)
	}
	return s.kc.Set(s.item, c)
}

func (s aliasStore) Delete(env string) error {
	if env != s.env {
		return fmt.Errorf("%w for %s", keychain.ErrNotFound, env)
	}
	return s.kc.Delete(s.item)
}

// tokenProxy stands between linkdesk and the sandbox stand-in on loopback
// and records every access token the identity service hands out and every
// bearer token a request carries.
type tokenProxy struct {
	URL    string
	mu     sync.Mutex
	tokens []string // access tokens
	public []string // Plaid public tokens, from account creations
}

func startTokenProxy(t *testing.T, target string) *tokenProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &tokenProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			if tok, ok := strings.CutPrefix(r.In.Header.Get("Authorization"), "Bearer "); ok {
				p.add(strings.TrimSpace(tok))
			}
			// The Plaid public tokens linkdesk hands Cybrid.
			if r.In.Method == "POST" && r.In.URL.Path == "/api/external_bank_accounts" && r.In.Body != nil {
				b, _ := io.ReadAll(r.In.Body)
				r.Out.Body = io.NopCloser(bytes.NewReader(b))
				r.Out.ContentLength = int64(len(b))
				var body struct {
					PlaidPublicToken string `json:"plaid_public_token"`
				}
				if json.Unmarshal(b, &body) == nil && body.PlaidPublicToken != "" {
					p.mu.Lock()
					if !slices.Contains(p.public, body.PlaidPublicToken) {
						p.public = append(p.public, body.PlaidPublicToken)
					}
					p.mu.Unlock()
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.URL.Path != "/oauth/token" {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var tr struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal(b, &tr) == nil && tr.AccessToken != "" {
				p.add(tr.AccessToken)
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *tokenProxy) add(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if tok != "" && !slices.Contains(p.tokens, tok) {
		p.tokens = append(p.tokens, tok)
	}
}

func (p *tokenProxy) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tokens)
}

func (p *tokenProxy) publicTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.public)
}

// startAppDebug is startAppState without the built-in simulator and with
// the log at debug level: the most an operator can switch on. The log is
// not streamed to the test's output (it holds the flows' details), but
// shown when the test fails.
func startAppDebug(t *testing.T, cfg *config.Config, store keychain.Store, stateDir string) *app {
	t.Helper()
	uitest.NeedDisplay(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := session.Start(cfg, "e2e", log, store, session.Options{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("linkdesk's log:\n%s", logs.String())
		}
	})
	return openApp(t, s, logs, "")
}

// secretsHooks records everything Go sends the page — every call's answer
// (read off fetch, the page's one route to Go) and every push. Plaid Link
// is the stand-in's simulated Link (LINKDESK_PLAID_SCRIPT_URL), driven in
// its iframe as a customer would.
const secretsHooks = `(async () => {
  window.__secretsSeen = [];
  const m = await import("/contract.js");
  window.__secretsCall = m.call;
  m.onPush((msg) => window.__secretsSeen.push(JSON.stringify(msg)));
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const r = await fetch0(...args);
    if (String(args[0]).startsWith("/call/")) r.clone().text().then((t) => window.__secretsSeen.push(t));
    return r;
  };
  return true;
})()`

// pageCall makes a call the way the page does and returns its answer as
// JSON: {ok: true, value} or {ok: false, error}.
func (a *app) pageCall(method string, params any) string {
	a.t.Helper()
	b, _ := json.Marshal(params)
	var out json.RawMessage
	a.js(fmt.Sprintf(`window.__secretsCall(%q, %s).then((value) => ({ok: true, value}), (e) => ({ok: false, error: String(e && e.message || e)}))`, method, b), &out)
	return string(out)
}

// plaidAPI calls the sandbox stand-in's Link JSON API as Link's own page
// does.
func plaidAPI(t *testing.T, plaidURL, name string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", plaidURL+"/link/v2/stable/sim/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", plaidURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("Link API %s: %d %v", name, resp.StatusCode, out)
	}
	return out
}

// secretsRun is the state of TestSecretsNeverLeak.
type secretsRun struct {
	t        *testing.T
	a        *app
	other    *sim.Sim
	proxy    *tokenProxy
	store    keychain.Store
	linkN    int
	attempts []string // the link attempts, in order
	public   []string // Plaid public tokens handed to the page
	doctor   string   // doctor's report
	redirect string   // the redirect server's page
}

// openLink starts a link attempt from the page (button) and waits for
// Plaid Link to be shown; it returns the attempt id and its link token.
func (r *secretsRun) openLink(button string) (string, string) {
	r.t.Helper()
	a := r.a
	var customer string
	a.js(`document.querySelector('[data-testid="customer-guid"]').dataset.guid`, &customer)
	var before string
	if at, ok := a.env().Flow.Latest(customer); ok {
		before = at.ID
	}
	a.click(button)
	a.waitJS(`(() => { const f = document.querySelector('iframe[id^="plaid-link-iframe"]'); return f && f.style.display === "block"; })()`, 20*time.Second)
	at, ok := a.env().Flow.Latest(customer)
	if !ok || at.ID == before || at.State != linkflow.LinkOpen || !strings.HasPrefix(at.LinkToken, "link-sandbox-") {
		a.fatalf("after %s the customer's attempt is %+v", button, at)
	}
	r.attempts = append(r.attempts, at.ID)
	return at.ID, at.LinkToken
}

// succeed goes through the stand-in's Link in its iframe — First Platypus
// Bank, the sandbox credentials, the first account — so that Link itself
// hands the public token to the page's onSuccess.
func (r *secretsRun) succeed() {
	r.t.Helper()
	a := r.a
	a.signInToPlatypus(false)
	a.inLink("pane-select-account", 10*time.Second)
	a.linkClick("account-0000")
	a.linkClick("account-continue")
	a.inLink("pane-connected", 10*time.Second)
	a.linkClick("connected-continue")
}

// until waits for the attempt to reach state want (a final state other than
// want fails the test).
func (r *secretsRun) until(id string, want linkflow.State) linkflow.Attempt {
	r.t.Helper()
	var at linkflow.Attempt
	r.a.until(20*time.Second, fmt.Sprintf("attempt %s to reach %s", id, want), func() (bool, error) {
		var ok bool
		if at, ok = r.a.env().Flow.Get(id); !ok {
			return false, fmt.Errorf("no attempt %s", id)
		}
		if at.State != want && at.State.Final() {
			r.a.fatalf("attempt %s ended %s (%s: %s), want %s", id, at.State, at.Code, at.Error, want)
		}
		return at.State == want, fmt.Errorf("state %s", at.State)
	})
	return at
}

func (r *secretsRun) waitResult(want string) {
	r.t.Helper()
	r.a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="result"]') && document.querySelector('[data-testid="result"]').dataset.result === %q`, want), 10*time.Second)
}

// work drives the flows.
func (r *secretsRun) work() (customer string) {
	t, a, other := r.t, r.a, r.other
	a.js(secretsHooks, nil)

	// Customers, a search, a customer's accounts.
	customer = a.pickFirstCustomer()
	a.waitJS(`!document.querySelector('[data-testid="accounts-empty"]').hidden`, 5*time.Second)
	name := other.Cybrid.Customers()[0].Name
	a.js(fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid="customer-search"]'); i.value = %q; i.form.requestSubmit(); return true; })()`, strings.Fields(name)[0]), nil)
	a.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid="%s"]')`, customer), 5*time.Second)
	a.click("customer-row")

	// 1. Link, with a revoked access token on the way (one new token, one
	// retry), then verify ownership, then unlink.
	if err := other.Cybrid.AddFault(cybridsim.Fault{Route: "GET /api/external_bank_accounts/{guid}", Kind: cybridsim.FaultUnauthorized, Times: 1}); err != nil {
		t.Fatal(err)
	}
	id1, _ := r.openLink("link-account")
	r.succeed()
	done := r.until(id1, linkflow.Done)
	r.waitResult("done")
	a.shot("linked")
	a.click("verify-now")
	a.waitJS(`document.querySelector('[data-testid="steps"][data-kind="verify"]')`, 5*time.Second)
	r.waitResult("done")
	if acct, _ := other.Cybrid.Account(done.AccountGUID); !acct.Verified {
		t.Errorf("after verification the stand-in's account is %+v, want verified", acct)
	}
	a.waitJS(`document.querySelector('[data-testid="unlink-account"]')`, 5*time.Second)
	a.click("unlink-account")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	a.click("dialog-ok")
	a.until(15*time.Second, "the unlinked account deleted in the stand-in", func() (bool, error) {
		acct, _ := other.Cybrid.Account(done.AccountGUID)
		return acct.State == "deleted", fmt.Errorf("state %s", acct.State)
	})
	a.waitJS(`!document.querySelector('[data-testid="account-row"]')`, 15*time.Second)

	// 2. Link again; Cybrid fails the account creation twice (the automatic
	// retry included), and the operator retries with the public token kept
	// in memory.
	if err := other.Cybrid.AddFault(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: cybridsim.Fault500, Times: 2}); err != nil {
		t.Fatal(err)
	}
	id2, _ := r.openLink("link-account")
	r.succeed()
	r.until(id2, linkflow.AccountRetry)
	a.waitJS(`document.querySelector('[data-testid="retry-account"]')`, 5*time.Second)
	a.shot("account-retry")
	a.click("retry-account")
	r.until(id2, linkflow.Done)
	r.waitResult("done")

	// 3. Link once more: the bank refuses the password, and the customer
	// leaves Link.
	id3, _ := r.openLink("link-account")
	a.inLink("pane-consent", 15*time.Second)
	a.linkClick("consent-continue")
	a.linkFill("institution-search", "Platypus")
	a.linkClick("institution-ins_109508")
	a.linkFill("credentials-username", "user_good")
	a.linkFill("credentials-password", "error_INVALID_CREDENTIALS")
	a.linkClick("credentials-submit")
	a.inLink("credentials-error", 10*time.Second)
	a.closeLink()
	r.until(id3, linkflow.Failed) // an exit with an error fails the attempt, with the error

	// Timeline and exports (the page's buttons and the bridge calls).
	a.click("tab-timeline")
	a.waitJS(`document.querySelectorAll('[data-testid="timeline-entry"]').length >= 10`, 5*time.Second)
	a.click("export-session")
	a.waitJS(`document.querySelectorAll('[data-testid="export-path"]').length >= 2`, 10*time.Second)
	for _, id := range []string{id1, id2, id3} {
		if res := a.pageCall("exportAttempt", map[string]any{"attempt_id": id}); !strings.Contains(res, `"ok":true`) {
			t.Errorf("exportAttempt %s: %s", id, res)
		}
	}
	a.shot("exported")

	// The OAuth redirect page, as the system browser would open it.
	resp, err := http.Get(a.env().Redirect.URI + "?oauth_state_id=" + randomHex(8))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.redirect = string(b)
	// No bank sign-in is under way, so linkdesk declines it and says so.
	if resp.StatusCode != http.StatusConflict || !strings.Contains(r.redirect, "not waiting") {
		t.Errorf("the redirect page answered %d: %s", resp.StatusCode, short(r.redirect))
	}

	// linkdesk doctor on the same setup.
	var out bytes.Buffer
	env := config.Vars{config.VarEnvironment: "sandbox", config.VarBankAPIURL: r.proxy.URL, config.VarIdentityAPIURL: r.proxy.URL}
	rep := doctor.Run(context.Background(), doctor.Options{Store: r.store, Timeout: 5 * time.Second, Lookup: env.Lookup})
	if err := rep.Write(&out, doctor.Style{}); err != nil {
		t.Fatal(err)
	}
	r.doctor = out.String()
	if res, _ := rep.Result(doctor.CheckToken); res.Status != doctor.OK {
		t.Errorf("doctor could not get a token with the stored credentials:\n%s", r.doctor)
	}
	return customer
}

// filesUnder reads every file under dir.
func filesUnder(t *testing.T, what, dir string) []leakSource {
	t.Helper()
	var out []leakSource
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, leakSource{what + " " + p, string(b)})
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return out
}

// webkitDirs are the folders where WebKit keeps the window's cache and
// storage: $XDG_CACHE_HOME/<program> and $XDG_DATA_HOME/<program> (GLib's
// program name is the binary's name). The ones that exist are returned.
func webkitDirs() []string {
	home, _ := os.UserHomeDir()
	cache, data := os.Getenv("XDG_CACHE_HOME"), os.Getenv("XDG_DATA_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	if data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	var out []string
	for _, d := range []string{cache, data} {
		d = filepath.Join(d, filepath.Base(os.Args[0]))
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// procInfo is one process's argv and environment.
type procInfo struct {
	pid                    int
	comm, cmdline, environ string
}

// descendants returns the processes below root (children, grandchildren…),
// found through /proc/*/stat.
func descendants(t *testing.T, root int) []procInfo {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	comm := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:]) // state ppid …
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
		comm[pid] = s[open+1 : end]
	}
	var out []procInfo
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		queue = append(queue, children[pid]...)
		p := procInfo{pid: pid, comm: comm[pid]}
		cmd, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		env, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err1 != nil || err2 != nil {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				continue // it ended
			}
			t.Errorf("cannot read the argv or environment of child process %d (%s): %v %v", pid, p.comm, err1, err2)
		}
		p.cmdline = strings.ReplaceAll(string(cmd), "\x00", " ")
		p.environ = strings.ReplaceAll(string(env), "\x00", "\n")
		out = append(out, p)
	}
	return out
}

// processSources is this process's argv and environment, and its
// descendants'.
func processSources(t *testing.T) ([]leakSource, []procInfo) {
	t.Helper()
	cmd, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	env0, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		t.Fatal(err)
	}
	srcs := []leakSource{
		{"this process's argv (/proc/self/cmdline)", strings.ReplaceAll(string(cmd), "\x00", " ")},
		{"this process's environment (os.Environ)", strings.Join(os.Environ(), "\n")},
		{"this process's initial environment (/proc/self/environ)", strings.ReplaceAll(string(env0), "\x00", "\n")},
	}
	kids := descendants(t, os.Getpid())
	for _, p := range kids {
		srcs = append(srcs,
			leakSource{fmt.Sprintf("the argv of child process %d (%s)", p.pid, p.comm), p.cmdline},
			leakSource{fmt.Sprintf("the environment of child process %d (%s)", p.pid, p.comm), p.environ})
	}
	return srcs, kids
}

// jsCollect gathers what the page's JavaScript can read: the DOM, form
// values, every property of window (strings as they are, objects as JSON),
// both storages, the cookie, the location and history, the URLs of every
// resource loaded, and every message Go sent the page.
const jsCollect = `(() => {
  const seen = new WeakSet();
  const str = (v) => {
    try {
      return JSON.stringify(v, function (k, x) {
        if (typeof x === "function") return undefined;
        if (x && typeof x === "object") {
          if (x === window) return undefined;
          if (x instanceof Node) return x.nodeName;
          if (seen.has(x)) return undefined;
          seen.add(x);
          if (x instanceof Map) return Object.fromEntries(x);
          if (x instanceof Set) return [...x];
        }
        return x;
      }) || "";
    } catch (e) { return ""; }
  };
  const props = {};
  let n = 0;
  for (const name of Object.getOwnPropertyNames(window)) {
    let v;
    try { v = window[name]; } catch (e) { continue; }
    n++;
    if (typeof v === "string") props[name] = v;
    else if (v && typeof v === "object") { const s = str(v); if (s && s !== "{}") props[name] = s.slice(0, 1 << 20); }
  }
  const storage = (s) => { const o = {}; for (let i = 0; i < s.length; i++) { const k = s.key(i); o[k] = s.getItem(k); } return JSON.stringify(o); };
  return {
    count: n,
    window: JSON.stringify(props),
    html: document.documentElement.outerHTML,
    fields: JSON.stringify([...document.querySelectorAll("input, textarea, select")].map((e) => e.value)),
    localStorage: storage(localStorage),
    sessionStorage: storage(sessionStorage),
    cookie: document.cookie,
    location: [location.href, document.referrer, document.title, JSON.stringify(history.state)].join(" "),
    resources: JSON.stringify(performance.getEntries().map((e) => e.name)),
    messages: JSON.stringify(window.__secretsSeen),
  };
})()`

// jsSources reads what the page's JavaScript can read.
func (a *app) jsSources() []leakSource {
	a.t.Helper()
	var v map[string]json.RawMessage
	a.js(jsCollect, &v)
	var n int
	json.Unmarshal(v["count"], &n)
	if n < 100 {
		a.t.Errorf("the walk of window saw %d properties; it should see hundreds", n)
	}
	var out []leakSource
	for _, k := range []string{"window", "html", "fields", "localStorage", "sessionStorage", "cookie", "location", "resources", "messages"} {
		var s string
		if err := json.Unmarshal(v[k], &s); err != nil {
			a.t.Fatalf("page value %s: %v", k, err)
		}
		out = append(out, leakSource{"the page's " + k + " (JavaScript)", s})
	}
	return out
}

// served fetches, from the page (with its cookie, as the window would), the
// page and every asset the app server serves.
func (a *app) served() []leakSource {
	a.t.Helper()
	paths := []string{"/"}
	fs.WalkDir(assets.App(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != "index.html" {
			paths = append(paths, "/"+p)
		}
		return nil
	})
	b, _ := json.Marshal(paths)
	var got []struct {
		Path   string `json:"path"`
		Status int    `json:"status"`
		Text   string `json:"text"`
	}
	a.js(fmt.Sprintf(`Promise.all(%s.map(async (p) => {
		try { const r = await fetch(p, {credentials: "same-origin", cache: "no-store"}); return {path: p, status: r.status, text: await r.text()}; }
		catch (e) { return {path: p, status: 0, text: String(e)}; }
	}))`, b), &got)
	var out []leakSource
	for _, g := range got {
		if g.Status != 200 {
			a.t.Errorf("the app server answered %s with %d: %s", g.Path, g.Status, short(g.Text))
		}
		out = append(out, leakSource{"the app server's answer to GET " + g.Path, g.Text})
	}
	return out
}

// calls calls every page method that reads, and returns what each
// delivered (values and errors).
func (a *app) calls(customer string, attempts []string) []leakSource {
	a.t.Helper()
	type c struct {
		method string
		params any
	}
	list := []c{
		{"info", map[string]any{}},
		{"listCustomers", map[string]any{}},
		{"listAccounts", map[string]any{"customer_guid": customer}},
		{"searchCustomers", map[string]any{"query": "a"}},
		{"timeline", map[string]any{}},
		{"recovered.list", map[string]any{}},
		{"scenarios", map[string]any{}},
		{"exportSession", map[string]any{"format": "jsonl"}},
	}
	for _, id := range attempts {
		list = append(list, c{"timeline", map[string]any{"attempt_id": id}}, c{"retryAccount", map[string]any{"attempt_id": id}})
	}
	var out []leakSource
	for _, x := range list {
		res := a.pageCall(x.method, x.params)
		out = append(out, leakSource{fmt.Sprintf("the page's %s call's result", x.method), res})
	}
	return out
}

// TestSecretsNeverLeak: see the top of this file.
func TestSecretsNeverLeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("this test reads processes' argv and environments, and WebKitGTK's folders, as Linux keeps them (/proc, XDG)")
	}
	began := time.Now()
	kc := keychaintest.Require(t)
	uitest.NeedDisplay(t)
	item := keychaintest.Env(t)
	canary := "canary-" + randomHex(12)
	clientID := "secrets-test-" + randomHex(4)
	if err := kc.Set(item, keychain.Credentials{ClientID: clientID, ClientSecret: canary}); err != nil {
		t.Fatalf("storing the canary in the keychain: %v", err)
	}
	store := aliasStore{kc: kc, env: "sandbox", item: item}

	// The sandbox stand-in accepts only the canary; linkdesk reaches it
	// through the recording proxy.
	other, err := sim.Start(withCredentials(withDriver(quickSim), clientID, canary))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	proxy := startTokenProxy(t, other.BankURL)
	exports := t.TempDir()
	t.Setenv("XDG_DOWNLOAD_DIR", exports)
	stateDir := t.TempDir()
	// The simulator's sandbox, through the recording proxy.
	env := other.SandboxEnv()
	env[config.VarBankAPIURL], env[config.VarIdentityAPIURL] = proxy.URL, proxy.URL
	env[config.VarRedirectURI] = "http://localhost:0/oauth/return"
	env[config.VarPollInitial], env[config.VarPollMax] = "50ms", "200ms"
	cfg, err := config.LoadFrom(env.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	a := startAppDebug(t, cfg, store, stateDir)
	r := &secretsRun{t: t, a: a, other: other, proxy: proxy, store: store}
	customer := r.work()
	worked := time.Since(began)
	r.public = proxy.publicTokens()

	faults := other.Cybrid.Faults()
	if len(faults) != 2 {
		t.Errorf("the stand-in holds %d injected faults, want 2", len(faults))
	}
	for _, f := range faults {
		if f.Remaining != 0 {
			t.Errorf("the injected fault %s %s was applied %d times, %d left: the flows did not go where this test meant them to", f.Kind, f.Route, f.Applied, f.Remaining)
		}
	}
	// The secret came from the keychain: the stand-in accepts nothing else.
	if n := other.Cybrid.Stats().TokenRequests; n < 2 {
		t.Errorf("the sandbox stand-in saw %d token requests; want at least 2 (start, and after the revoked token)", n)
	}

	// Every secret seen.
	access := proxy.all()
	if len(access) < 2 {
		t.Errorf("the proxy recorded %d access tokens; want at least 2", len(access))
	}
	var link []string
	for _, wf := range other.Cybrid.Workflows() {
		if wf.LinkToken != "" {
			link = append(link, wf.LinkToken)
		}
	}
	if len(link) < 3 || len(r.public) < 2 {
		t.Fatalf("captured %d link tokens and %d public tokens; want 3 and 2", len(link), len(r.public))
	}
	jsSecrets := []leakSecret{{"client secret (canary)", canary}}
	for _, tok := range access {
		jsSecrets = append(jsSecrets, leakSecret{"Cybrid access token", tok})
	}
	for _, tok := range r.public {
		jsSecrets = append(jsSecrets, leakSecret{"Plaid public token", tok})
	}
	// The page holds link tokens (Plaid.create needs one); nowhere else may
	// they go.
	all := slices.Clone(jsSecrets)
	var linkSecrets []leakSecret
	for _, tok := range link {
		linkSecrets = append(linkSecrets, leakSecret{"Plaid link token", tok})
	}
	all = append(all, linkSecrets...)

	// Every place they could have gone.
	srcs := []leakSource{
		{"linkdesk's log", a.logs.String()},
		{"the OAuth redirect server's page", r.redirect},
		{"linkdesk doctor's report", r.doctor},
	}
	exportFiles := filesUnder(t, "the export", exports)
	if len(exportFiles) < 8 {
		t.Errorf("the export folder holds %d files; want the session's and each attempt's (8 or more)", len(exportFiles))
	}
	srcs = append(srcs, exportFiles...)
	journalFiles := filesUnder(t, "the journal folder's file", stateDir)
	if !slices.ContainsFunc(journalFiles, func(s leakSource) bool { return strings.Contains(s.text, r.attempts[0]) }) {
		t.Errorf("no file in the journal folder %s records the attempts (%d files)", stateDir, len(journalFiles))
	}
	srcs = append(srcs, journalFiles...)
	var webkitFiles []leakSource
	for _, d := range webkitDirs() {
		webkitFiles = append(webkitFiles, filesUnder(t, "WebKit's file", d)...)
	}
	if len(webkitFiles) == 0 {
		t.Errorf("found no files of WebKit's cache or storage (%s in $XDG_CACHE_HOME and $XDG_DATA_HOME)", filepath.Base(os.Args[0]))
	}
	srcs = append(srcs, webkitFiles...)
	procs, kids := processSources(t)
	if !slices.ContainsFunc(kids, func(p procInfo) bool { return strings.Contains(p.comm+p.cmdline, "WebKitWebProcess") }) {
		t.Errorf("no WebKitWebProcess among this process's %d descendants: the child-process check saw nothing", len(kids))
	}
	srcs = append(srcs, procs...)
	served := a.served()
	srcs = append(srcs, served...)
	jsSrcs := append(a.jsSources(), a.calls(customer, r.attempts)...)
	scanned := time.Since(began) - worked

	leaks := append(findLeaks(srcs, all), findLeaks(jsSrcs, jsSecrets)...)
	for _, l := range leaks {
		t.Error(l)
	}
	n := 0
	for _, s := range append(srcs, jsSrcs...) {
		n += len(s.text)
	}
	t.Logf("searched %d places (%d KB; %d descendant processes, %d export files, %d journal files, %d WebKit files) for %d secrets (the canary, %d access, %d public, %d link tokens): %d leaks",
		len(srcs)+len(jsSrcs), n>>10, len(kids), len(exportFiles), len(journalFiles), len(webkitFiles), len(all), len(access), len(r.public), len(link), len(leaks))

	// Each check can fail: the canary planted where it looks is found.
	canarySet := []leakSecret{{"planted canary", canary}}
	mustFind := func(what string, srcs []leakSource, secrets []leakSecret) {
		t.Helper()
		if len(findLeaks(srcs, secrets)) == 0 {
			t.Errorf("planted check: %s was not caught", what)
		}
	}
	a.s.Log.Debug("planted", "client_secret", canary)
	mustFind("the canary logged once at debug level", []leakSource{{"linkdesk's log", a.logs.String()}}, canarySet)
	for _, dir := range []string{exports, stateDir} {
		p := filepath.Join(dir, "planted.txt")
		if err := os.WriteFile(p, []byte("x "+canary+" x"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustFind("a file with the canary in "+dir, filesUnder(t, "the file", dir), canarySet)
		os.Remove(p)
	}
	os.Setenv("LINKDESK_PLANTED", canary)
	procs, _ = processSources(t)
	os.Unsetenv("LINKDESK_PLANTED")
	mustFind("the canary in this process's environment", procs, canarySet)
	child := exec.Command("sleep", "30")
	child.Args[0] = "planted-" + canary // argv[0] as the process shows it
	child.Env = append(os.Environ(), "PLANTED="+canary)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	procs, _ = processSources(t)
	child.Process.Kill()
	child.Wait()
	var childArgv, childEnv []leakSource
	for _, s := range procs {
		if strings.Contains(s.where, fmt.Sprintf(" %d ", child.Process.Pid)) {
			if strings.Contains(s.where, "argv") {
				childArgv = append(childArgv, s)
			} else {
				childEnv = append(childEnv, s)
			}
		}
	}
	mustFind("the canary in a child process's argv", childArgv, canarySet)
	mustFind("the canary in a child process's environment", childEnv, canarySet)
	a.js(fmt.Sprintf(`(window.__secretsPlanted = {deep: [{v: %q}]}, sessionStorage.setItem("planted", %q), true)`, canary, canary), nil)
	planted := a.jsSources()
	a.js(`(delete window.__secretsPlanted, sessionStorage.removeItem("planted"), true)`, nil)
	mustFind("the canary in a window property", planted[:1], canarySet)
	mustFind("the canary in sessionStorage", planted[4:5], canarySet)
	// What cannot be planted is shown to be the real thing: the page the app
	// server serves carries the bridge's session secret; the messages Go
	// sent the page carry the link tokens (which the page needs); argv is the
	// test binary's; doctor names the client id it checked.
	mustFind("the session secret in the app server's page", served[:1], []leakSecret{{"session secret", a.s.Server.Secret}})
	mustFind("the link tokens in the messages Go sent the page", jsSrcs[8:9], linkSecrets)
	mustFind("the test binary's name in argv", procs[:1], []leakSecret{{"argv[0]", os.Args[0]}})
	mustFind("the client id in doctor's report", []leakSource{{"doctor", r.doctor}}, []leakSecret{{"client id", clientID}})

	t.Logf("timings: flows %s, search %s, whole test %s", worked.Round(time.Millisecond), scanned.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
