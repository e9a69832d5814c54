package keychain_test

// Tests against the real OS keychain (a Secret Service on Linux). Run them with
//
//	app/keychain/testdata/with-secret-service.sh go test ./app/keychain/
//
// Without a reachable keychain they skip (fail with LINKDESK_REQUIRE_KEYRING=1).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/keychain"
	"linkdesk/app/keychain/keychaintest"
)

const canary = "CANARY-s3cr3t-7f1c9e"

// secretToolLookup asks the Secret Service for the item through libsecret's
// secret-tool, independently of go-keyring. ok is false when there is none.
func secretToolLookup(t *testing.T, env string) (value string, ok bool) {
	t.Helper()
	testneeds.Tool(t, testneeds.Keyring, "secret-tool", "libsecret-tools")
	out, err := exec.Command("secret-tool", "lookup", "service", keychain.Service, "username", env).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && len(out) == 0 {
		return "", false
	}
	if err != nil {
		t.Fatalf("secret-tool lookup: %v", err)
	}
	return string(out), true
}

func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestSecretServiceRoundTrip(t *testing.T) {
	s := keychaintest.Require(t)
	env := keychaintest.Env(t)
	want := keychain.Credentials{ClientID: "client-round-trip", ClientSecret: canary}
	if err := s.Set(env, want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := s.Get(env)
	if err != nil || got != want {
		t.Fatalf("Get = %v, %v; want %v", got, err, want)
	}
	// The item really is in the Secret Service, in the documented format.
	v, ok := secretToolLookup(t, env)
	if !ok {
		t.Fatal("secret-tool does not see the item")
	}
	var stored map[string]string
	if err := json.Unmarshal([]byte(v), &stored); err != nil {
		t.Fatalf("stored value is not JSON: %v", err)
	}
	if len(stored) != 2 || stored["client_id"] != want.ClientID || stored["client_secret"] != canary {
		t.Errorf("stored value has fields %v, want client_id and client_secret", keys(stored))
	}
}

func TestSecretServiceOverwrite(t *testing.T) {
	s := keychaintest.Require(t)
	env := keychaintest.Env(t)
	if err := s.Set(env, keychain.Credentials{ClientID: "first", ClientSecret: "first-secret"}); err != nil {
		t.Fatal(err)
	}
	second := keychain.Credentials{ClientID: "second", ClientSecret: canary}
	if err := s.Set(env, second); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(env); err != nil || got != second {
		t.Fatalf("Get after overwrite = %v, %v", got, err)
	}
	// One item, not two: secret-tool search lists every match.
	testneeds.Tool(t, testneeds.Keyring, "secret-tool", "libsecret-tools")
	out, err := exec.Command("secret-tool", "search", "--all", "service", keychain.Service, "username", env).CombinedOutput()
	if err != nil {
		t.Fatalf("secret-tool search: %v", err)
	}
	if n := strings.Count(string(out), "attribute.username = "+env); n != 1 {
		t.Errorf("secret-tool finds %d items for %s, want 1", n, env)
	}
}

func TestSecretServiceDelete(t *testing.T) {
	s := keychaintest.Require(t)
	env := keychaintest.Env(t)
	if err := s.Set(env, keychain.Credentials{ClientID: "to-delete", ClientSecret: canary}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(env); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := secretToolLookup(t, env); ok {
		t.Error("secret-tool still sees the item after Delete")
	}
	_, err := s.Get(env)
	if !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "linkdesk credentials set --env "+env) {
		t.Errorf("not-found message does not say what to do: %q", err)
	}
	if err := s.Delete(env); !errors.Is(err, keychain.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
}

func TestSecretServiceEnvironmentsAreIndependent(t *testing.T) {
	s := keychaintest.Require(t)
	a, b := keychaintest.Env(t), keychaintest.Env(t)
	ca := keychain.Credentials{ClientID: "id-a", ClientSecret: canary + "-a"}
	cb := keychain.Credentials{ClientID: "id-b", ClientSecret: canary + "-b"}
	if err := s.Set(a, ca); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(b); !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf("Get(%s) before Set: %v", b, err)
	}
	if err := s.Set(b, cb); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(a); got != ca {
		t.Errorf("Get(a) = %v", got)
	}
	if got, _ := s.Get(b); got != cb {
		t.Errorf("Get(b) = %v", got)
	}
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(b); err != nil || got != cb {
		t.Errorf("Get(b) after Delete(a) = %v, %v", got, err)
	}
}

func TestSecretServiceCorruptValue(t *testing.T) {
	s := keychaintest.Require(t)
	for _, value := range []string{"not json " + canary, `{"client_id":"only-id"}`, `{"client_id":"x","client_secret":"` + canary + `\n"}`} {
		env := keychaintest.Env(t)
		if err := keyring.Set(keychain.Service, env, value); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(env)
		var ce *keychain.CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("Get of %q: %v (%T), want *CorruptError", value, err, err)
		}
		checkNoSecret(t, err)
		if !strings.Contains(err.Error(), "`linkdesk credentials set --env "+env+"`") {
			t.Errorf("message does not say how to fix it: %q", err)
		}
		// The user can repair it by setting again (or delete it).
		good := keychain.Credentials{ClientID: "fixed", ClientSecret: canary}
		if err := s.Set(env, good); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(env); err != nil || got != good {
			t.Errorf("after repair: %v, %v", got, err)
		}
	}
}

