// Package cybrid is a client for the parts of Cybrid's Bank API that link a
// customer's external bank account through Plaid Link: workflows (Plaid link
// tokens), external bank accounts, customers and bank-account identity
// verifications.
//
// The client speaks the JSON of Cybrid's published OpenAPI spec (field names,
// paths, status codes); only its base URLs differ between Cybrid's sandbox,
// production and the built-in simulator.
//
// # Authentication
//
// A Client obtains bank tokens with the OAuth2 client-credentials grant by
// POSTing Cybrid's documented JSON body
//
//	{"grant_type":"client_credentials","client_id":…,"client_secret":…,"scope":"a b c"}
//
// to IdentityURL + "/oauth/token", asking only for Options.Scopes
// (DefaultScopes when nil). Contracts:
//
//   - One token per lifetime: a token is reused by every call, from every
//     goroutine, until 30 s before its expires_in runs out (a token that
//     lives less than a minute is reused for half its lifetime); concurrent
//     callers wait for a single token request instead of each sending one.
//     A token without expires_in is reused until the API answers 401.
//   - 401 retried once: when the bank API answers 401 (the token expired or
//     was revoked), the cached token is discarded, one new token is fetched,
//     and the request is sent once more. This is safe for every method, POST
//     included, because a 401 means the API rejected the request before
//     acting on it. A second 401 is returned as an *APIError.
//   - Token calls honour the caller's context for cancellation; each token
//     request is bounded by the per-request timeout.
//
// # Faults, timeouts and retries
//
// Every HTTP exchange is bounded by Options.RequestTimeout
// (DefaultRequestTimeout, 10 s); the caller's context bounds a whole call.
// Under Options.Retry (DefaultRetryPolicy: 4 tries, full-jitter exponential
// backoff from 250 ms capped at 4 s, Retry-After honoured up to 20 s):
//
//   - GET, PATCH and DELETE (idempotent) and token requests are retried after
//     a network error, a reset, a per-request timeout, 500/502/503/504, 429,
//     or a 2xx body that is cut or not JSON.
//   - POST is retried only when the server certainly did not act: the
//     request never left (no connection) or the answer was 429. Otherwise a
//     POST that failed after it was sent returns an error wrapping
//     ErrAmbiguous: Cybrid has no idempotency keys, so the caller must look
//     (list the accounts or workflows) before sending it again.
//   - No wait runs past the caller's deadline; an error after several tries
//     says how many and how long. Options.Observer sees every try, with
//     Call.Attempt and Call.Retry marking retries.
//
// IsTemporary, RetryAfter, ErrAmbiguous, ErrRequestTimeout and
// ErrMalformedResponse classify the errors.
//
// # Errors
//
//   - A non-2xx answer from the bank API is an *APIError carrying Cybrid's
//     ErrorResponse (status, message_code, error_message), or a short sanitized
//     excerpt of a body that is not that JSON. IsNotFound, IsUnauthorized and
//     IsForbidden classify them; a 403 names the scope the operation needs.
//   - A failed token request is a *TokenError whose message says what to do
//     (check the stored credentials, the scopes asked for, the identity URL).
//   - A network failure is returned wrapped with the method and path, so
//     errors.Is(err, context.DeadlineExceeded) and similar keep working.
//   - An argument the API would reject for sure (a GUID that is not 32
//     lowercase hex characters, a per_page outside 1..100) is refused before
//     anything is sent, with an error wrapping ErrInvalidArgument.
//
// # Secrets
//
// The client secret, access tokens and Plaid public/processor tokens never
// appear in an error string or in a Call given to Options.Observer: text that
// comes back from a server is scrubbed of them (and of anything shaped like a
// JWT or a Plaid token) before it is put in an error. Request fields that hold
// such values have the type Secret, which prints as "[redacted]" and marshals
// to JSON as "[redacted]" everywhere except in the request body the client
// itself sends.
package cybrid
