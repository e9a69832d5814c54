package linkflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/problem"
)

// AccountRetry is the state of a link attempt whose account Cybrid did not
// create (or whose creation could not be confirmed) after the automatic
// retry. It is not final: the Plaid public token is still held in memory,
// and RetryAccount tries again without sending the customer through Link
// again, until the token expires (Flow.RetryDeadline; the attempt then
// fails with code public_token_expired). Cancel ends it.
const AccountRetry State = "account_retry"

// Defaults of the Settings that govern account creation under faults.
const (
	// DefaultPublicTokenLifetime is how long Plaid accepts a public token
	// after onSuccess: 30 minutes.
	DefaultPublicTokenLifetime = 30 * time.Minute
	// DefaultReconcileDelay is the pause between an ambiguous POST and the
	// listing that checks what it did, so that a request Cybrid is still
	// processing shows up.
	DefaultReconcileDelay = time.Second
)

// Codes of this package's account-creation failures (Attempt.Code).
const (
	CodePublicTokenExpired = "public_token_expired" // too late to retry: link again
	CodeAccountNotCreated  = "account_not_created"  // in AccountRetry: Cybrid did not create it
	CodeOutcomeUnknown     = "outcome_unknown"      // in AccountRetry: could not check what Cybrid did
	CodeAmbiguousAccount   = "ambiguous_account"    // in AccountRetry: several accounts could be the request's
	CodeAccountDeleted     = "account_deleted"      // failed: the account the lost request created is deleted
)

// RetryAccount tries again to create the account of an attempt in
// AccountRetry, with the public token kept from onSuccess. When an earlier
// request's outcome is unknown it first lists the customer's accounts and
// continues with the account that request created, if any (when several
// could be it, it waits in AccountRetry again and sends nothing); it POSTs
// again only when there is none. It returns at once; the work runs in the
// background. After the public token's expiry it refuses: link again.
func (f *Flow) RetryAccount(id string) error {
	err := f.update(id, func(a *attempt) (Event, error) {
		if a.State != AccountRetry {
			return Event{}, fmt.Errorf("attempt %s is %s: only an attempt whose account could not be created (account_retry) can retry it", id, a.State)
		}
		if !time.Now().Before(a.tokenExpiry) {
			return Event{}, fmt.Errorf("the Plaid public token of attempt %s expired at %s: link again", id, a.tokenExpiry.Format(time.Kitchen))
		}
		a.State = CreatingAccount
		a.Error, a.Code, a.Problem = "", "", nil
		return Event{Type: "state", Message: "Retrying account creation (operator)"}, nil
	})
	if err != nil {
		return err
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.createAccount(f.attemptCtx(id), id)
	}()
	return nil
}

// RetryDeadline returns when the public token of an attempt in AccountRetry
// expires: RetryAccount works until then.
func (f *Flow) RetryDeadline(id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.attempts[id]
	if !ok || a.State != AccountRetry {
		return time.Time{}, false
	}
	return a.tokenExpiry, true
}

