package cybrid

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// AccountState is an external bank account's state. Values the spec adds
// later are kept as they come.
type AccountState string

// External bank account states (spec ExternalBankAccountState).
const (
	AccountStoring         AccountState = "storing"          // being stored
	AccountCompleted       AccountState = "completed"        // created and verified
	AccountUnverified      AccountState = "unverified"       // created, ownership not yet verified
	AccountFailed          AccountState = "failed"           // could not be created; see FailureCode
	AccountRefreshRequired AccountState = "refresh_required" // needs Plaid update mode (LinkTokenUpdate)
	AccountDeleting        AccountState = "deleting"
	AccountDeleted         AccountState = "deleted"
)

// AccountKind is how an external bank account was linked.
type AccountKind string

// Account kinds (spec ExternalBankAccountKind).
const (
	AccountKindPlaid               AccountKind = "plaid"                 // Plaid Link through Cybrid's Plaid
	AccountKindPlaidProcessorToken AccountKind = "plaid_processor_token" // the partner's own Plaid
	AccountKindRawRoutingDetails   AccountKind = "raw_routing_details"
)

// PostExternalBankAccount is the body of POST /api/external_bank_accounts
// for the plaid and plaid_processor_token kinds (raw routing details are not
// supported by this client).
type PostExternalBankAccount struct {
	Name        string      `json:"name"`         // required, 1..128 characters
	AccountKind AccountKind `json:"account_kind"` // required
	// CustomerGUID owns the account; empty makes a bank-level account.
	CustomerGUID string `json:"customer_guid,omitempty"`
	// Asset is e.g. "USD"; empty uses the bank's configured fiat asset.
	Asset string `json:"asset,omitempty"`
	// PlaidPublicToken and PlaidAccountID come from Plaid Link's onSuccess
	// (required for kind plaid).
	PlaidPublicToken Secret `json:"plaid_public_token,omitempty"`
	PlaidAccountID   string `json:"plaid_account_id,omitempty"`
	// For kind plaid_processor_token.
	PlaidProcessorToken Secret `json:"plaid_processor_token,omitempty"`
	PlaidInstitutionID  string `json:"plaid_institution_id,omitempty"`
	PlaidAccountMask    string `json:"plaid_account_mask,omitempty"`
	PlaidAccountName    string `json:"plaid_account_name,omitempty"`
	CounterpartyGUID    string `json:"counterparty_guid,omitempty"`
}

// wire is the request body as sent: the same fields with the real token
// values (json.Marshal of p itself shows them as "[redacted]", so p is safe
// to log).
func (p PostExternalBankAccount) wire() any {
	return struct {
		Name                string      `json:"name"`
		AccountKind         AccountKind `json:"account_kind"`
		CustomerGUID        string      `json:"customer_guid,omitempty"`
		Asset               string      `json:"asset,omitempty"`
		PlaidPublicToken    string      `json:"plaid_public_token,omitempty"`
		PlaidAccountID      string      `json:"plaid_account_id,omitempty"`
		PlaidProcessorToken string      `json:"plaid_processor_token,omitempty"`
		PlaidInstitutionID  string      `json:"plaid_institution_id,omitempty"`
		PlaidAccountMask    string      `json:"plaid_account_mask,omitempty"`
		PlaidAccountName    string      `json:"plaid_account_name,omitempty"`
		CounterpartyGUID    string      `json:"counterparty_guid,omitempty"`
	}{p.Name, p.AccountKind, p.CustomerGUID, p.Asset, string(p.PlaidPublicToken), p.PlaidAccountID,
		string(p.PlaidProcessorToken), p.PlaidInstitutionID, p.PlaidAccountMask, p.PlaidAccountName, p.CounterpartyGUID}
}

// ExternalBankAccount is a linked bank account (spec ExternalBankAccount).
// Nullable strings are "" when null; times are zero when absent.
type ExternalBankAccount struct {
	GUID               string       `json:"guid"`
	Name               string       `json:"name,omitempty"`
	Asset              string       `json:"asset,omitempty"`
	AccountKind        AccountKind  `json:"account_kind,omitempty"`
	Environment        string       `json:"environment,omitempty"` // sandbox or production
	BankGUID           string       `json:"bank_guid,omitempty"`
	CustomerGUID       string       `json:"customer_guid,omitempty"`
	CounterpartyGUID   string       `json:"counterparty_guid,omitempty"`
	CreatedAt          time.Time    `json:"created_at,omitzero"`
	UpdatedAt          time.Time    `json:"updated_at,omitzero"`
	PlaidInstitutionID string       `json:"plaid_institution_id,omitempty"`
	PlaidAccountMask   string       `json:"plaid_account_mask,omitempty"`
	PlaidAccountName   string       `json:"plaid_account_name,omitempty"`
	State              AccountState `json:"state,omitempty"`
	// FailureCode explains a failed account, e.g. duplicate,
	// plaid_multiple_accounts, create_failed.
	FailureCode      string          `json:"failure_code,omitempty"`
	BalanceUpdatedAt time.Time       `json:"balance_updated_at,omitzero"`
	Balances         AccountBalances `json:"balances,omitzero"`
	// PII is only returned when asked for (not by this client's calls).
	PII []AccountHolder `json:"pii,omitempty"`
}

