package cybrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultScopes are the scopes a Client asks for when Options.Scopes is nil:
// exactly those the typed calls of this package need (each call names its
// scope where it is defined), and nothing that could create customers, move
// money or read bank-account PII.
var DefaultScopes = []string{
	"customers:read",                 // GetCustomer, ListCustomers
	"customers:pii:read",             // GetCustomer/ListCustomers with includePII (operator sees names)
	"workflows:read",                 // GetWorkflow, ListWorkflows (poll for plaid_link_token)
	"workflows:execute",              // CreateWorkflow (link_token_create / link_token_update)
	"external_bank_accounts:read",    // GetExternalBankAccount, ListExternalBankAccounts
	"external_bank_accounts:write",   // PatchExternalBankAccount (state completed after update mode)
	"external_bank_accounts:execute", // CreateExternalBankAccount, DeleteExternalBankAccount
	"identity_verifications:read",    // GetIdentityVerification (poll ownership check)
	"identity_verifications:execute", // CreateIdentityVerification (bank_account / account_ownership)
}

// DefaultTimeout bounds every HTTP exchange of a Client whose Options carry no
// HTTPClient.
const DefaultTimeout = 30 * time.Second

// maxBodyBytes caps how much of a response body the client reads.
const maxBodyBytes = 8 << 20

// Options configure a Client. BankURL, IdentityURL, ClientID and ClientSecret
// are required.
type Options struct {
	// BankURL is the Bank API base, e.g. https://bank.sandbox.cybrid.app.
	// IdentityURL is the identity service base, e.g.
	// https://id.sandbox.cybrid.app; tokens come from IdentityURL/oauth/token.
	// Both must be https, except loopback addresses (the simulator) which may
	// use http. A path prefix is kept; a query or fragment is refused.
	BankURL, IdentityURL string

	// ClientID and ClientSecret are the bank API key's credentials.
	ClientID, ClientSecret string

	// Scopes asked for in every token request; nil means DefaultScopes.
	Scopes []string

	// HTTPClient is the base client: its Transport carries both token and API
	// requests (the client adds Authorization above it), and its Timeout,
	// CheckRedirect and Jar are kept. Nil means a client with DefaultTimeout.
	HTTPClient *http.Client

	// Observer, when set, is called once after every HTTP exchange, token
	// requests included, when the response body has been read (or the
	// exchange failed). It is called from the goroutine making the call and
	// must be safe for concurrent use. Call.AttemptID says which of the
	// caller's attempts (see WithAttempt) the exchange was for.
	Observer func(Call)

	// UserAgent is sent with every request; empty means "linkdesk".
	UserAgent string

	// RequestTimeout bounds each HTTP exchange, token requests included
	// (DefaultRequestTimeout when zero), so that a stalled answer is
	// retried instead of eating the caller's whole deadline. The caller's
	// context bounds a call with all its retries.
	RequestTimeout time.Duration

	// Retry is the retry policy; its zero fields take DefaultRetryPolicy's
	// values. See RetryPolicy for what is retried.
	Retry RetryPolicy
}

// String describes the options without the client secret.
func (o Options) String() string {
	secret := "(empty)"
	if o.ClientSecret != "" {
		secret = redactedText
	}
	return fmt.Sprintf("cybrid.Options{BankURL:%q IdentityURL:%q ClientID:%q ClientSecret:%s Scopes:%v}",
		o.BankURL, o.IdentityURL, o.ClientID, secret, o.Scopes)
}

// GoString is String, so that %#v does not print the client secret either.
func (o Options) GoString() string { return o.String() }

// Call describes one HTTP exchange, for logging and timing. It never holds a
// token, a secret or a query value.
type Call struct {
	// Method is the HTTP method. Path is the URL path followed, when the URL
	// had a query, by "?" and its sorted parameter names without values
	// (e.g. "/api/external_bank_accounts?customer_guid&per_page").
	Method, Path string
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Duration runs from sending the request to reading the whole response.
	Duration time.Duration
	// Err is the transport or body-read error, nil on a complete exchange
	// (whatever its status).
	Err error
	// Attempt numbers the tries of one call (or of one token fetch): 1 for
	// the first, 2 and up for retries.
	Attempt int
	// Retry is "" for a first try; for a retry it says why the previous try
	// failed: "timeout", "connection reset", "connection closed", "502 Bad
	// Gateway", "429 Too Many Requests", "malformed JSON", "401: new token"…
	Retry string
	// AttemptID is the caller's unit of work the exchange was made for: the
	// id WithAttempt put in the context of the call, "" when there was none.
	// A token request (POST /oauth/token) carries the AttemptID of the call
	// that made it: the first call (or Client.Token) to find no valid token
	// cached — at the start, after expiry, or after a 401 — and "" when that
	// call's context had none. The token then serves every call, of every
	// attempt, until it expires; calls that waited for the request show it
	// only in their durations.
	AttemptID string
	// RequestBody and ResponseBody are the exchange's bodies, at most
	// MaxObservedBody bytes each (BodyCut says one was cut), with the
	// client secret and token-shaped values already replaced. They are nil
	// for token requests (POST /oauth/token), whose bodies are nothing but
	// credentials. An Observer that keeps them still applies its own rules
	// (package redact scrubs values under secret-named keys, such as
	// plaid_public_token).
	RequestBody, ResponseBody []byte
	BodyCut                   bool
}

