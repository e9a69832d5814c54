package plaidsim

import (
	"fmt"
	"slices"
	"time"
)

// State is what a Sim keeps across restarts (Snapshot, Restore): the items
// linked so far — which update mode, resetting a login and Cybrid's
// accounts need — and the link tokens that are still usable, so that a
// workflow that completes after a restart hands out a token Link accepts.
// Link sessions, OAuth states and public tokens are not kept: a Link that
// was open when the simulator stopped is gone, as a closed browser's is.
// Link tokens are the simulator's own sandbox tokens; nothing else secret
// is kept.
type State struct {
	Items      []ItemState      `json:"items"`
	LinkTokens []LinkTokenState `json:"link_tokens"`
}

// ItemState is an item as kept.
type ItemState struct {
	ID            string    `json:"item_id"`
	InstitutionID string    `json:"institution_id"`
	Accounts      []Account `json:"accounts"`
	Selected      []Account `json:"selected"`
	NeedsUpdate   bool      `json:"needs_update,omitempty"`
	CustomerGUID  string    `json:"customer_guid"`
	Created       time.Time `json:"created"`
}

// LinkTokenState is an issued link token as kept.
type LinkTokenState struct {
	Token    string           `json:"token"`
	Request  LinkTokenRequest `json:"request"`
	Expires  time.Time        `json:"expires"`
	Consumed bool             `json:"consumed,omitempty"`
	Multi    bool             `json:"multi,omitempty"`
}

// Snapshot returns the simulator's items (oldest first) and its link tokens
// not yet expired, for saving. It changes nothing.
func (s *Sim) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Items: []ItemState{}, LinkTokens: []LinkTokenState{}}
	for _, it := range s.itemOrder {
		st.Items = append(st.Items, ItemState{ID: it.id, InstitutionID: it.inst.ID, Accounts: slices.Clone(it.accounts),
			Selected: slices.Clone(it.selected), NeedsUpdate: it.needsUpdate, CustomerGUID: it.customerGUID, Created: it.created.UTC()})
	}
	now := s.now()
	for tok, lt := range s.linkTokens {
		if now.Before(lt.expires) {
			st.LinkTokens = append(st.LinkTokens, LinkTokenState{Token: tok, Request: lt.req, Expires: lt.expires.UTC(),
				Consumed: lt.consumed, Multi: lt.multi})
		}
	}
	slices.SortFunc(st.LinkTokens, func(a, b LinkTokenState) int { return a.Expires.Compare(b.Expires) })
	return st
}

// Restore replaces the items and link tokens with st's (Link sessions and
// public tokens are dropped). An item at an institution the simulator does
// not know, or an id given twice, fails it, changing nothing.
func (s *Sim) Restore(st State) error {
	items := map[string]*item{}
	var order []*item
	for _, x := range st.Items {
		inst := institutionByID(x.InstitutionID)
		switch {
		case x.ID == "":
			return fmt.Errorf("a Plaid item has no id")
		case inst == nil:
			return fmt.Errorf("Plaid item %s is at institution %q, which the simulator does not have", x.ID, x.InstitutionID)
		case items[x.ID] != nil:
			return fmt.Errorf("Plaid item %s appears twice", x.ID)
		}
		it := &item{id: x.ID, inst: inst, accounts: slices.Clone(x.Accounts), selected: slices.Clone(x.Selected),
			needsUpdate: x.NeedsUpdate, customerGUID: x.CustomerGUID, created: x.Created}
		items[it.id] = it
		order = append(order, it)
	}
	tokens := map[string]*linkToken{}
	for _, x := range st.LinkTokens {
		if x.Token == "" || tokens[x.Token] != nil {
			return fmt.Errorf("a link token is empty or appears twice")
		}
		tokens[x.Token] = &linkToken{req: x.Request, expires: x.Expires, consumed: x.Consumed, multi: x.Multi}
	}
	s.mu.Lock()
	s.items, s.itemOrder, s.linkTokens = items, order, tokens
	s.sessions, s.sessionOrder = map[string]*session{}, nil
	s.oauthStates, s.publicTokens = map[string]*oauthState{}, map[string]*publicToken{}
	s.mu.Unlock()
	s.log.Info("state restored", "items", len(order), "link_tokens", len(tokens))
	return nil
}

// Reset forgets every item, link token, Link session and public token, and
// puts the scenario switches back to Plaid's ordinary Sandbox: the
// simulator as New made it. OnChange hears it.
func (s *Sim) Reset() {
	s.mu.Lock()
	s.items, s.itemOrder, s.linkTokens = map[string]*item{}, nil, map[string]*linkToken{}
	s.sessions, s.sessionOrder = map[string]*session{}, nil
	s.oauthStates, s.publicTokens = map[string]*oauthState{}, map[string]*publicToken{}
	s.scenario = Scenario{}
	s.mu.Unlock()
	s.log.Info("reset: no items, no link tokens")
	s.changed()
}

// changed tells Options.OnChange (call it without s.mu held).
func (s *Sim) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}
