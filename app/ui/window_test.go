package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/internal/uitest"
	"linkdesk/app/ui"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// A page that calls Go the way contract.js does (a same-origin POST with the
// per-launch secret) and keeps what happened in window.got.
const callsPage = `<!doctype html>
<meta name="s" content="{{.Secret}}">
<script>
const secret = document.querySelector('meta[name="s"]').content;
async function call(method, params, s = secret) {
  const r = await fetch("/call/" + method, {method: "POST", headers: {"Content-Type": "application/json", "X-Linkdesk-Secret": s}, body: JSON.stringify(params)});
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error) || r.status);
  return body;
}
let ticks = 0; setInterval(() => ticks++, 50);
window.pushed = [];
window.linkdesk = { push(m) { window.pushed.push(m); } };
window.run = async () => {
  const got = {}, order = [];
  const t0 = ticks;
  const slow = call("slow", {}).then(v => order.push("slow:" + v));
  const fast = call("fast", {}).then(v => order.push("fast:" + v));
  await Promise.all([slow, fast]);
  got.order = order.join(",");
  got.ticks = ticks - t0;
  got.boom = await call("boom", {}).then(() => "resolved", e => String(e));
  got.afterPanic = await call("fast", {}).then(String, e => String(e));
  got.foreign = await call("fast", {}, "not-the-secret").then(() => "resolved", e => String(e));
  got.unknown = await call("nope", {}).then(() => "resolved", e => String(e));
  got.echo = await call("echo", {a: 1}).then(v => JSON.stringify(v), e => String(e));
  got.tooBig = await call("echo", {a: "x".repeat(70000)}).then(() => "resolved", e => String(e));
  return got;
};
</script>`

// The page's calls run on server goroutines: a slow one never holds the
// window, a panic is answered as an error and the app goes on, calls without
// the secret or too large are refused (before their body is read), and a
// push reaches the page as JSON.
func TestCallsNeverBlockTheWindowAndSurvivePanics(t *testing.T) {
	uitest.NeedDisplay(t)
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	srv, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte(callsPage)}}, ui.PageConfig{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetCalls(ui.Calls{MaxParams: 64 << 10, Serve: func(ctx context.Context, method string, params []byte) (any, error) {
		switch method {
		case "slow":
			time.Sleep(1500 * time.Millisecond)
			return "s", nil
		case "fast":
			return "f", nil
		case "boom":
			panic("kaboom")
		case "echo":
			return json.RawMessage(params), nil
		}
		return nil, fmt.Errorf("%w %q", ui.ErrUnknownCall, method)
	}})
	d := uitest.Open(t, func() (*ui.Window, error) {
		return ui.Open(ui.WindowOptions{Title: "calls test", Server: srv, Logger: log})
	}, uitest.DriverOptions{})
	d.WaitJS(`typeof window.run === "function"`, 20*time.Second)
	raw, err := d.Eval(`window.run()`, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Order, Boom, AfterPanic, Foreign, Unknown, Echo, TooBig string
		Ticks                                                   int
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	// The fast call answered while the slow one was still running, and the
	// page's timers kept running during the 1.5 s call (≈30 ticks).
	if got.Order != "fast:f,slow:s" {
		t.Errorf("completion order = %q, want fast before slow", got.Order)
	}
	if got.Ticks < 15 {
		t.Errorf("page timer ticked %d times during a 1.5 s call; the window was blocked", got.Ticks)
	}
	if !strings.Contains(got.Boom, "internal error") {
		t.Errorf("a panicking call → %q, want an error saying internal error", got.Boom)
	}
	if got.AfterPanic != "f" {
		t.Errorf("after a panic the next call → %q; the app should keep working", got.AfterPanic)
	}
	if !strings.Contains(got.Foreign, "refused") {
		t.Errorf("a call without the session secret → %q, want refused", got.Foreign)
	}
	if !strings.Contains(got.Unknown, "unknown call") {
		t.Errorf("an unknown call → %q", got.Unknown)
	}
	if got.Echo != `{"a":1}` {
		t.Errorf("echo → %q", got.Echo)
	}
	if !strings.Contains(got.TooBig, "refused") {
		t.Errorf("a 70 KB call → %q, want refused", got.TooBig)
	}

	// Go → page: a push arrives as the JSON it was, whatever it holds.
	nasty := map[string]any{"type": "x", "text": "\";alert(1)//</script>\u2028"}
	d.Window().Push(nasty)
	d.WaitJS(`window.pushed.length > 0`, 5*time.Second)
	var back map[string]any
	d.JS(`window.pushed[0]`, &back)
	if back["text"] != nasty["text"] {
		t.Errorf("pushed %q, the page got %q", nasty["text"], back["text"])
	}

	logMu.Lock()
	l := logs.String()
	logMu.Unlock()
	if !strings.Contains(l, "panic") || !strings.Contains(l, "kaboom") {
		t.Error("the panic was not logged")
	}
	if !strings.Contains(l, "refused a page call") || !strings.Contains(l, "no session secret") {
		t.Errorf("the refused call was not logged:\n%s", l)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Pushes may come after the window is gone (an environment closing at exit
// reports its last timeline notes): they are dropped, not sent to a freed
// web view (which crashed the process).
func TestPushAfterCloseIsDropped(t *testing.T) {
	uitest.NeedDisplay(t)
	log := slog.New(slog.DiscardHandler)
	srv, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>x</title>")}}, ui.PageConfig{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var w *ui.Window
	uitest.OnMain(func() { w, err = ui.Open(ui.WindowOptions{Title: "closed window", Server: srv, Logger: log}) })
	if err != nil {
		t.Fatal(err)
	}
	ran := uitest.Start(w.Run)
	w.Terminate()
	<-ran
	uitest.OnMain(w.Close)
	for i := 0; i < 100; i++ {
		w.Push(map[string]any{"type": "timeline", "n": i})
	}
	if n := w.PopupCount(); n != 0 {
		t.Errorf("a closed window counts %d pop-ups", n)
	}
	// The main loop runs again (another window would run it): nothing
	// queued before Close may touch the freed view.
	uitest.OnMain(func() {})
}
