// Package session assembles one run of linkdesk: configuration →
// environment (package environment: the simulator or Cybrid, its client,
// link flow, timeline and journal) → the page's API (package pageapi) → app
// server and window (package ui). main and the end-to-end tests both start
// the app through it, so the tests exercise exactly what ships.
//
// A session outlives environments: the app server, the navigation policy and
// the window stay, while the environment — one immutable environment.Env —
// is swapped atomically when the operator switches, without a restart.
package session

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/environment"
	"linkdesk/app/handover"
	"linkdesk/app/institutions"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/oauthroute"
	"linkdesk/app/pageapi"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/target"
	"linkdesk/app/timeline"
	"linkdesk/app/ui"
	"linkdesk/assets"
)

// Options tune a session beyond the configuration (tests use them).
type Options struct {
	// Sim configures the built-in simulator when the environment is sim.
	// Its StateFile defaults to sim.StateFileName in StateDir (simreset.go).
	Sim sim.Options
	// StateDir holds the journals of in-flight attempts (package journal),
	// the audit log (package audit) and the banks' names (package
	// institutions); "" means userdirs.State().
	StateDir string
	// Width and Height size the window (0: 1280×800).
	Width, Height int
	// RuntimeDir stands in for $XDG_RUNTIME_DIR: the linkdesk:// hand-over
	// (package handover) listens in its folder linkdesk; "" means
	// handover.Dir().
	RuntimeDir string
}

// Session is a running linkdesk minus its window.
type Session struct {
	// Server is the loopback app server; Navigation the window's pop-up
	// and navigation policy.
	Server     *ui.Server
	Navigation *ui.Navigation
	Log        *slog.Logger

	base    *config.Config // the configuration the session started with
	version string
	store   keychain.Store
	opts    Options
	api     *pageapi.API
	started time.Time

	env      atomic.Pointer[environment.Env] // nil while waiting
	waiting  atomic.Pointer[waitState]       // why, while env is nil
	switchMu sync.Mutex                      // one switch at a time
	// sims is the run's built-in simulator: started when first needed and
	// kept, with its address and state, across environment switches.
	sims *target.Simulator
	// timelines are the environments' timelines, kept across switches
	// (guarded by switchMu).
	timelines map[config.Environment]*keptTimeline
	// shelves are the environments' prepared link tokens, kept across
	// switches (guarded by switchMu; see prefetch.go).
	shelves map[config.Environment]*keptShelf
	// audit is the run's audit log (one file for every environment);
	// names the banks' names learned from Plaid Link.
	audit *audit.Log
	names *institutions.Names

	mu     sync.Mutex
	window *ui.Window // set once the window is open

	// router decides where banks' OAuth pages open; wait is the attempt
	// waiting for its bank in the system browser (oauth.go).
	router *oauthroute.Router
	waitMu sync.Mutex
	wait   *browserWait
	// handover takes linkdesk:// URLs from a second linkdesk (nil when it
	// could not listen); returns is the loopback port the hosted return
	// page forwards to, started with the first https redirect URI.
	handover *handover.Server
	returns  *ui.RedirectServer
}

// waitState is the environment a session waits for and why: no stored
// credentials, or a keychain that cannot be used now.
type waitState struct {
	env config.Environment
	err error
}

// waits reports whether a failure to resolve an environment makes the
// session wait — showing the problem in the window, with a way to try again
// — instead of failing: missing or unreadable credentials, and every
// keychain problem (locked, denied, unavailable, not answering). The
// classifier decides which errors those are.
func waits(err error) bool {
	switch problem.Classify(err).Kind {
	case problem.MissingCredentials, problem.KeychainLocked, problem.KeychainDenied,
		problem.KeychainUnavailable, problem.KeychainTimeout:
		return true
	}
	return false
}

// keptTimeline is an environment's timeline and the client secret it was
// made to keep out of its entries.
type keptTimeline struct {
	rec    *timeline.Recorder
	secret string
}

