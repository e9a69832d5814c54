package problem

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/cybrid"
	"linkdesk/app/keychain"
)

// simulator is the environment name of the built-in simulator.
const simulator = string(config.Sim)

// ---- the keychain and stored credentials ----

// NoCredentials is the problem of an environment without stored API
// credentials: the first-run screen asks for them.
func NoCredentials(env string) Problem {
	return Problem{Kind: MissingCredentials,
		Headline: fmt.Sprintf("No Cybrid API credentials are stored for %s: enter the client id and secret of a %s bank API key.", orThis(env), orThis(env)),
		Fix:      fmt.Sprintf("They go to the OS keychain only (or run `linkdesk credentials set --env %s`). Meanwhile, the built-in simulator works without credentials.", orEnv(env)),
		Action:   StoreCredentials}
}

func keychainProblem(env string, err error) (Problem, bool) {
	if env == "" {
		env = envOf(err)
	}
	meanwhile := " Meanwhile, the built-in simulator works without the keychain."
	var (
		le *keychain.LockedError
		de *keychain.DeniedError
		ue *keychain.UnavailableError
		te *keychain.TimeoutError
		ce *keychain.CorruptError
	)
	switch {
	case errors.Is(err, keychain.ErrNotFound):
		return NoCredentials(env), true
	case errors.As(err, &ce):
		return Problem{Kind: MissingCredentials,
			Headline: fmt.Sprintf("The credentials stored for %s in the OS keychain cannot be read: enter them again.", orThis(env)),
			Fix:      fmt.Sprintf("Enter the client id and secret of a %s bank API key (or run `linkdesk credentials set --env %s`).", orThis(env), orEnv(env)) + meanwhile,
			Action:   StoreCredentials}, true
	case errors.As(err, &le):
		which := "The keyring that holds linkdesk's credentials"
		if le.Keyring != "" {
			which = fmt.Sprintf("The %q keyring, which holds linkdesk's credentials,", le.Keyring)
		}
		return Problem{Kind: KeychainLocked,
			Headline: which + " is locked: unlock it, then try again.",
			Fix:      le.Advice() + meanwhile,
			Action:   RetryEnvironment}, true
	case errors.As(err, &de):
		return Problem{Kind: KeychainDenied,
			Headline: "linkdesk is not allowed to use the OS keychain, where it keeps its API credentials: allow it, then try again.",
			Fix:      de.Advice() + meanwhile,
			Action:   RetryEnvironment}, true
	case errors.As(err, &ue) && ue.NoKeyring:
		return Problem{Kind: KeychainUnavailable,
			Headline: "The OS keychain has no keyring to keep linkdesk's API credentials in: create one, then try again.",
			Fix:      ue.Advice() + meanwhile,
			Action:   RetryEnvironment}, true
	case errors.As(err, &ue):
		return Problem{Kind: KeychainUnavailable,
			Headline: "linkdesk cannot reach the OS keychain, where it keeps its API credentials: make one available, then try again.",
			Fix:      ue.Advice() + meanwhile,
			Action:   RetryEnvironment}, true
	case errors.As(err, &te):
		return Problem{Kind: KeychainTimeout,
			Headline: fmt.Sprintf("The OS keychain did not answer within %s: it is probably locked and waiting for its password. Unlock it (look for its prompt), then try again.", te.Timeout),
			Fix:      te.Advice() + meanwhile,
			Action:   RetryEnvironment}, true
	}
	return Problem{}, false
}

// envOf is the environment a keychain error is about ("" when none).
func envOf(err error) string {
	var (
		le *keychain.LockedError
		de *keychain.DeniedError
		ue *keychain.UnavailableError
		te *keychain.TimeoutError
		ce *keychain.CorruptError
	)
	switch {
	case errors.As(err, &le):
		return le.Env
	case errors.As(err, &de):
		return de.Env
	case errors.As(err, &ue):
		return ue.Env
	case errors.As(err, &te):
		return te.Env
	case errors.As(err, &ce):
		return ce.Env
	}
	return ""
}

// ---- Cybrid ----

