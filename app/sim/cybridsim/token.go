package cybridsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BankScopes are the scopes a bank's client credentials may be granted: the
// oauth2 clientCredentials scopes of Cybrid's bank spec. Organization-only
// scopes (banks:execute, organizations:*, users:*, subscriptions:*) are not
// among them and are refused with invalid_scope, as Cybrid documents.
var BankScopes = []string{
	"banks:read", "banks:write", "bank_applications:execute",
	"accounts:read", "accounts:execute",
	"counterparties:read", "counterparties:pii:read", "counterparties:write", "counterparties:execute",
	"customers:read", "customers:pii:read", "customers:write", "customers:execute",
	"prices:read", "quotes:execute", "quotes:read", "trades:execute", "trades:read",
	"transfers:execute", "transfers:read", "transfers:write",
	"external_bank_accounts:read", "external_bank_accounts:pii:read",
	"external_bank_accounts:write", "external_bank_accounts:execute",
	"external_wallets:read", "external_wallets:execute",
	"workflows:read", "workflows:execute",
	"deposit_addresses:read", "deposit_addresses:execute",
	"deposit_bank_accounts:read", "deposit_bank_accounts:execute",
	"invoices:read", "invoices:write", "invoices:execute",
	"identity_verifications:read", "identity_verifications:pii:read",
	"identity_verifications:write", "identity_verifications:execute",
	"persona_sessions:execute", "files:read", "files:pii:read", "files:execute",
}

// Token subject types (the JWT's sub_type claim).
const (
	subjectBank     = "bank"
	subjectCustomer = "customer"
)

type tokenRec struct {
	scopes  map[string]bool
	expires time.Time
	// subType is subjectBank (POST /oauth/token) or subjectCustomer (POST
	// /api/customer_tokens); customer is the customer GUID of a customer
	// token.
	subType, customer string
}

// oauthError is the OAuth 2.0 error body (RFC 6749 §5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// tokenResponse is the body of a successful POST /oauth/token, as Cybrid's
// identity service (a Doorkeeper-style server) returns it.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	CreatedAt   int64  `json:"created_at"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_client"`)
	}
	writeJSON(w, status, oauthError{Error: code, Description: desc})
}

// handleToken serves POST /oauth/token (client-credentials grant).
//
// Cybrid's samples send a JSON body {grant_type, client_id, client_secret,
// scope}; the simulator accepts that and, like the OAuth server behind it,
// also a form-encoded body and HTTP Basic client authentication (what
// golang.org/x/oauth2/clientcredentials sends).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, _ pathParams) {
	params, err := tokenParams(r)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, secret := params.Get("client_id"), params.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	switch gt := params.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing; send grant_type=client_credentials")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+strconv.Quote(gt)+" is not supported; use client_credentials")
		return
	}
	if !s.credentialsOK(id, secret) {
		s.log.Info("cybridsim: token refused: invalid client", "client_id", id)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client",
			"Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method. Check the client id and secret.")
		return
	}
	requested := strings.Fields(params.Get("scope"))
	if len(requested) == 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope",
			"The requested scope is invalid, unknown, or malformed: scope is empty; ask for the space-separated scopes you need, e.g. \"customers:read workflows:execute\"")
		return
	}
	allowed := map[string]bool{}
	for _, sc := range BankScopes {
		allowed[sc] = true
	}
	keyAllows := func(string) bool { return true }
	if s.opts.ClientScopes != nil {
		keyAllows = func(sc string) bool { return slices.Contains(s.opts.ClientScopes, sc) }
	}
	var bad, notAllowed []string
	granted := map[string]bool{}
	var order []string
	for _, sc := range requested {
		if !allowed[sc] {
			bad = append(bad, sc)
			continue
		}
		if !keyAllows(sc) {
			notAllowed = append(notAllowed, sc)
			continue
		}
		if !granted[sc] {
			granted[sc] = true
			order = append(order, sc)
		}
	}
	if len(bad) > 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope",
			"The requested scope is invalid, unknown, or malformed: "+strings.Join(bad, ", ")+" cannot be granted to bank credentials")
		return
	}
	if len(notAllowed) > 0 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope",
			"The requested scope is invalid, unknown, or malformed: "+strings.Join(notAllowed, ", ")+" is not granted to this API key")
		return
	}
	now := s.now()
	tok := s.mintToken(order, now)
	s.mu.Lock()
	s.pruneTokensLocked(now)
	s.tokens[tok] = tokenRec{scopes: granted, expires: now.Add(s.opts.TokenLifetime), subType: subjectBank}
	s.mu.Unlock()
	s.log.Info("cybridsim: token issued", "client_id", id, "scopes", len(order), "expires_in", s.opts.TokenLifetime)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.opts.TokenLifetime / time.Second),
		Scope:       strings.Join(order, " "),
		CreatedAt:   now.Unix(),
	})
}

