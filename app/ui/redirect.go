package ui

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"linkdesk/app/ui/httplimit"
)

// ErrNotWaiting is the usual reason for a redirect callback to decline the
// bank's return (see ServeRedirect): no attempt was waiting for one, or the
// waiting attempt already had its answer. Its text is written for the person
// in the browser.
var ErrNotWaiting = errors.New("linkdesk was not waiting for a bank's answer. If you were signing in to your bank, start again in linkdesk")

// RedirectServer serves a loopback OAuth redirect URI (http://localhost:PORT/…,
// which Plaid allows in Sandbox). It matters when the bank's pages ran in the
// system browser, where there is no window.opener to return to: the bank
// sends that browser to the redirect URI with ?oauth_state_id=…, this server
// hands the full URL to the callback (which re-creates Link with it as
// receivedRedirectUri) and tells the user to return to linkdesk. Inside the
// app's own views the native layer intercepts the redirect URI before any
// request is made.
type RedirectServer struct {
	// URI is the redirect URI served, with the real port.
	URI string

	srv      *httplimit.Server
	lns      []net.Listener
	once     sync.Once
	refusals *limitedLog
}

// RedirectLimits bound the redirect server's connections (see package
// httplimit). Its one page is small and answered at once, and a browser
// visits it once per bank sign-in: 15 s idle, 16 connections at once.
// MaxHeaderBytes still leaves room for the cookies a browser sends to
// localhost (every local development server's cookies go to every port).
var RedirectLimits = httplimit.Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      15 * time.Second,
	IdleTimeout:       15 * time.Second,
	MaxHeaderBytes:    32 << 10,
	MaxConns:          16,
}

// At most refusalLines refused requests are logged one by one in a minute;
// the rest are counted in one summary line (limitedLog).
const refusalLines = 5

// ServeRedirect listens for rawURI, which must be an http URI on localhost,
// 127.0.0.1 or [::1] with a path; port 0 picks a free port (URI reports it).
// For localhost it listens on both 127.0.0.1 and [::1] (when available), so
// whichever address the browser resolves works.
//
// Only a browser's top-level visit to the redirect URI can reach onRedirect;
// the server refuses, without calling it:
//   - any method but GET (405), and a Host header other than the redirect
//     URI's loopback host and port (421, against DNS rebinding);
//   - a request with an Origin header: a script's fetch or XMLHttpRequest,
//     or a form POST (403);
//   - a prefetch (Sec-Purpose, Purpose or X-Moz: prefetch) (403);
//   - by Fetch Metadata, anything but a top-level navigation: Sec-Fetch-Mode,
//     when sent, must be "navigate" and Sec-Fetch-Dest, when sent, must be
//     "document"; so a page's <img>, <script>, <link>, fetch (any mode),
//     sendBeacon, <iframe>, <frame>, <object> and <embed> are refused (403).
//     Sec-Fetch-Site is not checked: the bank's return is itself a
//     cross-site navigation (measured in WebKitGTK 2.50: Sec-Fetch-Site
//     cross-site, Sec-Fetch-Mode navigate, Sec-Fetch-Dest document);
//   - with neither Sec-Fetch-Mode nor Sec-Fetch-Dest (browsers before 2020
//     to 2023, and programs), an Accept header that does not list text/html
//     or application/xhtml+xml: what an older browser sends for images,
//     scripts and fetches (403). A request with no Accept header at all is
//     not from a browser; it passes, like any request a local program makes
//     (which can forge every header anyway). To stand in for the browser by
//     hand: curl -H 'Accept: text/html' 'URI?oauth_state_id=…';
//   - a visit without a non-empty oauth_state_id (400).
//
// What remains — a top-level visit with an oauth_state_id, which a web page
// can still cause with window.open or location, and a local program with
// anything — goes to onRedirect, which decides whether linkdesk acts on it:
// the server guards the kind of request, onRedirect guards when and how
// often (only while an attempt waits for its bank's return, once).
//
// onRedirect receives the full URL the browser opened (URI plus its query).
// It is never called for two requests at once, and must return promptly (the
// browser waits for its answer). It returns nil when linkdesk acted on the
// URL: the page answers 200 "Back to linkdesk". It returns an error when
// linkdesk did not act on it, usually ErrNotWaiting or an error wrapping it:
// the page answers 409 and shows the error's text to the person in the
// browser, so that text must be a plain sentence saying what to do.
//
// Refused and declined requests are logged, at most 5 lines a minute and
// then one line counting the rest; the query (it carries the OAuth state)
// is never logged.
func ServeRedirect(rawURI string, onRedirect func(rawURL string) error, log *slog.Logger) (*RedirectServer, error) {
	if log == nil {
		log = slog.Default()
	}
	if onRedirect == nil {
		return nil, errors.New("ServeRedirect needs a callback that decides whether linkdesk acts on the bank's return")
	}
	u, err := url.Parse(rawURI)
	if err != nil || u.Scheme != "http" || u.Path == "" {
		return nil, fmt.Errorf("the redirect URI %q cannot be served by linkdesk: it must be http://localhost:PORT/PATH", rawURI)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	var first string
	switch host {
	case "localhost", "127.0.0.1":
		first = "127.0.0.1"
	case "::1":
		first = "::1"
	default:
		return nil, fmt.Errorf("the redirect URI %q is not on this machine (localhost); linkdesk can only serve a loopback redirect URI", rawURI)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(first, port))
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the OAuth redirect URI %s: %w (is another program using port %s?)", rawURI, err, port)
	}
	port = fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	rs := &RedirectServer{lns: []net.Listener{ln}, refusals: newLimitedLog(log, refusalLines, "more refused requests to the OAuth redirect URI were not logged one by one")}
	if host == "localhost" {
		if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", port)); err == nil {
			rs.lns = append(rs.lns, ln6)
		}
	}
	u.Host = net.JoinHostPort(host, port)
	if host == "::1" {
		u.Host = "[::1]:" + port
	}
	u.RawQuery, u.Fragment = "", ""
	rs.URI = u.String()
	okHosts := map[string]bool{u.Host: true, "127.0.0.1:" + port: true, "[::1]:" + port: true, "localhost:" + port: true}
	var decide sync.Mutex // onRedirect is never called for two requests at once
	path := u.Path
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		refuse := func(status int, reason, title, text string) {
			rs.refusals.Log("linkdesk refused a request to its OAuth redirect URI", refusalAttrs(reason, r)...)
			redirectPage(w, status, title, text)
		}
		if !okHosts[r.Host] {
			refuse(http.StatusMisdirectedRequest, "wrong_host", "Wrong address",
				"This page answers only at "+rs.URI+". If you were signing in to your bank, start again in linkdesk.")
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			refuse(http.StatusMethodNotAllowed, "method", "Not a page visit",
				"linkdesk takes your bank's answer only when your browser opens this address as a page. If you were signing in to your bank, start again in linkdesk.")
			return
		}
		if reason := navigationRefusal(r); reason != "" {
			refuse(http.StatusForbidden, reason, "Not a page visit",
				"linkdesk takes your bank's answer only when your browser opens this address as a page, not when another page loads it as an image, frame or script or sends it from a script. If you were signing in to your bank, start again in linkdesk. (Testing by hand? Send the header Accept: text/html.)")
			return
		}
		if r.URL.Query().Get("oauth_state_id") == "" {
			refuse(http.StatusBadRequest, "no_oauth_state_id", "No answer from your bank",
				"This is where your bank sends you back to linkdesk, but it was opened without the bank's answer (oauth_state_id). If you were signing in to your bank, start again in linkdesk.")
			return
		}
		full := rs.URI + "?" + r.URL.RawQuery
		decide.Lock()
		err := onRedirect(full)
		decide.Unlock()
		if err != nil {
			reason := "declined"
			if errors.Is(err, ErrNotWaiting) {
				reason = "not_waiting"
			}
			rs.refusals.Log("linkdesk refused a request to its OAuth redirect URI", refusalAttrs(reason, r)...)
			redirectPage(w, http.StatusConflict, "linkdesk did not use this answer", strings.TrimRight(err.Error(), ". ")+". You can close this tab.")
			return
		}
		log.Info("the bank's OAuth return reached linkdesk through the redirect URI")
		redirectPage(w, http.StatusOK, "Back to linkdesk",
			"linkdesk received your bank's answer. You can close this tab and return to linkdesk, where Plaid Link continues.")
	})
	rs.srv = RedirectLimits.New(handler, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	for _, l := range rs.lns {
		go rs.srv.Serve(l)
	}
	return rs, nil
}