// MaxObservedBody bounds each body a Call carries.
const MaxObservedBody = 16 << 10

// Client calls Cybrid's Bank API. It is safe for concurrent use.
type Client struct {
	bankURL        *url.URL
	userAgent      string
	api            *http.Client
	tokens         *tokenCache
	secrets        *secretSet
	requestTimeout time.Duration
	retry          RetryPolicy
}

// New returns a Client for o, after checking that the URLs are usable and the
// credentials present. It sends nothing; the first call (or Token) fetches
// the first token.
func New(o Options) (*Client, error) {
	bank, err := parseBaseURL("BankURL", o.BankURL)
	if err != nil {
		return nil, err
	}
	ident, err := parseBaseURL("IdentityURL", o.IdentityURL)
	if err != nil {
		return nil, err
	}
	if err := checkCredential("client id", o.ClientID); err != nil {
		return nil, err
	}
	if err := checkCredential("client secret", o.ClientSecret); err != nil {
		return nil, err
	}
	scopes := o.Scopes
	if scopes == nil {
		scopes = DefaultScopes
	}
	if len(scopes) == 0 {
		return nil, fmt.Errorf("cybrid: no scopes to ask for: %w (leave Options.Scopes nil for DefaultScopes)", ErrInvalidArgument)
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return nil, fmt.Errorf("cybrid: scope %q is empty or contains whitespace: %w", s, ErrInvalidArgument)
		}
	}
	scopes = append([]string(nil), scopes...)

	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: DefaultTimeout}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	secrets := &secretSet{}
	secrets.add(o.ClientSecret)
	if o.Observer != nil {
		rt = &observedTransport{base: rt, observe: o.Observer, secrets: secrets}
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "linkdesk"
	}

	reqTimeout := o.RequestTimeout
	if reqTimeout < 0 {
		return nil, fmt.Errorf("cybrid: RequestTimeout %s is negative: %w (0 means DefaultRequestTimeout)", reqTimeout, ErrInvalidArgument)
	}
	if reqTimeout == 0 {
		reqTimeout = DefaultRequestTimeout
	}
	if o.Retry.MaxAttempts < 0 || o.Retry.BaseDelay < 0 || o.Retry.MaxDelay < 0 || o.Retry.MaxRetryAfter < 0 {
		return nil, fmt.Errorf("cybrid: Retry has a negative field: %w (zero fields take DefaultRetryPolicy's values)", ErrInvalidArgument)
	}
	policy := o.Retry.withDefaults()

	tokenURL := *ident
	tokenURL.Path = strings.TrimSuffix(ident.Path, "/") + "/oauth/token"
	fetch := &tokenFetcher{
		http:         &http.Client{Transport: rt, Timeout: base.Timeout, CheckRedirect: noRedirects},
		url:          tokenURL.String(),
		clientID:     o.ClientID,
		clientSecret: o.ClientSecret,
		scopes:       scopes,
		userAgent:    ua,
		secrets:      secrets,
		timeout:      reqTimeout,
	}
	tokens := newTokenCache(fetch, policy)
	c := &Client{
		bankURL:        bank,
		userAgent:      ua,
		tokens:         tokens,
		secrets:        secrets,
		requestTimeout: reqTimeout,
		retry:          policy,
		api: &http.Client{
			Transport:     &authTransport{tokens: tokens, base: rt},
			Timeout:       base.Timeout,
			CheckRedirect: base.CheckRedirect,
			Jar:           base.Jar,
		},
	}
	return c, nil
}

// noRedirects keeps the client secret from following a redirect: a token
// endpoint that redirects is misconfigured, and the redirect is reported.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func parseBaseURL(name, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("cybrid: %s is empty: %w", name, ErrInvalidArgument)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cybrid: %s %q is not a URL: %w", name, raw, ErrInvalidArgument)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cybrid: %s %q must be an absolute http(s) URL such as https://bank.sandbox.cybrid.app: %w", name, raw, ErrInvalidArgument)
	}
	if u.User != nil {
		return nil, fmt.Errorf("cybrid: %s must not carry a user name or password: %w", name, ErrInvalidArgument)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("cybrid: %s %q must not have a query or fragment: %w", name, raw, ErrInvalidArgument)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("cybrid: %s %q must use https (plain http is allowed only for loopback addresses such as the simulator): %w", name, raw, ErrInvalidArgument)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkCredential(name, v string) error {
	if v == "" {
		return fmt.Errorf("cybrid: the %s is empty; store the API key with `linkdesk credentials set`: %w", name, ErrInvalidArgument)
	}
	if strings.TrimSpace(v) != v {
		return fmt.Errorf("cybrid: the %s starts or ends with whitespace (a copy-paste slip?); store it again with `linkdesk credentials set`: %w", name, ErrInvalidArgument)
	}
	return nil
}

// request is one API call as the typed methods describe it.
type request struct {
	method string
	path   string     // path below BankURL, already escaped, e.g. /api/workflows/<guid>
	query  url.Values // nil for none
	body   any        // JSON-encoded when non-nil
	// scope is the scope the operation needs (named in 403 errors).
	scope string
	// secrets are values of this request to scrub from error text.
	secrets []string
}

// do sends r under the client's RetryPolicy and decodes a 2xx JSON answer
// into out. Each try is bounded by the per-request timeout; ctx bounds the
// whole call, waits included.
func (c *Client) do(ctx context.Context, r request, out any) error {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("cybrid: %s %s: encoding request: %w", r.method, r.path, err)
		}
		body = b
	}
	u := *c.bankURL
	u.Path = c.bankURL.Path + r.path
	u.RawQuery = r.query.Encode()

	idempotent := r.method != http.MethodPost
	began := time.Now()
	tries := 0        // tries counted against MaxAttempts (not the one after a 401)
	reauthed := false // a 401 was answered with a new token
	retryWhy := ""    // why the next try is a retry
	for attempt := 1; ; attempt++ {
		gen := c.tokens.generation()
		// Fetch (or reuse) the token here, where the caller's context can
		// cancel the wait; authTransport then finds it cached.
		if _, err := c.tokens.tokenContext(ctx); err != nil {
			return c.gaveUp(c.wrap(ctx, r, err), attempt-1, began, "")
		}
		if retryWhy != "401: new token" {
			tries++
		}
		ex := c.exchange(ctx, r, u.String(), body, attempt, retryWhy)

		var err error
		var wait time.Duration = -1 // -1: backoff
		switch {
		case ex.err != nil:
			err = c.wrap(ctx, r, ex.err)
			if !idempotent && ex.sent {
				return c.gaveUp(&ambiguousError{err}, attempt, began, "")
			}
			if ctx.Err() != nil {
				return c.gaveUp(err, attempt, began, "")
			}
		case ex.status == http.StatusUnauthorized && !reauthed:
			c.tokens.invalidate(gen)
			reauthed = true
			retryWhy = "401: new token"
			continue
		case ex.readErr != nil:
			err = c.wrap(ctx, r, fmt.Errorf("reading the %d answer: %w", ex.status, ex.readErr))
			if !idempotent && (ex.status < 400 || ex.status >= 500) {
				return c.gaveUp(&ambiguousError{err}, attempt, began, "")
			}
			if ctx.Err() != nil || ex.status >= 400 && !temporaryStatus(ex.status) {
				return c.gaveUp(err, attempt, began, "")
			}
		case ex.status >= 200 && ex.status <= 299:
			if out == nil {
				return nil
			}
			jerr := json.Unmarshal(ex.data, out)
			if jerr == nil {
				return nil
			}
			err = fmt.Errorf("cybrid: %s %s: the %d response is not the JSON the spec describes (%s): %w",
				r.method, r.path, ex.status, excerpt(jerr.Error(), c.secretList(r.secrets), maxTransportText), ErrMalformedResponse)
			if !idempotent {
				return c.gaveUp(&ambiguousError{err}, attempt, began, "")
			}
		case ex.status == http.StatusTooManyRequests || temporaryStatus(ex.status):
			ae := c.apiError(r, ex.status, ex.data)
			ae.RetryAfter = parseRetryAfter(ex.header.Get("Retry-After"))
			err = ae
			if ex.status != http.StatusTooManyRequests && !idempotent {
				return c.gaveUp(&ambiguousError{err}, attempt, began, "")
			}
			if ae.RetryAfter > 0 {
				if ae.RetryAfter > c.retry.MaxRetryAfter {
					return c.gaveUp(err, attempt, began, fmt.Sprintf("Cybrid asks to wait %s, longer than the %s the client waits; try again after that", ae.RetryAfter, c.retry.MaxRetryAfter))
				}
				wait = ae.RetryAfter
			}
		default:
			return c.gaveUp(c.apiError(r, ex.status, ex.data), attempt, began, "")
		}

		if tries >= c.retry.MaxAttempts {
			return c.gaveUp(err, attempt, began, "")
		}
		if wait < 0 {
			wait = c.retry.backoff(tries)
		}
		if !fitsDeadline(ctx, wait) {
			return c.gaveUp(err, attempt, began, "the caller's deadline leaves no time for another try")
		}
		if !sleep(ctx, wait) {
			return c.gaveUp(err, attempt, began, "")
		}
		retryWhy = failureText(err)
	}
}

// exchanged is the outcome of one try.
type exchanged struct {
	err     error // transport error (no answer)
	sent    bool  // the request may have reached the server (it got a connection)
	status  int
	header  http.Header
	data    []byte
	readErr error // the answer's body could not be read whole
}

// exchange makes one try of r, bounded by the per-request timeout.
func (c *Client) exchange(ctx context.Context, r request, u string, body []byte, attempt int, retryWhy string) (ex exchanged) {
	// A request counts as possibly sent as soon as a connection was obtained
	// for it (conservative: only a failure to connect at all proves the
	// server never saw it). Set from the transport's goroutines.
	var sent atomic.Bool
	defer func() { ex.sent = sent.Load() }()
	actx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	actx = withAttempt(actx, attempt, retryWhy)
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { sent.Store(true) },
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, rd)
	if err != nil {
		ex.err = err
		return ex
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.api.Do(req)
	if err != nil {
		ex.err = timeoutErr(ctx, actx, err)
		return ex
	}
	ex.status, ex.header = resp.StatusCode, resp.Header
	ex.data, ex.readErr = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	resp.Body.Close()
	if ex.readErr != nil {
		ex.readErr = timeoutErr(ctx, actx, ex.readErr)
	}
	return ex
}

// timeoutErr turns the error of a try that ran out of its per-request time
// (but not the caller's) into ErrRequestTimeout.
func timeoutErr(ctx, actx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return ErrRequestTimeout
	}
	return err
}

// gaveUp adds the number of tries to err when there was more than one.
func (c *Client) gaveUp(err error, attempts int, began time.Time, why string) error {
	if attempts <= 1 && why == "" {
		return err
	}
	return &retriedError{err: err, attempts: attempts, elapsed: time.Since(began), why: why}
}

// wrap adds method and path to a transport or token error, unwrapping the
// *url.Error of net/http (whose text repeats the full URL).
func (c *Client) wrap(ctx context.Context, r request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var te *TokenError
	if errors.As(err, &te) {
		return fmt.Errorf("cybrid: %s %s: %w", r.method, r.path, te)
	}
	// A transport error may quote what the server sent (a malformed header
	// line): one readable line, cut short, like any server text.
	text := excerpt(err.Error(), c.secretList(r.secrets), maxTransportText)
	switch failureText(err) {
	case "timeout":
		text = fmt.Sprintf("no complete answer within %s (the per-request timeout)", c.requestTimeout)
	case "connection closed":
		text = "the connection closed before a complete answer (" + text + ")"
	}
	return &transportError{method: r.method, path: r.path, err: err, text: text, callerDone: ctx.Err() != nil}
}

// transportError is a failure to exchange with the API (network, timeout,
// cancellation). Its text is scrubbed; Unwrap gives the original error.
type transportError struct {
	method, path string
	err          error
	text         string
	callerDone   bool // the caller's context had ended
}

func (e *transportError) Error() string {
	return fmt.Sprintf("cybrid: %s %s: %s", e.method, e.path, e.text)
}
func (e *transportError) Unwrap() error { return e.err }

// secretList is every value to scrub from text about request r.
func (c *Client) secretList(extra []string) []string {
	return append(c.secrets.list(), extra...)
}

// observedTransport reports every exchange to an Observer.
type observedTransport struct {
	base    http.RoundTripper
	observe func(Call)
	secrets *secretSet
}

