// Package uitest helps tests that open real windows: GTK must be driven from
// the main OS thread, and the display may be missing.
//
// In a test package that opens windows:
//
//	func TestMain(m *testing.M) { uitest.Main(m) }
//
// then open a window with uitest.Open, which runs it and returns a Driver:
// the one harness of linkdesk's real-window tests (eval, waits, clicks, the
// simulated Plaid Link and the bank's pop-up, screenshots). Underneath,
// windows are created and destroyed inside uitest.OnMain and run with
// uitest.Start.
package uitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/ui"
)

var queue = make(chan func())

// Main runs the tests in another goroutine and serves OnMain's queue on the
// main OS thread (webview_go locks the main goroutine to it), then exits
// with the tests' code.
//
// When a display is set and Xvfb is installed, the package's windows open
// on an Xvfb display of its own (1280×800, as build/scripts/with-desktop.sh
// starts): the windows of packages tested at the same time would otherwise
// cover each other and take each other's keyboard focus (seen: app/ui's
// hosted-return page over the session's window while it checked the focus
// ring, which a window without focus does not draw). ShowVar=1 keeps the
// display set, to watch the tests run.
//
// Xvfb has no GPU: there WebKit's accelerated compositing draws through
// Mesa's software OpenGL, which doubled the web process's CPU time in the
// session's window tests (24 s of user time against 12–14 s for the same
// tests). On the private display pages are painted without it
// (WEBKIT_DISABLE_COMPOSITING_MODE), as WebKit does where no GL is usable.
func Main(m *testing.M) {
	if ui.CheckDisplay() == nil && os.Getenv(ShowVar) != "1" {
		if name, stop, err := testneeds.StartXvfb(1280, 800); err == nil {
			os.Setenv("DISPLAY", name)
			os.Unsetenv("WAYLAND_DISPLAY")
			os.Setenv("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
			code := run(m)
			stop()
			os.Exit(code)
		}
	}
	os.Exit(run(m))
}

// ShowVar, set to 1, opens the test windows on the display the tests were
// started with rather than on a private Xvfb display.
const ShowVar = "LINKDESK_UITEST_SHOW"

// run runs the tests as Main says and returns their code.
func run(m *testing.M) int {
	done := make(chan int, 1)
	go func() { done <- m.Run() }()
	for {
		select {
		case f := <-queue:
			f()
		case code := <-done:
			return code
		}
	}
}

// OnMain runs f on the main thread and waits for it.
func OnMain(f func()) {
	ch := make(chan struct{})
	queue <- func() { defer close(ch); f() }
	<-ch
}

// Start runs f (typically a window's Run loop) on the main thread without
// waiting; the returned channel closes when f returns.
func Start(f func()) <-chan struct{} {
	ch := make(chan struct{})
	go func() { queue <- func() { defer close(ch); f() } }()
	return ch
}

// Open opens a window on the main thread with open (ui.Open, or a
// session's OpenWindow), gives its page a Page, runs its loop and returns a
// Driver of t for it. When t ends the window stops and is closed; cleanups
// the caller registered before Open run after that (a session's Close).
func Open(t testing.TB, open func() (*ui.Window, error), o DriverOptions) *Driver {
	t.Helper()
	NeedDisplay(t)
	var w *ui.Window
	var p *Page
	var err error
	OnMain(func() {
		if w, err = open(); err == nil {
			p = NewPage(w)
		}
	})
	if err != nil {
		t.Fatalf("opening the window: %v", err)
	}
	ran := Start(w.Run)
	t.Cleanup(func() {
		w.Terminate()
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Error("the window did not stop within 10 s")
		}
		OnMain(w.Close)
	})
	return NewDriver(t, w, p, o)
}

// NeedDisplay skips the test without a display, or fails it when
// LINKDESK_REQUIRE_DISPLAY=1 (as CI sets).
func NeedDisplay(t testing.TB) {
	t.Helper()
	if err := ui.CheckDisplay(); err != nil {
		testneeds.Missing(t, testneeds.Display, "no display (run under Xvfb, e.g. `go tool task test`): %v", err)
	}
}

// ArtifactsDir is where tests save screenshots: $LINKDESK_ARTIFACTS, else a
// temporary directory.
func ArtifactsDir(t testing.TB) string {
	if d := os.Getenv("LINKDESK_ARTIFACTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// Screenshot saves the whole display to file with ImageMagick's import.
// ScreenshotsVar chooses the screenshots a test run takes: "all" (every
// step's), "readme" (the README's), or unset (none but a failing test's).
// Screenshots cost a paint and a fork each; CI takes only failures'.
const ScreenshotsVar = "LINKDESK_SCREENSHOTS"

// StepShots reports whether every step's screenshot is wanted.
func StepShots() bool { return os.Getenv(ScreenshotsVar) == "all" }

// ReadmeShots reports whether the README's screenshots are wanted.
func ReadmeShots() bool { return os.Getenv(ScreenshotsVar) == "readme" }

func Screenshot(t testing.TB, file string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Error(err)
		return
	}
	if out, err := exec.Command("import", "-window", "root", file).CombinedOutput(); err != nil {
		t.Errorf("screenshot %s: %v: %s", file, err, out)
	}
}
