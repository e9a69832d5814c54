package session_test

// The end-to-end harness: the real app (session.Start + its real window) on
// the built-in simulator, under the display the test runs with (Xvfb in CI).
// Tests drive the real DOM with Eval and read results back through the app
// server (uitest.Page: nothing is bound into the page); the simulated Link runs in a cross-origin iframe, which the top
// frame drives through the simulator's test driver (postMessage). Outcomes
// are checked in the simulator's store, not only in the DOM. Screenshots of
// the whole screen go to $LINKDESK_ARTIFACTS/e2e (or a temp dir).

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/environment"
	"linkdesk/app/internal/uitest"
	"linkdesk/app/keychain"
	"linkdesk/app/session"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// windowWidth and windowHeight size the windows startApp opens (0: the
// app's default); a test that needs another size sets them first.
var windowWidth, windowHeight int

// app is one running linkdesk with its window.
type app struct {
	t     *testing.T
	s     *session.Session
	w     *ui.Window
	page  *uitest.Page
	shots string
	shotN int
	ran   <-chan struct{}
	logs  *syncBuffer
	// runtime is the session's runtime directory (the linkdesk:// hand-over).
	runtime string
}

// env is the app's current environment; sim its simulator.
func (a *app) env() *environment.Env {
	a.t.Helper()
	e, err := a.s.Env()
	if err != nil {
		a.t.Fatalf("no environment: %v", err)
	}
	return e
}

func (a *app) sim() *sim.Sim { return a.env().Target.Sim }

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startApp starts linkdesk on the simulator (with its test driver) and opens
// the window; cleanup closes both.
func startApp(t *testing.T, so sim.Options, before ...func(*session.Session)) *app {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		if k == "LINKDESK_ENVIRONMENT" {
			return "sim", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return startAppConfig(t, cfg, so, keychain.NewMemory(), before...)
}

// startAppConfig starts linkdesk with cfg and store (the simulator gets its
// test driver) and opens the window; cleanup closes both.
func startAppConfig(t *testing.T, cfg *config.Config, so sim.Options, store keychain.Store, before ...func(*session.Session)) *app {
	t.Helper()
	return startAppState(t, cfg, so, store, t.TempDir(), before...)
}

// startAppState is startAppConfig with the state directory (the journal's).
func startAppState(t *testing.T, cfg *config.Config, so sim.Options, store keychain.Store, stateDir string, before ...func(*session.Session)) *app {
	t.Helper()
	uitest.NeedDisplay(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	so.TestDriver = true
	runtime := t.TempDir()
	s, err := session.Start(cfg, "e2e", log, store, session.Options{Sim: so, StateDir: stateDir, Width: windowWidth, Height: windowHeight, RuntimeDir: runtime})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(s)
	}
	a := &app{t: t, s: s, logs: logs, runtime: runtime}
	a.shots = filepath.Join(uitest.ArtifactsDir(t), "e2e", t.Name())
	os.RemoveAll(a.shots)
	var openErr error
	uitest.OnMain(func() {
		a.w, openErr = s.OpenWindow(false)
		if openErr == nil {
			a.page = uitest.NewPage(a.w)
		}
	})
	if openErr != nil {
		s.Close()
		t.Fatal(openErr)
	}
	a.ran = uitest.Start(a.w.Run)
	t.Cleanup(func() {
		a.w.Terminate()
		select {
		case <-a.ran:
		case <-time.After(10 * time.Second):
			t.Error("the window did not stop within 10 s")
		}
		uitest.OnMain(func() { a.w.Close() })
		s.Close()
	})
	a.waitJS(`document.body && document.body.dataset.ready === "true"`, 20*time.Second)
	return a
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eval runs an async JavaScript expression in the page and returns its JSON
// value.
func (a *app) eval(expr string, timeout time.Duration) (json.RawMessage, error) {
	return a.page.Eval(expr, timeout)
}

// js evaluates expr and decodes its value into out (when non-nil); failures
// fail the test.
func (a *app) js(expr string, out any) {
	a.t.Helper()
	v, err := a.eval(expr, 10*time.Second)
	if err != nil {
		a.fatalf("eval %s: %v", short(expr), err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			a.fatalf("eval %s: decoding %s: %v", short(expr), v, err)
		}
	}
}

// waitJS waits until expr is truthy.
func (a *app) waitJS(expr string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		// Short: an eval sent before the page loaded is lost, not late.
		v, err := a.eval("!!("+expr+")", 1500*time.Millisecond)
		if err == nil && string(v) == "true" {
			return
		}
		if err != nil {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.fatalf("waited %s for %s (last error: %s)", timeout, short(expr), last)
}

// click clicks the app page's element with the test id.
func (a *app) click(testid string) {
	a.t.Helper()
	a.js(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); if (e.disabled) throw new Error(%q + " is disabled"); e.click(); return true; })()`, sel(testid), testid, testid), nil)
}

func sel(testid string) string { return `[data-testid="` + testid + `"]` }

// text returns the innerText of the app page's element with the test id.
func (a *app) text(testid string) string {
	a.t.Helper()
	var s string
	a.js(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null; })()`, sel(testid)), &s)
	return s
}

