package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"linkdesk/app/ui/httplimit"
)

// PageConfig is what the app page needs to know at load time. It holds no
// credentials.
type PageConfig struct {
	Environment    string `json:"environment"`
	PlaidScriptURL string `json:"plaid_script_url"`
	Version        string `json:"version"`
	// CSP is the page's Content-Security-Policy (see PageCSP).
	CSP string `json:"-"`
}

// PageCSP is the app page's Content-Security-Policy: scripts only from the
// app itself and Plaid's Link script, frames only from Link's origin (Link runs
// in an iframe), no inline script, no plugins, no forms, not framable.
// plaidScriptURL is https://cdn.plaid.com/link/v2/stable/link-initialize.js,
// or the simulator's copy.
func PageCSP(plaidScriptURL string) string {
	origin := plaidScriptURL
	if u, err := url.Parse(plaidScriptURL); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	connect := "'self'"
	if strings.HasSuffix(origin, "cdn.plaid.com") {
		connect += " https://production.plaid.com https://sandbox.plaid.com"
	} else {
		connect += " " + origin
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self' " + plaidScriptURL,
		"frame-src " + origin + "/",
		"connect-src " + connect,
		"img-src 'self' data:",
		// Plaid styles its iframe through style attributes.
		"style-src 'self' 'unsafe-inline'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// Server is the app's loopback HTTP server: it serves the operator UI from an
// embedded file system on http://127.0.0.1:PORT (a real, secure origin, unlike
// SetHtml's "null").
//
// The page carries a per-launch session secret that every page call must
// send (see calls.go); only the app's own page holds it. Because any local
// process can reach a loopback port, the page is served only to a client
// that first opened the launch URL (which only the window knows): that
// request sets an HttpOnly, SameSite=Strict cookie. Requests for another Host
// are refused.
type Server struct {
	// URL is the server's origin, e.g. http://127.0.0.1:41234.
	URL string
	// Secret is the per-launch session secret the page sends with every
	// call (header CallHeader).
	Secret string

	launchMu sync.Mutex
	launch   string // one-time path component of the launch URL; "" once used
	cookie   string // value of the session cookie
	host     string
	files    fs.FS
	pageMu   sync.Mutex
	page     PageConfig
	index    *template.Template
	srv      *httplimit.Server
	ln       net.Listener
	log      *slog.Logger
	mux      *http.ServeMux
	refused  *limitedLog

	callsMu sync.Mutex
	calls   Calls
}

const cookieName = "linkdesk_session"

// AppLimits bound the app server's connections (see package httplimit).
// Its one client is the window's web view, which keeps a few connections
// alive (at most 6 per host in WebKit) and dials again at no cost: 15 s
// idle, 64 at once. A page call may run longer than WriteTimeout: it moves
// its own write deadline to Calls.Timeout plus callWriteSlack.
var AppLimits = httplimit.Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       15 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          64,
}

// callWriteSlack is how long after its Calls.Timeout a page call's answer
// may still be written.
const callWriteSlack = 10 * time.Second

// NewServer listens on 127.0.0.1 with a random port and serves files (the
// assets/app tree, which must hold index.html).
func NewServer(files fs.FS, page PageConfig, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	raw, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("ui: the embedded UI has no index.html: %w", err)
	}
	tmpl, err := template.New("index").Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("ui: index.html: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ui: cannot listen on a loopback port: %w", err)
	}
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		Secret: randomToken(),
		launch: randomToken(),
		cookie: randomToken(),
		host:   ln.Addr().String(),
		files:  files,
		page:   page,
		index:  tmpl,
		ln:     ln,
		log:    log,
		mux:    http.NewServeMux(),
	}
	s.refused = newLimitedLog(log, 5, "ui server: more refused requests were not logged")
	s.SetCalls(Calls{})
	s.mux.HandleFunc("GET /launch/{token}", s.handleLaunch)
	s.mux.HandleFunc("POST "+callPath+"{method}", s.handleCall)
	s.mux.HandleFunc("GET /{$}", s.handleIndex)
	s.mux.HandleFunc("GET /", s.handleFile)
	s.srv = AppLimits.New(s, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	go s.srv.Serve(ln)
	return s, nil
}

// Handle registers an extra handler on the server (e.g. the OAuth redirect
// return). It is subject to the same Host check.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetPage replaces what the page is told at load time (after an environment
// switch); the next page load uses it.
func (s *Server) SetPage(p PageConfig) {
	s.pageMu.Lock()
	defer s.pageMu.Unlock()
	s.page = p
}

// LaunchURL is the URL the window opens first; it works once.
func (s *Server) LaunchURL() string {
	s.launchMu.Lock()
	defer s.launchMu.Unlock()
	return s.URL + "/launch/" + s.launch
}

// ConnStats counts the server's connections (see AppLimits).
func (s *Server) ConnStats() httplimit.Stats { return s.srv.Stats() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	defer s.refused.Close()
	return s.srv.Shutdown(ctx)
}

// ServeHTTP checks the Host header and cross-origin requests, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Host != s.host {
		s.refused.Log("ui server: refused a request for another host", "host", truncate(r.Host, 80), "path", truncate(r.URL.Path, 80))
		http.Error(w, "wrong host", http.StatusMisdirectedRequest)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != s.URL {
		s.refused.Log("ui server: refused a cross-origin request", "origin", truncate(o, 80), "path", truncate(r.URL.Path, 80))
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		s.refused.Log("ui server: refused a cross-site request", "path", truncate(r.URL.Path, 80))
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, callPath) {
		// A page call's answer may come later than AppLimits.WriteTimeout,
		// never later than its own timeout allows.
		s.callsMu.Lock()
		d := s.calls.Timeout + callWriteSlack
		s.callsMu.Unlock()
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleLaunch(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	s.launchMu.Lock()
	ok := s.launch != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.launch)) == 1
	if ok {
		s.launch = "" // one use
	}
	s.launchMu.Unlock()
	if !ok {
		http.Error(w, "this launch link is not valid", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) authorized(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.cookie)) == 1
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "linkdesk's page is only served to its own window", http.StatusForbidden)
		return
	}
	s.pageMu.Lock()
	page := s.page
	s.pageMu.Unlock()
	cfg, _ := json.Marshal(page)
	var buf bytes.Buffer
	err := s.index.Execute(&buf, map[string]any{
		"Secret": s.Secret,
		"Config": string(cfg),
	})
	if err != nil {
		s.log.Error("ui server: rendering index.html", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if page.CSP != "" {
		w.Header().Set("Content-Security-Policy", page.CSP)
	}
	w.Write(buf.Bytes())
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "index.html" || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(s.files, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func randomToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
