package linkflow

import (
	"errors"
	"net/url"
	"regexp"
)

// Errors of OAuthReturn besides ErrNotWaitingForBank. Their texts are
// written for the person in the browser whose return was refused.
var (
	ErrNoOAuthState      = errors.New("this address carries no answer from a bank (no oauth_state_id). If the customer was signing in to their bank, start again in linkdesk")
	ErrStaleOAuthState   = errors.New("linkdesk already took this answer from the bank: each answer (oauth_state_id) is used once. If the customer is still signing in, start again in linkdesk")
	ErrForeignOAuthState = errors.New("this answer is for another bank sign-in than the one linkdesk is waiting for (its oauth_state_id differs). Finish the sign-in linkdesk opened, or start again in linkdesk")
)

// stateID is the form of an oauth_state_id linkdesk accepts: Plaid's are
// UUIDs.
var stateID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// OAuthStateOf returns the oauth_state_id query parameter of rawURL, or ""
// when there is none or it is not of the form Plaid uses (letters, digits,
// '-' and '_', at most 128).
func OAuthStateOf(rawURL string) string { return oauthStateOf(rawURL) }

func oauthStateOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	s := u.Query().Get("oauth_state_id")
	if !stateID.MatchString(s) {
		return ""
	}
	return s
}

// eventInstitution is the institution_id of a Plaid event's metadata ("" none).
func eventInstitution(ev Event) string {
	meta, _ := ev.Data["metadata"].(map[string]any)
	id, _ := meta["institution_id"].(string)
	return id
}

// BankWait describes a bank's sign-in page that opened for the attempts
// whose Link is open (AwaitBankAt).
type BankWait struct {
	// Message and Data are recorded on each attempt reached.
	Message string
	Data    map[string]any
	// PageURL is the bank page's address; when it carries an
	// oauth_state_id, the attempt takes the bank's return only with that
	// one (OAuthReturn).
	PageURL string
	// InBrowser: the page opened in the system browser (Attempt.BankInBrowser).
	InBrowser bool
}

// AwaitBankAt is AwaitBank with what linkdesk knows of the page: the
// attempts whose Link is open wait for the bank's return from then on, for
// the page's oauth_state_id when its address carries one, and show whether
// the bank runs in the system browser. It returns the attempts reached.
func (f *Flow) AwaitBankAt(w BankWait) []Attempt {
	state := oauthStateOf(w.PageURL)
	var out []Attempt
	for _, id := range f.linkOpen() {
		err := f.update(id, func(a *attempt) (Event, error) {
			if a.State != LinkOpen {
				return Event{}, errNotOpen
			}
			a.oauthWaiting = true
			if state != "" {
				a.oauthState = state
			}
			a.BankInBrowser = w.InBrowser
			return Event{Type: "link_window", Message: w.Message, Data: w.Data}, nil
		})
		if err == nil {
			if a, ok := f.Get(id); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// EndBankWait ends the wait of the attempts waiting for a bank in the system
// browser (the operator cancelled it): a return that comes later is refused,
// and Link is back at its OAuth step. msg is recorded on each; it returns
// how many it reached.
func (f *Flow) EndBankWait(msg string, data map[string]any) int {
	n := 0
	for _, id := range f.linkOpen() {
		err := f.update(id, func(a *attempt) (Event, error) {
			if !a.BankInBrowser {
				return Event{}, errNotOpen
			}
			a.oauthWaiting = false
			return Event{Type: "link_window", Message: msg, Data: data}, nil
		})
		if err == nil {
			n++
		}
	}
	return n
}

// OpenLink returns the attempt whose Link is open and changed last, and the
// institution Link's events named for it ("" none yet): the bank whose
// OAuth page a pop-up opening now belongs to. ok is false when no Link is
// open.
func (f *Flow) OpenLink() (a Attempt, institutionID string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var pick *attempt
	for _, x := range f.attempts {
		if x.State == LinkOpen && (pick == nil || x.UpdatedAt.After(pick.UpdatedAt)) {
			pick = x
		}
	}
	if pick == nil {
		return Attempt{}, "", false
	}
	return pick.Attempt, pick.linkInstitution, true
}

// linkOpen lists the attempts whose Link is open.
func (f *Flow) linkOpen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, a := range f.attempts {
		if a.State == LinkOpen {
			ids = append(ids, id)
		}
	}
	return ids
}
