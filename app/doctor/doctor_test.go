package doctor_test

import (
	"bytes"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/doctor"
	"linkdesk/app/handover"
	"linkdesk/app/keychain"
	"linkdesk/app/sim"
)

// canary is the client secret of every simulator these tests start: it must
// never appear in doctor's output.
const (
	canary   = "canary-Secr3t-doctor-7f3a9c"
	clientID = "doctor-test-client"
)

// setup is a simulator posing as Cybrid's sandbox (URL overrides), the
// variables that point linkdesk at it and a keychain holding credentials.
type setup struct {
	sim   *sim.Sim
	vars  map[string]string
	store keychain.Store
	// scheme is the desktop entry registered for linkdesk:// ("" none);
	// handoverDir where a running linkdesk would listen.
	scheme      string
	handoverDir string
}

// newSetup starts a real simulator (whose API key is allowed only scopes,
// when non-nil) and stores its credentials for sandbox.
func newSetup(t *testing.T, scopes []string) *setup {
	t.Helper()
	s, err := sim.Start(sim.Options{ClientID: clientID, ClientSecret: canary, ClientScopes: scopes,
		WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st := keychain.NewMemory()
	if err := st.Set("sandbox", keychain.Credentials{ClientID: clientID, ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	return &setup{sim: s, store: st, vars: map[string]string{
		config.VarEnvironment:     "sandbox",
		config.VarBankAPIURL:      s.BankURL,
		config.VarIdentityAPIURL:  s.IdentityURL,
		config.VarOAuthReturnPort: strconv.Itoa(freePort(t)),
	}, scheme: "linkdesk.desktop", handoverDir: filepath.Join(t.TempDir(), "linkdesk")}
}

// freePort is a loopback port nothing listens on (just now).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *setup) lookup(k string) (string, bool) { v, ok := s.vars[k]; return v, ok }

// run is `linkdesk doctor args…` against the setup; it returns the exit
// code and what the user reads on stdout.
func (s *setup) run(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := doctor.Main(args, &out, &errOut, doctor.Options{Lookup: s.lookup, Store: s.store, Timeout: timeout,
		SchemeHandler: func() (string, error) { return s.scheme, nil }, HandoverDir: s.handoverDir})
	if errOut.Len() > 0 {
		t.Errorf("stderr: %s", errOut.String())
	}
	text := out.String()
	t.Logf("linkdesk doctor %s (exit %d):\n%s", strings.Join(args, " "), code, text)
	for _, secret := range []string{canary, "eyJ"} {
		if strings.Contains(text, secret) {
			t.Errorf("the output contains a secret (%q)", secret)
		}
	}
	return code, text
}

// line returns the output line of a check (plain style: "ok    name  …").
func line(t *testing.T, out, check string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "ok" || f[0] == "FAIL" || f[0] == "skip") && strings.HasPrefix(strings.TrimSpace(l[len(f[0]):]), check+" ") {
			return l
		}
	}
	t.Fatalf("no line for the %s check in\n%s", check, out)
	return ""
}

// advice returns the "->" lines under a check's line.
func advice(t *testing.T, out, check string) string {
	t.Helper()
	l := line(t, out, check)
	rest := out[strings.Index(out, l)+len(l)+1:]
	var b strings.Builder
	for _, a := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(a), "->") {
			break
		}
		b.WriteString(strings.TrimSpace(a) + "\n")
	}
	return b.String()
}

func wantLine(t *testing.T, out, check, mark string, parts ...string) {
	t.Helper()
	l := line(t, out, check)
	if !strings.HasPrefix(l, mark+" ") {
		t.Errorf("%s: %q, want it marked %s", check, l, mark)
	}
	for _, p := range parts {
		if !strings.Contains(l, p) {
			t.Errorf("%s: %q does not say %q", check, l, p)
		}
	}
}

func wantAdvice(t *testing.T, out, check string, parts ...string) {
	t.Helper()
	a := advice(t, out, check)
	for _, p := range parts {
		if !strings.Contains(a, p) {
			t.Errorf("%s: advice %q does not say %q", check, a, p)
		}
	}
}

var allChecks = []string{doctor.CheckConfig, doctor.CheckKeychain, doctor.CheckCredentials, doctor.CheckToken,
	doctor.CheckScopes, doctor.CheckAPI, doctor.CheckRedirectURI}

