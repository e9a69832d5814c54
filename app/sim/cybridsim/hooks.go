package cybridsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Account is a snapshot of a simulated external bank account, for tests and
// QA tools.
type Account struct {
	GUID           string
	Name           string
	Asset          string
	State          string // an ExternalBankAccountState value
	FailureCode    string // "" unless failed
	CustomerGUID   string
	PlaidAccountID string
	InstitutionID  string // "" when the public token could not be exchanged
	Mask           string
	Verified       bool // ownership verified by an identity verification
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Customer is a snapshot of a simulated customer.
type Customer struct {
	GUID   string
	Name   string // full name
	State  string // a CustomerState value
	Type   string // "individual"
	Labels []string
}

// Workflow is a snapshot of a simulated workflow.
type Workflow struct {
	GUID                    string
	Kind                    string // link_token_create | link_token_update
	State                   string // a WorkflowState value
	FailureCode             string
	CustomerGUID            string
	ExternalBankAccountGUID string
	RedirectURI             string
	Language                string
	LinkCustomizationName   string
	// LinkToken is the Plaid link token, set once the workflow is completed.
	LinkToken string
	CreatedAt time.Time
}

func (a *accountRec) snapshot() Account {
	return Account{
		GUID: a.guid, Name: a.name, Asset: a.asset, State: a.state, FailureCode: a.failureCode,
		CustomerGUID: a.customerGUID, PlaidAccountID: a.plaidAccountID, InstitutionID: a.institutionID,
		Mask: a.mask, Verified: a.verified, CreatedAt: a.createdAt, UpdatedAt: a.updatedAt,
	}
}

// Accounts returns the accounts of a customer (all accounts when
// customerGUID is ""), newest first, with states as of now.
func (s *Server) Accounts(customerGUID string) []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	var items []*accountRec
	for _, a := range s.accounts {
		if customerGUID == "" || a.customerGUID == customerGUID {
			items = append(items, a)
		}
	}
	pg, _ := pageOf(items, listParams{perPage: len(items) + 1})
	out := make([]Account, 0, len(pg))
	for _, a := range pg {
		out = append(out, a.snapshot())
	}
	return out
}

// Account returns one account by GUID.
func (s *Server) Account(guid string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	a := s.accounts[guid]
	if a == nil {
		return Account{}, false
	}
	return a.snapshot(), true
}

// Customers returns the customers, newest first (the order of
// GET /api/customers).
func (s *Server) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := append([]*customerRec(nil), s.customers...)
	pg, _ := pageOf(items, listParams{perPage: len(items) + 1})
	out := make([]Customer, 0, len(pg))
	for _, c := range pg {
		out = append(out, Customer{GUID: c.guid, Name: c.fullName(), State: c.state, Type: c.typ,
			Labels: append([]string(nil), c.labels...)})
	}
	return out
}

// Workflows returns the workflows, newest first, with states as of now.
func (s *Server) Workflows() []Workflow {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	var items []*workflowRec
	for _, wf := range s.workflows {
		items = append(items, wf)
	}
	pg, _ := pageOf(items, listParams{perPage: len(items) + 1})
	out := make([]Workflow, 0, len(pg))
	for _, wf := range pg {
		sn := Workflow{GUID: wf.guid, Kind: wf.kind, State: wf.state, FailureCode: wf.failureCode,
			CustomerGUID: wf.customerGUID, ExternalBankAccountGUID: wf.ebaGUID, RedirectURI: wf.redirectURI,
			Language: wf.language, LinkCustomizationName: wf.customization, CreatedAt: wf.createdAt}
		if wf.state == stateCompleted {
			sn.LinkToken = wf.linkToken
		}
		out = append(out, sn)
	}
	return out
}

// ErrNotExpirable is returned by ExpireConnection for an account that is not
// completed or unverified.
var ErrNotExpirable = simpleError("cybridsim: only a completed or unverified account can have its connection expire")

// ErrNoAccount is returned for an unknown account GUID.
var ErrNoAccount = simpleError("cybridsim: no such external bank account")

