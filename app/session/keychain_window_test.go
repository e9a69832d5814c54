package session_test

// A keychain problem opens the window. Each mode runs this test binary again
// in its own D-Bus session with a real gnome-keyring Secret Service in the
// state wanted — locked (its unlock prompt cannot show: the bus has no
// display), forbidden by the bus policy, or absent (no keyring at all) —
// and starts linkdesk on sandbox with the real OS keychain store, opening
// the real window on a display of its own. The page must load and receive the
// problem; for the locked keyring, unlocking it and retryEnvironment start
// sandbox without a restart.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/testneeds"
	"linkdesk/app/keychain"
	"linkdesk/app/sim"
)

const (
	keychainHelperVar  = "LINKDESK_SESSION_KEYCHAIN_HELPER"
	keychainHelperOut  = "LINKDESK_SESSION_KEYCHAIN_HELPER_OUT"
	keychainHelperDisp = "LINKDESK_SESSION_KEYCHAIN_HELPER_DISPLAY"
	helperKeyringPass  = "linkdesk-test" // with-secret-service.sh's
)

// keychainWindowResult is what the helper saw in the window.
type keychainWindowResult struct {
	OpenedMS         int64
	Kind, Headline   string
	Fix, Action      string
	NeedsCredentials bool
	ListKind         string // the problem kind of a listCustomers refused meanwhile
	Retried          bool   // locked: after unlocking, Try again started sandbox
	RetriedTotal     int    // customers listed then
	// What the window shows: the waiting screen's headline and fix, its
	// buttons, and (not locked) what Try again says when nothing changed.
	ScreenHeadline, ScreenFix string
	ScreenAction, SimButton   string
	StillWaiting              string
}

