// Package cybridsim is an in-process fake of Cybrid's identity service
// (POST /oauth/token) and of the part of Cybrid's bank API that links a
// customer's external bank account through Plaid: workflows, external bank
// accounts, customers and bank-account identity verifications.
//
// Paths, query parameters, status codes and JSON bodies follow Cybrid's
// published OpenAPI specs (cybrid-bank-openapi.yaml, and the identity spec's
// description of the token endpoint); the package tests validate every
// response against the bank spec. Where the spec is silent the simulator
// says so in the doc comment of the handler that had to choose.
//
// Asynchronous work (a workflow obtaining its Plaid link token, an account
// being stored, deleted or verified) is evaluated lazily from timestamps:
// every record knows when its next transition is due, and any read (over
// HTTP or through the Go hooks) first applies the transitions that are due
// at Options.Now(). No goroutines or timers are involved, so a test that
// controls the clock controls the simulator, and nothing leaks.
//
// The Plaid side (link tokens, public-token exchange, resetting an item's
// login) is delegated to a plaidsim.Backend, playing the part of Cybrid's
// backend calling Plaid's API.
//
// A *Server is safe for concurrent use.
package cybridsim

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"linkdesk/app/sim/plaidsim"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultBankGUID          = "5b1d0a2c7e9f48c3a6d1e0f2b3c4d5e6"
	DefaultWorkflowDelay     = 1500 * time.Millisecond
	DefaultAccountDelay      = time.Second
	DefaultVerificationDelay = time.Second
	DefaultTokenLifetime     = 30 * time.Minute
)

// Options configure a Server. Only Plaid is required.
type Options struct {
	// ClientID and ClientSecret are the bank credentials POST /oauth/token
	// accepts. When empty, no credentials are accepted.
	ClientID, ClientSecret string
	// ClientScopes, when non-nil, are the only scopes the credentials may
	// be granted, like a Cybrid API key created with restricted scopes: a
	// token request asking for any other scope is refused with
	// invalid_scope. Nil means every scope in BankScopes.
	ClientScopes []string
	// BankGUID is the simulated bank; DefaultBankGUID when empty.
	BankGUID string
	// Plaid is the Plaid backend (required).
	Plaid plaidsim.Backend
	// WorkflowDelay is how long a workflow stays in storing, measured from
	// its creation (DefaultWorkflowDelay when zero; negative means none).
	WorkflowDelay time.Duration
	// AccountDelay is how long an external bank account stays in storing
	// after creation and in deleting after DELETE (DefaultAccountDelay when
	// zero; negative means none).
	AccountDelay time.Duration
	// VerificationDelay is how long an identity verification spends in
	// each of its intermediate states (DefaultVerificationDelay when zero;
	// negative means none).
	VerificationDelay time.Duration
	// VerificationReview starts the server with Scenario.VerificationReview
	// on: ownership verifications without expected_behaviours wait for a
	// manual review, as in Cybrid's sandbox.
	VerificationReview bool
	// TokenLifetime is the access token lifetime (DefaultTokenLifetime when
	// zero).
	TokenLifetime time.Duration
	// Now is the clock (time.Now when nil). All state transitions are
	// evaluated against it.
	Now func() time.Time
	// Logger receives one line per request and per state transition; it
	// never sees tokens, secrets or Plaid public tokens. Discarded when nil.
	Logger *slog.Logger
	// OnChange, when set, is called after every change to what Snapshot
	// keeps — a record created, changed or deleted over HTTP or through a
	// Go hook, Restore excepted, Reset included — synchronously, without
	// the server's lock held, and before the HTTP answer that reports the
	// change is written: a change saved by OnChange is on disk before the
	// client hears of it, as Cybrid commits before it answers. Reads, which
	// only apply transitions already due (Snapshot keeps those pending with
	// their times), do not call it.
	OnChange func()
}

// Scenario holds the run-time switches that shape what the simulator does
// with records created from now on. It is a plain struct so that fields can
// be added without breaking callers.
//
// Scenario() returns the effective values; SetScenario takes values
// literally (a zero delay means "no delay"), so the usual pattern is
// sc := s.Scenario(); sc.X = …; s.SetScenario(sc).
type Scenario struct {
	// WorkflowDelay: time from workflow creation to completed/failed.
	WorkflowDelay time.Duration
	// AccountDelay: time an account spends in storing, and in deleting.
	AccountDelay time.Duration
	// VerificationDelay: time an identity verification spends in each of
	// its intermediate states (storing, waiting).
	VerificationDelay time.Duration
	// WorkflowFailureCode, when non-empty, makes every new workflow fail
	// with this failure_code (Plaid is not called).
	WorkflowFailureCode string
	// AccountFailureCode, when non-empty, makes every new external bank
	// account fail with this failure_code (the public token is not
	// exchanged).
	AccountFailureCode string
	// AccountFailureLimit, when positive, limits AccountFailureCode to that
	// many more accounts: each account it fails counts down, and the last
	// one clears AccountFailureCode. Zero: every account while the code is
	// set.
	AccountFailureLimit int
	// VerificationReview makes account_ownership verifications created
	// without expected_behaviours wait in waiting for a manual review, as
	// Cybrid's sandbox does, until ReviewVerification (or
	// POST /sim/identity_verifications/{guid}/review) decides them. When
	// false they pass by themselves after VerificationDelay in storing and
	// in waiting, like an automated check.
	VerificationReview bool
}

