package desk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"linkdesk/app/cybrid"
	"linkdesk/app/guid"
)

// SearchResult is what SearchCustomers found.
type SearchResult struct {
	Customers []Customer `json:"customers"`
	// Scanned is how many customers were looked at; Total how many the bank
	// has. Scanned < Total means the search stopped early (see the limit).
	Scanned int `json:"scanned"`
	Total   int `json:"total"`
}

// searchLimit bounds a scan: Cybrid cannot filter customers by name or by
// state, so linkdesk reads pages of 100 until this many customers were
// looked at.
const searchLimit = 2000

// CustomerStates are the customer states Cybrid reports, for a filter.
var CustomerStates = []string{"storing", "unverified", "verified", "rejected", "frozen"}

// MaxNames bounds CustomerNames: one page of Cybrid's customer list.
const MaxNames = 100

// CustomerNames returns the names of the customers guids names (at most
// MaxNames, duplicates allowed), read with one request through Cybrid's guid
// filter. A customer Cybrid does not return (another bank's, deleted) is
// missing from the map; a name Cybrid leaves empty is "".
func (d *Desk) CustomerNames(ctx context.Context, guids []string) (map[string]string, error) {
	var want []string
	seen := map[string]bool{}
	for _, g := range guids {
		if !guid.Valid(g) {
			return nil, fmt.Errorf("customer GUID %s is not 32 lowercase hexadecimal characters", guid.Quote(g))
		}
		if !seen[g] {
			seen[g] = true
			want = append(want, g)
		}
	}
	if len(want) > MaxNames {
		return nil, fmt.Errorf("%d customers asked for at once: at most %d", len(want), MaxNames)
	}
	out := make(map[string]string, len(want))
	if len(want) == 0 {
		return out, nil
	}
	l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: len(want), GUIDs: want, BankGUID: d.bankGUID, IncludePII: true})
	if err != nil {
		return nil, fmt.Errorf("reading customers' names failed: %w", err)
	}
	for _, c := range l.Objects {
		if seen[c.GUID] {
			out[c.GUID] = customerRow(c).Name
		}
	}
	return out, nil
}

// SearchCustomers finds customers by GUID (exact, through Cybrid's guid
// filter), by name (case-insensitive substring) or by state, or by name and
// state together — reading at most searchLimit customers, newest first,
// when a name or a state has to be compared. query may be empty when state
// is set; state "" means any state.
func (d *Desk) SearchCustomers(ctx context.Context, query, state string) (SearchResult, error) {
	q := strings.ToLower(strings.TrimSpace(query))
	if state != "" && !contains(CustomerStates, state) {
		return SearchResult{}, fmt.Errorf("customer state %s is not one Cybrid has: use %s", guid.Quote(state), strings.Join(CustomerStates, ", "))
	}
	if q == "" && state == "" {
		return SearchResult{}, errors.New("type a name or a customer GUID to search, or pick a state")
	}
	if len(q) > 128 {
		return SearchResult{}, errors.New("the search is longer than 128 characters")
	}
	out := SearchResult{Customers: []Customer{}}
	keep := func(row Customer) bool {
		return (q == "" || strings.Contains(strings.ToLower(row.Name), q) || strings.HasPrefix(row.GUID, q)) &&
			(state == "" || row.State == state)
	}
	if guid.Valid(q) {
		l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1, GUIDs: []string{q}, BankGUID: d.bankGUID, IncludePII: true})
		if err != nil {
			return SearchResult{}, fmt.Errorf("searching customers failed: %w", err)
		}
		for _, c := range l.Objects {
			if row := customerRow(c); keep(row) {
				out.Customers = append(out.Customers, row)
			}
		}
		out.Scanned, out.Total = len(l.Objects), l.Total
		return out, nil
	}
	for page := 0; out.Scanned < searchLimit; page++ {
		l, err := d.api.ListCustomers(ctx, cybrid.ListCustomersParams{Page: page, PerPage: 100, BankGUID: d.bankGUID, IncludePII: true})
		if err != nil {
			return SearchResult{}, fmt.Errorf("searching customers failed: %w", err)
		}
		out.Total = l.Total
		for _, c := range l.Objects {
			out.Scanned++
			if row := customerRow(c); keep(row) {
				out.Customers = append(out.Customers, row)
			}
		}
		if len(l.Objects) < 100 || out.Scanned >= l.Total {
			break
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
