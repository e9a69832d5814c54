package plaidsim

import "strings"

// Institution health / support, which decides what Link does after the user
// selects the institution.
const (
	healthOK          = "healthy"
	healthDegraded    = "degraded"    // works, Link shows a warning
	healthDown        = "down"        // Link refuses with INSTITUTION_DOWN
	healthUnsupported = "unsupported" // Link refuses with INSTITUTION_NOT_SUPPORTED
)

// institution is one of Plaid's Sandbox institutions.
type institution struct {
	ID       string         `json:"institution_id"`
	Name     string         `json:"name"`
	OAuth    bool           `json:"oauth"`
	Health   string         `json:"health"`
	Color    string         `json:"color"` // brand colour for the logo disc
	URL      string         `json:"url"`
	Accounts []accountShape `json:"-"`
	// RefusesEmbedded: the bank's OAuth page refuses to run inside an
	// app's embedded view, as Plaid documents Chase may (its in-process
	// webview notice). The simulated bank page tells by the user agent,
	// where linkdesk's pop-up names itself ("linkdesk", as Android's
	// webview adds "wv"): it shows the bank's own "open this in your
	// browser" message, and Link reports FAIL_OAUTH. In a browser it signs
	// in as usual.
	RefusesEmbedded bool `json:"refuses_embedded,omitempty"`
}

// accountShape is an account an item at the institution will have; ids are
// generated per item, as Plaid does.
type accountShape struct{ Name, Mask, Type, Subtype string }

var (
	acctChecking    = accountShape{"Plaid Checking", "0000", "depository", "checking"}
	acctSaving      = accountShape{"Plaid Saving", "1111", "depository", "savings"}
	acctMoneyMarket = accountShape{"Plaid Money Market", "4444", "depository", "money market"}
	acctCD          = accountShape{"Plaid CD", "2222", "depository", "cd"}
)

// institutions are the Sandbox institutions (Plaid's Sandbox docs), in the
// order Link lists them.
var institutions = []institution{
	{ID: "ins_109508", Name: "First Platypus Bank", Color: "#0a7d53", URL: "firstplatypus.example", Accounts: []accountShape{acctChecking, acctSaving, acctMoneyMarket}},
	{ID: "ins_130016", Name: "First Platypus Balance Bank", Color: "#13795b", URL: "balance.firstplatypus.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_109509", Name: "First Gingham Credit Union", Color: "#b0413e", URL: "gingham.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_109510", Name: "Tattersall Federal Credit Union", Color: "#6a4c93", URL: "tattersall.example", Accounts: []accountShape{acctChecking, acctSaving, acctCD}},
	{ID: "ins_109511", Name: "Tartan Bank", Color: "#1f4e8c", URL: "tartan.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_109512", Name: "Houndstooth Bank", Color: "#333333", URL: "houndstooth.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_127287", Name: "Platypus OAuth Bank", OAuth: true, Color: "#0b5cab", URL: "oauth.platypus.example", Accounts: []accountShape{acctChecking, acctSaving, acctMoneyMarket}},
	// Every production institution is in Plaid's Sandbox too; Chase's
	// OAuth page refuses embedded views (see RefusesEmbedded).
	{ID: "ins_56", Name: "Chase", OAuth: true, RefusesEmbedded: true, Color: "#117aca", URL: "chase.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_132363", Name: "Unhealthy Platypus Bank - Degraded", Health: healthDegraded, Color: "#c77c02", URL: "degraded.platypus.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_132361", Name: "Unhealthy Platypus Bank - Down", Health: healthDown, Color: "#8a8a8a", URL: "down.platypus.example", Accounts: []accountShape{acctChecking, acctSaving}},
	{ID: "ins_133402", Name: "Unsupported Platypus Bank", Health: healthUnsupported, Color: "#777777", URL: "unsupported.platypus.example", Accounts: []accountShape{acctChecking, acctSaving}},
}

func init() {
	for i := range institutions {
		if institutions[i].Health == "" {
			institutions[i].Health = healthOK
		}
	}
}

// institutionByID returns the institution with that id, or nil.
func institutionByID(id string) *institution {
	for i := range institutions {
		if institutions[i].ID == id {
			return &institutions[i]
		}
	}
	return nil
}

// newAccounts gives a fresh item at ins its accounts, with random ids.
func (ins *institution) newAccounts() []Account {
	out := make([]Account, len(ins.Accounts))
	for i, a := range ins.Accounts {
		out[i] = Account{ID: newPlaidID(37), Name: a.Name, Mask: a.Mask, Type: a.Type, Subtype: a.Subtype, IsoCurrencyCode: "USD"}
	}
	return out
}