// ExpireConnection simulates the bank connection behind a completed or
// unverified account expiring: the Plaid item is reset (it needs Link's
// update mode, plaidsim.Backend.ResetLogin) and the account turns
// refresh_required.
func (s *Server) ExpireConnection(accountGUID string) error {
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	a := s.accounts[accountGUID]
	if a == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoAccount, accountGUID)
	}
	if a.state != stateCompleted && a.state != stateUnverified {
		st := a.state
		s.mu.Unlock()
		return fmt.Errorf("%w (account %s is %s)", ErrNotExpirable, accountGUID, st)
	}
	itemID := a.itemID
	s.mu.Unlock()
	if err := s.plaid.ResetLogin(itemID); err != nil {
		return errorf("cybridsim: resetting the Plaid item of account %s: %v", accountGUID, err)
	}
	s.mu.Lock()
	a.state, a.updatedAt = stateRefreshRequired, s.now()
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: connection expired", "external_bank_account_guid", accountGUID)
	return nil
}

// ---- /sim/ HTTP endpoints (simulator-only, no authentication) ----

// ScenarioJSON is the JSON form of Scenario served at /sim/scenario; delays
// are Go duration strings ("1.5s", "250ms").
type ScenarioJSON struct {
	WorkflowDelay       string `json:"workflow_delay"`
	AccountDelay        string `json:"account_delay"`
	VerificationDelay   string `json:"verification_delay"`
	WorkflowFailureCode string `json:"workflow_failure_code"`
	AccountFailureCode  string `json:"account_failure_code"`
	VerificationReview  bool   `json:"verification_review"`
}

func scenarioToJSON(sc Scenario) ScenarioJSON {
	return ScenarioJSON{
		WorkflowDelay: sc.WorkflowDelay.String(), AccountDelay: sc.AccountDelay.String(),
		VerificationDelay:   sc.VerificationDelay.String(),
		WorkflowFailureCode: sc.WorkflowFailureCode, AccountFailureCode: sc.AccountFailureCode,
		VerificationReview: sc.VerificationReview,
	}
}

// getScenarioHTTP serves GET /sim/scenario.
func (s *Server) getScenarioHTTP(w http.ResponseWriter, r *http.Request, _ pathParams) {
	writeJSON(w, http.StatusOK, scenarioToJSON(s.Scenario()))
}

// putScenarioHTTP serves PUT /sim/scenario. Fields left out keep their
// current values; the response is the resulting scenario.
func (s *Server) putScenarioHTTP(w http.ResponseWriter, r *http.Request, _ pathParams) {
	raw, err := readBody(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	sc := s.Scenario()
	in := scenarioToJSON(sc)
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		badRequest(w, errorf("the body must be a JSON object with workflow_delay, account_delay, verification_delay, workflow_failure_code, account_failure_code, verification_review: %v", err))
		return
	}
	for _, f := range []struct {
		name string
		v    string
		dst  *time.Duration
	}{{"workflow_delay", in.WorkflowDelay, &sc.WorkflowDelay}, {"account_delay", in.AccountDelay, &sc.AccountDelay},
		{"verification_delay", in.VerificationDelay, &sc.VerificationDelay}} {
		d, err := time.ParseDuration(f.v)
		if err != nil || d < 0 {
			badRequest(w, errorf("Invalid value. %s must be a non-negative duration such as \"1.5s\", got %q", f.name, f.v))
			return
		}
		*f.dst = d
	}
	sc.WorkflowFailureCode, sc.AccountFailureCode = in.WorkflowFailureCode, in.AccountFailureCode
	sc.VerificationReview = in.VerificationReview
	s.SetScenario(sc)
	writeJSON(w, http.StatusOK, scenarioToJSON(s.Scenario()))
}

