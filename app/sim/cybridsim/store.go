package cybridsim

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cybrid states used by the simulator (values of the spec's enums).
const (
	stateStoring         = "storing"
	stateCompleted       = "completed"
	stateFailed          = "failed"
	stateUnverified      = "unverified"
	stateRefreshRequired = "refresh_required"
	stateDeleting        = "deleting"
	stateDeleted         = "deleted"
	stateWaiting         = "waiting"
)

// Failure codes. Account codes are Cybrid's documented ExternalBankAccount
// failure codes. Workflow failure codes are not enumerated anywhere by
// Cybrid; for a Plaid error the simulator borrows plaid_failure from Cybrid's
// identity-verification failure codes ("Failure due to an issue interacting
// with Plaid").
const (
	FailurePlaidProcessorToken   = "plaid_processor_token"
	FailurePlaidMultipleAccounts = "plaid_multiple_accounts"
	FailureDuplicate             = "duplicate"
	FailureCreateFailed          = "create_failed"
	FailureWorkflowPlaid         = "plaid_failure"
)

type ctxKey struct{}

// principal is who an authenticated request acts for: the scopes and
// subject of its access token.
type principal struct {
	scopes   map[string]bool
	subType  string // subjectBank | subjectCustomer
	customer string // the customer of a customer token
}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	return p
}

func hasScope(r *http.Request, scope string) bool {
	return principalOf(r).scopes[scope]
}

// tokenCustomer is the customer a customer token is confined to ("" for a
// bank token).
func tokenCustomer(r *http.Request) string {
	if p := principalOf(r); p.subType == subjectCustomer {
		return p.customer
	}
	return ""
}

// visible reports whether the request may see a record of customerGUID
// ("" for a bank-level record). A bank token sees all of its bank's
// records; a customer token only its own customer's. Records a request may
// not see are answered as if they did not exist (404 for a GUID in the
// path, left out of lists, "not found" for a GUID in a body), so a
// customer token learns nothing about other customers.
func visible(r *http.Request, customerGUID string) bool {
	c := tokenCustomer(r)
	return c == "" || c == customerGUID
}

// customerVisibleLocked reports whether customer guid exists and the request
// may see it (caller holds s.mu).
func (s *Server) customerVisibleLocked(r *http.Request, guid string) bool {
	return s.customerByID[guid] != nil && visible(r, guid)
}

type simpleError string

func (e simpleError) Error() string { return string(e) }

func errorf(format string, a ...any) error { return simpleError(fmt.Sprintf(format, a...)) }

// ---- records ----

type transition struct {
	at          time.Time
	state       string
	failureCode string
}

type workflowRec struct {
	seq                                  int
	guid, kind, customerGUID, ebaGUID    string
	redirectURI, language, customization string
	createdAt, updatedAt                 time.Time
	state, failureCode                   string
	pending                              []transition
	linkToken                            string // revealed once completed
}

type accountRec struct {
	seq                             int
	guid, name, asset, customerGUID string
	plaidAccountID, itemID          string
	institutionID, mask, plaidName  string
	createdAt, updatedAt            time.Time
	state, failureCode              string
	pending                         []transition
	verified                        bool
	details                         bool // institution/mask/name known (exchange succeeded)
}

type verificationRec struct {
	seq                   int
	guid, typ, method     string
	customerGUID, ebaGUID string
	createdAt, updatedAt  time.Time
	state, outcome        string
	failureCodes          []string
	pending               []transition // failureCode holds the outcome on the last one
	appliedToAccount      bool
	// review: the verification waits in waiting for ReviewVerification
	// (Scenario.VerificationReview).
	review bool
	// failCode is the failure code of a failed outcome ("" means
	// requested_failure, the sandbox's code for failed_immediately).
	failCode string
}

func applyDue(state *string, code *string, updated *time.Time, pending *[]transition, now time.Time, onApply func(transition)) {
	for len(*pending) > 0 && !now.Before((*pending)[0].at) {
		t := (*pending)[0]
		*pending = (*pending)[1:]
		*state = t.state
		if code != nil {
			*code = t.failureCode
		}
		*updated = t.at
		if onApply != nil {
			onApply(t)
		}
	}
}