// AccountBalances are an account's balances; nil when unknown.
type AccountBalances struct {
	Available *int64 `json:"available,omitempty"`
	Current   *int64 `json:"current,omitempty"`
}

// AccountHolder is one entry of an account's pii.
type AccountHolder struct {
	Names          []string               `json:"names,omitempty"`
	Addresses      []Address              `json:"addresses,omitempty"`
	EmailAddresses []string               `json:"email_addresses,omitempty"`
	PhoneNumbers   []string               `json:"phone_numbers,omitempty"`
	AccountDetails []AccountNumber        `json:"account_details,omitempty"`
	RoutingDetails []AccountRoutingNumber `json:"routing_details,omitempty"`
}

// AccountNumber is an account number of an account holder entry.
type AccountNumber struct {
	AccountNumber string `json:"account_number"`
}

// AccountRoutingNumber is a routing number of an account holder entry.
type AccountRoutingNumber struct {
	RoutingNumberType string `json:"routing_number_type"`
	RoutingNumber     string `json:"routing_number"`
}

// ExternalBankAccountList is a page of external bank accounts.
type ExternalBankAccountList struct {
	Total   int                   `json:"total"`
	Page    int                   `json:"page"`
	PerPage int                   `json:"per_page"`
	Objects []ExternalBankAccount `json:"objects"`
}

// ListExternalBankAccountsParams filter GET /api/external_bank_accounts.
// Page is 0-based; PerPage is 1..100, 0 for the server's default. Empty
// filters are not sent. Cybrid filters on completed and unverified only for
// individual customers' accounts.
type ListExternalBankAccountsParams struct {
	Page, PerPage int
	CustomerGUID  string
	GUIDs         []string
	States        []string
}

// PatchExternalBankAccount is the body of PATCH
// /api/external_bank_accounts/{guid}. Setting State to completed after a
// Plaid update-mode session clears refresh_required (the answer says
// completed if the account is verified, else unverified).
type PatchExternalBankAccount struct {
	// State is completed or refresh_required. The spec this client is
	// checked against (v0.123) requires it.
	State AccountState `json:"state,omitempty"`
	// Name renames the account (newer API versions).
	Name string `json:"name,omitempty"`
}

// CreateExternalBankAccount links an account: POST
// /api/external_bank_accounts, 201. A new account is normally storing; poll
// GetExternalBankAccount until it is not. Scope: external_bank_accounts:execute.
func (c *Client) CreateExternalBankAccount(ctx context.Context, in PostExternalBankAccount) (ExternalBankAccount, error) {
	const op = "CreateExternalBankAccount"
	if n := len([]rune(in.Name)); n < 1 || n > 128 {
		return ExternalBankAccount{}, fmt.Errorf("cybrid: %s: name must be 1..128 characters, got %d: %w", op, n, ErrInvalidArgument)
	}
	if in.AccountKind == "" {
		return ExternalBankAccount{}, fmt.Errorf("cybrid: %s: account_kind is required (e.g. plaid): %w", op, ErrInvalidArgument)
	}
	if err := checkOptionalGUID(op, "customer_guid", in.CustomerGUID); err != nil {
		return ExternalBankAccount{}, err
	}
	if err := checkOptionalGUID(op, "counterparty_guid", in.CounterpartyGUID); err != nil {
		return ExternalBankAccount{}, err
	}
	if in.AccountKind == AccountKindPlaid && (in.PlaidPublicToken == "" || in.PlaidAccountID == "") {
		return ExternalBankAccount{}, fmt.Errorf("cybrid: %s: a plaid account needs the plaid_public_token and plaid_account_id from Plaid Link's onSuccess: %w", op, ErrInvalidArgument)
	}
	var out ExternalBankAccount
	err := c.do(ctx, request{
		method: http.MethodPost, path: "/api/external_bank_accounts", body: in.wire(),
		scope:   "external_bank_accounts:execute",
		secrets: []string{string(in.PlaidPublicToken), string(in.PlaidProcessorToken)},
	}, &out)
	return out, err
}

