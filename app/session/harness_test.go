package session_test

// The end-to-end harness: the real app (session.Start + its real window) on
// the built-in simulator, under the display the test runs with (Xvfb in CI),
// driven through uitest's Driver, the one harness of the real-window tests.
// Tests drive the real DOM with Eval and read results back through the app
// server (uitest.Page: nothing is bound into the page); the simulated Link
// runs in a cross-origin iframe, which the top frame drives through the
// simulator's test driver (postMessage). Outcomes are checked in the
// simulator's store, not only in the DOM. Screenshots of the whole screen go
// to $LINKDESK_ARTIFACTS/e2e (or a temp dir): a failing test's always, the
// others' when LINKDESK_SCREENSHOTS asks. Tests that need only a running
// linkdesk share one (shared_test.go).

import (
	"encoding/json"
	"io"
	"log/slog"
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

// app is one running linkdesk with its window, as one test sees it: the
// methods drive the window through uitest's Driver (the one harness of the
// real-window tests) for that test. A test whose subtests share the app
// gives each its view with in.
type app struct {
	t    *testing.T
	s    *session.Session
	w    *ui.Window
	drv  *uitest.Driver
	logs *syncBuffer
	// runtime is the session's runtime directory (the linkdesk:// hand-over).
	runtime string
	// browser stands in for the system browser (Navigation.OpenExternal)
	// of an app started with it (startSharedApp).
	browser *browserStandIn
	// pool hands out the customers of a shared app's subtests; logMark is
	// where the test's part of the log begins (fresh).
	pool    *customerPool
	logMark int
}

// in is the app as the subtest t sees it: its failures and screenshots are
// t's.
func (a *app) in(t *testing.T) *app {
	b := *a
	b.t = t
	b.drv = a.drv.For(t)
	return &b
}

// ui is the window's Driver for the app's test.
func (a *app) ui() *uitest.Driver { return a.drv }

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
	t.Cleanup(s.Close) // after the window's (uitest.Open)
	for _, f := range before {
		f(s)
	}
	return openApp(t, s, logs, runtime)
}

// openApp opens s's window and waits for its page to be ready.
func openApp(t *testing.T, s *session.Session, logs *syncBuffer, runtime string) *app {
	t.Helper()
	d := uitest.Open(t, func() (*ui.Window, error) { return s.OpenWindow(false) }, uitest.DriverOptions{Shots: "e2e", Readme: readmeShots})
	a := &app{t: t, s: s, w: d.Window(), drv: d, logs: logs, runtime: runtime}
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
	return a.drv.Eval(expr, timeout)
}

// js evaluates expr and decodes its value into out (when non-nil); failures
// fail the test.
func (a *app) js(expr string, out any) {
	a.t.Helper()
	a.drv.JS(expr, out)
}

// waitJS waits until expr is truthy.
func (a *app) waitJS(expr string, timeout time.Duration) {
	a.t.Helper()
	a.drv.WaitJS(expr, timeout)
}

// until waits for cond (see wait.Until); on a timeout the test fails with
// a screenshot, saying what it waited for.
func (a *app) until(timeout time.Duration, what string, cond func() (bool, error)) {
	a.t.Helper()
	a.drv.Until(timeout, what, cond)
}

// click clicks the app page's element with the test id.
func (a *app) click(testid string) {
	a.t.Helper()
	a.drv.Click(testid)
}

func sel(testid string) string { return uitest.Sel(testid) }

// text returns the innerText of the app page's element with the test id.
func (a *app) text(testid string) string {
	a.t.Helper()
	return a.drv.Text(testid)
}

// fill types value into the page's input with the test id.
func (a *app) fill(testid, value string) {
	a.t.Helper()
	a.drv.Fill(testid, value)
}

// link sends one test-driver command to the simulated Link iframe and
// returns its value.
func (a *app) link(action, selector string, value any) (json.RawMessage, error) {
	return a.drv.Link(action, selector, value)
}

