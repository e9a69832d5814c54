// Package target decides where linkdesk points — the built-in simulator,
// Cybrid's sandbox or production — in one place: the Cybrid base URLs, the
// Plaid Link script, the API credentials and where they come from, the
// OAuth redirect URI. The window's session (through package environment),
// `linkdesk doctor` and the benchmark all resolve through it, so "sim or
// real" is decided nowhere else.
package target

import (
	"errors"
	"fmt"
	"net/url"
	"sync"

	"linkdesk/app/config"
	"linkdesk/app/keychain"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
)

// PlaidScriptURL is Plaid's Link script. It is loaded from Plaid's CDN as
// Plaid requires (never bundled), once per page.
const PlaidScriptURL = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"

// DefaultSimRedirectPath is the path of the redirect URI linkdesk serves
// itself in the simulator when none is configured.
const DefaultSimRedirectPath = "/oauth/return"

// Target is where an environment points, resolved once.
type Target struct {
	// Name is sim, sandbox or production; Config the configuration for it.
	Name   config.Environment
	Config *config.Config
	// BankURL and IdentityURL are the Cybrid API bases.
	BankURL, IdentityURL string
	// PlaidScriptURL is the link-initialize.js the page loads: Plaid's CDN,
	// or the simulator's copy.
	PlaidScriptURL string
	// BankGUID is the bank whose customers are listed ("" lets Cybrid use
	// the credentials' bank).
	BankGUID string
	// Credentials are the API client's; CredentialsSource says, for people,
	// where they come from ("built-in simulator", "OS keychain (<client
	// id>)") — never the secret.
	Credentials       keychain.Credentials
	CredentialsSource string
	// RedirectURI is the OAuth redirect URI to send with workflows, as
	// configured ("" none); in sim, a loopback URI linkdesk serves itself
	// (port 0 until Start picks one).
	RedirectURI string
	// Sim is the built-in simulator (sim only, else nil). It belongs to the
	// Simulator it came from, which outlives the Target.
	Sim *sim.Sim
}

// Simulated reports whether the target is the built-in simulator.
func (t *Target) Simulated() bool { return t.Sim != nil }

// PlaidOrigins are the origins of Plaid Link the page's main view may show:
// the script's, and Plaid's own domains when the script is Plaid's.
func (t *Target) PlaidOrigins() []string {
	out := []string{origin(t.PlaidScriptURL)}
	if t.PlaidScriptURL == PlaidScriptURL {
		out = append(out, "https://*.plaid.com")
	}
	return out
}

// Simulator is the built-in simulator of one linkdesk run: started the
// first time an environment needs it, then kept — its address, its state
// and its QA switches survive environment switches — until Close. Safe for
// concurrent use.
type Simulator struct {
	opts sim.Options
	mu   sync.Mutex
	sim  *sim.Sim
	err  error
}

// NewSimulator returns a Simulator that starts with o when first needed.
func NewSimulator(o sim.Options) *Simulator { return &Simulator{opts: o} }

// Get returns the simulator, starting it the first time. A start that
// failed is tried again on the next Get.
func (s *Simulator) Get() (*sim.Sim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sim == nil {
		sm, err := sim.Start(s.opts)
		if err != nil {
			return nil, fmt.Errorf("starting the built-in simulator: %w", err)
		}
		s.sim = sm
	}
	return s.sim, nil
}

// Running returns the simulator if it has been started, else nil.
func (s *Simulator) Running() *sim.Sim {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sim
}

// Close stops the simulator (if it was started). Safe on nil.
func (s *Simulator) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	sm := s.sim
	s.sim = nil
	s.mu.Unlock()
	if sm != nil {
		sm.Close()
	}
}

// NoCredentialsError says that no API credentials are stored for the
// environment, and how to store them.
type NoCredentialsError struct{ Env string }

func (e *NoCredentialsError) Error() string {
	return fmt.Sprintf("no Cybrid API credentials are stored for %s: store them with `linkdesk credentials set --env %s` (or use LINKDESK_ENVIRONMENT=sim for the built-in simulator)", e.Env, e.Env)
}

// Problem words it for the page (problem.Carrier): the first-run screen.
func (e *NoCredentialsError) Problem() problem.Problem { return problem.NoCredentials(e.Env) }

// Resolve decides where cfg's environment points and with which
// credentials. For sim it takes the simulator from simulator (starting it
// if needed) and uses its credentials; for sandbox and production it reads
// them from store and fails with *NoCredentialsError when none are stored.
func Resolve(cfg *config.Config, store keychain.Store, simulator *Simulator) (*Target, error) {
	t, err := Locate(cfg, simulator)
	if err != nil || t.Simulated() {
		return t, err
	}
	creds, err := store.Get(string(cfg.Environment))
	if errors.Is(err, keychain.ErrNotFound) {
		return nil, &NoCredentialsError{Env: string(cfg.Environment)}
	}
	if err != nil {
		return nil, err
	}
	t.SetCredentials(creds)
	return t, nil
}

// Locate decides where cfg's environment points, without reading any
// credentials: for sim it takes the simulator from simulator (starting it
// if needed), whose own credentials the Target then carries; for sandbox
// and production it only works out the URLs (the caller adds credentials
// with SetCredentials). `linkdesk doctor`, which checks the keychain step by
// step, starts here.
//
// Plaid's script is Plaid's own CDN copy, except in sandbox with
// LINKDESK_PLAID_SCRIPT_URL (a simulator run apart, on loopback), and in
// sim (the built-in simulator's). Production refuses the override.
func Locate(cfg *config.Config, simulator *Simulator) (*Target, error) {
	t := &Target{Name: cfg.Environment, Config: cfg, BankGUID: cfg.BankGUID, RedirectURI: cfg.RedirectURI}
	if cfg.Environment != config.Sim {
		t.BankURL, t.IdentityURL = cfg.BankURL(), cfg.IdentityURL()
		t.PlaidScriptURL = PlaidScriptURL
		if cfg.PlaidScriptURL != "" {
			if cfg.Environment == config.Production {
				return nil, fmt.Errorf("%s is set, but production always loads Plaid's own script: unset it to use production", config.VarPlaidScriptURL)
			}
			t.PlaidScriptURL = cfg.PlaidScriptURL
		}
		return t, nil
	}
	if simulator == nil {
		return nil, errors.New("the built-in simulator is not available here")
	}
	sm, err := simulator.Get()
	if err != nil {
		return nil, err
	}
	t.Sim = sm
	t.BankURL, t.IdentityURL = sm.BankURL, sm.IdentityURL
	t.PlaidScriptURL = sm.ScriptURL()
	t.Credentials = keychain.Credentials{ClientID: sm.ClientID, ClientSecret: sm.ClientSecret}
	t.CredentialsSource = "built-in simulator"
	if t.BankGUID == "" {
		t.BankGUID = sm.Cybrid.BankGUID()
	}
	if t.RedirectURI == "" {
		t.RedirectURI = "http://localhost:0" + DefaultSimRedirectPath
	}
	return t, nil
}

// SetCredentials gives a sandbox or production target the credentials read
// from the OS keychain.
func (t *Target) SetCredentials(c keychain.Credentials) {
	t.Credentials = c
	t.CredentialsSource = "OS keychain (" + c.ClientID + ")"
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
