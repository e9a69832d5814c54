package journal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
)

// API is what reconciliation asks Cybrid (*cybrid.Client). It only reads:
// reconciling never creates, changes or deletes anything.
type API interface {
	GetWorkflow(ctx context.Context, guid string) (cybrid.Workflow, error)
	ListWorkflows(ctx context.Context, p cybrid.ListWorkflowsParams) (cybrid.WorkflowList, error)
	GetExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error)
	ListExternalBankAccounts(ctx context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error)
}

// Outcome is what reconciliation found for an interrupted attempt.
type Outcome string

const (
	// OutcomeChecking: not yet compared with Cybrid (reconciliation runs).
	OutcomeChecking Outcome = "checking"
	// OutcomeUnchecked: Cybrid could not be asked; checked again at the
	// next start or on Recheck.
	OutcomeUnchecked Outcome = "unchecked"
	// OutcomeNothingLinked: stopped before an account was requested from
	// Cybrid; nothing can have been linked.
	OutcomeNothingLinked Outcome = "nothing_linked"
	// OutcomeNotCreated: the account may have been requested, but Cybrid
	// has no account from this attempt.
	OutcomeNotCreated Outcome = "not_created"
	// OutcomeLinked: the account exists (completed, unverified, or since
	// then refresh_required).
	OutcomeLinked Outcome = "linked"
	// OutcomeStoring: the account exists and Cybrid is still storing it.
	OutcomeStoring Outcome = "storing"
	// OutcomeFailed: the account exists in state failed.
	OutcomeFailed Outcome = "failed"
	// OutcomeGone: the account is deleted, being deleted, or unknown.
	OutcomeGone Outcome = "gone"
	// OutcomeAmbiguous: more than one new account could be this attempt's.
	OutcomeAmbiguous Outcome = "ambiguous"
	// OutcomeRefreshed: a refreshed account is completed or unverified.
	OutcomeRefreshed Outcome = "refreshed"
	// OutcomeRefreshRequired: a refreshed account is still refresh_required.
	OutcomeRefreshRequired Outcome = "refresh_required"
)

// Action is the next step a Recovered suggests, for the UI's button.
type Action string

const (
	ActionNone         Action = ""              // nothing to do
	ActionStartLink    Action = "start_link"    // link a new account for CustomerGUID
	ActionStartRefresh Action = "start_refresh" // refresh AccountGUID of CustomerGUID
	ActionOpenAccounts Action = "open_accounts" // look at CustomerGUID's accounts
	ActionRecheck      Action = "recheck"       // ask Cybrid again (Recheck)
)

