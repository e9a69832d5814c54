// Package session assembles one run of linkdesk: configuration → credentials
// (the OS keychain, or the built-in simulator's) → Cybrid client → link flow →
// desk → app server → window. main and the end-to-end tests both start the app
// through it, so the tests exercise exactly what ships.
//
// A session outlives environments: the app server, the navigation policy and
// the window stay, while the per-environment part (simulator, Cybrid client,
// link flow, desk, redirect server) is swapped when the operator switches
// environment, without a restart.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
	"linkdesk/app/ui"
	"linkdesk/assets"
)

// PlaidScriptURL is Plaid's Link script. It is loaded from Plaid's CDN as
// Plaid requires (never bundled), once per page.
const PlaidScriptURL = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"

// DefaultSimRedirectPath is the path of the redirect URI linkdesk serves
// itself in the simulator when none is configured.
const DefaultSimRedirectPath = "/oauth/return"

// Options tune a session beyond the configuration (tests use them).
type Options struct {
	// Sim configures the built-in simulator when the environment is sim.
	Sim sim.Options
	// StateDir holds the journals of in-flight attempts (package journal);
	// "" means journal.DefaultDir().
	StateDir string
}

// Session is a running linkdesk minus its window.
//
// The fields Config, Sim, Client, Flow, Desk and Redirect describe the
// current environment; they change when the environment is switched (read
// them through Current from other goroutines).
type Session struct {
	Config *config.Config
	// Sim is the in-process simulator (environment sim), else nil.
	Sim    *sim.Sim
	Client *cybrid.Client
	Flow   *linkflow.Flow
	Desk   *desk.Desk
	// Redirect serves the loopback OAuth redirect URI (sim, and sandbox with
	// an http://localhost redirect URI), else nil.
	Redirect *ui.RedirectServer
	// Timeline records the current environment's attempts, step by step
	// (a new one per environment start; nil before the first).
	Timeline *timeline.Recorder

	Server *ui.Server
	// Navigation is the window's pop-up and navigation policy.
	Navigation *ui.Navigation
	Log        *slog.Logger

	base    *config.Config // the configuration the session started with
	version string
	store   keychain.Store
	opts    Options

	mu       sync.Mutex
	window   *ui.Window // set once the window is open
	missing  string     // environment waiting for credentials ("" when none)
	extra    map[string]desk.Method
	journal  *journal.Journal
	switchMu sync.Mutex // one switch at a time
}

// NoCredentialsError says that no API credentials are stored for the
// environment, and how to store them.
type NoCredentialsError struct{ Env string }

func (e *NoCredentialsError) Error() string {
	return fmt.Sprintf("no Cybrid API credentials are stored for %s: store them with `linkdesk credentials set --env %s` (or use LINKDESK_ENVIRONMENT=sim for the built-in simulator)", e.Env, e.Env)
}

// Start builds a session for cfg. For sim it starts the simulator on
// loopback; otherwise it reads the credentials from store. When none are
// stored for sandbox or production, the session still starts: the page shows
// the first-run screen that stores them (Current().Desk is nil meanwhile).
func Start(cfg *config.Config, version string, log *slog.Logger, store keychain.Store, o Options) (*Session, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Session{Log: log, base: cfg, version: version, store: store, opts: o, extra: map[string]desk.Method{}}
	for name, m := range timeline.Methods(s.currentTimeline) {
		s.extra[name] = m
	}
	for name, m := range journal.Methods(s.currentJournal) {
		s.extra[name] = m
	}
	srv, err := ui.NewServer(assets.App(), ui.PageConfig{Version: version}, log)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	s.Navigation = &ui.Navigation{OnRedirect: s.oauthRedirect, OnPopup: s.popupEvent, Log: log}
	if err := s.startEnv(cfg.Environment); err != nil {
		var nc *NoCredentialsError
		if !errors.As(err, &nc) {
			s.Close()
			return nil, err
		}
		log.Warn("no API credentials stored; the window asks for them", "environment", nc.Env)
	}
	return s, nil
}