// createAccount creates the attempt's account. A POST whose outcome is
// unknown (cybrid.ErrAmbiguous) is never simply repeated: the customer's
// accounts are listed first (findCreated), and the attempt continues with
// the account that POST created if there is one. When more than one
// account could be it, the attempt waits in AccountRetry
// (CodeAmbiguousAccount) and nothing is sent: linkdesk does not guess. Only
// when there is none, or when the POST certainly did nothing (a temporary
// failure before it was processed), is it sent again — once automatically:
// each run (Success, RetryAccount) sends at most maxPostsPerRun POSTs, then
// the attempt waits in AccountRetry.
func (f *Flow) createAccount(ctx context.Context, id string) {
	posts := 0
	var lastErr error // the last POST's error, for needRetry
	for {
		req, st := f.accountRequest(id)
		if st.uncertain {
			f.note(id, "reconcile", "Checking the customer's accounts for one the unanswered request created")
			if !sleepCtx(ctx, f.settings.ReconcileDelay) {
				return
			}
			found, err := f.findCreated(ctx, id)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				lead := "Cybrid's answer to the account creation was lost, and listing the customer's accounts to check what it did failed too. Nothing is sent again before that check succeeds."
				cause := causeProblem(lead, err)
				f.needRetry(id, CodeOutcomeUnknown, lead+" "+cause.Headline, cause)
				return
			}
			if len(found) > 1 {
				why := ambiguity(found)
				f.needRetry(id, CodeAmbiguousAccount, why, problem.Problem{Kind: problem.CybridFailure,
					Headline: fmt.Sprintf("Several of the customer's new accounts (%d) could be the one Cybrid created: check the customer's accounts before you retry.", len(found)),
					Fix:      why})
				return
			}
			if len(found) == 1 {
				if f.adopt(ctx, id, found[0]) {
					return
				}
				// Another attempt took that account meanwhile: check
				// again without it.
				continue
			}
			f.update(id, func(a *attempt) (Event, error) {
				a.uncertain = false
				return Event{Type: "reconcile", Message: "The unanswered request created no account; it is safe to send it again", Data: map[string]any{"found": false}}, nil
			})
		}
		if posts == maxPostsPerRun {
			cause := problem.Problem{Kind: problem.CybridFailure, Headline: "Cybrid did not create the external bank account."}
			if lastErr != nil {
				cause = causeProblem("Creating the external bank account:", lastErr)
			}
			f.needRetry(id, CodeAccountNotCreated, "Cybrid did not create the external bank account.", cause)
			return
		}
		if !time.Now().Before(st.tokenExpiry) {
			msg := "The Plaid public token expired (30 minutes after Link) before Cybrid created the account. Link again for this customer."
			f.fail(id, CodePublicTokenExpired, msg, problem.Problem{Kind: problem.Plaid, Headline: msg, Action: problem.TryAgain})
			return
		}
		f.markPosting(id)
		posts++
		created, err := f.api.CreateExternalBankAccount(ctx, req)
		if ctx.Err() != nil {
			return
		}
		lastErr = err
		switch {
		case err == nil:
			f.update(id, func(a *attempt) (Event, error) {
				a.AccountGUID = created.GUID
				a.Account = summary(created)
				a.State = WaitingForAccount
				return Event{Type: "state", Message: "Waiting for Cybrid to store the account", Data: map[string]any{"account_guid": created.GUID, "account_state": created.State}}, nil
			})
			f.followAccount(ctx, id, created)
			return
		case errors.Is(err, cybrid.ErrAmbiguous):
			f.update(id, func(a *attempt) (Event, error) {
				a.uncertain = true
				return Event{Type: "reconcile", Message: fmt.Sprintf("No usable answer to the account creation (%v); Cybrid may have created the account", err)}, nil
			})
		case cybrid.IsTemporary(err):
			f.note(id, "retry", fmt.Sprintf("Cybrid did not create the account (%v)", err))
			if !sleepCtx(ctx, max(cybrid.RetryAfter(err), f.settings.ReconcileDelay)) {
				return
			}
		default:
			f.failWith(id, "", "Cybrid refused to create the external bank account.", err)
			return
		}
	}
}

// maxPostsPerRun: the first POST and one automatic retry.
const maxPostsPerRun = 2

// accountStatus is what createAccount needs to know about the attempt.
type accountStatus struct {
	uncertain   bool
	tokenExpiry time.Time
}

// accountRequest returns the attempt's POST body (with the public token)
// and its account-creation status.
func (f *Flow) accountRequest(id string) (cybrid.PostExternalBankAccount, accountStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.attempts[id]
	req := cybrid.PostExternalBankAccount{
		Name:             a.postName,
		AccountKind:      cybrid.AccountKindPlaid,
		CustomerGUID:     a.CustomerGUID,
		Asset:            f.settings.Asset,
		PlaidPublicToken: cybrid.Secret(a.publicToken),
		PlaidAccountID:   a.plaidAccount.ID,
	}
	return req, accountStatus{uncertain: a.uncertain, tokenExpiry: a.tokenExpiry}
}