// link sends one test-driver command to the simulated Link iframe and
// returns its value.
func (a *app) link(action, selector string, value any) (json.RawMessage, error) {
	cmd := map[string]any{"action": action, "selector": selector, "value": value}
	if action == "popup" {
		cmd = map[string]any{"action": action, "command": value}
	}
	b, _ := json.Marshal(cmd)
	return a.eval(fmt.Sprintf(`new Promise((resolve, reject) => {
		const f = document.querySelector('iframe[id^="plaid-link-iframe"]');
		if (!f) return reject(new Error("no Link iframe"));
		const id = "d" + Math.random().toString(36).slice(2);
		const origin = new URL(f.src).origin;
		const timer = setTimeout(() => { window.removeEventListener("message", on); reject(new Error("the Link iframe did not answer")); }, 3000);
		function on(ev) {
			if (ev.origin !== origin || !ev.data || ev.data.type !== "linkdesk-sim-driver-result" || ev.data.id !== id) return;
			clearTimeout(timer); window.removeEventListener("message", on);
			ev.data.ok ? resolve(ev.data.value) : reject(new Error(ev.data.error));
		}
		window.addEventListener("message", on);
		f.contentWindow.postMessage(Object.assign({type: "linkdesk-sim-driver", id}, %s), origin);
	})`, b), 5*time.Second)
}

// popup sends one test-driver command to the bank's pop-up, through the
// Link iframe that opened it.
func (a *app) popup(action, selector string) (json.RawMessage, error) {
	b, _ := json.Marshal(map[string]any{"action": action, "selector": selector})
	return a.link("popup", "", json.RawMessage(b))
}

// inPopup waits until the bank's pop-up shows the element with the test id.
func (a *app) inPopup(testid string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		v, err := a.popup("exists", sel(testid))
		if err == nil && string(v) == "true" {
			return
		}
		last = err
		time.Sleep(150 * time.Millisecond)
	}
	a.fatalf("waited %s for %s in the bank pop-up (last error: %v)", timeout, testid, last)
}

// waitPopups waits until n pop-up windows are open.
func (a *app) waitPopups(n int, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if a.w.PopupCount() == n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.fatalf("waited %s for %d pop-up windows; %d are open", timeout, n, a.w.PopupCount())
}

// inLink waits until the Link iframe shows the element with the test id.
func (a *app) inLink(testid string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		v, err := a.link("exists", sel(testid), nil)
		if err == nil && string(v) == "true" {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	a.fatalf("waited %s for %s in Link (last error: %v)", timeout, testid, last)
}

func (a *app) linkClick(testid string) {
	a.t.Helper()
	a.inLink(testid, 10*time.Second)
	if _, err := a.link("click", sel(testid), nil); err != nil {
		a.fatalf("click %s in Link: %v", testid, err)
	}
}

func (a *app) linkFill(testid, value string) {
	a.t.Helper()
	a.inLink(testid, 10*time.Second)
	if _, err := a.link("fill", sel(testid), value); err != nil {
		a.fatalf("fill %s in Link: %v", testid, err)
	}
}

// readmeShots are the steps whose screenshots illustrate the README
// (test name/step → file in build/screenshots); `go tool task screenshots`
// takes them (LINKDESK_SCREENSHOTS=readme) and copies them there.
var readmeShots = map[string]string{
	"TestLinkAccountEndToEnd/waiting-for-link-token":                  "waiting-for-link-token.png",
	"TestLinkAccountEndToEnd/link-select-account":                     "link-select-account.png",
	"TestLinkAccountEndToEnd/linked":                                  "linked.png",
	"TestKeyboardOnlyDay/verified":                                    "keyboard-verified.png",
	"TestDarkTheme/dark":                                              "dark.png",
	"TestSwitchEnvironmentAndFirstRun/first-run":                      "first-run.png",
	"TestOAuthBankApprovedInPopup/bank-popup":                         "oauth-popup.png",
	"TestAttemptPanelBelongsToItsCustomer/carla-link-ready-elsewhere": "link-ready-elsewhere.png",
	"TestSimulatorPanelAndScenarioPicker/simulator-panel":             "simulator-panel.png",
	"TestNarrowWindow/900x600":                                        "900x600.png",
	"TestKeychainWindowHelper/keychain-locked":                        "keychain-locked.png",
}

// shot names a step worth a screenshot. Screenshots cost a paint and a
// fork, so a test run takes them only where they are wanted:
// LINKDESK_SCREENSHOTS=all takes every step's (in $LINKDESK_ARTIFACTS/e2e/
// <test>), =readme the README's (readmeShots, in $LINKDESK_ARTIFACTS/
// readme); by default none — a failing test always leaves one (fatalf).
func (a *app) shot(name string) {
	a.t.Helper()
	a.shotN++
	if uitest.StepShots() {
		a.capture(filepath.Join(a.shots, fmt.Sprintf("%02d-%s.png", a.shotN, name)))
	}
	if file, ok := readmeShots[a.t.Name()+"/"+name]; ok && uitest.ReadmeShots() {
		a.capture(filepath.Join(uitest.ArtifactsDir(a.t), "readme", file))
	}
}

// capture saves a screenshot of the whole display to file.
func (a *app) capture(file string) {
	a.t.Helper()
	// Let the page paint what the last step changed.
	time.Sleep(250 * time.Millisecond)
	uitest.Screenshot(a.t, file)
}

func (a *app) fatalf(format string, args ...any) {
	a.t.Helper()
	a.capture(filepath.Join(a.shots, fmt.Sprintf("%02d-failure.png", a.shotN+1)))
	a.t.Fatalf(format, args...)
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