// Recovered is what became of an attempt that linkdesk was running when it
// stopped, as found in Cybrid at the next start.
type Recovered struct {
	AttemptID    string        `json:"attempt_id"`
	Kind         linkflow.Kind `json:"kind"`
	CustomerGUID string        `json:"customer_guid"`
	// Step is the state the attempt was in when linkdesk stopped.
	Step      linkflow.State `json:"step"`
	StartedAt time.Time      `json:"started_at"`
	// StoppedAt is the attempt's last recorded change.
	StoppedAt time.Time `json:"stopped_at"`

	Outcome Outcome `json:"outcome"`
	Action  Action  `json:"action,omitempty"`
	// Message says, in one or two sentences, what happened and what to do.
	Message string `json:"message"`

	WorkflowGUID string `json:"workflow_guid,omitempty"`
	AccountGUID  string `json:"account_guid,omitempty"`
	AccountState string `json:"account_state,omitempty"`
	FailureCode  string `json:"failure_code,omitempty"`
	Institution  string `json:"institution,omitempty"`
	AccountName  string `json:"account_name,omitempty"`
	AccountMask  string `json:"account_mask,omitempty"`
	// Candidates are the accounts an ambiguous outcome could not choose
	// between.
	Candidates []string `json:"candidates,omitempty"`
	// CheckedAt is when Cybrid was asked (zero while checking).
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// recon is the reconciliation state of a Journal.
type recon struct {
	serial  sync.Mutex // one Reconcile at a time
	api     API
	running bool
	ran     bool // a Reconcile has finished: pending attempts left are unchecked
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Bounds of one reconciliation (issue 14: 2,000 interrupted attempts were
// reconciled with 1,202 API calls at once).
const (
	// ReconcileWorkers is how many attempts are checked at once (the
	// attempts of one customer one after the other).
	ReconcileWorkers = 4
	// MaxReconcileCalls bounds the calls to Cybrid of one reconciliation
	// (each start, each Check again). Attempts not reached are shown as not
	// checked yet, the newest being checked first.
	MaxReconcileCalls = 200
)

// errBudget is what a call beyond MaxReconcileCalls gets.
var errBudget = fmt.Errorf("linkdesk asks Cybrid at most %d times per check of interrupted attempts", MaxReconcileCalls)

// budget is an API that answers at most n calls, then errBudget.
type budget struct {
	api API
	mu  sync.Mutex
	n   int
}

func (b *budget) take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n <= 0 {
		return errBudget
	}
	b.n--
	return nil
}

func (b *budget) left() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func (b *budget) GetWorkflow(ctx context.Context, guid string) (cybrid.Workflow, error) {
	if err := b.take(); err != nil {
		return cybrid.Workflow{}, err
	}
	return b.api.GetWorkflow(ctx, guid)
}

func (b *budget) ListWorkflows(ctx context.Context, p cybrid.ListWorkflowsParams) (cybrid.WorkflowList, error) {
	if err := b.take(); err != nil {
		return cybrid.WorkflowList{}, err
	}
	return b.api.ListWorkflows(ctx, p)
}

func (b *budget) GetExternalBankAccount(ctx context.Context, guid string) (cybrid.ExternalBankAccount, error) {
	if err := b.take(); err != nil {
		return cybrid.ExternalBankAccount{}, err
	}
	return b.api.GetExternalBankAccount(ctx, guid)
}

func (b *budget) ListExternalBankAccounts(ctx context.Context, p cybrid.ListExternalBankAccountsParams) (cybrid.ExternalBankAccountList, error) {
	if err := b.take(); err != nil {
		return cybrid.ExternalBankAccountList{}, err
	}
	return b.api.ListExternalBankAccounts(ctx, p)
}

// claims are the accounts and workflows the journal's attempts own, for
// one reconciliation: those of the held attempts (GUID → attempt id),
// those found meanwhile, and those of the attempts left in the file.
type claims struct {
	mu                  sync.Mutex
	accounts, workflows map[string]string
	archive             *archive
}

// account reports whether an attempt other than self owns account guid.
func (c *claims) account(guid, self string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.accounts[guid]; ok {
		return id != self
	}
	return c.archive.accounts.has(guid)
}

// workflow reports whether an attempt other than self owns workflow guid.
func (c *claims) workflow(guid, self string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.workflows[guid]; ok {
		return id != self
	}
	return c.archive.workflows.has(guid)
}

func (c *claims) claimAccount(guid, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accounts[guid] = id
}

// StartReconcile runs Reconcile in the background, bounded by timeout, and
// calls Options.OnChange when it is done. It returns at once; it does
// nothing when there is nothing to check or a run is in progress.
func (j *Journal) StartReconcile(api API, timeout time.Duration) {
	if j == nil {
		return
	}
	j.mu.Lock()
	if j.off != "" || j.rec.running || len(j.pending) == 0 || j.f == nil {
		j.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	j.rec.api, j.rec.running, j.rec.cancel = api, true, cancel
	j.rec.wg.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.rec.wg.Done()
		defer cancel()
		j.Reconcile(ctx, api)
		j.mu.Lock()
		j.rec.running = false
		j.mu.Unlock()
		j.onChange()
	}()
}

// Recheck starts reconciliation again for the attempts Cybrid could not be
// asked about (OutcomeUnchecked), with the API StartReconcile was given.
func (j *Journal) Recheck(timeout time.Duration) error {
	j.mu.Lock()
	api := j.rec.api
	j.mu.Unlock()
	if api == nil {
		return errors.New("there is nothing to check again")
	}
	j.StartReconcile(api, timeout)
	return nil
}

// Checking reports whether a background reconciliation is running.
func (j *Journal) Checking() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rec.running
}

func (j *Journal) stopReconcile() {
	j.mu.Lock()
	cancel := j.rec.cancel
	j.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	j.rec.wg.Wait()
}

// Reconcile compares the attempts found unfinished at Open with Cybrid,
// newest first, records each outcome (which finishes the entry, unless
// Cybrid could not be asked) and returns the outcomes. It only reads from
// Cybrid, at most MaxReconcileCalls times, checking at most
// ReconcileWorkers attempts at once (one customer's attempts one after the
// other, so that two never take the same new account). Attempts it did not
// reach stay pending: Recovered shows them as not checked yet, and the
// next Reconcile (Recheck, or the next start) takes them.
func (j *Journal) Reconcile(ctx context.Context, api API) []Recovered {
	j.rec.serial.Lock()
	defer j.rec.serial.Unlock()
	j.mu.Lock()
	cl := &claims{accounts: map[string]string{}, workflows: map[string]string{}, archive: &j.archive}
	for _, id := range j.order {
		e := j.entries[id]
		if e.AccountGUID != "" {
			cl.accounts[e.AccountGUID] = id
		}
		if e.Recovered != nil && e.Recovered.AccountGUID != "" {
			cl.accounts[e.Recovered.AccountGUID] = id
		}
		if e.WorkflowGUID != "" {
			cl.workflows[e.WorkflowGUID] = id
		}
	}
	// One queue per customer, the customer with the newest attempt first.
	var todo []Entry
	for _, id := range j.pending {
		if e := j.entries[id]; e != nil && !e.Finished() {
			todo = append(todo, *e)
		}
	}
	j.mu.Unlock()
	sort.SliceStable(todo, func(a, b int) bool { return todo[a].StartedAt.After(todo[b].StartedAt) })
	var queues [][]Entry
	byCustomer := map[string]int{}
	for _, e := range todo {
		i, ok := byCustomer[e.CustomerGUID]
		if !ok {
			i = len(queues)
			byCustomer[e.CustomerGUID] = i
			queues = append(queues, nil)
		}
		queues[i] = append(queues[i], e)
	}

	b := &budget{api: api, n: MaxReconcileCalls}
	work := make(chan []Entry)
	var mu sync.Mutex
	var out []Recovered
	var wg sync.WaitGroup
	for w := 0; w < ReconcileWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				for _, e := range q {
					if b.left() <= 0 || ctx.Err() != nil {
						break
					}
					r := check(ctx, b, e, cl)
					r.CheckedAt = j.now()
					if r.AccountGUID != "" {
						cl.claimAccount(r.AccountGUID, e.ID)
					}
					j.mu.Lock()
					changed := false
					if cur := j.entries[e.ID]; cur != nil && !cur.Finished() {
						next := *cur
						next.Recovered = &r
						changed = j.putLocked(&next)
					}
					j.mu.Unlock()
					if changed {
						j.onChange()
					}
					mu.Lock()
					out = append(out, r)
					mu.Unlock()
				}
			}
		}()
	}
	for _, q := range queues {
		if b.left() <= 0 || ctx.Err() != nil {
			break
		}
		work <- q
	}
	close(work)
	wg.Wait()

	j.mu.Lock()
	var still []string
	for _, id := range j.pending {
		if e := j.entries[id]; e != nil && !e.Finished() {
			still = append(still, id)
		}
	}
	j.pending = still
	j.rec.ran = true
	j.mu.Unlock()
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartedAt.After(out[b].StartedAt) })
	return out
}

