// Package environment runs one environment linkdesk works in — the built-in
// simulator, Cybrid's sandbox or production — as one immutable value.
//
// Start builds an environment's running parts on a target.Target (where
// "sim or real" was decided, once) — the Cybrid client, the link flow, the
// desk, the timeline, the crash journal, the audit recorder and the loopback
// redirect server —
// as an Env that never changes afterwards; the session swaps whole Envs when
// the operator switches environment.
package environment

import (
	"fmt"
	"log/slog"
	"net/url"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/desk"
	"linkdesk/app/institutions"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/target"
	"linkdesk/app/timeline"
	"linkdesk/app/ui"
)

// Env is a running environment. Its fields are set by Start and never
// change; Close stops it.
type Env struct {
	Target   *target.Target
	Client   *cybrid.Client
	Flow     *linkflow.Flow
	Desk     *desk.Desk
	Timeline *timeline.Recorder
	// Journal records in-flight attempts for crash recovery (off when it
	// could not be opened, or for a simulator that keeps its state in
	// memory only: Journal.Status says why).
	Journal *journal.Journal
	// Redirect serves the loopback OAuth redirect URI (sim, and sandbox
	// with an http://localhost redirect URI), else nil.
	Redirect *ui.RedirectServer
	// RedirectURI is the redirect URI sent with workflows ("" none), with
	// the port the redirect server took.
	RedirectURI string
	// VerifyBehaviours are Cybrid's sandbox expected_behaviours sent with
	// ownership verifications (passed_immediately in sandbox); nil
	// elsewhere.
	VerifyBehaviours []string
	// Audit records the environment's actions in the session's audit log:
	// every attempt's start and end (from the flow's events), and what the
	// page's calls record (unlink). Never nil; it records nothing when the
	// log is off.
	Audit *audit.Recorder
	// Institutions are the banks' names learned from Plaid Link (never
	// nil): the desk's account rows and the audit records name banks from
	// them.
	Institutions *institutions.Names
}

// Hooks connect an Env to the rest of linkdesk.
type Hooks struct {
	Version string
	Log     *slog.Logger
	// StateDir holds the journals ("" means userdirs.State()).
	StateDir string
	// Timeline, when set, is the timeline to go on recording in (the
	// environment was run before in this session); nil starts a new one.
	Timeline *timeline.Recorder
	// OnAttempt hears every attempt event after the journal and the
	// timeline have recorded it (linkflow.Observer rules apply).
	OnAttempt linkflow.Observer
	// OnTimeline hears every new timeline entry.
	OnTimeline func(timeline.Entry)
	// OnRecovered is called when the journal's list of interrupted
	// attempts changes.
	OnRecovered func()
	// OnRedirect answers the loopback redirect server (see
	// ui.ServeRedirect).
	OnRedirect func(rawURL string) error
	// Audit is the session's audit log; nil records nothing.
	Audit *audit.Log
	// Institutions are the session's bank names; nil keeps the names
	// learned in this environment in memory only.
	Institutions *institutions.Names
	// Shelf, when set, turns prefetching link tokens on: the environment's
	// prepared tokens are kept there (the session keeps one per environment
	// across switches, like the timeline); nil: off. Every step of a
	// preparation is a timeline note under the attempt id it reserved.
	Shelf *linkflow.Shelf
	// OnPrepared hears every change of a prepared token (with its token
	// while ready: for the page only), after the timeline recorded it.
	OnPrepared func(linkflow.Prepared)
}

