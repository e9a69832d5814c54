package ui_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/internal/uitest"
	"linkdesk/app/ui"
)

// The hosted return page (assets/oauthreturn/oauth-return.html) in a real
// WebKit view, as a browser where the linkdesk:// scheme is not registered:
// it tries linkdesk://oauth-return?<query>, nothing answers, and after its
// wait it forwards the same query to linkdesk's loopback port (by itself, or
// through its fallback link when its window lost the focus), where the
// redirect server hands it on. A page opened without an oauth_state_id
// forwards nothing and says so.
func TestHostedReturnPageForwardsToTheLoopbackPort(t *testing.T) {
	uitest.NeedDisplay(t)
	page, err := os.ReadFile("../../assets/oauthreturn/oauth-return.html")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// As an operator's team would for another LINKDESK_OAUTH_RETURN_PORT.
	const constant = "var LOOPBACK_PORT = 47615;"
	if !strings.Contains(string(page), constant) {
		t.Fatalf("the page has no %q", constant)
	}
	page = []byte(strings.Replace(string(page), constant, fmt.Sprintf("var LOOPBACK_PORT = %d;", port), 1))
	got := make(chan string, 4)
	rs, err := ui.ServeRedirect(fmt.Sprintf("http://127.0.0.1:%d/oauth-return", port), func(u string) error { got <- u; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	// The team's site: here the window's own server, which serves the page
	// at the hosted address's path (and nothing is bound into it).
	site, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><title>blank</title>`)}}, ui.PageConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	site.Handle("GET /linkdesk/oauth-return", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	d := uitest.Open(t, func() (*ui.Window, error) {
		return ui.Open(ui.WindowOptions{Title: "hosted return page", Width: 900, Height: 600, Server: site})
	}, uitest.DriverOptions{})

	const query = "oauth_state_id=6f1c1e0a-1b2c-4d5e-8f90-123456789abc"
	d.Navigate(site.URL + "/linkdesk/oauth-return?" + query)
	var u string
	select {
	case u = <-got:
	case <-time.After(6 * time.Second):
		// The page skips its automatic fallback when its window lost the
		// focus (to linkdesk, it assumes: here, to another test's window
		// on the same display); its fallback link is what the customer
		// then clicks.
		t.Log("no automatic fallback (the window lost the focus?): clicking the page's loopback link")
		d.Exec(`document.querySelector('[data-testid="fallback"]').hidden || document.querySelector('[data-testid="open-loopback"]').click()`)
		select {
		case u = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the hosted page forwarded nothing to the loopback port")
		}
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/oauth-return?%s", port, query); u != want {
		t.Errorf("the loopback port received %s, want %s", u, want)
	}

	d.Navigate(site.URL + "/linkdesk/oauth-return")
	d.WaitJS(`document.body && document.body.innerText.includes("without your bank's answer")`, 10*time.Second)
	select {
	case u := <-got:
		t.Errorf("the page without an answer forwarded %s", u)
	case <-time.After(3 * time.Second):
	}
}
