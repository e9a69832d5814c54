package cybrid

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// VerificationState is an identity verification's state. Values the spec
// adds later are kept as they come.
type VerificationState string

// Identity verification states (spec IdentityVerificationState).
const (
	VerificationStoring   VerificationState = "storing"
	VerificationWaiting   VerificationState = "waiting" // e.g. manual review; sandbox stays here without expected_behaviours
	VerificationPending   VerificationState = "pending"
	VerificationReviewing VerificationState = "reviewing"
	VerificationExpired   VerificationState = "expired"
	VerificationCompleted VerificationState = "completed" // see Outcome
)

// Identity verification outcomes (spec IdentityVerificationOutcome).
const (
	VerificationPassed = "passed"
	VerificationFailed = "failed"
)

// The type and method that verify the ownership of a linked bank account.
const (
	VerificationTypeBankAccount        = "bank_account"
	VerificationMethodAccountOwnership = "account_ownership"
)

// Sandbox-only expected behaviours (spec PostIdentityVerification.expected_behaviours).
const (
	ExpectPassedImmediately = "passed_immediately"
	ExpectFailedImmediately = "failed_immediately"
)

// PostIdentityVerification is the body of POST /api/identity_verifications
// for the fields a bank-account ownership check uses.
type PostIdentityVerification struct {
	Type                    string `json:"type"`             // e.g. bank_account
	Method                  string `json:"method,omitempty"` // e.g. account_ownership
	CustomerGUID            string `json:"customer_guid,omitempty"`
	ExternalBankAccountGUID string `json:"external_bank_account_guid,omitempty"`
	// ExpectedBehaviours steer the sandbox (e.g. passed_immediately); the
	// production API ignores or refuses them.
	ExpectedBehaviours []string `json:"expected_behaviours,omitempty"`
}

// IdentityVerification is an identity verification (spec
// IdentityVerification; GetIdentityVerification's WithDetails extras that
// matter here are PersonaInquiryID and PersonaState).
type IdentityVerification struct {
	GUID                    string               `json:"guid"`
	Type                    string               `json:"type,omitempty"`
	Method                  string               `json:"method,omitempty"`
	CreatedAt               time.Time            `json:"created_at,omitzero"`
	UpdatedAt               time.Time            `json:"updated_at,omitzero"`
	CustomerGUID            string               `json:"customer_guid,omitempty"`
	CounterpartyGUID        string               `json:"counterparty_guid,omitempty"`
	ExternalBankAccountGUID string               `json:"external_bank_account_guid,omitempty"`
	State                   VerificationState    `json:"state,omitempty"`
	Outcome                 string               `json:"outcome,omitempty"` // passed or failed, once completed
	FailureCodes            []string             `json:"failure_codes,omitempty"`
	ComplianceDecisions     []ComplianceDecision `json:"compliance_decisions,omitempty"`
	PersonaInquiryID        string               `json:"persona_inquiry_id,omitempty"`
	PersonaState            string               `json:"persona_state,omitempty"`
}

// CreateIdentityVerification starts a verification: POST
// /api/identity_verifications, 201. For a linked account in state
// unverified: Type bank_account, Method account_ownership, CustomerGUID and
// ExternalBankAccountGUID; poll GetIdentityVerification until completed.
// Scope: identity_verifications:execute.
func (c *Client) CreateIdentityVerification(ctx context.Context, in PostIdentityVerification) (IdentityVerification, error) {
	const op = "CreateIdentityVerification"
	if in.Type == "" {
		return IdentityVerification{}, fmt.Errorf("cybrid: %s: type is required (bank_account for an ownership check): %w", op, ErrInvalidArgument)
	}
	if err := checkOptionalGUID(op, "customer_guid", in.CustomerGUID); err != nil {
		return IdentityVerification{}, err
	}
	if err := checkOptionalGUID(op, "external_bank_account_guid", in.ExternalBankAccountGUID); err != nil {
		return IdentityVerification{}, err
	}
	if in.Type == VerificationTypeBankAccount && in.ExternalBankAccountGUID == "" {
		return IdentityVerification{}, fmt.Errorf("cybrid: %s: a bank_account verification needs the external_bank_account_guid: %w", op, ErrInvalidArgument)
	}
	var out IdentityVerification
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/identity_verifications", body: in, scope: "identity_verifications:execute"}, &out)
	return out, err
}

// GetIdentityVerification reads a verification: GET
// /api/identity_verifications/{guid}. Scope: identity_verifications:read.
func (c *Client) GetIdentityVerification(ctx context.Context, guid string) (IdentityVerification, error) {
	if err := checkGUID("GetIdentityVerification", "identity verification guid", guid); err != nil {
		return IdentityVerification{}, err
	}
	var out IdentityVerification
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/identity_verifications/" + guid, scope: "identity_verifications:read"}, &out)
	return out, err
}
