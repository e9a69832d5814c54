// Package sim composes linkdesk's whole simulator — the simulated Cybrid
// identity and bank API (package cybridsim) and the simulated Plaid Link
// and bank OAuth pages (package plaidsim) — behind one loopback port, and
// implements the `linkdesk sim` command that runs it alone for QA and other
// tools.
//
// One port, two origins: the Cybrid API is addressed as
// http://127.0.0.1:PORT and Plaid as http://localhost:PORT, so that Link
// runs cross-origin both to the app and to the API, as cdn.plaid.com does.
// Requests are routed by path: /sim/scenarios (the QA scenario catalogue,
// scenarios.go) is served here, /oauth/, /api/ and other /sim/ paths go to
// cybridsim, everything else (/link/…) to plaidsim.
//
// Browser clients on other origins — Cybrid's own web SDK among them — may
// call the Cybrid side: it answers CORS for loopback origins and for
// Options.CORSOrigins (cors.go).
package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"linkdesk/app/sim/cybridsim"
	"linkdesk/app/sim/plaidsim"
	"linkdesk/app/sim/simstate"
	"linkdesk/app/ui/httplimit"
)

// The simulator's well-known credentials, used when Options leave them
// empty. They are not secrets: they open only the simulator.
const (
	DefaultClientID     = "sim-client-id"
	DefaultClientSecret = "sim-client-secret"
)

// DefaultAddr is where Start listens when Options.Addr is empty: loopback,
// a free port.
const DefaultAddr = "127.0.0.1:0"

// Options configure Start. The zero value is usable.
type Options struct {
	// Addr is host:port to listen on; the host must be loopback
	// (127.0.0.1, localhost or empty). Default DefaultAddr.
	Addr string
	// ClientID, ClientSecret: the bank credentials the simulated identity
	// service accepts (DefaultClientID / DefaultClientSecret when empty).
	ClientID, ClientSecret string
	// ClientScopes restricts the scopes those credentials may be granted
	// (cybridsim.Options.ClientScopes; nil: all bank scopes).
	ClientScopes []string
	// BankGUID of the simulated bank (cybridsim.DefaultBankGUID when empty).
	BankGUID string
	// WorkflowDelay, AccountDelay and VerificationDelay: see
	// cybridsim.Options (zero: default).
	WorkflowDelay, AccountDelay, VerificationDelay time.Duration
	// TestDriver lets end-to-end tests drive the Link DOM (plaidsim.Options).
	TestDriver bool
	// LinkLoadingTime is the least time the simulated Link shows its
	// loading pane (plaidsim.Options.LoadingTime; zero: the default).
	LinkLoadingTime time.Duration
	// CORSOrigins are origins (scheme://host[:port]; an entry may list
	// several, comma-separated) whose web pages may call the simulated Cybrid
	// API, besides loopback origins, which always may. Start fails with
	// ErrCORSOrigin for an entry that is not an origin.
	CORSOrigins []string
	// VerificationReview makes ownership verifications without
	// expected_behaviours wait for a manual review, as Cybrid's sandbox
	// does (cybridsim.Scenario.VerificationReview), instead of passing by
	// themselves. It is part of the "normal" state the QA scenarios return
	// to.
	VerificationReview bool
	// Now is the simulator's clock (time.Now when nil): Cybrid's delays and
	// timestamps and Plaid's token lifetimes run on it (cybridsim.Options.Now,
	// plaidsim.Options.Now). A test that moves it forward (see
	// app/internal/simclock) skips a delay instead of sleeping through it.
	Now func() time.Time
	// Logger for both simulators; discarded when nil.
	Logger *slog.Logger
	// StateFile, when set, keeps the simulator's state — Cybrid's records
	// and Plaid's items — in that file across restarts (state.go): read at
	// Start, saved as it changes and at Close. "" keeps it in memory only.
	// A file another process holds leaves this simulator in memory
	// (Persistence says so); a damaged or foreign file is set aside.
	StateFile string
}

// Sim is a running simulator.
type Sim struct {
	Cybrid *cybridsim.Server
	Plaid  *plaidsim.Sim
	// BankURL and IdentityURL are the base URLs of the simulated Cybrid
	// bank API and identity service ("http://127.0.0.1:PORT").
	BankURL, IdentityURL string
	// PlaidURL is the base URL of the simulated Plaid ("http://localhost:PORT"),
	// e.g. PlaidURL + "/link/v2/stable/link-initialize.js".
	PlaidURL string
	// ClientID and ClientSecret are the credentials the simulator accepts.
	ClientID, ClientSecret string
	// CORSOrigins are the origins allowed to call the Cybrid side from a
	// browser besides loopback ones (Options.CORSOrigins, normalized).
	CORSOrigins []string

	scen      scenarioState   // the QA scenario catalogue's state (scenarios.go)
	state     *simstate.Store // the state file (nil: in memory; state.go)
	persist   Persistence
	log       *slog.Logger
	srv       *httplimit.Server
	listeners []net.Listener
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Limits bound the simulator's connections, on both its listeners together
// (see package httplimit). Its clients are linkdesk's Cybrid client, the
// web views that load the simulated Link and bank pages, and QA tools: 15 s
// idle, 256 at once. WriteTimeout leaves room for a slow fault's held answer
// (cybridsim.DefaultFaultDelay is 15 s).
var Limits = httplimit.Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      2 * time.Minute,
	IdleTimeout:       15 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxConns:          256,
}

