// Package pageapi is the contract between linkdesk's page and Go, readable in
// one place: every call the page can make (its name, parameters and result,
// calls.go) and every message Go pushes to the page (pushes.go).
//
// It is the only place where what the page sends is decoded: one decoder
// (strict for linkdesk's own parameters, lenient for the data Plaid Link
// hands the page, to which Plaid adds fields without notice), one size limit
// (MaxParams, which the transport enforces before it reads a body), one
// attempt-id rule (linkflow.CheckAttemptID) and one GUID rule (package
// guid). The page's mirror of the contract is assets/app/contract.js; a test
// checks that the two name the same calls and pushes.
//
// The transport is package ui's — a same-origin POST per call, answered in
// its HTTP response, and Window.Push for messages — and this package knows
// nothing of it: API.Serve has the shape of ui.CallFunc.
package pageapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/environment"
	"linkdesk/app/keychain"
	"linkdesk/app/problem"
)

// MaxParams bounds what the page may send in one call, in bytes.
const MaxParams = 64 << 10

// Backend is what the page's calls act on: the running session.
type Backend interface {
	// Env returns the current environment, or an error that says why
	// there is none (*target.NoCredentialsError while the first-run
	// screen waits for credentials).
	Env() (*environment.Env, error)
	// Info describes the session for the page's header.
	Info() SessionInfo
	// SwitchEnvironment makes env current without a restart.
	SwitchEnvironment(env config.Environment) (SessionInfo, error)
	// StoreCredentials stores creds for env in the OS keychain, then
	// makes env current.
	StoreCredentials(env config.Environment, creds keychain.Credentials) (SessionInfo, error)
	// RetryEnvironment starts the environment the session waits for
	// again (after the operator unlocked the keychain, say) and describes
	// the session then: running, or still waiting with its problem.
	RetryEnvironment() (SessionInfo, error)
	// PageReady is told that the page is interactive (its first list
	// rendered).
	PageReady()
	// ResetSimulator starts the built-in simulator afresh (its accounts,
	// workflows, verifications and Plaid items gone, the seed customers
	// back) and describes the session then.
	ResetSimulator() (SessionInfo, error)
	// AuditLog is the session's audit log, one for every environment (nil
	// or audit.Off when it could not be opened).
	AuditLog() *audit.Log
}

// SessionInfo is what the page's environment bar shows. It holds no secret.
type SessionInfo struct {
	Environment string `json:"environment"` // sim, sandbox or production
	BankGUID    string `json:"bank_guid,omitempty"`
	// PlaidScriptURL is the link-initialize.js the page loads once.
	PlaidScriptURL string `json:"plaid_script_url,omitempty"`
	// Credentials says where the API credentials come from ("built-in
	// simulator", "OS keychain (<client id>)", "none stored").
	Credentials string `json:"credentials"`
	Version     string `json:"version"`
	// RedirectURI is the OAuth redirect URI sent with workflows ("" none).
	RedirectURI string `json:"redirect_uri,omitempty"`
	// NeedsCredentials is set when the environment has no stored (or no
	// readable) credentials: the page shows the first-run screen.
	NeedsCredentials bool `json:"needs_credentials"`
	// Problem says why the environment is not running (nil while it
	// runs): its kind is missing_credentials (with NeedsCredentials),
	// keychain_locked, keychain_denied, keychain_unavailable or
	// keychain_timeout; its headline, fix and detail say what is wrong and
	// how to fix it, and its action (retry_environment) that the call
	// retryEnvironment tries again. The simulator works meanwhile.
	Problem      *problem.Problem `json:"problem,omitempty"`
	Environments []string         `json:"environments"`
	// Simulator says where the built-in simulator listens (sim only).
	Simulator *SimulatorInfo `json:"simulator,omitempty"`
	// OAuthRoute is where banks' OAuth pages open (oauth.go); set by the
	// session.
	OAuthRoute *OAuthRouteInfo `json:"oauth_route,omitempty"`
}

