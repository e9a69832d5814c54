package plaidsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The Link page's JSON calls: POST /link/v2/stable/sim/<name>, JSON in and
// out, same-origin only. Every call that belongs to a Link session carries
// link_token and is refused with INVALID_LINK_TOKEN once the token is
// unknown, expired or used up — as Plaid's Link does.

const apiPrefix = stablePrefix + "sim/"

type apiRequest struct {
	LinkToken           string   `json:"link_token"`
	LinkSessionID       string   `json:"link_session_id"`
	ReceivedRedirectURI string   `json:"received_redirect_uri"`
	OAuthStateID        string   `json:"oauth_state_id"`
	InstitutionID       string   `json:"institution_id"`
	Username            string   `json:"username"`
	Password            string   `json:"password"`
	Code                string   `json:"code"`
	AccountIDs          []string `json:"account_ids"`
	Decision            string   `json:"decision"`
	Status              string   `json:"status"`
	ErrorCode           string   `json:"error_code"`
}

// apiError is an error reply: HTTP status plus Plaid's error object.
type apiError struct {
	httpStatus int
	err        *linkError
}

func (e *apiError) Error() string { return e.err.ErrorCode + ": " + e.err.ErrorMessage }

func invalidRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, &linkError{ErrorType: "INVALID_REQUEST", ErrorCode: "INVALID_FIELD", ErrorMessage: fmt.Sprintf(format, args...)}}
}

func invalidLinkToken(why string) *apiError {
	e := newLinkError("INVALID_INPUT", "INVALID_LINK_TOKEN")
	e.ErrorMessage += ": " + why
	return &apiError{http.StatusBadRequest, e}
}

// linkInstitution is the {name, institution_id} object of Link's metadata.
type linkInstitution struct {
	Name          string `json:"name"`
	InstitutionID string `json:"institution_id"`
}

// linkAccount is an account as Link's onSuccess metadata describes it.
type linkAccount struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	Mask               *string `json:"mask"`
	Type               string  `json:"type"`
	Subtype            string  `json:"subtype"`
	VerificationStatus *string `json:"verification_status"`
	ClassType          *string `json:"class_type"`
}

func toLinkAccounts(as []Account) []linkAccount {
	out := make([]linkAccount, len(as))
	for i, a := range as {
		m := a.Mask
		out[i] = linkAccount{ID: a.ID, Name: a.Name, Mask: &m, Type: a.Type, Subtype: a.Subtype}
	}
	return out
}

func (ins *institution) link() *linkInstitution {
	if ins == nil {
		return nil
	}
	return &linkInstitution{Name: ins.Name, InstitutionID: ins.ID}
}

// outcome is the reply to a step of the flow: what Link shows next.
type outcome struct {
	// Status: "mfa" | "select_account" | "connected" | "error" | "pending"
	Status      string           `json:"status"`
	MFAType     string           `json:"mfa_type,omitempty"`
	Accounts    []linkAccount    `json:"accounts,omitempty"`
	PublicToken string           `json:"public_token,omitempty"`
	Institution *linkInstitution `json:"institution,omitempty"`
	Error       *linkError       `json:"error,omitempty"`
	// Retry: the user stays on the pane and may try again (inline error).
	Retry bool `json:"retry,omitempty"`
}

type oauthInfo struct {
	OAuthStateID string `json:"oauth_state_id"`
	URL          string `json:"url"`
}

