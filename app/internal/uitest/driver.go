package uitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/wait"
	"linkdesk/app/ui"
)

// Driver drives one window for a test: it evaluates script in the page
// (Page: nothing is bound into it), waits for what the page shows (package
// wait), clicks, fills and reads elements by their data-testid, drives the
// simulated Plaid Link in its cross-origin iframe and the bank's pop-up
// through the simulator's test driver (assets/plaidsim/sim-driver.js), and
// takes screenshots: the steps a test names when LINKDESK_SCREENSHOTS asks
// for them, and one whenever the test fails.
//
// A Driver belongs to one test; For gives the same window to another (a
// subtest of a test that shares its window). Its methods fail the test they
// belong to (Fatalf) and must be called from that test's goroutine.
type Driver struct {
	t    testing.TB
	w    *ui.Window
	page *Page
	run  *shared
}

// shared is what the Drivers of one window have in common.
type shared struct {
	mu     sync.Mutex
	dir    string // step and failure screenshots: <dir>/<test name>/NN-<step>.png
	n      map[string]int
	readme map[string]string
	failed map[string]bool // tests whose failure is on a screenshot already
	watch  map[string]bool // tests with a failure screenshot at their end
}

// DriverOptions configure NewDriver.
type DriverOptions struct {
	// Shots names the folder under ArtifactsDir that step and failure
	// screenshots go to ("e2e", say).
	Shots string
	// Readme maps "<test name>/<step>" to the file name of the README
	// screenshot the step makes when LINKDESK_SCREENSHOTS=readme (saved in
	// ArtifactsDir/readme).
	Readme map[string]string
}

// NewDriver returns a Driver of t for the window w, whose page p reaches
// (NewPage).
func NewDriver(t testing.TB, w *ui.Window, p *Page, o DriverOptions) *Driver {
	if o.Shots == "" {
		o.Shots = "windows"
	}
	d := &Driver{t: t, w: w, page: p, run: &shared{
		dir: filepath.Join(ArtifactsDir(t), o.Shots), n: map[string]int{}, readme: o.Readme,
		failed: map[string]bool{}, watch: map[string]bool{},
	}}
	d.watchFailure()
	return d
}

// For returns a Driver of t for the same window: a subtest's.
func (d *Driver) For(t testing.TB) *Driver {
	if t == d.t {
		return d
	}
	nd := &Driver{t: t, w: d.w, page: d.page, run: d.run}
	nd.watchFailure()
	return nd
}

// watchFailure takes a screenshot at the end of the test when it failed
// without one (t.Error, or a check outside the Driver): while the window is
// still up, since the window's own cleanup was registered before.
func (d *Driver) watchFailure() {
	d.run.mu.Lock()
	defer d.run.mu.Unlock()
	name := d.t.Name()
	if d.run.watch[name] {
		return
	}
	d.run.watch[name] = true
	d.t.Cleanup(func() {
		d.run.mu.Lock()
		taken := d.run.failed[name]
		d.run.mu.Unlock()
		if d.t.Failed() && !taken {
			d.failureShot()
		}
	})
}

// T is the test the Driver belongs to.
func (d *Driver) T() testing.TB { return d.t }

// Window is the window driven.
func (d *Driver) Window() *ui.Window { return d.w }

// Page is the window's page.
func (d *Driver) Page() *Page { return d.page }

// tries bounds the evaluations inside a wait: a script sent while a page
// loads is lost, not late, and is sent again after a short while; each
// time it goes unanswered the next may take twice as long, up to limit
// (a loaded machine answers late).
type tries struct{ next, limit time.Duration }

func newTries(limit time.Duration) *tries {
	return &tries{next: min(200*time.Millisecond, limit), limit: limit}
}

// try runs f with the time it has to answer; f reports whether it went
// unanswered.
func (t *tries) try(f func(within time.Duration) (unanswered bool)) {
	if f(t.next) {
		t.next = min(2*t.next, t.limit)
	}
}

// Eval runs the JavaScript expression expr (it may be a promise) in the
// page and returns its value as JSON, or why it has none.
func (d *Driver) Eval(expr string, timeout time.Duration) (json.RawMessage, error) {
	return d.page.Eval(expr, timeout)
}

