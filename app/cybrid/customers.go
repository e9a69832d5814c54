package cybrid

import (
	"context"
	"net/http"
	"time"
)

// CustomerState is a customer's state. Values the spec adds later are kept
// as they come.
type CustomerState string

// Customer states (spec CustomerState).
const (
	CustomerStoring    CustomerState = "storing"
	CustomerUnverified CustomerState = "unverified" // identity not yet verified
	CustomerVerified   CustomerState = "verified"
	CustomerRejected   CustomerState = "rejected"
	CustomerFrozen     CustomerState = "frozen"
)

// Customer is a bank's customer (spec Customer). Name, Address, Aliases,
// Website, DateOfBirth, PhoneNumber, EmailAddress and IdentificationNumbers
// are personal data, returned only when asked for with includePII.
// Nullable strings are "" when null; times are zero when absent.
type Customer struct {
	GUID                  string                 `json:"guid"`
	BankGUID              string                 `json:"bank_guid,omitempty"`
	Type                  string                 `json:"type,omitempty"` // business or individual
	CreatedAt             time.Time              `json:"created_at,omitzero"`
	UpdatedAt             time.Time              `json:"updated_at,omitzero"`
	State                 CustomerState          `json:"state,omitempty"`
	Name                  PersonName             `json:"name,omitzero"`
	Address               Address                `json:"address,omitzero"`
	Aliases               []PersonName           `json:"aliases,omitempty"`
	Website               string                 `json:"website,omitempty"`
	DateOfBirth           string                 `json:"date_of_birth,omitempty"` // YYYY-MM-DD
	PhoneNumber           string                 `json:"phone_number,omitempty"`
	EmailAddress          string                 `json:"email_address,omitempty"`
	Labels                []string               `json:"labels,omitempty"`
	ComplianceDecisions   []ComplianceDecision   `json:"compliance_decisions,omitempty"`
	IdentificationNumbers []IdentificationNumber `json:"identification_numbers,omitempty"`
	ActivityLimits        []ActivityLimit        `json:"activity_limits,omitempty"`
}

// PersonName is a customer's name or alias.
type PersonName struct {
	First  string `json:"first,omitempty"`
	Middle string `json:"middle,omitempty"`
	Last   string `json:"last,omitempty"`
	Full   string `json:"full,omitempty"`
}

// Address is a postal address (customers and account holders).
type Address struct {
	Street      string `json:"street,omitempty"`
	Street2     string `json:"street2,omitempty"`
	City        string `json:"city,omitempty"`
	Subdivision string `json:"subdivision,omitempty"`
	PostalCode  string `json:"postal_code,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
}

// ComplianceDecision is the outcome of one verification check, e.g. type
// external_bank_account_verification with state passed.
type ComplianceDecision struct {
	Type         string   `json:"type"`
	State        string   `json:"state"` // passed, failed, expired or invalidated
	FailureCodes []string `json:"failure_codes,omitempty"`
}

// IdentificationNumber is a customer's identification number (PII).
type IdentificationNumber struct {
	Type                 string `json:"type"`
	IssuingCountryCode   string `json:"issuing_country_code"`
	IdentificationNumber string `json:"identification_number"`
}

// ActivityLimit is a limit on a customer's activity.
type ActivityLimit struct {
	Type       string   `json:"type,omitempty"` // rolling, daily, weekly or monthly
	Name       string   `json:"name,omitempty"`
	Asset      string   `json:"asset,omitempty"`
	Amount     int64    `json:"amount"`
	Interval   *int64   `json:"interval,omitempty"` // seconds
	Activities []string `json:"activities,omitempty"`
	Sides      []string `json:"sides,omitempty"`
}

// CustomerList is a page of customers.
type CustomerList struct {
	Total   int        `json:"total"`
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
	Objects []Customer `json:"objects"`
}

// ListCustomersParams filter GET /api/customers. Page is 0-based; PerPage is
// 1..100, 0 for the server's default. Empty filters are not sent.
// IncludePII sends include_pii=true, which newer API versions honour on
// lists (the v0.123 spec documents it only on GetCustomer).
type ListCustomersParams struct {
	Page, PerPage int
	GUIDs         []string
	BankGUID      string
	IncludePII    bool
}

// GetCustomer reads a customer: GET /api/customers/{guid}, with
// include_pii=true when includePII. Scopes: customers:read, and
// customers:pii:read for includePII.
func (c *Client) GetCustomer(ctx context.Context, guid string, includePII bool) (Customer, error) {
	if err := checkGUID("GetCustomer", "customer guid", guid); err != nil {
		return Customer{}, err
	}
	r := request{method: http.MethodGet, path: "/api/customers/" + guid, scope: "customers:read"}
	if includePII {
		r.query = map[string][]string{"include_pii": {"true"}}
		r.scope = "customers:pii:read"
	}
	var out Customer
	err := c.do(ctx, r, &out)
	return out, err
}

// ListCustomers lists customers, newest first: GET /api/customers.
// Scopes: customers:read, and customers:pii:read for IncludePII.
func (c *Client) ListCustomers(ctx context.Context, p ListCustomersParams) (CustomerList, error) {
	const op = "ListCustomers"
	q, err := pageQuery(op, p.Page, p.PerPage)
	if err != nil {
		return CustomerList{}, err
	}
	if len(p.GUIDs) > 0 {
		s, err := guidList(op, "guid", p.GUIDs)
		if err != nil {
			return CustomerList{}, err
		}
		q.Set("guid", s)
	}
	if p.BankGUID != "" {
		if err := checkGUID(op, "bank_guid", p.BankGUID); err != nil {
			return CustomerList{}, err
		}
		q.Set("bank_guid", p.BankGUID)
	}
	scope := "customers:read"
	if p.IncludePII {
		q.Set("include_pii", "true")
		scope = "customers:pii:read"
	}
	var out CustomerList
	err = c.do(ctx, request{method: http.MethodGet, path: "/api/customers", query: q, scope: scope}, &out)
	return out, err
}
