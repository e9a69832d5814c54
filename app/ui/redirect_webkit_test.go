package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/internal/uitest"
	"linkdesk/app/internal/wait"
	"linkdesk/app/ui"
)

// origin is rawURL's scheme://host[:port].
func origin(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Scheme + "://" + u.Host
}

// tapped is one request a browser made to the redirect URI, as the tap saw it.
type tapped struct {
	method, site, mode, dest, user, origin string
	status                                 int
}

// redirectTap is a transparent reverse proxy in front of the redirect
// server: it records the headers WebKit sends and the status the redirect
// server answers, per request kind (the k query parameter).
type redirectTap struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]tapped
}

func newRedirectTap(t *testing.T, redirectURI string) *redirectTap {
	target, _ := url.Parse(redirectURI)
	target.Host = "127.0.0.1:" + target.Port()
	target.Path = ""
	tap := &redirectTap{seen: map[string]tapped{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ModifyResponse: func(resp *http.Response) error {
			r := resp.Request
			tap.mu.Lock()
			tap.seen[r.URL.Query().Get("k")] = tapped{r.Method, r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Sec-Fetch-Mode"),
				r.Header.Get("Sec-Fetch-Dest"), r.Header.Get("Sec-Fetch-User"), r.Header.Get("Origin"), resp.StatusCode}
			tap.mu.Unlock()
			return nil
		},
	}
	tap.Server = httptest.NewServer(rp)
	t.Cleanup(tap.Close)
	// Reached as localhost: another site than the attacker's 127.0.0.1.
	tap.URL = strings.Replace(tap.URL, "127.0.0.1", "localhost", 1) + target.Path + "/oauth/return"
	return tap
}

func (tap *redirectTap) get(kind string) (tapped, bool) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	r, ok := tap.seen[kind]
	return r, ok
}