func cybridProblem(env string, err error) (Problem, bool) {
	var (
		ae *cybrid.APIError
		te *cybrid.TokenError
		p  Problem
	)
	switch {
	case cybrid.IsNetwork(err):
		p = networkProblem(env, err)
	case errors.As(err, &te):
		p = tokenProblem(env, te)
	case errors.As(err, &ae):
		p = apiProblem(env, ae)
	case errors.Is(err, cybrid.ErrMalformedResponse):
		p = Problem{Kind: CybridFailure, Headline: "Cybrid's answer could not be read (cut short or not JSON): try again in a moment.",
			Fix: "If it repeats, Cybrid may be degraded: export the timeline and report it to Cybrid support.", Action: TryAgain}
	case errors.Is(err, cybrid.ErrInvalidArgument):
		p = Problem{Kind: Refused, Headline: sentence(Quote(trimPrefix(err.Error()), 300))}
	default:
		return Problem{}, false
	}
	if errors.Is(err, cybrid.ErrAmbiguous) {
		p.Fix = strings.TrimSpace(p.Fix + " Cybrid may have carried out the request anyway: check what it holds (reload) before doing it again.")
	}
	return p, true
}

func networkProblem(env string, err error) Problem {
	p := Problem{Kind: Network, Action: TryAgain,
		Headline: "linkdesk cannot reach Cybrid: check this computer's network connection, then try again."}
	if isTimeout(err) {
		p.Headline = "Cybrid did not answer in time: check this computer's network connection, then try again."
	}
	cause := sentence(NetCause(err, 0))
	if env == simulator {
		p.Fix = cause + " In the simulator an injected fault does this (the Scenario picker, or GET /sim/faults); otherwise a firewall or proxy intercepts 127.0.0.1."
	} else {
		p.Fix = cause + " Check the network connection, the proxy (HTTPS_PROXY) and the firewall; `linkdesk doctor` checks each step."
	}
	return p
}

// NetCause words a failure to reach a server for a person: "the host name
// id.sandbox.cybrid.app cannot be resolved", "connection refused (nothing is
// listening at that address)", "no answer within 10s" (timeout 0: "no answer
// in time"), an untrusted TLS certificate, a connection closed without an
// answer; otherwise the error's text without the "cybrid: " prefix.
func NetCause(err error, timeout time.Duration) string {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		if timeout <= 0 {
			return "no answer in time"
		}
		return "no answer within " + timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing is listening at that address)"
	case errors.As(err, &dns):
		return "the host name " + dns.Name + " cannot be resolved"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return "its TLS certificate is not trusted (" + trimPrefix(err.Error()) + ")"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed without an answer"
	}
	return trimPrefix(err.Error())
}

// IsTimeout reports whether err is a request that got no (complete) answer
// in time: the Cybrid client's per-request timeout or a network timeout.
func IsTimeout(err error) bool { return isTimeout(err) }

