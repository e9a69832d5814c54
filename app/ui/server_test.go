package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func testFiles() fstest.MapFS {
	return fstest.MapFS{
		"index.html": {Data: []byte(`<!doctype html><meta name="s" content="{{.Secret}}"><meta name="c" content="{{.Config}}"><script src="/app.js"></script>`)},
		"app.js":     {Data: []byte(`console.log("app")`)},
		"app.css":    {Data: []byte(`body{}`)},
	}
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer(testFiles(), PageConfig{Environment: "sim", PlaidScriptURL: "http://localhost:1/link-initialize.js", Version: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, c *http.Client, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPageIsServedOnlyAfterTheOneTimeLaunch(t *testing.T) {
	s := newTestServer(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("server URL %s is not on 127.0.0.1", s.URL)
	}
	other := &http.Client{}
	if code, _ := get(t, other, s.URL+"/", nil); code != http.StatusForbidden {
		t.Errorf("the page without the launch cookie: %d, want 403", code)
	}
	jar, _ := cookiejar.New(nil)
	window := &http.Client{Jar: jar}
	launch := s.LaunchURL()
	code, body := get(t, window, launch, nil)
	if code != 200 || !strings.Contains(body, s.Secret) || !strings.Contains(body, "&#34;environment&#34;:&#34;sim&#34;") {
		t.Fatalf("launch → %d %q; want the page with the secret and the config", code, body)
	}
	// The launch URL works once: another process replaying it gets nothing.
	if code, body := get(t, &http.Client{}, launch, nil); code != http.StatusForbidden || strings.Contains(body, s.Secret) {
		t.Errorf("replayed launch URL: %d", code)
	}
	if code, _ := get(t, window, s.URL+"/app.js", nil); code != 200 {
		t.Errorf("app.js: %d", code)
	}
	if code, body := get(t, window, s.URL+"/index.html", nil); code != 404 || strings.Contains(body, s.Secret) {
		t.Errorf("/index.html served raw: %d", code)
	}
	if code, _ := get(t, window, s.URL+"/missing.js", nil); code != 404 {
		t.Errorf("missing file: %d", code)
	}
}

func TestServerRefusesOtherHostsAndOrigins(t *testing.T) {
	s := newTestServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get(t, c, s.LaunchURL(), nil)
	// DNS rebinding: a request naming another host is refused.
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	req.Host = "evil.example:80"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d, want 421", resp.StatusCode)
	}
	if code, _ := get(t, c, s.URL+"/app.js", http.Header{"Origin": {"http://localhost:9999"}}); code != http.StatusForbidden {
		t.Errorf("cross-origin request: %d, want 403", code)
	}
	if code, _ := get(t, c, s.URL+"/app.js", http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != http.StatusForbidden {
		t.Errorf("cross-site request: %d, want 403", code)
	}
	if code, _ := get(t, c, s.URL+"/app.js", http.Header{"Origin": {s.URL}}); code != 200 {
		t.Errorf("same-origin request: %d, want 200", code)
	}
}

// A page call may take longer than AppLimits.WriteTimeout (the server's
// bound for everything else): its answer is written as long as the call's
// own timeout allows. Any other slow answer is cut at WriteTimeout.
func TestPageCallOutlivesTheServersWriteTimeout(t *testing.T) {
	saved := AppLimits
	AppLimits.WriteTimeout = 200 * time.Millisecond
	s := newTestServer(t)
	AppLimits = saved
	s.SetCalls(Calls{Timeout: 2 * time.Second, Serve: func(ctx context.Context, method string, params []byte) (any, error) {
		time.Sleep(500 * time.Millisecond)
		return "late but in time", nil
	}})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	get(t, c, s.LaunchURL(), nil)
	req, _ := http.NewRequest("POST", s.URL+callPath+"slow", strings.NewReader(`{}`))
	req.Header.Set("Origin", s.URL)
	req.Header.Set(CallHeader, s.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("a page call of 500ms on a server with a 200ms WriteTimeout: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "late but in time") {
		t.Errorf("answer %d %s", resp.StatusCode, body)
	}
}
