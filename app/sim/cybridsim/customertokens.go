package cybridsim

import (
	"net/http"
	"slices"
	"strings"
)

// CustomerScopes are the scopes a customer token may carry: the
// PostCustomerToken.scopes enum of Cybrid's identity spec, plus the values
// newer clients list (accounts:write, transactions:read, the write scopes of
// external wallets, deposit addresses and deposit bank accounts,
// sardine_sessions:execute, plans:* and executions:*). Bank- and
// organization-only scopes (banks:*, customers:execute, …) are not among
// them.
var CustomerScopes = []string{
	"counterparties:read", "counterparties:pii:read", "counterparties:write", "counterparties:execute",
	"customers:read", "customers:pii:read", "customers:write",
	"accounts:read", "accounts:write", "accounts:execute",
	"prices:read", "quotes:read", "quotes:execute", "trades:read", "trades:execute",
	"transactions:read", "transfers:read", "transfers:write", "transfers:execute",
	"external_bank_accounts:read", "external_bank_accounts:pii:read",
	"external_bank_accounts:write", "external_bank_accounts:execute",
	"external_wallets:read", "external_wallets:write", "external_wallets:execute",
	"workflows:read", "workflows:execute",
	"deposit_addresses:read", "deposit_addresses:write", "deposit_addresses:execute",
	"deposit_bank_accounts:read", "deposit_bank_accounts:write", "deposit_bank_accounts:execute",
	"invoices:read", "invoices:write", "invoices:execute",
	"identity_verifications:read", "identity_verifications:pii:read",
	"identity_verifications:write", "identity_verifications:execute",
	"persona_sessions:execute", "sardine_sessions:execute",
	"plans:read", "plans:execute", "executions:read", "executions:execute",
}

// customerTokenJSON is the identity spec's CustomerToken schema.
type customerTokenJSON struct {
	AccessToken string `json:"access_token"`
}

// createCustomerToken serves POST /api/customer_tokens (identity API): a bank
// token with customers:write and customers:read mints an access token for
// one customer of the bank, body {customer_guid, scopes[]}; 201
// {access_token}.
//
// The token is a JWT with sub = the customer GUID and sub_type customer
// (what Cybrid's web SDK requires), the requested scopes and the bank token's
// lifetime. Every call made with it is confined to that customer: another
// customer's records answer as if they did not exist (see visible), and it
// cannot mint customer tokens itself (401 invalid_subject, "Required: bank").
//
// Errors: 403 invalid_scopes when the bank token lacks customers:write or
// customers:read; 422 no_customer "Unknown customer" for a customer GUID the
// bank does not have (the spec's example). The spec documents no 400; a
// malformed body answers 400 missing_parameter / invalid_value as on the
// bank API.
func (s *Server) createCustomerToken(w http.ResponseWriter, r *http.Request, _ pathParams) {
	b, err := readObject(r)
	if err != nil {
		invalidRequest(w, err)
		return
	}
	cust, hasCust, err := b.str("customer_guid")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	scopes, err := b.strings("scopes")
	if err != nil {
		invalidRequest(w, err)
		return
	}
	var missing missingParams
	if !hasCust {
		missing = append(missing, "customer_guid")
	}
	if scopes == nil {
		missing = append(missing, "scopes")
	}
	if len(missing) > 0 {
		invalidRequest(w, missing)
		return
	}
	if err := checkLen("customer_guid", cust, 32, 32); err != nil {
		invalidRequest(w, err)
		return
	}
	if len(scopes) == 0 {
		invalidRequest(w, errorf("Invalid value. scopes must list at least one scope, e.g. [\"customers:read\", \"external_bank_accounts:read\"]"))
		return
	}
	var order []string
	for _, sc := range scopes {
		if !slices.Contains(CustomerScopes, sc) {
			invalidRequest(w, errorf("Invalid value. scopes: %q cannot be granted to a customer token; customer scopes are %s", sc, strings.Join(CustomerScopes, ", ")))
			return
		}
		if slices.Contains(order, sc) {
			invalidRequest(w, errorf("Invalid value. scopes must not repeat a scope, got %q twice", sc))
			return
		}
		order = append(order, sc)
	}
	now := s.now()
	s.mu.Lock()
	if s.customerByID[cust] == nil {
		s.mu.Unlock()
		unprocessable(w, "no_customer", "Unknown customer: "+cust+" is not a customer of bank "+s.bankGUID)
		return
	}
	granted := map[string]bool{}
	for _, sc := range order {
		granted[sc] = true
	}
	tok := s.mintJWT(cust, subjectCustomer, order, map[string]string{"bank_guid": s.bankGUID, "bank_type": "sandbox"}, now)
	s.pruneTokensLocked(now)
	s.tokens[tok] = tokenRec{scopes: granted, expires: now.Add(s.opts.TokenLifetime), subType: subjectCustomer, customer: cust}
	s.mu.Unlock()
	s.log.Info("cybridsim: customer token issued", "customer_guid", cust, "scopes", len(order), "expires_in", s.opts.TokenLifetime)
	writeJSON(w, http.StatusCreated, customerTokenJSON{AccessToken: tok})
}
