package cybrid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultRequestTimeout bounds one HTTP exchange (one attempt, token
// requests included) when Options.RequestTimeout is zero. Cybrid answers in
// well under a second; 10 s leaves room for a slow moment while keeping a
// stalled connection from eating a caller's whole deadline: the call is
// retried (or, for a POST, reported as ambiguous) instead.
const DefaultRequestTimeout = 10 * time.Second

// RetryPolicy says how a Client retries calls that failed in a way that
// may pass: a network error or reset, a per-request timeout, 500, 502, 503,
// 504, 429, or a 2xx answer whose JSON is cut or invalid.
//
// What is retried:
//   - GET, PATCH and DELETE: all of the above. PATCH is only used to set an
//     account's state (completed) or name, which gives the same result
//     however often it is applied, and DELETE of a deleting or deleted
//     account returns it unchanged, so both are idempotent.
//   - POST (creates a workflow, an account, a verification): only when the
//     server certainly did not act on it: the request was never sent (no
//     connection), or the answer was 429 (rate limited before processing)
//     or 401 (see below). A POST that was sent and then failed (network
//     error, reset, timeout, 5xx, cut or invalid 2xx body) is not retried:
//     its error wraps ErrAmbiguous, and the caller must find out what the
//     server did before sending it again.
//   - Token requests: all of the above (a token request has no lasting
//     effect), except that a refusal of the credentials is final.
//   - A 401 from the bank API is answered, once per call, by one new token
//     and one more try, whatever the method. It does not count against
//     MaxAttempts.
//
// Waits use exponential backoff with full jitter: before retry n (n = 1,
// 2, …) the client sleeps a uniformly random time in [0, min(MaxDelay,
// BaseDelay·2^(n-1))]. A 429 or 503 with Retry-After waits exactly that long
// instead, if it is at most MaxRetryAfter. No wait runs past the caller's
// context deadline: when the next try could not start before it, the call
// ends at once with the last error.
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one call, the first included;
	// 0 means 4; 1 turns retries off.
	MaxAttempts int
	// BaseDelay is the backoff unit; 0 means 250 ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait; 0 means 4 s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the call with the 429 (its error says how long to
	// wait). 0 means 20 s.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy is the policy of a Client whose Options.Retry is the
// zero value: 4 tries, 250 ms backoff unit, 4 s cap, Retry-After up to 20 s.
// With these numbers three retries wait 0.875 s on average and at most
// 1.75 s in all, which rides out a dropped connection or a gateway restart
// without making an operator wait noticeably; an outage longer than that
// is reported instead of hidden.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 4, BaseDelay: 250 * time.Millisecond, MaxDelay: 4 * time.Second, MaxRetryAfter: 20 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	if p.MaxRetryAfter > 0 {
		d.MaxRetryAfter = p.MaxRetryAfter
	}
	return d
}

// backoff is the full-jitter wait before retry n (1-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	ceil := p.BaseDelay
	for i := 1; i < n && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	if ceil > p.MaxDelay {
		ceil = p.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// ErrAmbiguous is wrapped by the error of a POST that reached the server but
// whose outcome is unknown: the connection failed or timed out after the
// request was sent, or the answer was a 5xx or an unreadable 2xx. Cybrid may
// or may not have acted on it, and it has no idempotency keys: look (list
// the customer's accounts, workflows…) before sending it again.
var ErrAmbiguous = errors.New("the request was sent but its outcome is unknown: Cybrid may have acted on it; check what it holds before sending it again")

// ErrRequestTimeout is wrapped by the error of an exchange that got no
// complete answer within the per-request timeout (Options.RequestTimeout).
// It is not context.DeadlineExceeded: the caller's own deadline has not
// passed.
var ErrRequestTimeout = errors.New("no complete answer within the per-request timeout")

// ErrMalformedResponse is wrapped by the error of a 2xx answer whose body
// is not the JSON the spec describes (cut short or invalid).
var ErrMalformedResponse = errors.New("the answer is not the JSON the spec describes")

// IsTemporary reports whether err is a failure that may pass if the call is
// made again later: a network error, a per-request timeout, a 5xx or 429
// answer, a malformed 2xx body, or a token request that failed that way.
// The caller's own cancellation or deadline is not temporary, nor is any
// other 4xx answer. For a POST, check ErrAmbiguous first.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var tr *transportError
	if errors.As(err, &tr) {
		return !tr.callerDone
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return temporaryStatus(ae.StatusCode)
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.temporary()
	}
	return errors.Is(err, ErrMalformedResponse) || errors.Is(err, ErrRequestTimeout)
}

// IsNetwork reports whether err is a failure to get any answer from Cybrid
// — the bank API or the identity service: the connection could not be made
// or broke (name resolution, refused, reset, TLS), or no complete answer came
// within the per-request timeout. An answer, even an error status or a body
// cut short, is not; nor is the caller's own cancellation or deadline. A
// network error is temporary (IsTemporary); for a POST, check ErrAmbiguous
// too.
func IsNetwork(err error) bool {
	if err == nil {
		return false
	}
	var tr *transportError
	if errors.As(err, &tr) {
		return !tr.callerDone
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.StatusCode == 0 && !te.cut && !errors.Is(te.Err, context.Canceled) && !errors.Is(te.Err, context.DeadlineExceeded)
	}
	return errors.Is(err, ErrRequestTimeout)
}

func temporaryStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// RetryAfter returns the wait an error's 429 or 503 answer asked for, or 0.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// ambiguousError marks err as ErrAmbiguous while keeping it (an *APIError,
// a transport error) reachable with errors.As.
type ambiguousError struct{ err error }

func (e *ambiguousError) Error() string {
	return e.err.Error() + " (" + ErrAmbiguous.Error() + ")"
}
func (e *ambiguousError) Unwrap() []error { return []error{e.err, ErrAmbiguous} }

// retriedError says how many tries a call took before giving up.
type retriedError struct {
	err      error
	attempts int
	elapsed  time.Duration
	why      string // why it stopped retrying, "" when the attempts ran out
}

func (e *retriedError) Error() string {
	s := fmt.Sprintf("%s (gave up after %d attempts in %s", e.err.Error(), e.attempts, e.elapsed.Round(time.Millisecond))
	if e.why != "" {
		s += ": " + e.why
	}
	return s + ")"
}
func (e *retriedError) Unwrap() error { return e.err }

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fitsDeadline reports whether a wait of d leaves time before ctx's deadline
// for another try.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

// attemptInfo travels in a request's context to the Observer.
type attemptInfo struct {
	n     int
	retry string
}

type attemptKey struct{}

func withAttempt(ctx context.Context, n int, retry string) context.Context {
	return context.WithValue(ctx, attemptKey{}, attemptInfo{n, retry})
}

// failureText says in a few words why an exchange failed, for
// Call.Retry and error messages.
func failureText(err error) string {
	switch {
	case errors.Is(err, ErrRequestTimeout):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, ErrMalformedResponse):
		return "malformed JSON"
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return strconv.Itoa(ae.StatusCode) + " " + http.StatusText(ae.StatusCode)
	}
	var te *TokenError
	if errors.As(err, &te) && te.StatusCode != 0 {
		return "token " + strconv.Itoa(te.StatusCode) + " " + http.StatusText(te.StatusCode)
	}
	return "network error"
}
