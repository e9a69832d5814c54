package cybridsim

import (
	"net/http"
	"time"
)

// verificationJSON is Cybrid's IdentityVerification schema; the details
// fields are rendered by GET /api/identity_verifications/{guid}
// (IdentityVerificationWithDetails).
type verificationJSON struct {
	GUID                    string           `json:"guid"`
	Type                    string           `json:"type"`
	Method                  string           `json:"method"`
	CreatedAt               string           `json:"created_at"`
	UpdatedAt               string           `json:"updated_at"`
	CustomerGUID            *string          `json:"customer_guid"`
	CounterpartyGUID        *string          `json:"counterparty_guid"`
	ExternalBankAccountGUID *string          `json:"external_bank_account_guid"`
	State                   string           `json:"state"`
	Outcome                 *string          `json:"outcome"`
	FailureCodes            []string         `json:"failure_codes"`
	ComplianceDecisions     []complianceJSON `json:"compliance_decisions"`
}

type verificationDetailsJSON struct {
	verificationJSON
	ComplianceChecks []complianceCheckJSON `json:"compliance_checks"`
	PersonaInquiryID *string               `json:"persona_inquiry_id"`
	PersonaState     *string               `json:"persona_state"`
	Documents        []any                 `json:"documents"`
}

type complianceCheckJSON struct {
	Type         string   `json:"type"`
	Outcome      string   `json:"outcome"`
	FailureCodes []string `json:"failure_codes"`
}

func verificationJSONOf(v *verificationRec) verificationJSON {
	out := verificationJSON{
		GUID: v.guid, Type: v.typ, Method: v.method, CreatedAt: ts(v.createdAt), UpdatedAt: ts(v.updatedAt),
		CustomerGUID: strPtr(v.customerGUID), ExternalBankAccountGUID: strPtr(v.ebaGUID),
		State: v.state, Outcome: strPtr(v.outcome), FailureCodes: v.failureCodes,
		ComplianceDecisions: []complianceJSON{},
	}
	if v.outcome != "" {
		typ := "external_bank_account_verification"
		if v.method == "attested_ownership" {
			typ = "external_bank_account_attested"
		}
		st := "passed"
		if v.outcome == "failed" {
			st = "failed"
		}
		out.ComplianceDecisions = append(out.ComplianceDecisions, complianceJSON{Type: typ, State: st, FailureCodes: v.failureCodes})
	}
	return out
}

// createVerification serves POST /api/identity_verifications for type
// bank_account (method account_ownership or attested_ownership): ownership
// verification of an external bank account that is unverified (or already
// completed/refresh_required).
//
// customer_guid is optional, as the spec has it for type bank_account: the
// verification belongs to the account's customer, and a customer_guid that
// is given must be that customer.
//
// States: storing → waiting → completed/passed, each intermediate state
// lasting the scenario's VerificationDelay — an automated check, as in
// production. With Scenario.VerificationReview (Cybrid's sandbox) an
// account_ownership verification without expected_behaviours stays in
// waiting until ReviewVerification decides it. expected_behaviours
// passed_immediately completes with outcome passed, failed_immediately with
// outcome failed and failure_codes [requested_failure] (Cybrid's sandbox
// code), each after one VerificationDelay in storing. attested_ownership
// passes without waiting. On a pass the account becomes verified and, if
// unverified, completed.
//
// The spec documents no 400/422 for this operation; the simulator answers a
// malformed body like every endpoint (400 missing_parameter /
// invalid_value), and a reference it cannot use (unknown account, account
// of another customer or in a state that cannot be verified) with 422
// invalid_parameter, like POST /api/workflows.
func (s *Server) createVerification(w http.ResponseWriter, r *http.Request, _ pathParams) {
	b, err := readObject(r)
	if err != nil {
		invalidRequest(w, err)
		return
	}
	get := func(field string, required bool) (string, bool) {
		v, ok, err := b.str(field)
		if err == nil && !ok && required {
			err = missingParams{field}
		}
		if err != nil {
			invalidRequest(w, err)
			return "", false
		}
		return v, true
	}
	typ, ok := get("type", true)
	if !ok {
		return
	}
	if typ != "bank_account" {
		if err := oneOf("type", typ, "kyc", "bank_account", "counterparty"); err != nil {
			invalidRequest(w, err)
		} else {
			unprocessable(w, "unsupported_value", "Unable to process request: type "+typ+" is not supported by the simulator; use bank_account")
		}
		return
	}
	method, ok := get("method", true)
	if !ok {
		return
	}
	if err := oneOf("method", method, "account_ownership", "attested_ownership"); err != nil {
		invalidRequest(w, err)
		return
	}
	custGUID, ok := get("customer_guid", false)
	if !ok {
		return
	}
	ebaGUID, ok := get("external_bank_account_guid", true)
	if !ok {
		return
	}
	behaviours, err := b.strings("expected_behaviours")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	var passNow, failNow bool
	for _, x := range behaviours {
		if err := oneOf("expected_behaviours", x, "passed_immediately", "failed_immediately", "tax_id_not_checked"); err != nil {
			invalidRequest(w, err)
			return
		}
		passNow = passNow || x == "passed_immediately"
		failNow = failNow || x == "failed_immediately"
	}

	now := s.now()
	out, err := s.storeVerification(r, now, typ, method, custGUID, ebaGUID, passNow, failNow)
	if err != nil {
		unprocessable(w, "invalid_parameter", "Unable to process request: "+err.Error())
		return
	}
	s.changed()
	s.log.Info("cybridsim: identity verification created", "identity_verification_guid", out.GUID,
		"external_bank_account_guid", ebaGUID, "expected_behaviours", behaviours, "state", out.State)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) storeVerification(r *http.Request, now time.Time, typ, method, custGUID, ebaGUID string, passNow, failNow bool) (verificationJSON, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	if custGUID != "" && !s.customerVisibleLocked(r, custGUID) {
		return verificationJSON{}, errorf("customer_guid %s not found", custGUID)
	}
	a := s.accounts[ebaGUID]
	switch {
	case a == nil || !visible(r, a.customerGUID):
		return verificationJSON{}, errorf("external_bank_account_guid %s not found", ebaGUID)
	case custGUID != "" && a.customerGUID != custGUID:
		return verificationJSON{}, errorf("external_bank_account_guid %s does not belong to customer_guid %s", ebaGUID, custGUID)
	case a.state != stateUnverified && a.state != stateCompleted && a.state != stateRefreshRequired:
		return verificationJSON{}, errorf("external_bank_account_guid %s is %s; only unverified, completed or refresh_required accounts can be verified", ebaGUID, a.state)
	}
	d := s.scenario.VerificationDelay
	v := &verificationRec{
		seq: s.nextSeqLocked(), guid: randomGUID(), typ: typ, method: method,
		customerGUID: a.customerGUID, ebaGUID: ebaGUID, createdAt: now, updatedAt: now, state: stateStoring,
	}
	switch {
	case failNow:
		v.pending = []transition{{at: now.Add(d), state: stateCompleted, failureCode: "failed"}}
	case passNow || method == "attested_ownership":
		v.pending = []transition{{at: now.Add(d), state: stateCompleted, failureCode: "passed"}}
	case s.scenario.VerificationReview:
		// Waits for a manual review (ReviewVerification), as in Cybrid's
		// sandbox.
		v.pending = []transition{{at: now.Add(d), state: stateWaiting}}
		v.review = true
	default:
		v.pending = []transition{
			{at: now.Add(d), state: stateWaiting},
			{at: now.Add(2 * d), state: stateCompleted, failureCode: "passed"},
		}
	}
	s.verifications[v.guid] = v
	s.advanceLocked(now)
	return verificationJSONOf(v), nil
}