// configFor returns the configuration for env: the session's, with the
// environment replaced. Base-URL overrides apply to sandbox and production
// only (the simulator sets its own).
func (s *Session) configFor(env config.Environment) *config.Config {
	c := *s.base
	c.Environment = env
	return &c
}

// envParts is one environment's running part.
type envParts struct {
	cfg      *config.Config
	sim      *sim.Sim
	client   *cybrid.Client
	flow     *linkflow.Flow
	desk     *desk.Desk
	redirect *ui.RedirectServer
	info     desk.Info
}

func (p *envParts) close() {
	if p.flow != nil {
		p.flow.Close()
	}
	if p.redirect != nil {
		p.redirect.Close()
	}
	if p.sim != nil {
		p.sim.Close()
	}
}

// startEnv starts env's part and makes it current, closing the previous one.
func (s *Session) startEnv(env config.Environment) error {
	cfg := s.configFor(env)
	p := &envParts{cfg: cfg}
	info := desk.Info{Environment: string(env), BankGUID: cfg.BankGUID, PlaidScriptURL: PlaidScriptURL, Version: s.version}
	copts := cybrid.Options{BankURL: cfg.BankURL(), IdentityURL: cfg.IdentityURL(), UserAgent: "linkdesk/" + s.version}
	if env == config.Sim {
		so := s.opts.Sim
		if so.Logger == nil {
			so.Logger = s.Log.With("component", "sim")
		}
		sm, err := sim.Start(so)
		if err != nil {
			return fmt.Errorf("starting the built-in simulator: %w", err)
		}
		p.sim = sm
		copts.BankURL, copts.IdentityURL = sm.BankURL, sm.IdentityURL
		copts.ClientID, copts.ClientSecret = sm.ClientID, sm.ClientSecret
		info.PlaidScriptURL = sm.PlaidURL + "/link/v2/stable/link-initialize.js"
		info.Credentials = "built-in simulator"
		if info.BankGUID == "" {
			info.BankGUID = sm.Cybrid.BankGUID()
		}
	} else {
		creds, err := s.store.Get(string(env))
		if errors.Is(err, keychain.ErrNotFound) {
			s.setMissing(string(env))
			return &NoCredentialsError{Env: string(env)}
		}
		if err != nil {
			return err
		}
		copts.ClientID, copts.ClientSecret = creds.ClientID, creds.ClientSecret
		info.Credentials = "OS keychain (" + creds.ClientID + ")"
	}
	rec := timeline.New(timeline.Options{Environment: string(env), BankGUID: info.BankGUID, Version: s.version,
		Secrets: []string{copts.ClientSecret}, OnEntry: s.pushTimeline})
	if prev := copts.Observer; prev != nil {
		copts.Observer = func(c cybrid.Call) { prev(c); rec.ObserveCall(c) }
	} else {
		copts.Observer = rec.ObserveCall
	}
	client, err := cybrid.New(copts)
	if err != nil {
		p.close()
		return fmt.Errorf("setting up the Cybrid client: %w", err)
	}
	p.client = client

	// The OAuth redirect URI: served by linkdesk itself when it is a
	// loopback http URI (always so in sim), else (https, production) only
	// intercepted inside the window.
	redirectURI := cfg.RedirectURI
	if redirectURI == "" && env == config.Sim {
		redirectURI = "http://localhost:0" + DefaultSimRedirectPath
	}
	if isLoopbackHTTP(redirectURI) {
		rs, err := ui.ServeRedirect(redirectURI, func(u string) error { s.oauthRedirect(u); return nil }, s.Log)
		if err != nil {
			p.close()
			return err
		}
		p.redirect = rs
		redirectURI = rs.URI
	}
	info.RedirectURI = redirectURI
	jr := s.openJournal(env, copts.BankURL)
	p.flow = linkflow.New(client, linkflow.Settings{
		Language:              cfg.Language,
		LinkCustomizationName: cfg.LinkCustomizationName,
		RedirectURI:           redirectURI,
		Asset:                 cfg.Asset,
		PollInitial:           cfg.PollInitial,
		PollMax:               cfg.PollMax,
		WorkflowTimeout:       cfg.WorkflowTimeout,
		AccountTimeout:        cfg.AccountTimeout,
	}, s.Log, func(a linkflow.Attempt, ev linkflow.Event) {
		jr.Observe(a, ev)
		rec.ObserveAttempt(a, ev)
		s.observe(a, ev)
	})
	p.info = info
	p.desk = desk.New(info, client, p.flow)
	if env == config.Sandbox {
		// Cybrid's sandbox never reviews verifications by hand: without this
		// an ownership verification waits forever (Cybrid's own recipe).
		p.desk.VerifyBehaviours = []string{cybrid.ExpectPassedImmediately}
	}

	allowed := []string{s.Server.URL, origin(info.PlaidScriptURL)}
	if p.sim == nil {
		allowed = append(allowed, "https://*.plaid.com")
	}
	s.Navigation.Configure(allowed, redirectURI)
	s.Server.SetPage(ui.PageConfig{
		Environment: info.Environment, PlaidScriptURL: info.PlaidScriptURL, Version: s.version,
		CSP: ui.PageCSP(info.PlaidScriptURL),
	})

	s.mu.Lock()
	old := &envParts{sim: s.Sim, flow: s.Flow, redirect: s.Redirect}
	s.Config, s.Sim, s.Client, s.Flow, s.Desk, s.Redirect = cfg, p.sim, p.client, p.flow, p.desk, p.redirect
	s.Timeline = rec
	s.missing = ""
	s.mu.Unlock()
	old.close()
	s.setJournal(jr, client)
	s.Log.Info("environment ready", "environment", env, "bank_api", copts.BankURL)
	return nil
}