// Recovered returns the interrupted attempts held in memory that are not
// dismissed, newest first: reconciled ones with their outcome, those being
// checked as OutcomeChecking, and those a finished reconciliation did not
// reach as OutcomeUnchecked (Check again takes them). Status lists the
// newest MaxListed of them and counts the rest.
func (j *Journal) Recovered() []Recovered {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.recoveredLocked()
}

func (j *Journal) recoveredLocked() []Recovered {
	out := []Recovered{}
	pending := map[string]bool{}
	for _, id := range j.pending {
		pending[id] = true
	}
	for _, id := range j.order {
		e := j.entries[id]
		switch {
		case e.DismissedAt != nil:
		case e.Recovered != nil:
			out = append(out, *e.Recovered)
		case pending[id] && j.rec.ran && !j.rec.running:
			r := base(*e)
			r.Outcome, r.Action = OutcomeUnchecked, ActionRecheck
			r.Message = "linkdesk stopped " + stepText(e.Kind, e.State) + fmt.Sprintf(". Not checked with Cybrid yet: linkdesk asks Cybrid at most %d times per check, newest attempts first. Check again to continue.", MaxReconcileCalls)
			out = append(out, r)
		case pending[id]:
			r := base(*e)
			r.Outcome = OutcomeChecking
			r.Message = "linkdesk stopped " + stepText(e.Kind, e.State) + ". Checking with Cybrid what became of it…"
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartedAt.After(out[b].StartedAt) })
	return out
}