// navigationRefusal says why r is not a browser's top-level visit (a short
// code for the log), or "" when it is one or comes from no browser at all.
// ServeRedirect's doc comment states the rule.
func navigationRefusal(r *http.Request) string {
	if r.Header.Get("Origin") != "" {
		return "origin"
	}
	for _, h := range []string{"Sec-Purpose", "Purpose", "X-Moz"} {
		if strings.Contains(strings.ToLower(r.Header.Get(h)), "prefetch") {
			return "prefetch"
		}
	}
	mode, dest := r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest")
	if mode != "" && mode != "navigate" {
		return "fetch_mode"
	}
	if dest != "" && dest != "document" {
		return "fetch_dest"
	}
	if mode == "" && dest == "" {
		if accept := r.Header.Values("Accept"); len(accept) > 0 && !acceptsHTML(accept) {
			return "accept"
		}
	}
	return ""
}

// acceptsHTML reports whether Accept header values list an HTML media type.
func acceptsHTML(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "text/html", "application/xhtml+xml":
				return true
			}
		}
	}
	return false
}

// redirectPage writes the redirect server's short HTML answer.
func redirectPage(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>linkdesk</title>
<body style="font:15px system-ui,sans-serif;max-width:34em;margin:4em auto;color:#1c2330">
<h1 style="font-size:20px">%s</h1>
<p>%s</p></body>`, html.EscapeString(title), html.EscapeString(text))
}

// refusalAttrs describe a refused request for the log: never its query,
// which carries the OAuth state.
func refusalAttrs(reason string, r *http.Request) []any {
	return []any{"reason", reason, "method", clip(r.Method),
		"sec_fetch_site", clip(r.Header.Get("Sec-Fetch-Site")), "sec_fetch_mode", clip(r.Header.Get("Sec-Fetch-Mode")),
		"sec_fetch_dest", clip(r.Header.Get("Sec-Fetch-Dest")), "origin", clip(r.Header.Get("Origin"))}
}

// clip bounds a header value for the log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// ConnStats counts the server's connections, on all its listeners (see
// RedirectLimits).
func (rs *RedirectServer) ConnStats() httplimit.Stats { return rs.srv.Stats() }

// Close stops the server, and logs how many refused requests were not yet
// counted in the log.
func (rs *RedirectServer) Close() error {
	var err error
	rs.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = rs.srv.Shutdown(ctx)
		rs.refusals.Close()
	})
	return err
}
