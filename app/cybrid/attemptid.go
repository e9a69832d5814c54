package cybrid

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"
)

// attemptIDKey is the context key of WithAttempt.
type attemptIDKey struct{}

// WithAttempt returns a copy of ctx that carries attemptID: the caller's
// unit of work (for linkdesk, a link attempt); the client only carries it
// to the Observer. Every exchange of a call made with the returned context
// (each try, retries included) is reported with Call.AttemptID set to
// attemptID, and so is a token request that such a call made (see
// Call.AttemptID). The id is never sent to Cybrid, and the client's
// behaviour does not depend on it. An empty attemptID is the same as none.
func WithAttempt(ctx context.Context, attemptID string) context.Context {
	return context.WithValue(ctx, attemptIDKey{}, attemptID)
}

// AttemptFrom returns the attempt id WithAttempt put in ctx, or "" when
// there is none.
func AttemptFrom(ctx context.Context) string {
	id, _ := ctx.Value(attemptIDKey{}).(string)
	return id
}

// tokenFor is tokenCache.Token on behalf of the call of attempt attemptID:
// when no valid token is cached, the token request it makes (the one every
// waiting call then shares) is observed with Call.AttemptID attemptID.
//
// Token requests are serialised by c.fetching, which every path into the
// reuse source takes (oauth2.ReuseTokenSource already makes concurrent
// callers wait for one request); the fetcher reads its trigger under it.
func (c *tokenCache) tokenFor(attemptID string) (*oauth2.Token, error) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	c.fetching.Lock()
	defer c.fetching.Unlock()
	c.fetch.trigger = attemptID
	return src.Token()
}

// authTransport is oauth2.Transport whose token source knows the attempt of
// the request it authorises, so that a token request made on the way (the
// cached token expired, or another call's 401 dropped it, since the call
// took its token) is observed under that attempt.
type authTransport struct {
	tokens *tokenCache
	base   http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	id := AttemptFrom(req.Context())
	src := tokenSourceFunc(func() (*oauth2.Token, error) { return t.tokens.tokenFor(id) })
	return (&oauth2.Transport{Source: src, Base: t.base}).RoundTrip(req)
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }
