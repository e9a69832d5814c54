// Package config reads linkdesk's configuration from LINKDESK_* environment
// variables (with github.com/kelseyhightower/envconfig) and validates it.
//
// Every variable is optional. A variable that is unset or set to the empty
// string takes its default. Validation collects every problem and reports them
// together; each message names the variable, repeats the bad value (the
// configuration holds no secrets: API credentials live in the OS keychain, see
// package keychain) and says what is allowed.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kelseyhightower/envconfig"

	"linkdesk/app/guid"
	"linkdesk/app/oauthroute"
)

// Prefix is the envconfig prefix: every variable is named LINKDESK_<FIELD>.
const Prefix = "LINKDESK"

// Environment selects which Cybrid environment linkdesk talks to.
type Environment string

// The environments linkdesk knows. Sim is the built-in simulator.
const (
	Sim        Environment = "sim"
	Sandbox    Environment = "sandbox"
	Production Environment = "production"
)

// Environments lists the valid environments in the order they are documented.
var Environments = []Environment{Sim, Sandbox, Production}

// Valid reports whether e is one of Sim, Sandbox or Production.
func (e Environment) Valid() bool {
	switch e {
	case Sim, Sandbox, Production:
		return true
	}
	return false
}

// Config is linkdesk's validated configuration. Load returns it with every
// default applied.
type Config struct {
	Environment           Environment   // LINKDESK_ENVIRONMENT, default sim
	BankGUID              string        // LINKDESK_BANK_GUID, optional, 32 lowercase hex characters when set
	Language              string        // LINKDESK_LANGUAGE, default en; one of en fr es nl de
	LinkCustomizationName string        // LINKDESK_LINK_CUSTOMIZATION_NAME, default "default", 1..128 characters
	RedirectURI           string        // LINKDESK_REDIRECT_URI, optional
	Asset                 string        // LINKDESK_ASSET, default USD (the only asset allowed for now)
	BankAPIURL            string        // LINKDESK_BANK_API_URL, override of the bank API base URL
	IdentityAPIURL        string        // LINKDESK_IDENTITY_API_URL, override of the identity (OAuth) base URL
	PollInitial           time.Duration // LINKDESK_POLL_INITIAL, default 100ms, at least MinPoll: first poll delay of a workflow / account
	PollMax               time.Duration // LINKDESK_POLL_MAX, default 1s, at least MinPoll: longest gap between polls
	WorkflowTimeout       time.Duration // LINKDESK_WORKFLOW_TIMEOUT, default 60s: deadline for a link token
	AccountTimeout        time.Duration // LINKDESK_ACCOUNT_TIMEOUT, default 120s: deadline for an account to leave storing
	LogLevel              string        // LINKDESK_LOG_LEVEL, default info; debug info warn error
	SimAddr               string        // LINKDESK_SIM_ADDR, default 127.0.0.1:0: where the built-in simulator listens
	PlaidScriptURL        string        // LINKDESK_PLAID_SCRIPT_URL, optional loopback override of Plaid's Link script (not in production)
	Prefetch              bool          // LINKDESK_PREFETCH, default true: prepare a link token when a customer who can link is opened

	// Where banks' OAuth pages open (package oauthroute).
	OAuthRoute        string // LINKDESK_OAUTH_ROUTE, default auto; auto, browser or popup
	OAuthBrowserBanks string // LINKDESK_OAUTH_BROWSER_INSTITUTIONS as set, default "ins_56,ins_3" (Chase); see OAuthBrowserInstitutions
	OAuthReturnPort   int    // LINKDESK_OAUTH_RETURN_PORT, default 47615; 0 off: the loopback port the hosted return page forwards to
}