func isTimeout(err error) bool {
	if errors.Is(err, cybrid.ErrRequestTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func tokenProblem(env string, te *cybrid.TokenError) Problem {
	switch {
	case cybrid.IsUnauthorized(te):
		if env == simulator {
			return Problem{Kind: Credentials,
				Headline: "The simulator refused linkdesk's built-in credentials: an injected fault does this. Clear it (Scenario: Normal, or /sim/faults), then try again.",
				Action:   TryAgain}
		}
		return Problem{Kind: Credentials,
			Headline: fmt.Sprintf("Cybrid refused linkdesk's API credentials for %s: store the right ones, then try again.", orThis(env)),
			Fix: fmt.Sprintf("Enter the client id and secret of a %s bank API key on the credentials screen, or run `linkdesk credentials set --env %s` (keys do not work across environments).",
				orThis(env), orEnv(env)),
			Action: StoreCredentials}
	case te.Code == "invalid_scope":
		return Problem{Kind: Credentials,
			Headline: "Cybrid issues no token: the API key is not allowed every scope linkdesk needs. Use a key that is.",
			Fix:      scopeFix(env, cybrid.DefaultScopes)}
	case te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests:
		return Problem{Kind: CybridFailure,
			Headline: fmt.Sprintf("Cybrid's identity service failed (%s): try again in a minute.", status(te.StatusCode)),
			Fix:      "If it persists, Cybrid may be degraded: check Cybrid's status or contact Cybrid support.",
			Action:   TryAgain}
	}
	return Problem{Kind: Refused,
		Headline: "Cybrid's identity service refused linkdesk's token request: check the identity URL and the credentials, then try again.",
		Fix:      fmt.Sprintf("`linkdesk doctor` finds out which one is wrong (%s must be Cybrid's identity service, or unset).", config.VarIdentityAPIURL)}
}

func apiProblem(env string, ae *cybrid.APIError) Problem {
	code := ae.StatusCode
	switch {
	case code == http.StatusUnauthorized:
		return Problem{Kind: Credentials,
			Headline: "Cybrid's bank API refused a freshly issued token: linkdesk must point at one Cybrid environment and use a bank API key.",
			Fix: fmt.Sprintf("The identity service and the bank API must belong to the same Cybrid environment (check %s and %s, or unset both), and the API key must be a bank API key, not an organization key.",
				config.VarIdentityAPIURL, config.VarBankAPIURL)}
	case code == http.StatusForbidden:
		scope := ae.RequiredScope
		if scope == "" {
			return Problem{Kind: Credentials,
				Headline: "The API key lacks a scope this action needs: ask your Cybrid administrator for a key allowed every scope linkdesk needs.",
				Fix:      scopeFix(env, cybrid.DefaultScopes)}
		}
		return Problem{Kind: Credentials,
			Headline: fmt.Sprintf("The API key lacks the %s scope, so %s. Ask your Cybrid administrator for a key allowed it.", scope, ScopeEffect(scope)),
			Fix:      scopeFix(env, []string{scope})}
	case ae.MessageCode == "unverified_customer":
		p := CustomerNotVerified(customerStateIn(ae.Message))
		return p
	case code == http.StatusTooManyRequests:
		wait := "a moment"
		if ae.RetryAfter > 0 {
			wait = ae.RetryAfter.String()
		}
		return Problem{Kind: CybridFailure,
			Headline: fmt.Sprintf("Cybrid is limiting how fast linkdesk may call it: wait %s, then try again.", wait),
			Action:   TryAgain}
	case code >= 500:
		return Problem{Kind: CybridFailure,
			Headline: fmt.Sprintf("Cybrid failed (%s): try again in a minute.", status(code)),
			Fix:      "If it persists, Cybrid may be degraded: check Cybrid's status, or export the timeline and send it to Cybrid support.",
			Action:   TryAgain}
	case code == http.StatusNotFound:
		return Problem{Kind: Refused,
			Headline: fmt.Sprintf("Cybrid has no such %s (404): reload; it may have been deleted, or belong to another bank.", resource(ae.Path))}
	}
	what := status(code)
	if ae.MessageCode != "" {
		what = fmt.Sprintf("%d %s", code, Quote(ae.MessageCode, 64))
	}
	if ae.Message != "" {
		what += ": " + Quote(strings.TrimRight(ae.Message, "."), maxQuote)
	}
	return Problem{Kind: Refused,
		Headline: fmt.Sprintf("Cybrid refused the request (%s). Fix that first: the same request fails again as it is.", what),
		Fix:      "Reload the customer and the account to see their current state; if the refusal makes no sense, export the timeline and send it to Cybrid support."}
}

// scopeFix says how to get a key allowed scopes.
func scopeFix(env string, scopes []string) string {
	return fmt.Sprintf("Ask your Cybrid administrator (or Cybrid support) for a %s bank API key allowed %s, then store it with `linkdesk credentials set --env %s`; `linkdesk doctor` lists every missing scope.",
		orThis(env), strings.Join(scopes, " "), orEnv(env))
}

// scopeEffects says, for each scope linkdesk asks for, what stops working
// without it.
var scopeEffects = map[string]string{
	"customers:read":                 "the customer list, search and every customer screen fail",
	"customers:pii:read":             "the customer list and search fail (linkdesk reads customers with their names, include_pii)",
	"workflows:execute":              "Link new account and Refresh connection fail: no Plaid link token can be requested",
	"workflows:read":                 "Link new account and Refresh connection fail: the Plaid link token cannot be read from its workflow",
	"external_bank_accounts:read":    "the customer's accounts cannot be listed, nor a new account followed until it is completed",
	"external_bank_accounts:write":   "Refresh connection (update mode) cannot set the account back to completed",
	"external_bank_accounts:execute": "the account cannot be created after Plaid Link (linking fails at the end), and Unlink fails",
	"identity_verifications:read":    "a bank-account ownership verification cannot be followed to its result",
	"identity_verifications:execute": "the bank-account ownership verification cannot be started",
}

// ScopeEffect says what stops working without the scope, e.g. for
// "workflows:execute": "Link new account and Refresh connection fail: no
// Plaid link token can be requested".
func ScopeEffect(scope string) string {
	if e, ok := scopeEffects[scope]; ok {
		return e
	}
	return "a feature of linkdesk needs it"
}

// resource names what a Bank API path is about.
func resource(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/customers"):
		return "customer"
	case strings.HasPrefix(path, "/api/external_bank_accounts"):
		return "external bank account"
	case strings.HasPrefix(path, "/api/workflows"):
		return "workflow"
	case strings.HasPrefix(path, "/api/identity_verifications"):
		return "identity verification"
	case strings.HasPrefix(path, "/api/banks"):
		return "bank"
	}
	return "object"
}

func status(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// ---- the caller's context ----

func contextProblem(env string, err error) (Problem, bool) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Problem{Kind: Network, Action: TryAgain,
			Headline: "Cybrid did not answer in time: check this computer's network connection, then try again."}, true
	case errors.Is(err, context.Canceled):
		return Problem{Kind: Other, Headline: "The request was cancelled before it finished: nothing more will happen; start it again if needed."}, true
	}
	return Problem{}, false
}