func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, apiPrefix)
	reqID := newRequestID()
	reply := func(status int, v map[string]any) {
		v["request_id"] = reqID
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(e *apiError) {
		reply(e.httpStatus, map[string]any{"status": "error", "error": e.err})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		fail(&apiError{http.StatusMethodNotAllowed, &linkError{ErrorType: "INVALID_REQUEST", ErrorCode: "METHOD_NOT_ALLOWED", ErrorMessage: "use POST with a JSON body"}})
		return
	}
	if e := checkOrigin(r); e != nil {
		s.log.Warn("refused cross-origin call", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		fail(e)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		fail(invalidRequest("Content-Type must be application/json, got %q", ct))
		return
	}
	var req apiRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		fail(invalidRequest("request body is not valid JSON: %v", err))
		return
	}
	h, ok := apiHandlers[name]
	if !ok {
		fail(&apiError{http.StatusNotFound, &linkError{ErrorType: "INVALID_REQUEST", ErrorCode: "NOT_FOUND", ErrorMessage: "no simulator endpoint " + r.URL.Path}})
		return
	}
	s.mu.Lock()
	v, err := h(s, &req)
	linked := s.linked
	s.linked = false
	s.mu.Unlock()
	if linked {
		s.changed()
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusInternalServerError, newLinkError("API_ERROR", "INTERNAL_SERVER_ERROR")}
		}
		fail(ae)
		return
	}
	reply(http.StatusOK, v)
}

// checkOrigin refuses requests that did not come from a page served under
// the origin the request itself was served under: the Link page and the
// bank pages are served from it, and browsers always send Origin on POST (a
// request without it did not come from our pages).
//
// The request's origin is its Host with http or https — the simulator
// itself speaks http, so an https Origin for the same host is a page served
// through a TLS front that kept the hostname (cdn.plaid.com, say) — or, for a
// proxy that rewrote Host, the host it names in X-Forwarded-Host or
// Forwarded (RFC 7239). A page of any other origin is refused, whatever
// address the simulator was configured with.
func checkOrigin(r *http.Request) *apiError {
	got := r.Header.Get("Origin")
	hosts := servedHosts(r)
	if u, err := url.Parse(got); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path == "" &&
		slices.Contains(hosts, hostPort(u.Scheme, u.Host)) {
		return nil
	}
	if got == "" {
		got = "(none)"
	}
	return &apiError{http.StatusForbidden, &linkError{ErrorType: "INVALID_REQUEST", ErrorCode: "FORBIDDEN_ORIGIN",
		ErrorMessage: fmt.Sprintf("origin %s may not call the Link simulator's API; only the pages it serves, under the origin they were served from (host %s), may. A proxy that rewrites the Host header must name the original host in X-Forwarded-Host.", got, strings.Join(hosts, " or "))}}
}