func TestSecretServiceRejectsInvalidWithoutStoring(t *testing.T) {
	s := keychaintest.Require(t)
	env := keychaintest.Env(t)
	err := s.Set(env, keychain.Credentials{ClientID: "id", ClientSecret: canary + " "})
	if err == nil || !strings.Contains(err.Error(), "client secret has leading or trailing whitespace") {
		t.Fatalf("Set: %v", err)
	}
	checkNoSecret(t, err)
	if _, ok := secretToolLookup(t, env); ok {
		t.Error("an invalid value reached the Secret Service")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// --- without a Secret Service: run in a subprocess with a broken environment.

const (
	helperModeVar = "LINKDESK_KEYCHAIN_TEST_HELPER"
	helperOutVar  = "LINKDESK_KEYCHAIN_TEST_HELPER_OUT"
)

type helperResult struct {
	Op          string
	Err         string
	Unavailable bool
	NoKeyring   bool // an UnavailableError with NoKeyring
	Locked      bool
	Timeout     bool
	Millis      int64
}

// TestHelperProcess is not a test: the tests below run the test binary again
// with helperModeVar set, to exercise the keychain in an environment without a
// Secret Service. Mode "store" calls keychain.New; mode "raw" calls go-keyring
// directly.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeVar)
	if mode == "" {
		t.Skip("helper process for the tests without a Secret Service")
	}
	var results []helperResult
	record := func(op string, start time.Time, err error) {
		r := helperResult{Op: op, Millis: time.Since(start).Milliseconds()}
		if err != nil {
			r.Err = err.Error()
			var ue *keychain.UnavailableError
			var te *keychain.TimeoutError
			var le *keychain.LockedError
			r.Unavailable = errors.As(err, &ue)
			r.NoKeyring = r.Unavailable && ue.NoKeyring
			r.Locked = errors.As(err, &le)
			r.Timeout = errors.As(err, &te)
		}
		results = append(results, r)
	}
	switch mode {
	case "store":
		s := keychain.New(keychain.DefaultTimeout)
		start := time.Now()
		record("set", start, s.Set("sandbox", keychain.Credentials{ClientID: "id", ClientSecret: canary}))
		start = time.Now()
		_, err := s.Get("sandbox")
		record("get", start, err)
		start = time.Now()
		record("delete", start, s.Delete("sandbox"))
	case "timeout":
		s := keychain.New(time.Second)
		start := time.Now()
		_, err := s.Get("sandbox")
		record("get", start, err)
	case "raw":
		start := time.Now()
		_, err := keyring.Get(keychain.Service, "sandbox")
		record("raw-get", start, err)
	}
	b, _ := json.Marshal(results)
	if err := os.WriteFile(os.Getenv(helperOutVar), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runHelper runs TestHelperProcess in mode with env (added to a copy of the
// environment from which the unset names are removed), optionally wrapped in
// a command such as dbus-run-session.
func runHelper(t *testing.T, mode string, env []string, unset []string, wrap ...string) []helperResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	var environ []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, u := range unset {
			drop = drop || name == u
		}
		if !drop {
			environ = append(environ, kv)
		}
	}
	environ = append(environ, env...)
	environ = append(environ, helperModeVar+"="+mode, helperOutVar+"="+out)
	args := append(wrap, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = environ
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var results []helperResult
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatal(err)
	}
	return results
}

// checkUnavailable asserts what a user would see without a Secret Service: a
// fast UnavailableError that says what to install, and no secret.
func checkUnavailable(t *testing.T, results []helperResult, wantCause string) {
	t.Helper()
	if len(results) != 3 {
		t.Fatalf("results: %+v", results)
	}
	for _, r := range results {
		if !r.Unavailable {
			t.Errorf("%s: %q is not an UnavailableError", r.Op, r.Err)
		}
		if r.Millis > 1000 {
			t.Errorf("%s: took %dms, want an immediate answer", r.Op, r.Millis)
		}
		for _, w := range []string{"no OS keychain is reachable", wantCause, "Secret Service", "gnome-keyring", "KeePassXC", "D-Bus"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("%s: %q lacks %q", r.Op, r.Err, w)
			}
		}
		if strings.Contains(r.Err, canary) || strings.Contains(strings.ToLower(r.Err), "plain") {
			t.Errorf("%s: leaks the secret or suggests plain-text storage: %q", r.Op, r.Err)
		}
		t.Logf("%s: UnavailableError after %dms", r.Op, r.Millis)
	}
}

func requireLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Secret Service (D-Bus) behaviour is Linux-specific")
	}
}

