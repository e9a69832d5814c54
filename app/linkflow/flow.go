// Package linkflow runs the link flow of Cybrid's "Integrating Plaid Link"
// guide, independent of any UI:
//
//	start → POST /api/workflows (plaid, link_token_create) → poll GET until
//	completed with a plaid_link_token (or failed) → Link is opened by the UI →
//	onSuccess → exactly one account → POST /api/external_bank_accounts →
//	poll GET until the account leaves storing.
//
// and its update mode for an account in refresh_required:
//
//	POST /api/workflows (link_token_update, external_bank_account_guid) →
//	poll → Link → onSuccess → PATCH the account's state to completed.
//
// Under faults (see reconcile.go): the client retries GETs and the
// idempotent PATCH itself; a POST /api/external_bank_accounts whose answer
// is lost is never simply repeated — the customer's accounts are listed
// first, and the account that POST created, if any, is adopted. Otherwise
// the POST is sent once more automatically, and then the attempt waits in
// account_retry, where RetryAccount tries again with the Plaid public token
// kept in memory until it expires (30 minutes after Link). A failed or lost
// POST /api/workflows is simply sent again: a spare workflow is harmless.
//
// Go owns the state: a Flow keeps each Attempt and reports every change to an
// observer as a snapshot plus an Event. Calls that do network work return at
// once and run in goroutines, so a UI thread never waits on Cybrid.
package linkflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/guid"
	"linkdesk/app/problem"
)

// API is the part of the Cybrid client the flow uses (*cybrid.Client).
type API interface {
	CreateWorkflow(ctx context.Context, w cybrid.PostWorkflow) (cybrid.Workflow, error)
	GetWorkflow(ctx context.Context, guid string) (cybrid.Workflow, error)
	CreateExternalBankAccount(ctx context.Context, a cybrid.PostExternalBankAccount) (cybrid.ExternalBankAccount, error)
	GetExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error)
	ListExternalBankAccounts(ctx context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error)
	PatchExternalBankAccount(ctx context.Context, guid string, p cybrid.PatchExternalBankAccount) (cybrid.ExternalBankAccount, error)
	GetCustomer(ctx context.Context, guid string, includePII bool) (cybrid.Customer, error)
}

// Settings are the per-environment values every workflow and account carries.
type Settings struct {
	Language              string // en, fr, es, nl, de
	LinkCustomizationName string
	RedirectURI           string // "" for none
	Asset                 string // e.g. USD

	PollInitial     time.Duration // densest poll gap
	PollMax         time.Duration // longest poll gap
	WorkflowTimeout time.Duration // deadline for a link token
	AccountTimeout  time.Duration // deadline for an account to leave storing

	// PublicTokenLifetime is how long the Plaid public token from onSuccess
	// stays usable for RetryAccount (DefaultPublicTokenLifetime when zero).
	PublicTokenLifetime time.Duration
	// ReconcileDelay is the pause before listing the customer's accounts
	// after an unanswered POST (DefaultReconcileDelay when zero; negative
	// means none).
	ReconcileDelay time.Duration
	// CallbackGap is how long a Plaid callback that arrived before an
	// earlier one waits for it (DefaultCallbackGap when zero; see Deliver).
	CallbackGap time.Duration
	// Claimed reports whether an attempt this Flow does not run owns the
	// account accountGUID (e.g. journal.Journal.Claims: attempts recorded
	// before a restart), so that an unanswered POST is never matched to it
	// (MatchCreated; the Flow's own other attempts are excluded without
	// it). nil: none. It is called without the Flow's locks held and must
	// not call the Flow.
	Claimed func(accountGUID string) bool

	// Prefetching link tokens (prefetch.go). Shelf turns it on: the
	// environment's prepared tokens are kept there (nil: Prefetch prepares
	// nothing). OnPrefetch hears every step of a preparation before the
	// click, one call at a time, in order (nil: none); it must not block for
	// long and must not call the Flow's Prefetch methods. TokenLifetime is
	// how long a link token lives (LinkTokenLifetime when zero); Now is the
	// clock prepared tokens' lifetimes are measured with (time.Now when nil).
	Shelf         *Shelf
	OnPrefetch    func(Prepared, Event)
	TokenLifetime time.Duration
	Now           func() time.Time
}

// Observer receives a snapshot of the attempt after every change, with the
// event that caused it, in order. It is called from the flow's goroutines, one
// call at a time per Flow; it must not block for long and must not call the
// Flow's methods other than Get.
type Observer func(Attempt, Event)

// Flow runs attempts. Create one with New; it is safe for concurrent use.
type Flow struct {
	api      API
	settings Settings
	log      *slog.Logger
	observe  Observer

	workflowPoll *Poller
	accountPoll  *Poller

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	attempts map[string]*attempt
	notifyMu sync.Mutex // serialises observer calls

	// usedStates are the oauth_state_ids OAuthReturn took: each is taken
	// once.
	usedStates map[string]bool
}