func TestAllGood(t *testing.T) {
	s := newSetup(t, nil)
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitOK {
		t.Errorf("exit %d, want 0", code)
	}
	for _, c := range allChecks {
		wantLine(t, out, c, "ok")
	}
	wantLine(t, out, doctor.CheckOAuthReturn, "skip", "no https redirect URI")
	if strings.Count(out, "\n") != len(allChecks)+3 {
		t.Errorf("want a header, one line per check and a closing line, got\n%s", out)
	}
	wantLine(t, out, doctor.CheckConfig, "ok", "environment sandbox", s.sim.BankURL)
	wantLine(t, out, doctor.CheckCredentials, "ok", "client id "+clientID, "the secret is not shown")
	wantLine(t, out, doctor.CheckToken, "ok", "obtained from "+s.sim.IdentityURL+"/oauth/token", "valid for 30m0s")
	wantLine(t, out, doctor.CheckScopes, "ok", "all 9 scopes")
	wantLine(t, out, doctor.CheckAPI, "ok", "GET "+s.sim.BankURL+"/api/customers answered in ", "customers)")
	wantLine(t, out, doctor.CheckRedirectURI, "ok", "not set", "only through Plaid's pop-up window")
	if !strings.HasSuffix(out, "No problems found (8 checks).\n") {
		t.Errorf("closing line: %q", out)
	}
}

func TestWrongSecret(t *testing.T) {
	s := newSetup(t, nil)
	s.store.Set("sandbox", keychain.Credentials{ClientID: clientID, ClientSecret: canary + "-wrong"})
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckCredentials, "ok")
	wantLine(t, out, doctor.CheckToken, "FAIL", "the identity service refused the client id/secret", "401 invalid_client")
	wantAdvice(t, out, doctor.CheckToken, "store the right ones with `linkdesk credentials set --env sandbox`")
	wantLine(t, out, doctor.CheckScopes, "skip", "needs a token")
	wantLine(t, out, doctor.CheckAPI, "skip", "needs a token")
	wantLine(t, out, doctor.CheckRedirectURI, "ok")
	if !strings.HasSuffix(out, "1 check of 8 failed: see the advice above.\n") {
		t.Errorf("closing line: %q", out)
	}
}

func TestNoCredentialsStored(t *testing.T) {
	s := newSetup(t, nil)
	s.store = keychain.NewMemory()
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckKeychain, "ok", "the OS keychain answered in ")
	wantLine(t, out, doctor.CheckCredentials, "FAIL", "no API credentials are stored for sandbox")
	wantAdvice(t, out, doctor.CheckCredentials, "`linkdesk credentials set --env sandbox`", "LINKDESK_ENVIRONMENT=sim")
	for _, c := range []string{doctor.CheckToken, doctor.CheckScopes, doctor.CheckAPI} {
		wantLine(t, out, c, "skip", "needs stored credentials")
	}
}

// The simulated API key lacks two scopes, as a Cybrid key created without
// them: the identity service refuses linkdesk's token request
// (invalid_scope); doctor finds out which scopes are missing and what each
// one breaks.
func TestScopeMissing(t *testing.T) {
	allowed := slices.DeleteFunc(slices.Clone(cybrid.DefaultScopes), func(s string) bool {
		return s == "identity_verifications:execute" || s == "external_bank_accounts:write"
	})
	s := newSetup(t, allowed)
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckToken, "ok", "accepted the client id/secret", "invalid_scope")
	wantLine(t, out, doctor.CheckScopes, "FAIL", "not allowed 2 of the 9 scopes", "external_bank_accounts:write, identity_verifications:execute", "nothing works")
	wantAdvice(t, out, doctor.CheckScopes,
		"without external_bank_accounts:write: Refresh connection (update mode) cannot set the account back to completed",
		"without identity_verifications:execute: the bank-account ownership verification cannot be started",
		"`linkdesk credentials set --env sandbox`")
	if strings.Contains(advice(t, out, doctor.CheckScopes), "without customers:read") {
		t.Error("a granted scope is listed as missing")
	}
	// customers:read is granted: the API answers a token with it.
	wantLine(t, out, doctor.CheckAPI, "ok", "answered in")
}

// Without customers:read, the API check still tells reachability from the
// 403 the API answers.
func TestScopeMissingCustomersRead(t *testing.T) {
	s := newSetup(t, []string{"workflows:read", "workflows:execute"})
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckScopes, "FAIL", "not allowed 7 of the 9 scopes")
	wantAdvice(t, out, doctor.CheckScopes, "without customers:read: the customer list, search and every customer screen fail",
		"without customers:pii:read: the customer list and search fail")
	wantLine(t, out, doctor.CheckAPI, "ok", "with 403: reachable, but the token lacks customers:read")
}

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestAPIUnreachable(t *testing.T) {
	s := newSetup(t, nil)
	dead := closedPort(t)
	s.vars[config.VarBankAPIURL] = dead
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckToken, "ok")
	wantLine(t, out, doctor.CheckScopes, "ok")
	wantLine(t, out, doctor.CheckAPI, "FAIL", "cannot reach the bank API at "+dead, "connection refused (nothing is listening at that address)")
	wantAdvice(t, out, doctor.CheckAPI, "check LINKDESK_BANK_API_URL ("+dead+")", "Unset it to use Cybrid's sandbox URL")
}