// SimulatorInfo is what a QA engineer needs to reach the built-in simulator
// from outside linkdesk: its base URLs and ready-to-paste commands.
type SimulatorInfo struct {
	BankURL     string `json:"bank_url"`
	IdentityURL string `json:"identity_url"`
	PlaidURL    string `json:"plaid_url"`
	ClientID    string `json:"client_id"`
	// StateFile is where the simulator keeps its state across runs ("":
	// in memory only, lost when linkdesk closes); StateNote says what a
	// tester should know about it (another linkdesk holds the file, a file
	// was set aside), "" when nothing.
	StateFile string `json:"state_file"`
	StateNote string `json:"state_note,omitempty"`
	// Commands are shell lines for the simulator's QA hooks and for
	// pointing another linkdesk at it.
	Commands []Command `json:"commands"`
}

// Command is one ready-to-paste shell line and what it does.
type Command struct {
	Title string `json:"title"`
	Line  string `json:"line"`
}

// simulatorInfo describes the running simulator of e (nil outside sim).
func simulatorInfo(e *environment.Env) *SimulatorInfo {
	t := e.Target
	if !t.Simulated() {
		return nil
	}
	b := t.BankURL
	p := t.Sim.Persistence()
	return &SimulatorInfo{
		BankURL: b, IdentityURL: t.IdentityURL, PlaidURL: t.Sim.PlaidURL, ClientID: t.Credentials.ClientID,
		StateFile: p.File, StateNote: p.Note,
		Commands: []Command{
			{"List the QA scenarios and the active one", "curl -s " + b + "/sim/scenarios"},
			{"Apply a scenario (here: a slow workflow)", "curl -s -X PUT " + b + `/sim/scenarios/active -H 'Content-Type: application/json' -d '{"id":"slow_workflow","options":{"delay":"8s"}}'`},
			{"Back to normal", "curl -s -X DELETE " + b + "/sim/scenarios/active"},
			{"Show the injected faults", "curl -s " + b + "/sim/faults"},
			{"Expire an account's bank connection (refresh_required)", "curl -s -X POST " + b + "/sim/external_bank_accounts/ACCOUNT_GUID/expire"},
			{"Reset the simulator (deletes every account, workflow and verification made in it)", "curl -s -X POST " + b + `/sim/reset -H 'Content-Type: application/json' -d '{}'`},
			{"Point another linkdesk at this simulator (sandbox)", t.Sim.SandboxCommand()},
		},
	}
}

// InfoOf describes a running environment.
func InfoOf(e *environment.Env, version string) SessionInfo {
	t := e.Target
	return SessionInfo{
		Environment: string(t.Name), BankGUID: t.BankGUID, PlaidScriptURL: t.PlaidScriptURL,
		Credentials: t.CredentialsSource, Version: version, RedirectURI: e.RedirectURI,
		Environments: environments(), Simulator: simulatorInfo(e),
	}
}

// InfoWaiting describes a session waiting for env because of p: no stored
// credentials (kind missing_credentials: NeedsCredentials) or a keychain
// problem.
func InfoWaiting(env config.Environment, version string, p problem.Problem) SessionInfo {
	creds := "none stored"
	if p.Kind != problem.MissingCredentials {
		creds = "OS keychain (not readable now)"
	}
	return SessionInfo{Environment: string(env), Credentials: creds, Version: version,
		NeedsCredentials: p.Kind == problem.MissingCredentials, Problem: &p, Environments: environments()}
}

func environments() []string {
	out := []string{}
	for _, e := range config.Environments {
		out = append(out, string(e))
	}
	return out
}

// API serves the page's calls on a Backend.
type API struct {
	b   Backend
	log *slog.Logger
}

// New returns the API over b; log receives nothing secret.
func New(b Backend, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	return &API{b: b, log: log}
}

// ErrUnknownCall is wrapped by Serve's error for a name that is not a call.
var ErrUnknownCall = errors.New("unknown call")