func TestKeychainProblemsOpenTheWindow(t *testing.T) {
	for _, tool := range []string{"dbus-run-session", "dbus-send", "gnome-keyring-daemon"} {
		testneeds.Tool(t, testneeds.Keyring, tool, "dbus gnome-keyring")
	}
	testneeds.Tool(t, testneeds.Display, "Xvfb", "xvfb")
	secretService, _ := filepath.Abs("../keychain/testdata/with-secret-service.sh")
	waitForName := `i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; }
	sleep 0.05
done
`
	for _, tc := range []struct {
		mode, kind, says string
		wrap             func(t *testing.T) []string
	}{
		{"locked", "keychain_locked", `"Login" keyring`, func(t *testing.T) []string {
			return []string{secretService, "sh", "-c", `exec "$@"`, "sh"}
		}},
		{"denied", "keychain_denied", "not allowed to use the OS keychain", func(t *testing.T) []string {
			conf := filepath.Join(t.TempDir(), "deny-secrets.conf")
			os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>/usr/share/dbus-1/session.conf</include>
  <policy context="mandatory"><deny send_destination="org.freedesktop.secrets"/></policy>
</busconfig>
`), 0o600)
			return []string{"dbus-run-session", "--config-file=" + conf, "--", "sh", "-c",
				"printf " + helperKeyringPass + " | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n" + waitForName + `exec "$@"`, "sh"}
		}},
		{"absent", "keychain_unavailable", "no keyring", func(t *testing.T) []string {
			return []string{"dbus-run-session", "--"}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel() // each in processes and on a display of its own
			// A display of its own: the helper's desktop session (its
			// accessibility bus, which announces itself on the display)
			// must not outlive it on the display the other tests use.
			display := testneeds.PrivateDisplay(t, 1280, 800)
			home := t.TempDir()
			os.MkdirAll(filepath.Join(home, ".local/share/keyrings"), 0o700)
			out := filepath.Join(t.TempDir(), "result.json")
			args := append(tc.wrap(t), os.Args[0], "-test.run=^TestKeychainWindowHelper$", "-test.count=1", "-test.v")
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(without(os.Environ(), "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"),
				"HOME="+home, "NO_AT_BRIDGE=1", keychainHelperVar+"="+tc.mode, keychainHelperOut+"="+out, keychainHelperDisp+"="+display)
			start := time.Now()
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, b)
			}
			var r keychainWindowResult
			raw, err := os.ReadFile(out)
			if err != nil || json.Unmarshal(raw, &r) != nil {
				t.Fatalf("helper wrote no result (%v)\n%s", err, b)
			}
			if r.Kind != tc.kind || !strings.Contains(r.Headline, tc.says) || r.Action != "retry_environment" || r.NeedsCredentials {
				t.Errorf("the page got %+v, want kind %s saying %q", r, tc.kind, tc.says)
			}
			if !strings.Contains(r.Fix, "simulator") {
				t.Errorf("the fix does not offer the simulator meanwhile: %q", r.Fix)
			}
			if r.ListKind != tc.kind {
				t.Errorf("listCustomers meanwhile was refused with %q, want %q", r.ListKind, tc.kind)
			}
			if r.ScreenHeadline != r.Headline || r.ScreenFix != r.Fix || r.ScreenAction != "Try again" || r.SimButton != "Use the simulator meanwhile" {
				t.Errorf("the window shows headline %q, fix %q, buttons %q and %q; want the problem's headline and fix, Try again and the simulator",
					r.ScreenHeadline, r.ScreenFix, r.ScreenAction, r.SimButton)
			}
			if tc.mode == "locked" && (!r.Retried || r.RetriedTotal == 0) {
				t.Errorf("after unlocking, Try again did not start sandbox: %+v", r)
			}
			if tc.mode != "locked" && !strings.Contains(r.StillWaiting, "still not possible") {
				t.Errorf("Try again with nothing changed says %q, want that it is still not possible", r.StillWaiting)
			}
			t.Logf("%s: window ready %dms after start (helper run %s): %s | %s", tc.mode, r.OpenedMS, time.Since(start).Round(time.Millisecond), r.Headline, r.Fix)
		})
	}
}

func without(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestKeychainWindowHelper is not a test on its own: TestKeychainProblemsOpenTheWindow
// runs it in a prepared D-Bus session.
func TestKeychainWindowHelper(t *testing.T) {
	mode := os.Getenv(keychainHelperVar)
	if mode == "" {
		t.Skip("helper of TestKeychainProblemsOpenTheWindow")
	}
	t.Setenv("DISPLAY", os.Getenv(keychainHelperDisp))
	other, err := sim.Start(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	store := keychain.New(2 * time.Second)
	if mode == "locked" {
		// Store the sandbox credentials, then lock the keyring; the bus has
		// no display, so its unlock prompt cannot show.
		if err := store.Set("sandbox", keychain.Credentials{ClientID: other.ClientID, ClientSecret: other.ClientSecret}); err != nil {
			t.Fatal(err)
		}
		run(t, "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.secrets", "/org/freedesktop/secrets",
			"org.freedesktop.Secret.Service.Lock", "array:objpath:/org/freedesktop/secrets/collection/login")
	}
	cfg, err := config.LoadFrom(other.SandboxEnv().Lookup)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a := startAppConfig(t, cfg, sim.Options{}, store) // fails the test if the window does not open and load
	r := keychainWindowResult{OpenedMS: time.Since(start).Milliseconds()}
	var info struct {
		NeedsCredentials bool `json:"needs_credentials"`
		Problem          struct{ Kind, Headline, Fix, Action string }
	}
	a.js(`import("/contract.js").then((m) => m.call("info", {}))`, &info)
	r.Kind, r.Headline, r.Fix, r.Action, r.NeedsCredentials = info.Problem.Kind, info.Problem.Headline, info.Problem.Fix, info.Problem.Action, info.NeedsCredentials
	a.js(`import("/contract.js").then((m) => m.call("listCustomers", {page: 0, per_page: 25})).then(() => "listed", (e) => e.problem ? e.problem.kind : "no problem: " + e.message)`, &r.ListKind)
	a.waitJS(`document.querySelector('[data-testid="env-problem-headline"]')`, 10*time.Second)
	r.ScreenHeadline, r.ScreenFix = a.text("env-problem-headline"), a.text("env-problem-fix")
	r.ScreenAction, r.SimButton = a.text("env-problem-action"), a.text("env-problem-use-sim")
	a.shot("keychain-" + mode)
	if mode == "locked" {
		run(t, "sh", "-c", "printf "+helperKeyringPass+" | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null && sleep 0.5")
		a.click("env-problem-action")
		// The page reloads on sandbox and lists its customers.
		a.waitJS(`document.body.dataset.ready === "true" && document.querySelectorAll('[data-testid="customer-row"]').length > 0`, 20*time.Second)
		r.Retried = true
		a.js(`document.querySelectorAll('[data-testid="customer-row"]').length`, &r.RetriedTotal)
		a.shot("keychain-unlocked")
	} else {
		a.click("env-problem-action")
		a.waitJS(`document.querySelector('[data-testid="env-problem"] .lead')`, 10*time.Second)
		r.StillWaiting = a.text("env-problem")
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(os.Getenv(keychainHelperOut), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, b)
	}
}