// A bank API that accepts connections but never answers costs the check
// timeout, not more.
func TestAPISilentRespectsTheTimeout(t *testing.T) {
	s := newSetup(t, nil)
	silent := silentServer(t)
	s.vars[config.VarBankAPIURL] = silent
	const timeout = 700 * time.Millisecond
	start := time.Now()
	code, out := s.run(t, timeout)
	took := time.Since(start)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckAPI, "FAIL", "the bank API at "+silent+" did not answer within 700ms")
	wantAdvice(t, out, doctor.CheckAPI, "check LINKDESK_BANK_API_URL")
	if took > timeout+2*time.Second {
		t.Errorf("doctor took %s with a %s check timeout", took, timeout)
	}
}

// The same for the identity service: the token check gives up in time and
// the checks that need a token are skipped.
func TestIdentitySilentRespectsTheTimeout(t *testing.T) {
	s := newSetup(t, nil)
	silent := silentServer(t)
	s.vars[config.VarIdentityAPIURL] = silent
	const timeout = 700 * time.Millisecond
	start := time.Now()
	code, out := s.run(t, timeout)
	took := time.Since(start)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckToken, "FAIL", "did not answer within 700ms")
	wantLine(t, out, doctor.CheckAPI, "skip", "needs a token")
	if took > timeout+2*time.Second {
		t.Errorf("doctor took %s with a %s check timeout", took, timeout)
	}
}

func TestRedirectURI(t *testing.T) {
	for _, tt := range []struct {
		name, env, uri string
		mark           string
		line, advice   []string
	}{
		{"http in production", "production", "http://linkdesk.example.com/oauth-return", "FAIL",
			[]string{"LINKDESK_REDIRECT_URI is not usable in production: linkdesk will not start until it is fixed"},
			[]string{"uses http in production", "use https", "registered with Cybrid for production"}},
		{"query in production", "production", "https://linkdesk.example.com/oauth-return?x=1", "FAIL",
			[]string{"not usable in production"}, []string{"has a query or fragment"}},
		{"too long", "production", "https://linkdesk.example.com/" + strings.Repeat("a", 120), "FAIL",
			[]string{"not usable in production"}, []string{"at most 128 characters"}},
		{"http for another host in sandbox", "sandbox", "http://linkdesk.example.com/oauth-return", "FAIL",
			[]string{"not usable in sandbox"}, []string{"http only for localhost"}},
		{"port 0 in sandbox", "sandbox", "http://localhost:0/oauth-return", "FAIL",
			[]string{"uses port 0"}, []string{"use a fixed port, e.g. http://localhost:8765/oauth-return", "registered with Cybrid for sandbox"}},
		{"no path in sandbox", "sandbox", "http://localhost:8765", "FAIL",
			[]string{"has no path"}, []string{"add a path, e.g. http://localhost:8765/oauth-return"}},
		{"good in production", "production", "https://linkdesk.example.com/oauth-return", "ok",
			[]string{"has the right form for production", "must be registered with Cybrid for production"}, nil},
		{"localhost in sandbox", "sandbox", "http://localhost:8765/oauth-return", "ok",
			[]string{"has the right form for sandbox", "must be registered with Cybrid for sandbox"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, nil)
			s.store.Set(tt.env, keychain.Credentials{ClientID: clientID, ClientSecret: canary})
			s.vars[config.VarEnvironment] = tt.env
			s.vars[config.VarRedirectURI] = tt.uri
			code, out := s.run(t, 5*time.Second)
			wantLine(t, out, doctor.CheckRedirectURI, tt.mark, tt.line...)
			wantAdvice(t, out, doctor.CheckRedirectURI, tt.advice...)
			// The other checks are unaffected: the redirect URI is
			// reported once, by its own check.
			for _, c := range allChecks[:len(allChecks)-1] {
				wantLine(t, out, c, "ok")
			}
			if want := map[string]int{"ok": 0, "FAIL": 1}[tt.mark]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
		})
	}
}