func (s *Server) credentialsOK(id, secret string) bool {
	if s.opts.ClientID == "" || s.opts.ClientSecret == "" {
		return false
	}
	a := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID))
	b := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret))
	return a&b == 1
}

func tokenParams(r *http.Request) (url.Values, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := strings.TrimSpace(string(body))
	if ct == "application/json" || (ct == "" && strings.HasPrefix(trimmed, "{")) {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, errorf("the request body is not valid JSON: %v", err)
		}
		v := url.Values{}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			case nil:
			default:
				return nil, errorf("%s must be a string", k)
			}
		}
		return v, nil
	}
	v, err := url.ParseQuery(trimmed)
	if err != nil {
		return nil, errorf("the request body is neither JSON nor form-encoded: %v", err)
	}
	return v, nil
}

// mintToken returns a JWT-shaped opaque bank token carrying the claims
// Cybrid's bank tokens carry (sub: the bank GUID, sub_type: bank).
func (s *Server) mintToken(scopes []string, now time.Time) string {
	return s.mintJWT(s.bankGUID, subjectBank, scopes, map[string]string{"type": "sandbox"}, now)
}

// mintJWT returns a JWT-shaped opaque token with Cybrid's claims. Its
// signature is random: the simulator recognises its tokens by lookup, not
// by verification; clients (Cybrid's web SDK) decode the claims without
// verifying them.
func (s *Server) mintJWT(sub, subType string, scopes []string, props map[string]string, now time.Time) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS512", "typ": "JWT", "kid": "cybridsim"})
	jti := randomGUID()
	claims, _ := json.Marshal(map[string]any{
		"iss":        "cybridsim",
		"aud":        []string{"cybridsim"},
		"sub":        sub,
		"sub_type":   subType,
		"scope":      scopes,
		"iat":        now.Unix(),
		"exp":        now.Add(s.opts.TokenLifetime).Unix(),
		"jti":        jti,
		"token_type": "access",
		"properties": props,
	})
	sig := make([]byte, 64)
	rand.Read(sig)
	return enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

func (s *Server) pruneTokensLocked(now time.Time) {
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
}

// authed wraps a bank API handler: it requires a Bearer token this server
// issued (a bank token or a customer token), not expired, carrying scope.
// Failures use the spec's bodies: 401 authentication_malformed /
// authentication_failed, 403 invalid_scopes. The handler finds the token's
// subject in the request's context (see visible): a customer token confines
// every call to its customer.
func (s *Server) authed(scope string, h handlerFunc) handlerFunc {
	return s.authedAs(nil, []string{scope}, h)
}

// authedAs is authed for a handler that needs all of scopes and, when
// subjects is not nil, a token of one of those subject types (401
// invalid_subject otherwise, with the spec's message "Invalid Subject type.
// Required: bank").
func (s *Server) authedAs(subjects []string, scopes []string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p pathParams) {
		authz := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(authz, "Bearer ")
		tok = strings.TrimSpace(tok)
		if !ok || tok == "" {
			writeError(w, http.StatusUnauthorized, "authentication_malformed",
				"Authorization header is malformed. Send \"Authorization: Bearer <access token>\" with a token from POST /oauth/token.")
			return
		}
		s.mu.Lock()
		rec, known := s.tokens[tok]
		s.mu.Unlock()
		if !known {
			writeError(w, http.StatusUnauthorized, "authentication_failed",
				"Signature verification raised: the access token is not one this server issued; get a new one from POST /oauth/token")
			return
		}
		if !s.now().Before(rec.expires) {
			writeError(w, http.StatusUnauthorized, "authentication_failed",
				"Signature has expired; get a new access token from POST /oauth/token")
			return
		}
		if subjects != nil && !slices.Contains(subjects, rec.subType) {
			writeError(w, http.StatusUnauthorized, "invalid_subject",
				"Invalid Subject type. Required: "+strings.Join(subjects, " or ")+" (this is a "+rec.subType+" token)")
			return
		}
		for _, sc := range scopes {
			if !rec.scopes[sc] {
				writeError(w, http.StatusForbidden, "invalid_scopes", "Invalid scopes. Required: "+sc)
				return
			}
		}
		h(w, r.WithContext(withPrincipal(r.Context(), principal{scopes: rec.scopes, subType: rec.subType, customer: rec.customer})), p)
	}
}

func randomGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