// spec is what envconfig fills. Field names are chosen so that split_words
// yields the documented names (BankApiUrl → BANK_API_URL); no `envconfig:"…"`
// name tags are used because envconfig falls back to the unprefixed name for
// those (LOG_LEVEL would then be read when LINKDESK_LOG_LEVEL is unset).
type spec struct {
	Environment           string        `split_words:"true" default:"sim" desc:"Cybrid environment: sim (built-in simulator), sandbox or production"`
	BankGuid              string        `split_words:"true" desc:"Cybrid bank GUID (32 lowercase hex characters); optional"`
	Language              string        `split_words:"true" default:"en" desc:"Plaid Link language: en, fr, es, nl or de"`
	LinkCustomizationName string        `split_words:"true" default:"default" desc:"Plaid Link customization name, 1 to 128 characters"`
	RedirectUri           string        `split_words:"true" desc:"OAuth redirect URI registered with Cybrid (max 128 characters, no query or fragment; https, http only for localhost in sim/sandbox); optional"`
	Asset                 string        `split_words:"true" default:"USD" desc:"asset of the external bank accounts (only USD for now)"`
	BankApiUrl            string        `split_words:"true" desc:"override of the bank API base URL (default per environment; set at run time for sim)"`
	IdentityApiUrl        string        `split_words:"true" desc:"override of the identity (OAuth) base URL (default per environment; set at run time for sim)"`
	PollInitial           time.Duration `split_words:"true" default:"100ms" desc:"first poll delay of a workflow or account (at least 50ms)"`
	PollMax               time.Duration `split_words:"true" default:"1s" desc:"longest gap between polls (at least 50ms)"`
	WorkflowTimeout       time.Duration `split_words:"true" default:"60s" desc:"deadline for a workflow to yield a Plaid link token (at least 1s)"`
	AccountTimeout        time.Duration `split_words:"true" default:"120s" desc:"deadline for an external bank account to leave storing (at least 1s)"`
	LogLevel              string        `split_words:"true" default:"info" desc:"log level: debug, info, warn or error"`
	SimAddr               string        `split_words:"true" default:"127.0.0.1:0" desc:"address of the built-in simulator, a loopback host:port (port 0: any free port); it keeps this address for the whole run"`
	PlaidScriptUrl        string        `split_words:"true" desc:"override of Plaid's Link script URL, for a simulator run apart (linkdesk sim): a loopback http(s) URL; never used in production; optional"`
	Prefetch              Boolean       `default:"true" desc:"prepare a Plaid link token (and Link, hidden) as soon as a verified customer is opened, so that Link bank account opens Link at once: true or false"`

	// The OAuth route (package oauthroute) and the production return.
	OauthRoute               string `split_words:"true" default:"auto" desc:"where banks' OAuth pages open: auto (the institutions of LINKDESK_OAUTH_BROWSER_INSTITUTIONS in the system browser, others in linkdesk's pop-up), browser (every bank in the system browser) or popup (every bank in linkdesk's pop-up)"`
	OauthBrowserInstitutions string `split_words:"true" default:"ins_56,ins_3" desc:"comma-separated Plaid institution ids whose OAuth page always opens in the system browser (default: Chase, which refuses embedded views); none for no institution"`
	OauthReturnPort          int    `split_words:"true" default:"47615" desc:"loopback port on which linkdesk takes the bank's return forwarded by the hosted return page when the linkdesk:// scheme is not registered (https redirect URIs); 0 turns it off"`
}

// Boolean is an on/off variable (strconv.ParseBool's spellings: true,
// false, 1, 0, …); --help lists its type as Boolean.
type Boolean bool

// Variable names, as envconfig derives them from spec.
const (
	VarEnvironment           = "LINKDESK_ENVIRONMENT"
	VarBankGUID              = "LINKDESK_BANK_GUID"
	VarLanguage              = "LINKDESK_LANGUAGE"
	VarLinkCustomizationName = "LINKDESK_LINK_CUSTOMIZATION_NAME"
	VarRedirectURI           = "LINKDESK_REDIRECT_URI"
	VarAsset                 = "LINKDESK_ASSET"
	VarBankAPIURL            = "LINKDESK_BANK_API_URL"
	VarIdentityAPIURL        = "LINKDESK_IDENTITY_API_URL"
	VarPollInitial           = "LINKDESK_POLL_INITIAL"
	VarPollMax               = "LINKDESK_POLL_MAX"
	VarWorkflowTimeout       = "LINKDESK_WORKFLOW_TIMEOUT"
	VarAccountTimeout        = "LINKDESK_ACCOUNT_TIMEOUT"
	VarLogLevel              = "LINKDESK_LOG_LEVEL"
	VarSimAddr               = "LINKDESK_SIM_ADDR"
	VarPlaidScriptURL        = "LINKDESK_PLAID_SCRIPT_URL"
	VarPrefetch              = "LINKDESK_PREFETCH"
)