func TestBadConfigurationValue(t *testing.T) {
	s := newSetup(t, nil)
	s.vars[config.VarPollMax] = "fast"
	s.vars[config.VarLanguage] = "klingon"
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckConfig, "FAIL", "2 problems", "linkdesk will not start until they are fixed")
	wantAdvice(t, out, doctor.CheckConfig,
		`LINKDESK_LANGUAGE="klingon" is not a language Plaid Link supports here: use en, fr, es, nl or de`,
		`LINKDESK_POLL_MAX="fast" is not a duration: use a value such as 500ms or 2s`,
		"`linkdesk --help`")
	// The bad values do not hide what the other checks find.
	for _, c := range allChecks[1:] {
		wantLine(t, out, c, "ok")
	}
}

func TestBadAPIURLSkipsTheAPIChecks(t *testing.T) {
	s := newSetup(t, nil)
	s.vars[config.VarBankAPIURL] = "http://bank.example.com"
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckConfig, "FAIL", "1 problem: linkdesk will not start until it is fixed")
	wantAdvice(t, out, doctor.CheckConfig, "LINKDESK_BANK_API_URL", "use https")
	for _, c := range []string{doctor.CheckToken, doctor.CheckScopes, doctor.CheckAPI} {
		wantLine(t, out, c, "skip", "needs a valid LINKDESK_BANK_API_URL")
	}
	wantLine(t, out, doctor.CheckCredentials, "ok")
}

func TestBadEnvironment(t *testing.T) {
	s := newSetup(t, nil)
	s.vars[config.VarEnvironment] = "staging"
	code, out := s.run(t, 5*time.Second)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(out, "linkdesk doctor: environment (unknown)\n") {
		t.Errorf("header: %q", out)
	}
	wantAdvice(t, out, doctor.CheckConfig, `LINKDESK_ENVIRONMENT="staging" is not allowed: use sim, sandbox or production`)
	wantLine(t, out, doctor.CheckToken, "skip", "needs a valid LINKDESK_ENVIRONMENT")
}

// --env overrides LINKDESK_ENVIRONMENT; a bad --env is a usage error.
func TestEnvFlag(t *testing.T) {
	s := newSetup(t, nil)
	s.vars[config.VarEnvironment] = "production" // no credentials stored there
	code, out := s.run(t, 5*time.Second, "--env", "sandbox")
	if code != doctor.ExitOK || !strings.HasPrefix(out, "linkdesk doctor: environment sandbox\n") {
		t.Errorf("--env sandbox: exit %d\n%s", code, out)
	}
	var o, e bytes.Buffer
	if code := doctor.Main([]string{"--env", "staging"}, &o, &e, doctor.Options{Lookup: s.lookup, Store: s.store}); code != doctor.ExitUsage ||
		!strings.Contains(e.String(), `--env "staging" is not allowed: use sim, sandbox or production`) {
		t.Errorf("--env staging: exit %d, %q", code, e.String())
	}
	if code := doctor.Main([]string{"some-secret-value"}, &o, &e, doctor.Options{Lookup: s.lookup, Store: s.store}); code != doctor.ExitUsage ||
		strings.Contains(e.String(), "some-secret-value") {
		t.Errorf("stray argument: exit %d, %q", code, e.String())
	}
}

// stuckStore is a keychain that never answers Get (what go-keyring does
// while an unlock prompt waits, when no timeout wraps it).
type stuckStore struct{ keychain.Store }

func (stuckStore) Get(string) (keychain.Credentials, error) { select {} }

// A keychain that hangs costs the check timeout, not more.
func TestKeychainThatNeverAnswers(t *testing.T) {
	s := newSetup(t, nil)
	s.store = stuckStore{}
	start := time.Now()
	code, out := s.run(t, 500*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("doctor took %s with a 500ms check timeout", took)
	}
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, out, doctor.CheckKeychain, "FAIL", "the OS keychain did not answer within 500ms")
	wantAdvice(t, out, doctor.CheckKeychain, "may be locked", "unlock it")
	wantLine(t, out, doctor.CheckCredentials, "skip", "needs the keychain")
	wantLine(t, out, doctor.CheckToken, "skip", "needs the keychain")
}

