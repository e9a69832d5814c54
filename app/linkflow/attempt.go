package linkflow

import (
	"time"
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
	ID           string    `json:"id"`
	Kind         Kind      `json:"kind"`
	CustomerGUID string    `json:"customer_guid"`
	State        State     `json:"state"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// StateSince is when the current state began (for elapsed-time display).
	StateSince time.Time `json:"state_since"`

	WorkflowGUID string `json:"workflow_guid,omitempty"`
	// LinkToken is the Plaid link token the page opens Link with. Link tokens
	// are meant for the client side; it is set from link_open on.
	LinkToken string `json:"link_token,omitempty"`
	// Polls counts the GETs made while waiting in the current state.
	Polls int `json:"polls"`

	// AccountGUID is the account being refreshed, or the account created.
	AccountGUID string   `json:"account_guid,omitempty"`
	Account     *Account `json:"account,omitempty"`

	// Institution is the bank the user chose in Link, once known.
	Institution string `json:"institution,omitempty"`
	// ExitStatus is Plaid's onExit metadata.status when the user left Link.
	ExitStatus string `json:"exit_status,omitempty"`
	// Error says what went wrong and what to do next (failed, or exited with
	// a Plaid error).
	Error string `json:"error,omitempty"`
	// Code is a machine-readable reason: a Cybrid failure_code, a Plaid
	// error_code, or one of this package's codes (e.g. "timeout").
	Code string `json:"code,omitempty"`
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
// call's outcome, a Plaid callback or event. The same stream feeds the UI, the
// log and (later) the timeline and journal. Data never holds secrets.
type Event struct {
	AttemptID string         `json:"attempt_id"`
	Time      time.Time      `json:"time"`
	Type      string         `json:"type"` // "state", "plaid_callback", "plaid_event", "poll"
	State     State          `json:"state"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
}
