package cybrid

import (
	"encoding/json"
	"errors"
	"fmt"
	redactpkg "linkdesk/app/redact"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// ErrInvalidArgument is wrapped by every error about an argument refused
// before anything was sent (a malformed GUID, a page size out of range, an
// unusable Options field).
var ErrInvalidArgument = errors.New("invalid argument")

// APIError is a non-2xx answer of the Bank API.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// MessageCode and Message are Cybrid's ErrorResponse message_code and
	// error_message. When the body was not an ErrorResponse, MessageCode is
	// empty and Message is a short sanitized excerpt of the body (or empty).
	MessageCode, Message string
	// Method and Path are the request's (path without query).
	Method, Path string
	// RequiredScope is the scope the operation needs according to Cybrid's
	// spec; it is named in the message of a 403.
	RequiredScope string
	// RetryAfter is the wait a 429 or 503 answer's Retry-After header asked
	// for, 0 when it had none.
	RetryAfter time.Duration

	scopeNotAsked bool // RequiredScope is not among the scopes the client asks for
}

// Error reads like
// "cybrid: POST /api/external_bank_accounts: 422 invalid_parameter: plaid_public_token is invalid".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cybrid: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.MessageCode != "" {
		b.WriteString(" " + e.MessageCode)
	} else if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (Retry-After %s)", e.RetryAfter)
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		b.WriteString(" (the API rejected a freshly issued token too: check that the identity URL and the bank URL belong to the same Cybrid environment, and that the API key is a bank key)")
	case http.StatusForbidden:
		if e.RequiredScope != "" && e.scopeNotAsked {
			fmt.Fprintf(&b, " (the client does not ask for the %s scope: add it to the scopes it requests)", e.RequiredScope)
		} else if e.RequiredScope != "" {
			fmt.Fprintf(&b, " (the access token may lack the %s scope: the API key must be allowed it)", e.RequiredScope)
		} else {
			b.WriteString(" (the access token may lack a scope this operation needs)")
		}
	}
	return b.String()
}

// IsNotFound reports whether err is (or wraps) an *APIError with status 404.
func IsNotFound(err error) bool { return apiStatus(err) == http.StatusNotFound }

// IsForbidden reports whether err is (or wraps) an *APIError with status 403,
// which Cybrid uses for a token that lacks the operation's scope; the error's
// RequiredScope names it.
func IsForbidden(err error) bool { return apiStatus(err) == http.StatusForbidden }

// IsUnauthorized reports whether err is (or wraps) an *APIError with status
// 401 (the API refused even a fresh token), or a *TokenError in which the
// identity service refused the client credentials.
func IsUnauthorized(err error) bool {
	if apiStatus(err) == http.StatusUnauthorized {
		return true
	}
	var te *TokenError
	return errors.As(err, &te) && te.badCredentials()
}