// servedHosts returns the host[:port] names the request was served under:
// its Host, and the first host of X-Forwarded-Host and of Forwarded. Ports
// are kept only when not the scheme's default.
func servedHosts(r *http.Request) []string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	out := []string{hostPort("http", r.Host), hostPort("https", r.Host)}
	add := func(h string) {
		if h = strings.Trim(h, `"`); h != "" {
			if n := hostPort(scheme, h); !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	add(firstValue(r.Header.Get("X-Forwarded-Host")))
	for _, kv := range strings.Split(firstValue(r.Header.Get("Forwarded")), ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && strings.EqualFold(k, "host") {
			add(v)
		}
	}
	return out
}

// firstValue is the first element of a comma-separated header value (the
// one the proxy nearest the client added).
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// hostPort lower-cases host[:port] and drops the port when it is scheme's
// default, as browsers do in Origin.
func hostPort(scheme, h string) string {
	h = strings.ToLower(h)
	if (scheme == "http" && strings.HasSuffix(h, ":80")) || (scheme == "https" && strings.HasSuffix(h, ":443")) {
		h = h[:strings.LastIndexByte(h, ':')]
	}
	return h
}

type apiHandler func(s *Sim, req *apiRequest) (map[string]any, error)

var apiHandlers = map[string]apiHandler{
	"init":           (*Sim).apiInit,
	"open":           (*Sim).apiOpen,
	"institution":    (*Sim).apiInstitution,
	"credentials":    (*Sim).apiCredentials,
	"mfa":            (*Sim).apiMFA,
	"oauth/status":   (*Sim).apiOAuthStatus,
	"oauth/complete": (*Sim).apiOAuthComplete,
	"accounts":       (*Sim).apiAccounts,
	"exit":           (*Sim).apiExit,
	"bank/info":      (*Sim).apiBankInfo,
	"bank/decide":    (*Sim).apiBankDecide,
	"bank/return":    (*Sim).apiBankReturn,
}

// token looks up a usable link token (caller holds s.mu).
func (s *Sim) token(tok string) (*linkToken, error) {
	if tok == "" {
		return nil, invalidLinkToken("no link_token given")
	}
	lt := s.linkTokens[tok]
	switch {
	case lt == nil:
		return nil, invalidLinkToken("the link token is unknown")
	case !s.now().Before(lt.expires):
		return nil, invalidLinkToken("the link token expired at " + lt.expires.UTC().Format("2006-01-02T15:04:05Z"))
	case lt.consumed:
		return nil, invalidLinkToken("the link token was already used to link an item")
	}
	return lt, nil
}

// session looks up the request's session under a usable token.
func (s *Sim) session(req *apiRequest) (*session, error) {
	lt, err := s.token(req.LinkToken)
	if err != nil {
		return nil, err
	}
	se := s.sessions[req.LinkSessionID]
	if se == nil || se.token != lt {
		return nil, invalidRequest("unknown link_session_id %q for this link token", req.LinkSessionID)
	}
	if se.step == "connected" || se.step == "exited" || se.step == "failed" {
		return nil, invalidRequest("the Link session has ended (%s)", se.step)
	}
	return se, nil
}

func (s *Sim) updateItem(lt *linkToken) *item { return s.items[lt.req.UpdateItemID] }

// apiInit validates the token when the Link page loads and returns what the
// page needs to render: institutions, the first pane, Account Select mode,
// how long its loading pane shows at least.
// With received_redirect_uri (OAuth re-initialisation) the URI must carry the
// oauth_state_id of a pending OAuth session of this token.
func (s *Sim) apiInit(req *apiRequest) (map[string]any, error) {
	lt, err := s.token(req.LinkToken)
	if err != nil {
		return nil, err
	}
	v := map[string]any{
		"update_mode":    lt.updateMode(),
		"account_select": map[bool]string{false: "single", true: "multi"}[lt.multiSelect()],
		"institutions":   institutions,
		"start_view":     "CONSENT",
		"institution":    nil,
		"resume":         false,
		"loading_ms":     s.loading.Milliseconds(),
	}
	if it := s.updateItem(lt); it != nil {
		v["institution"] = it.inst
		v["start_view"] = map[bool]string{false: "CREDENTIAL", true: "OAUTH"}[it.inst.OAuth]
	}
	if req.ReceivedRedirectURI != "" {
		st, err := s.redirectState(lt, req.ReceivedRedirectURI)
		if err != nil {
			return nil, err
		}
		v["resume"] = true
		v["institution"] = st.sess.inst
		v["link_session_id"] = st.sess.id
		v["start_view"] = "OAUTH"
	}
	return v, nil
}

func oauthError(code string) *apiError {
	return &apiError{http.StatusBadRequest, newLinkError("OAUTH_ERROR", code)}
}

// redirectState finds the OAuth state a received redirect URI names.
func (s *Sim) redirectState(lt *linkToken, received string) (*oauthState, error) {
	u, err := url.Parse(received)
	if err != nil {
		return nil, oauthError("OAUTH_STATE_ID_NOT_FOUND")
	}
	if lt.req.RedirectURI != "" {
		base := *u
		base.RawQuery, base.Fragment = "", ""
		if base.String() != lt.req.RedirectURI {
			e := oauthError("OAUTH_STATE_ID_NOT_FOUND")
			e.err.ErrorMessage = fmt.Sprintf("received redirect uri %q does not match the link token's redirect_uri", base.String())
			return nil, e
		}
	}
	return s.stateFor(lt, u.Query().Get("oauth_state_id"))
}

// stateFor finds an unprocessed OAuth state of this token's sessions.
func (s *Sim) stateFor(lt *linkToken, id string) (*oauthState, error) {
	st := s.oauthStates[id]
	if st == nil || st.sess.token != lt {
		return nil, oauthError("OAUTH_STATE_ID_NOT_FOUND")
	}
	if st.processed {
		return nil, oauthError("OAUTH_STATE_ID_ALREADY_PROCESSED")
	}
	return st, nil
}

// apiOpen starts a Link session (Link's open()). In update mode the session
// starts at the item's institution; with oauth_state_id it resumes the OAuth
// session that state belongs to and returns where it continues.
func (s *Sim) apiOpen(req *apiRequest) (map[string]any, error) {
	lt, err := s.token(req.LinkToken)
	if err != nil {
		return nil, err
	}
	if req.OAuthStateID != "" {
		st, err := s.stateFor(lt, req.OAuthStateID)
		if err != nil {
			return nil, err
		}
		o := s.oauthContinue(st.sess)
		return map[string]any{"link_session_id": st.sess.id, "institution": st.sess.inst.link(), "resume": o}, nil
	}
	se := &session{id: newUUID(), token: lt, created: s.now(), step: "opened"}
	s.sessions[se.id] = se
	s.sessionOrder = append(s.sessionOrder, se)
	v := map[string]any{"link_session_id": se.id}
	if it := s.updateItem(lt); it != nil {
		se.inst, se.item = it.inst, it
		v["institution"] = it.inst.link()
		se.step = "credentials"
		if it.inst.OAuth {
			v["oauth"] = s.startOAuth(se)
		}
	}
	s.log.Info("link opened", "session", se.id, "customer", lt.req.CustomerGUID, "update_mode", lt.updateMode())
	return v, nil
}

func (s *Sim) startOAuth(se *session) oauthInfo {
	if se.oauth == nil || se.oauth.processed || se.oauth.result == "denied" {
		st := &oauthState{id: newUUID(), sess: se, result: "pending"}
		s.oauthStates[st.id] = st
		se.oauth = st
	}
	se.step = "oauth"
	// The page's address names the bank, as a real bank's sign-in page is
	// on the bank's own host: linkdesk's OAuth route (package oauthroute)
	// tells the bank by it before the page loads (Link's events reach the
	// app only at the end of the flow).
	return oauthInfo{OAuthStateID: se.oauth.id, URL: stablePrefix + "sandbox-oauth-login.html?oauth_state_id=" + se.oauth.id + "&institution_id=" + se.inst.ID}
}

// apiInstitution records the institution the user selected and says which
// pane follows: credentials, OAuth, or an institution error.
func (s *Sim) apiInstitution(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	if se.token.updateMode() {
		return nil, invalidRequest("update mode is bound to the item's institution")
	}
	ins := institutionByID(req.InstitutionID)
	if ins == nil {
		return nil, invalidRequest("unknown institution_id %q", req.InstitutionID)
	}
	se.inst, se.candidates, se.mfaPending = ins, nil, false
	v := map[string]any{"institution": ins.link(), "health": ins.Health}
	switch {
	case ins.Health == healthDown || s.scenario.InstitutionDown:
		// Scenario.InstitutionDown: every institution behaves like
		// Sandbox's "Unhealthy Platypus Bank - Down". The session goes
		// on: the user may choose another institution (or leave).
		v["health"] = healthDown
		v["error"] = newLinkError("INSTITUTION_ERROR", "INSTITUTION_DOWN")
	case ins.Health == healthUnsupported:
		v["error"] = newLinkError("INSTITUTION_ERROR", "INSTITUTION_NOT_SUPPORTED")
	case ins.OAuth:
		v["oauth"] = s.startOAuth(se)
	default:
		se.step = "credentials"
	}
	return v, nil
}

// apiCredentials applies the Sandbox credential rules.
func (s *Sim) apiCredentials(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	down := se.inst != nil && (se.inst.Health == healthDown || (s.scenario.InstitutionDown && !se.token.updateMode()))
	if se.inst == nil || se.inst.OAuth || down || se.inst.Health == healthUnsupported {
		return nil, invalidRequest("no institution that takes credentials is selected")
	}
	var o outcome
	switch {
	case strings.HasPrefix(req.Password, "error_"):
		code := strings.TrimPrefix(req.Password, "error_")
		o = s.failStep(se, sandboxErrorType(code), code)
	case s.scenario.InstitutionDown: // update mode: no institution was selected
		o = s.failStep(se, "INSTITUTION_ERROR", "INSTITUTION_DOWN")
	case s.scenario.RejectCredentials:
		o = s.failStep(se, "ITEM_ERROR", "INVALID_CREDENTIALS")
	case req.Username == "user_good" && req.Password == "mfa_device":
		se.mfaPending, se.step = true, "mfa"
		o = outcome{Status: "mfa", MFAType: "code"}
	case req.Username == "user_good" && req.Password == "pass_good":
		o = s.authenticated(se)
	default:
		o = s.failStep(se, "ITEM_ERROR", "INVALID_CREDENTIALS")
	}
	return outcomeMap(o), nil
}

// failStep is the outcome of an error at the current step: retryable errors
// keep the session going, others end it.
func (s *Sim) failStep(se *session, errType, code string) outcome {
	o := outcome{Status: "error", Error: newLinkError(errType, code), Retry: retryable(code)}
	if !o.Retry {
		se.step, se.errorCode = "failed", code
	}
	return o
}

// apiMFA checks the one-time code (Sandbox: 1234).
func (s *Sim) apiMFA(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	if !se.mfaPending {
		return nil, invalidRequest("no MFA challenge is pending in this session")
	}
	if strings.TrimSpace(req.Code) != "1234" {
		return outcomeMap(s.failStep(se, "ITEM_ERROR", "INVALID_MFA")), nil
	}
	se.mfaPending = false
	return outcomeMap(s.authenticated(se)), nil
}

// authenticated continues after a successful login: Account Select for a new
// item, straight to connected in update mode.
func (s *Sim) authenticated(se *session) outcome {
	if se.token.updateMode() {
		return s.connect(se, se.item)
	}
	se.candidates = se.inst.newAccounts()
	se.step = "select_account"
	return outcome{Status: "select_account", Accounts: toLinkAccounts(se.candidates), Institution: se.inst.link()}
}

// connect finishes the session: a public token for the item.
func (s *Sim) connect(se *session, it *item) outcome {
	se.item, se.step = it, "connected"
	se.token.consumed = true
	it.needsUpdate = false
	s.linked = true
	pt := "public-sandbox-" + newUUID()
	s.publicTokens[pt] = &publicToken{item: it, expires: s.now().Add(PublicTokenLifetime)}
	s.log.Info("item linked", "session", se.id, "item", it.id, "institution", it.inst.ID,
		"accounts", len(it.selected), "update_mode", se.token.updateMode())
	return outcome{Status: "connected", PublicToken: pt, Accounts: toLinkAccounts(it.selected), Institution: it.inst.link()}
}

// apiAccounts takes the Account Select choice and links the item.
func (s *Sim) apiAccounts(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	if se.candidates == nil {
		return nil, invalidRequest("Account Select is not open in this session")
	}
	if len(req.AccountIDs) == 0 {
		return nil, invalidRequest("select at least one account")
	}
	if len(req.AccountIDs) > 1 && !se.token.multiSelect() {
		return nil, invalidRequest("this Link customization allows one account, got %d", len(req.AccountIDs))
	}
	var sel []Account
	for _, id := range req.AccountIDs {
		i := slices.IndexFunc(se.candidates, func(a Account) bool { return a.ID == id })
		if i < 0 {
			return nil, invalidRequest("account id %q is not offered in this session", id)
		}
		sel = append(sel, se.candidates[i])
	}
	it := &item{id: newPlaidID(37), inst: se.inst, accounts: se.candidates, selected: sel,
		customerGUID: se.token.req.CustomerGUID, created: s.now()}
	s.items[it.id] = it
	s.itemOrder = append(s.itemOrder, it)
	return outcomeMap(s.connect(se, it)), nil
}

// oauthContinue is where Link goes once the bank's OAuth page is done.
func (s *Sim) oauthContinue(se *session) outcome {
	st := se.oauth
	switch {
	case st == nil:
		return outcome{Status: "error", Error: newLinkError("OAUTH_ERROR", "OAUTH_STATE_ID_NOT_FOUND")}
	case st.result == "pending":
		return outcome{Status: "pending"}
	case st.processed:
		return outcome{Status: "error", Error: newLinkError("OAUTH_ERROR", "OAUTH_STATE_ID_ALREADY_PROCESSED")}
	}
	st.processed = true
	if st.result == "denied" || st.result == "refused" {
		// As Plaid reports an OAuth failure at the bank: FAIL_OAUTH, then
		// INTERNAL_SERVER_ERROR.
		return s.failStep(se, "API_ERROR", "INTERNAL_SERVER_ERROR")
	}
	return s.authenticated(se)
}

// apiOAuthStatus reports the bank's decision without acting on it.
func (s *Sim) apiOAuthStatus(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	if se.oauth == nil {
		return nil, invalidRequest("no OAuth flow in this session")
	}
	return map[string]any{"result": se.oauth.result}, nil
}

// apiOAuthComplete continues the session after the bank's decision.
func (s *Sim) apiOAuthComplete(req *apiRequest) (map[string]any, error) {
	se, err := s.session(req)
	if err != nil {
		return nil, err
	}
	return outcomeMap(s.oauthContinue(se)), nil
}

// apiExit records how the user left Link (for Sessions()).
func (s *Sim) apiExit(req *apiRequest) (map[string]any, error) {
	lt, err := s.token(req.LinkToken)
	se := s.sessions[req.LinkSessionID]
	if err != nil && se == nil {
		return nil, err
	}
	if se == nil || (lt != nil && se.token != lt) {
		return nil, invalidRequest("unknown link_session_id %q", req.LinkSessionID)
	}
	if se.step != "connected" {
		se.step, se.exitStatus = "exited", req.Status
		if req.ErrorCode != "" {
			se.errorCode = req.ErrorCode
		}
	}
	s.log.Info("link exited", "session", se.id, "status", req.Status, "error_code", req.ErrorCode)
	return map[string]any{}, nil
}

func (s *Sim) bankState(req *apiRequest) (*oauthState, error) {
	st := s.oauthStates[req.OAuthStateID]
	if st == nil {
		return nil, oauthError("OAUTH_STATE_ID_NOT_FOUND")
	}
	return st, nil
}

// apiBankInfo tells the bank page which institution it is.
func (s *Sim) apiBankInfo(req *apiRequest) (map[string]any, error) {
	st, err := s.bankState(req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"institution": st.sess.inst, "result": st.result}, nil
}

// apiBankDecide records the user's Approve / Deny at the bank.
func (s *Sim) apiBankDecide(req *apiRequest) (map[string]any, error) {
	st, err := s.bankState(req)
	if err != nil {
		return nil, err
	}
	if st.processed {
		return nil, oauthError("OAUTH_STATE_ID_ALREADY_PROCESSED")
	}
	switch req.Decision {
	case "approve":
		st.result = "approved"
	case "deny":
		st.result = "denied"
	case "refuse_embedded":
		// The bank page found itself in an app's embedded view.
		if !st.sess.inst.RefusesEmbedded {
			return nil, invalidRequest("%s does not refuse embedded views", st.sess.inst.Name)
		}
		st.result = "refused"
	default:
		return nil, invalidRequest("decision must be approve or deny, got %q", req.Decision)
	}
	s.log.Info("bank oauth decision", "session", st.sess.id, "result", st.result)
	return map[string]any{"return_url": stablePrefix + "oauth-return.html?oauth_state_id=" + st.id}, nil
}

// apiBankReturn gives the OAuth return page what it needs to hand back to
// Link: the result and the token's redirect_uri (used when the pop-up has no
// opener to post to).
func (s *Sim) apiBankReturn(req *apiRequest) (map[string]any, error) {
	st, err := s.bankState(req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"result": st.result, "redirect_uri": st.sess.token.req.RedirectURI, "institution": st.sess.inst.link()}, nil
}

func outcomeMap(o outcome) map[string]any {
	b, _ := json.Marshal(o)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
