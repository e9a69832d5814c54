// Package desk is what an operator can look up and change in linkdesk besides
// attempts, independent of the window: list and search customers, list a
// customer's external bank accounts, unlink one. The page reaches it through
// package pageapi; attempts are package linkflow's.
package desk

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"linkdesk/app/cybrid"
	"linkdesk/app/guid"
)

// Customers is the part of the Cybrid client listing customers and accounts.
type Customers interface {
	ListCustomers(ctx context.Context, p cybrid.ListCustomersParams) (cybrid.CustomerList, error)
	ListExternalBankAccounts(ctx context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error)
	GetExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error)
	DeleteExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error)
}

// Desk looks up and changes customers' accounts in one environment.
type Desk struct {
	api      Customers
	bankGUID string
	names    InstitutionNames
}

// InstitutionNames gives a bank's name for its Plaid institution id ("" when
// none is known); *institutions.Names is one.
type InstitutionNames interface {
	Name(institutionID string) string
}

// Option tunes New.
type Option func(*Desk)

// WithInstitutionNames names the banks of account rows
// (Account.InstitutionName) from n.
func WithInstitutionNames(n InstitutionNames) Option {
	return func(d *Desk) { d.names = n }
}

// New returns a Desk over the Cybrid client api, for the bank bankGUID (""
// means the bank the credentials belong to).
func New(api Customers, bankGUID string, opts ...Option) *Desk {
	d := &Desk{api: api, bankGUID: bankGUID}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Customer is one row of the customer list.
type Customer struct {
	GUID  string `json:"guid"`
	Name  string `json:"name"`
	State string `json:"state"`
	Type  string `json:"type"`
}

// CustomerPage is one page of customers (Cybrid pages are 0-based).
type CustomerPage struct {
	Customers []Customer `json:"customers"`
	Page      int        `json:"page"`
	PerPage   int        `json:"per_page"`
	Total     int        `json:"total"`
}

// Account is one row of a customer's account list.
type Account struct {
	GUID string `json:"guid"`
	// CustomerGUID is the customer the account belongs to: an action on
	// the row acts on this customer.
	CustomerGUID  string `json:"customer_guid"`
	Name          string `json:"name"`
	State         string `json:"state"`
	FailureCode   string `json:"failure_code,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	// InstitutionName is the bank's name, learned from Plaid Link's
	// metadata ("" when linkdesk has not seen it: show InstitutionID).
	InstitutionName string `json:"institution_name,omitempty"`
	Mask            string `json:"mask,omitempty"`
	Asset           string `json:"asset,omitempty"`
	CreatedAt       string `json:"created_at"`
	// UnlinkedBy and UnlinkedAt (RFC 3339, UTC) say who unlinked a deleting
	// or deleted account through linkdesk and when, from the audit log (""
	// when it was not, or the log no longer has it). Package desk leaves
	// them empty; the page's listAccounts and unlinkAccount calls fill them
	// in.
	UnlinkedBy string `json:"unlinked_by,omitempty"`
	UnlinkedAt string `json:"unlinked_at,omitempty"`
}

// ListCustomers returns one page of the bank's customers, with names.
func (d *Desk) ListCustomers(ctx context.Context, page, perPage int) (CustomerPage, error) {
	if page < 0 {
		return CustomerPage{}, fmt.Errorf("page %d is not valid: pages start at 0", page)
	}
	if perPage < 1 || perPage > 100 {
		return CustomerPage{}, fmt.Errorf("per_page %d is not valid: use 1 to 100", perPage)
	}
	l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{Page: page, PerPage: perPage, BankGUID: d.bankGUID, IncludePII: true})
	if err != nil {
		return CustomerPage{}, fmt.Errorf("listing customers failed: %w", err)
	}
	out := CustomerPage{Page: l.Page, PerPage: l.PerPage, Total: l.Total, Customers: []Customer{}}
	for _, c := range l.Objects {
		out.Customers = append(out.Customers, customerRow(c))
	}
	return out, nil
}

// ListAccounts returns every external bank account of the customer that is
// not deleted, newest first.
func (d *Desk) ListAccounts(ctx context.Context, customerGUID string) ([]Account, error) {
	return d.listAccounts(ctx, customerGUID, false)
}

// ListAccountsIncludingDeleted is ListAccounts with the customer's deleted
// (unlinked) accounts too: Cybrid lists them, in state deleted.
func (d *Desk) ListAccountsIncludingDeleted(ctx context.Context, customerGUID string) ([]Account, error) {
	return d.listAccounts(ctx, customerGUID, true)
}

func (d *Desk) listAccounts(ctx context.Context, customerGUID string, includeDeleted bool) ([]Account, error) {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return nil, err
	}
	out := []Account{}
	for page := 0; ; page++ {
		l, err := d.api.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{Page: page, PerPage: 100, CustomerGUID: customerGUID})
		if err != nil {
			return nil, fmt.Errorf("listing the customer's accounts failed: %w", err)
		}
		for _, a := range l.Objects {
			if a.State == cybrid.AccountDeleted && !includeDeleted {
				continue
			}
			if a.CustomerGUID == "" {
				a.CustomerGUID = customerGUID
			}
			out = append(out, d.accountRow(a))
		}
		if len(l.Objects) < 100 || (page+1)*100 >= l.Total {
			break
		}
		if page+1 >= maxAccountPages {
			return nil, fmt.Errorf("the customer has more than %d external bank accounts (Cybrid reports %d); linkdesk lists at most %d", maxAccountPages*100, l.Total, maxAccountPages*100)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	return out, nil
}

// maxAccountPages bounds ListAccounts (pages of 100), so that an API that
// keeps answering full pages cannot keep it reading forever.
const maxAccountPages = 100

func customerRow(c cybrid.Customer) Customer {
	name := c.Name.Full
	if name == "" {
		name = strings.TrimSpace(c.Name.First + " " + c.Name.Last)
	}
	return Customer{GUID: c.GUID, Name: name, State: string(c.State), Type: c.Type}
}

func (d *Desk) accountRow(a cybrid.ExternalBankAccount) Account {
	row := Account{
		GUID: a.GUID, CustomerGUID: a.CustomerGUID, Name: a.Name, State: string(a.State), FailureCode: a.FailureCode,
		InstitutionID: a.PlaidInstitutionID, Mask: a.PlaidAccountMask, Asset: a.Asset,
		CreatedAt: a.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"),
	}
	if d.names != nil && row.InstitutionID != "" {
		row.InstitutionName = d.names.Name(row.InstitutionID)
	}
	return row
}

// UnlinkAccount deletes the external bank account accountGUID of the
// customer customerGUID (it moves through deleting to deleted). An account
// of another customer is refused before anything is deleted.
func (d *Desk) UnlinkAccount(ctx context.Context, customerGUID, accountGUID string) (Account, cybrid.ExternalBankAccount, error) {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return Account{}, cybrid.ExternalBankAccount{}, err
	}
	if err := guid.Check("account GUID", accountGUID); err != nil {
		return Account{}, cybrid.ExternalBankAccount{}, err
	}
	cur, err := d.api.GetExternalBankAccount(ctx, accountGUID)
	if err != nil {
		return Account{}, cybrid.ExternalBankAccount{}, fmt.Errorf("reading the account before unlinking it failed: %w. Nothing was unlinked; reload the accounts", err)
	}
	if cur.CustomerGUID != "" && cur.CustomerGUID != customerGUID {
		return Account{}, cybrid.ExternalBankAccount{}, fmt.Errorf("account %s belongs to another customer (%s), not %s: nothing was unlinked. Open that customer to unlink it", accountGUID, cur.CustomerGUID, customerGUID)
	}
	a, err := d.api.DeleteExternalBankAccount(ctx, accountGUID)
	if err != nil {
		return Account{}, cybrid.ExternalBankAccount{}, fmt.Errorf("unlinking the account failed: %w. Reload the accounts to see its state", err)
	}
	if a.CustomerGUID == "" {
		a.CustomerGUID = customerGUID
	}
	return d.accountRow(a), a, nil
}