func TestUnavailableWhenBusAddressIsDead(t *testing.T) {
	requireLinux(t)
	results := runHelper(t, "store", []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent"}, []string{"DBUS_SESSION_BUS_ADDRESS"})
	checkUnavailable(t, results, "/nonexistent")
}

// fakeDbusLaunch puts a dbus-launch first on PATH that only records that it
// ran (and fails, so godbus gives up).
func fakeDbusLaunch(t *testing.T) (path, marker string) {
	dir := t.TempDir()
	marker = filepath.Join(dir, "dbus-launch-ran")
	script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "dbus-launch"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH"), marker
}

func noBusEnv(t *testing.T) (env []string, marker string) {
	if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
		t.Skip("a session bus socket exists in /run/user: cannot simulate a machine without one")
	}
	path, marker := fakeDbusLaunch(t)
	return []string{"PATH=" + path, "XDG_RUNTIME_DIR=" + t.TempDir()}, marker
}

func TestUnavailableWithoutSessionBusDoesNotAutolaunch(t *testing.T) {
	requireLinux(t)
	env, marker := noBusEnv(t)
	results := runHelper(t, "store", env, []string{"DBUS_SESSION_BUS_ADDRESS", "PATH", "XDG_RUNTIME_DIR"})
	checkUnavailable(t, results, "no D-Bus session bus")
	if _, err := os.Stat(marker); err == nil {
		t.Error("keychain ran dbus-launch; it must not start a session bus")
	}
}

// TestGoKeyringAutolaunchesWithoutBus documents why the guard above exists:
// go-keyring (through godbus) runs dbus-launch when it finds no bus. If this
// starts failing after an upgrade, the guard in bus_unix.go may be removable.
func TestGoKeyringAutolaunchesWithoutBus(t *testing.T) {
	requireLinux(t)
	env, marker := noBusEnv(t)
	runHelper(t, "raw", env, []string{"DBUS_SESSION_BUS_ADDRESS", "PATH", "XDG_RUNTIME_DIR"})
	if _, err := os.Stat(marker); err != nil {
		t.Error("go-keyring did not run dbus-launch without a bus; the guard in bus_unix.go may no longer be needed")
	}
}