// In sim, doctor starts its own simulator and checks it.
func TestSim(t *testing.T) {
	var out, errOut bytes.Buffer
	code := doctor.Main(nil, &out, &errOut, doctor.Options{Lookup: func(string) (string, bool) { return "", false }, Timeout: 5 * time.Second})
	t.Logf("linkdesk doctor (sim):\n%s", out.String())
	if code != doctor.ExitOK {
		t.Errorf("exit %d, want 0: %s", code, errOut.String())
	}
	o := out.String()
	wantLine(t, o, doctor.CheckConfig, "ok", "environment sim (the built-in simulator)")
	wantLine(t, o, doctor.CheckSimulator, "ok", "started on 127.0.0.1:", "bank API and Plaid Link answer")
	wantLine(t, o, doctor.CheckKeychain, "skip", "not used in sim")
	wantLine(t, o, doctor.CheckCredentials, "ok", "the simulator's built-in credentials are used (client id "+sim.DefaultClientID+")")
	wantLine(t, o, doctor.CheckToken, "ok")
	wantLine(t, o, doctor.CheckScopes, "ok", "all 9 scopes")
	wantLine(t, o, doctor.CheckAPI, "ok", "answered in")
	wantLine(t, o, doctor.CheckRedirectURI, "ok", "linkdesk serves its own", "nothing to register")
}

func TestSymbolsStyle(t *testing.T) {
	s := newSetup(t, nil)
	s.store = keychain.NewMemory()
	rep := doctor.Run(t.Context(), doctor.Options{Lookup: s.lookup, Store: s.store, Timeout: 5 * time.Second})
	var b bytes.Buffer
	rep.Write(&b, doctor.Style{Symbols: true})
	out := b.String()
	for _, want := range []string{"✓ configuration", "✗ credentials", "→ store the client id and secret", "– token"} {
		if !strings.Contains(out, want) {
			t.Errorf("symbols style lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour codes without Color")
	}
	b.Reset()
	rep.Write(&b, doctor.Style{Symbols: true, Color: true})
	if !strings.Contains(b.String(), "\x1b[31m✗\x1b[0m credentials") {
		t.Errorf("colour style: %q", b.String())
	}
	if r, ok := rep.Result(doctor.CheckCredentials); !ok || r.Status != doctor.Failed || rep.OK() || rep.Failures() != 1 {
		t.Errorf("report: %+v", rep)
	}
}

// When the simulator cannot start (its port is taken), doctor says why and
// skips what needs it.
func TestSimCannotStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out, errOut bytes.Buffer
	code := doctor.Main([]string{"--env", "sim"}, &out, &errOut, doctor.Options{
		Lookup: func(string) (string, bool) { return "", false }, Sim: sim.Options{Addr: l.Addr().String()}})
	o := out.String()
	t.Logf("linkdesk doctor --env sim:\n%s", o)
	if code != doctor.ExitFail {
		t.Errorf("exit %d, want 1", code)
	}
	wantLine(t, o, doctor.CheckSimulator, "FAIL", "the built-in simulator did not start")
	wantAdvice(t, o, doctor.CheckSimulator, "cannot listen on "+l.Addr().String(), "is the port in use?")
	wantLine(t, o, doctor.CheckToken, "skip", "needs the simulator")
}

// An https redirect URI needs a way back from the system browser: the
// linkdesk:// scheme registered, and the loopback port free or held by the
// running linkdesk.
func TestOAuthReturn(t *testing.T) {
	for _, tt := range []struct {
		name, scheme string
		takePort     bool
		running      bool
		mark         string
		line, advice []string
	}{
		{"all set", "linkdesk.desktop", false, false, "ok", []string{"linkdesk:// opens linkdesk.desktop", "is free for the loopback route", "/usr/share/linkdesk/oauth-return.html"}, nil},
		{"scheme not registered", "", false, false, "FAIL", []string{"may not get back"}, []string{"linkdesk:// scheme is not registered", "xdg-mime default linkdesk.desktop x-scheme-handler/linkdesk", "host the return page"}},
		{"port taken", "linkdesk.desktop", true, false, "FAIL", []string{"may not get back"}, []string{"is taken by another program", "LOOPBACK_PORT"}},
		{"port held by the running linkdesk", "linkdesk.desktop", true, true, "ok", []string{"is held by the running linkdesk"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, nil)
			s.vars[config.VarRedirectURI] = "https://linkdesk.example.com/oauth-return"
			s.scheme = tt.scheme
			if tt.takePort {
				ln, err := net.Listen("tcp", "127.0.0.1:"+s.vars[config.VarOAuthReturnPort])
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			if tt.running {
				h, err := handover.Listen(s.handoverDir, func(string) error { return nil }, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
			}
			code, out := s.run(t, 5*time.Second)
			wantLine(t, out, doctor.CheckOAuthReturn, tt.mark, tt.line...)
			wantAdvice(t, out, doctor.CheckOAuthReturn, tt.advice...)
			if want := map[string]int{"ok": 0, "FAIL": 1}[tt.mark]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
		})
	}
}