// Dismiss hides a reconciled attempt for good (an unchecked one is then no
// longer checked).
func (j *Journal) Dismiss(attemptID string) error {
	if err := linkflow.CheckAttemptID(attemptID); err != nil {
		return err
	}
	j.mu.Lock()
	e := j.entries[attemptID]
	switch {
	case e == nil || (e.Recovered == nil && e.DismissedAt == nil):
		j.mu.Unlock()
		return fmt.Errorf("attempt %s is not among the interrupted attempts; reload the list", attemptID)
	case e.DismissedAt != nil:
		j.mu.Unlock()
		return nil
	}
	next := *e
	now := j.now()
	next.DismissedAt = &now
	j.putLocked(&next)
	j.mu.Unlock()
	j.onChange() // the list changed, and maybe the write status
	return nil
}

func base(e Entry) Recovered {
	return Recovered{
		AttemptID: e.ID, Kind: e.Kind, CustomerGUID: e.CustomerGUID, Step: e.State,
		StartedAt: e.StartedAt, StoppedAt: e.UpdatedAt, WorkflowGUID: e.WorkflowGUID,
		AccountGUID: e.AccountGUID, Institution: e.Institution,
		AccountName: e.PlaidAccountName, AccountMask: e.PlaidAccountMask,
	}
}

// stepText says where the attempt was, after "linkdesk stopped ".
func stepText(k linkflow.Kind, s linkflow.State) string {
	switch s {
	case linkflow.CreatingWorkflow:
		return "while asking Cybrid for a Plaid link token"
	case linkflow.WaitingForToken:
		return "while waiting for Cybrid to create the Plaid link token"
	case linkflow.LinkOpen:
		return "while Plaid Link was open"
	case linkflow.CreatingAccount:
		return "while asking Cybrid to create the account"
	case linkflow.AccountRetry:
		return "while the account creation waited to be retried"
	case linkflow.WaitingForAccount:
		return "while Cybrid was storing the new account"
	case linkflow.UpdatingAccount:
		return "while marking the renewed bank connection at Cybrid"
	}
	return "during an attempt (" + string(s) + ")"
}