// NoCredentialsError says that no API credentials are stored for the
// environment, and how to store them.
type NoCredentialsError = target.NoCredentialsError

// Start builds a session for cfg. For sim it starts the simulator on
// loopback; otherwise it reads the credentials from store. When none are
// stored for sandbox or production, or the OS keychain cannot be used
// (locked, access denied, unavailable, not answering), the session still
// starts, so that the window opens: Info carries the problem (the page shows
// the first-run screen, or what is wrong with the keychain and how to fix
// it, with the simulator as a way on), RetryEnvironment tries again, and Env
// reports the error meanwhile. Other failures (the simulator or the
// environment cannot start) fail Start.
func Start(cfg *config.Config, version string, log *slog.Logger, store keychain.Store, o Options) (*Session, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Session{Log: log, base: cfg, version: version, store: store, opts: o, started: time.Now(),
		timelines: map[config.Environment]*keptTimeline{}}
	so := o.Sim
	if so.Logger == nil {
		so.Logger = log.With("component", "sim")
	}
	if so.Addr == "" {
		so.Addr = cfg.SimAddr
	}
	if so.StateFile == "" {
		so.StateFile = simStateFile(o.StateDir, log)
	}
	s.sims = target.NewSimulator(so)
	s.audit, s.names = openState(o.StateDir, log)
	s.api = pageapi.New(s, log)
	srv, err := ui.NewServer(assets.App(), ui.PageConfig{Version: version}, log)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	srv.SetCalls(ui.Calls{Serve: s.api.Serve, MaxParams: pageapi.MaxParams})
	s.router = oauthroute.New(oauthroute.Mode(cfg.OAuthRoute), cfg.OAuthBrowserInstitutions())
	s.Navigation = &ui.Navigation{OnRedirect: func(u string) { s.oauthReturn(u) }, OnPopup: s.popupEvent,
		RouteToBrowser: s.routeBankPage, Log: log}
	// The page itself, whatever happens to the environment: a session that
	// waits (no credentials, a locked keychain) must still load its page.
	s.Navigation.Configure([]string{s.Server.URL}, "")
	s.listenHandover()
	if err := s.switchTo(cfg.Environment); err != nil {
		if !waits(err) {
			s.Close()
			return nil, err
		}
		p := problem.ClassifyFor(string(cfg.Environment), err)
		log.Warn("the environment waits; the window says why", "environment", cfg.Environment, "problem", p.Kind, "headline", p.Headline, "err", err)
	}
	return s, nil
}

// openState opens the audit log and the banks' names in the state directory.
// Either may fail (an unwritable folder): linkdesk then runs on, with the
// audit log off (the page's audit view says why) or the names kept in memory.
func openState(dir string, log *slog.Logger) (*audit.Log, *institutions.Names) {
	al, err := audit.Open(audit.Options{Dir: dir, Log: log.With("component", "audit")})
	if err != nil {
		log.Error("the audit log is off: operator actions are not recorded", "error", err)
		al = audit.Off(err.Error())
	}
	names, err := institutions.Open(dir, log.With("component", "institutions"))
	if err != nil {
		log.Warn("bank names are kept in memory only", "error", err)
		names = institutions.Memory()
	}
	return al, names
}

// Env returns the current environment, or, while the session waits, why:
// *NoCredentialsError, or the keychain's error (a *keychain.LockedError, …).
// The Env never changes; a switch replaces it.
func (s *Session) Env() (*environment.Env, error) {
	if e := s.env.Load(); e != nil {
		return e, nil
	}
	if w := s.waiting.Load(); w != nil {
		return nil, w.err
	}
	return nil, &NoCredentialsError{Env: string(s.base.Environment)}
}

// switchTo resolves and starts env and makes it current, then stops the
// previous one. Without stored credentials, or when the keychain cannot be
// used (see waits), the previous one is stopped too and the session waits
// for env, returning the error; on any other failure the previous
// environment stays current.
func (s *Session) switchTo(env config.Environment) error {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	return s.switchToLocked(env)
}