// attempt is the flow's own record: the snapshot plus what must not leave.
type attempt struct {
	Attempt
	cancel context.CancelFunc
	// publicToken is Plaid's onSuccess token (30-minute life). Kept in memory
	// only, never logged, never in a snapshot; tokenExpiry is when Plaid
	// stops accepting it.
	publicToken string
	tokenExpiry time.Time

	// The account creation (reconcile.go): what was selected in Link, the
	// name POSTed, how many POSTs were sent and when the first one was, and
	// whether the last one's outcome is unknown.
	plaidAccount  PlaidAccount
	institutionID string
	postName      string
	posts         int
	firstPost     time.Time
	uncertain     bool
	watching      bool // an expiry watcher runs (AccountRetry)

	// oauthWaiting: Link sent the customer to the bank's OAuth page and
	// nothing has ended that wait yet (see OAuthReturn).
	oauthWaiting bool
	// oauthState is the oauth_state_id of the bank page the attempt waits
	// for, when its address carried one ("" unknown; see AwaitBankAt);
	// linkInstitution the institution Link's events named (bankwait.go).
	oauthState      string
	linkInstitution string
	// The order of Plaid callbacks (callbacks.go).
	seq seqState
}

// New returns a Flow that calls api. observe may be nil.
func New(api API, s Settings, log *slog.Logger, observe Observer) *Flow {
	if log == nil {
		log = slog.Default()
	}
	if observe == nil {
		observe = func(Attempt, Event) {}
	}
	if s.WorkflowTimeout <= 0 {
		s.WorkflowTimeout = 60 * time.Second
	}
	if s.AccountTimeout <= 0 {
		s.AccountTimeout = 120 * time.Second
	}
	if s.PublicTokenLifetime <= 0 {
		s.PublicTokenLifetime = DefaultPublicTokenLifetime
	}
	if s.ReconcileDelay == 0 {
		s.ReconcileDelay = DefaultReconcileDelay
	}
	if s.CallbackGap <= 0 {
		s.CallbackGap = DefaultCallbackGap
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Flow{
		api: api, settings: s, log: log, observe: observe,
		workflowPoll: &Poller{Initial: s.PollInitial, Max: s.PollMax},
		accountPoll:  &Poller{Initial: s.PollInitial, Max: s.PollMax},
		ctx:          ctx, cancel: cancel,
		attempts: map[string]*attempt{}, usedStates: map[string]bool{},
	}
}

// Close cancels every running attempt and waits for their goroutines.
func (f *Flow) Close() {
	f.cancel()
	f.wg.Wait()
}

// ErrUnknownAttempt is returned for an attempt id the flow does not know.
var ErrUnknownAttempt = errors.New("unknown attempt")

// StartLink begins linking a new account for customerGUID and returns the
// attempt at once; the workflow is created and polled in the background.
// When a link token was prepared for the customer (Prefetch), the attempt
// takes it instead, under the id the prefetch reserved: a ready token
// starts it in link_open.
func (f *Flow) StartLink(customerGUID string) (Attempt, error) {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return Attempt{}, err
	}
	if a, ok := f.takePrepared(customerGUID); ok {
		return a, nil
	}
	return f.start(KindLink, customerGUID, ""), nil
}

// StartRefresh begins Plaid update mode for the account accountGUID of
// customerGUID (an account in refresh_required) and returns at once.
func (f *Flow) StartRefresh(customerGUID, accountGUID string) (Attempt, error) {
	if err := checkGUIDs(customerGUID, accountGUID); err != nil {
		return Attempt{}, err
	}
	return f.start(KindRefresh, customerGUID, accountGUID), nil
}

// CheckCustomer asks Cybrid for the customer (GET /api/customers/{guid},
// without PII) and returns nil when its state lets it link a bank account:
// Cybrid links bank accounts (new ones, and update mode) only for verified
// customers (a customer without a state is let through: Cybrid then
// decides). Otherwise it returns an error carrying a customer_state
// problem that says why and what to do (problem.CustomerNotVerified) — or,
// when Cybrid could not be asked, that GET's error. It creates nothing: call
// it before StartLink or StartRefresh, so that an attempt that cannot
// succeed is refused before any workflow exists.
func (f *Flow) CheckCustomer(ctx context.Context, customerGUID string) error {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return err
	}
	err := f.customerCanLink(ctx, customerGUID)
	if problem.Classify(err).Kind == problem.CustomerState {
		f.log.Info("refused to start: the customer is not verified", "customer", customerGUID)
	}
	return err
}

// customerCanLink is CheckCustomer's rule, without its log line (the
// prefetch applies it too).
func (f *Flow) customerCanLink(ctx context.Context, customerGUID string) error {
	c, err := f.api.GetCustomer(ctx, customerGUID, false)
	if err != nil {
		return fmt.Errorf("reading the customer's state failed: %w", err)
	}
	if c.State == cybrid.CustomerVerified || c.State == "" {
		// "": Cybrid did not say; the workflow request lets it decide.
		return nil
	}
	p := problem.CustomerNotVerified(string(c.State))
	p.Detail = fmt.Sprintf("GET /api/customers/%s: state %s; only verified customers can link bank accounts", customerGUID, problem.Quote(string(c.State), 32))
	return problem.New(p)
}

