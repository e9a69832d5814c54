package linkflow

import (
	"time"

	"linkdesk/app/problem"
)

// Kind is what an attempt does.
type Kind string

const (
	// KindLink links a new external bank account for a customer.
	KindLink Kind = "link"
	// KindRefresh re-links an account in refresh_required (Plaid update mode).
	KindRefresh Kind = "refresh"
)

// State is a step of an attempt. An attempt moves forward only:
//
//	creating_workflow → waiting_for_token → link_open →
//	  (link)    creating_account → waiting_for_account → done
//	  (refresh) updating_account → done
//
// and may end early in failed (something went wrong; Error says what to do)
// or exited (the user left Link; ExitStatus says where).
type State string

const (
	CreatingWorkflow  State = "creating_workflow"
	WaitingForToken   State = "waiting_for_token"
	LinkOpen          State = "link_open"
	CreatingAccount   State = "creating_account"
	WaitingForAccount State = "waiting_for_account"
	UpdatingAccount   State = "updating_account"
	Done              State = "done"
	Failed            State = "failed"
	Exited            State = "exited"
)

// Final reports whether s ends an attempt.
func (s State) Final() bool { return s == Done || s == Failed || s == Exited }

// Attempt is a snapshot of one attempt to link or refresh one account. It is
// a value: the flow hands out copies, never its own state. It holds no secret:
// the Plaid public token stays inside the flow.
type Attempt struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// CustomerGUID is the customer the attempt is for: every action on the
	// attempt acts on this customer (and on AccountGUID), never on another.
	CustomerGUID string `json:"customer_guid"`
	State        State  `json:"state"`
	// Rev counts the attempt's changes (1 for the first snapshot): of two
	// snapshots of one attempt, the one with the higher Rev is newer.
	Rev       int       `json:"rev"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// StateSince is when the current state began (for elapsed-time display).
	StateSince time.Time `json:"state_since"`

	WorkflowGUID string `json:"workflow_guid,omitempty"`
	// LinkToken is the Plaid link token the page opens Link with. Link tokens
	// are meant for the client side; it is set from link_open on.
	LinkToken string `json:"link_token,omitempty"`
	// Prefetched says where the link token came from when it was prepared
	// before the click (Flow.Prefetch); nil when the click created it.
	Prefetched *PrefetchInfo `json:"prefetched,omitempty"`
	// Polls counts the GETs made while waiting in the current state.
	Polls int `json:"polls"`
	// PlaidSeq is the Seq of the last Plaid Link callback applied (0: none
	// yet); the page numbers the next one PlaidSeq+1 (see Callback).
	PlaidSeq int `json:"plaid_seq"`

	// AccountGUID is the account being refreshed, or the account created.
	AccountGUID string   `json:"account_guid,omitempty"`
	Account     *Account `json:"account,omitempty"`

	// Institution is the bank the user chose in Link, once known.
	Institution string `json:"institution,omitempty"`
	// BankInBrowser: the bank's OAuth sign-in runs in the system browser and
	// Link waits in its OAuth step for the bank's return (Flow.AwaitBankAt);
	// the page shows "Finish signing in in your browser".
	BankInBrowser bool `json:"bank_in_browser,omitempty"`
	// ExitStatus is Plaid's onExit metadata.status when the user left Link.
	ExitStatus string `json:"exit_status,omitempty"`
	// Error says what went wrong and what to do next (failed, or exited with
	// a Plaid error).
	Error string `json:"error,omitempty"`
	// Code is a machine-readable reason: a Cybrid failure_code, a Plaid
	// error_code, or one of this package's codes (e.g. "timeout").
	Code string `json:"code,omitempty"`
	// Problem is what went wrong, classified and worded for the operator
	// (package problem: kind, headline, fix, detail, action), whenever the
	// attempt failed — or waits in account_retry — because of an error or
	// a refusal; nil otherwise (running, done, exited by the customer,
	// cancelled). Error stays the one-paragraph summary.
	Problem *problem.Problem `json:"problem,omitempty"`
}

// Account summarises the Cybrid external bank account an attempt produced or
// refreshed.
type Account struct {
	GUID          string `json:"guid"`
	Name          string `json:"name"`
	State         string `json:"state"`
	FailureCode   string `json:"failure_code,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	Mask          string `json:"mask,omitempty"`
}

// Event is one thing that happened in an attempt: a state change, a Cybrid
// call's outcome, a Plaid callback or event. It is the one source every
// reader listens to — the page, the log, the timeline and the crash journal.
// Data never holds secrets.
type Event struct {
	AttemptID string `json:"attempt_id"`
	// Time is when linkdesk recorded it.
	Time time.Time `json:"time"`
	// Type is "state", "plaid_callback", "plaid_event", "poll", "retry",
	// "reconcile", "link_window" or "account".
	Type    string         `json:"type"`
	State   State          `json:"state"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`

	// Seq is the page's delivery number of a Plaid Link callback or event
	// (Callback.Seq); 0 for everything else. Events with a Seq are emitted
	// in Seq order.
	Seq int `json:"seq,omitempty"`
	// At is when Plaid Link delivered the callback, by the page's clock.
	At time.Time `json:"at,omitzero"`
	// Selection is the account chosen in Link, on the onSuccess event. It is
	// emitted before the account is requested from Cybrid.
	Selection *Selection `json:"selection,omitempty"`
}

// Selection is the bank account the customer chose in Plaid Link: what
// linkdesk needs to recognise the account Cybrid creates from it. No secret.
type Selection struct {
	InstitutionID string `json:"institution_id,omitempty"`
	Institution   string `json:"institution,omitempty"`
	// AccountID is Plaid's id of the account; Mask its last digits; Name
	// Plaid's name for it.
	AccountID string `json:"account_id,omitempty"`
	Mask      string `json:"mask,omitempty"`
	Name      string `json:"name,omitempty"`
}