// check finds out what became of one interrupted attempt.
func check(ctx context.Context, api API, e Entry, cl *claims) Recovered {
	r := base(e)
	lead := "linkdesk stopped " + stepText(e.Kind, e.State) + ". "
	unchecked := func(what string, err error) Recovered {
		r.Outcome, r.Action = OutcomeUnchecked, ActionRecheck
		if errors.Is(err, errBudget) {
			r.Message = lead + "Cybrid was not asked " + what + " (" + errText(err) + "). linkdesk checks again at the next start, or Check again."
			return r
		}
		r.Message = lead + "Cybrid could not be asked " + what + " (" + errText(err) + "). linkdesk checks again at the next start; check the connection, then Check again."
		return r
	}
	if e.Kind == linkflow.KindRefresh {
		if e.AccountGUID == "" {
			r.Outcome, r.Action = OutcomeNothingLinked, ActionOpenAccounts
			r.Message = lead + "The journal does not say which account was being refreshed; look for accounts in refresh_required."
			return r
		}
		acct, err := api.GetExternalBankAccount(ctx, e.AccountGUID)
		if cybrid.IsNotFound(err) {
			r.Outcome, r.Action = OutcomeGone, ActionOpenAccounts
			r.Message = lead + fmt.Sprintf("Cybrid has no account %s any more. Nothing to refresh.", e.AccountGUID)
			return r
		}
		if err != nil {
			return unchecked("about account "+e.AccountGUID, err)
		}
		fill(&r, acct)
		switch acct.State {
		case cybrid.AccountRefreshRequired:
			r.Outcome, r.Action = OutcomeRefreshRequired, ActionStartRefresh
			if e.State == linkflow.UpdatingAccount {
				r.Message = lead + fmt.Sprintf("The bank connection was renewed in Plaid, but account %s is still refresh_required at Cybrid. Refresh connection again.", acct.GUID)
			} else {
				r.Message = lead + fmt.Sprintf("The bank connection was not renewed: account %s is still refresh_required. Refresh connection again.", acct.GUID)
			}
		case cybrid.AccountCompleted, cybrid.AccountUnverified:
			r.Outcome = OutcomeRefreshed
			r.Message = lead + fmt.Sprintf("Account %s is %s at Cybrid: the connection is renewed. Nothing to do.", acct.GUID, acct.State)
		default:
			r.Outcome, r.Action = accountOutcome(acct.State), ActionOpenAccounts
			r.Message = lead + fmt.Sprintf("Account %s is %s at Cybrid. Check the customer's accounts.", acct.GUID, acct.State)
		}
		return r
	}

	switch e.State {
	case linkflow.CreatingWorkflow:
		r.Outcome, r.Action = OutcomeNothingLinked, ActionStartLink
		r.Message = lead + "Plaid Link never opened, so nothing was linked."
		// Best effort: name the workflow Cybrid made for it, if any.
		if wf := newWorkflow(ctx, api, e, cl); wf != "" {
			r.WorkflowGUID = wf
			r.Message += " Cybrid's link-token workflow " + wf + " is left unused."
		}
		r.Message += " Start a new link for this customer."
		return r
	case linkflow.WaitingForToken:
		r.Outcome, r.Action = OutcomeNothingLinked, ActionStartLink
		wf, err := api.GetWorkflow(ctx, e.WorkflowGUID)
		switch {
		case err != nil:
			r.Message = lead + "Plaid Link never opened, so nothing was linked. Start a new link for this customer."
		case wf.State == cybrid.WorkflowFailed:
			r.FailureCode = wf.FailureCode
			r.Message = lead + fmt.Sprintf("Cybrid's link-token workflow %s failed (failure code %s), and nothing was linked. Start a new link; if it fails again, report the workflow GUID to Cybrid support.", wf.GUID, orNotGiven(wf.FailureCode))
		case wf.State == cybrid.WorkflowCompleted:
			r.Message = lead + fmt.Sprintf("Cybrid finished the link-token workflow %s, but Plaid Link never opened with it and that session is gone. Nothing was linked. Start a new link for this customer.", wf.GUID)
		default:
			r.Message = lead + fmt.Sprintf("Cybrid's link-token workflow %s is %s and that session cannot be resumed. Nothing was linked. Start a new link for this customer.", wf.GUID, wf.State)
		}
		return r
	case linkflow.LinkOpen:
		r.Outcome, r.Action = OutcomeNothingLinked, ActionStartLink
		at := ""
		if e.Institution != "" {
			at = " (at " + e.Institution + ")"
		}
		r.Message = lead + "The Link session" + at + " is gone and no account was requested from Cybrid, so nothing was linked. Start a new link; the customer goes through Plaid Link again."
		return r
	case linkflow.CreatingAccount, linkflow.AccountRetry:
		accts, err := accountsSince(ctx, api, e.CustomerGUID, requestedAt(e).Add(-linkflow.ClockSkew))
		if err != nil {
			return unchecked("about the customer's accounts", err)
		}
		m := linkflow.MatchCreated(e.AccountRequest(), accts, func(guid string) bool { return cl.account(guid, e.ID) })
		switch len(m) {
		case 0:
			r.Outcome, r.Action = OutcomeNotCreated, ActionStartLink
			r.Message = lead + "Cybrid has no account from this attempt, so nothing was linked. Start a new link; the customer goes through Plaid Link again."
		case 1:
			fill(&r, m[0])
			describeNew(&r, lead, m[0])
		default:
			r.Outcome, r.Action = OutcomeAmbiguous, ActionOpenAccounts
			for _, a := range m {
				r.Candidates = append(r.Candidates, a.GUID)
			}
			r.Message = lead + fmt.Sprintf("%d accounts created since could be this attempt's (%s). Check the customer's accounts before linking again.", len(m), strings.Join(r.Candidates, ", "))
		}
		return r
	case linkflow.WaitingForAccount:
		acct, err := api.GetExternalBankAccount(ctx, e.AccountGUID)
		if cybrid.IsNotFound(err) {
			r.Outcome, r.Action = OutcomeGone, ActionOpenAccounts
			r.Message = lead + fmt.Sprintf("Cybrid has no account %s any more (deleted?). Check the customer's accounts before linking again.", e.AccountGUID)
			return r
		}
		if err != nil {
			return unchecked("about account "+e.AccountGUID, err)
		}
		fill(&r, acct)
		describeNew(&r, lead, acct)
		return r
	}
	r.Outcome, r.Action = OutcomeUnchecked, ActionOpenAccounts
	r.Message = lead + "linkdesk does not know how to check this step; look at the customer's accounts."
	return r
}