// ErrAddr reports an unusable Options.Addr (wrapped with the details).
var ErrAddr = errors.New("sim: bad listen address")

// loopbackAddr validates addr and returns the IPv4 loopback host:port to
// listen on.
func loopbackAddr(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v; use host:port, e.g. 127.0.0.1:8090 (port 0 picks a free one)", ErrAddr, addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%w %q: port %q is not a number between 0 and 65535", ErrAddr, addr, port)
	}
	switch host {
	case "", "127.0.0.1", "localhost":
	default:
		return "", fmt.Errorf("%w %q: the simulator listens on loopback only (its credentials are well known); use 127.0.0.1:%s", ErrAddr, addr, port)
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// Handler returns the composed handler: /oauth/, /api/ and /sim/ to cyb,
// everything else to plaid.
func Handler(cyb http.Handler, plaid http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/oauth/token" || strings.HasPrefix(p, "/oauth/") || strings.HasPrefix(p, "/api/") ||
			strings.HasPrefix(p, "/sim/") {
			cyb.ServeHTTP(w, r)
			return
		}
		plaid.ServeHTTP(w, r)
	})
}

// Start starts the simulator on one loopback port: 127.0.0.1:PORT, and
// [::1]:PORT as well when IPv6 loopback is available (so that "localhost"
// works whichever address a client resolves it to). Close stops it.
func Start(o Options) (*Sim, error) {
	addr, err := loopbackAddr(o.Addr)
	if err != nil {
		return nil, err
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sim{ClientID: o.ClientID, ClientSecret: o.ClientSecret, log: log}
	plaid := plaidsim.New(plaidsim.Options{Logger: log.With("sim", "plaid"), TestDriver: o.TestDriver, Now: o.Now,
		LoadingTime: o.LinkLoadingTime, OnChange: s.plaidChanged})
	cyb := cybridsim.New(cybridsim.Options{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, ClientScopes: o.ClientScopes, BankGUID: o.BankGUID, Plaid: plaid,
		WorkflowDelay: o.WorkflowDelay, AccountDelay: o.AccountDelay, VerificationDelay: o.VerificationDelay, VerificationReview: o.VerificationReview,
		Now: o.Now, Logger: log.With("sim", "cybrid"), OnChange: s.cybridChanged,
	})
	s.Cybrid, s.Plaid = cyb, plaid
	cors, err := newCORS(o.CORSOrigins, func(path string) []string {
		if m := scenarioMethods(path); m != nil {
			return m
		}
		if path == "/sim/reset" {
			return []string{"POST"}
		}
		return cyb.Methods(path)
	}, log)
	if err != nil {
		return nil, err
	}

	l4, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: cannot listen on %s: %w (is the port in use? pick another with --addr or use port 0)", addr, err)
	}
	port := l4.Addr().(*net.TCPAddr).Port
	ls := []net.Listener{l4}
	if l6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		ls = append(ls, l6)
	} else {
		log.Debug("sim: no IPv6 loopback listener", "error", err)
	}
	s.BankURL = "http://127.0.0.1:" + strconv.Itoa(port)
	s.IdentityURL = "http://127.0.0.1:" + strconv.Itoa(port)
	s.PlaidURL = "http://localhost:" + strconv.Itoa(port)
	s.CORSOrigins = cors.extra
	s.srv = Limits.New(Handler(cyb, plaid), slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	s.listeners = ls
	s.initScenarios()
	s.openState(o.StateFile, log)
	// The Cybrid side (with /sim/scenarios and /sim/reset) answers CORS;
	// Plaid's does not.
	s.srv.Handler = Handler(cors.wrap(s.scenarioHandler(s.resetHandler(cyb))), plaid)
	for _, l := range ls {
		s.wg.Add(1)
		go func(l net.Listener) {
			defer s.wg.Done()
			if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("sim: serve", "addr", l.Addr().String(), "error", err)
			}
		}(l)
	}
	log.Info("sim: listening", "bank_url", s.BankURL, "plaid_url", s.PlaidURL, "listeners", len(ls))
	return s, nil
}

// Addrs returns the addresses the simulator listens on.
func (s *Sim) Addrs() []string {
	out := make([]string, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr().String())
	}
	return out
}

// ConnStats counts the simulator's connections, on both listeners (see
// Limits).
func (s *Sim) ConnStats() httplimit.Stats { return s.srv.Stats() }

// Close stops the listeners and closes open connections; it waits for the
// serving goroutines to end. Calling it again returns the first result.
// With a state file, the state is saved a last time and the file's lock
// released.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		s.wg.Wait()
		if s.state != nil {
			if err := s.state.Close(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("sim: saving the simulator's state: %w", err)
			}
		}
	})
	return s.closeErr
}