// Variable names of the OAuth route.
const (
	VarOAuthRoute               = "LINKDESK_OAUTH_ROUTE"
	VarOAuthBrowserInstitutions = "LINKDESK_OAUTH_BROWSER_INSTITUTIONS"
	VarOAuthReturnPort          = "LINKDESK_OAUTH_RETURN_PORT"
)

// Base URLs of Cybrid's hosted environments.
const (
	SandboxBankURL        = "https://bank.sandbox.cybrid.app"
	SandboxIdentityURL    = "https://id.sandbox.cybrid.app"
	ProductionBankURL     = "https://bank.production.cybrid.app"
	ProductionIdentityURL = "https://id.production.cybrid.app"
)

// Limits taken from Cybrid's API (PostWorkflow: redirect_uri and
// link_customization_name have maxLength 128).
const (
	MaxRedirectURILen           = 128
	MaxLinkCustomizationNameLen = 128
	MinTimeout                  = time.Second
	// MinPoll is the shortest poll delay LINKDESK_POLL_INITIAL and
	// LINKDESK_POLL_MAX accept: every running attempt polls Cybrid (its
	// workflow, then its account) at most once per MinPoll, so that no
	// setting can flood Cybrid's API (1ns made one link token cost 4,549
	// requests in 3.3 s; 50ms bounds it to 20 a second). linkflow.Poller
	// applies the same floor to whatever it is given.
	MinPoll = 50 * time.Millisecond
)

var (
	languages = []string{"en", "fr", "es", "nl", "de"}
	assets    = []string{"USD"}
	logLevels = []string{"debug", "info", "warn", "error"}
)

// VarError is one configuration problem. Load joins every VarError it finds
// with errors.Join; use errors.As or the Unwrap() []error method of the joined
// error to list them.
type VarError struct {
	Name   string // the variable, e.g. LINKDESK_ENVIRONMENT
	Value  string // the value as set in the environment
	Reason string // what is wrong and what is allowed, e.g. "is not allowed: use sim, sandbox or production"
}

func (e *VarError) Error() string { return fmt.Sprintf("%s=%q %s", e.Name, e.Value, e.Reason) }

// Load reads the configuration from the process environment and validates it.
// On failure the error lists every problem found (see VarError).
func Load() (*Config, error) { return LoadFrom(os.LookupEnv) }

// envMu serialises LoadFrom's use of the process environment.
var envMu sync.Mutex

// Vars is a lookup for LoadFrom that reads the variables of the map
// (name → value): config.LoadFrom(config.Vars{…}.Lookup). A name the map
// lacks is unset.
type Vars map[string]string

// Lookup returns v[name] and whether it is set.
func (v Vars) Lookup(name string) (string, bool) {
	val, ok := v[name]
	return val, ok
}