// ---- customers ----

// Customer states (Cybrid's CustomerState) that CustomerNotVerified words.
var customerStates = []string{"storing", "unverified", "verified", "rejected", "frozen"}

// customerStateIn finds a customer state named in a server's message (""
// when none): Cybrid's unverified_customer refusal does not say which.
func customerStateIn(msg string) string {
	for _, w := range strings.FieldsFunc(strings.ToLower(msg), func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_') }) {
		for _, s := range customerStates {
			if w == s && s != "verified" {
				return s
			}
		}
	}
	return ""
}

// CustomerNotVerified is the problem of an action refused because the
// customer's state is state (Cybrid's customer state: storing, unverified,
// rejected, frozen; "" when unknown): Cybrid links bank accounts only for
// verified customers.
func CustomerNotVerified(state string) Problem {
	p := Problem{Kind: CustomerState}
	switch state {
	case "storing":
		p.Headline = "This customer is still being created at Cybrid (storing): wait a minute, reload, and try again."
		p.Action = TryAgain
	case "unverified":
		p.Headline = "This customer's identity is not verified yet (unverified), and Cybrid links bank accounts only for verified customers: complete the customer's identity verification (KYC) first."
		p.Fix = "Nothing was started. Link again once Cybrid shows the customer as verified."
	case "rejected":
		p.Headline = "This customer failed identity verification (rejected): Cybrid links no bank accounts for them."
		p.Fix = "Nothing was started. Ask your compliance team; linkdesk cannot change a customer's state."
	case "frozen":
		p.Headline = "This customer is frozen: Cybrid links no bank accounts while a customer is frozen."
		p.Fix = "Nothing was started. Ask your compliance team to review the customer; linkdesk cannot unfreeze it."
	case "":
		p.Headline = "Cybrid links bank accounts only for verified customers, and this customer is not verified: verify the customer first."
		p.Fix = "Reload the customer to see its state; ask your compliance team if it should be verified."
	default:
		p.Headline = fmt.Sprintf("This customer is %s, not verified: Cybrid links bank accounts only for verified customers.", Quote(state, 32))
		p.Fix = "Nothing was started. Ask your compliance team about the customer's state."
	}
	return p
}