// Stats counts requests since the server was created.
type Stats struct {
	// TokenRequests counts POST /oauth/token calls, successful or not.
	TokenRequests int
	// APIRequests counts requests under /api/, whatever their outcome.
	APIRequests int
	// ByRoute counts requests per matched route, keyed like
	// "GET /api/workflows/{guid}". Unmatched requests are not counted here.
	ByRoute map[string]int
	// Faults counts injected faults applied (see SetFaults).
	Faults int
}

// Server is the simulated Cybrid identity + bank API; it is an http.Handler.
type Server struct {
	opts     Options
	bankGUID string
	now      func() time.Time
	log      *slog.Logger
	plaid    plaidsim.Backend
	routes   []route

	mu            sync.Mutex
	scenario      Scenario
	tokens        map[string]tokenRec
	customers     []*customerRec
	customerByID  map[string]*customerRec
	workflows     map[string]*workflowRec
	accounts      map[string]*accountRec
	verifications map[string]*verificationRec
	seq           int
	stats         Stats
	faults        []*faultRec // injected faults, in order (faults.go)
}

// New returns a Server with its deterministic seed customers. It panics when
// o.Plaid is nil (a programming error: the simulator cannot work without
// Plaid).
func New(o Options) *Server {
	if o.Plaid == nil {
		panic("cybridsim.New: Options.Plaid is required")
	}
	s := &Server{
		opts:          o,
		bankGUID:      o.BankGUID,
		now:           o.Now,
		log:           o.Logger,
		plaid:         o.Plaid,
		tokens:        map[string]tokenRec{},
		customerByID:  map[string]*customerRec{},
		workflows:     map[string]*workflowRec{},
		accounts:      map[string]*accountRec{},
		verifications: map[string]*verificationRec{},
		stats:         Stats{ByRoute: map[string]int{}},
	}
	if s.bankGUID == "" {
		s.bankGUID = DefaultBankGUID
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.TokenLifetime <= 0 {
		s.opts.TokenLifetime = DefaultTokenLifetime
	}
	s.scenario = s.initialScenario()
	s.seedCustomers()
	s.routes = s.buildRoutes()
	return s
}

// initialScenario is the scenario Options give.
func (s *Server) initialScenario() Scenario {
	o := s.opts
	return Scenario{
		WorkflowDelay:      delayOr(o.WorkflowDelay, DefaultWorkflowDelay),
		AccountDelay:       delayOr(o.AccountDelay, DefaultAccountDelay),
		VerificationDelay:  delayOr(o.VerificationDelay, DefaultVerificationDelay),
		VerificationReview: o.VerificationReview,
	}
}

func delayOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// BankGUID returns the simulated bank's GUID.
func (s *Server) BankGUID() string { return s.bankGUID }

// Scenario returns the current scenario with effective values.
func (s *Server) Scenario() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenario
}

// SetScenario replaces the scenario. It affects records created afterwards;
// records already in flight keep the delays and outcomes they were created
// with. Negative delays are treated as zero.
func (s *Server) SetScenario(sc Scenario) {
	for _, d := range []*time.Duration{&sc.WorkflowDelay, &sc.AccountDelay, &sc.VerificationDelay} {
		if *d < 0 {
			*d = 0
		}
	}
	s.mu.Lock()
	s.scenario = sc
	s.mu.Unlock()
	s.log.Info("cybridsim: scenario set", "workflow_delay", sc.WorkflowDelay, "account_delay", sc.AccountDelay,
		"verification_delay", sc.VerificationDelay, "workflow_failure_code", sc.WorkflowFailureCode,
		"account_failure_code", sc.AccountFailureCode, "verification_review", sc.VerificationReview)
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.ByRoute = make(map[string]int, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		out.ByRoute[k] = v
	}
	return out
}

// ---- routing ----

type handlerFunc func(w http.ResponseWriter, r *http.Request, p pathParams)

type pathParams map[string]string

type route struct {
	method  string
	pattern string // e.g. /api/workflows/{guid}
	segs    []string
	h       handlerFunc
}