// StartLinkChecked is StartLink for the operator's click: a token prepared
// for the customer is taken at once (its preparation checked the customer,
// and the click should not wait for Cybrid again); otherwise the customer
// is checked first (CheckCustomer), so that an attempt that cannot succeed
// is refused before any workflow exists.
func (f *Flow) StartLinkChecked(ctx context.Context, customerGUID string) (Attempt, error) {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return Attempt{}, err
	}
	if a, ok := f.takePrepared(customerGUID); ok {
		return a, nil
	}
	if err := f.CheckCustomer(ctx, customerGUID); err != nil {
		return Attempt{}, err
	}
	return f.start(KindLink, customerGUID, ""), nil
}

func (f *Flow) start(kind Kind, customerGUID, accountGUID string) Attempt {
	return f.begin(kind, customerGUID, accountGUID, CreatingWorkflow, startMessage(kind), f.getLinkToken)
}

// begin records a new attempt in state first, reports it, and runs run in a
// goroutine the flow waits for on Close; it returns the first snapshot.
func (f *Flow) begin(kind Kind, customerGUID, accountGUID string, first State, msg string, run func(ctx context.Context, id string)) Attempt {
	now := time.Now()
	id := newID()
	// Every Cybrid call of the attempt is made with (a child of) this
	// context, so the client's Observer files it under the attempt.
	ctx, cancel := context.WithCancel(cybrid.WithAttempt(f.ctx, id))
	a := &attempt{
		Attempt: Attempt{
			ID: id, Kind: kind, CustomerGUID: customerGUID, AccountGUID: accountGUID,
			State: first, StartedAt: now, UpdatedAt: now, StateSince: now, Rev: 1,
		},
		cancel: cancel,
	}
	f.mu.Lock()
	f.attempts[a.ID] = a
	snap := a.Attempt
	f.notifyMu.Lock()
	f.mu.Unlock()
	f.emit(snap, Event{Type: "state", Message: msg})
	f.notifyMu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		run(ctx, a.ID)
	}()
	return snap
}

func startMessage(k Kind) string {
	if k == KindRefresh {
		return "Creating a Plaid link token for update mode"
	}
	return "Creating a Plaid link token"
}

func checkGUIDs(customerGUID, accountGUID string) error {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return err
	}
	return guid.Check("account GUID", accountGUID)
}

// ValidAttemptID reports whether s has the shape of the attempt ids a Flow
// makes (16 lowercase hexadecimal characters): the one rule for checking an
// attempt id that came from outside.
func ValidAttemptID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckAttemptID returns nil for a valid attempt id, else an error that
// says what an attempt id is.
func CheckAttemptID(s string) error {
	switch {
	case s == "":
		return errors.New("attempt_id is missing: pass the id of the attempt this call is about (16 lowercase hexadecimal characters)")
	case !ValidAttemptID(s):
		// The value is not echoed: a token pasted by mistake must not
		// travel on.
		return fmt.Errorf("attempt_id (%d characters) is not an attempt id: use the id that started the attempt (16 lowercase hexadecimal characters)", len(s))
	}
	return nil
}

// Latest returns the customer's latest attempt (the last one started), or
// false when the customer has none in this flow.
func (f *Flow) Latest(customerGUID string) (Attempt, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last *attempt
	for _, a := range f.attempts {
		if a.CustomerGUID == customerGUID && (last == nil || a.StartedAt.After(last.StartedAt) || a.StartedAt.Equal(last.StartedAt) && a.ID > last.ID) {
			last = a
		}
	}
	if last == nil {
		return Attempt{}, false
	}
	return last.Attempt, true
}

// Running returns the attempts that have not ended, oldest first.
func (f *Flow) Running() []Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []Attempt{}
	for _, a := range f.attempts {
		if !a.State.Final() {
			out = append(out, a.Attempt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

// AccountChanged tells the flow that an account changed outside its
// attempts (it was unlinked): every attempt that refers to it gets the new
// state in its snapshot, with an event saying why, so that nothing shows the
// account as it was.
func (f *Flow) AccountChanged(acct cybrid.ExternalBankAccount, why string) {
	f.mu.Lock()
	var ids []string
	for id, a := range f.attempts {
		if a.AccountGUID == acct.GUID || a.Account != nil && a.Account.GUID == acct.GUID {
			ids = append(ids, id)
		}
	}
	f.mu.Unlock()
	for _, id := range ids {
		f.update(id, func(a *attempt) (Event, error) {
			if a.Account == nil {
				a.Account = summary(acct)
			} else {
				a.Account.State, a.Account.FailureCode = string(acct.State), acct.FailureCode
			}
			return Event{Type: "account", Message: why, Data: map[string]any{"account_guid": acct.GUID, "account_state": acct.State}}, nil
		})
	}
}

// Get returns a snapshot of the attempt.
func (f *Flow) Get(id string) (Attempt, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.attempts[id]
	if !ok {
		return Attempt{}, false
	}
	return a.Attempt, true
}

// Cancel stops an attempt that has not ended; it ends as exited.
func (f *Flow) Cancel(id string) error {
	return f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, fmt.Errorf("attempt %s has already ended (%s)", id, a.State)
		}
		a.cancel()
		a.publicToken = ""
		a.State = Exited
		a.ExitStatus = "cancelled"
		a.Error = "Cancelled by the operator."
		a.Problem = nil
		return Event{Type: "state", Message: "Cancelled by the operator"}, nil
	})
}