// LoadFrom is Load reading variables through lookup instead of the process
// environment (tests pass a map's lookup).
//
// envconfig reads only the process environment, so LoadFrom sets the
// LINKDESK_* configuration variables to what lookup returns for the duration
// of the call, under a package lock, and restores them (set, unset or empty, as
// they were) before returning. Other LINKDESK_* variables are not touched. Do
// not call it concurrently with code that reads these variables directly.
func LoadFrom(lookup func(string) (string, bool)) (*Config, error) {
	keys := varNames()
	raw := make(map[string]string, len(keys)) // the set, non-empty values
	var errs []error
	failed := map[string]bool{}
	for _, k := range keys {
		if v, ok := lookup(k); ok && v != "" {
			if strings.ContainsRune(v, 0) {
				// os.Setenv refuses it, which would leave the process's
				// own value in place: report it instead.
				errs = append(errs, &VarError{k, v, "contains a NUL character, which no environment variable can hold: remove it"})
				failed[k] = true
				continue
			}
			raw[k] = v
		}
	}

	envMu.Lock()
	defer envMu.Unlock()
	restore := replaceEnv(keys, raw)
	defer restore()

	// envconfig stops at the first value it cannot convert. To report every
	// problem, record it, unset the variable (so its default applies) and run
	// again; there are at most len(keys) rounds.
	var s spec
	for {
		s = spec{}
		err := envconfig.Process(Prefix, &s)
		if err == nil {
			break
		}
		var pe *envconfig.ParseError
		if !errors.As(err, &pe) || failed[pe.KeyName] {
			return nil, fmt.Errorf("reading the configuration: %v", err) // a bug in spec, not user input
		}
		failed[pe.KeyName] = true
		errs = append(errs, parseError(pe, raw[pe.KeyName]))
		os.Unsetenv(pe.KeyName)
	}

	c := &Config{
		Environment:           Environment(s.Environment),
		BankGUID:              s.BankGuid,
		Language:              s.Language,
		LinkCustomizationName: s.LinkCustomizationName,
		RedirectURI:           s.RedirectUri,
		Asset:                 s.Asset,
		BankAPIURL:            s.BankApiUrl,
		IdentityAPIURL:        s.IdentityApiUrl,
		PollInitial:           s.PollInitial,
		PollMax:               s.PollMax,
		WorkflowTimeout:       s.WorkflowTimeout,
		AccountTimeout:        s.AccountTimeout,
		LogLevel:              s.LogLevel,
		SimAddr:               s.SimAddr,
		PlaidScriptURL:        s.PlaidScriptUrl,
		Prefetch:              bool(s.Prefetch),
	}
	c.OAuthRoute, c.OAuthBrowserBanks, c.OAuthReturnPort = s.OauthRoute, s.OauthBrowserInstitutions, s.OauthReturnPort
	v := validator{raw: raw, failed: failed, errs: errs}
	v.validate(c)
	if len(v.errs) > 0 {
		// Report in the documented order of the variables.
		order := make(map[string]int, len(keys))
		for i, k := range keys {
			order[k] = i
		}
		slices.SortStableFunc(v.errs, func(a, b error) int {
			return order[a.(*VarError).Name] - order[b.(*VarError).Name]
		})
		return nil, errors.Join(v.errs...)
	}
	return c, nil
}