// Start builds and starts the environment on t. On failure everything it
// started is stopped again (t itself is left to the caller).
func Start(t *target.Target, h Hooks) (env *Env, err error) {
	if h.Log == nil {
		h.Log = slog.Default()
	}
	cfg := t.Config
	e := &Env{Target: t}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	e.Timeline = h.Timeline
	if e.Timeline == nil {
		e.Timeline = timeline.New(timeline.Options{Environment: string(t.Name), BankGUID: t.BankGUID, Version: h.Version,
			Secrets: []string{t.Credentials.ClientSecret}, OnEntry: h.OnTimeline})
	}
	client, err := cybrid.New(cybrid.Options{
		BankURL: t.BankURL, IdentityURL: t.IdentityURL,
		ClientID: t.Credentials.ClientID, ClientSecret: t.Credentials.ClientSecret,
		UserAgent: "linkdesk/" + h.Version, Observer: e.Timeline.ObserveCall,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the Cybrid client: %w", err)
	}
	e.Client = client

	// The OAuth redirect URI: served by linkdesk itself when it is a
	// loopback http URI (always so in sim), else (https, production) only
	// intercepted inside the window.
	e.RedirectURI = t.RedirectURI
	if isLoopbackHTTP(e.RedirectURI) {
		onRedirect := h.OnRedirect
		if onRedirect == nil {
			onRedirect = func(string) error { return ui.ErrNotWaiting }
		}
		rs, err := ui.ServeRedirect(e.RedirectURI, onRedirect, h.Log)
		if err != nil {
			return nil, err
		}
		e.Redirect = rs
		e.RedirectURI = rs.URI
	}

	e.Journal = openJournal(t, h)
	e.Institutions = h.Institutions
	if e.Institutions == nil {
		e.Institutions = institutions.Memory()
	}
	e.Audit = h.Audit.For(string(t.Name), e.Institutions.Name, t.Credentials.ClientSecret)
	observe := h.OnAttempt
	if observe == nil {
		observe = func(linkflow.Attempt, linkflow.Event) {}
	}
	e.Flow = linkflow.New(client, linkflow.Settings{
		Language:              cfg.Language,
		LinkCustomizationName: cfg.LinkCustomizationName,
		RedirectURI:           e.RedirectURI,
		Asset:                 cfg.Asset,
		PollInitial:           cfg.PollInitial,
		PollMax:               cfg.PollMax,
		WorkflowTimeout:       cfg.WorkflowTimeout,
		AccountTimeout:        cfg.AccountTimeout,
		// Accounts that attempts of earlier runs own are never adopted.
		Claimed: e.Journal.Claims,
		Shelf:   h.Shelf,
		OnPrefetch: func(p linkflow.Prepared, ev linkflow.Event) {
			e.Timeline.Note(ev.AttemptID, ev.Message, ev.Data)
			if h.OnPrepared != nil {
				h.OnPrepared(p)
			}
		},
	}, h.Log, func(a linkflow.Attempt, ev linkflow.Event) {
		e.Journal.Observe(a, ev)
		e.Timeline.ObserveAttempt(a, ev)
		e.Institutions.Observe(a, ev)
		e.Audit.ObserveAttempt(a, ev)
		observe(a, ev)
	})
	e.Desk = desk.New(client, t.BankGUID, desk.WithInstitutionNames(e.Institutions))
	if t.Name == config.Sandbox {
		// Cybrid's sandbox never reviews verifications by hand: without this
		// an ownership verification waits forever (Cybrid's own recipe).
		e.VerifyBehaviours = []string{cybrid.ExpectPassedImmediately}
	}
	e.Journal.StartReconcile(client, journal.RecheckTimeout)
	h.Log.Info("environment ready", "environment", t.Name, "bank_api", t.BankURL)
	return e, nil
}

// openJournal opens the environment's journal of in-flight attempts. The
// built-in simulator's attempts are journaled when it keeps its state in a
// file (sim.Persistence), so that after a crash they are reconciled against
// the simulator as it was: its journal is named by the environment alone
// ("journal-sim.jsonl"), never by its port, which changes from run to run.
// A simulator that keeps its state in memory only (another linkdesk holds
// the file) has nothing to reconcile against after a crash: its attempts
// are not journaled, and the journal's status says why. A journal that
// cannot be opened (another linkdesk on the environment, an unwritable
// state directory) is logged and left off; linkdesk runs on.
func openJournal(t *target.Target, h Hooks) *journal.Journal {
	bankURL := t.BankURL
	if t.Simulated() {
		if p := t.Sim.Persistence(); p.File == "" {
			why := "the built-in simulator keeps its state in memory only, so after a crash there would be nothing to check its attempts against: they are not journaled"
			if p.Note != "" {
				why += ". " + p.Note
			}
			return journal.Off(why)
		}
		bankURL = ""
	}
	j, err := journal.Open(journal.Options{Dir: h.StateDir, Env: string(t.Name), BankURL: bankURL,
		Log: h.Log.With("component", "journal"), OnChange: h.OnRecovered})
	if err != nil {
		h.Log.Warn("the journal of in-flight attempts is off", "environment", t.Name, "error", err)
		return journal.Off(err.Error())
	}
	return j
}

// Close stops the environment: its attempts (the audit log records those
// still running as abandoned), the redirect server and the journal. The
// simulator, which belongs to the run, goes on.
func (e *Env) Close() { e.stop() }

func (e *Env) stop() {
	if e.Flow != nil {
		e.Flow.Close()
		e.Audit.Abandon("The attempt was stopped when linkdesk left the " + string(e.Target.Name) + " environment (an environment switch, new credentials or quitting)")
	}
	if e.Redirect != nil {
		e.Redirect.Close()
	}
	if e.Journal != nil {
		e.Journal.Close()
	}
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