// markPosting records that a POST is about to be sent.
func (f *Flow) markPosting(id string) {
	f.update(id, func(a *attempt) (Event, error) {
		a.posts++
		if a.firstPost.IsZero() {
			a.firstPost = time.Now()
		}
		msg := "Creating the external bank account"
		if a.posts > 1 {
			msg = fmt.Sprintf("Creating the external bank account (try %d)", a.posts)
		}
		return Event{Type: "state", Message: msg}, nil
	})
}

// needRetry parks the attempt in AccountRetry until the public token
// expires. why says what happened (Attempt.Error adds what to do); cause is
// that worded as a problem, which the attempt's Problem keeps as its fix and
// detail under a headline that offers Retry account creation.
func (f *Flow) needRetry(id, code, why string, cause problem.Problem) {
	var expiry time.Time
	start := false
	f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, errors.New("already ended")
		}
		a.State = AccountRetry
		a.Code = code
		expiry = a.tokenExpiry
		a.Error = fmt.Sprintf("%s Choose Retry account creation to try again without sending the customer through Link; the Plaid public token is kept until %s (%s from now). After that, link again.",
			why, expiry.Format("15:04:05"), time.Until(expiry).Round(time.Second))
		kind := cause.Kind
		if kind == "" || kind == problem.Other {
			kind = problem.CybridFailure
		}
		a.Problem = &problem.Problem{Kind: kind,
			Headline: fmt.Sprintf("The account is not linked yet: choose Retry account creation before %s (the customer need not go through Link again); after that, link again.", expiry.Format("15:04:05")),
			Fix:      cause.Text(), Detail: cause.Detail, Action: problem.RetryAccount}
		if !a.watching {
			a.watching, start = true, true
		}
		return Event{Type: "state", Message: a.Error, Data: map[string]any{"code": code, "retry_until": expiry}}, nil
	})
	if start {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.expireToken(f.attemptCtx(id), id, expiry)
		}()
	}
}

// expireToken ends an attempt still in AccountRetry when its public token
// expires. If the last request's outcome was unknown, the customer's
// accounts are checked one last time.
func (f *Flow) expireToken(ctx context.Context, id string, expiry time.Time) {
	if !sleepCtx(ctx, time.Until(expiry)) {
		return
	}
	var uncertain bool
	f.mu.Lock()
	a, ok := f.attempts[id]
	if ok {
		if a.State != AccountRetry {
			ok = false
		}
		uncertain = a.uncertain
		a.publicToken = ""
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	msg := "The Plaid public token expired (30 minutes after Link) before Cybrid created the account. Link again for this customer."
	for tries := 0; uncertain; tries++ {
		found, err := f.findCreated(ctx, id)
		if ctx.Err() != nil {
			return
		}
		if err != nil || tries == 3 {
			msg = "The Plaid public token expired (30 minutes after Link) and whether Cybrid created the account could not be checked. Look at the customer's accounts; link again only if the account is not there."
			break
		}
		if len(found) > 1 {
			msg = "The Plaid public token expired (30 minutes after Link). " + ambiguity(found)
			break
		}
		if len(found) == 0 || f.adopt(ctx, id, found[0]) {
			break
		}
	}
	f.fail(id, CodePublicTokenExpired, msg, problem.Problem{Kind: problem.Plaid, Headline: msg})
}

// ambiguity explains, for the attempt's Error, that several accounts could
// be the one an unanswered request created.
func ambiguity(found []cybrid.ExternalBankAccount) string {
	guids := make([]string, len(found))
	for i, a := range found {
		guids[i] = a.GUID + " (" + string(a.State) + ")"
	}
	return fmt.Sprintf("Cybrid's answer to the account creation was lost, and %d of the customer's new accounts could be the one it created: %s. None is known to belong to another attempt, and linkdesk does not guess: check the customer's accounts (another operator or tool may be linking the same bank account). Nothing is sent again while more than one could be this attempt's.",
		len(found), strings.Join(guids, ", "))
}

// adopt continues the attempt with the account its unanswered POST created
// (findCreated). It reports false, changing nothing, when another of the
// Flow's attempts has taken that account since it was listed: the caller
// checks again. An account found deleting or deleted ends the attempt
// failed (CodeAccountDeleted): what the request created is gone, and the
// public token it used is spent.
func (f *Flow) adopt(ctx context.Context, id string, acct cybrid.ExternalBankAccount) bool {
	taken, follow := false, false
	f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, errors.New("already ended")
		}
		if f.ownedLocked(id)[acct.GUID] {
			taken = true
			return Event{}, errors.New("owned by another attempt")
		}
		a.uncertain = false
		a.AccountGUID = acct.GUID
		a.Account = summary(acct)
		a.Error, a.Code, a.Problem = "", "", nil
		data := map[string]any{"found": true, "account_guid": acct.GUID, "account_state": acct.State}
		if acct.State == cybrid.AccountDeleting || acct.State == cybrid.AccountDeleted {
			a.State = Failed
			a.Code = CodeAccountDeleted
			a.Error = fmt.Sprintf("Cybrid created account %s for the request whose answer was lost, but it is %s, so nothing is linked. Link again for this customer.", acct.GUID, acct.State)
			a.Problem = &problem.Problem{Kind: problem.CybridFailure, Headline: a.Error, Action: problem.TryAgain}
			a.publicToken = ""
			return Event{Type: "reconcile", Message: a.Error, Data: data}, nil
		}
		a.State = WaitingForAccount
		follow = true
		return Event{Type: "reconcile", Message: "Found the account the unanswered request created; continuing with it (nothing sent again)", Data: data}, nil
	})
	if follow {
		f.followAccount(ctx, id, acct)
	}
	return !taken
}