// getLinkToken creates the workflow and polls it until it has a link token.
func (f *Flow) getLinkToken(ctx context.Context, id string) {
	a, _ := f.Get(id)
	req := cybrid.PostWorkflow{
		Type:                  "plaid",
		Kind:                  cybrid.LinkTokenCreate,
		Language:              f.settings.Language,
		LinkCustomizationName: f.settings.LinkCustomizationName,
		CustomerGUID:          a.CustomerGUID,
		RedirectURI:           f.settings.RedirectURI,
	}
	if a.Kind == KindRefresh {
		req.Kind = cybrid.LinkTokenUpdate
		req.ExternalBankAccountGUID = a.AccountGUID
	}
	// A workflow whose creation failed, even ambiguously, is simply created
	// anew (up to workflowTries times): a workflow only mints a Plaid link
	// token (nothing the customer sees, nothing linked; an unused link token
	// expires), while listing workflows could not tell this attempt's from
	// another's (the list shows neither the kind nor the account).
	var wf cybrid.Workflow
	var err error
	for try := 1; ; try++ {
		wf, err = f.api.CreateWorkflow(ctx, req)
		if err == nil || ctx.Err() != nil || try == workflowTries || !errors.Is(err, cybrid.ErrAmbiguous) && !cybrid.IsTemporary(err) {
			break
		}
		f.note(id, "retry", fmt.Sprintf("Creating the link-token workflow failed (%v); creating a new one", err))
		if !sleepCtx(ctx, max(cybrid.RetryAfter(err), time.Duration(try)*500*time.Millisecond)) {
			break
		}
	}
	if ctx.Err() != nil {
		return // cancelled or closing: Cancel/Close already ended the attempt
	}
	if err != nil {
		f.failWith(id, "", "Cybrid did not create the link-token workflow.", err)
		return
	}
	f.update(id, func(a *attempt) (Event, error) {
		a.WorkflowGUID = wf.GUID
		a.State = WaitingForToken
		a.Polls = 0
		return Event{Type: "state", Message: "Waiting for Cybrid to create the Plaid link token", Data: map[string]any{"workflow_guid": wf.GUID}}, nil
	})

	final, polls, err := f.pollLinkToken(ctx, wf.GUID,
		func(msg string) { f.note(id, "poll", msg) },
		func() { f.countPoll(id) })
	switch {
	case errors.Is(err, ErrPollDeadline):
		msg := fmt.Sprintf("Cybrid did not produce a link token within %s (%d polls). Try again; if it keeps happening, Cybrid may be degraded.", f.settings.WorkflowTimeout, polls)
		f.fail(id, "timeout", msg, problem.Problem{Kind: problem.CybridFailure, Headline: msg, Action: problem.TryAgain,
			Detail: fmt.Sprintf("workflow %s still had no plaid_link_token after %s", wf.GUID, f.settings.WorkflowTimeout)})
		return
	case errors.Is(err, context.Canceled):
		return
	case err != nil:
		f.failWith(id, "", "Checking the link-token workflow failed.", err)
		return
	}
	if final.State == cybrid.WorkflowFailed {
		code := final.FailureCode
		msg := fmt.Sprintf("Cybrid could not create a Plaid link token (failure code %s). Try again; if it fails again, report the workflow GUID %s and the failure code to Cybrid support.", orUnknown(code), wf.GUID)
		f.fail(id, code, msg, problem.Problem{Kind: problem.CybridFailure, Headline: msg, Action: problem.TryAgain,
			Detail: fmt.Sprintf("workflow %s: state failed, failure_code %s", wf.GUID, problem.Quote(orUnknown(code), 64))})
		return
	}
	f.update(id, func(a *attempt) (Event, error) {
		a.LinkToken = final.PlaidLinkToken
		a.State = LinkOpen
		return Event{Type: "state", Message: "Link token ready; opening Plaid Link", Data: map[string]any{"polls": polls}}, nil
	})
}

// pollLinkToken polls the link-token workflow wf until it has a link token
// or failed, for at most Settings.WorkflowTimeout (ErrPollDeadline), on the
// flow's workflow poller. A transient failure is reported to note and
// polling goes on; counted is called for each answer. It returns the last
// workflow read and the number of polls.
func (f *Flow) pollLinkToken(ctx context.Context, wf string, note func(msg string), counted func()) (cybrid.Workflow, int, error) {
	pctx, cancel := context.WithTimeout(ctx, f.settings.WorkflowTimeout)
	defer cancel()
	var final cybrid.Workflow
	polls, err := f.workflowPoll.Wait(pctx, func(ctx context.Context) (bool, time.Duration, error) {
		w, err := f.api.GetWorkflow(ctx, wf)
		if err != nil {
			if transient(err) {
				note(fmt.Sprintf("Polling the workflow failed, retrying: %v", err))
				return false, 0, nil
			}
			return false, 0, err
		}
		counted()
		switch {
		case w.State == cybrid.WorkflowFailed:
			final = w
			return true, 0, nil
		case w.PlaidLinkToken != "":
			final = w
			return true, w.UpdatedAt.Sub(w.CreatedAt), nil
		}
		return false, 0, nil
	})
	return final, polls, err
}