// popup sends one test-driver command to the bank's pop-up, through the
// Link iframe that opened it.
func (a *app) popup(action, selector string) (json.RawMessage, error) {
	return a.drv.Popup(action, selector)
}

// inPopup waits until the bank's pop-up shows the element with the test id.
func (a *app) inPopup(testid string, timeout time.Duration) {
	a.t.Helper()
	a.drv.InPopup(testid, timeout)
}

// waitPopups waits until n pop-up windows are open.
func (a *app) waitPopups(n int, timeout time.Duration) {
	a.t.Helper()
	a.drv.WaitPopups(n, timeout)
}

// inLink waits until the Link iframe shows the element with the test id.
func (a *app) inLink(testid string, timeout time.Duration) {
	a.t.Helper()
	a.drv.InLink(testid, timeout)
}

func (a *app) linkClick(testid string) {
	a.t.Helper()
	a.drv.LinkClick(testid)
}

func (a *app) linkFill(testid, value string) {
	a.t.Helper()
	a.drv.LinkFill(testid, value)
}

func (a *app) linkText(testid string) string {
	a.t.Helper()
	return a.drv.LinkText(testid)
}

// closeLink leaves Link with its close button, confirming when Link asks.
func (a *app) closeLink() {
	a.t.Helper()
	a.linkClick("close")
	// Link closes at once (before the customer chose a bank) or asks
	// whether to leave. Once it has closed, the page may be loading the
	// next Link in the iframe, which answers nothing meanwhile: the iframe
	// is asked only while Link is on screen (asking it regardless cost 3 s
	// a time, a fifth of the QA scenarios' run).
	var confirm bool
	a.until(10*time.Second, "Link to close, or to ask whether to leave", func() (bool, error) {
		if !a.linkIframeShown() {
			return true, nil
		}
		confirm = a.drv.LinkShows("exit-confirm")
		return confirm, nil
	})
	if confirm {
		a.linkClick("exit-confirm")
	}
}

// readmeShots are the steps whose screenshots illustrate the README
// (test name/step → file in build/screenshots); `go tool task screenshots`
// takes them (LINKDESK_SCREENSHOTS=readme) and copies them there.
var readmeShots = map[string]string{
	"TestTheDeskOnTheSimulator/LinkAccountEndToEnd/waiting-for-link-token":                              "waiting-for-link-token.png",
	"TestTheDeskOnTheSimulator/LinkAccountEndToEnd/link-select-account":                                 "link-select-account.png",
	"TestTheDeskOnTheSimulator/LinkAccountEndToEnd/linked":                                              "linked.png",
	"TestTheDeskOnTheSimulator/KeyboardOnlyDay/verified":                                                "keyboard-verified.png",
	"TestTheDeskOnTheSimulator/DarkTheme/dark":                                                          "dark.png",
	"TestSwitchEnvironmentAndFirstRun/first-run":                                                        "first-run.png",
	"TestOAuthBanksInTheWindow/BankApprovedInPopup/bank-popup":                                          "oauth-popup.png",
	"TestTheDeskOnTheSimulator/AttemptPanelBelongsToItsCustomer/mid-attempt/carla-link-ready-elsewhere": "link-ready-elsewhere.png",
	"TestTheDeskOnTheSimulator/SimulatorPanelAndScenarioPicker/simulator-panel":                         "simulator-panel.png",
	"TestNarrowWindow/900x600":                                                                          "900x600.png",
	"TestKeychainWindowHelper/keychain-locked":                                                          "keychain-locked.png",
}

// shot names a step worth a screenshot (uitest.Driver.Shot): taken only
// when LINKDESK_SCREENSHOTS asks, or for the README (readmeShots).
func (a *app) shot(name string) {
	a.t.Helper()
	a.drv.Shot(name)
}

// fatalf fails the test with a screenshot.
func (a *app) fatalf(format string, args ...any) {
	a.t.Helper()
	a.drv.Fatalf(format, args...)
}

func short(s string) string { return uitest.Short(s) }
