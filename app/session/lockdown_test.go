package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/wait"
	"linkdesk/app/session"
	"linkdesk/app/sim"
)

// foreignSite is a page on another origin that reports, to its own server,
// that it ran.
type foreignSite struct {
	*httptest.Server
	mu      sync.Mutex
	reports []string
}

func newForeignSite(t *testing.T) *foreignSite {
	f := &foreignSite{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/report" {
			f.mu.Lock()
			f.reports = append(f.reports, r.URL.Query().Get("v"))
			f.mu.Unlock()
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>not linkdesk</title><body>foreign page<script>
const say = (v) => fetch("/report?v=" + encodeURIComponent(v));
say("binding:" + typeof window.linkdesk_rpc);
if (typeof window.linkdesk_rpc === "function") {
  window.linkdesk_rpc("guessed-secret", "x1", "listCustomers", {}).then(() => say("accepted"), (e) => say("rejected:" + e));
}
</script>`)
	}))
	t.Cleanup(f.Close)
	return f
}

// The main view never leaves linkdesk, Plaid and the redirect URI.
func TestMainViewStaysOnLinkdesk(t *testing.T) {
	site := newForeignSite(t)
	opened := make(chan string, 4)
	a := startApp(t, sim.Options{}, func(s *session.Session) {
		s.Navigation.OpenExternal = func(u string) error { opened <- u; return nil }
	})
	var origin string
	a.js(`location.origin`, &origin)
	stays := func(what string) {
		t.Helper()
		var now string
		a.js(`location.origin`, &now)
		if now != origin {
			t.Fatalf("%s: the main view navigated to %s", what, now)
		}
		site.mu.Lock()
		n := len(site.reports)
		site.mu.Unlock()
		if n != 0 {
			t.Fatalf("%s: the foreign page ran in the main view (%d reports)", what, n)
		}
	}
	// An navigation the user started (WebKit counts the window's own script
	// calls as such) opens in the system browser instead.
	a.eval(fmt.Sprintf(`(location.href = %q, true)`, site.URL+"/user"), 2*time.Second)
	select {
	case u := <-opened:
		if u != site.URL+"/user" {
			t.Errorf("opened %s in the browser, want %s/user", u, site.URL)
		}
	case <-time.After(5 * time.Second):
		t.Error("a user's navigation away from linkdesk did not open the system browser")
	}
	stays("user navigation")
	// A page script navigating on its own (no user gesture) is just blocked.
	a.js(fmt.Sprintf(`(setTimeout(() => { location.href = %q }, 1500), true)`, site.URL+"/script"), nil)
	// linkdesk logs the navigation it blocked; then the view must still be
	// on linkdesk.
	blocked := wait.Until(10*time.Second, func() (bool, error) {
		for _, l := range strings.Split(a.logs.String(), "\n") {
			if strings.Contains(l, "blocked a navigation away from linkdesk") && strings.Contains(l, site.URL+"/script") {
				return true, nil
			}
		}
		return false, nil
	})
	stays("script navigation")
	if blocked != nil {
		t.Error("the blocked script navigation was not logged")
	}
	select {
	case u := <-opened:
		t.Errorf("a script navigation (no gesture) opened the browser at %s", u)
	default:
	}
}

// The page's Content-Security-Policy is sent and blocks an inline script
// injected into the page.
func cspBlocksInjectedInlineScript(a *app) {
	t := a.t
	var csp string
	a.js(`fetch("/").then(r => r.headers.get("content-security-policy"))`, &csp)
	for _, want := range []string{"default-src 'self'", "script-src 'self' " + a.sim().PlaidURL + "/link/v2/stable/link-initialize.js", "frame-src " + a.sim().PlaidURL + "/", "object-src 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "'unsafe-inline'") && strings.Contains(strings.Split(strings.Split(csp, "script-src")[1], ";")[0], "unsafe-inline") {
		t.Errorf("CSP allows inline scripts: %q", csp)
	}
	var res struct {
		Ran      bool   `json:"ran"`
		Violated string `json:"violated"`
	}
	a.js(`new Promise((resolve) => {
		let violated = "";
		document.addEventListener("securitypolicyviolation", (e) => { violated = e.violatedDirective; });
		const s = document.createElement("script");
		s.textContent = "window.__injected = true";
		document.body.append(s);
		setTimeout(() => resolve({ ran: window.__injected === true, violated }), 300);
	})`, &res)
	if res.Ran {
		t.Error("an injected inline script ran")
	}
	if !strings.HasPrefix(res.Violated, "script-src") {
		t.Errorf("no script-src violation was reported (got %q)", res.Violated)
	}
}
