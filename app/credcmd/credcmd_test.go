package credcmd_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/credcmd"
	"linkdesk/app/keychain"
	"linkdesk/app/keychain/keychaintest"
)

// canary is a distinctive fake secret: output containing it is a leak.
const canary = "CANARY-s3cr3t-7f1c9e"

// stateHome is the state folder the tests' audit records go to (never the
// user's own): XDG_STATE_HOME (Linux) and LocalAppData (Windows) point into
// a temporary folder for the whole test binary and its helper processes.
var stateHome string

func TestMain(m *testing.M) {
	if os.Getenv(helperVar) != "" {
		// A helper process: its parent's folder is in the environment.
		os.Exit(m.Run())
	}
	d, err := os.MkdirTemp("", "credcmd-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", d)
	os.Setenv("LocalAppData", d)
	stateHome = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// run drives credcmd.Run with stdin as a pipe (not a terminal) carrying input.
func run(t *testing.T, store keychain.Store, defaultEnv, input string, args ...string) result {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString(input)
		w.Close()
	}()
	var stdout, stderr bytes.Buffer
	code := credcmd.Run(args, defaultEnv, store, r, &stdout, &stderr)
	res := result{code, stdout.String(), stderr.String()}
	if strings.Contains(res.stdout, canary) || strings.Contains(res.stderr, canary) {
		t.Errorf("credentials %v printed the secret:\nstdout: %s\nstderr: %s", args, res.stdout, res.stderr)
	}
	return res
}

func mustGet(t *testing.T, s keychain.Store, env string) keychain.Credentials {
	t.Helper()
	c, err := s.Get(env)
	if err != nil {
		t.Fatalf("Get(%s): %v", env, err)
	}
	return c
}

func assertNothingStored(t *testing.T, s keychain.Store, envs ...string) {
	t.Helper()
	for _, env := range envs {
		if _, err := s.Get(env); !errors.Is(err, keychain.ErrNotFound) {
			t.Errorf("%s: something was stored (Get: %v)", env, err)
		}
	}
}

func TestSetReadsTwoLinesFromStdin(t *testing.T) {
	for name, input := range map[string]string{
		"printf":              "client-1\n" + canary + "\n",
		"no final newline":    "client-1\n" + canary,
		"CRLF":                "client-1\r\n" + canary + "\r\n",
		"trailing blank line": "client-1\n" + canary + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			s := keychain.NewMemory()
			r := run(t, s, "sim", input, "set", "--env", "sandbox")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := mustGet(t, s, "sandbox"); got != (keychain.Credentials{ClientID: "client-1", ClientSecret: canary}) {
				t.Errorf("stored %#v", got)
			}
			if !strings.Contains(r.stdout, "Stored the credentials for sandbox") || !strings.Contains(r.stdout, "client-1") {
				t.Errorf("stdout %q does not confirm", r.stdout)
			}
			assertNothingStored(t, s, "sim", "production")
		})
	}
}

func TestSetRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{
		{"empty", "", []string{"stdin is empty", "nothing was stored", `printf '%s\n%s\n' "$ID" "$SECRET" | linkdesk credentials set --env sandbox`}},
		{"only newlines", "\n\n", []string{"stdin is empty"}},
		{"one line", "client-1\n", []string{"one line", "second line", "printf"}},
		{"three lines", "client-1\n" + canary + "\nextra\n", []string{"3 lines", "exactly two"}},
		{"empty id", "\n" + canary + "\n", []string{"nothing was stored", "client id is empty"}},
		{"empty secret", "client-1\n\n" + "\n", []string{"one line"}},
		{"secret with trailing space", "client-1\n" + canary + " \n", []string{"nothing was stored", "client secret has leading or trailing whitespace"}},
		{"secret with a tab", "client-1\n" + canary + "\tx\n", []string{"client secret contains a control character"}},
		{"too long", "client-1\n" + strings.Repeat("s", 300) + "\n", []string{"client secret is longer than 256"}},
		{"huge", strings.Repeat("x", 20000), []string{"more than 16384 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := keychain.NewMemory()
			r := run(t, s, "sandbox", tt.input, "set")
			if r.code != credcmd.ExitFail {
				t.Errorf("exit %d, want %d", r.code, credcmd.ExitFail)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			assertNothingStored(t, s, "sandbox")
		})
	}
}

