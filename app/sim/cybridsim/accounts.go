package cybridsim

import (
	"hash/fnv"
	"net/http"
	"strings"

	"linkdesk/app/sim/plaidsim"
)

// accountJSON is Cybrid's ExternalBankAccount schema.
type accountJSON struct {
	GUID               string        `json:"guid"`
	Name               string        `json:"name"`
	Asset              string        `json:"asset"`
	AccountKind        string        `json:"account_kind"`
	Environment        string        `json:"environment"`
	BankGUID           string        `json:"bank_guid"`
	CustomerGUID       *string       `json:"customer_guid"`
	CounterpartyGUID   *string       `json:"counterparty_guid"`
	CreatedAt          string        `json:"created_at"`
	UpdatedAt          string        `json:"updated_at"`
	PlaidInstitutionID *string       `json:"plaid_institution_id"`
	PlaidAccountMask   *string       `json:"plaid_account_mask"`
	PlaidAccountName   *string       `json:"plaid_account_name"`
	State              string        `json:"state"`
	FailureCode        *string       `json:"failure_code"`
	BalanceUpdatedAt   *string       `json:"balance_updated_at"`
	Balances           *balancesJSON `json:"balances"`
	PII                []accountPII  `json:"pii"`
}

type balancesJSON struct {
	Available *int64 `json:"available"`
	Current   *int64 `json:"current"`
}

type accountPII struct {
	Names          []string         `json:"names"`
	Addresses      []addressJSON    `json:"addresses"`
	EmailAddresses []string         `json:"email_addresses"`
	PhoneNumbers   []string         `json:"phone_numbers"`
	AccountDetails []map[string]any `json:"account_details"`
	RoutingDetails []map[string]any `json:"routing_details"`
}

func (s *Server) accountJSONLocked(a *accountRec) accountJSON {
	out := accountJSON{
		GUID: a.guid, Name: a.name, Asset: a.asset, AccountKind: "plaid", Environment: "sandbox",
		BankGUID: s.bankGUID, CustomerGUID: strPtr(a.customerGUID),
		CreatedAt: ts(a.createdAt), UpdatedAt: ts(a.updatedAt),
		State: a.state, FailureCode: strPtr(a.failureCode),
	}
	// Institution, mask and Plaid name are known once the public token has
	// been exchanged, which the API shows when the account leaves storing.
	if a.details && a.state != stateStoring {
		out.PlaidInstitutionID = strPtr(a.institutionID)
		out.PlaidAccountMask = strPtr(a.mask)
		out.PlaidAccountName = strPtr(a.plaidName)
	}
	return out
}

func (s *Server) accountPIILocked(a *accountRec) []accountPII {
	c := s.customerByID[a.customerGUID]
	if c == nil || !a.details {
		return []accountPII{}
	}
	return []accountPII{{
		Names: []string{c.fullName()},
		Addresses: []addressJSON{{Street: strPtr(c.street), City: strPtr(c.city), Subdivision: strPtr(c.sub),
			PostalCode: strPtr(c.postal), CountryCode: strPtr("US")}},
		EmailAddresses: []string{c.email},
		PhoneNumbers:   []string{c.phone},
		AccountDetails: []map[string]any{{"account_number": "000011112222" + a.mask}},
		RoutingDetails: []map[string]any{{"routing_number_type": "ABA", "routing_number": "011401533"}},
	}}
}

