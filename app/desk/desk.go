// Package desk is what an operator can do in linkdesk, independent of the
// window: list customers and their external bank accounts, and run link and
// refresh attempts (package linkflow) whose Plaid Link callbacks the page
// forwards. The UI calls a Desk through Methods, a table of named calls that
// take and return JSON; the window's bridge (package ui) exposes that table to
// the page.
package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
)

// Info describes the session for the page's header.
type Info struct {
	Environment string `json:"environment"` // sim, sandbox or production
	BankGUID    string `json:"bank_guid,omitempty"`
	// PlaidScriptURL is the link-initialize.js the page loads once.
	PlaidScriptURL string `json:"plaid_script_url"`
	// Credentials says where the API credentials come from, e.g.
	// "OS keychain" or "simulator"; never the credentials themselves.
	Credentials string `json:"credentials"`
	Version     string `json:"version"`
	// RedirectURI is the OAuth redirect URI sent with workflows ("" none).
	RedirectURI string `json:"redirect_uri,omitempty"`
}

// Customers is the part of the Cybrid client listing customers and accounts.
type Customers interface {
	ListCustomers(ctx context.Context, p cybrid.ListCustomersParams) (cybrid.CustomerList, error)
	ListExternalBankAccounts(ctx context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error)
	DeleteExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error)
}

// Desk serves the page's calls.
type Desk struct {
	info Info
	api  Customers
	flow *linkflow.Flow
	// VerifyBehaviours are Cybrid's sandbox expected_behaviours sent with
	// ownership verifications (e.g. passed_immediately); nil elsewhere.
	VerifyBehaviours []string
}

// New returns a Desk over the Cybrid client api and the link flow.
func New(info Info, api Customers, flow *linkflow.Flow) *Desk {
	return &Desk{info: info, api: api, flow: flow}
}