// Success handles Plaid's onSuccess for the attempt, for Go-side callers
// (the page's callbacks come through Deliver, in order and whole). It
// returns at once; the account is created (or, in update mode, marked
// completed) in the background. More or fewer than one account is refused
// with a clear message: Cybrid links exactly one account per Link session.
func (f *Flow) Success(id, publicToken string, meta SuccessMetadata) error {
	return f.success(id, publicToken, meta, callbackEvent(OnSuccess, "", meta, nil))
}

// success applies onSuccess; ev is the evidence to record (Type, Message,
// Data, Seq, At). The account chosen in Link rides on the event
// (Event.Selection), which observers receive before the account is
// requested.
func (f *Flow) success(id, publicToken string, meta SuccessMetadata, ev Event) error {
	if publicToken == "" {
		return errors.New("onSuccess carried no public token")
	}
	var kind Kind
	err := f.update(id, func(a *attempt) (Event, error) {
		if a.State != LinkOpen {
			return Event{}, fmt.Errorf("attempt %s is not waiting for Plaid Link (it is %s)", id, a.State)
		}
		kind = a.Kind
		a.oauthWaiting = false
		if meta.Institution != nil {
			a.Institution = meta.Institution.Name
			a.institutionID = meta.Institution.InstitutionID
		}
		a.publicToken = publicToken
		a.tokenExpiry = time.Now().Add(f.settings.PublicTokenLifetime)
		if len(meta.Accounts) == 1 {
			a.plaidAccount = meta.Accounts[0]
			a.postName = accountName(meta.Accounts[0])
			ev.Selection = selectionOf(meta)
		}
		if a.Kind == KindLink && len(meta.Accounts) != 1 {
			a.State = Failed
			a.Code = "account_count"
			a.Error = fmt.Sprintf("Plaid returned %d accounts; Cybrid links exactly one account per Link session. Link again and select one account.", len(meta.Accounts))
			a.Problem = &problem.Problem{Kind: problem.Plaid, Headline: a.Error, Action: problem.TryAgain}
			a.publicToken = ""
			return ev, nil
		}
		if a.Kind == KindLink {
			a.State = CreatingAccount
		} else {
			a.State = UpdatingAccount
		}
		a.Polls = 0
		return ev, nil
	})
	if err != nil {
		return err
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		a, _ := f.Get(id)
		if a.State.Final() {
			return
		}
		ctx := f.attemptCtx(id)
		if kind == KindRefresh {
			f.markRefreshed(ctx, id)
		} else {
			f.createAccount(ctx, id)
		}
	}()
	return nil
}

// selectionOf is the account chosen in Link (the first of meta's accounts).
func selectionOf(meta SuccessMetadata) *Selection {
	s := &Selection{}
	if meta.Institution != nil {
		s.InstitutionID, s.Institution = meta.Institution.InstitutionID, meta.Institution.Name
	}
	if len(meta.Accounts) > 0 {
		a := meta.Accounts[0]
		s.AccountID, s.Name = a.ID, a.Name
		if a.Mask != nil {
			s.Mask = *a.Mask
		}
	}
	return s
}

// attemptCtx returns a context for more of attempt id's work: ended with the
// attempt (its cancel) or the flow, and carrying the attempt id for the
// Cybrid client's Observer.
func (f *Flow) attemptCtx(id string) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.attempts[id]
	if !ok {
		return cybrid.WithAttempt(f.ctx, id)
	}
	ctx, cancel := context.WithCancel(cybrid.WithAttempt(f.ctx, id))
	prev := a.cancel
	a.cancel = func() { prev(); cancel() }
	return ctx
}

// followAccount polls the account until it leaves storing and ends the attempt.
func (f *Flow) followAccount(ctx context.Context, id string, acct cybrid.ExternalBankAccount) {
	final := acct
	if acct.State == cybrid.AccountStoring {
		pctx, cancel := context.WithTimeout(ctx, f.settings.AccountTimeout)
		defer cancel()
		polls, err := f.accountPoll.Wait(pctx, func(ctx context.Context) (bool, time.Duration, error) {
			got, err := f.api.GetExternalBankAccount(ctx, acct.GUID)
			if err != nil {
				if transient(err) {
					f.note(id, "poll", fmt.Sprintf("Polling the account failed, retrying: %v", err))
					return false, 0, nil
				}
				return false, 0, err
			}
			f.countPoll(id)
			if got.State == cybrid.AccountStoring {
				return false, 0, nil
			}
			final = got
			return true, got.UpdatedAt.Sub(got.CreatedAt), nil
		})
		switch {
		case errors.Is(err, ErrPollDeadline):
			msg := fmt.Sprintf("The account %s was still being stored after %s (%d polls). It may still complete: check the customer's accounts before linking again.", acct.GUID, f.settings.AccountTimeout, polls)
			f.fail(id, "timeout", msg, problem.Problem{Kind: problem.CybridFailure, Headline: msg,
				Detail: fmt.Sprintf("account %s still storing after %s", acct.GUID, f.settings.AccountTimeout)})
			return
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			f.failWith(id, "", "Checking the new account failed: check the customer's accounts before linking again.", err)
			return
		}
	}
	f.finishWithAccount(id, final)
}

