package plaidsim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"linkdesk/app/internal/simlink"
)

// front is a TLS reverse proxy in front of the simulator, as a tester puts
// one to serve Link under Plaid's hostname.
type front struct {
	t    *testing.T
	srv  *httptest.Server
	host string          // the hostname pages are served under
	link *simlink.Client // the Link API through the front, from its pages' origin https://host
}

// startFront starts a TLS front for ss. keepHost: forward the Host header
// unchanged and add nothing (nginx's default); otherwise the proxy sends the
// simulator's own Host and names the original in X-Forwarded-Host /
// X-Forwarded-Proto (Go's ReverseProxy with SetXForwarded).
func startFront(t *testing.T, ss *simServer, keepHost bool) *front {
	t.Helper()
	target, _ := url.Parse(ss.srv.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		if keepHost {
			pr.Out.Host = pr.In.Host
		} else {
			pr.SetXForwarded()
		}
	}}
	srv := httptest.NewTLSServer(rp)
	t.Cleanup(srv.Close)
	f := &front{t: t, srv: srv, host: "cdn.plaid.com"}
	f.link = f.from("https://" + f.host)
	return f
}

// from is a client of the Link API through the front, calling from a page
// of origin ("" for none).
func (f *front) from(origin string) *simlink.Client {
	return &simlink.Client{URL: f.srv.URL, Origin: origin, Host: f.host, HTTP: f.srv.Client()}
}

// get loads a page through the front as a browser does (Host: the front's
// hostname) and returns its status and body.
func (f *front) get(path string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Host = f.host
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("GET %s through the front: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestLinkWorksBehindAFrontThatKeepsPlaidsHostname: served through a TLS
// front under cdn.plaid.com, Link's API accepts its own pages' calls (Origin
// https://cdn.plaid.com) and the OAuth pop-up path completes — whether the
// front keeps the Host header or says where it came from in X-Forwarded-*;
// pages of other origins are still refused.
func TestLinkWorksBehindAFrontThatKeepsPlaidsHostname(t *testing.T) {
	for _, keepHost := range []bool{true, false} {
		name := map[bool]string{true: "front keeps Host", false: "front sets X-Forwarded-Host"}[keepHost]
		t.Run(name, func(t *testing.T) {
			ss := startSim(t, Options{})
			f := startFront(t, ss, keepHost)
			tok := ss.token(LinkTokenRequest{})

			if code, page := f.get("/link/v2/stable/link.html?token=" + tok); code != 200 || !strings.Contains(page, "link.js") {
				t.Fatalf("Link page through the front: HTTP %d", code)
			}
			se := f.link.Open(t, tok)
			oauth := se.Call(t, "institution", "institution_id", "ins_127287")["oauth"].(map[string]any)
			state := oauth["oauth_state_id"].(string)

			// The pop-up: the bank's page and its calls, then Plaid's
			// return page, all under the front's origin.
			if code, html := f.get(oauth["url"].(string)); code != 200 || !strings.Contains(html, "bank.js") {
				t.Fatalf("bank page through the front: HTTP %d", code)
			}
			f.link.Call(t, "bank/info", map[string]any{"oauth_state_id": state})
			ret := f.link.Call(t, "bank/decide", map[string]any{"oauth_state_id": state, "decision": "approve"})["return_url"].(string)
			if code, _ := f.get(ret); code != 200 {
				t.Fatalf("return page through the front: HTTP %d", code)
			}
			if r := f.link.Call(t, "bank/return", map[string]any{"oauth_state_id": state}); r["result"] != "approved" {
				t.Fatalf("bank/return = %v", r)
			}
			c := se.Call(t, "oauth/complete")
			if c["status"] != "select_account" {
				t.Fatalf("oauth/complete = %v, want select_account", c)
			}
			if done := se.Call(t, "accounts", "account_ids", simlink.Accounts(c)[:1]); done["status"] != "connected" {
				t.Fatalf("accounts = %v, want connected", done)
			}

			// Other pages stay refused, through the front or not.
			for _, origin := range []string{"https://evil.example", "https://cdn.plaid.com.evil.example", "http://127.0.0.1:1", ""} {
				if code, out := f.from(origin).Try(t, "init", map[string]any{"link_token": tok}); code != 403 || errCode(out) != "FORBIDDEN_ORIGIN" {
					t.Errorf("Origin %q through the front: HTTP %d %v, want 403 FORBIDDEN_ORIGIN", origin, code, out)
				}
			}
			if code, out := ss.from("https://cdn.plaid.com").Try(t, "init", map[string]any{"link_token": tok}); code != 403 {
				t.Errorf("Origin https://cdn.plaid.com straight to the simulator (Host %s): HTTP %d %v, want 403", ss.srv.Listener.Addr(), code, out)
			}
		})
	}
}