// JS evaluates expr and decodes its value into out (when non-nil); an error
// fails the test.
func (d *Driver) JS(expr string, out any) {
	d.t.Helper()
	start := time.Now()
	v, err := d.page.Eval(expr, 10*time.Second)
	if tracing() {
		d.t.Logf("uitest: eval %s took %s", Short(expr), time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		d.Fatalf("eval %s: %v", Short(expr), err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			d.Fatalf("eval %s: decoding %s: %v", Short(expr), v, err)
		}
	}
}

// Until waits up to timeout for cond (see wait.Until) and fails the test,
// with a screenshot, saying what it waited for when the time runs out.
func (d *Driver) Until(timeout time.Duration, what string, cond func() (done bool, why error)) {
	d.t.Helper()
	start := time.Now()
	n := 0
	err := wait.Until(timeout, func() (bool, error) { n++; return cond() })
	if tracing() {
		d.t.Logf("uitest: waited %s for %s (%d checks)", time.Since(start).Round(time.Millisecond), Short(what), n)
	}
	if err != nil {
		d.Fatalf("waited for %s: %v", what, err)
	}
}

// WaitJS waits until the expression expr is truthy in the page.
func (d *Driver) WaitJS(expr string, timeout time.Duration) {
	d.t.Helper()
	ts := newTries(min(2*time.Second, timeout))
	d.Until(timeout, Short(expr), func() (done bool, why error) {
		ts.try(func(within time.Duration) bool {
			var v json.RawMessage
			v, why = d.page.Eval("!!("+expr+")", within)
			done = why == nil && string(v) == "true"
			return errors.Is(why, ErrNoAnswer)
		})
		return done, why
	})
}

// Sel is the CSS selector of the element with the data-testid.
func Sel(testid string) string { return `[data-testid="` + testid + `"]` }

// Click clicks the page's element with the test id; a missing or disabled
// one fails the test.
func (d *Driver) Click(testid string) {
	d.t.Helper()
	d.JS(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); if (e.disabled) throw new Error(%q + " is disabled"); e.click(); return true; })()`, Sel(testid), testid, testid), nil)
}

// Text returns the innerText of the page's element with the test id ("" when
// there is none).
func (d *Driver) Text(testid string) string {
	d.t.Helper()
	var s *string
	d.JS(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : null; })()`, Sel(testid)), &s)
	if s == nil {
		return ""
	}
	return *s
}

// Fill types value into the page's input with the test id as a user would
// leave it: the value set, then input and change events.
func (d *Driver) Fill(testid, value string) {
	d.t.Helper()
	d.JS(fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error("no element " + %q); e.focus(); e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, Sel(testid), testid, value), nil)
}

// Link sends one command to the simulated Plaid Link's test driver in the
// page's Link iframe and returns its value (see Page.Link).
func (d *Driver) Link(action, selector string, value any) (json.RawMessage, error) {
	return d.page.Link(action, selector, value)
}

// InLink waits until Link shows the element with the test id.
func (d *Driver) InLink(testid string, timeout time.Duration) {
	d.t.Helper()
	ts := newTries(3 * time.Second)
	d.Until(timeout, testid+" in Link", func() (done bool, why error) {
		ts.try(func(within time.Duration) bool {
			var v json.RawMessage
			v, why = d.page.link("exists", Sel(testid), nil, within)
			done = why == nil && string(v) == "true"
			return unanswered(why)
		})
		return done, why
	})
}

// unanswered reports whether err is the page or the Link iframe not
// answering (as opposed to an answer that says no).
func unanswered(err error) bool {
	return err != nil && (errors.Is(err, ErrNoAnswer) || strings.Contains(err.Error(), "did not answer"))
}

// LinkShows reports whether Link shows the element with the test id now,
// without waiting: false also when the Link iframe does not answer within
// half a second (it is loading another Link session, or gone).
func (d *Driver) LinkShows(testid string) bool {
	v, err := d.page.link("exists", Sel(testid), nil, 500*time.Millisecond)
	return err == nil && string(v) == "true"
}

// LinkClick waits for the element with the test id in Link and clicks it.
func (d *Driver) LinkClick(testid string) {
	d.t.Helper()
	d.InLink(testid, 10*time.Second)
	if _, err := d.page.Link("click", Sel(testid), nil); err != nil {
		d.Fatalf("click %s in Link: %v", testid, err)
	}
}

// LinkFill waits for the input with the test id in Link and types value.
func (d *Driver) LinkFill(testid, value string) {
	d.t.Helper()
	d.InLink(testid, 10*time.Second)
	if _, err := d.page.Link("fill", Sel(testid), value); err != nil {
		d.Fatalf("fill %s in Link: %v", testid, err)
	}
}