// ---- Plaid and account outcomes ----

// PlaidError is what Plaid Link's onExit reports as its error, with the
// exit's metadata.status.
type PlaidError struct {
	Type, Code     string
	Message        string // error_message
	DisplayMessage string // display_message ("" none)
	ExitStatus     string
}

// PlaidLink words a Plaid Link error: what happened and what to do. Its
// headline is the attempt's error text.
func PlaidLink(e PlaidError) Problem {
	msg := e.Message
	if e.DisplayMessage != "" {
		msg = e.DisplayMessage
	}
	msg = Quote(strings.TrimRight(strings.TrimSpace(msg), "."), maxQuote)
	code := Quote(e.Code, 64)
	p := Problem{Kind: Plaid, Action: TryAgain,
		Detail: Quote(strings.TrimSpace(fmt.Sprintf("Plaid %s %s: %s (exit status %s)", e.Type, e.Code, e.Message, orNone(e.ExitStatus))), MaxDetail)}
	switch {
	case e.ExitStatus == "requires_oauth" && e.Code != "INVALID_LINK_TOKEN":
		p.Headline = fmt.Sprintf("The bank's own sign-in (OAuth) did not complete: the customer declined access, or the bank failed (%s: %s). Link again and approve access at the bank, or choose another bank.", code, msg)
	case e.Code == "INVALID_LINK_TOKEN":
		p.Headline = "The link token expired or was already used (INVALID_LINK_TOKEN). Start again to get a new one."
	case e.Code == "INVALID_CREDENTIALS":
		p.Headline = "The bank rejected the sign-in details (INVALID_CREDENTIALS). Ask the customer to check them and link again."
	case e.Code == "INSTITUTION_DOWN" || e.Code == "INSTITUTION_NOT_RESPONDING":
		p.Headline = fmt.Sprintf("The bank is not available right now (%s). Try again later or choose another bank.", code)
	default:
		p.Headline = fmt.Sprintf("Plaid Link ended with %s %s: %s. Link again; if it repeats, report the code and the Link session to support.", Quote(e.Type, 64), code, msg)
	}
	return p
}

// AccountFailure words an external bank account that Cybrid marked failed
// with failure code code ("" none). Its headline is the attempt's error
// text.
func AccountFailure(code string) Problem {
	switch code {
	case "duplicate":
		return Problem{Kind: Refused, Headline: "This bank account is already linked to this customer (failure code duplicate). Use the existing account; unlink it first if it must be linked again."}
	case "plaid_multiple_accounts":
		return Problem{Kind: Plaid, Action: TryAgain, Headline: "The Plaid session shared more than one account (failure code plaid_multiple_accounts). Link again and select exactly one account."}
	case "plaid_processor_token":
		return Problem{Kind: Plaid, Action: TryAgain, Headline: "Plaid rejected the connection (failure code plaid_processor_token). Link again; if it repeats, report it to Cybrid support."}
	case "create_failed":
		return Problem{Kind: CybridFailure, Action: TryAgain, Headline: "Cybrid could not create the account or its holder (failure code create_failed). Try linking again; if it repeats, report it to Cybrid support."}
	case "unverified_counterparty":
		return Problem{Kind: CustomerState, Headline: "The counterparty is not verified (failure code unverified_counterparty). Verify the customer first, then link again."}
	case "":
		return Problem{Kind: CybridFailure, Headline: "Cybrid marked the account failed without a failure code. Report the account GUID to Cybrid support."}
	}
	return Problem{Kind: CybridFailure, Headline: fmt.Sprintf("Cybrid could not create the account (failure code %s). Report the account GUID and failure code to Cybrid support.", Quote(code, 64))}
}

// ---- helpers ----

func orThis(env string) string {
	if env == "" {
		return "this environment"
	}
	return env
}

func orEnv(env string) string {
	if env == "" {
		return "ENVIRONMENT"
	}
	return env
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