func (s *Session) setMissing(env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing = env
}

// Current returns the current environment's desk and flow (nil while the
// session waits for credentials).
func (s *Session) Current() (*desk.Desk, *linkflow.Flow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Desk, s.Flow
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

// observe pushes every attempt change to the page.
func (s *Session) observe(a linkflow.Attempt, ev linkflow.Event) {
	s.push(map[string]any{"type": "attempt", "attempt": a, "event": ev})
}

// currentTimeline is the current environment's timeline (the page's
// timeline calls follow environment switches).
func (s *Session) currentTimeline() *timeline.Recorder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Timeline
}

// pushTimeline sends each new timeline entry to the page as
// {"type":"timeline","entry":{…}}.
func (s *Session) pushTimeline(e timeline.Entry) {
	s.push(map[string]any{"type": "timeline", "entry": e})
}

// oauthRedirect handles the OAuth redirect URI being reached, in the window
// or in the system browser: the page re-creates Link with the same link
// token and receivedRedirectUri, and the bank's pop-up (if any) is closed.
func (s *Session) oauthRedirect(rawURL string) {
	if _, f := s.Current(); f != nil {
		f.LinkWindowEvent("OAuth redirect received; resuming Plaid Link", nil)
	}
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
	if _, f := s.Current(); f != nil {
		f.LinkWindowEvent(msg, map[string]any{"popup": ev.Kind})
	}
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

// Handle registers an extra page call (e.g. the timeline's), available in
// every environment. Call before OpenWindow.
func (s *Session) Handle(name string, m desk.Method) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra[name] = m
}