func apiStatus(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// errorBody is Cybrid's ErrorResponse and the OAuth error shape together.
type errorBody struct {
	Status           json.RawMessage `json:"status"`
	ErrorMessage     string          `json:"error_message"`
	MessageCode      string          `json:"message_code"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

func (c *Client) apiError(r request, status int, body []byte) *APIError {
	secrets := c.secretList(r.secrets)
	e := &APIError{StatusCode: status, Method: r.method, Path: r.path, RequiredScope: r.scope,
		scopeNotAsked: r.scope != "" && !slices.Contains(c.tokens.fetch.scopes, r.scope)}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.ErrorMessage != "" || eb.MessageCode != "") {
		e.MessageCode = excerpt(eb.MessageCode, secrets, 64)
		e.Message = excerpt(eb.ErrorMessage, secrets, 300)
		return e
	}
	e.Message = excerpt(string(body), secrets, 200)
	return e
}

// TokenError is a failed token request to the identity service.
type TokenError struct {
	// URL is the token endpoint.
	URL string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Code is the OAuth error (e.g. "invalid_client", "invalid_scope") or
	// Cybrid's message_code; Description the matching text, sanitized.
	Code, Description string
	// Scopes are the scopes that were asked for.
	Scopes []string
	// Err is the underlying transport or decoding error, if any.
	Err error
	// RetryAfter is the wait a 429 or 503 answer asked for, 0 when none.
	RetryAfter time.Duration
	// Attempts is how many token requests were made before giving up (0 or
	// 1: one); Elapsed how long they took; Stopped why the client stopped
	// retrying early ("" when the attempts ran out or there was no retry).
	Attempts int
	Elapsed  time.Duration
	Stopped  string

	errText string // scrubbed text of Err
	cut     bool   // a 2xx (or other) answer whose body was cut or not JSON
}

// temporary reports whether another token request may succeed: no answer,
// a timeout, a 5xx or 429, or an answer cut short or not JSON.
func (e *TokenError) temporary() bool {
	if e.badCredentials() {
		return false
	}
	return e.StatusCode == 0 || e.cut || temporaryStatus(e.StatusCode)
}

func (e *TokenError) badCredentials() bool {
	return e.StatusCode == http.StatusUnauthorized || e.Code == "invalid_client" || e.Code == "unauthorized_client"
}

// Unwrap returns the underlying transport error, so errors.Is(err,
// context.DeadlineExceeded) works.
func (e *TokenError) Unwrap() error { return e.Err }

// Error says what failed and what to do about it.
func (e *TokenError) Error() string {
	s := e.message()
	if e.Attempts > 1 || e.Stopped != "" {
		s += fmt.Sprintf(" (gave up after %d attempts in %s", max(e.Attempts, 1), e.Elapsed.Round(time.Millisecond))
		if e.Stopped != "" {
			s += ": " + e.Stopped
		}
		s += ")"
	}
	return s
}

func (e *TokenError) message() string {
	var b strings.Builder
	b.WriteString("cybrid: token request to " + e.URL)
	if e.StatusCode == 0 {
		fmt.Fprintf(&b, " failed: %s; check the network connection and the identity URL", e.errText)
		return b.String()
	}
	fmt.Fprintf(&b, " failed: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	} else if e.errText != "" {
		b.WriteString(": " + e.errText)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (Retry-After %s)", e.RetryAfter)
	}
	b.WriteString("; ")
	switch {
	case e.badCredentials():
		b.WriteString("check the client id and secret stored with `linkdesk credentials set` (and that they belong to this environment)")
	case e.Code == "invalid_scope":
		fmt.Fprintf(&b, "the API key is not allowed some of the scopes asked for (%s); use a bank API key that is granted them", strings.Join(e.Scopes, " "))
	case e.Code == "invalid_grant" || e.Code == "unsupported_grant_type" || e.Code == "invalid_request":
		b.WriteString("the identity service refused a client-credentials request; check that the identity URL is Cybrid's identity service (https://id.<environment>.cybrid.app)")
	case e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusMethodNotAllowed:
		b.WriteString("there is no token endpoint there; check the identity URL (https://id.<environment>.cybrid.app)")
	case e.StatusCode >= 300 && e.StatusCode < 400:
		b.WriteString("the token endpoint redirects, which the client does not follow; check the identity URL")
	case e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests:
		b.WriteString("the identity service failed; try again later")
	case e.StatusCode >= 200 && e.StatusCode < 300:
		b.WriteString("the answer is not an OAuth token; check that the identity URL is Cybrid's identity service")
	default:
		b.WriteString("check the identity URL and the credentials stored with `linkdesk credentials set`")
	}
	return b.String()
}

// Secret holds a value that must never be printed or logged, such as a Plaid
// public token. It prints as "[redacted]" with every fmt verb, logs as
// "[redacted]" with log/slog and marshals to JSON as "[redacted]"; the client
// sends the real value only in its own request bodies. Convert with
// string(s) where the value itself is needed.
type Secret string

const redactedText = "[redacted]"

// String returns "[redacted]".
func (Secret) String() string { return redactedText }

// GoString returns a redacted Go expression.
func (Secret) GoString() string { return `cybrid.Secret("` + redactedText + `")` }

// MarshalJSON returns "[redacted]" as a JSON string.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedText + `"`), nil }

// LogValue returns "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redactedText) }

// secretSet is the set of values (client secret, recent access tokens) to
// scrub from any text a server sends back.
type secretSet struct {
	mu   sync.Mutex
	vals []string
}

// maxRememberedSecrets bounds the set: the client secret and the last few
// access tokens.
const maxRememberedSecrets = 8

func (s *secretSet) add(v string) {
	if len(v) < redactpkg.MinSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.vals {
		if x == v {
			return
		}
	}
	s.vals = append(s.vals, v)
	if len(s.vals) > maxRememberedSecrets {
		// Keep the first (the client secret), drop the oldest token.
		s.vals = append(s.vals[:1], s.vals[2:]...)
	}
}

func (s *secretSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.vals...)
}

// redact replaces every secret and everything shaped like a token in s:
// linkdesk's one rule (package redact), with the client's own secrets.
func redact(s string, secrets []string) string {
	return redactpkg.New(secrets).String(s)
}

var (
	htmlTag      = regexp.MustCompile(`<[^>]*>`)
	ansiSequence = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
)

// maxTransportText bounds the text of a transport error, or of why an
// answer was not the JSON the spec describes, in characters.
const maxTransportText = 300

// excerpt is s redacted, stripped of markup and control characters, with
// runs of white space collapsed, cut to max runes.
func excerpt(s string, secrets []string, max int) string {
	// Redact before and after cleaning: an escape sequence or a tag inside
	// a secret would otherwise hide it from the first pass and the cleaning
	// would put it back together.
	s = redact(s, secrets)
	if strings.Contains(s, "<") {
		s = htmlTag.ReplaceAllString(s, " ")
	}
	s = ansiSequence.ReplaceAllString(s, "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}), " ")
	s = redact(s, secrets)
	if r := []rune(s); len(r) > max {
		s = strings.TrimSpace(string(r[:max])) + "…"
	}
	return s
}
