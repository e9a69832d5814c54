package ui_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/desk"
	"linkdesk/app/internal/uitest"
	"linkdesk/app/ui"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// A page that exercises the bridge the way app.js does and reports what
// happened through document.title-free means: a bound "report" function.
const bridgePage = `<!doctype html>
<meta name="s" content="{{.Secret}}">
<script>
const secret = document.querySelector('meta[name="s"]').content;
const pending = new Map(); let seq = 0;
window.linkdesk = { deliver(m) { const p = pending.get(m.id); if (!p) return; pending.delete(m.id); m.ok ? p.res(m.value) : p.rej(m.error); }, push(m) { report("push", JSON.stringify(m)); } };
function rpc(method, params, s = secret) {
  const id = "c" + (++seq);
  return new Promise((res, rej) => { pending.set(id, {res, rej}); window.linkdesk_rpc(s, id, method, params).catch(e => { pending.delete(id); rej("refused:" + e); }); });
}
let ticks = 0; setInterval(() => ticks++, 50);
window.run = async () => {
  const order = [];
  const t0 = ticks;
  const slow = rpc("slow", {}).then(v => order.push("slow:" + v));
  const fast = rpc("fast", {}).then(v => order.push("fast:" + v));
  await Promise.all([slow, fast]);
  report("order", order.join(","));
  report("ticks", String(ticks - t0));
  await rpc("boom", {}).then(v => report("boom", "resolved"), e => report("boom", String(e)));
  await rpc("fast", {}).then(v => report("after-panic", String(v)));
  await rpc("fast", {}, "not-the-secret").then(v => report("foreign", "resolved"), e => report("foreign", String(e)));
  await rpc("nope", {}).then(v => report("unknown", "resolved"), e => report("unknown", String(e)));
  report("done", "");
};
</script>`

func TestBridgeNeverBlocksTheWindowAndSurvivesPanics(t *testing.T) {
	uitest.NeedDisplay(t)
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	srv, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte(bridgePage)}}, ui.PageConfig{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	methods := map[string]desk.Method{
		"slow": func(ctx context.Context, _ json.RawMessage) (any, error) {
			time.Sleep(1500 * time.Millisecond)
			return "s", nil
		},
		"fast": func(ctx context.Context, _ json.RawMessage) (any, error) { return "f", nil },
		"boom": func(ctx context.Context, _ json.RawMessage) (any, error) { panic("kaboom") },
	}
	reports := make(chan [2]string, 100)
	var w *ui.Window
	uitest.OnMain(func() {
		w, err = ui.Open(ui.WindowOptions{Title: "bridge test", Methods: methods, Server: srv, Logger: log})
		if err == nil {
			err = w.View.Bind("report", func(k, v string) { reports <- [2]string{k, v} })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ran := uitest.Start(w.Run)
	defer func() {
		w.Terminate()
		<-ran
		uitest.OnMain(w.Close)
	}()
	// Wait for the page, then run the script.
	got := map[string]string{}
	deadline := time.After(20 * time.Second)
	started := false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for got["done"] == "" {
		select {
		case r := <-reports:
			got[r[0]] = r[1]
			if r[0] == "done" {
				got["done"] = "yes"
			}
		case <-tick.C:
			if !started {
				w.Dispatch(func() {
					w.Eval(`window.run && (window.__started || (window.__started = true, window.run(), report("started", "")))`)
				})
			}
		case <-deadline:
			t.Fatalf("the page did not finish; reports so far: %v", got)
		}
		if _, ok := got["started"]; ok {
			started = true
		}
	}
	// The fast call answered while the slow one was still running: the
	// bound function returned at once and did not hold the UI thread.
	if got["order"] != "fast:f,slow:s" {
		t.Errorf("completion order = %q, want fast before slow", got["order"])
	}
	// The page's timers kept running during the 1.5 s call (≈30 ticks).
	if n := atoi(got["ticks"]); n < 15 {
		t.Errorf("page timer ticked %d times during a 1.5 s call; the window was blocked", n)
	}
	if !strings.Contains(got["boom"], "internal error") {
		t.Errorf("a panicking call → %q, want a rejected promise saying internal error", got["boom"])
	}
	if got["after-panic"] != "f" {
		t.Errorf("after a panic the next call → %q; the app should keep working", got["after-panic"])
	}
	if !strings.Contains(got["foreign"], "refused") {
		t.Errorf("a call without the session secret → %q, want refused", got["foreign"])
	}
	if !strings.Contains(got["unknown"], "unknown call") {
		t.Errorf("an unknown call → %q", got["unknown"])
	}
	logMu.Lock()
	l := logs.String()
	logMu.Unlock()
	if !strings.Contains(l, "panic") || !strings.Contains(l, "kaboom") {
		t.Error("the panic was not logged")
	}
	if !strings.Contains(l, "refused a call without the session secret") {
		t.Error("the refused call was not logged")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
