// Package problem is linkdesk's one classifier of what went wrong: it turns
// an error — from the Cybrid client, the OS keychain, the credentials
// lookup, or linkdesk's own checks — into a Problem the operator can act on:
// a kind, a plain headline that says what to do, how to fix it, and the
// technical detail folded below.
//
// The page receives Problems three ways: in the body of a failed page call
// (package ui writes {"error": …, "problem": {…}} for an error that carries
// one, see Error), on a failed or parked attempt (linkflow.Attempt.Problem),
// and on a session that waits for its environment (pageapi.SessionInfo).
// `linkdesk doctor` words network and scope failures with the same
// functions (NetCause, ScopeEffect).
//
// Nothing a Problem holds is secret: the detail and any server text quoted
// in a headline go through package redact and are cut short (MaxDetail,
// maxQuote), and the client secret never reaches an error in the first
// place (packages cybrid and keychain scrub it).
package problem

import (
	"errors"
	"strings"
	"unicode"

	"linkdesk/app/redact"
)

// Kind is the class of a Problem. The page picks how to show a problem by
// its kind; the headline always reads on its own.
type Kind string

// The kinds.
const (
	// Network: no answer from Cybrid (name resolution, connection refused
	// or reset, TLS, timeout).
	Network Kind = "network"
	// Credentials: Cybrid refused the API credentials or the token (401), or
	// the API key lacks a scope (403, invalid_scope).
	Credentials Kind = "credentials"
	// CustomerState: the customer's state does not allow the action (only
	// verified customers can link bank accounts).
	CustomerState Kind = "customer_state"
	// Refused: Cybrid (or linkdesk, before sending) refused the request
	// itself: 400, 404, 409, 422, an invalid argument, a failure code that
	// says the request cannot succeed as it is.
	Refused Kind = "request_refused"
	// CybridFailure: Cybrid failed (5xx, 429, an unreadable answer, a
	// workflow or account that failed on Cybrid's side, a deadline passed
	// while Cybrid worked).
	CybridFailure Kind = "cybrid_failure"
	// Plaid: Plaid Link ended with an error, or Plaid's session or token
	// cannot be used.
	Plaid Kind = "plaid"

	// The session's own problems (pageapi.SessionInfo.Problem): no
	// credentials stored (or unreadable), and the OS keychain locked,
	// denying access, unreachable or not answering.
	MissingCredentials  Kind = "missing_credentials"
	KeychainLocked      Kind = "keychain_locked"
	KeychainDenied      Kind = "keychain_denied"
	KeychainUnavailable Kind = "keychain_unavailable"
	KeychainTimeout     Kind = "keychain_timeout"

	// Other: an error no rule above recognises; its headline is the
	// error's own text (linkdesk's errors say what to do).
	Other Kind = "other"
)

// Actions the page can offer next to a problem (Problem.Action).
const (
	// TryAgain: the same action may succeed as it is, a little later.
	TryAgain = "try_again"
	// RetryEnvironment: start the environment again (the page call
	// retryEnvironment), after fixing the keychain.
	RetryEnvironment = "retry_environment"
	// StoreCredentials: store the environment's credentials again (the
	// first-run screen).
	StoreCredentials = "store_credentials"
	// RetryAccount: retry the account creation of an attempt in
	// account_retry (the page call retryAccount).
	RetryAccount = "retry_account"
)

// Problem is one thing that went wrong, worded for the operator. Its JSON
// is what the page receives.
type Problem struct {
	Kind Kind `json:"kind"`
	// Headline is one or two plain sentences: what is wrong and what to
	// do. It never quotes more than a short excerpt of a server's text.
	Headline string `json:"headline"`
	// Fix says how, when that takes more than the headline: the command to
	// run, the setting to check, who to ask. "" when the headline says it
	// all.
	Fix string `json:"fix,omitempty"`
	// Detail is the technical detail for a folded section or a bug report
	// (the call, the status, the error text), redacted and at most
	// MaxDetail characters. "" when there is none.
	Detail string `json:"detail,omitempty"`
	// Action is what the page may offer to do about it (TryAgain,
	// RetryEnvironment, StoreCredentials, RetryAccount), "" for nothing.
	Action string `json:"action,omitempty"`
}

// Text is the headline followed by the fix: the problem as one paragraph.
func (p Problem) Text() string {
	if p.Fix == "" {
		return p.Headline
	}
	return p.Headline + " " + p.Fix
}

// MaxDetail bounds Problem.Detail, in characters.
const MaxDetail = 600

// maxQuote bounds the server text quoted in a headline, in characters.
const maxQuote = 160

// Error is an error that carries its Problem. Its text is the wrapped
// error's. It implements PageProblem, which package ui looks for (without
// importing this package) to put the problem into a failed call's answer.
type Error struct {
	err error
	p   Problem
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// Problem returns the problem the error carries.
func (e *Error) Problem() Problem { return e.p }

// PageProblem returns the problem as package ui sends it to the page.
func (e *Error) PageProblem() any { return e.p }

// Carrier is an error that knows its Problem (such as *Error, or
// target.NoCredentialsError). Classify returns the Problem of the first
// Carrier in an error's chain.
type Carrier interface {
	error
	Problem() Problem
}

// Wrap returns err carrying p (nil when err is nil). Classify returns p for
// it and for any error that wraps it.
func Wrap(err error, p Problem) error {
	if err == nil {
		return nil
	}
	return &Error{err: err, p: p}
}

// New returns an error whose text is p's Text and which carries p.
func New(p Problem) error { return &Error{err: errors.New(p.Text()), p: p} }

// Classify words err for the operator, without knowing the environment. See
// ClassifyFor.
func Classify(err error) Problem { return ClassifyFor("", err) }

// ClassifyFor words err for the operator of environment env (sim, sandbox,
// production; "" unknown), which the advice names (the credentials command,
// the simulator's faults). An error that carries a Problem (Wrap) keeps it.
// nil gives the zero Problem.
func ClassifyFor(env string, err error) Problem {
	if err == nil {
		return Problem{}
	}
	var c Carrier
	if errors.As(err, &c) {
		p := c.Problem()
		if p.Detail == "" && c.Error() != p.Text() {
			p.Detail = Detail(c)
		}
		return p
	}
	for _, rule := range rules {
		if p, ok := rule(env, err); ok {
			if p.Detail == "" {
				p.Detail = Detail(err)
			}
			return p
		}
	}
	return Problem{Kind: Other, Headline: sentence(Quote(trimPrefix(err.Error()), 300))}
}

// rules are tried in order; the first that recognises the error words it.
var rules = []func(env string, err error) (Problem, bool){
	keychainProblem,
	cybridProblem,
	contextProblem,
}

var scrubber = redact.New(nil)

// Detail is err's text as a Problem's Detail: redacted (package redact's
// rule) and cut to MaxDetail characters, without the "cybrid: " prefix.
func Detail(err error) string {
	if err == nil {
		return ""
	}
	return Quote(trimPrefix(err.Error()), MaxDetail)
}

// Quote is s redacted, on one line, and cut to at most n characters: the
// form in which a server's (or any outside) text may appear in a Problem.
func Quote(s string, n int) string {
	s = scrubber.String(s)
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(s); len(r) > n {
		s = strings.TrimSpace(string(r[:n])) + "…"
	}
	return s
}

func trimPrefix(s string) string { return strings.TrimPrefix(s, "cybrid: ") }

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	s = string(r)
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "…") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}