// switchToLocked is switchTo; the caller holds switchMu.
func (s *Session) switchToLocked(env config.Environment) error {
	c := *s.base
	c.Environment = env
	old := s.env.Load()
	if old != nil && old.Target.Name == env {
		// The same environment again (credentials stored anew): its
		// journal is locked until it stops.
		s.env.Store(nil)
		old.Close()
		old = nil
	}
	tg, err := target.Resolve(&c, s.store, s.sims)
	if err != nil {
		if waits(err) {
			s.waiting.Store(&waitState{env: env, err: err})
			s.env.Store(nil)
			s.Navigation.Configure([]string{s.Server.URL}, "") // no Plaid, no redirect URI meanwhile
			if old != nil {
				old.Close()
			}
		}
		return err
	}
	kept := s.timelines[env]
	if kept != nil && kept.secret != tg.Credentials.ClientSecret {
		// Other credentials: the kept timeline does not know the new
		// secret to keep it out of its entries, so it starts anew.
		kept = nil
	}
	var tl *timeline.Recorder
	if kept != nil {
		tl = kept.rec
	}
	e, err := environment.Start(tg, environment.Hooks{
		Version: s.version, Log: s.Log, StateDir: s.opts.StateDir,
		Timeline:     tl,
		OnAttempt:    s.observe,
		OnTimeline:   func(en timeline.Entry) { s.push(pageapi.TimelinePush(en)) },
		OnRecovered:  s.pushRecovered,
		OnRedirect:   s.oauthReturn,
		Audit:        s.audit,
		Institutions: s.names,
		Shelf:        s.shelfFor(env, tg.Credentials.ClientSecret),
		OnPrepared:   s.preparedPusher(env),
	})
	if err != nil {
		return err
	}
	s.timelines[env] = &keptTimeline{rec: e.Timeline, secret: tg.Credentials.ClientSecret}
	s.Navigation.Configure(append([]string{s.Server.URL}, tg.PlaidOrigins()...), e.RedirectURI)
	s.Server.SetPage(ui.PageConfig{
		Environment: string(env), PlaidScriptURL: tg.PlaidScriptURL, Version: s.version,
		CSP: ui.PageCSP(tg.PlaidScriptURL),
	})
	s.waiting.Store(nil)
	s.env.Store(e)
	s.serveReturns(e)
	if old != nil {
		old.Close()
	}
	s.pushRecovered()
	return nil
}

// Info implements pageapi.Backend.
func (s *Session) Info() pageapi.SessionInfo {
	route := s.OAuthRoute()
	if e := s.env.Load(); e != nil {
		info := pageapi.InfoOf(e, s.version)
		info.OAuthRoute = &route
		return info
	}
	w := s.waiting.Load()
	if w == nil {
		w = &waitState{env: s.base.Environment, err: &NoCredentialsError{Env: string(s.base.Environment)}}
	}
	info := pageapi.InfoWaiting(w.env, s.version, problem.ClassifyFor(string(w.env), w.err))
	info.OAuthRoute = &route
	return info
}

// SwitchEnvironment implements pageapi.Backend: attempts still running in
// the old environment are cancelled (the page asks the operator first). An
// environment that waits (see Start) is not an error: the answer's Problem
// says why. The switch is recorded in the audit log, under the environment
// switched to.
func (s *Session) SwitchEnvironment(env config.Environment) (pageapi.SessionInfo, error) {
	from := s.Info().Environment
	rec := audit.Record{Environment: string(env), Action: audit.ActionSwitchEnvironment, Outcome: audit.OutcomeSuccess,
		Detail: fmt.Sprintf("Switched from %s to %s", from, env)}
	err := s.switchTo(env)
	var nc *NoCredentialsError
	switch {
	case errors.As(err, &nc):
		rec.Detail += "; no API credentials are stored for it, so the first-run screen asks for them"
	case err != nil && waits(err):
		rec.Detail += "; it waits: " + problem.Classify(err).Headline
	case err != nil:
		rec.Outcome, rec.Detail = audit.OutcomeFailure, fmt.Sprintf("Switching from %s to %s failed: %v", from, env, err)
	}
	s.audit.Append(rec)
	if err != nil && !waits(err) {
		return pageapi.SessionInfo{}, err
	}
	return s.Info(), nil
}

