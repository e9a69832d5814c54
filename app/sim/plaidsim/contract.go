package plaidsim

// This file is the contract between the simulated Plaid (this package) and the
// simulated Cybrid API (package cybridsim), which plays the part of Cybrid's
// backend calling Plaid's API (/link/token/create, /item/public_token/exchange).
// cybridsim depends on these declarations only; keep them stable.

import "time"

// LinkTokenRequest is what Cybrid's backend sends Plaid when a workflow of type
// plaid is created (kind link_token_create or link_token_update).
type LinkTokenRequest struct {
	CustomerGUID          string
	Language              string // en, fr, es, nl, de
	LinkCustomizationName string
	RedirectURI           string // "" when none was given
	// UpdateItemID is set for update mode (kind link_token_update): the Plaid
	// item behind the external bank account being refreshed.
	UpdateItemID string
}

// LinkToken is an issued Plaid link token.
type LinkToken struct {
	Token      string    // "link-sandbox-<uuid>"
	Expiration time.Time // 4 h for a new item, 30 min in update mode
}

// Account is one account of an item, as Plaid describes it.
type Account struct {
	ID      string // plaid account id
	Name    string // e.g. "Plaid Checking"
	Mask    string // e.g. "0000"
	Type    string // "depository"
	Subtype string // "checking" | "savings"
	// IsoCurrencyCode is the account's currency (always "USD" in the simulator).
	IsoCurrencyCode string
}

// Item is what a public token stands for once exchanged.
type Item struct {
	ItemID          string
	InstitutionID   string // e.g. "ins_109508"
	InstitutionName string
	// Accounts are the accounts the user selected in Link.
	Accounts []Account
}

// Errors returned by ExchangePublicToken. cybridsim maps them onto Cybrid's
// failure codes / 422 responses.
var (
	ErrPublicTokenUnknown = errorString("plaid: INVALID_PUBLIC_TOKEN: unknown public token")
	ErrPublicTokenExpired = errorString("plaid: INVALID_PUBLIC_TOKEN: public token expired (30 min)")
	ErrPublicTokenUsed    = errorString("plaid: INVALID_PUBLIC_TOKEN: public token already exchanged")
	ErrAccountNotInItem   = errorString("plaid: INVALID_ACCOUNT_ID: account id not in item")
)

type errorString string

func (e errorString) Error() string { return string(e) }

// Backend is the part of the Plaid simulator that cybridsim calls.
// *Sim (this package) implements it; all methods are safe for concurrent use.
//
//	CreateLinkToken  — /link/token/create
//	ExchangePublicToken — /item/public_token/exchange; a public token is
//	  single-use and lives 30 minutes. In update mode Plaid still returns a
//	  public token from onSuccess, but Cybrid does not exchange it.
//	ResetLogin — /sandbox/item/reset_login: the item needs update mode.
type Backend interface {
	CreateLinkToken(req LinkTokenRequest) (LinkToken, error)
	ExchangePublicToken(publicToken string) (Item, error)
	ResetLogin(itemID string) error
}