// createAccount serves POST /api/external_bank_accounts (account_kind plaid).
//
// customer_guid is optional, as in the spec: without it a customer token
// creates the account for its own customer and a bank token creates a
// bank-level account (customer_guid null).
//
// 400 for a malformed body (missing_parameter / invalid_value, as in the
// spec's examples), 422 for an unknown customer (no_customer; another
// customer's GUID with a customer token too), a customer that is not
// verified (unverified_customer), an unsupported asset or account_kind
// (unsupported_value). Otherwise 201 in storing; the public
// token is exchanged with Plaid at once and, after the scenario's
// AccountDelay, the account becomes:
//   - failed/plaid_processor_token when the exchange fails (unknown, expired
//     or used public token) or plaid_account_id is not one of the item's
//     accounts — Cybrid documents this code for "an invalid Plaid processor
//     token or an error with Plaid", which is what Cybrid's backend gets
//     from Plaid in both cases (create_failed is about creating the bank
//     account and holder, a later step);
//   - failed/plaid_multiple_accounts when the item covers more than one
//     account;
//   - failed/duplicate when the customer already has a live (not failed,
//     deleting or deleted) account at the same institution with the same mask;
//   - failed/<code> when the scenario's AccountFailureCode is set (for the
//     next AccountFailureLimit accounts only, when that is positive);
//   - unverified otherwise: a new Plaid account awaits bank-account
//     ownership verification (POST /api/identity_verifications).
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, _ pathParams) {
	b, err := readObject(r)
	if err != nil {
		invalidRequest(w, err)
		return
	}
	fail400 := func(code string, err error) { writeError(w, http.StatusBadRequest, code, err.Error()) }
	var missing []string
	fields := map[string]string{}
	for _, f := range []struct {
		name     string
		required bool
		min, max int
	}{
		{"name", true, 1, 128}, {"account_kind", true, 1, 64}, {"customer_guid", false, 32, 32},
		{"asset", false, 1, 8}, {"plaid_public_token", true, 1, 128}, {"plaid_account_id", true, 1, 128},
	} {
		v, ok, err := b.str(f.name)
		if err != nil {
			fail400("invalid_value", err)
			return
		}
		if !ok {
			if f.required {
				missing = append(missing, f.name)
			}
			continue
		}
		if err := checkLen(f.name, v, f.min, f.max); err != nil {
			fail400("invalid_value", err)
			return
		}
		fields[f.name] = v
	}
	if kind, ok := fields["account_kind"]; ok {
		if err := oneOf("account_kind", kind, "plaid", "plaid_processor_token", "raw_routing_details"); err != nil {
			fail400("invalid_value", err)
			return
		}
		if kind != "plaid" {
			unprocessable(w, "unsupported_value", "Unable to process request: account_kind "+kind+" is not supported by the simulator; use plaid")
			return
		}
	}
	if len(missing) > 0 {
		fail400("missing_parameter", errorf("Missing parameter. Required: %s", strings.Join(missing, ", ")))
		return
	}
	asset := fields["asset"]
	if asset == "" {
		asset = "USD"
	}
	if asset != "USD" {
		unprocessable(w, "unsupported_value", "Unable to process request: asset "+asset+" is not supported by this bank; supported: USD")
		return
	}
	custGUID, hasCust := fields["customer_guid"]
	if !hasCust {
		custGUID = tokenCustomer(r) // "" with a bank token: a bank-level account
	}
	now := s.now()
	s.mu.Lock()
	cstate := "verified" // a bank-level account needs no customer
	if custGUID != "" {
		cstate = ""
		if s.customerVisibleLocked(r, custGUID) {
			cstate = s.customerByID[custGUID].state
		}
	}
	sc := s.scenario
	if cstate == "verified" {
		s.consumeAccountFailureLocked()
	}
	s.mu.Unlock()
	if cstate == "" {
		unprocessable(w, "no_customer", "Unable to process request: InvalidCustomer - Customer not found: "+custGUID)
		return
	}
	if cstate != "verified" {
		unprocessable(w, "unverified_customer", "Unable to process request: customer "+custGUID+" is "+cstate+"; only verified customers can add external bank accounts")
		return
	}

	a := &accountRec{
		guid: randomGUID(), name: fields["name"], asset: asset, customerGUID: custGUID,
		plaidAccountID: fields["plaid_account_id"], createdAt: now, updatedAt: now, state: stateStoring,
	}
	due := now.Add(sc.AccountDelay)
	outcome := transition{at: due, state: stateUnverified}
	switch {
	case sc.AccountFailureCode != "":
		outcome.state, outcome.failureCode = stateFailed, sc.AccountFailureCode
	default:
		// The public token is a secret: it is used here and never stored or logged.
		it, err := s.plaid.ExchangePublicToken(fields["plaid_public_token"])
		switch {
		case err != nil:
			s.log.Info("cybridsim: public token exchange failed", "external_bank_account_guid", a.guid, "error", err)
			outcome.state, outcome.failureCode = stateFailed, FailurePlaidProcessorToken
		case len(it.Accounts) > 1:
			outcome.state, outcome.failureCode = stateFailed, FailurePlaidMultipleAccounts
		default:
			var acct *plaidsim.Account
			for i := range it.Accounts {
				if it.Accounts[i].ID == a.plaidAccountID {
					acct = &it.Accounts[i]
				}
			}
			if acct == nil {
				outcome.state, outcome.failureCode = stateFailed, FailurePlaidProcessorToken
				s.log.Info("cybridsim: plaid_account_id is not an account of the item", "external_bank_account_guid", a.guid)
				break
			}
			a.details = true
			a.itemID, a.institutionID, a.mask, a.plaidName = it.ItemID, it.InstitutionID, acct.Mask, acct.Name
		}
	}

	s.mu.Lock()
	s.advanceLocked(now)
	if outcome.state == stateUnverified {
		for _, o := range s.accounts {
			if o.customerGUID == a.customerGUID && o.details && o.institutionID == a.institutionID && o.mask == a.mask &&
				o.liveLocked() {
				outcome.state, outcome.failureCode = stateFailed, FailureDuplicate
				break
			}
		}
	}
	a.pending = []transition{outcome}
	a.seq = s.nextSeqLocked()
	s.accounts[a.guid] = a
	s.advanceLocked(now)
	out := s.accountJSONLocked(a)
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: external bank account created", "external_bank_account_guid", a.guid, "customer_guid", custGUID,
		"outcome", outcome.state, "failure_code", outcome.failureCode, "due_in", sc.AccountDelay)
	writeJSON(w, http.StatusCreated, out)
}

