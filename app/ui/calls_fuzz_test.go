package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"
)

// FuzzCallEndpoint sends arbitrary page calls — method names, bodies, and
// with or without each of the route's guards (Origin, the session cookie,
// the secret, JSON) — to a real app server over loopback. A call reaches Go
// exactly when every guard holds and the body is within the limit; every
// answer is JSON with a one-line error of bounded length; nothing panics.
func FuzzCallEndpoint(f *testing.F) {
	const maxParams = 1 << 10
	srv, err := NewServer(fstest.MapFS{"index.html": {Data: []byte("<!doctype html><title>x</title>")}}, PageConfig{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	var served atomic.Int64
	srv.SetCalls(Calls{MaxParams: maxParams, Serve: func(ctx context.Context, method string, params []byte) (any, error) {
		served.Add(1)
		if method == "echo" {
			return json.RawMessage(params), nil
		}
		return map[string]any{"method": method, "n": len(params)}, nil
	}})
	jar, _ := cookiejar.New(nil)
	// A path the router cleans (/call/A/.) is redirected, not served: the
	// clients report the redirect instead of following it.
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	resp, err := c.Get(srv.LaunchURL())
	if err != nil {
		f.Fatal(err)
	}
	resp.Body.Close()
	c.CheckRedirect = noFollow
	bare := &http.Client{Timeout: 5 * time.Second, CheckRedirect: noFollow}

	f.Add("info", []byte(`{}`), uint8(0xff))
	f.Add("echo", []byte(`{"a":"\u2028</script>"}`), uint8(0xff))
	f.Add("x\";alert(1)//", []byte(`{}`), uint8(0xff))
	f.Add("info", []byte(`{}`), uint8(0xfe))
	f.Add("info", []byte(strings.Repeat("a", 2000)), uint8(0xff))
	f.Add("../launch/x", []byte(``), uint8(0x0f))
	f.Add("A/.", []byte(`0`), uint8(0x0f)) // found by the fuzzer: the router redirects it to /call/A
	f.Fuzz(func(t *testing.T, method string, body []byte, guards uint8) {
		withOrigin, withCookie, withSecret, withJSON := guards&1 != 0, guards&2 != 0, guards&4 != 0, guards&8 != 0
		req, err := http.NewRequest("POST", srv.URL+callPath+method, bytes.NewReader(body))
		if err != nil || req.URL.Path != callPath+method {
			return // not a URL path a page could ask for
		}
		if withOrigin {
			req.Header.Set("Origin", srv.URL)
		}
		if withSecret {
			req.Header.Set(CallHeader, srv.Secret)
		} else if guards&0x10 != 0 {
			req.Header.Set(CallHeader, "guessed")
		}
		if withJSON {
			req.Header.Set("Content-Type", "application/json")
		}
		client := bare
		if withCookie {
			client = c
		}
		before := served.Load()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		reached := served.Load() != before
		allowed := withOrigin && withCookie && withSecret && withJSON && len(body) <= maxParams && methodRE.MatchString(method)
		if reached != allowed {
			t.Fatalf("guards %04b, %d-byte body, method %q: reached Go = %v (status %d)", guards&0xf, len(body), method, reached, resp.StatusCode)
		}
		if resp.StatusCode == 200 {
			if !json.Valid(data) {
				t.Fatalf("a 200 answer is not JSON: %.200q", data)
			}
			return
		}
		// The endpoint's own refusals are JSON; the router's (a path that
		// is not /call/…) are plain text, and reach nothing.
		var e struct{ Error string }
		if resp.Header.Get("Content-Type") == "application/json" {
			if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
				t.Fatalf("status %d answered %.200q, not {\"error\": …}", resp.StatusCode, data)
			}
			if len(e.Error) > 300 || !utf8.ValidString(e.Error) || strings.ContainsAny(e.Error, "\n\r") {
				t.Fatalf("the error is not one short line: %q", e.Error)
			}
		}
	})
}
