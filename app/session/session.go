// Package session assembles one run of linkdesk: configuration → credentials
// (the OS keychain, or the built-in simulator's) → Cybrid client → link flow →
// desk → app server → window. main and the end-to-end tests both start the app
// through it, so the tests exercise exactly what ships.
package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
	"linkdesk/assets"
)

// PlaidScriptURL is Plaid's Link script. It is loaded from Plaid's CDN as
// Plaid requires (never bundled), once per page.
const PlaidScriptURL = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"

// Options tune a session beyond the configuration (tests use them).
type Options struct {
	// Sim configures the built-in simulator when the environment is sim.
	Sim sim.Options
}

// Session is a running linkdesk minus its window.
type Session struct {
	Config *config.Config
	// Sim is the in-process simulator (environment sim), else nil.
	Sim    *sim.Sim
	Client *cybrid.Client
	Flow   *linkflow.Flow
	Desk   *desk.Desk
	Server *ui.Server
	// Redirect serves the loopback OAuth redirect URI (sim, and sandbox with
	// an http://localhost redirect URI), else nil.
	Redirect *ui.RedirectServer
	// Navigation is the window's pop-up and navigation policy.
	Navigation *ui.Navigation
	Log        *slog.Logger

	mu     sync.Mutex
	window *ui.Window // set once the window is open
}

// DefaultSimRedirectPath is the path of the redirect URI linkdesk serves
// itself in the simulator when none is configured.
const DefaultSimRedirectPath = "/oauth/return"

// NoCredentialsError says that no API credentials are stored for the
// environment, and how to store them.
type NoCredentialsError struct{ Env string }

func (e *NoCredentialsError) Error() string {
	return fmt.Sprintf("no Cybrid API credentials are stored for %s: store them with `linkdesk credentials set --env %s` (or use LINKDESK_ENVIRONMENT=sim for the built-in simulator)", e.Env, e.Env)
}

// Start builds a session for cfg. For sim it starts the simulator on
// loopback; otherwise it reads the credentials from store.
func Start(cfg *config.Config, version string, log *slog.Logger, store keychain.Store, o Options) (*Session, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Session{Config: cfg, Log: log}
	info := desk.Info{Environment: string(cfg.Environment), BankGUID: cfg.BankGUID, PlaidScriptURL: PlaidScriptURL, Version: version}
	copts := cybrid.Options{BankURL: cfg.BankURL(), IdentityURL: cfg.IdentityURL(), UserAgent: "linkdesk/" + version}
	if cfg.Environment == config.Sim {
		so := o.Sim
		if so.Logger == nil {
			so.Logger = log.With("component", "sim")
		}
		sm, err := sim.Start(so)
		if err != nil {
			return nil, fmt.Errorf("starting the built-in simulator: %w", err)
		}
		s.Sim = sm
		copts.BankURL, copts.IdentityURL = sm.BankURL, sm.IdentityURL
		copts.ClientID, copts.ClientSecret = sm.ClientID, sm.ClientSecret
		info.PlaidScriptURL = sm.PlaidURL + "/link/v2/stable/link-initialize.js"
		info.Credentials = "built-in simulator"
		if info.BankGUID == "" {
			info.BankGUID = sm.Cybrid.BankGUID()
		}
	} else {
		creds, err := store.Get(string(cfg.Environment))
		if errors.Is(err, keychain.ErrNotFound) {
			return nil, &NoCredentialsError{Env: string(cfg.Environment)}
		}
		if err != nil {
			return nil, err
		}
		copts.ClientID, copts.ClientSecret = creds.ClientID, creds.ClientSecret
		info.Credentials = "OS keychain (" + creds.ClientID + ")"
	}
	client, err := cybrid.New(copts)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("setting up the Cybrid client: %w", err)
	}
	s.Client = client

	// The OAuth redirect URI: served by linkdesk itself when it is a
	// loopback http URI (always so in sim), else (https, production) only
	// intercepted inside the window.
	redirectURI := cfg.RedirectURI
	if redirectURI == "" && cfg.Environment == config.Sim {
		redirectURI = "http://localhost:0" + DefaultSimRedirectPath
	}
	if isLoopbackHTTP(redirectURI) {
		rs, err := ui.ServeRedirect(redirectURI, s.oauthRedirect, log)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Redirect = rs
		redirectURI = rs.URI
	}
	s.Flow = linkflow.New(client, linkflow.Settings{
		Language:              cfg.Language,
		LinkCustomizationName: cfg.LinkCustomizationName,
		RedirectURI:           redirectURI,
		Asset:                 cfg.Asset,
		PollInitial:           cfg.PollInitial,
		PollMax:               cfg.PollMax,
		WorkflowTimeout:       cfg.WorkflowTimeout,
		AccountTimeout:        cfg.AccountTimeout,
	}, log, s.observe)
	s.Desk = desk.New(info, client, s.Flow)
	srv, err := ui.NewServer(assets.App(), ui.PageConfig{
		Environment: info.Environment, PlaidScriptURL: info.PlaidScriptURL, Version: version,
		CSP: ui.PageCSP(info.PlaidScriptURL),
	}, log)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Server = srv
	allowed := []string{srv.URL, origin(info.PlaidScriptURL)}
	if s.Sim == nil {
		allowed = append(allowed, "https://*.plaid.com")
	}
	s.Navigation = &ui.Navigation{
		Allowed:     allowed,
		RedirectURI: redirectURI,
		OnRedirect:  s.oauthRedirect,
		OnPopup:     s.popupEvent,
		Log:         log,
	}
	return s, nil
}

func isLoopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// oauthRedirect handles the OAuth redirect URI being reached, in the window
// or in the system browser: the page re-creates Link with the same link
// token and receivedRedirectUri, and the bank's pop-up (if any) is closed.
func (s *Session) oauthRedirect(rawURL string) {
	s.Flow.LinkWindowEvent("OAuth redirect received; resuming Plaid Link", nil)
	s.push(map[string]any{"type": "oauth_redirect", "url": rawURL})
	s.mu.Lock()
	w := s.window
	s.mu.Unlock()
	if w != nil {
		w.ClosePopups(true)
	}
}

var popupMessages = map[string]string{
	"opened":         "The bank's sign-in window opened",
	"closed_by_page": "The bank's sign-in window closed itself",
	"closed_by_user": "The bank's sign-in window was closed before finishing; the customer is back in Plaid Link",
	"open_external":  "The bank's sign-in page was opened in the system browser; Link continues when the bank sends the customer back",
}

// popupEvent records what happened to the bank's pop-up on the open attempt.
func (s *Session) popupEvent(ev ui.PopupEvent) {
	msg := popupMessages[ev.Kind]
	if msg == "" {
		msg = "Pop-up window: " + ev.Kind
	}
	s.Flow.LinkWindowEvent(msg, map[string]any{"popup": ev.Kind})
	s.push(map[string]any{"type": "popup", "kind": ev.Kind})
}

func (s *Session) push(msg any) {
	s.mu.Lock()
	w := s.window
	s.mu.Unlock()
	if w != nil {
		w.Bridge.Push(msg)
	}
}

// observe pushes every attempt change to the page.
func (s *Session) observe(a linkflow.Attempt, ev linkflow.Event) {
	s.push(map[string]any{"type": "attempt", "attempt": a, "event": ev})
}

// OpenWindow opens the window on the app page. Call it from the main
// goroutine, then Run the window on it.
func (s *Session) OpenWindow(debug bool) (*ui.Window, error) {
	w, err := ui.Open(ui.WindowOptions{
		Title:      "linkdesk — " + string(s.Config.Environment),
		Debug:      debug,
		Methods:    s.Desk.Methods(),
		Server:     s.Server,
		Logger:     s.Log,
		Navigation: s.Navigation,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.window = w
	s.mu.Unlock()
	installBenchReady(w, s.Log) // app/bench's measurement hook; off unless LINKDESK_BENCH_READY=1
	return w, nil
}

// Close stops the flow, the app server and the simulator.
func (s *Session) Close() {
	if s.Flow != nil {
		s.Flow.Close()
	}
	if s.Server != nil {
		s.Server.Close()
	}
	if s.Redirect != nil {
		s.Redirect.Close()
	}
	if s.Sim != nil {
		s.Sim.Close()
	}
}
