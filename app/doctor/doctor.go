// Package doctor implements `linkdesk doctor`: it checks, one by one, what
// linkdesk needs in an environment — a valid configuration, the OS keychain,
// stored API credentials, an access token, the scopes that token grants, the
// bank API, the OAuth redirect URI's form, the way back from the system
// browser for an https redirect URI (the linkdesk:// scheme registered, the
// loopback return port free; and, in sim, the built-in simulator) — and
// reports each check on one line, with what to do next when it fails.
//
// Contracts:
//
//   - Every check is bounded by Options.Timeout (plus a short grace for the
//     check to word its own timeout message); Run never hangs on a locked
//     keychain or a silent server.
//   - Checks take their dependencies from Options (configuration lookup,
//     keychain store, HTTP client), so tests point doctor at a real
//     simulator with good and bad setups.
//   - A check that cannot run because an earlier one failed is Skipped and
//     says which; Skipped does not count as a failure.
//   - No secret (client secret, access token) is ever part of a Result: the
//     client id is shown, the secret never; errors from package cybrid are
//     scrubbed by it.
package doctor

import (
	"context"
	"net/http"
	"os"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/keychain"
	"linkdesk/app/sim"
	"linkdesk/app/target"
)

// DefaultTimeout bounds each check when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// grace is how long after its deadline a check may still deliver its own
// (more precise) result before the generic "did not finish" replaces it.
const grace = 250 * time.Millisecond

// Status is the outcome of one check.
type Status int

// The outcomes of a check.
const (
	OK      Status = iota // the check passed
	Failed                // the check failed; Result.Advice says what to do
	Skipped               // the check could not run (an earlier check failed) or does not apply
)

// String returns "ok", "FAIL" or "skip".
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Failed:
		return "FAIL"
	}
	return "skip"
}

// Names of the checks, in the order Run performs them.
const (
	CheckConfig      = "configuration"
	CheckSimulator   = "simulator"
	CheckKeychain    = "keychain"
	CheckCredentials = "credentials"
	CheckToken       = "token"
	CheckScopes      = "scopes"
	CheckAPI         = "bank API"
	CheckRedirectURI = "redirect URI"
)

// Result is the outcome of one check.
type Result struct {
	// Check is the check's name (one of the Check… constants).
	Check  string
	Status Status
	// Summary is one line: what the check found.
	Summary string
	// Advice lists, for a failed check, what to do next, one item per line.
	Advice []string
	// Elapsed is how long the check took.
	Elapsed time.Duration
}

// Report is the outcome of a doctor run.
type Report struct {
	// Env is the environment checked; "" when the configured one is not valid.
	Env config.Environment
	// Results holds one Result per check, in order.
	Results []Result
}

// Failures counts the failed checks.
func (r *Report) Failures() int {
	n := 0
	for _, res := range r.Results {
		if res.Status == Failed {
			n++
		}
	}
	return n
}

// OK reports whether no check failed.
func (r *Report) OK() bool { return r.Failures() == 0 }

// Result returns the result of the named check, and whether it ran.
func (r *Report) Result(check string) (Result, bool) {
	for _, res := range r.Results {
		if res.Check == check {
			return res, true
		}
	}
	return Result{}, false
}

// Options are the dependencies of a doctor run.
type Options struct {
	// Env, when non-empty, is the environment to check (--env); it overrides
	// LINKDESK_ENVIRONMENT.
	Env string
	// Lookup reads LINKDESK_* variables; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
	// Store holds the API credentials of sandbox and production (keychain.New
	// in the app). It is not used in sim. When nil, the keychain and
	// credentials checks fail.
	Store keychain.Store
	// HTTPClient carries the token and API requests; nil means a client with
	// a timeout just above the check timeout.
	HTTPClient *http.Client
	// Timeout bounds each check; zero means DefaultTimeout.
	Timeout time.Duration
	// Sim configures the simulator doctor starts in-process for the sim
	// environment (the zero value: as `linkdesk` starts it).
	Sim sim.Options
	// SchemeHandler names the desktop entry registered for linkdesk://
	// URLs ("" none); nil asks xdg-mime. HandoverDir is where a running
	// linkdesk takes hand-overs; "" means handover.Dir().
	SchemeHandler func() (string, error)
	HandoverDir   string
}