// LinkText waits for the element with the test id in Link and returns its
// innerText.
func (d *Driver) LinkText(testid string) string {
	d.t.Helper()
	d.InLink(testid, 10*time.Second)
	v, err := d.page.Link("text", Sel(testid), nil)
	if err != nil {
		d.Fatalf("text of %s in Link: %v", testid, err)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		d.Fatalf("text of %s in Link: %s: %v", testid, v, err)
	}
	return s
}

// Popup sends one test-driver command to the bank's pop-up, through the
// Link iframe that opened it.
func (d *Driver) Popup(action, selector string) (json.RawMessage, error) {
	return d.page.Popup(action, selector)
}

// InPopup waits until the bank's pop-up shows the element with the test id.
func (d *Driver) InPopup(testid string, timeout time.Duration) {
	d.t.Helper()
	ts := newTries(3 * time.Second)
	d.Until(timeout, testid+" in the bank's pop-up", func() (done bool, why error) {
		ts.try(func(within time.Duration) bool {
			var v json.RawMessage
			v, why = d.page.popup("exists", Sel(testid), within)
			done = why == nil && string(v) == "true"
			return unanswered(why)
		})
		return done, why
	})
}

// WaitPopups waits until n pop-up windows are open.
func (d *Driver) WaitPopups(n int, timeout time.Duration) {
	d.t.Helper()
	d.Until(timeout, fmt.Sprintf("%d pop-up windows", n), func() (bool, error) {
		got := d.w.PopupCount()
		return got == n, fmt.Errorf("%d are open", got)
	})
}

// Navigate loads rawURL in the window as the user would (typing it: no
// page started the navigation).
func (d *Driver) Navigate(rawURL string) {
	d.w.Dispatch(func() { d.w.View.Navigate(rawURL) })
}

// Exec runs the script js in whatever page the window shows, without an
// answer: for a page of another origin, which cannot reach the app server
// that Eval's answers go to. A script sent while a page loads is lost.
func (d *Driver) Exec(js string) {
	d.w.Dispatch(func() { d.w.Eval(js) })
}

// Shot names a step worth a screenshot. Screenshots cost a paint and a
// fork, so a test run takes them only where they are wanted:
// LINKDESK_SCREENSHOTS=all takes every step's (in ArtifactsDir/<Shots>/
// <test>), =readme the README's (DriverOptions.Readme, in ArtifactsDir/
// readme); by default none, but a failing test's.
func (d *Driver) Shot(name string) {
	d.t.Helper()
	n := d.next()
	if StepShots() {
		d.Capture(filepath.Join(d.run.dir, d.t.Name(), fmt.Sprintf("%02d-%s.png", n, name)))
	}
	if file, ok := d.run.readme[d.t.Name()+"/"+name]; ok && ReadmeShots() {
		d.Capture(filepath.Join(ArtifactsDir(d.t), "readme", file))
	}
}

func (d *Driver) next() int {
	d.run.mu.Lock()
	defer d.run.mu.Unlock()
	d.run.n[d.t.Name()]++
	return d.run.n[d.t.Name()]
}

// Capture saves a screenshot of the whole display to file, once the page
// has painted what the last step changed.
func (d *Driver) Capture(file string) {
	d.t.Helper()
	time.Sleep(250 * time.Millisecond)
	Screenshot(d.t, file)
}

// Fatalf fails the test with a screenshot of the display.
func (d *Driver) Fatalf(format string, args ...any) {
	d.t.Helper()
	d.failureShot()
	d.t.Fatalf(format, args...)
}

func (d *Driver) failureShot() {
	d.t.Helper()
	d.run.mu.Lock()
	d.run.failed[d.t.Name()] = true
	d.run.mu.Unlock()
	file := filepath.Join(d.run.dir, d.t.Name(), fmt.Sprintf("%02d-failure.png", d.next()))
	d.Capture(file)
	d.t.Logf("screenshot of the failure: %s", file)
}

// Short is s on one line, cut to 120 characters: a script in a message.
func Short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// TraceVar, set to 1, makes every wait and evaluation of a Driver log how
// long it took: where a window test's time goes.
const TraceVar = "LINKDESK_UITEST_TRACE"

func tracing() bool { return os.Getenv(TraceVar) == "1" }