func (f *Flow) finishWithAccount(id string, acct cybrid.ExternalBankAccount) {
	f.update(id, func(a *attempt) (Event, error) {
		a.Account = summary(acct)
		a.publicToken = ""
		data := map[string]any{"account_guid": acct.GUID, "account_state": acct.State}
		what := "Account linked"
		switch a.Kind {
		case KindRefresh:
			what = "Bank connection renewed"
		case KindVerify:
			what = "Ownership verification finished"
		}
		switch acct.State {
		case cybrid.AccountCompleted:
			a.State = Done
			return Event{Type: "state", Message: what + " and ready", Data: data}, nil
		case cybrid.AccountUnverified:
			a.State = Done
			return Event{Type: "state", Message: what + "; bank-account ownership verification is still needed", Data: data}, nil
		case cybrid.AccountFailed:
			p := problem.AccountFailure(acct.FailureCode)
			p.Detail = fmt.Sprintf("account %s: state failed, failure_code %s", acct.GUID, problem.Quote(orUnknown(acct.FailureCode), 64))
			a.State = Failed
			a.Code = acct.FailureCode
			a.Error = p.Headline
			a.Problem = &p
			data["failure_code"] = acct.FailureCode
			return Event{Type: "state", Message: "Cybrid could not create the account", Data: data}, nil
		default:
			a.State = Done
			return Event{Type: "state", Message: "Account is " + string(acct.State), Data: data}, nil
		}
	})
}

// markRefreshed ends update mode: Cybrid does not clear refresh_required by
// itself, so the account is PATCHed to completed (Cybrid answers completed, or
// unverified when the account still needs ownership verification).
func (f *Flow) markRefreshed(ctx context.Context, id string) {
	a, _ := f.Get(id)
	acct, err := f.api.PatchExternalBankAccount(ctx, a.AccountGUID, cybrid.PatchExternalBankAccount{State: cybrid.AccountCompleted})
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.failWith(id, "", "The bank connection was renewed in Plaid, but marking the account completed at Cybrid failed: try Refresh connection again.", err)
		return
	}
	f.finishWithAccount(id, acct)
}

// Exit handles Plaid's onExit, for Go-side callers (the page's callbacks
// come through Deliver). A Plaid error ends the attempt as failed with
// Plaid's explanation; otherwise it ends as exited with where the user left.
func (f *Flow) Exit(id string, linkErr *LinkError, meta ExitMetadata) error {
	return f.exit(id, linkErr, meta, callbackEvent(OnExit, "", meta, linkErr))
}

func (f *Flow) exit(id string, linkErr *LinkError, meta ExitMetadata, ev Event) error {
	if f.replaceRefused(id, linkErr, ev) {
		return nil // a prepared token Link refused: replaced (prefetch.go)
	}
	return f.update(id, func(a *attempt) (Event, error) {
		a.oauthWaiting = false
		if a.State.Final() {
			// onExit may follow onSuccess when the success pane closes.
			ev.Message = "Plaid Link: onExit after the attempt ended"
			return ev, nil
		}
		if a.State != LinkOpen {
			// onExit after onSuccess while the account is being created:
			// nothing to change.
			return ev, nil
		}
		a.cancel()
		status := ""
		if meta.Status != nil {
			status = *meta.Status
		}
		if meta.Institution != nil {
			a.Institution = meta.Institution.Name
		}
		a.ExitStatus = status
		if linkErr != nil {
			p := plaidFailure(linkErr, status)
			a.State = Failed
			a.Code = linkErr.ErrorCode
			a.Error = p.Headline
			a.Problem = &p
		} else {
			a.State = Exited
			where := exitStatusText[status]
			if status == "requires_credentials" && meta.Institution == nil {
				// Plaid reports requires_credentials also before a bank
				// was chosen (at the consent pane).
				where = "before choosing a bank"
			}
			if where == "" {
				where = "before finishing"
			}
			a.Error = "The customer left Plaid Link " + where + ". Nothing was linked; start again when ready."
		}
		return ev, nil
	})
}

// plaidFailure words a Plaid Link error (package problem's wording).
func plaidFailure(e *LinkError, status string) problem.Problem {
	pe := problem.PlaidError{Type: e.ErrorType, Code: e.ErrorCode, Message: e.ErrorMessage, ExitStatus: status}
	if e.DisplayMessage != nil {
		pe.DisplayMessage = *e.DisplayMessage
	}
	return problem.PlaidLink(pe)
}