// getVerification serves GET /api/identity_verifications/{guid}.
func (s *Server) getVerification(w http.ResponseWriter, r *http.Request, p pathParams) {
	if _, ok := includePII(w, r, "identity_verifications:pii:read"); !ok {
		return
	}
	s.mu.Lock()
	s.advanceLocked(s.now())
	v := s.verifications[p["guid"]]
	if v != nil && !visible(r, v.customerGUID) {
		v = nil // another customer's: as if it did not exist
	}
	var out verificationDetailsJSON
	if v != nil {
		out = verificationDetailsJSON{verificationJSON: verificationJSONOf(v), ComplianceChecks: []complianceCheckJSON{}, Documents: []any{}}
		if v.outcome != "" {
			out.ComplianceChecks = append(out.ComplianceChecks, complianceCheckJSON{
				Type: out.ComplianceDecisions[0].Type, Outcome: v.outcome, FailureCodes: v.failureCodes})
		}
	}
	s.mu.Unlock()
	if v == nil {
		writeError(w, http.StatusNotFound, "not_found", "identity_verification not found: "+p["guid"])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// listVerifications serves GET /api/identity_verifications: page, per_page
// and comma-separated guid, bank_guid, customer_guid, state, type, and the
// filters of newer clients (e.g. 0.126): counterparty_guid (the simulator's
// verifications have none, so it matches none) and method. A customer token
// lists only its customer's verifications.
func (s *Server) listVerifications(w http.ResponseWriter, r *http.Request, _ pathParams) {
	lp, err := parseList(r.URL.Query(), "guid", "bank_guid", "customer_guid", "counterparty_guid", "state", "type", "method")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	s.mu.Lock()
	s.advanceLocked(s.now())
	var items []*verificationRec
	for _, v := range s.verifications {
		if visible(r, v.customerGUID) && lp.keep("guid", v.guid) && lp.keep("bank_guid", s.bankGUID) &&
			lp.keep("customer_guid", v.customerGUID) && lp.keep("counterparty_guid", "") &&
			lp.keep("state", v.state) && lp.keep("type", v.typ) && lp.keep("method", v.method) {
			items = append(items, v)
		}
	}
	pg, total := pageOf(items, lp)
	objs := make([]verificationJSON, 0, len(pg))
	for _, v := range pg {
		objs = append(objs, verificationJSONOf(v))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listEnvelope{Total: total, Page: lp.page, PerPage: lp.perPage, Objects: objs})
}