// A page of another site open in a real WebKit view (WebKitGTK, as in
// linkdesk's own window but without the native layer that would intercept
// the redirect URI) loads the redirect URI as an image, script, style sheet,
// frame, with fetch (no-cors, cors, POST), sendBeacon and a form POST: none
// reaches the callback. A top-level navigation to it — which is what the
// bank's return is — does, and the callback's verdict is what the browser
// shows.
func TestRedirectInWebKitOnlyATopLevelVisitActs(t *testing.T) {
	uitest.NeedDisplay(t)
	g := &gate{}
	g.arm()
	rs, logs := serveRedirect(t, g.redirect)
	tap := newRedirectTap(t, rs.URI)
	R := func(kind string) string { return tap.URL + "?oauth_state_id=" + testState + "&k=" + kind }

	subresources := []string{"img", "script", "css", "iframe", "fetch-no-cors", "fetch-cors", "fetch-post", "beacon"}
	pages := map[string]string{
		"/": `<!doctype html><body>
<img src="` + R("img") + `">
<script src="` + R("script") + `"></script>
<link rel="stylesheet" href="` + R("css") + `">
<iframe src="` + R("iframe") + `"></iframe>
<script>
fetch("` + R("fetch-no-cors") + `", {mode: "no-cors"}).catch(() => {});
fetch("` + R("fetch-cors") + `").catch(() => {});
fetch("` + R("fetch-post") + `", {method: "POST", mode: "no-cors", body: "x"}).catch(() => {});
navigator.sendBeacon("` + R("beacon") + `", "x");
</script>`,
		"/post":  `<!doctype html><form method="post" action="` + R("form-post") + `"></form><script>document.forms[0].submit()</script>`,
		"/top":   `<!doctype html><script>location.href = "` + R("top") + `"</script>`,
		"/again": `<!doctype html><script>location.href = "` + R("again") + `"</script>`,
		"/real":  `<!doctype html><script>location.href = "` + rs.URI + "?oauth_state_id=" + testState + `&k=real"</script>`,
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, p)
	}))
	defer attacker.Close()

	// A window without linkdesk's navigation layer, which would take the
	// redirect URI for itself: a plain WebKit view, as a browser. It starts
	// on a blank page of its own server.
	blank, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><title>blank</title>`)}}, ui.PageConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer blank.Close()
	d := uitest.Open(t, func() (*ui.Window, error) {
		return ui.Open(ui.WindowOptions{Title: "redirect test", Width: 900, Height: 600, Server: blank})
	}, uitest.DriverOptions{})
	visit := func(path string) { d.Navigate(attacker.URL + path) }
	// pageText waits for the view to show a page of the redirect server at
	// origin (whose Content-Security-Policy lets it reach no server) and
	// returns its text, leaving it.
	pageText := func(origin, want string) string {
		t.Helper()
		var s string
		if err := json.Unmarshal(d.Leave(origin, `document.body ? document.body.innerText : ""`, 15*time.Second), &s); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s, want) {
			t.Fatalf("the view shows %q, want %q", s, want)
		}
		return s
	}
	tapOrigin, realOrigin := origin(tap.URL), origin(rs.URI)
	measured := func(kind string) tapped {
		t.Helper()
		var r tapped
		wait.True(t, 15*time.Second, "WebKit's "+kind+" request", func() (ok bool) { r, ok = tap.get(kind); return ok })
		t.Logf("%-13s %-4s Sec-Fetch-Site=%q Mode=%q Dest=%q User=%q Origin=%q → %d", kind, r.method, r.site, r.mode, r.dest, r.user, r.origin, r.status)
		return r
	}

	// 1. Another site's page loads the redirect URI every way a page can
	// without leaving itself.
	visit("/")
	for _, kind := range subresources {
		r := measured(kind)
		want := http.StatusForbidden
		if r.method == "POST" {
			want = http.StatusMethodNotAllowed
		}
		if r.status != want {
			t.Errorf("%s → %d, want %d", kind, r.status, want)
		}
	}
	// 2. It submits a form to it (a top-level POST navigation).
	visit("/post")
	if r := measured("form-post"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("form POST → %d, want 405", r.status)
	}
	pageText(tapOrigin, "Not a page visit")
	if calls, waiting, _ := g.state(); calls != 0 || !waiting {
		t.Fatalf("a page's loads reached the callback (%d calls; still waiting: %v)", calls, waiting)
	}

	// 3. A top-level navigation from another site — as the bank's return
	// is — reaches it, and is accepted once.
	visit("/top")
	top := measured("top")
	if top.status != 200 {
		t.Errorf("top-level navigation → %d, want 200", top.status)
	}
	if top.site != "cross-site" || top.mode != "navigate" || top.dest != "document" || top.origin != "" {
		t.Errorf("WebKit's top-level navigation sent %+v; the server's rule assumes cross-site/navigate/document and no Origin", top)
	}
	pageText(tapOrigin, "Back to linkdesk")
	if _, _, got := g.state(); len(got) != 1 || got[0] != rs.URI+"?oauth_state_id="+testState+"&k=top" {
		t.Fatalf("the callback acted on %q, want the top-level navigation's URL", got)
	}
	// 4. Again: the callback declines, and the browser says so.
	visit("/again")
	if r := measured("again"); r.status != 409 {
		t.Errorf("second top-level navigation → %d, want 409", r.status)
	}
	pageText(tapOrigin, "linkdesk was not waiting for a bank's answer")

	// 5. The same at the real address, without the tap.
	g.arm()
	visit("/real")
	wait.True(t, 15*time.Second, "the return at the real address", func() bool { _, _, got := g.state(); return len(got) == 2 })
	pageText(realOrigin, "Back to linkdesk")
	if _, _, got := g.state(); got[1] != rs.URI+"?oauth_state_id="+testState+"&k=real" {
		t.Errorf("the callback acted on %q", got[1])
	}
	if calls, _, _ := g.state(); calls != 3 {
		t.Errorf("the callback was called %d times, want 3 (top, again, real)", calls)
	}
	rs.Close()
	if strings.Contains(logs.String(), testState) {
		t.Errorf("the log carries the OAuth state:\n%s", logs.String())
	}
}