// expireHTTP serves POST /sim/external_bank_accounts/{guid}/expire: 200 with
// the account (ExternalBankAccount JSON) now refresh_required, 404 for an
// unknown account, 409 when the account cannot expire.
func (s *Server) expireHTTP(w http.ResponseWriter, r *http.Request, p pathParams) {
	if err := s.ExpireConnection(p["guid"]); err != nil {
		if errors.Is(err, ErrNoAccount) {
			writeError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		writeError(w, http.StatusConflict, "invalid_state", err.Error())
		return
	}
	s.mu.Lock()
	out := s.accountJSONLocked(s.accounts[p["guid"]])
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// Verification is a snapshot of a simulated identity verification.
type Verification struct {
	GUID                    string
	Type                    string // bank_account
	Method                  string // account_ownership | attested_ownership
	CustomerGUID            string
	ExternalBankAccountGUID string
	State                   string // an IdentityVerificationState value
	Outcome                 string // "" until completed, then passed | failed
	FailureCodes            []string
	// AwaitingReview: the verification waits for ReviewVerification.
	AwaitingReview bool
}

// Verifications returns the identity verifications of a customer (all when
// customerGUID is ""), newest first, with states as of now.
func (s *Server) Verifications(customerGUID string) []Verification {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	var items []*verificationRec
	for _, v := range s.verifications {
		if customerGUID == "" || v.customerGUID == customerGUID {
			items = append(items, v)
		}
	}
	pg, _ := pageOf(items, listParams{perPage: len(items) + 1})
	out := make([]Verification, 0, len(pg))
	for _, v := range pg {
		out = append(out, Verification{GUID: v.guid, Type: v.typ, Method: v.method, CustomerGUID: v.customerGUID,
			ExternalBankAccountGUID: v.ebaGUID, State: v.state, Outcome: v.outcome,
			FailureCodes: append([]string(nil), v.failureCodes...), AwaitingReview: v.awaitingReview()})
	}
	return out
}

func (v *verificationRec) awaitingReview() bool { return v.review && v.state != stateCompleted }

// ErrNoVerification is returned for an unknown identity verification GUID.
var ErrNoVerification = simpleError("cybridsim: no such identity verification")

// ErrNotAwaitingReview is returned by ReviewVerification for a verification
// that does not wait for a manual review (it was created without
// Scenario.VerificationReview, with expected_behaviours, or is decided).
var ErrNotAwaitingReview = simpleError("cybridsim: the identity verification is not waiting for a manual review")

// ReviewFailureCode is the failure code of a verification a review rejects:
// Cybrid's "Failure due to compliance rejecting the identity verification".
const ReviewFailureCode = "compliance_rejection"

// ReviewVerification plays Cybrid's compliance reviewer for a verification
// waiting for a manual review (Scenario.VerificationReview): outcome
// "passed" completes it passed (the account is verified and, if unverified,
// turns completed), "failed" completes it failed with failure_codes
// [compliance_rejection]. It returns the verification as it is now.
func (s *Server) ReviewVerification(guid, outcome string) (Verification, error) {
	if outcome != "passed" && outcome != "failed" {
		return Verification{}, errorf("cybridsim: a review's outcome is passed or failed, got %q", outcome)
	}
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	v := s.verifications[guid]
	switch {
	case v == nil:
		s.mu.Unlock()
		return Verification{}, fmt.Errorf("%w: %s", ErrNoVerification, guid)
	case !v.awaitingReview():
		st := v.state
		s.mu.Unlock()
		return Verification{}, fmt.Errorf("%w (%s is %s)", ErrNotAwaitingReview, guid, st)
	}
	if outcome == "failed" {
		v.failCode = ReviewFailureCode
	}
	v.pending = []transition{{at: now, state: stateCompleted, failureCode: outcome}}
	s.advanceLocked(now)
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: identity verification reviewed", "identity_verification_guid", guid, "outcome", outcome)
	for _, x := range s.Verifications("") {
		if x.GUID == guid {
			return x, nil
		}
	}
	return Verification{}, fmt.Errorf("%w: %s", ErrNoVerification, guid)
}

// reviewHTTP serves POST /sim/identity_verifications/{guid}/review with body
// {"outcome": "passed" | "failed"}: ReviewVerification. 200 with the
// verification (IdentityVerification JSON), 400 invalid_parameter for a bad
// body, 404 for an unknown verification, 409 invalid_state when it is not
// waiting for a review.
func (s *Server) reviewHTTP(w http.ResponseWriter, r *http.Request, p pathParams) {
	var in struct {
		Outcome string `json:"outcome"`
	}
	raw, err := readBody(r)
	if err == nil {
		dec := json.NewDecoder(bytesReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(&in)
	}
	if err == nil && in.Outcome != "passed" && in.Outcome != "failed" {
		err = errorf("outcome must be passed or failed, got %q", in.Outcome)
	}
	if err != nil {
		badRequest(w, errorf(`the body must be {"outcome": "passed"} or {"outcome": "failed"}: %v`, err))
		return
	}
	if _, err := s.ReviewVerification(p["guid"], in.Outcome); err != nil {
		if errors.Is(err, ErrNoVerification) {
			writeError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		writeError(w, http.StatusConflict, "invalid_state", err.Error()+"; only a verification created while the verification_review scenario is on, without expected_behaviours, waits for a review")
		return
	}
	s.mu.Lock()
	out := verificationJSONOf(s.verifications[p["guid"]])
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