func (s *Server) buildRoutes() []route {
	rs := []route{
		{method: "POST", pattern: "/oauth/token", h: s.handleToken},
		{method: "POST", pattern: "/api/customer_tokens", h: s.authedAs([]string{subjectBank}, []string{"customers:write", "customers:read"}, s.createCustomerToken)},

		{method: "GET", pattern: "/api/assets", h: s.listAssets}, // public, as in the spec

		{method: "GET", pattern: "/api/customers", h: s.authed("customers:read", s.listCustomers)},
		{method: "GET", pattern: "/api/customers/{guid}", h: s.authed("customers:read", s.getCustomer)},

		{method: "POST", pattern: "/api/workflows", h: s.authed("workflows:execute", s.createWorkflow)},
		{method: "GET", pattern: "/api/workflows", h: s.authed("workflows:read", s.listWorkflows)},
		{method: "GET", pattern: "/api/workflows/{guid}", h: s.authed("workflows:read", s.getWorkflow)},

		{method: "POST", pattern: "/api/external_bank_accounts", h: s.authed("external_bank_accounts:execute", s.createAccount)},
		{method: "GET", pattern: "/api/external_bank_accounts", h: s.authed("external_bank_accounts:read", s.listAccounts)},
		{method: "GET", pattern: "/api/external_bank_accounts/{guid}", h: s.authed("external_bank_accounts:read", s.getAccount)},
		{method: "PATCH", pattern: "/api/external_bank_accounts/{guid}", h: s.authed("external_bank_accounts:write", s.patchAccount)},
		{method: "DELETE", pattern: "/api/external_bank_accounts/{guid}", h: s.authed("external_bank_accounts:execute", s.deleteAccount)},

		{method: "POST", pattern: "/api/identity_verifications", h: s.authed("identity_verifications:execute", s.createVerification)},
		{method: "GET", pattern: "/api/identity_verifications", h: s.authed("identity_verifications:read", s.listVerifications)},
		{method: "GET", pattern: "/api/identity_verifications/{guid}", h: s.authed("identity_verifications:read", s.getVerification)},

		{method: "GET", pattern: "/sim/scenario", h: s.getScenarioHTTP},
		{method: "PUT", pattern: "/sim/scenario", h: s.putScenarioHTTP},
		{method: "POST", pattern: "/sim/external_bank_accounts/{guid}/expire", h: s.expireHTTP},
		{method: "POST", pattern: "/sim/identity_verifications/{guid}/review", h: s.reviewHTTP},
	}
	for i := range rs {
		rs[i].segs = strings.Split(strings.Trim(rs[i].pattern, "/"), "/")
	}
	return rs
}

func (rt route) match(path string) (pathParams, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var p pathParams
	for i, want := range rt.segs {
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return nil, false
			}
			if p == nil {
				p = pathParams{}
			}
			p[strings.Trim(want, "{}")] = segs[i]
			continue
		}
		if segs[i] != want {
			return nil, false
		}
	}
	return p, true
}

// ServeHTTP implements http.Handler. Unknown paths get a 404 ErrorResponse,
// known paths with another method a 405 ErrorResponse with an Allow header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveFault(w, r) { // /sim/faults and injected faults (faults.go)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	routeKey := ""
	defer func() {
		s.log.Debug("cybridsim: request", "method", r.Method, "path", r.URL.Path, "route", routeKey,
			"status", rec.status, "duration", time.Since(start))
	}()

	var allowed []string
	for _, rt := range s.routes {
		p, ok := rt.match(r.URL.Path)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allowed = append(allowed, rt.method)
			continue
		}
		routeKey = rt.method + " " + rt.pattern
		s.count(r.URL.Path, routeKey)
		rt.h(rec, r, p)
		return
	}
	s.count(r.URL.Path, "")
	if len(allowed) > 0 {
		sort.Strings(allowed)
		rec.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(rec, http.StatusMethodNotAllowed, "method_not_allowed",
			"method "+r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", "))
		return
	}
	writeError(rec, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
}

// Methods returns the HTTP methods the server answers on path (sorted; nil
// for a path it does not serve), e.g. for a CORS preflight's
// Access-Control-Allow-Methods.
func (s *Server) Methods(path string) []string {
	if path == "/sim/faults" {
		return []string{"GET", "PUT"}
	}
	var out []string
	for _, rt := range s.routes {
		if _, ok := rt.match(path); ok && !slices.Contains(out, rt.method) {
			out = append(out, rt.method)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) count(path, routeKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case path == "/oauth/token":
		s.stats.TokenRequests++
	case strings.HasPrefix(path, "/api/"):
		s.stats.APIRequests++
	}
	if routeKey != "" {
		s.stats.ByRoute[routeKey]++
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// ---- JSON helpers ----

// errorResponse is Cybrid's ErrorResponse schema.
type errorResponse struct {
	Status       int    `json:"status"`
	ErrorMessage string `json:"error_message"`
	MessageCode  string `json:"message_code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorResponse{Status: status, ErrorMessage: "encoding response: " + err.Error(), MessageCode: "internal_error"})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorResponse{Status: status, ErrorMessage: msg, MessageCode: code})
}

const maxBody = 1 << 20

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxBody))
}

// timeFormat is Cybrid's timestamp format: ISO-8601, milliseconds, Z.
const timeFormat = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }
