package cybrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// EarlyExpiry is how long before its expiry a token stops being reused. A
// token that lives less than 2×EarlyExpiry is reused for half its lifetime.
const EarlyExpiry = 30 * time.Second

// TokenInfo describes the current access token without revealing it.
type TokenInfo struct {
	// Type is the token type, "Bearer".
	Type string
	// Requested are the scopes asked for; Granted those the identity service
	// reported granting (Requested when it did not say); Missing the
	// requested scopes it did not grant.
	Requested, Granted, Missing []string
	// ObtainedAt is when the token was requested; Expiry when it expires
	// (zero when the identity service gave no expires_in).
	ObtainedAt, Expiry time.Time
}

// Token returns information about the access token the client uses, fetching
// one if none is cached — the same token the API calls reuse. It never
// returns the token itself. Errors are *TokenError (or the context's error).
func (c *Client) Token(ctx context.Context) (TokenInfo, error) {
	t, err := c.tokens.tokenContext(ctx)
	if err != nil {
		return TokenInfo{}, err
	}
	meta, _ := t.Extra(tokenMetaKey).(tokenMeta)
	info := TokenInfo{
		Type:       t.Type(),
		Requested:  append([]string(nil), c.tokens.fetch.scopes...),
		Granted:    append([]string(nil), meta.granted...),
		ObtainedAt: meta.obtained,
		Expiry:     meta.expiry,
	}
	have := map[string]bool{}
	for _, s := range info.Granted {
		have[s] = true
	}
	for _, s := range info.Requested {
		if !have[s] {
			info.Missing = append(info.Missing, s)
		}
	}
	return info, nil
}

// tokenCache is the oauth2.TokenSource under the API transport: a
// ReuseTokenSource that can be replaced (invalidated) after a 401.
type tokenCache struct {
	fetch  *tokenFetcher
	policy RetryPolicy

	mu  sync.Mutex
	src oauth2.TokenSource
	gen uint64

	fetching sync.Mutex // held around src.Token (see tokenFor)
}

func newTokenCache(f *tokenFetcher, p RetryPolicy) *tokenCache {
	return &tokenCache{fetch: f, policy: p, src: oauth2.ReuseTokenSourceWithExpiry(nil, f, EarlyExpiry)}
}

// Token implements oauth2.TokenSource: the cached token, or a new one
// (requested for no attempt; see tokenFor).
func (c *tokenCache) Token() (*oauth2.Token, error) { return c.tokenFor("") }

// generation identifies the cached token; invalidate takes it so that
// several requests failing with the same token cause one new token, not one
// each.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// invalidate drops the cached token if it is still generation gen.
func (c *tokenCache) invalidate(gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.gen++
	c.src = oauth2.ReuseTokenSourceWithExpiry(nil, c.fetch, EarlyExpiry)
}

// tokenContext is Token, retried under the policy while the failure is
// temporary (network, timeout, 5xx, 429, malformed answer), and abandoned
// (not cancelled) when ctx ends: a token request in flight completes and is
// cached for the next call.
func (c *tokenCache) tokenContext(ctx context.Context) (*oauth2.Token, error) {
	began := time.Now()
	for attempt := 1; ; attempt++ {
		t, err := c.tokenOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return t, err
		}
		var te *TokenError
		if !errors.As(err, &te) || !te.temporary() {
			return nil, err
		}
		stop := func(why string) (*oauth2.Token, error) {
			te.Attempts, te.Elapsed, te.Stopped = attempt, time.Since(began), why
			return nil, te
		}
		if attempt >= c.policy.MaxAttempts {
			return stop("")
		}
		wait := c.policy.backoff(attempt)
		if te.RetryAfter > 0 {
			if te.RetryAfter > c.policy.MaxRetryAfter {
				return stop(fmt.Sprintf("it asks to wait %s, longer than the %s the client waits", te.RetryAfter, c.policy.MaxRetryAfter))
			}
			wait = te.RetryAfter
		}
		if !fitsDeadline(ctx, wait) {
			return stop("the caller's deadline leaves no time for another try")
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// tokenOnce is one Token call, abandoned when ctx ends.
func (c *tokenCache) tokenOnce(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		t   *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		t, err := c.tokenFor(AttemptFrom(ctx))
		ch <- result{t, err}
	}()
	select {
	case r := <-ch:
		return r.t, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// tokenFetcher is the oauth2.TokenSource that asks Cybrid's identity service
// for a new token with the client-credentials grant and Cybrid's JSON body.
type tokenFetcher struct {
	http                   *http.Client
	url                    string
	clientID, clientSecret string
	scopes                 []string
	userAgent              string
	secrets                *secretSet    // the new token is added, for scrubbing
	timeout                time.Duration // per token request

	failures atomic.Int32           // consecutive failed token requests (numbers retries for the Observer)
	lastWhy  atomic.Pointer[string] // why the last one failed

	// trigger is the attempt id of the call the next request is made for
	// (Call.AttemptID); written and read under tokenCache.fetching.
	trigger string
}

const tokenMetaKey = "linkdesk.cybrid.meta"

type tokenMeta struct {
	granted          []string
	obtained, expiry time.Time
}

// tokenResponse is the identity service's answer. expires_in and created_at
// are numbers in Cybrid's samples; numeric strings are accepted too.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.Number     `json:"expires_in"`
	Scope       json.RawMessage `json:"scope"`
	CreatedAt   json.Number     `json:"created_at"`
}

// Token implements oauth2.TokenSource.
func (f *tokenFetcher) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(WithAttempt(context.Background(), f.trigger), f.timeout)
	defer cancel()
	if n := int(f.failures.Load()); n > 0 {
		why := "token request failed"
		if p := f.lastWhy.Load(); p != nil {
			why = *p
		}
		ctx = withAttempt(ctx, n+1, why)
	}
	t, err := f.token(ctx)
	if err != nil {
		f.failures.Add(1)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && err.StatusCode == 0 {
			err.Err, err.errText = ErrRequestTimeout, fmt.Sprintf("no answer within %s (the per-request timeout)", f.timeout)
		}
		why := failureText(err)
		if err.cut {
			why = "malformed JSON"
		}
		f.lastWhy.Store(&why)
		return nil, err
	}
	f.failures.Store(0)
	return t, nil
}

func (f *tokenFetcher) token(ctx context.Context) (*oauth2.Token, *TokenError) {
	body, err := json.Marshal(map[string]string{
		"grant_type":    "client_credentials",
		"client_id":     f.clientID,
		"client_secret": f.clientSecret,
		"scope":         strings.Join(f.scopes, " "),
	})
	if err != nil {
		return nil, f.fail(0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return nil, f.fail(0, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", f.userAgent)

	obtained := time.Now()
	resp, err := f.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, f.fail(0, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	resp.Body.Close()
	if err != nil {
		te := f.fail(resp.StatusCode, fmt.Errorf("reading the answer: %w", err))
		te.cut = true
		return nil, te
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		te := f.errorFromBody(resp.StatusCode, data)
		te.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		return nil, te
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		// The body is not quoted: it may hold a token after all.
		te := f.fail(resp.StatusCode, fmt.Errorf("the answer is not OAuth token JSON: %w", err))
		te.cut = true
		return nil, te
	}
	if tr.AccessToken == "" {
		// A 2xx answer without access_token is not quoted: a token under
		// another key would otherwise end up in the error.
		te := f.fail(resp.StatusCode, errors.New("the answer has no access_token"))
		te.cut = true
		return nil, te
	}
	if tt := tr.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") {
		return nil, f.fail(resp.StatusCode, fmt.Errorf("token_type %q is not Bearer", excerpt(tt, nil, 32)))
	}
	f.secrets.add(tr.AccessToken)

	meta := tokenMeta{granted: parseScopes(tr.Scope), obtained: obtained}
	if meta.granted == nil {
		// RFC 6749 §5.1: an omitted scope is the scope requested.
		meta.granted = append([]string(nil), f.scopes...)
	}
	t := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: "Bearer"}
	if secs, err := strconv.ParseFloat(tr.ExpiresIn.String(), 64); err == nil && secs > 0 {
		lifetime := time.Duration(secs * float64(time.Second))
		meta.expiry = obtained.Add(lifetime)
		t.ExpiresIn = int64(secs)
		// ReuseTokenSourceWithExpiry stops reusing a token EarlyExpiry before
		// t.Expiry. For short lifetimes, move t.Expiry so that the token is
		// still reused for half its life instead of never.
		t.Expiry = meta.expiry
		if lifetime < 2*EarlyExpiry {
			t.Expiry = obtained.Add(lifetime/2 + EarlyExpiry)
		}
	}
	return t.WithExtra(map[string]any{tokenMetaKey: meta}), nil
}

func (f *tokenFetcher) secretList(extra ...string) []string {
	return append(f.secrets.list(), extra...)
}

func (f *tokenFetcher) fail(status int, err error) *TokenError {
	return &TokenError{URL: f.url, StatusCode: status, Scopes: append([]string(nil), f.scopes...),
		Err: err, errText: excerpt(err.Error(), f.secretList(), maxTransportText)}
}

// errorFromBody reads an OAuth error ({"error","error_description"}), a
// Cybrid ErrorResponse, or anything else (kept as a short excerpt).
func (f *tokenFetcher) errorFromBody(status int, data []byte) *TokenError {
	te := &TokenError{URL: f.url, StatusCode: status, Scopes: append([]string(nil), f.scopes...)}
	secrets := f.secretList()
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil {
		switch {
		case eb.Error != "":
			te.Code = excerpt(eb.Error, secrets, 64)
			te.Description = excerpt(eb.ErrorDescription, secrets, 300)
		case eb.MessageCode != "" || eb.ErrorMessage != "":
			te.Code = excerpt(eb.MessageCode, secrets, 64)
			te.Description = excerpt(eb.ErrorMessage, secrets, 300)
		}
	}
	if te.Code == "" && te.Description == "" {
		te.Description = excerpt(string(data), secrets, 200)
	}
	return te
}

// parseScopes accepts a space-separated string (the OAuth form) or a JSON
// array of strings. It returns nil when the field is absent or null.
func parseScopes(raw json.RawMessage) []string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s)
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	return nil
}