func fill(r *Recovered, a cybrid.ExternalBankAccount) {
	r.AccountGUID, r.AccountState, r.FailureCode = a.GUID, string(a.State), a.FailureCode
	if a.PlaidAccountMask != "" {
		r.AccountMask = a.PlaidAccountMask
	}
	if r.AccountName == "" {
		r.AccountName = a.Name
	}
}

func accountOutcome(s cybrid.AccountState) Outcome {
	switch s {
	case cybrid.AccountCompleted, cybrid.AccountUnverified, cybrid.AccountRefreshRequired:
		return OutcomeLinked
	case cybrid.AccountStoring:
		return OutcomeStoring
	case cybrid.AccountFailed:
		return OutcomeFailed
	}
	return OutcomeGone
}

// describeNew explains the account a link attempt created.
func describeNew(r *Recovered, lead string, a cybrid.ExternalBankAccount) {
	r.Outcome = accountOutcome(a.State)
	what := "account " + a.GUID
	switch a.State {
	case cybrid.AccountCompleted:
		r.Message = lead + "Cybrid created " + what + " and it is linked and ready. Nothing to do."
	case cybrid.AccountUnverified:
		r.Action = ActionOpenAccounts
		r.Message = lead + "Cybrid created " + what + " and it is linked; bank-account ownership verification is still needed."
	case cybrid.AccountRefreshRequired:
		r.Action = ActionStartRefresh
		r.Message = lead + "Cybrid created " + what + ", but its bank connection has since expired (refresh_required). Refresh connection."
	case cybrid.AccountStoring:
		r.Action = ActionOpenAccounts
		r.Message = lead + "Cybrid is still storing " + what + ". Check the customer's accounts in a moment; do not link it again."
	case cybrid.AccountFailed:
		r.Action = ActionStartLink
		advice := "Link again; if it repeats, report the account GUID and failure code to Cybrid support."
		if a.FailureCode == "duplicate" {
			r.Action = ActionOpenAccounts
			advice = "This bank account was already linked to this customer: use the existing account."
		}
		r.Message = lead + fmt.Sprintf("Cybrid could not create %s (failure code %s). %s", what, orNotGiven(a.FailureCode), advice)
	default:
		r.Action = ActionOpenAccounts
		r.Message = lead + "Cybrid created " + what + ", which is now " + string(a.State) + ". Check the customer's accounts."
	}
}

