// Package session assembles one run of linkdesk: configuration → credentials
// (the OS keychain, or the built-in simulator's) → Cybrid client → link flow →
// desk → app server → window. main and the end-to-end tests both start the app
// through it, so the tests exercise exactly what ships.
package session

import (
	"errors"
	"fmt"
	"log/slog"
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
	Log    *slog.Logger

	mu     sync.Mutex
	bridge *ui.Bridge // set once the window is open
}

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
	s.Flow = linkflow.New(client, linkflow.Settings{
		Language:              cfg.Language,
		LinkCustomizationName: cfg.LinkCustomizationName,
		RedirectURI:           cfg.RedirectURI,
		Asset:                 cfg.Asset,
		PollInitial:           cfg.PollInitial,
		PollMax:               cfg.PollMax,
		WorkflowTimeout:       cfg.WorkflowTimeout,
		AccountTimeout:        cfg.AccountTimeout,
	}, log, s.observe)
	s.Desk = desk.New(info, client, s.Flow)
	srv, err := ui.NewServer(assets.App(), ui.PageConfig{Environment: info.Environment, PlaidScriptURL: info.PlaidScriptURL, Version: version}, log)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Server = srv
	return s, nil
}

// observe pushes every attempt change to the page.
func (s *Session) observe(a linkflow.Attempt, ev linkflow.Event) {
	s.mu.Lock()
	b := s.bridge
	s.mu.Unlock()
	if b != nil {
		b.Push(map[string]any{"type": "attempt", "attempt": a, "event": ev})
	}
}

// OpenWindow opens the window on the app page. Call it from the main
// goroutine, then Run the window on it.
func (s *Session) OpenWindow(debug bool) (*ui.Window, error) {
	w, err := ui.Open(ui.WindowOptions{
		Title:   "linkdesk — " + string(s.Config.Environment),
		Debug:   debug,
		Methods: s.Desk.Methods(),
		Server:  s.Server,
		Logger:  s.Log,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.bridge = w.Bridge
	s.mu.Unlock()
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
	if s.Sim != nil {
		s.Sim.Close()
	}
}