// RetryEnvironment implements pageapi.Backend: while the session waits (no
// credentials, a locked or unreachable keychain…), it resolves that
// environment again — reading the keychain anew — and starts it if it can
// now. While an environment runs it changes nothing. The answer is the
// session then; it is an error only when the environment fails in a way
// that does not make it wait.
func (s *Session) RetryEnvironment() (pageapi.SessionInfo, error) {
	w := s.waiting.Load()
	if w == nil || s.env.Load() != nil {
		return s.Info(), nil
	}
	if err := s.switchTo(w.env); err != nil {
		if !waits(err) {
			return pageapi.SessionInfo{}, err
		}
		s.Log.Info("the environment still waits", "environment", w.env, "problem", problem.Classify(err).Kind)
	}
	return s.Info(), nil
}

// StoreCredentials implements pageapi.Backend: the client id and secret the
// operator typed on the first-run screen go to the OS keychain, then that
// environment starts. The secret goes from the page to the keychain only:
// it is never logged and never sent back to the page.
func (s *Session) StoreCredentials(env config.Environment, creds keychain.Credentials) (pageapi.SessionInfo, error) {
	rec := audit.Record{Environment: string(env), Action: audit.ActionCredentialsStore, Outcome: audit.OutcomeSuccess,
		Detail: "Stored API credentials (client id " + creds.ClientID + ") in the OS keychain from the first-run screen"}
	if err := s.store.Set(string(env), creds); err != nil {
		rec.Outcome, rec.Detail = audit.OutcomeFailure, fmt.Sprintf("Storing API credentials (client id %s) in the OS keychain failed: %v", creds.ClientID, err)
		s.audit.Append(rec, creds.ClientSecret)
		return pageapi.SessionInfo{}, err
	}
	s.audit.Append(rec, creds.ClientSecret)
	s.Log.Info("API credentials stored in the OS keychain", "environment", env, "client_id", creds.ClientID)
	if err := s.switchTo(env); err != nil && !waits(err) {
		return pageapi.SessionInfo{}, err
	}
	return s.Info(), nil
}

// AuditLog implements pageapi.Backend: the run's audit log.
func (s *Session) AuditLog() *audit.Log { return s.audit }

// PageReady implements pageapi.Backend: it logs BenchReadyMessage, the
// landmark app/bench times start-up by.
func (s *Session) PageReady() {
	s.Log.Info(BenchReadyMessage, "since_start", time.Since(s.started).Round(time.Millisecond))
}

// BenchReadyMessage is logged once the page is interactive (its customer
// list rendered): app/bench times cold start by it.
const BenchReadyMessage = "page interactive"

// observe pushes every attempt change to the page.
func (s *Session) observe(a linkflow.Attempt, ev linkflow.Event) {
	s.push(pageapi.AttemptPush(a, ev))
}