// GetExternalBankAccount reads an account: GET
// /api/external_bank_accounts/{guid}. Scope: external_bank_accounts:read.
func (c *Client) GetExternalBankAccount(ctx context.Context, guid string) (ExternalBankAccount, error) {
	if err := checkGUID("GetExternalBankAccount", "external bank account guid", guid); err != nil {
		return ExternalBankAccount{}, err
	}
	var out ExternalBankAccount
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/external_bank_accounts/" + guid, scope: "external_bank_accounts:read"}, &out)
	return out, err
}

// ListExternalBankAccounts lists accounts, newest first: GET
// /api/external_bank_accounts. Scope: external_bank_accounts:read.
func (c *Client) ListExternalBankAccounts(ctx context.Context, p ListExternalBankAccountsParams) (ExternalBankAccountList, error) {
	const op = "ListExternalBankAccounts"
	q, err := pageQuery(op, p.Page, p.PerPage)
	if err != nil {
		return ExternalBankAccountList{}, err
	}
	if p.CustomerGUID != "" {
		if err := checkGUID(op, "customer_guid", p.CustomerGUID); err != nil {
			return ExternalBankAccountList{}, err
		}
		q.Set("customer_guid", p.CustomerGUID)
	}
	if len(p.GUIDs) > 0 {
		s, err := guidList(op, "guid", p.GUIDs)
		if err != nil {
			return ExternalBankAccountList{}, err
		}
		q.Set("guid", s)
	}
	if len(p.States) > 0 {
		s, err := stateList(op, p.States)
		if err != nil {
			return ExternalBankAccountList{}, err
		}
		q.Set("state", s)
	}
	var out ExternalBankAccountList
	err = c.do(ctx, request{method: http.MethodGet, path: "/api/external_bank_accounts", query: q, scope: "external_bank_accounts:read"}, &out)
	return out, err
}

// PatchExternalBankAccount changes an account's state or name: PATCH
// /api/external_bank_accounts/{guid}. Scope: external_bank_accounts:write.
func (c *Client) PatchExternalBankAccount(ctx context.Context, guid string, in PatchExternalBankAccount) (ExternalBankAccount, error) {
	const op = "PatchExternalBankAccount"
	if err := checkGUID(op, "external bank account guid", guid); err != nil {
		return ExternalBankAccount{}, err
	}
	if in.State == "" && in.Name == "" {
		return ExternalBankAccount{}, fmt.Errorf("cybrid: %s: nothing to change (set State or Name): %w", op, ErrInvalidArgument)
	}
	if in.State != "" && in.State != AccountCompleted && in.State != AccountRefreshRequired {
		return ExternalBankAccount{}, fmt.Errorf("cybrid: %s: state can only be set to completed or refresh_required, not %q: %w", op, in.State, ErrInvalidArgument)
	}
	var out ExternalBankAccount
	err := c.do(ctx, request{method: http.MethodPatch, path: "/api/external_bank_accounts/" + guid, body: in, scope: "external_bank_accounts:write"}, &out)
	return out, err
}

// DeleteExternalBankAccount starts deleting an account: DELETE
// /api/external_bank_accounts/{guid}, 200 with the account (deleting, then
// deleted). Scope: external_bank_accounts:execute.
func (c *Client) DeleteExternalBankAccount(ctx context.Context, guid string) (ExternalBankAccount, error) {
	if err := checkGUID("DeleteExternalBankAccount", "external bank account guid", guid); err != nil {
		return ExternalBankAccount{}, err
	}
	var out ExternalBankAccount
	err := c.do(ctx, request{method: http.MethodDelete, path: "/api/external_bank_accounts/" + guid, scope: "external_bank_accounts:execute"}, &out)
	return out, err
}

// stateList joins state filters, refusing ones that cannot be states.
func stateList(op string, states []string) (string, error) {
	out := ""
	for i, s := range states {
		if s == "" {
			return "", fmt.Errorf("cybrid: %s: state filter %d is empty: %w", op, i, ErrInvalidArgument)
		}
		for _, ch := range s {
			if !('a' <= ch && ch <= 'z' || ch == '_') {
				return "", fmt.Errorf("cybrid: %s: state filter %q is not a state name (lowercase letters and _): %w", op, s, ErrInvalidArgument)
			}
		}
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out, nil
}