// visibleAccountLocked returns the account guid if the request may see it,
// else nil (caller holds s.mu).
func (s *Server) visibleAccountLocked(r *http.Request, guid string) *accountRec {
	if a := s.accounts[guid]; a != nil && visible(r, a.customerGUID) {
		return a
	}
	return nil
}

// liveLocked reports whether the account counts for duplicate detection: it
// exists or will exist (not failed, deleting or deleted, and not about to
// fail).
func (a *accountRec) liveLocked() bool {
	switch a.state {
	case stateFailed, stateDeleting, stateDeleted:
		return false
	}
	for _, t := range a.pending {
		if t.state == stateFailed || t.state == stateDeleting || t.state == stateDeleted {
			return false
		}
	}
	return true
}

// getAccount serves GET /api/external_bank_accounts/{guid} with
// include_pii (needs external_bank_accounts:pii:read) and include_balances /
// force_balance_refresh. Balances of a refresh_required account cannot be
// read: 422 "Bank account refresh required", as the spec describes. A query
// parameter that is not true/false answers 400 invalid_value, as on every
// endpoint (the spec documents no status for it here).
func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, p pathParams) {
	q := r.URL.Query()
	pii, ok := includePII(w, r, "external_bank_accounts:pii:read")
	if !ok {
		return
	}
	bal, err := parseBoolParam(q, "include_balances")
	if err == nil {
		_, err = parseBoolParam(q, "force_balance_refresh")
	}
	if err != nil {
		invalidRequest(w, err)
		return
	}
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	a := s.visibleAccountLocked(r, p["guid"])
	if a == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "ExternalBankAccount not found: "+p["guid"])
		return
	}
	if bal && a.state == stateRefreshRequired {
		s.mu.Unlock()
		unprocessable(w, "refresh_required", "Bank account refresh required")
		return
	}
	out := s.accountJSONLocked(a)
	if pii {
		out.PII = s.accountPIILocked(a)
	}
	if bal && (a.state == stateCompleted || a.state == stateUnverified) {
		h := fnv.New32a()
		h.Write([]byte(a.guid))
		avail := int64(h.Sum32()%5_000_000) + 10_000
		cur := avail + int64(h.Sum32()%20_000)
		out.Balances = &balancesJSON{Available: &avail, Current: &cur}
		out.BalanceUpdatedAt = strPtr(ts(now))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// listAccounts serves GET /api/external_bank_accounts: page, per_page and
// comma-separated guid, bank_guid, customer_guid, counterparty_guid (newer
// clients, e.g. 0.126; the simulator's accounts have no counterparty, so it
// matches none), asset, state. A customer token lists only its customer's
// accounts.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, _ pathParams) {
	lp, err := parseList(r.URL.Query(), "guid", "bank_guid", "customer_guid", "counterparty_guid", "asset", "state")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	s.mu.Lock()
	s.advanceLocked(s.now())
	var items []*accountRec
	for _, a := range s.accounts {
		if visible(r, a.customerGUID) && lp.keep("guid", a.guid) && lp.keep("bank_guid", s.bankGUID) &&
			lp.keep("customer_guid", a.customerGUID) && lp.keep("counterparty_guid", "") &&
			lp.keep("asset", a.asset) && lp.keep("state", a.state) {
			items = append(items, a)
		}
	}
	pg, total := pageOf(items, lp)
	objs := make([]accountJSON, 0, len(pg))
	for _, a := range pg {
		objs = append(objs, s.accountJSONLocked(a))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listEnvelope{Total: total, Page: lp.page, PerPage: lp.perPage, Objects: objs})
}

