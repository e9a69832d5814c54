package cybridsim

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// State is what a Server keeps across restarts (Snapshot, Restore; package
// sim saves it in its state file, whose version covers this format): the
// records a tester made or saw — customers and their states, workflows
// (with their Plaid link tokens), external bank accounts, identity
// verifications — and the sequence that orders them. Transitions still
// pending (a workflow or an account still storing, a verification under
// way) are kept with the times they are due: after a restart they happen
// on the clock as if the simulator had run meanwhile, as Cybrid goes on
// working while its client is down.
//
// Not kept: access tokens (a client fetches a new one, as after any token
// expiry), injected faults, the request counters and the Scenario switches,
// which come from Options again at each start (records already created
// keep the outcomes they were created with). No client secret is ever in a
// State.
type State struct {
	BankGUID      string              `json:"bank_guid"`
	Seq           int                 `json:"seq"`
	Customers     []CustomerState     `json:"customers"`
	Workflows     []WorkflowState     `json:"workflows"`
	Accounts      []AccountState      `json:"accounts"`
	Verifications []VerificationState `json:"verifications"`
}

// TransitionState is a pending change of state, due At.
type TransitionState struct {
	At          time.Time `json:"at"`
	State       string    `json:"state"`
	FailureCode string    `json:"failure_code,omitempty"`
}

// CustomerState is a customer as kept.
type CustomerState struct {
	Seq       int       `json:"seq"`
	GUID      string    `json:"guid"`
	Type      string    `json:"type"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	First     string    `json:"first"`
	Middle    string    `json:"middle,omitempty"`
	Last      string    `json:"last"`
	Street    string    `json:"street"`
	City      string    `json:"city"`
	Sub       string    `json:"subdivision"`
	Postal    string    `json:"postal_code"`
	DOB       string    `json:"date_of_birth"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	Labels    []string  `json:"labels"`
}

// WorkflowState is a workflow as kept. LinkToken is the Plaid link token
// the simulator issued for it (revealed once completed).
type WorkflowState struct {
	Seq           int               `json:"seq"`
	GUID          string            `json:"guid"`
	Kind          string            `json:"kind"`
	CustomerGUID  string            `json:"customer_guid,omitempty"`
	AccountGUID   string            `json:"external_bank_account_guid,omitempty"`
	RedirectURI   string            `json:"redirect_uri,omitempty"`
	Language      string            `json:"language"`
	Customization string            `json:"link_customization_name"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	State         string            `json:"state"`
	FailureCode   string            `json:"failure_code,omitempty"`
	Pending       []TransitionState `json:"pending,omitempty"`
	LinkToken     string            `json:"link_token,omitempty"`
}

// AccountState is an external bank account as kept.
type AccountState struct {
	Seq            int               `json:"seq"`
	GUID           string            `json:"guid"`
	Name           string            `json:"name"`
	Asset          string            `json:"asset"`
	CustomerGUID   string            `json:"customer_guid,omitempty"`
	PlaidAccountID string            `json:"plaid_account_id"`
	ItemID         string            `json:"plaid_item_id,omitempty"`
	InstitutionID  string            `json:"plaid_institution_id,omitempty"`
	Mask           string            `json:"plaid_account_mask,omitempty"`
	PlaidName      string            `json:"plaid_account_name,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	State          string            `json:"state"`
	FailureCode    string            `json:"failure_code,omitempty"`
	Pending        []TransitionState `json:"pending,omitempty"`
	Verified       bool              `json:"verified,omitempty"`
	Details        bool              `json:"details,omitempty"`
}