// TestUnavailableWithoutUnlockedKeyring: a session bus where gnome-keyring is
// D-Bus-activated but has no login keyring and no display to ask for one (a
// fresh headless machine). The Secret Service answers, but has no keyring:
// an UnavailableError with NoKeyring that says how to create one — not
// "locked", and not "install gnome-keyring".
func TestUnavailableWithoutUnlockedKeyring(t *testing.T) {
	requireLinux(t)
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		testneeds.Tool(t, testneeds.Keyring, tool, "dbus gnome-keyring gcr")
	}
	home := t.TempDir()
	results := runHelper(t, "store", []string{"HOME=" + home},
		[]string{"DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"},
		"dbus-run-session", "--")
	if len(results) != 3 {
		t.Fatalf("results: %+v", results)
	}
	for _, r := range results {
		if !r.NoKeyring || r.Locked || r.Timeout {
			t.Errorf("%s: %q (no keyring %v, locked %v, timeout %v), want an UnavailableError with NoKeyring", r.Op, r.Err, r.NoKeyring, r.Locked, r.Timeout)
		}
		if r.Millis > 1000 {
			t.Errorf("%s: took %dms, want an immediate answer", r.Op, r.Millis)
		}
		for _, w := range []string{"has no keyring to keep credentials in", "failed to unlock", "log in to a desktop session once", "gnome-keyring-daemon --replace --unlock", "only in the OS keychain", "try again"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("%s: %q lacks %q", r.Op, r.Err, w)
			}
		}
		if strings.Contains(r.Err, "install") || strings.Contains(r.Err, canary) {
			t.Errorf("%s: advises installing a keychain that is there, or leaks the secret: %q", r.Op, r.Err)
		}
		t.Logf("%s: after %dms: %s", r.Op, r.Millis, r.Err)
	}
}

// TestTimeoutWhenUnlockPromptWaitsOnAScreen reproduces the hang GitHub CLI
// and others hit: a locked login keyring and a display, so gnome-keyring
// shows an unlock prompt (gcr-prompter, on Xvfb here) that nobody answers
// and go-keyring waits forever. The Store must give up after its timeout.
func TestTimeoutWhenUnlockPromptWaitsOnAScreen(t *testing.T) {
	requireLinux(t)
	for _, tool := range []string{"dbus-run-session", "dbus-send", "dbus-update-activation-environment", "gnome-keyring-daemon", "/usr/libexec/gcr-prompter"} {
		testneeds.Tool(t, testneeds.Keyring, tool, "dbus gnome-keyring gcr")
	}
	display := testneeds.PrivateDisplay(t, 640, 480)
	lock := "dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets " +
		"org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null && " +
		"dbus-update-activation-environment DISPLAY=" + display + " && exec \"$@\""
	results := runHelper(t, "timeout", []string{"DISPLAY=" + display}, []string{"DISPLAY"},
		"testdata/with-secret-service.sh", "sh", "-c", lock, "sh")
	if len(results) != 1 {
		t.Fatalf("results: %+v", results)
	}
	r := results[0]
	if !r.Timeout {
		t.Fatalf("got %q, want a TimeoutError", r.Err)
	}
	if r.Millis < 1000 || r.Millis > 2500 {
		t.Errorf("TimeoutError after %dms, want about 1000ms", r.Millis)
	}
	if !strings.Contains(r.Err, "did not answer within 1s") || !strings.Contains(r.Err, "gnome-keyring-daemon --replace --unlock") {
		t.Errorf("message: %q", r.Err)
	}
	t.Logf("locked keyring with a prompt on %s: TimeoutError after %dms", display, r.Millis)
}