// requestedAt is when the attempt may first have asked for an account.
func requestedAt(e Entry) time.Time {
	if !e.AccountRequestedAt.IsZero() {
		return e.AccountRequestedAt
	}
	return e.UpdatedAt
}

// AccountRequest is what the attempt e, interrupted after it may have asked
// Cybrid to create an account (creating_account or account_retry), asked
// for, as linkflow.MatchCreated takes it: the customer, the Plaid account
// chosen in Link (as far as the journal knows it: see NoteSelection), and
// when the attempt first entered creating_account (AccountRequestedAt; its
// last change for a journal written before that was recorded).
func (e Entry) AccountRequest() linkflow.AccountRequest {
	return linkflow.AccountRequest{CustomerGUID: e.CustomerGUID, PlaidAccountName: e.PlaidAccountName,
		InstitutionID: e.InstitutionID, Mask: e.PlaidAccountMask, RequestedAt: requestedAt(e)}
}

// Claims reports whether an attempt the journal records owns the account
// accountGUID: the account it created, adopted or refreshed
// (Entry.AccountGUID), or the one reconciliation found it created
// (Recovered.AccountGUID). Dismissed attempts still own theirs. It is meant
// as linkflow.Settings.Claimed of the Flow the journal observes, so that an
// unanswered POST is never matched to an account of an attempt from before
// a restart. Attempts left in the file only (beyond MaxHeld) claim theirs
// too. A journal that is off (or nil) claims nothing.
func (j *Journal) Claims(accountGUID string) bool {
	if j == nil || accountGUID == "" {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, e := range j.entries {
		if e.AccountGUID == accountGUID || e.Recovered != nil && e.Recovered.AccountGUID == accountGUID {
			return true
		}
	}
	return j.archive.accounts.has(accountGUID)
}

// accountsSince lists the customer's accounts created at or after since
// (the list is newest first; paging stops at the first older one).
func accountsSince(ctx context.Context, api API, customerGUID string, since time.Time) ([]cybrid.ExternalBankAccount, error) {
	var out []cybrid.ExternalBankAccount
	for page := 0; page < 50; page++ {
		l, err := api.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{Page: page, PerPage: 100, CustomerGUID: customerGUID})
		if err != nil {
			return nil, err
		}
		older := false
		for _, a := range l.Objects {
			if a.CreatedAt.Before(since) {
				older = true
				continue
			}
			out = append(out, a)
		}
		if older || len(l.Objects) < 100 || (page+1)*100 >= l.Total {
			break
		}
	}
	return out, nil
}

// newWorkflow returns the GUID of the customer's first workflow created
// since the attempt started that no other attempt claims, or "".
func newWorkflow(ctx context.Context, api API, e Entry, cl *claims) string {
	l, err := api.ListWorkflows(ctx, cybrid.ListWorkflowsParams{PerPage: 100, CustomerGUID: e.CustomerGUID})
	if err != nil {
		return ""
	}
	since := e.StartedAt.Add(-linkflow.ClockSkew)
	found := ""
	for _, w := range l.Objects { // newest first: keep the oldest match
		if !cl.workflow(w.GUID, e.ID) && !w.CreatedAt.Before(since) {
			found = w.GUID
		}
	}
	return found
}

func errText(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func orNotGiven(s string) string {
	if s == "" {
		return "not given"
	}
	return s
}