// sandboxErrorType maps a Plaid error code (as forced with the Sandbox
// password error_<CODE>) to its error_type.
func sandboxErrorType(code string) string {
	switch {
	case strings.HasPrefix(code, "INSTITUTION_"):
		return "INSTITUTION_ERROR"
	case code == "INTERNAL_SERVER_ERROR" || code == "PLANNED_MAINTENANCE":
		return "API_ERROR"
	case code == "COUNTRY_NOT_SUPPORTED":
		return "INVALID_INPUT"
	case code == "RECAPTCHA_BAD" || code == "RECAPTCHA_REQUIRED":
		return "RECAPTCHA_ERROR"
	}
	return "ITEM_ERROR"
}

// sandboxErrorMessages are Plaid's error_message / display_message texts for
// the codes the Sandbox can force.
var sandboxErrorMessages = map[string][2]string{
	"INVALID_CREDENTIALS":              {"the provided credentials were not correct", "The provided credentials were not correct. Please try again."},
	"INVALID_MFA":                      {"the provided MFA response(s) were not correct", "The provided MFA responses were not correct. Please try again."},
	"ITEM_LOCKED":                      {"the account is locked. prompt the user to visit the institution's site and unlock their account", "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account."},
	"INSUFFICIENT_CREDENTIALS":         {"insufficient authorization was provided to complete the request", "INSUFFICIENT_CREDENTIALS"},
	"ITEM_NOT_SUPPORTED":               {"this account is currently not supported", "The given account is not currently supported for this financial institution. We apologize for the inconvenience."},
	"MFA_NOT_SUPPORTED":                {"this account requires a type of MFA that is not currently supported", "The multi-factor security features enabled on this account are not currently supported for this financial institution. We apologize for the inconvenience."},
	"NO_ACCOUNTS":                      {"no valid accounts were found for this item", "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available."},
	"USER_SETUP_REQUIRED":              {"the account has not been fully set up. prompt the user to visit the issuing institution's site to finish the setup process", "The given account requires additional setup with the financial institution. Please visit your financial institution's website to finish setting up your account."},
	"INVALID_SEND_METHOD":              {"the provided MFA send_method was invalid", ""},
	"INSTITUTION_DOWN":                 {"this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	"INSTITUTION_NOT_RESPONDING":       {"this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	"INSTITUTION_NO_LONGER_SUPPORTED":  {"this institution is no longer supported", "This financial institution is no longer supported. We apologize for the inconvenience."},
	"INSTITUTION_NOT_SUPPORTED":        {"this institution is not currently supported", "This financial institution is not currently supported. We apologize for the inconvenience."},
	"INSTITUTION_NOT_AVAILABLE":        {"this institution is not currently responding to this request. please try again soon", "This financial institution is not currently responding to requests. We apologize for the inconvenience."},
	"INTERNAL_SERVER_ERROR":            {"an unexpected error occurred", "Something went wrong. Please try again later."},
	"PLANNED_MAINTENANCE":              {"the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information", ""},
	"COUNTRY_NOT_SUPPORTED":            {"this institution is not supported in the requested country", ""},
	"RECAPTCHA_BAD":                    {"the provided challenge string was incorrect", ""},
	"INVALID_LINK_TOKEN":               {"invalid link_token provided", ""},
	"OAUTH_STATE_ID_NOT_FOUND":         {"the provided oauth_state_id wasn't found", ""},
	"OAUTH_STATE_ID_ALREADY_PROCESSED": {"the provided oauth_state_id has already been processed", ""},
}

// linkError is Plaid's error object as passed to onExit and ERROR events.
type linkError struct {
	ErrorType      string  `json:"error_type"`
	ErrorCode      string  `json:"error_code"`
	ErrorMessage   string  `json:"error_message"`
	DisplayMessage *string `json:"display_message"`
}

// newLinkError builds the error object for code, with Plaid's messages.
func newLinkError(errType, code string) *linkError {
	m, ok := sandboxErrorMessages[code]
	if !ok {
		m = [2]string{strings.ToLower(strings.ReplaceAll(code, "_", " ")), ""}
	}
	e := &linkError{ErrorType: errType, ErrorCode: code, ErrorMessage: m[0]}
	if m[1] != "" {
		d := m[1]
		e.DisplayMessage = &d
	}
	return e
}

// retryable reports whether Link keeps the user on the same pane (with an
// inline error) rather than ending at the error pane.
func retryable(code string) bool {
	return code == "INVALID_CREDENTIALS" || code == "INVALID_MFA" || code == "INSUFFICIENT_CREDENTIALS"
}