// Serve answers the call named method with params (one JSON object, or
// empty for none). Its shape is ui.CallFunc's. The error says what to fix;
// it quotes at most 40 characters of anything the page sent. Every error
// carries its problem (package problem, worded for the current
// environment), which package ui sends along: a failed call — a customer
// list that could not be read, say — is never mistaken for an empty answer.
func (a *API) Serve(ctx context.Context, method string, params []byte) (any, error) {
	c, ok := callTable[method]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownCall, quote(method))
	}
	v, err := c.serve(ctx, a, params)
	if err != nil {
		return nil, problem.Wrap(err, problem.ClassifyFor(a.b.Info().Environment, err))
	}
	return v, nil
}

// call is one entry of the contract.
type call struct {
	name string
	// lenient: Plaid's data, decoded without refusing unknown fields.
	lenient bool
	params  reflect.Type
	result  reflect.Type
	serve   func(ctx context.Context, a *API, raw []byte) (any, error)
}

// define makes a call whose parameters P are decoded strictly.
func define[P, R any](name string, fn func(ctx context.Context, a *API, p P) (R, error)) call {
	return defineAs(name, false, fn)
}

// definePlaid makes a call whose parameters P carry Plaid's data.
func definePlaid[P, R any](name string, fn func(ctx context.Context, a *API, p P) (R, error)) call {
	return defineAs(name, true, fn)
}

func defineAs[P, R any](name string, lenient bool, fn func(ctx context.Context, a *API, p P) (R, error)) call {
	return call{
		name: name, lenient: lenient,
		params: reflect.TypeFor[P](), result: reflect.TypeFor[R](),
		serve: func(ctx context.Context, a *API, raw []byte) (any, error) {
			var p P
			if err := decode(raw, &p, !lenient); err != nil {
				return nil, err
			}
			return fn(ctx, a, p)
		},
	}
}

// Calls lists the names of every call the page can make, sorted.
func Calls() []string {
	out := make([]string, 0, len(callTable))
	for name := range callTable {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Describe lists every call with the JSON names of its parameters, e.g.
// "startRefresh {customer_guid, account_guid}", sorted: the contract as a
// reader sees it.
func Describe() []string {
	var out []string
	for _, name := range Calls() {
		c := callTable[name]
		out = append(out, name+" {"+strings.Join(jsonNames(c.params), ", ")+"}")
	}
	return out
}

func jsonNames(t reflect.Type) []string {
	var out []string
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// decode reads the page's parameters into v: one JSON object (empty or null
// mean none), at most MaxParams bytes. strict refuses a key that is not
// exactly one of v's JSON names.
func decode(raw []byte, v any, strict bool) error {
	if len(raw) > MaxParams {
		return fmt.Errorf("parameters are %d bytes; the limit is %d", len(raw), MaxParams)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return errors.New("parameters are not a JSON object: send one object, e.g. {}")
	}
	if strict {
		if err := knownKeys(raw, jsonNames(reflect.TypeOf(v).Elem())); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("parameters are not valid JSON: there is more after the parameters object; send one object")
	}
	return nil
}

// knownKeys refuses a key of the object raw that is not exactly one of
// known (encoding/json alone would accept "Page" for "page").
func knownKeys(raw []byte, known []string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var got map[string]json.RawMessage
	if err := dec.Decode(&got); err != nil {
		return decodeError(err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if contains(known, k) {
			continue
		}
		names := make([]string, 0, len(known))
		for _, n := range known {
			names = append(names, strconv.Quote(n))
		}
		sort.Strings(names)
		takes := "no parameters"
		if len(names) > 0 {
			takes = strings.Join(names, ", ")
		}
		return fmt.Errorf("parameters do not fit this call: unknown parameter %s (this call takes %s)", quote(k), takes)
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("parameters are not valid JSON: %s", cut(err.Error(), 120))
	}
	return fmt.Errorf("parameters do not fit this call: %s", cut(err.Error(), 120))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// quote is v quoted for an error message and cut to 40 characters, so that
// an error stays one short line whatever the page sent.
func quote(v string) string {
	if r := []rune(v); len(r) > 40 {
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(v)
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