func (t *observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	call := Call{Method: req.Method, Path: callPath(req.URL), Attempt: 1, AttemptID: AttemptFrom(req.Context())}
	if ai, ok := req.Context().Value(attemptKey{}).(attemptInfo); ok {
		call.Attempt, call.Retry = ai.n, ai.retry
	}
	token := strings.HasSuffix(req.URL.Path, "/oauth/token")
	if !token && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, MaxObservedBody+1))
			rc.Close()
			call.RequestBody, call.BodyCut = t.keep(b)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		call.Duration = time.Since(start)
		call.Err = safeErr(err, t.secrets.list())
		t.observe(call)
		return nil, err
	}
	call.Status = resp.StatusCode
	ob := &observedBody{ReadCloser: resp.Body, keep: !token}
	ob.done = func(readErr error) {
		call.Duration = time.Since(start)
		if readErr != nil {
			call.Err = safeErr(readErr, t.secrets.list())
		}
		if ob.keep {
			var cut bool
			call.ResponseBody, cut = t.keep(ob.buf.Bytes())
			call.BodyCut = call.BodyCut || cut || ob.over
		}
		t.observe(call)
	}
	resp.Body = ob
	return resp, nil
}

// keep bounds a body for a Call and replaces secrets and token-shaped
// values in it.
func (t *observedTransport) keep(b []byte) ([]byte, bool) {
	cut := len(b) > MaxObservedBody
	if cut {
		b = b[:MaxObservedBody]
	}
	if len(b) == 0 {
		return nil, cut
	}
	return []byte(redact(string(b), t.secrets.list())), cut
}

// observedBody calls done once, at the first of end-of-body, read error or
// Close, and (keep) copies the first MaxObservedBody bytes read (over: there
// was more).
type observedBody struct {
	io.ReadCloser
	once sync.Once
	done func(error)
	keep bool
	buf  bytes.Buffer
	over bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.keep && n > 0 {
		room := MaxObservedBody - b.buf.Len()
		if n > room {
			b.over = true
		}
		if room > 0 {
			b.buf.Write(p[:min(n, room)])
		}
	}
	if err == io.EOF {
		b.once.Do(func() { b.done(nil) })
	} else if err != nil {
		b.once.Do(func() { b.done(err) })
	}
	return n, err
}

func (b *observedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(nil) })
	return err
}

// safeErr returns err, or a redacted copy when its text holds a secret or
// anything shaped like a token.
func safeErr(err error, secrets []string) error {
	s := err.Error()
	if t := redact(s, secrets); t != s {
		return errors.New(t)
	}
	return err
}

// callPath is the URL path plus the sorted names (not values) of its query.
func callPath(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return u.Path + "?" + strings.Join(keys, "&")
}

// checkGUID refuses a GUID argument that Cybrid would reject: Cybrid GUIDs
// are 32 lowercase hexadecimal characters. The value is not echoed (a
// misplaced token must not end up in an error).
func checkGUID(op, name, v string) error {
	if len(v) != 32 {
		return fmt.Errorf("cybrid: %s: %s must be a Cybrid GUID (32 lowercase hex characters), got %d characters: %w", op, name, len(v), ErrInvalidArgument)
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return fmt.Errorf("cybrid: %s: %s must be a Cybrid GUID (32 lowercase hex characters), character %d is not: %w", op, name, i+1, ErrInvalidArgument)
		}
	}
	return nil
}

// checkOptionalGUID is checkGUID for a field that may be empty (omitted).
func checkOptionalGUID(op, name, v string) error {
	if v == "" {
		return nil
	}
	return checkGUID(op, name, v)
}

// pageQuery validates paging and starts the query of a list call. Pages are
// 0-based; perPage 0 leaves the server's default.
func pageQuery(op string, page, perPage int) (url.Values, error) {
	if page < 0 {
		return nil, fmt.Errorf("cybrid: %s: page must be 0 or more (pages are 0-based), got %d: %w", op, page, ErrInvalidArgument)
	}
	if perPage < 0 || perPage > 100 {
		return nil, fmt.Errorf("cybrid: %s: per_page must be 1..100 (or 0 for the server's default), got %d: %w", op, perPage, ErrInvalidArgument)
	}
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if perPage > 0 {
		q.Set("per_page", strconv.Itoa(perPage))
	}
	return q, nil
}

// guidList validates GUIDs for a comma-separated filter and joins them.
func guidList(op, name string, guids []string) (string, error) {
	for i, g := range guids {
		if err := checkGUID(op, fmt.Sprintf("%s[%d]", name, i), g); err != nil {
			return "", err
		}
	}
	return strings.Join(guids, ","), nil
}