// advanceLocked applies every transition due at now, in time order within
// each record. Identity verifications are applied after accounts because a
// passed verification moves its account from unverified to completed.
func (s *Server) advanceLocked(now time.Time) {
	for _, w := range s.workflows {
		applyDue(&w.state, &w.failureCode, &w.updatedAt, &w.pending, now, nil)
	}
	for _, a := range s.accounts {
		applyDue(&a.state, &a.failureCode, &a.updatedAt, &a.pending, now, nil)
	}
	for _, v := range s.verifications {
		applyDue(&v.state, nil, &v.updatedAt, &v.pending, now, func(t transition) {
			if t.state != stateCompleted {
				return
			}
			v.outcome = t.failureCode // "passed" | "failed"
			if v.outcome == "failed" {
				v.failureCodes = []string{cmp.Or(v.failCode, "requested_failure")}
			} else {
				v.failureCodes = []string{}
			}
			a := s.accounts[v.ebaGUID]
			if v.outcome != "passed" || a == nil || v.appliedToAccount {
				return
			}
			v.appliedToAccount = true
			// Apply the account's own due transitions up to the moment of
			// the decision first, so the order of events holds.
			a.verified = true
			if a.state == stateUnverified && len(a.pending) == 0 {
				a.state = stateCompleted
				a.updatedAt = t.at
				s.log.Info("cybridsim: account verified", "external_bank_account_guid", a.guid, "state", a.state)
			}
		})
	}
}

func (s *Server) nextSeqLocked() int {
	s.seq++
	return s.seq
}

// ---- lists ----

type listParams struct {
	page, perPage int
	filters       map[string]map[string]bool
}

// parseList reads page, per_page (0-based pages, per_page 1..100, default 10)
// and the named comma-separated filters.
func parseList(q url.Values, filters ...string) (listParams, error) {
	lp := listParams{perPage: 10, filters: map[string]map[string]bool{}}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return lp, errorf("Invalid value. page must be an integer ≥ 0, got %q", v)
		}
		lp.page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return lp, errorf("Invalid value. per_page must be an integer between 1 and 100, got %q", v)
		}
		lp.perPage = n
	}
	for _, f := range filters {
		v := q.Get(f)
		if v == "" {
			continue
		}
		if len(v) > 4096 {
			return lp, errorf("Invalid value. comma separated %s must be at the most 4096 characters long", f)
		}
		set := map[string]bool{}
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				set[x] = true
			}
		}
		lp.filters[f] = set
	}
	return lp, nil
}

// keep reports whether value passes the named filter (absent filter: yes).
func (lp listParams) keep(filter, value string) bool {
	set, ok := lp.filters[filter]
	return !ok || set[value]
}

type listEnvelope struct {
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	Objects any `json:"objects"`
}

type sortable interface{ sortKey() (time.Time, int) }

func (w *workflowRec) sortKey() (time.Time, int)     { return w.createdAt, w.seq }
func (a *accountRec) sortKey() (time.Time, int)      { return a.createdAt, a.seq }
func (v *verificationRec) sortKey() (time.Time, int) { return v.createdAt, v.seq }
func (c *customerRec) sortKey() (time.Time, int)     { return c.createdAt, c.seq }

// page sorts items by created_at descending (newest first; ties by creation
// order) and returns the requested page plus the total.
func pageOf[T sortable](items []T, lp listParams) ([]T, int) {
	sort.Slice(items, func(i, j int) bool {
		ti, si := items[i].sortKey()
		tj, sj := items[j].sortKey()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return si > sj
	})
	total := len(items)
	start, end := lp.bounds(total)
	return items[start:end], total
}

// bounds returns the slice bounds of the requested page in a list of total
// items (an empty range past the end, however large page is).
func (lp listParams) bounds(total int) (start, end int) {
	if lp.page > total/lp.perPage {
		return total, total
	}
	start = min(lp.page*lp.perPage, total)
	return start, min(start+lp.perPage, total)
}

func parseBoolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf("Invalid value. %s must be true or false, got %q", name, v)
	}
	return b, nil
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