// VerificationState is an identity verification as kept.
type VerificationState struct {
	Seq              int               `json:"seq"`
	GUID             string            `json:"guid"`
	Type             string            `json:"type"`
	Method           string            `json:"method"`
	CustomerGUID     string            `json:"customer_guid,omitempty"`
	AccountGUID      string            `json:"external_bank_account_guid"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	State            string            `json:"state"`
	Outcome          string            `json:"outcome,omitempty"`
	FailureCodes     []string          `json:"failure_codes"`
	Pending          []TransitionState `json:"pending,omitempty"`
	AppliedToAccount bool              `json:"applied_to_account,omitempty"`
	Review           bool              `json:"review,omitempty"`
	FailCode         string            `json:"fail_code,omitempty"`
}

func transitionsOut(ts []transition) []TransitionState {
	var out []TransitionState
	for _, t := range ts {
		out = append(out, TransitionState{At: t.at.UTC(), State: t.state, FailureCode: t.failureCode})
	}
	return out
}

func transitionsIn(ts []TransitionState) []transition {
	var out []transition
	for _, t := range ts {
		out = append(out, transition{at: t.At, state: t.State, failureCode: t.FailureCode})
	}
	return out
}

// Snapshot returns the server's records as a State (records in creation
// order), for saving. It changes nothing.
func (s *Server) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{BankGUID: s.bankGUID, Seq: s.seq}
	for _, c := range s.customers {
		st.Customers = append(st.Customers, CustomerState{Seq: c.seq, GUID: c.guid, Type: c.typ, State: c.state,
			CreatedAt: c.createdAt.UTC(), UpdatedAt: c.updatedAt.UTC(), First: c.first, Middle: c.middle, Last: c.last,
			Street: c.street, City: c.city, Sub: c.sub, Postal: c.postal, DOB: c.dob, Email: c.email, Phone: c.phone,
			Labels: slices.Clone(c.labels)})
	}
	for _, w := range s.workflows {
		st.Workflows = append(st.Workflows, WorkflowState{Seq: w.seq, GUID: w.guid, Kind: w.kind, CustomerGUID: w.customerGUID,
			AccountGUID: w.ebaGUID, RedirectURI: w.redirectURI, Language: w.language, Customization: w.customization,
			CreatedAt: w.createdAt.UTC(), UpdatedAt: w.updatedAt.UTC(), State: w.state, FailureCode: w.failureCode,
			Pending: transitionsOut(w.pending), LinkToken: w.linkToken})
	}
	for _, a := range s.accounts {
		st.Accounts = append(st.Accounts, AccountState{Seq: a.seq, GUID: a.guid, Name: a.name, Asset: a.asset,
			CustomerGUID: a.customerGUID, PlaidAccountID: a.plaidAccountID, ItemID: a.itemID, InstitutionID: a.institutionID,
			Mask: a.mask, PlaidName: a.plaidName, CreatedAt: a.createdAt.UTC(), UpdatedAt: a.updatedAt.UTC(),
			State: a.state, FailureCode: a.failureCode, Pending: transitionsOut(a.pending), Verified: a.verified, Details: a.details})
	}
	for _, v := range s.verifications {
		st.Verifications = append(st.Verifications, VerificationState{Seq: v.seq, GUID: v.guid, Type: v.typ, Method: v.method,
			CustomerGUID: v.customerGUID, AccountGUID: v.ebaGUID, CreatedAt: v.createdAt.UTC(), UpdatedAt: v.updatedAt.UTC(),
			State: v.state, Outcome: v.outcome, FailureCodes: slices.Clone(v.failureCodes), Pending: transitionsOut(v.pending),
			AppliedToAccount: v.appliedToAccount, Review: v.review, FailCode: v.failCode})
	}
	bySeq := func(a, b int) int { return a - b }
	slices.SortFunc(st.Workflows, func(a, b WorkflowState) int { return bySeq(a.Seq, b.Seq) })
	slices.SortFunc(st.Accounts, func(a, b AccountState) int { return bySeq(a.Seq, b.Seq) })
	slices.SortFunc(st.Verifications, func(a, b VerificationState) int { return bySeq(a.Seq, b.Seq) })
	return st
}

var stateGUID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Known states of each record (the spec's enums, as far as the simulator
// uses them).
var (
	customerStates     = []string{"storing", "unverified", "verified", "rejected", "frozen"}
	workflowStates     = []string{stateStoring, stateCompleted, stateFailed}
	accountStates      = []string{stateStoring, stateCompleted, stateFailed, stateUnverified, stateRefreshRequired, stateDeleting, stateDeleted}
	verificationStates = []string{stateStoring, stateWaiting, stateCompleted, "expired"}
)

// check reports the first thing in st that the server could not serve:
// another bank, a malformed or repeated GUID, an unknown state, a reference
// to a record that is not there.
func (st State) check(bankGUID string) error {
	if st.BankGUID != bankGUID {
		return fmt.Errorf("it is the state of bank %q, and this simulator is bank %q", st.BankGUID, bankGUID)
	}
	seen := map[string]bool{}
	guid := func(what, g string) error {
		if !stateGUID.MatchString(g) {
			return fmt.Errorf("%s guid %q is not 32 lowercase hexadecimal digits", what, g)
		}
		if seen[g] {
			return fmt.Errorf("%s guid %s appears twice", what, g)
		}
		seen[g] = true
		return nil
	}
	state := func(what, g, s string, known []string, pending []TransitionState) error {
		states := []string{s}
		for _, t := range pending {
			states = append(states, t.State)
		}
		for _, x := range states {
			if !slices.Contains(known, x) {
				return fmt.Errorf("%s %s has the unknown state %q", what, g, x)
			}
		}
		return nil
	}
	customers := map[string]bool{}
	for _, c := range st.Customers {
		if err := guid("customer", c.GUID); err != nil {
			return err
		}
		if err := state("customer", c.GUID, c.State, customerStates, nil); err != nil {
			return err
		}
		if len(c.Phone) < 4 {
			return fmt.Errorf("customer %s has no phone number", c.GUID)
		}
		customers[c.GUID] = true
	}
	ref := func(what, g, cust string) error {
		if cust != "" && !customers[cust] {
			return fmt.Errorf("%s %s belongs to customer %s, who is not in the state", what, g, cust)
		}
		return nil
	}
	accounts := map[string]bool{}
	for _, a := range st.Accounts {
		if err := guid("external bank account", a.GUID); err != nil {
			return err
		}
		if err := state("external bank account", a.GUID, a.State, accountStates, a.Pending); err != nil {
			return err
		}
		if err := ref("external bank account", a.GUID, a.CustomerGUID); err != nil {
			return err
		}
		accounts[a.GUID] = true
	}
	for _, w := range st.Workflows {
		if err := guid("workflow", w.GUID); err != nil {
			return err
		}
		if err := state("workflow", w.GUID, w.State, workflowStates, w.Pending); err != nil {
			return err
		}
		if err := ref("workflow", w.GUID, w.CustomerGUID); err != nil {
			return err
		}
	}
	for _, v := range st.Verifications {
		if err := guid("identity verification", v.GUID); err != nil {
			return err
		}
		if err := state("identity verification", v.GUID, v.State, verificationStates, v.Pending); err != nil {
			return err
		}
		if !accounts[v.AccountGUID] {
			return fmt.Errorf("identity verification %s is of account %s, which is not in the state", v.GUID, v.AccountGUID)
		}
	}
	return nil
}

// Restore replaces the server's records with st (as Snapshot made it),
// after checking that the server can serve it (the bank, GUIDs, states,
// references); on error nothing changes. Access tokens, faults and the
// scenario are left as they are.
func (s *Server) Restore(st State) error {
	if err := st.check(s.bankGUID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers, s.customerByID = nil, map[string]*customerRec{}
	s.workflows, s.accounts, s.verifications = map[string]*workflowRec{}, map[string]*accountRec{}, map[string]*verificationRec{}
	maxSeq := st.Seq
	see := func(n int) {
		maxSeq = max(maxSeq, n)
	}
	for _, c := range st.Customers {
		r := &customerRec{seq: c.Seq, guid: c.GUID, typ: c.Type, state: c.State, createdAt: c.CreatedAt, updatedAt: c.UpdatedAt,
			first: c.First, middle: c.Middle, last: c.Last, street: c.Street, city: c.City, sub: c.Sub, postal: c.Postal,
			dob: c.DOB, email: c.Email, phone: c.Phone, labels: slices.Clone(c.Labels)}
		s.customers = append(s.customers, r)
		s.customerByID[r.guid] = r
		see(c.Seq)
	}
	for _, w := range st.Workflows {
		s.workflows[w.GUID] = &workflowRec{seq: w.Seq, guid: w.GUID, kind: w.Kind, customerGUID: w.CustomerGUID, ebaGUID: w.AccountGUID,
			redirectURI: w.RedirectURI, language: w.Language, customization: w.Customization, createdAt: w.CreatedAt, updatedAt: w.UpdatedAt,
			state: w.State, failureCode: w.FailureCode, pending: transitionsIn(w.Pending), linkToken: w.LinkToken}
		see(w.Seq)
	}
	for _, a := range st.Accounts {
		s.accounts[a.GUID] = &accountRec{seq: a.Seq, guid: a.GUID, name: a.Name, asset: a.Asset, customerGUID: a.CustomerGUID,
			plaidAccountID: a.PlaidAccountID, itemID: a.ItemID, institutionID: a.InstitutionID, mask: a.Mask, plaidName: a.PlaidName,
			createdAt: a.CreatedAt, updatedAt: a.UpdatedAt, state: a.State, failureCode: a.FailureCode, pending: transitionsIn(a.Pending),
			verified: a.Verified, details: a.Details}
		see(a.Seq)
	}
	for _, v := range st.Verifications {
		s.verifications[v.GUID] = &verificationRec{seq: v.Seq, guid: v.GUID, typ: v.Type, method: v.Method, customerGUID: v.CustomerGUID,
			ebaGUID: v.AccountGUID, createdAt: v.CreatedAt, updatedAt: v.UpdatedAt, state: v.State, outcome: v.Outcome,
			failureCodes: slices.Clone(v.FailureCodes), pending: transitionsIn(v.Pending), appliedToAccount: v.AppliedToAccount,
			review: v.Review, failCode: v.FailCode}
		see(v.Seq)
	}
	s.seq = maxSeq
	s.log.Info("cybridsim: state restored", "customers", len(s.customers), "workflows", len(s.workflows),
		"external_bank_accounts", len(s.accounts), "identity_verifications", len(s.verifications))
	return nil
}

// Reset puts the server back as New made it: the seed customers and no
// workflows, accounts or verifications; the scenario is the one Options
// gave, the faults are cleared. Access tokens stay valid. OnChange hears it.
func (s *Server) Reset() {
	s.mu.Lock()
	s.customers, s.customerByID = nil, map[string]*customerRec{}
	s.workflows, s.accounts, s.verifications = map[string]*workflowRec{}, map[string]*accountRec{}, map[string]*verificationRec{}
	s.seq = 0
	s.faults = nil
	s.scenario = s.initialScenario()
	s.seedCustomers()
	s.mu.Unlock()
	s.log.Info("cybridsim: reset to the seed customers")
	s.changed()
}

// changed tells Options.OnChange that the records changed (call it without
// s.mu held, before answering the request that made the change).
func (s *Server) changed() {
	if s.opts.OnChange != nil {
		s.opts.OnChange()
	}
}