// LinkWindowEvent records something that happened around Plaid Link outside
// the page (a bank pop-up opened or closed, the OAuth redirect returned) on
// every attempt whose Link is open. It returns how many attempts it reached.
func (f *Flow) LinkWindowEvent(msg string, data map[string]any) int {
	return f.linkWindow(msg, data, false)
}

// AwaitBank is LinkWindowEvent for a bank's sign-in page that opened (in a
// pop-up or in the system browser): the attempts whose Link is open wait for
// the bank's OAuth return from then on (see OAuthReturn).
func (f *Flow) AwaitBank(msg string, data map[string]any) int {
	return f.linkWindow(msg, data, true)
}

func (f *Flow) linkWindow(msg string, data map[string]any, await bool) int {
	f.mu.Lock()
	var ids []string
	for id, a := range f.attempts {
		if a.State == LinkOpen {
			ids = append(ids, id)
		}
	}
	f.mu.Unlock()
	n := 0
	for _, id := range ids {
		err := f.update(id, func(a *attempt) (Event, error) {
			if a.State != LinkOpen {
				return Event{}, errNotOpen
			}
			if await {
				a.oauthWaiting = true
			}
			return Event{Type: "link_window", Message: msg, Data: data}, nil
		})
		if err == nil {
			n++
		}
	}
	return n
}

var errNotOpen = errors.New("Link is not open")

// ErrNotWaitingForBank is returned by OAuthReturn when no attempt is
// waiting for a bank's OAuth return.
var ErrNotWaitingForBank = errors.New("linkdesk was not waiting for a bank's answer. If the customer was signing in to their bank, start again in linkdesk")

// OAuthReturn takes the OAuth redirect that a bank sent back (rawURL, the
// redirect URI with oauth_state_id) for the attempt whose Link is waiting
// for its bank: one that is link_open and whose Link reported OPEN_OAUTH or
// whose bank page opened (AwaitBank), with nothing since ending that wait.
// It acts once per wait: the attempt stops waiting, the return is recorded
// on it, and its snapshot is returned so that Link can be re-created for it.
// When several attempts wait (several Links were opened), the one that
// changed last takes it. It refuses, changing nothing:
//   - a URL without an oauth_state_id (ErrNoOAuthState);
//   - an oauth_state_id this flow took once already (ErrStaleOAuthState);
//   - an oauth_state_id other than the one of the bank page the attempt
//     waits for, when that page's address carried one (ErrForeignOAuthState:
//     see AwaitBankAt);
//   - any return while no attempt waits (ErrNotWaitingForBank).
func (f *Flow) OAuthReturn(rawURL string) (Attempt, error) {
	state := oauthStateOf(rawURL)
	if state == "" {
		return Attempt{}, ErrNoOAuthState
	}
	f.mu.Lock()
	if f.usedStates[state] {
		f.mu.Unlock()
		return Attempt{}, ErrStaleOAuthState
	}
	var pick *attempt
	for _, a := range f.attempts {
		if a.oauthWaiting && a.State == LinkOpen && (pick == nil || a.UpdatedAt.After(pick.UpdatedAt)) {
			pick = a
		}
	}
	f.mu.Unlock()
	if pick == nil {
		return Attempt{}, ErrNotWaitingForBank
	}
	var snap Attempt
	err := f.update(pick.ID, func(a *attempt) (Event, error) {
		if !a.oauthWaiting || a.State != LinkOpen {
			return Event{}, ErrNotWaitingForBank
		}
		if f.usedStates[state] {
			return Event{}, ErrStaleOAuthState
		}
		if a.oauthState != "" && a.oauthState != state {
			return Event{}, ErrForeignOAuthState
		}
		a.oauthWaiting = false
		f.usedStates[state] = true
		return Event{Type: "link_window", Message: "OAuth redirect received; resuming Plaid Link", Data: map[string]any{"oauth_state_id_present": true, "oauth_state_id_checked": a.oauthState != ""}}, nil
	})
	if err != nil {
		return Attempt{}, err
	}
	snap, _ = f.Get(pick.ID)
	return snap, nil
}

// Loaded records Plaid's onLoad, for Go-side callers (the page's come
// through Deliver).
func (f *Flow) Loaded(id string) error {
	return f.record(id, callbackEvent(OnLoad, "", nil, nil))
}

// PlaidEvent records a Plaid onEvent, for Go-side callers (the page's come
// through Deliver). Metadata is kept whole (secrets redacted).
func (f *Flow) PlaidEvent(id, name string, meta map[string]any) error {
	if name == "" {
		return errors.New("onEvent carried no event name")
	}
	return f.plaidEvent(id, name, callbackEvent(OnEvent, name, meta, nil))
}

// plaidEvent records onEvent name; OPEN_OAUTH starts the wait for the
// bank's OAuth return (OAuthReturn).
func (f *Flow) plaidEvent(id, name string, ev Event) error {
	return f.update(id, func(a *attempt) (Event, error) {
		if name == "OPEN_OAUTH" && a.State == LinkOpen {
			a.oauthWaiting = true
		}
		if ins := eventInstitution(ev); ins != "" {
			a.linkInstitution = ins
		}
		return ev, nil
	})
}