// methods is the page's call table: the current environment's desk calls
// (looked up at call time, so they follow environment switches), the
// session's own calls, and the extra ones.
func (s *Session) methods() map[string]desk.Method {
	out := map[string]desk.Method{}
	for name := range (&desk.Desk{}).Methods() {
		out[name] = func(ctx context.Context, p json.RawMessage) (any, error) {
			d, _ := s.Current()
			if d == nil {
				s.mu.Lock()
				env := s.missing
				s.mu.Unlock()
				return nil, &NoCredentialsError{Env: env}
			}
			return d.Methods()[name](ctx, p)
		}
	}
	out = journal.Wrap(out, s.currentJournal) // the account chosen in Link is journaled before it is requested
	out["info"] = s.info
	out["switchEnvironment"] = s.switchEnvironment
	out["storeCredentials"] = s.storeCredentials
	out["scenarios"] = s.scenarios
	out["applyScenario"] = s.applyScenario
	s.mu.Lock()
	for name, m := range s.extra {
		out[name] = m
	}
	s.mu.Unlock()
	return out
}

// SessionInfo is what the page's environment bar shows.
type SessionInfo struct {
	desk.Info
	// NeedsCredentials is set when the environment has no stored
	// credentials: the page shows the first-run screen.
	NeedsCredentials bool     `json:"needs_credentials"`
	Environments     []string `json:"environments"`
}

func (s *Session) info(ctx context.Context, _ json.RawMessage) (any, error) {
	s.mu.Lock()
	d, missing := s.Desk, s.missing
	s.mu.Unlock()
	envs := []string{}
	for _, e := range config.Environments {
		envs = append(envs, string(e))
	}
	if missing != "" {
		return SessionInfo{Info: desk.Info{Environment: missing, Version: s.version, Credentials: "none stored"}, NeedsCredentials: true, Environments: envs}, nil
	}
	return SessionInfo{Info: d.Info(), Environments: envs}, nil
}