// ownedLocked returns the accounts the Flow's attempts other than id own:
// the account each created, adopted, refreshed or verifies. The caller
// holds f.mu.
func (f *Flow) ownedLocked(id string) map[string]bool {
	owned := map[string]bool{}
	for oid, o := range f.attempts {
		if oid == id {
			continue
		}
		if o.AccountGUID != "" {
			owned[o.AccountGUID] = true
		}
		if o.Account != nil && o.Account.GUID != "" {
			owned[o.Account.GUID] = true
		}
	}
	return owned
}

// findCreated lists the customer's accounts (newest first, back to the
// clock-skew window) and returns those the attempt's unanswered POST may
// have created, by MatchCreated: never an account another attempt owns —
// the Flow's other attempts' (ownedLocked) and those Settings.Claimed
// reports. One account is the POST's; several are ambiguous; none means
// it created nothing.
//
// Limit: a request Cybrid is still processing when the list is read
// (longer than Settings.ReconcileDelay) is missed, in which case the next
// POST reuses a public token Plaid accepts only once, and Cybrid fails that
// second account instead of linking the bank account twice.
func (f *Flow) findCreated(ctx context.Context, id string) ([]cybrid.ExternalBankAccount, error) {
	f.mu.Lock()
	a := f.attempts[id]
	want := AccountRequest{CustomerGUID: a.CustomerGUID, PlaidAccountName: a.plaidAccount.Name,
		InstitutionID: a.institutionID, RequestedAt: a.firstPost}
	if a.plaidAccount.Mask != nil {
		want.Mask = *a.plaidAccount.Mask
	}
	mine := f.ownedLocked(id)
	f.mu.Unlock()
	claimed := f.settings.Claimed
	owned := func(guid string) bool { return mine[guid] || claimed != nil && claimed(guid) }

	since := want.RequestedAt.Add(-ClockSkew)
	var accts []cybrid.ExternalBankAccount
	const perPage = 100
	for page := 0; page < 20; page++ {
		l, err := f.api.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{CustomerGUID: want.CustomerGUID, Page: page, PerPage: perPage})
		if err != nil {
			return nil, err
		}
		accts = append(accts, l.Objects...)
		older := false
		for _, x := range l.Objects {
			older = older || x.CreatedAt.Before(since)
		}
		if older || len(l.Objects) < perPage {
			break
		}
	}
	return MatchCreated(want, accts, owned), nil
}

// sleepCtx waits d or until ctx ends; it reports whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