// oauthReturn handles the OAuth redirect URI being reached, in the window
// or in the system browser. It acts only while an attempt's Link waits for
// its bank, once (linkflow.Flow.OAuthReturn): the page re-creates Link for
// that attempt with the same link token and receivedRedirectUri, and the
// bank's pop-up (if any) is closed. Otherwise it changes nothing and says
// why.
func (s *Session) oauthReturn(rawURL string) error {
	e := s.env.Load()
	if e == nil {
		return ui.ErrNotWaiting
	}
	a, err := e.Flow.OAuthReturn(rawURL)
	if err != nil {
		if errors.Is(err, linkflow.ErrNotWaitingForBank) {
			s.Log.Warn("an OAuth redirect arrived while no bank sign-in was expected; ignored")
			return ui.ErrNotWaiting
		}
		// Stale, foreign or missing oauth_state_id: the text says which,
		// for the person in the browser (the id itself is not logged).
		s.Log.Warn("an OAuth redirect was refused", "why", err)
		return err
	}
	s.endWait(a.ID, "returned")
	s.push(pageapi.OAuthRedirectPush(a.ID, rawURL))
	if w := s.currentWindow(); w != nil {
		w.ClosePopups(true)
		w.Present() // the customer comes back from the browser to linkdesk
	}
	return nil
}

var popupMessages = map[string]string{
	"opened":               "The bank's sign-in window opened",
	"closed_by_page":       "The bank's sign-in window closed itself",
	"closed_by_user":       "The bank's sign-in window was closed before finishing; the customer is back in Plaid Link",
	"open_external":        "The bank's sign-in page was opened in the system browser; Link continues when the bank sends the customer back",
	"open_external_failed": "The system browser could not be opened for the bank's sign-in page; the page stays in linkdesk's window, where Copy link gives its address",
}

// popupEvent records what happened to the bank's pop-up on the open attempt.
func (s *Session) popupEvent(ev ui.PopupEvent) {
	msg := popupMessages[ev.Kind]
	if msg == "" {
		msg = browserWaitMessages[ev.Kind]
	}
	if msg == "" {
		msg = "Pop-up window: " + ev.Kind
	}
	if e := s.env.Load(); e != nil {
		data := map[string]any{"popup": ev.Kind}
		if ev.Err != "" {
			data["error"] = ev.Err
		}
		if ev.Reason != "" {
			data["reason"] = ev.Reason
		}
		switch ev.Kind {
		case "opened":
			e.Flow.AwaitBankAt(linkflow.BankWait{Message: msg, Data: data, PageURL: ev.URL})
		case "open_external", "routed_external":
			reached := e.Flow.AwaitBankAt(linkflow.BankWait{Message: msg, Data: data, PageURL: ev.URL, InBrowser: true})
			s.startWait(e, reached, ev)
		case "browser_wait_cancelled":
			e.Flow.EndBankWait(msg, data)
			s.endWait("", "cancelled")
		case "browser_wait_ended":
			e.Flow.LinkWindowEvent(msg, data)
			s.endWait("", "ended")
		default:
			e.Flow.LinkWindowEvent(msg, data)
		}
	}
	s.push(pageapi.PopupPush(ev.Kind, ev.Err))
}

// pushRecovered sends the interrupted attempts to the page.
func (s *Session) pushRecovered() {
	if e := s.env.Load(); e != nil {
		s.push(pageapi.RecoveredPush(e.Journal.Status()))
	}
}

func (s *Session) currentWindow() *ui.Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window
}

func (s *Session) push(msg any) {
	if w := s.currentWindow(); w != nil {
		w.Push(msg)
	}
}

// OpenWindow opens the window on the app page. Call it from the main
// goroutine, then Run the window on it.
func (s *Session) OpenWindow(debug bool) (*ui.Window, error) {
	title := "linkdesk — " + s.Info().Environment
	w, err := ui.Open(ui.WindowOptions{
		Title:      title,
		Width:      s.opts.Width,
		Height:     s.opts.Height,
		Debug:      debug,
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
	return w, nil
}

// Close stops the environment, the simulator and the app server.
func (s *Session) Close() {
	s.switchMu.Lock()
	e := s.env.Swap(nil)
	s.switchMu.Unlock()
	if e != nil {
		e.Close()
	}
	s.sims.Close()
	if s.Server != nil {
		s.Server.Close()
	}
	if s.handover != nil {
		s.handover.Close()
	}
	if s.returns != nil {
		s.returns.Close()
	}
	s.audit.Close()
}
