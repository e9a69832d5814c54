package ui_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/app/ui"
)

// gate is a small real version of what the link flow does with the bank's
// return: it acts on one return while armed, then declines until armed
// again. It counts every call, accepted or not.
type gate struct {
	mu      sync.Mutex
	waiting bool
	calls   int
	got     []string
}

func (g *gate) arm() {
	g.mu.Lock()
	g.waiting = true
	g.mu.Unlock()
}

func (g *gate) redirect(rawURL string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if !g.waiting {
		return ui.ErrNotWaiting
	}
	g.waiting = false
	g.got = append(g.got, rawURL)
	return nil
}

func (g *gate) state() (calls int, waiting bool, got []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, g.waiting, append([]string(nil), g.got...)
}

// logBuffer collects a logger's text output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func serveRedirect(t *testing.T, onRedirect func(string) error) (*ui.RedirectServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	rs, err := ui.ServeRedirect("http://localhost:0/oauth/return", onRedirect, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs, logs
}

// send makes one request with exactly these headers (Go adds none but Host,
// User-Agent and Accept-Encoding) and returns the status and page text.
func send(t *testing.T, method, rawURL string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Headers as WebKitGTK 2.50 sends them (measured: see
// TestRedirectInWebKitOnlyATopLevelVisitActs).
var (
	webkitTopLevel = map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Referer": "https://bank.example/"}
	webkitImage = map[string]string{"Accept": "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
		"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image", "Referer": "https://evil.example/"}
)

func with(base map[string]string, kv ...string) map[string]string {
	h := map[string]string{}
	for k, v := range base {
		h[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(h, kv[i])
		} else {
			h[kv[i]] = kv[i+1]
		}
	}
	return h
}

const testState = "st-5e1f0c2a-query-must-never-be-logged"

func TestRedirectServerActsOnlyOnATopLevelVisitTheCallbackAccepts(t *testing.T) {
	g := &gate{}
	rs, logs := serveRedirect(t, g.redirect)
	withState := rs.URI + "?oauth_state_id=" + testState
	if !strings.HasPrefix(rs.URI, "http://localhost:") || !strings.HasSuffix(rs.URI, "/oauth/return") {
		t.Fatalf("URI = %s, want http://localhost:PORT/oauth/return", rs.URI)
	}

	// Before any attempt waits, even the bank's own return is not acted on,
	// and the page says so.
	code, page := send(t, "GET", withState, webkitTopLevel)
	if code != http.StatusConflict || !strings.Contains(page, "linkdesk was not waiting for a bank&#39;s answer") ||
		!strings.Contains(page, "start again in linkdesk") {
		t.Errorf("a return while nothing waits → %d %q; want 409 saying linkdesk was not waiting", code, page)
	}
	if _, _, got := g.state(); len(got) != 0 {
		t.Fatalf("the callback acted on %v while not waiting", got)
	}

	// Refused: none of these may reach the callback, and none uses up the
	// waiting attempt's one return.
	g.arm()
	refused := []struct {
		name   string
		method string
		url    string
		header map[string]string
		status int
	}{
		{"<img> on another site", "GET", withState, webkitImage, 403},
		{"<script> on another site", "GET", withState, with(webkitImage, "Accept", "*/*", "Sec-Fetch-Dest", "script"), 403},
		{"<link rel=stylesheet>", "GET", withState, with(webkitImage, "Accept", "text/css,*/*;q=0.1", "Sec-Fetch-Dest", "style"), 403},
		{"fetch(mode: no-cors)", "GET", withState, with(webkitImage, "Accept", "*/*", "Sec-Fetch-Dest", "empty"), 403},
		{"fetch() from https://evil.example", "GET", withState,
			map[string]string{"Accept": "*/*", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, 403},
		{"fetch() with an Origin, even claiming navigation", "GET", withState, with(webkitTopLevel, "Origin", "https://evil.example"), 403},
		{"same-origin fetch", "GET", withState, with(webkitTopLevel, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "same-origin", "Sec-Fetch-Dest", "empty"), 403},
		{"<iframe>", "GET", withState, with(webkitTopLevel, "Sec-Fetch-Dest", "iframe"), 403},
		{"<frame>", "GET", withState, with(webkitTopLevel, "Sec-Fetch-Dest", "frame"), 403},
		{"<object>", "GET", withState, with(webkitTopLevel, "Sec-Fetch-Dest", "object", "Sec-Fetch-Mode", "no-cors"), 403},
		{"a prefetch of the page", "GET", withState, with(webkitTopLevel, "Sec-Purpose", "prefetch"), 403},
		{"Chrome 76-79's <img> (no Sec-Fetch-Dest yet)", "GET", withState, with(webkitImage, "Sec-Fetch-Dest", ""), 403},
		{"an old browser's XHR asking for HTML (Origin, no Fetch Metadata)", "GET", withState,
			map[string]string{"Accept": "text/html", "Origin": "https://evil.example"}, 403},
		{"an old browser's <img> (no Fetch Metadata)", "GET", withState, map[string]string{"Accept": "image/png,image/*;q=0.8,*/*;q=0.5"}, 403},
		{"an old browser's script or XHR, or curl (Accept: */*)", "GET", withState, map[string]string{"Accept": "*/*"}, 403},
		{"a form POST (top-level)", "POST", withState, with(webkitTopLevel, "Origin", "https://evil.example"), 405},
		{"POST without headers", "POST", withState, nil, 405},
		{"HEAD", "HEAD", withState, webkitTopLevel, 405},
		{"DELETE", "DELETE", withState, nil, 405},
		{"a top-level visit without oauth_state_id", "GET", rs.URI, webkitTopLevel, 400},
		{"a top-level visit with an empty oauth_state_id", "GET", rs.URI + "?oauth_state_id=&x=1", webkitTopLevel, 400},
		{"no headers and no oauth_state_id", "GET", rs.URI, nil, 400},
		{"a rebound DNS name (Host: evil.example)", "GET", withState, with(webkitTopLevel, "Host", "evil.example:80"), 421},
		{"another path", "GET", strings.TrimSuffix(rs.URI, "/return") + "/other?oauth_state_id=" + testState, webkitTopLevel, 404},
		{"a path below", "GET", rs.URI + "/x?oauth_state_id=" + testState, webkitTopLevel, 404},
	}
	for _, c := range refused {
		code, page := send(t, c.method, c.url, c.header)
		if code != c.status {
			t.Errorf("%s → %d, want %d (%q)", c.name, code, c.status, page)
		}
		if calls, waiting, _ := g.state(); calls != 1 || !waiting {
			t.Fatalf("%s reached the callback (calls %d, still waiting %v); it must be refused before", c.name, calls, waiting)
		}
	}
	if code, page := send(t, "GET", withState, webkitImage); !strings.Contains(page, "not when another page loads it as an image, frame or script") {
		t.Errorf("the refusal page (%d) does not say why: %q", code, page)
	}

	// Accepted: the bank's return in the browser (a cross-site top-level
	// navigation) while an attempt waits, once.
	code, page = send(t, "GET", withState, webkitTopLevel)
	if code != 200 || !strings.Contains(page, "Back to linkdesk") {
		t.Errorf("the bank's return → %d %q; want 200 Back to linkdesk", code, page)
	}
	if _, _, got := g.state(); len(got) != 1 || got[0] != withState {
		t.Fatalf("the callback acted on %q, want [%s]", got, withState)
	}
	code, page = send(t, "GET", withState, webkitTopLevel)
	if code != http.StatusConflict || !strings.Contains(page, "not waiting") {
		t.Errorf("the same return a second time → %d %q; want 409 not waiting", code, page)
	}
	if _, _, got := g.state(); len(got) != 1 {
		t.Fatalf("the callback acted %d times, want once", len(got))
	}

	// The other visits that reach the callback: a typed or bookmarked
	// address (Sec-Fetch-Site: none), a same-site page's navigation, an old
	// browser's navigation (Accept: text/html, no Fetch Metadata), and a
	// program that sends no Accept header at all (Go's http.Get; a local
	// program can forge any header, so only the callback stands in its way).
	for _, c := range []struct {
		name   string
		header map[string]string
	}{
		{"a typed address", with(webkitTopLevel, "Sec-Fetch-Site", "none", "Referer", "")},
		{"a same-site page's navigation", with(webkitTopLevel, "Sec-Fetch-Site", "same-site")},
		{"a user's click (Sec-Fetch-User)", with(webkitTopLevel, "Sec-Fetch-User", "?1")},
		{"an old browser's navigation", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}},
		{"curl -H 'Accept: text/html'", map[string]string{"Accept": "text/html"}},
		{"no headers (Go's http.Get)", nil},
	} {
		g.arm()
		u := withState + "&n=" + url.QueryEscape(c.name)
		if code, page := send(t, "GET", u, c.header); code != 200 || !strings.Contains(page, "Back to linkdesk") {
			t.Errorf("%s → %d %q; want 200", c.name, code, page)
		}
		if _, _, got := g.state(); got[len(got)-1] != u {
			t.Errorf("%s did not reach the callback", c.name)
		}
	}

	// Over [::1] too, when this machine has it.
	if c, err := net.Dial("tcp", "[::1]:"+port(rs.URI)); err == nil {
		c.Close()
		g.arm()
		u := "http://[::1]:" + port(rs.URI) + "/oauth/return?oauth_state_id=" + testState
		if code, _ := send(t, "GET", u, webkitTopLevel); code != 200 {
			t.Errorf("the return at [::1] → %d, want 200", code)
		}
		if code, _ := send(t, "GET", u, webkitImage); code != 403 {
			t.Errorf("an <img> at [::1] → %d, want 403", code)
		}
	}

	rs.Close()
	if l := logs.String(); strings.Contains(l, testState) || strings.Contains(l, "oauth_state_id=") {
		t.Errorf("the log carries the OAuth state:\n%s", l)
	}
}

func port(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Port()
}

// A page of another site firing many requests at the redirect URI must not
// flood the log: at most a few lines, then one line counting the rest.
func TestRedirectRefusalsAreLoggedBoundedAndWithoutTheQuery(t *testing.T) {
	g := &gate{}
	rs, logs := serveRedirect(t, g.redirect)
	const n = 60
	for i := 0; i < n; i++ {
		if code, _ := send(t, "GET", rs.URI+"?oauth_state_id="+testState, webkitImage); code != 403 {
			t.Fatalf("request %d → %d, want 403", i, code)
		}
	}
	// Two declined returns (nothing waits) count too.
	for i := 0; i < 2; i++ {
		if code, _ := send(t, "GET", rs.URI+"?oauth_state_id="+testState, webkitTopLevel); code != 409 {
			t.Fatalf("declined return → %d, want 409", code)
		}
	}
	lines := strings.Count(logs.String(), "refused a request to its OAuth redirect URI")
	if lines < 1 || lines > 5 {
		t.Errorf("%d refused requests were logged in %d lines, want 1 to 5 then a count:\n%s", n+2, lines, logs.String())
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	l := logs.String()
	m := regexp.MustCompile(`more refused requests to the OAuth redirect URI were not logged one by one" not_logged=(\d+)`).FindAllStringSubmatch(l, -1)
	if len(m) != 1 {
		t.Fatalf("want one summary line after the first %d, got %d:\n%s", lines, len(m), l)
	}
	if more, _ := strconv.Atoi(m[0][1]); lines+more != n+2 {
		t.Errorf("%d lines + %d counted = %d, want all %d refusals accounted for", lines, more, lines+more, n+2)
	}
	if !strings.Contains(l, "reason=fetch_mode") || !strings.Contains(l, "sec_fetch_dest=image") {
		t.Errorf("the refusal lines do not say what was refused:\n%s", l)
	}
	if strings.Contains(l, testState) || strings.Contains(l, "oauth_state_id=") {
		t.Errorf("the log carries the OAuth state:\n%s", l)
	}
	if strings.Count(l, "\n") > 8 {
		t.Errorf("%d log lines for %d refusals:\n%s", strings.Count(l, "\n"), n+2, l)
	}
}

// Two browsers (or tabs) returning at the same moment: the callback sees
// one at a time, so a simple "once" in it holds.
func TestRedirectCallbackIsNeverCalledConcurrently(t *testing.T) {
	var inside, overlap atomic.Int32
	acted := false // guarded only by the server's serialisation
	rs, _ := serveRedirect(t, func(string) error {
		if inside.Add(1) > 1 {
			overlap.Add(1)
		}
		defer inside.Add(-1)
		if acted {
			return ui.ErrNotWaiting
		}
		time.Sleep(2 * time.Millisecond) // widen the window a concurrent call would hit
		acted = true
		return nil
	})
	var wg sync.WaitGroup
	codes := make(chan int, 30)
	for i := 0; i < cap(codes); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := send(t, "GET", rs.URI+"?oauth_state_id=s", webkitTopLevel)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[200] != 1 || count[409] != cap(codes)-1 {
		t.Errorf("%d simultaneous returns → %v; want exactly one 200, the rest 409", cap(codes), count)
	}
	if overlap.Load() != 0 {
		t.Errorf("the callback ran %d times alongside another call", overlap.Load())
	}
}

// A request with huge headers is cut off before it reaches the handler.
func TestRedirectServerRefusesHugeHeaders(t *testing.T) {
	g := &gate{}
	g.arm()
	rs, _ := serveRedirect(t, g.redirect)
	c, err := net.Dial("tcp", "127.0.0.1:"+port(rs.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /oauth/return?oauth_state_id=s HTTP/1.1\r\nHost: localhost:%s\r\nAccept: text/html\r\nX-Pad: %s\r\n\r\n", port(rs.URI), strings.Repeat("a", 256<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("256 KiB of headers → %d, want 431", resp.StatusCode)
	}
	if calls, _, _ := g.state(); calls != 0 {
		t.Error("the callback was called")
	}
}

func TestServeRedirectRejectsUnusableURIs(t *testing.T) {
	for _, uri := range []string{"https://localhost:0/oauth", "http://example.com:0/oauth", "http://localhost:0", "::"} {
		if rs, err := ui.ServeRedirect(uri, func(string) error { return nil }, nil); err == nil {
			rs.Close()
			t.Errorf("ServeRedirect(%q) served it", uri)
		}
	}
	if rs, err := ui.ServeRedirect("http://localhost:0/oauth", nil, nil); err == nil {
		rs.Close()
		t.Error("ServeRedirect without a callback served")
	} else if !strings.Contains(err.Error(), "callback") {
		t.Errorf("ServeRedirect without a callback: %v", err)
	}
}