// replaceEnv sets each key to raw[key] (or unsets it) and returns a function
// that puts the previous state back.
func replaceEnv(keys []string, raw map[string]string) (restore func()) {
	type saved struct {
		v  string
		ok bool
	}
	old := make(map[string]saved, len(keys))
	for _, k := range keys {
		v, ok := os.LookupEnv(k)
		old[k] = saved{v, ok}
		if nv, set := raw[k]; set {
			os.Setenv(k, nv)
		} else {
			os.Unsetenv(k)
		}
	}
	return func() {
		for k, s := range old {
			if s.ok {
				os.Setenv(k, s.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// parseError turns envconfig's "envconfig.Process: assigning …" text into a
// VarError that says what to write instead.
func parseError(pe *envconfig.ParseError, value string) error {
	switch pe.TypeName {
	case "time.Duration":
		return &VarError{pe.KeyName, value, "is not a duration: use a value such as 500ms or 2s"}
	case "config.Boolean", "bool":
		return &VarError{pe.KeyName, value, "is not on or off: use true or false (1 or 0)"}
	case "int":
		return &VarError{pe.KeyName, value, "is not a whole number: use digits only, such as 47615"}
	}
	return &VarError{pe.KeyName, value, "cannot be read as " + pe.TypeName}
}

type validator struct {
	raw    map[string]string
	failed map[string]bool
	errs   []error
}

func (v *validator) add(name, value, reason string) {
	v.errs = append(v.errs, &VarError{Name: name, Value: value, Reason: reason})
}

// describe names a variable and the value in effect, for messages about
// another variable.
func (v *validator) describe(name string, d time.Duration) string {
	if _, set := v.raw[name]; set {
		return fmt.Sprintf("%s (%s)", name, d)
	}
	return fmt.Sprintf("%s (%s, the default)", name, d)
}

func (v *validator) validate(c *Config) {
	if !c.Environment.Valid() {
		v.add(VarEnvironment, string(c.Environment), "is not allowed: use sim, sandbox or production")
	}
	if c.BankGUID != "" && !guid.Valid(c.BankGUID) {
		v.add(VarBankGUID, c.BankGUID, "is not a bank GUID: use the bank's guid from Cybrid, 32 lowercase hex characters (0-9, a-f), or leave it unset")
	}
	if !contains(languages, c.Language) {
		v.add(VarLanguage, c.Language, "is not a language Plaid Link supports here: use en, fr, es, nl or de")
	}
	if n := utf8.RuneCountInString(c.LinkCustomizationName); n > MaxLinkCustomizationNameLen {
		v.add(VarLinkCustomizationName, c.LinkCustomizationName, fmt.Sprintf("is %d characters long: Cybrid allows at most %d", n, MaxLinkCustomizationNameLen))
	} else if hasControl(c.LinkCustomizationName) {
		v.add(VarLinkCustomizationName, c.LinkCustomizationName, "contains a control character: use the customization's name as shown in the Plaid dashboard")
	}
	if !contains(assets, c.Asset) {
		v.add(VarAsset, c.Asset, "is not allowed: only USD is supported for now")
	}
	if !contains(logLevels, c.LogLevel) {
		v.add(VarLogLevel, c.LogLevel, "is not a log level: use debug, info, warn or error")
	}
	if c.RedirectURI != "" {
		v.checkRedirectURI(c.Environment, c.RedirectURI)
	}
	if c.BankAPIURL != "" {
		v.checkBaseURL(VarBankAPIURL, c.BankAPIURL)
	}
	if c.IdentityAPIURL != "" {
		v.checkBaseURL(VarIdentityAPIURL, c.IdentityAPIURL)
	}
	v.checkSimAddr(c.SimAddr)
	if c.PlaidScriptURL != "" {
		v.checkPlaidScriptURL(c.Environment, c.PlaidScriptURL)
	}
	v.checkDurations(c)
	v.checkOAuthRoute(c)
}

// checkOAuthRoute: the route is one of oauthroute's modes, the institutions
// are Plaid institution ids, the return port a loopback port number.
func (v *validator) checkOAuthRoute(c *Config) {
	if !oauthroute.Mode(c.OAuthRoute).Valid() {
		v.add(VarOAuthRoute, c.OAuthRoute, "is not allowed: use auto, browser or popup")
	}
	for _, id := range c.OAuthBrowserInstitutions() {
		if !oauthroute.ValidInstitutionID(id) {
			v.add(VarOAuthBrowserInstitutions, v.raw[VarOAuthBrowserInstitutions], fmt.Sprintf("names %q, which is not a Plaid institution id: use ids such as ins_56 separated by commas, or none", id))
			break
		}
	}
	if !v.failed[VarOAuthReturnPort] && (c.OAuthReturnPort < 0 || c.OAuthReturnPort > 65535 || (c.OAuthReturnPort > 0 && c.OAuthReturnPort < 1024)) {
		v.add(VarOAuthReturnPort, v.raw[VarOAuthReturnPort], "is not a usable port: use a number from 1024 to 65535 (the one in your hosted return page), or 0 to turn the loopback return off")
	}
}

// OAuthBrowserInstitutions are the Plaid institution ids whose OAuth page
// always opens in the system browser (LINKDESK_OAUTH_BROWSER_INSTITUTIONS;
// "none" is none).
func (c *Config) OAuthBrowserInstitutions() []string { return splitList(c.OAuthBrowserBanks) }

// splitList reads a comma-separated list (spaces trimmed, empty items
// dropped); "none" is the empty list.
func splitList(s string) []string {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return []string{}
	}
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkSimAddr: the simulator listens on loopback only.
func (v *validator) checkSimAddr(s string) {
	host, port, err := net.SplitHostPort(s)
	switch {
	case err != nil:
		v.add(VarSimAddr, s, "is not host:port: use e.g. 127.0.0.1:8090, or 127.0.0.1:0 for any free port")
	case host != "" && !isLoopback(host):
		v.add(VarSimAddr, s, "is not a loopback address: the simulator listens on this machine only; use 127.0.0.1:PORT or localhost:PORT")
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			v.add(VarSimAddr, s, "has no valid port: use a number from 0 (any free port) to 65535")
		}
	}
}

// checkPlaidScriptURL: an override of Plaid's Link script is for a
// simulator on this machine (linkdesk sim), so it must be a loopback
// http(s) URL, and production always loads Plaid's own.
func (v *validator) checkPlaidScriptURL(env Environment, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		v.add(VarPlaidScriptURL, s, "is not an absolute http(s) URL: use the script of a simulator run apart, e.g. http://localhost:8090/link/v2/stable/link-initialize.js")
	case !isLoopback(u.Hostname()):
		v.add(VarPlaidScriptURL, u.Redacted(), "is not on this machine: only a loopback simulator may stand in for Plaid (localhost, 127.0.0.1 or ::1); unset it to use Plaid's own script")
	case env == Production:
		v.add(VarPlaidScriptURL, u.Redacted(), "is set in production: production always loads Plaid's own script; unset it")
	}
}

func (v *validator) checkDurations(c *Config) {
	ok := func(name string) bool { return !v.failed[name] }
	pollOK := true
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{VarPollInitial, c.PollInitial}, {VarPollMax, c.PollMax}} {
		switch {
		case !ok(d.name):
		case d.val <= 0:
			v.add(d.name, v.raw[d.name], "is not allowed: use a positive duration of at least "+MinPoll.String()+", such as 100ms or 1s")
			pollOK = false
		case d.val < MinPoll:
			v.add(d.name, v.raw[d.name], fmt.Sprintf("is too short: polls closer than %s would flood Cybrid's API (every running attempt polls its workflow and its account); use at least %s, such as 100ms (the default for %s) or 1s", MinPoll, MinPoll, VarPollInitial))
			pollOK = false
		}
	}
	if pollOK && ok(VarPollInitial) && ok(VarPollMax) && c.PollInitial > c.PollMax {
		// Blame whichever of the two the user set (POLL_INITIAL if both).
		if _, set := v.raw[VarPollInitial]; set {
			v.add(VarPollInitial, v.raw[VarPollInitial], fmt.Sprintf("is longer than %s: the first poll delay cannot exceed the longest gap between polls; lower %s or raise %s", v.describe(VarPollMax, c.PollMax), VarPollInitial, VarPollMax))
		} else {
			v.add(VarPollMax, v.raw[VarPollMax], fmt.Sprintf("is shorter than %s: the longest gap between polls cannot be shorter than the first poll delay; raise %s or lower %s", v.describe(VarPollInitial, c.PollInitial), VarPollMax, VarPollInitial))
		}
	}
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{VarWorkflowTimeout, c.WorkflowTimeout}, {VarAccountTimeout, c.AccountTimeout}} {
		if ok(d.name) && d.val < MinTimeout {
			v.add(d.name, v.raw[d.name], fmt.Sprintf("is too short: use a duration of at least %s, such as 30s or 2m", MinTimeout))
		}
	}
}

// checkBaseURL checks an API base URL override: absolute http(s), no query or
// fragment, no user info, https unless the host is loopback.
func (v *validator) checkBaseURL(name, s string) {
	u, err := url.Parse(s)
	if err != nil {
		v.add(name, s, "is not a URL: use an absolute URL such as https://bank.sandbox.cybrid.app or http://127.0.0.1:8080")
		return
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		v.add(name, shown, "is not an absolute http or https URL: use e.g. https://bank.sandbox.cybrid.app or http://127.0.0.1:8080")
	case u.User != nil:
		v.add(name, shown, "contains user info: remove the user:password@ part (API credentials come from the OS keychain)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		v.add(name, shown, "has a query or fragment: use only scheme, host, port and path")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.add(name, shown, "uses http for a non-loopback host: use https (http is allowed only for 127.0.0.1, ::1 and localhost)")
	}
}

// checkRedirectURI applies Cybrid's and Plaid's redirect URI rules: at most 128
// characters, absolute, no query, no fragment; https in production (Cybrid
// enforces SSL for OAuth redirect URIs there); http only for localhost or
// 127.0.0.1 in sandbox and sim (Plaid allows http only for localhost in
// Sandbox).
func (v *validator) checkRedirectURI(env Environment, s string) {
	if n := utf8.RuneCountInString(s); n > MaxRedirectURILen {
		v.add(VarRedirectURI, s, fmt.Sprintf("is %d characters long: Cybrid accepts redirect URIs of at most %d characters", n, MaxRedirectURILen))
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		v.add(VarRedirectURI, s, "is not an absolute URL: use e.g. https://linkdesk.example.com/oauth-return (registered with Cybrid), or leave it unset")
		return
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		v.add(VarRedirectURI, shown, "uses the scheme "+u.Scheme+": Plaid supports only https redirect URIs (http for localhost in sandbox), no custom schemes")
	case u.User != nil:
		v.add(VarRedirectURI, shown, "contains user info: remove the user:password@ part")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		v.add(VarRedirectURI, shown, "has a query or fragment: Plaid rejects redirect URIs with either, and Cybrid cannot register hash-routed URIs; use a plain path such as https://linkdesk.example.com/oauth-return")
	case u.Scheme == "http" && env == Production:
		v.add(VarRedirectURI, shown, "uses http in production: Cybrid enforces SSL for OAuth redirect URIs in production, so use https")
	case u.Scheme == "http" && env.Valid() && !isLocalhostRedirect(u.Hostname()):
		v.add(VarRedirectURI, shown, fmt.Sprintf("uses http for host %q: in %s Plaid allows http only for localhost or 127.0.0.1; use https", u.Hostname(), env))
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

func isLocalhostRedirect(host string) bool {
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// BankURL is the bank API base URL without a trailing slash: the override if
// set, else Cybrid's URL for sandbox or production. It is "" for sim, whose
// URL the simulator sets at run time.
func (c *Config) BankURL() string {
	switch {
	case c.BankAPIURL != "":
		return strings.TrimRight(c.BankAPIURL, "/")
	case c.Environment == Sandbox:
		return SandboxBankURL
	case c.Environment == Production:
		return ProductionBankURL
	}
	return ""
}

// IdentityURL is the identity (OAuth token) base URL without a trailing slash:
// the override if set, else Cybrid's URL for sandbox or production. It is ""
// for sim, whose URL the simulator sets at run time.
func (c *Config) IdentityURL() string {
	switch {
	case c.IdentityAPIURL != "":
		return strings.TrimRight(c.IdentityAPIURL, "/")
	case c.Environment == Sandbox:
		return SandboxIdentityURL
	case c.Environment == Production:
		return ProductionIdentityURL
	}
	return ""
}

// SlogLevel maps LogLevel to a slog.Level (info for anything unknown, which
// Load never returns).
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

const usageFormat = `linkdesk reads its configuration from these environment variables.
Unset or empty means the default.

VARIABLE	TYPE	DEFAULT	DESCRIPTION
{{range .}}{{usage_key .}}	{{usage_type .}}	{{with usage_default .}}{{.}}{{else}}-{{end}}	{{usage_description .}}
{{end}}`

// Usage writes a table of every variable: name, type, default and
// description.
func Usage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(Prefix, &spec{}, tw, usageFormat); err != nil {
		panic("config: usage template: " + err.Error()) // a bug in usageFormat or spec
	}
	tw.Flush()
}

// varNames lists the variable names envconfig derives from spec.
func varNames() []string {
	var b bytes.Buffer
	if err := envconfig.Usagef(Prefix, &spec{}, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		panic("config: " + err.Error())
	}
	return strings.Fields(b.String())
}