// patchAccount serves PATCH /api/external_bank_accounts/{guid} with
// {state: completed|refresh_required, name}. state completed yields
// completed when the account's ownership was verified before, else
// unverified. Only completed, unverified and refresh_required accounts can
// be patched. The spec documents no 400 for this operation; the simulator
// answers a malformed body like every other endpoint (400 missing_parameter
// or invalid_value, see invalidRequest) and an account in another state with
// 400 invalid_parameter "Invalid state…", as the spec's example for
// PATCH /api/customers does.
func (s *Server) patchAccount(w http.ResponseWriter, r *http.Request, p pathParams) {
	b, err := readObject(r)
	if err != nil {
		invalidRequest(w, err)
		return
	}
	state, hasState, err := b.str("state")
	if err == nil && hasState {
		err = oneOf("state", state, stateCompleted, stateRefreshRequired)
	}
	name, hasName, err2 := b.str("name")
	if err == nil {
		err = err2
	}
	if err == nil && hasName {
		err = checkLen("name", name, 1, 128)
	}
	if err == nil && !hasState && !hasName {
		err = missingParams{"state (completed or refresh_required) or name"}
	}
	if err != nil {
		invalidRequest(w, err)
		return
	}
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	a := s.visibleAccountLocked(r, p["guid"])
	if a == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "ExternalBankAccount not found: "+p["guid"])
		return
	}
	switch a.state {
	case stateCompleted, stateUnverified, stateRefreshRequired:
	default:
		st := a.state
		s.mu.Unlock()
		badRequest(w, errorf("Invalid state. external bank account %s is %s; only completed, unverified or refresh_required accounts can be changed", p["guid"], st))
		return
	}
	if hasState {
		switch {
		case state == stateRefreshRequired:
			a.state = stateRefreshRequired
		case a.verified:
			a.state = stateCompleted
		default:
			a.state = stateUnverified
		}
	}
	if hasName {
		a.name = name
	}
	a.updatedAt = now
	out := s.accountJSONLocked(a)
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: external bank account patched", "external_bank_account_guid", a.guid, "state", out.State)
	writeJSON(w, http.StatusOK, out)
}

// deleteAccount serves DELETE /api/external_bank_accounts/{guid}: 200 with
// the account in deleting; it becomes deleted after the scenario's
// AccountDelay. Deleting a deleting or deleted account returns it unchanged.
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, p pathParams) {
	now := s.now()
	s.mu.Lock()
	s.advanceLocked(now)
	a := s.visibleAccountLocked(r, p["guid"])
	if a == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "ExternalBankAccount not found: "+p["guid"])
		return
	}
	if a.state != stateDeleting && a.state != stateDeleted {
		a.state, a.updatedAt = stateDeleting, now
		a.pending = []transition{{at: now.Add(s.scenario.AccountDelay), state: stateDeleted, failureCode: a.failureCode}}
	}
	out := s.accountJSONLocked(a)
	s.mu.Unlock()
	s.changed()
	s.log.Info("cybridsim: external bank account deleting", "external_bank_account_guid", a.guid)
	writeJSON(w, http.StatusOK, out)
}
