package plaidsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// front is a TLS reverse proxy in front of the simulator, as a tester puts
// one to serve Link under Plaid's hostname.
type front struct {
	t      *testing.T
	srv    *httptest.Server
	host   string // the hostname pages are served under
	origin string // https://host
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
	return &front{t: t, srv: srv, host: "cdn.plaid.com", origin: "https://cdn.plaid.com"}
}

// do sends a request through the front as a browser on a page of origin
// does (Host: the front's hostname).
func (f *front) do(method, path, origin string, body any) (int, map[string]any, string) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Host = f.host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s through the front: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			f.t.Fatalf("%s %s: reply is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out, string(raw)
}

func (f *front) must(name string, body map[string]any) map[string]any {
	f.t.Helper()
	code, out, _ := f.do("POST", apiPrefix+name, f.origin, body)
	if code != http.StatusOK {
		f.t.Fatalf("POST %s through the front: HTTP %d %v", name, code, out)
	}
	return out
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

			if code, body, _ := f.do("GET", "/link/v2/stable/link.html?token="+tok, "", nil); code != 200 || body != nil {
				t.Fatalf("Link page through the front: HTTP %d", code)
			}
			f.must("init", map[string]any{"link_token": tok})
			sid := f.must("open", map[string]any{"link_token": tok})["link_session_id"].(string)
			base := map[string]any{"link_token": tok, "link_session_id": sid}
			oauth := f.must("institution", with(base, "institution_id", "ins_127287"))["oauth"].(map[string]any)
			state := oauth["oauth_state_id"].(string)

			// The pop-up: the bank's page and its calls, then Plaid's
			// return page, all under the front's origin.
			if code, _, html := f.do("GET", oauth["url"].(string), "", nil); code != 200 || !strings.Contains(html, "bank.js") {
				t.Fatalf("bank page through the front: HTTP %d", code)
			}
			f.must("bank/info", map[string]any{"oauth_state_id": state})
			ret := f.must("bank/decide", map[string]any{"oauth_state_id": state, "decision": "approve"})["return_url"].(string)
			if code, _, _ := f.do("GET", ret, "", nil); code != 200 {
				t.Fatalf("return page through the front: HTTP %d", code)
			}
			if r := f.must("bank/return", map[string]any{"oauth_state_id": state}); r["result"] != "approved" {
				t.Fatalf("bank/return = %v", r)
			}
			c := f.must("oauth/complete", base)
			if c["status"] != "select_account" {
				t.Fatalf("oauth/complete = %v, want select_account", c)
			}
			first := c["accounts"].([]any)[0].(map[string]any)["id"]
			if done := f.must("accounts", with(base, "account_ids", []any{first})); done["status"] != "connected" {
				t.Fatalf("accounts = %v, want connected", done)
			}

			// Other pages stay refused, through the front or not.
			for _, origin := range []string{"https://evil.example", "https://cdn.plaid.com.evil.example", "http://127.0.0.1:1", ""} {
				if code, out, _ := f.do("POST", apiPrefix+"init", origin, map[string]any{"link_token": tok}); code != 403 || errCode(out) != "FORBIDDEN_ORIGIN" {
					t.Errorf("Origin %q through the front: HTTP %d %v, want 403 FORBIDDEN_ORIGIN", origin, code, out)
				}
			}
			if code, out := ss.callFrom("https://cdn.plaid.com", "init", map[string]any{"link_token": tok}); code != 403 {
				t.Errorf("Origin https://cdn.plaid.com straight to the simulator (Host %s): HTTP %d %v, want 403", ss.srv.Listener.Addr(), code, out)
			}
		})
	}
}