// switchEnvironment switches to another environment without a restart. Any
// attempt still running in the old environment is cancelled (the page asks
// the operator to confirm first).
func (s *Session) switchEnvironment(ctx context.Context, raw json.RawMessage) (any, error) {
	var p struct {
		Environment string `json:"environment"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("parameters do not fit this call: %v", err)
	}
	env := config.Environment(p.Environment)
	if !env.Valid() {
		return nil, fmt.Errorf("environment %q is not one of sim, sandbox, production", p.Environment)
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	if err := s.startEnv(env); err != nil {
		var nc *NoCredentialsError
		if errors.As(err, &nc) {
			// Leave the old environment: the page shows the first-run screen.
			s.mu.Lock()
			old := &envParts{sim: s.Sim, flow: s.Flow, redirect: s.Redirect}
			s.Sim, s.Client, s.Flow, s.Desk, s.Redirect = nil, nil, nil, nil, nil
			s.Config = s.configFor(env)
			s.mu.Unlock()
			old.close()
			s.setJournal(nil, nil)
			return s.info(ctx, nil)
		}
		return nil, err
	}
	return s.info(ctx, nil)
}

// storeCredentials stores the client id and secret the operator typed on the
// first-run screen in the OS keychain, then starts that environment. The
// secret goes from the page to the keychain only: it is never logged and
// never sent back to the page.
func (s *Session) storeCredentials(ctx context.Context, raw json.RawMessage) (any, error) {
	var p struct {
		Environment  string `json:"environment"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if len(raw) > 4096 {
		return nil, errors.New("the credentials are too long")
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, errors.New("the credentials could not be read; type them again")
	}
	env := config.Environment(p.Environment)
	if env != config.Sandbox && env != config.Production {
		return nil, fmt.Errorf("credentials are stored for sandbox or production, not %q", p.Environment)
	}
	creds := keychain.Credentials{ClientID: p.ClientID, ClientSecret: p.ClientSecret}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	if err := s.store.Set(string(env), creds); err != nil {
		return nil, err
	}
	s.Log.Info("API credentials stored in the OS keychain", "environment", env, "client_id", creds.ClientID)
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	if err := s.startEnv(env); err != nil {
		return nil, err
	}
	return s.info(ctx, nil)
}

func (s *Session) currentSim() (*sim.Sim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Sim == nil {
		return nil, errors.New("scenarios exist only in the simulator: switch to Simulator first")
	}
	return s.Sim, nil
}

// scenarios lists the simulator's QA scenarios and the active one.
func (s *Session) scenarios(ctx context.Context, _ json.RawMessage) (any, error) {
	sm, err := s.currentSim()
	if err != nil {
		return nil, err
	}
	return map[string]any{"scenarios": sm.Scenarios(), "active": sm.ActiveScenario()}, nil
}

// applyScenario switches the simulator to a QA scenario; customer_guid (the
// customer on screen) lets "connection expired" pick that customer's account.
func (s *Session) applyScenario(ctx context.Context, raw json.RawMessage) (any, error) {
	var p struct {
		ID           string            `json:"id"`
		CustomerGUID string            `json:"customer_guid"`
		Options      map[string]string `json:"options"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("parameters do not fit this call: %v", err)
	}
	sm, err := s.currentSim()
	if err != nil {
		return nil, err
	}
	opts := p.Options
	if opts == nil {
		opts = map[string]string{}
	}
	if p.ID == "connection_expired" && opts["customer_guid"] == "" && opts["account_guid"] == "" && p.CustomerGUID != "" {
		opts["customer_guid"] = p.CustomerGUID
	}
	if err := sm.ApplyScenario(p.ID, opts); err != nil {
		return nil, err
	}
	s.Log.Info("simulator scenario applied", "scenario", p.ID)
	return map[string]any{"active": sm.ActiveScenario()}, nil
}

// OpenWindow opens the window on the app page. Call it from the main
// goroutine, then Run the window on it.
func (s *Session) OpenWindow(debug bool) (*ui.Window, error) {
	title := "linkdesk"
	if s.Config != nil {
		title += " — " + string(s.Config.Environment)
	}
	w, err := ui.Open(ui.WindowOptions{
		Title:      title,
		Debug:      debug,
		Methods:    s.methods(),
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
	s.mu.Lock()
	p := &envParts{sim: s.Sim, flow: s.Flow, redirect: s.Redirect}
	s.mu.Unlock()
	p.close()
	s.setJournal(nil, nil)
	if s.Server != nil {
		s.Server.Close()
	}
}

// openJournal opens env's journal of in-flight attempts (package journal).
// The built-in simulator's attempts are not journaled: its state ends with
// the process, so after a crash there is nothing to reconcile them with. A
// journal that cannot be opened (another linkdesk on the environment, an
// unwritable state directory) is logged and left off; linkdesk runs on.
func (s *Session) openJournal(env config.Environment, bankURL string) *journal.Journal {
	if env == config.Sim {
		return journal.Off("the built-in simulator's state ends with linkdesk, so its attempts are not journaled")
	}
	if cur := s.currentJournal(); cur != nil && cur.Env() == string(env) {
		cur.Close() // restarting the same environment: release its lock first
	}
	j, err := journal.Open(journal.Options{Dir: s.opts.StateDir, Env: string(env), BankURL: bankURL,
		Log: s.Log.With("component", "journal"), OnChange: s.pushRecovered})
	if err != nil {
		s.Log.Warn("the journal of in-flight attempts is off", "environment", env, "error", err)
		return journal.Off(err.Error())
	}
	return j
}

// setJournal makes j the current journal, closes the previous one, and
// starts checking with Cybrid the attempts j found interrupted (bounded by
// journal.RecheckTimeout); the page is told when that is done.
func (s *Session) setJournal(j *journal.Journal, api journal.API) {
	s.mu.Lock()
	old := s.journal
	s.journal = j
	s.mu.Unlock()
	if old != nil && old != j {
		old.Close()
	}
	if j != nil && api != nil {
		j.StartReconcile(api, journal.RecheckTimeout)
	}
	s.pushRecovered()
}

// currentJournal is the current environment's journal (nil before one runs).
func (s *Session) currentJournal() *journal.Journal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal
}

// pushRecovered sends the interrupted attempts to the page as
// {"type":"recovered","status":journal.Status}.
func (s *Session) pushRecovered() {
	if j := s.currentJournal(); j != nil {
		s.push(map[string]any{"type": "recovered", "status": j.Status()})
	}
}