// Info describes the environment this desk works in.
func (d *Desk) Info() Info { return d.info }

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
	GUID          string `json:"guid"`
	Name          string `json:"name"`
	State         string `json:"state"`
	FailureCode   string `json:"failure_code,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	Mask          string `json:"mask,omitempty"`
	Asset         string `json:"asset,omitempty"`
	CreatedAt     string `json:"created_at"`
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkGUID(what, v string) error {
	if !guidRE.MatchString(v) {
		return fmt.Errorf("%s %s is not a Cybrid GUID: it is 32 lowercase hexadecimal characters", what, quote(v))
	}
	return nil
}

func checkGUIDs(customerGUID, accountGUID string) error {
	if err := checkGUID("customer GUID", customerGUID); err != nil {
		return err
	}
	return checkGUID("account GUID", accountGUID)
}

var attemptIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkAttemptID refuses what cannot be an attempt id before the flow looks
// it up (and quotes it back).
func checkAttemptID(v string) error {
	if v == "" {
		return errors.New("attempt_id is missing: pass the id of the attempt this call is about")
	}
	if !attemptIDRE.MatchString(v) {
		return fmt.Errorf("attempt_id %s is not an attempt id: use the id that startLink, startRefresh or verifyAccount returned", quote(v))
	}
	return nil
}

// quote is v quoted for an error message and cut to 40 characters, so that an
// error stays one short line whatever the page sent.
func quote(v string) string {
	if r := []rune(v); len(r) > 40 {
		return strconv.Quote(string(r[:40])) + "…"
	}
	return strconv.Quote(v)
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// ListCustomers returns one page of the bank's customers, with names.
func (d *Desk) ListCustomers(ctx context.Context, page, perPage int) (CustomerPage, error) {
	if page < 0 {
		return CustomerPage{}, fmt.Errorf("page %d is not valid: pages start at 0", page)
	}
	if perPage < 1 || perPage > 100 {
		return CustomerPage{}, fmt.Errorf("per_page %d is not valid: use 1 to 100", perPage)
	}
	l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{Page: page, PerPage: perPage, BankGUID: d.info.BankGUID, IncludePII: true})
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
	if err := checkGUID("customer GUID", customerGUID); err != nil {
		return nil, err
	}
	out := []Account{}
	for page := 0; ; page++ {
		l, err := d.api.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{Page: page, PerPage: 100, CustomerGUID: customerGUID})
		if err != nil {
			return nil, fmt.Errorf("listing the customer's accounts failed: %w", err)
		}
		for _, a := range l.Objects {
			if a.State == cybrid.AccountDeleted {
				continue
			}
			out = append(out, Account{
				GUID: a.GUID, Name: a.Name, State: string(a.State), FailureCode: a.FailureCode,
				InstitutionID: a.PlaidInstitutionID, Mask: a.PlaidAccountMask, Asset: a.Asset,
				CreatedAt: a.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"),
			})
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

// SearchResult is what SearchCustomers found.
type SearchResult struct {
	Customers []Customer `json:"customers"`
	// Scanned is how many customers were looked at; Total how many the bank
	// has. Scanned < Total means the search stopped early (see the limit).
	Scanned int `json:"scanned"`
	Total   int `json:"total"`
}

// searchLimit bounds a name search: Cybrid cannot filter customers by name,
// so it reads pages of 100 until this many customers were looked at.
const searchLimit = 2000

// SearchCustomers finds customers by GUID (exact, through Cybrid's guid
// filter) or by name (case-insensitive substring over the bank's customers,
// reading at most searchLimit of them, newest first).
func (d *Desk) SearchCustomers(ctx context.Context, query string) (SearchResult, error) {
	q := strings.ToLower(strings.TrimSpace(query))
	if q == "" {
		return SearchResult{}, errors.New("type a name or a customer GUID to search")
	}
	if len(q) > 128 {
		return SearchResult{}, errors.New("the search is longer than 128 characters")
	}
	out := SearchResult{Customers: []Customer{}}
	if guidRE.MatchString(q) {
		l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1, GUIDs: []string{q}, BankGUID: d.info.BankGUID, IncludePII: true})
		if err != nil {
			return SearchResult{}, fmt.Errorf("searching customers failed: %w", err)
		}
		for _, c := range l.Objects {
			out.Customers = append(out.Customers, customerRow(c))
		}
		out.Scanned, out.Total = len(l.Objects), l.Total
		return out, nil
	}
	for page := 0; out.Scanned < searchLimit; page++ {
		l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{Page: page, PerPage: 100, BankGUID: d.info.BankGUID, IncludePII: true})
		if err != nil {
			return SearchResult{}, fmt.Errorf("searching customers failed: %w", err)
		}
		out.Total = l.Total
		for _, c := range l.Objects {
			out.Scanned++
			row := customerRow(c)
			if strings.Contains(strings.ToLower(row.Name), q) || strings.HasPrefix(row.GUID, q) {
				out.Customers = append(out.Customers, row)
			}
		}
		if len(l.Objects) < 100 || out.Scanned >= l.Total {
			break
		}
	}
	return out, nil
}

func customerRow(c cybrid.Customer) Customer {
	name := c.Name.Full
	if name == "" {
		name = strings.TrimSpace(c.Name.First + " " + c.Name.Last)
	}
	return Customer{GUID: c.GUID, Name: name, State: string(c.State), Type: c.Type}
}

// UnlinkAccount deletes the external bank account (it moves through
// deleting to deleted).
func (d *Desk) UnlinkAccount(ctx context.Context, accountGUID string) (Account, error) {
	if err := checkGUID("account GUID", accountGUID); err != nil {
		return Account{}, err
	}
	a, err := d.api.DeleteExternalBankAccount(ctx, accountGUID)
	if err != nil {
		return Account{}, fmt.Errorf("unlinking the account failed: %w. Reload the accounts to see its state", err)
	}
	return Account{GUID: a.GUID, Name: a.Name, State: string(a.State), FailureCode: a.FailureCode,
		InstitutionID: a.PlaidInstitutionID, Mask: a.PlaidAccountMask, Asset: a.Asset,
		CreatedAt: a.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")}, nil
}

// Method is one call the page can make: params is the JSON the page sent
// (an object), the result is marshalled back to the page.
type Method func(ctx context.Context, params json.RawMessage) (any, error)

// Methods returns the calls the page can make, by name. Each validates its
// parameters and returns an error that says what to fix.
func (d *Desk) Methods() map[string]Method {
	return map[string]Method{
		"info": call(func(ctx context.Context, _ noParams) (any, error) { return d.info, nil }),
		"listCustomers": call(func(ctx context.Context, p pageParams) (any, error) {
			if p.PerPage == 0 {
				p.PerPage = 25
			}
			return d.ListCustomers(ctx, p.Page, p.PerPage)
		}),
		"listAccounts": call(func(ctx context.Context, p customerParams) (any, error) {
			return d.ListAccounts(ctx, p.CustomerGUID)
		}),
		"searchCustomers": call(func(ctx context.Context, p queryParams) (any, error) {
			return d.SearchCustomers(ctx, p.Query)
		}),
		"startLink": call(func(ctx context.Context, p customerParams) (any, error) {
			return checked(checkGUID("customer GUID", p.CustomerGUID), func() (any, error) { return d.flow.StartLink(p.CustomerGUID) })
		}),
		"startRefresh": call(func(ctx context.Context, p accountParams) (any, error) {
			return checked(checkGUIDs(p.CustomerGUID, p.AccountGUID), func() (any, error) { return d.flow.StartRefresh(p.CustomerGUID, p.AccountGUID) })
		}),
		"verifyAccount": call(func(ctx context.Context, p accountParams) (any, error) {
			return checked(checkGUIDs(p.CustomerGUID, p.AccountGUID), func() (any, error) {
				return d.flow.StartVerify(p.CustomerGUID, p.AccountGUID, d.VerifyBehaviours)
			})
		}),
		"unlinkAccount": call(func(ctx context.Context, p unlinkParams) (any, error) {
			return d.UnlinkAccount(ctx, p.AccountGUID)
		}),
		"cancel": call(func(ctx context.Context, p attemptParams) (any, error) {
			return checked(checkAttemptID(p.AttemptID), func() (any, error) { return nil, d.flow.Cancel(p.AttemptID) })
		}),
		// Retry account creation for an attempt in account_retry, with the
		// Plaid public token kept in memory (no new Link session).
		"retryAccount": call(func(ctx context.Context, p attemptParams) (any, error) {
			return checked(checkAttemptID(p.AttemptID), func() (any, error) {
				if err := d.flow.RetryAccount(p.AttemptID); err != nil {
					return nil, err
				}
				a, _ := d.flow.Get(p.AttemptID)
				return a, nil
			})
		}),
		// Plaid's callbacks, forwarded by the page. Plaid adds fields without
		// notice, so these are read leniently.
		"plaid.onLoad": plaidCall(func(p attemptParams) error { return d.flow.Loaded(p.AttemptID) }),
		"plaid.onEvent": plaidCall(func(p struct {
			attemptParams
			EventName string         `json:"event_name"`
			Metadata  map[string]any `json:"metadata"`
		}) error {
			return d.flow.PlaidEvent(p.AttemptID, p.EventName, p.Metadata)
		}),
		"plaid.onExit": plaidCall(func(p struct {
			attemptParams
			Error    *linkflow.LinkError   `json:"error"`
			Metadata linkflow.ExitMetadata `json:"metadata"`
		}) error {
			return d.flow.Exit(p.AttemptID, p.Error, p.Metadata)
		}),
		"plaid.onSuccess": plaidCall(func(p struct {
			attemptParams
			PublicToken string                   `json:"public_token"`
			Metadata    linkflow.SuccessMetadata `json:"metadata"`
		}) error {
			return d.flow.Success(p.AttemptID, p.PublicToken, p.Metadata)
		}),
	}
}

// The parameters of the page's calls.
type (
	noParams   struct{}
	pageParams struct {
		Page    int `json:"page"`
		PerPage int `json:"per_page"`
	}
	queryParams struct {
		Query string `json:"query"`
	}
	customerParams struct {
		CustomerGUID string `json:"customer_guid"`
	}
	accountParams struct {
		CustomerGUID string `json:"customer_guid"`
		AccountGUID  string `json:"account_guid"`
	}
	unlinkParams struct {
		AccountGUID string `json:"account_guid"`
	}
	attemptParams struct {
		AttemptID string `json:"attempt_id"`
	}
)

// call adapts fn to a Method that first decodes the page's parameters into P
// strictly (see decode).
func call[P any](fn func(ctx context.Context, p P) (any, error)) Method {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p P
		if err := decode(raw, &p); err != nil {
			return nil, err
		}
		return fn(ctx, p)
	}
}

// plaidCall adapts a Plaid callback handler: parameters are decoded
// leniently, the attempt id is checked, and the call answers nothing.
func plaidCall[P interface{ attemptID() string }](fn func(p P) error) Method {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p P
		if err := decodeLenient(raw, &p); err != nil {
			return nil, err
		}
		if err := checkAttemptID(p.attemptID()); err != nil {
			return nil, err
		}
		return nil, fn(p)
	}
}

func (p attemptParams) attemptID() string { return p.AttemptID }

// checked runs fn when err (a parameter check) is nil.
func checked(err error, fn func() (any, error)) (any, error) {
	if err != nil {
		return nil, err
	}
	return fn()
}

// maxParams bounds what the page may send in one call.
const maxParams = 64 << 10

// decode reads the page's parameters strictly: an unknown field (a key that
// is not exactly one of v's JSON names) is a mistake in the page and is
// reported. v's fields must not be omitempty.
func decode(raw json.RawMessage, v any) error { return decodeJSON(raw, v, true) }

// decodeLenient is for Plaid's callback data, to which Plaid adds fields
// without notice.
func decodeLenient(raw json.RawMessage, v any) error { return decodeJSON(raw, v, false) }

func decodeJSON(raw json.RawMessage, v any, strict bool) error {
	if len(raw) > maxParams {
		return fmt.Errorf("parameters are %d bytes; the limit is %d", len(raw), maxParams)
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("parameters are not valid JSON: %s", cut(err.Error(), 120))
		}
		return fmt.Errorf("parameters do not fit this call: %s", cut(err.Error(), 120))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("parameters are not valid JSON: there is more after the parameters object; send one object")
	}
	if strict {
		// encoding/json matches keys case-insensitively: {"Page":1} would
		// pass for {"page":1}. Compare the keys exactly.
		known := map[string]json.RawMessage{}
		if b, err := json.Marshal(v); err == nil {
			json.Unmarshal(b, &known)
		}
		var got map[string]json.RawMessage
		json.Unmarshal(raw, &got)
		for k := range got {
			if _, ok := known[k]; !ok {
				names := make([]string, 0, len(known))
				for n := range known {
					names = append(names, strconv.Quote(n))
				}
				sort.Strings(names)
				return fmt.Errorf("parameters do not fit this call: unknown parameter %s (this call takes %s)", quote(k), orNone(strings.Join(names, ", ")))
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no parameters"
	}
	return s
}