// Run performs every check and returns the report. ctx cancels the run (the
// remaining checks then fail with the context's error).
func Run(ctx context.Context, o Options) *Report {
	if o.Lookup == nil {
		o.Lookup = os.LookupEnv
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.HTTPClient == nil {
		// A little longer than the check: the check's context ends first
		// and words the timeout.
		o.HTTPClient = &http.Client{Timeout: o.Timeout + time.Second}
	}
	d := &doctor{ctx: ctx, o: o, report: &Report{}}
	d.lookup = func(k string) (string, bool) {
		if k == config.VarEnvironment && o.Env != "" {
			return o.Env, true
		}
		return o.Lookup(k)
	}
	d.run()
	return d.report
}

// doctor holds the state passed from one check to the next.
type doctor struct {
	ctx    context.Context
	o      Options
	lookup func(string) (string, bool)
	report *Report

	cfg     *config.Config // usable configuration (bad variables at their defaults); nil: unusable
	badURLs []string       // API URL variables that failed validation
	env     config.Environment

	target               *target.Target    // where the environment points
	sims                 *target.Simulator // the simulator doctor started (sim only)
	bankURL, identityURL string
	creds                keychain.Credentials
	haveCreds            bool
	noCreds              string            // why there are no credentials, for skipped checks
	client               *cybrid.Client    // asks for cybrid.DefaultScopes
	token                *cybrid.TokenInfo // the token client holds; nil after invalid_scope
	scopeRefused         bool              // the identity service answered invalid_scope
	apiClient            *cybrid.Client    // a client that holds a token, for the API check; nil: none
	credsOK              bool              // the identity service accepted the credentials
}

func (d *doctor) add(r Result) { d.report.Results = append(d.report.Results, r) }

// skip records a check that cannot run.
func (d *doctor) skip(check, why string) { d.add(Result{Check: check, Status: Skipped, Summary: why}) }

func (d *doctor) run() {
	d.checkConfig()
	if d.cfg == nil {
		for _, c := range []string{CheckKeychain, CheckCredentials, CheckToken, CheckScopes, CheckAPI, CheckRedirectURI, CheckOAuthReturn} {
			d.skip(c, "needs a valid "+config.VarEnvironment)
		}
		return
	}
	d.env = d.cfg.Environment
	d.report.Env = d.env
	if d.env == config.Sim {
		defer func() { d.sims.Close() }()
		if !d.checkSimulator() {
			d.skip(CheckKeychain, "not used in sim")
			d.skip(CheckCredentials, "needs the simulator")
			d.skipAPIChecks("needs the simulator")
		} else {
			d.skip(CheckKeychain, "not used in sim: the simulator's built-in credentials are used (check sandbox with `linkdesk doctor --env sandbox`)")
			d.creds = d.target.Credentials
			d.haveCreds = true
			d.add(Result{Check: CheckCredentials, Status: OK,
				Summary: "the simulator's built-in credentials are used (client id " + d.creds.ClientID + "); nothing is read from the keychain"})
			d.bankURL, d.identityURL = d.target.BankURL, d.target.IdentityURL
			d.apiChecks()
		}
	} else {
		d.checkKeychain()
		t, err := target.Locate(d.cfg, nil)
		if err == nil {
			d.target = t
			d.bankURL, d.identityURL = t.BankURL, t.IdentityURL
		}
		switch {
		case len(d.badURLs) > 0:
			d.skipAPIChecks("needs a valid " + joinAnd(d.badURLs))
		case !d.haveCreds:
			d.skipAPIChecks(d.noCreds)
		default:
			d.apiChecks()
		}
	}
	d.checkRedirectURI()
	d.checkOAuthReturn()
}

func (d *doctor) skipAPIChecks(why string) {
	d.skip(CheckToken, why)
	d.skip(CheckScopes, why)
	d.skip(CheckAPI, why)
}

func (d *doctor) apiChecks() {
	d.checkToken()
	if !d.credsOK {
		d.skip(CheckScopes, "needs a token")
		d.skip(CheckAPI, "needs a token")
		return
	}
	d.checkScopes()
	if d.apiClient == nil {
		d.skip(CheckAPI, "needs a token with at least one scope")
		return
	}
	d.checkAPI()
}
