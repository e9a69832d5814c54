package ui

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// RedirectServer serves a loopback OAuth redirect URI (http://localhost:PORT/…,
// which Plaid allows in Sandbox). It matters when the bank's pages ran in the
// system browser, where there is no window.opener to return to: the bank
// sends that browser to the redirect URI with ?oauth_state_id=…, this server
// hands the full URL to OnRedirect (Link is re-created with it as
// receivedRedirectUri) and tells the user to return to linkdesk. Inside the
// app's own views the native layer intercepts the redirect URI before any
// request is made.
type RedirectServer struct {
	// URI is the redirect URI served, with the real port.
	URI string

	srv  *http.Server
	lns  []net.Listener
	once sync.Once
}

// ServeRedirect listens for rawURI, which must be an http URI on localhost,
// 127.0.0.1 or [::1] with a path; port 0 picks a free port (URI reports it).
// For localhost it listens on both 127.0.0.1 and [::1] (when available), so
// whichever address the browser resolves works.
func ServeRedirect(rawURI string, onRedirect func(string) error, log *slog.Logger) (*RedirectServer, error) {
	if log == nil {
		log = slog.Default()
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
	rs := &RedirectServer{lns: []net.Listener{ln}}
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
	path := u.Path
	okHosts := map[string]bool{u.Host: true, "127.0.0.1:" + port: true, "[::1]:" + port: true, "localhost:" + port: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		if !okHosts[r.Host] {
			http.Error(w, "wrong host", http.StatusMisdirectedRequest)
			return
		}
		full := rs.URI
		if r.URL.RawQuery != "" {
			full += "?" + r.URL.RawQuery
		}
		if r.URL.Query().Get("oauth_state_id") == "" {
			log.Warn("the OAuth redirect URI was opened without oauth_state_id")
		}
		if err := onRedirect(full); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintln(w, err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>linkdesk</title>
<body style="font:15px system-ui,sans-serif;max-width:34em;margin:4em auto;color:#1c2330">
<h1 style="font-size:20px">Back to linkdesk</h1>
<p>linkdesk received your bank's answer. You can close this tab and return to linkdesk, where Plaid Link continues.</p></body>`)
	})
	rs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	for _, l := range rs.lns {
		go rs.srv.Serve(l)
	}
	return rs, nil
}

// Close stops the server.
func (rs *RedirectServer) Close() error {
	var err error
	rs.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = rs.srv.Shutdown(ctx)
	})
	return err
}