func TestSetRefusesCredentialsInArguments(t *testing.T) {
	for _, args := range [][]string{
		{"set", "--secret", canary},
		{"set", "--client-secret=" + canary},
		{"set", "-client-secret", canary},
		{"set", "--env", "sandbox", "--secret", canary},
		{"set", "--env", "sandbox", canary},
		{"set", "client-1", canary},
		{"set", "--client-id", "client-1"},
		{"set", "--" + canary},
		{"set", "-p", canary},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			s := keychain.NewMemory()
			// Even with valid credentials on stdin, nothing is stored.
			r := run(t, s, "sandbox", "client-1\n"+canary+"\n", args...)
			if r.code != credcmd.ExitUsage {
				t.Errorf("exit %d, want %d", r.code, credcmd.ExitUsage)
			}
			for _, w := range []string{"not accepted as arguments or flags", "Nothing was stored", `printf '%s\n%s\n' "$ID" "$SECRET" | linkdesk credentials set --env sandbox`} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			assertNothingStored(t, s, "sandbox")
		})
	}
}

func TestStatus(t *testing.T) {
	s := keychain.NewMemory()
	r := run(t, s, "sandbox", "", "status", "--env", "sandbox")
	if r.code != credcmd.ExitFail || r.stdout != "no credentials stored for sandbox: run `linkdesk credentials set --env sandbox`\n" {
		t.Errorf("status with nothing stored: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if err := s.Set("production", keychain.Credentials{ClientID: "prod-client", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	r = run(t, s, "sandbox", "", "status", "--env", "production")
	want := "environment: production\nclient id: prod-client\nclient secret: stored\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("status: exit %d, stdout %q, want %q", r.code, r.stdout, want)
	}
	r = run(t, s, "sandbox", "", "status", "--env", "sim")
	if r.code != 0 || !strings.Contains(r.stdout, "the built-in simulator needs no credentials") {
		t.Errorf("status --env sim: exit %d, stdout %q", r.code, r.stdout)
	}
}

// Without --env, status reports every environment, whatever is configured;
// the simulator needs nothing, and the exit status is the configured
// environment's.
func TestStatusWithoutEnvListsEveryEnvironment(t *testing.T) {
	s := keychain.NewMemory()
	if err := s.Set("production", keychain.Credentials{ClientID: "prod-client", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		configured string
		code       int
		want       string
	}{
		{"", 0, "sim (configured: LINKDESK_ENVIRONMENT): the built-in simulator needs no credentials: it always uses its own\n" +
			"sandbox: no credentials stored: run `linkdesk credentials set --env sandbox`\n" +
			"production: client id prod-client, client secret stored\n"},
		{"sandbox", credcmd.ExitFail, "sim: the built-in simulator needs no credentials: it always uses its own\n" +
			"sandbox (configured: LINKDESK_ENVIRONMENT): no credentials stored: run `linkdesk credentials set --env sandbox`\n" +
			"production: client id prod-client, client secret stored\n"},
		{"production", 0, "sim: the built-in simulator needs no credentials: it always uses its own\n" +
			"sandbox: no credentials stored: run `linkdesk credentials set --env sandbox`\n" +
			"production (configured: LINKDESK_ENVIRONMENT): client id prod-client, client secret stored\n"},
	} {
		r := run(t, s, tt.configured, "", "status")
		if r.code != tt.code || r.stdout != tt.want || r.stderr != "" {
			t.Errorf("configured %q: exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr: %q", tt.configured, r.code, tt.code, r.stdout, tt.want, r.stderr)
		}
	}
}

// set and delete are recorded in the audit log of the state folder, with
// who and when, and never the secret.
func TestSetAndDeleteAreAudited(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("on macOS the state folder is in ~/Library: not redirected by this test")
	}
	dir := filepath.Join(stateHome, "linkdesk")
	before := time.Now()
	s := keychain.NewMemory()
	if r := run(t, s, "sim", "audited-client\n"+canary+"\n", "set", "--env", "production"); r.code != 0 {
		t.Fatalf("set: %d %s", r.code, r.stderr)
	}
	if r := run(t, s, "sim", "", "delete", "--env", "production"); r.code != 0 {
		t.Fatalf("delete: %d %s", r.code, r.stderr)
	}
	l, err := audit.Open(audit.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.List(audit.Filter{Environment: "production"}, 0, 2)
	if err != nil || len(p.Records) != 2 {
		t.Fatalf("audit records in %s: %+v, %v", dir, p, err)
	}
	del, set := p.Records[0], p.Records[1]
	if set.Action != audit.ActionCredentialsStore || set.Outcome != audit.OutcomeSuccess || !strings.Contains(set.Detail, "audited-client") ||
		del.Action != audit.ActionCredentialsDelete || del.Outcome != audit.OutcomeSuccess {
		t.Errorf("records: %+v", p.Records)
	}
	for _, r := range p.Records {
		if r.User != audit.CurrentUser() || r.Time.Before(before.Add(-time.Second)) {
			t.Errorf("record without who or when: %+v", r)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	if bytes.Contains(raw, []byte(canary)) {
		t.Error("the audit log holds the secret")
	}
}

// Storing credentials for the simulator, which never uses them, is refused;
// so is set without --env when the configured environment is sim.
func TestSetRefusesTheSimulator(t *testing.T) {
	s := keychain.NewMemory()
	for _, args := range [][]string{{"set", "--env", "sim"}, {"set"}} {
		r := run(t, s, "sim", "client-1\n"+canary+"\n", args...)
		if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, "nothing was stored: the built-in simulator needs no credentials") ||
			!strings.Contains(r.stderr, "linkdesk credentials set --env sandbox") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	assertNothingStored(t, s, "sim")
}

func TestDelete(t *testing.T) {
	s := keychain.NewMemory()
	if err := s.Set("sandbox", keychain.Credentials{ClientID: "c", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("production", keychain.Credentials{ClientID: "p", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	r := run(t, s, "sandbox", "", "delete")
	if r.code != 0 || !strings.Contains(r.stdout, "Deleted the credentials for sandbox") {
		t.Errorf("delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	assertNothingStored(t, s, "sandbox")
	mustGet(t, s, "production")
	r = run(t, s, "sandbox", "", "delete")
	if r.code != credcmd.ExitFail || !strings.Contains(r.stderr, "no credentials stored for sandbox: nothing to delete") {
		t.Errorf("second delete: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestEnvironmentSelection(t *testing.T) {
	s := keychain.NewMemory()
	in := "c\n" + canary + "\n"
	if r := run(t, s, "production", in, "set"); r.code != 0 {
		t.Fatalf("set with default env: %d %s", r.code, r.stderr)
	}
	mustGet(t, s, "production")
	if r := run(t, s, "production", in, "set", "--env=sim"); r.code != credcmd.ExitUsage {
		t.Fatalf("set --env=sim: %d %s", r.code, r.stderr)
	}
	// An entry for sim left by an older linkdesk can still be deleted.
	if err := s.Set("sim", keychain.Credentials{ClientID: "c", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, s, "", in, "delete", "-env", "sim"); r.code != 0 {
		t.Fatalf("delete -env sim: %d %s", r.code, r.stderr)
	}
	assertNothingStored(t, s, "sim", "sandbox")

	r := run(t, s, "sandbox", in, "set", "--env", "staging")
	if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, `--env "staging" is not allowed: use sim, sandbox or production`) {
		t.Errorf("--env staging: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, s, "bogus", "", "status")
	if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, `LINKDESK_ENVIRONMENT) "bogus" is not allowed`) {
		t.Errorf("bad default env: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, s, "sandbox", "", "status", "--env")
	if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, "--env needs a value") {
		t.Errorf("--env without value: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	s := keychain.NewMemory()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"set", "--help"}, {"status", "-h"}} {
		r := run(t, s, "sandbox", "", args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: linkdesk credentials <set|status|delete>") || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := run(t, s, "sandbox", "")
	if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, "Usage: linkdesk credentials") {
		t.Errorf("no args: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, s, "sandbox", "", "frobnicate")
	if r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, `unknown command "frobnicate": use set, status or delete`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	// A pasted secret in the command position is not repeated (run checks).
	if r := run(t, s, "sandbox", "", canary); r.code != credcmd.ExitUsage || !strings.Contains(r.stderr, "unknown command that command") {
		t.Errorf("secret as command: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"status", "extra"}, {"delete", "--force"}, {"status", "--secret", canary}} {
		if r := run(t, s, "sandbox", "", args...); r.code != credcmd.ExitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := run(t, s, "production", "", "--help"); !strings.Contains(r.stdout, "default production, from LINKDESK_ENVIRONMENT") {
		t.Errorf("usage does not show the default environment:\n%s", r.stdout)
	}
}

// oneItemStore maps every environment to one keychain item, so tests of the
// command against the real keychain use a throwaway item and never touch a
// user's real sandbox or production credentials.
type oneItemStore struct {
	s    keychain.Store
	item string
}

func (o oneItemStore) Get(string) (keychain.Credentials, error) { return o.s.Get(o.item) }
func (o oneItemStore) Set(_ string, c keychain.Credentials) error {
	return o.s.Set(o.item, c)
}
func (o oneItemStore) Delete(string) error { return o.s.Delete(o.item) }

func TestAgainstTheRealKeychain(t *testing.T) {
	real := keychaintest.Require(t)
	item := keychaintest.Env(t)
	s := oneItemStore{real, item}

	if r := run(t, s, "sandbox", "", "status", "--env", "sandbox"); r.code != credcmd.ExitFail {
		t.Fatalf("status before set: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, s, "sandbox", "real-client\n"+canary+"\n", "set"); r.code != 0 {
		t.Fatalf("set: exit %d %s", r.code, r.stderr)
	}
	// In the Secret Service, as the JSON the keychain package writes.
	_, haveSecretTool := exec.LookPath("secret-tool")
	if haveSecretTool == nil {
		out, err := exec.Command("secret-tool", "lookup", "service", keychain.Service, "username", item).Output()
		if err != nil {
			t.Fatalf("secret-tool lookup: %v", err)
		}
		var v map[string]string
		if err := json.Unmarshal(out, &v); err != nil || v["client_id"] != "real-client" || v["client_secret"] != canary {
			t.Fatalf("secret-tool sees an unexpected value (%v)", err)
		}
	} else {
		t.Log("secret-tool not installed: not cross-checking the item with libsecret")
	}
	r := run(t, s, "sandbox", "", "status", "--env", "sandbox")
	if r.code != 0 || r.stdout != "environment: sandbox\nclient id: real-client\nclient secret: stored\n" {
		t.Errorf("status: exit %d %q", r.code, r.stdout)
	}
	if r := run(t, s, "sandbox", "", "set", "--secret", canary); r.code != credcmd.ExitUsage {
		t.Errorf("argv secret: exit %d", r.code)
	}
	if r := run(t, s, "sandbox", "", "delete"); r.code != 0 {
		t.Errorf("delete: exit %d %s", r.code, r.stderr)
	}
	if _, err := s.Get("sandbox"); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("Get after delete: %v", err)
	}
	if _, err := exec.Command("secret-tool", "lookup", "service", keychain.Service, "username", item).Output(); haveSecretTool == nil && err == nil {
		t.Error("secret-tool still finds the item after delete")
	}
	if r := run(t, s, "sandbox", "", "delete"); r.code != credcmd.ExitFail {
		t.Errorf("second delete: exit %d", r.code)
	}
}

// perEnvStore maps each environment to its own throwaway keychain item.
type perEnvStore struct {
	s     keychain.Store
	items map[string]string
}

func (p perEnvStore) item(env string) string {
	if it, ok := p.items[env]; ok {
		return it
	}
	panic("the test touched the keychain item of " + env)
}
func (p perEnvStore) Get(env string) (keychain.Credentials, error) { return p.s.Get(p.item(env)) }
func (p perEnvStore) Set(env string, c keychain.Credentials) error { return p.s.Set(p.item(env), c) }
func (p perEnvStore) Delete(env string) error                      { return p.s.Delete(p.item(env)) }

// status without --env reads sandbox's and production's entries from the
// real keychain, and never sim's.
func TestStatusOfEveryEnvironmentAgainstTheRealKeychain(t *testing.T) {
	real := keychaintest.Require(t)
	s := perEnvStore{real, map[string]string{"sandbox": keychaintest.Env(t), "production": keychaintest.Env(t)}}
	if r := run(t, s, "sandbox", "real-sandbox\n"+canary+"\n", "set"); r.code != 0 {
		t.Fatalf("set: exit %d %s", r.code, r.stderr)
	}
	r := run(t, s, "production", "", "status")
	want := "sim: the built-in simulator needs no credentials: it always uses its own\n" +
		"sandbox: client id real-sandbox, client secret stored\n" +
		"production (configured: LINKDESK_ENVIRONMENT): no credentials stored: run `linkdesk credentials set --env production`\n"
	if r.code != credcmd.ExitFail || r.stdout != want {
		t.Errorf("status: exit %d\n%s\nwant:\n%s", r.code, r.stdout, want)
	}
	if r := run(t, s, "sandbox", "", "status"); r.code != 0 {
		t.Errorf("status with sandbox configured: exit %d", r.code)
	}
}

// --- keychain errors, for real: a subprocess whose D-Bus address is dead.

const helperVar = "LINKDESK_CREDCMD_TEST_HELPER"

// TestHelperProcess is not a test: TestKeychainErrorsArePrinted runs the
// test binary again with helperVar set to the arguments of Run (JSON), against
// keychain.New, with stdin, stdout and stderr of the process.
func TestHelperProcess(t *testing.T) {
	spec := os.Getenv(helperVar)
	if spec == "" {
		t.Skip("helper process for TestKeychainErrorsArePrinted")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(credcmd.Run(args, "sandbox", keychain.New(keychain.DefaultTimeout), os.Stdin, os.Stdout, os.Stderr))
}

func TestKeychainErrorsArePrinted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a dead D-Bus address makes the keychain unreachable only on Linux")
	}
	for _, tt := range []struct {
		args  []string
		input string
		want  string
	}{
		{[]string{"set"}, "client-1\n" + canary + "\n", "linkdesk credentials set: nothing was stored: no OS keychain is reachable"},
		{[]string{"status"}, "", "linkdesk credentials status: no OS keychain is reachable"},
		{[]string{"delete"}, "", "linkdesk credentials delete: no OS keychain is reachable"},
	} {
		spec, _ := json.Marshal(tt.args)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperVar+"="+string(spec), "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent")
		cmd.Stdin = strings.NewReader(tt.input)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != credcmd.ExitFail {
			t.Errorf("%v: %v, want exit %d\n%s", tt.args, err, credcmd.ExitFail, stderr.String())
		}
		if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "gnome-keyring") {
			t.Errorf("%v: stderr %q lacks %q and what to do", tt.args, stderr.String(), tt.want)
		}
		if strings.Contains(stdout.String()+stderr.String(), canary) {
			t.Errorf("%v: output leaks the secret", tt.args)
		}
	}
}