// record records ev on the attempt without changing it.
func (f *Flow) record(id string, ev Event) error {
	return f.update(id, func(a *attempt) (Event, error) { return ev, nil })
}

func (f *Flow) note(id, typ, msg string) error { return f.noteData(id, typ, msg, nil) }

func (f *Flow) noteData(id, typ, msg string, data map[string]any) error {
	return f.update(id, func(a *attempt) (Event, error) {
		return Event{Type: typ, Message: msg, Data: data}, nil
	})
}

// jsonValue logs a value as JSON (with the text and the JSON handlers
// alike), not as a Go map.
type jsonValue struct{ v any }

func (j jsonValue) MarshalJSON() ([]byte, error) { return json.Marshal(j.v) }

func (j jsonValue) MarshalText() ([]byte, error) { return json.Marshal(j.v) }

// countPoll counts a poll and reports it, so the UI's poll count is live.
func (f *Flow) countPoll(id string) {
	f.update(id, func(a *attempt) (Event, error) {
		a.Polls++
		return Event{Type: "poll", Message: fmt.Sprintf("Poll %d", a.Polls)}, nil
	})
}

// fail ends the attempt failed with code, the summary msg (Attempt.Error)
// and the problem p (Attempt.Problem).
func (f *Flow) fail(id, code, msg string, p problem.Problem) {
	f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, errors.New("already ended")
		}
		a.State = Failed
		a.Code = code
		a.Error = msg
		a.Problem = &p
		a.publicToken = ""
		return Event{Type: "state", Message: msg, Data: map[string]any{"code": code, "problem": string(p.Kind)}}, nil
	})
}

// failWith ends the attempt failed because of err, met while doing what
// lead says (a sentence, e.g. "Cybrid did not create the link-token
// workflow."): Error is lead followed by what to do about err; Problem is
// err classified, its detail led by lead.
func (f *Flow) failWith(id, code, lead string, err error) {
	p := causeProblem(lead, err)
	f.fail(id, code, lead+" "+p.Text(), p)
}

// causeProblem classifies err and puts lead in front of its detail.
func causeProblem(lead string, err error) problem.Problem {
	p := problem.Classify(err)
	p.Detail = problem.Quote(lead+" "+p.Detail, problem.MaxDetail)
	return p
}

// update applies change to the attempt under the lock, stamps times, and
// reports the new snapshot and event to the observer.
func (f *Flow) update(id string, change func(a *attempt) (Event, error)) error {
	f.mu.Lock()
	a, ok := f.attempts[id]
	if !ok {
		f.mu.Unlock()
		return fmt.Errorf("%w %.40q", ErrUnknownAttempt, id)
	}
	before := a.State
	ev, err := change(a)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	now := time.Now()
	a.UpdatedAt = now
	a.Rev++
	if ev.Seq > a.PlaidSeq {
		a.PlaidSeq = ev.Seq
	}
	if a.State != before {
		a.StateSince = now
		if a.State.Final() {
			a.oauthWaiting = false
		}
	}
	if !a.oauthWaiting {
		// The bank in the browser is part of the wait for its return.
		a.BankInBrowser = false
	}
	snap := a.Attempt
	// Take the observer lock before releasing the state lock, so observers
	// see snapshots in the order they were made.
	f.notifyMu.Lock()
	f.mu.Unlock()
	defer f.notifyMu.Unlock()
	f.emit(snap, ev)
	return nil
}

// emit logs the event and calls the observer; the caller holds notifyMu.
func (f *Flow) emit(snap Attempt, ev Event) {
	ev.AttemptID = snap.ID
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.State = snap.State
	attrs := []any{"attempt", snap.ID, "kind", snap.Kind, "state", snap.State, "type", ev.Type}
	if ev.Seq > 0 {
		attrs = append(attrs, "seq", ev.Seq)
	}
	if len(ev.Data) > 0 {
		attrs = append(attrs, "data", jsonValue{ev.Data})
	}
	level := slog.LevelInfo
	if ev.Type == "poll" {
		level = slog.LevelDebug
	} else if snap.State == Failed {
		level = slog.LevelWarn
	}
	f.log.Log(context.Background(), level, ev.Message, attrs...)
	f.observe(snap, ev)
}

func summary(a cybrid.ExternalBankAccount) *Account {
	return &Account{
		GUID: a.GUID, Name: a.Name, State: string(a.State), FailureCode: a.FailureCode,
		InstitutionID: a.PlaidInstitutionID, Mask: a.PlaidAccountMask,
	}
}

// workflowTries bounds the POSTs of one link-token workflow.
const workflowTries = 3

// transient reports whether a polling error is worth another poll: network
// failures, timeouts, 5xx, 429 and malformed answers that outlasted the
// client's own retries; not 4xx answers or the end of the attempt.
func transient(err error) bool { return cybrid.IsTemporary(err) }

func orUnknown(s string) string {
	if s == "" {
		return "not given"
	}
	return s
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
