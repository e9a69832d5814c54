package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Browser clients (CORS). Cybrid's API is called from web pages on other
// origins — Cybrid's own web SDK is one — and a Cybrid bank lists the
// origins it allows (Bank.cors_allowed_origins). The simulated Cybrid API
// (/api/, /oauth/ and the /sim/ hooks) therefore answers CORS for loopback
// origins (a page on http://localhost:PORT, http://127.0.0.1:PORT or
// http://[::1]:PORT, http or https) and for the origins named in
// Options.CORSOrigins (`linkdesk sim --cors-origin`). Plaid's side (/link/)
// is not CORS-enabled: Link's pages call only their own origin, as on
// cdn.plaid.com.

// ErrCORSOrigin reports an unusable Options.CORSOrigins entry (wrapped with
// the details).
var ErrCORSOrigin = errors.New("sim: bad CORS origin")

// corsAllowHeaders are the request headers a preflight may ask for.
var corsAllowHeaders = []string{"Accept", "Accept-Language", "Authorization", "Content-Type"}

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

// normalizeOrigin checks that o is an origin as a browser sends it —
// scheme://host[:port], http or https, no path, query or user — and returns
// it lower-cased, without a default port.
func normalizeOrigin(o string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s; give an origin such as https://app.example.com or http://192.0.2.10:8080", ErrCORSOrigin, o, why)
	}
	o = strings.TrimSpace(o)
	if o == "*" {
		return bad("a wildcard is not allowed: any web page in the browser could then drive the simulator; name each origin")
	}
	u, err := url.Parse(o)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("the scheme must be http or https")
	case u.Host == "" || u.Opaque != "":
		return bad("it has no host")
	case u.User != nil:
		return bad("it must not contain a user")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?"):
		return bad("an origin has no path, query or fragment")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// loopbackOrigin reports whether origin is an http(s) origin on a loopback
// host: localhost (or a name under it), 127.0.0.0/8 or ::1.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// corsPolicy decides which origins may call the Cybrid side from a browser.
type corsPolicy struct {
	extra []string // normalized Options.CORSOrigins
	// methods returns the methods served on a path (nil: none).
	methods func(path string) []string
	log     *slog.Logger
}

func newCORS(origins []string, methods func(string) []string, log *slog.Logger) (*corsPolicy, error) {
	c := &corsPolicy{methods: methods, log: log}
	for _, o := range origins {
		for _, part := range strings.Split(o, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			n, err := normalizeOrigin(part)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(c.extra, n) {
				c.extra = append(c.extra, n)
			}
		}
	}
	return c, nil
}

// allowed reports whether a browser page of origin may call the API.
func (c *corsPolicy) allowed(origin string) bool {
	return loopbackOrigin(origin) || slices.Contains(c.extra, origin)
}

// wrap adds CORS to next:
//
//   - a preflight (OPTIONS with Origin and Access-Control-Request-Method)
//     from an allowed origin answers 204 with Access-Control-Allow-Origin
//     (the origin), -Allow-Methods (the methods served on the path),
//     -Allow-Headers (Accept, Accept-Language, Authorization, Content-Type)
//     and -Max-Age; from another origin 403 with an ErrorResponse saying how
//     to allow it; for a path nobody serves 404;
//   - any other request from an allowed origin is served with
//     Access-Control-Allow-Origin and Access-Control-Expose-Headers:
//     Retry-After (so a browser client can honour 429 and 503); from another
//     origin it is served without them, and the browser keeps the answer
//     from the page.
//
// No credentials are involved (tokens travel in Authorization), so
// Access-Control-Allow-Credentials is never sent.
func (c *corsPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		ok := c.allowed(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !ok {
				c.log.Info("sim: CORS preflight refused", "origin", origin, "path", r.URL.Path)
				writeSimError(w, http.StatusForbidden, "forbidden_origin", fmt.Sprintf(
					"origin %s may not call the simulator from a browser: loopback origins may; allow this one with linkdesk sim --cors-origin %s (sim.Options.CORSOrigins)", origin, origin))
				return
			}
			methods := c.methods(r.URL.Path)
			if len(methods) == 0 {
				writeSimError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
			h.Set("Access-Control-Allow-Headers", strings.Join(corsAllowHeaders, ", "))
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Retry-After")
		}
		next.ServeHTTP(w, r)
	})
}
