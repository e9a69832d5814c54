package linkflow

// The shapes Plaid Link's web SDK hands to its callbacks (see the
// react-plaid-link TypeScript types). The page forwards them unchanged.

// Institution is Plaid's {name, institution_id}.
type Institution struct {
	Name          string `json:"name"`
	InstitutionID string `json:"institution_id"`
}

// PlaidAccount is one entry of onSuccess metadata.accounts.
type PlaidAccount struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	Mask               *string `json:"mask"`
	Type               string  `json:"type"`
	Subtype            string  `json:"subtype"`
	VerificationStatus *string `json:"verification_status"`
	ClassType          *string `json:"class_type"`
}

// SuccessMetadata is onSuccess's second argument.
type SuccessMetadata struct {
	Institution    *Institution   `json:"institution"`
	Accounts       []PlaidAccount `json:"accounts"`
	LinkSessionID  string         `json:"link_session_id"`
	TransferStatus *string        `json:"transfer_status"`
}

// LinkError is onExit's first argument when something went wrong.
type LinkError struct {
	ErrorType      string  `json:"error_type"`
	ErrorCode      string  `json:"error_code"`
	ErrorMessage   string  `json:"error_message"`
	DisplayMessage *string `json:"display_message"`
}

// ExitMetadata is onExit's second argument.
type ExitMetadata struct {
	Institution   *Institution `json:"institution"`
	Status        *string      `json:"status"`
	LinkSessionID string       `json:"link_session_id"`
	RequestID     string       `json:"request_id"`
}

// exitStatusText says, for an onExit status, where the user left Link.
var exitStatusText = map[string]string{
	"requires_questions":         "at the security questions",
	"requires_selections":        "at the multiple-choice security step",
	"requires_code":              "at the one-time code",
	"choose_device":              "while choosing where to send a code",
	"requires_credentials":       "at the bank sign-in",
	"requires_account_selection": "at the account selection",
	"requires_oauth":             "at the bank's own sign-in page (OAuth)",
	"institution_not_found":      "while searching for the bank",
	"institution_not_supported":  "because the bank is not supported",
}
