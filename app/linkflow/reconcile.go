package linkflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"linkdesk/app/cybrid"
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
	// DefaultClockSkew is how far Cybrid's clock may be behind ours when
	// comparing an account's created_at with the time of the first POST.
	DefaultClockSkew = 2 * time.Minute
)

// Codes of this package's account-creation failures (Attempt.Code).
const (
	CodePublicTokenExpired = "public_token_expired" // too late to retry: link again
	CodeAccountNotCreated  = "account_not_created"  // in AccountRetry: Cybrid did not create it
	CodeOutcomeUnknown     = "outcome_unknown"      // in AccountRetry: could not check what Cybrid did
)

// RetryAccount tries again to create the account of an attempt in
// AccountRetry, with the public token kept from onSuccess. When an earlier
// request's outcome is unknown it first lists the customer's accounts and
// continues with the account that request created, if any; it POSTs again
// only when there is none. It returns at once; the work runs in the
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
		a.Error, a.Code = "", ""
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
// the account that POST created if there is one. Only when there is none,
// or when the POST certainly did nothing (a temporary failure before it was
// processed), is it sent again — once automatically: each run (Success,
// RetryAccount) sends at most maxPostsPerRun POSTs, then the attempt waits
// in AccountRetry.
func (f *Flow) createAccount(ctx context.Context, id string) {
	posts := 0
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
				f.needRetry(id, CodeOutcomeUnknown, fmt.Sprintf("Cybrid's answer to the account creation was lost, and listing the customer's accounts to check what it did failed too: %v. Nothing is sent again before that check succeeds.", err))
				return
			}
			if found != nil {
				f.adopt(ctx, id, *found)
				return
			}
			f.update(id, func(a *attempt) (Event, error) {
				a.uncertain = false
				return Event{Type: "reconcile", Message: "The unanswered request created no account; it is safe to send it again", Data: map[string]any{"found": false}}, nil
			})
		}
		if posts == maxPostsPerRun {
			f.needRetry(id, CodeAccountNotCreated, "Cybrid did not create the external bank account.")
			return
		}
		if !time.Now().Before(st.tokenExpiry) {
			f.fail(id, CodePublicTokenExpired, "The Plaid public token expired (30 minutes after Link) before Cybrid created the account. Link again for this customer.")
			return
		}
		f.markPosting(id)
		posts++
		created, err := f.api.CreateExternalBankAccount(ctx, req)
		if ctx.Err() != nil {
			return
		}
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
			f.fail(id, "", fmt.Sprintf("Cybrid refused to create the external bank account: %v. Fix the cause, then link again.", err))
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

// needRetry parks the attempt in AccountRetry until the public token expires.
func (f *Flow) needRetry(id, code, why string) {
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
	if uncertain {
		if found, err := f.findCreated(ctx, id); err == nil && found != nil {
			f.adopt(ctx, id, *found)
			return
		}
	}
	msg := "The Plaid public token expired (30 minutes after Link) before Cybrid created the account. Link again for this customer."
	if uncertain {
		msg = "The Plaid public token expired (30 minutes after Link) and whether Cybrid created the account could not be checked. Look at the customer's accounts; link again only if the account is not there."
	}
	f.fail(id, CodePublicTokenExpired, msg)
}

// adopt continues the attempt with an account an unanswered POST created.
func (f *Flow) adopt(ctx context.Context, id string, acct cybrid.ExternalBankAccount) {
	err := f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, errors.New("already ended")
		}
		a.uncertain = false
		a.AccountGUID = acct.GUID
		a.Account = summary(acct)
		a.State = WaitingForAccount
		a.Error, a.Code = "", ""
		return Event{Type: "reconcile", Message: "Found the account the unanswered request created; continuing with it (nothing sent again)",
			Data: map[string]any{"found": true, "account_guid": acct.GUID, "account_state": acct.State}}, nil
	})
	if err == nil {
		f.followAccount(ctx, id, acct)
	}
}

// findCreated looks for the account an earlier POST of the attempt created.
//
// The matching rule: an account of the attempt's customer (listed with
// customer_guid, newest first) that
//   - has the name the attempt POSTed (Plaid's name for the account);
//   - was created no earlier than the attempt's first POST minus
//     Settings.ClockSkew (Cybrid's created_at against our clock);
//   - is not deleting or deleted;
//   - once Cybrid shows them (they are null while the account is storing),
//     has the institution id of Link's onSuccess and the selected account's
//     mask.
//
// A live match is preferred to a failed one; among equals the newest wins.
// A failed match is returned too: Cybrid acted on the request (and used the
// single-use public token), so its failure code is the attempt's answer; a
// new POST would fail the same way.
//
// Limits: another attempt for the same customer and the same bank account
// name running at the same moment (a second operator) is indistinguishable
// while its account is storing; and a request Cybrid is still processing
// when the list is read (longer than Settings.ReconcileDelay) is missed, in
// which case the next POST reuses a public token Plaid accepts only once,
// and Cybrid fails that second account instead of linking the bank account
// twice.
func (f *Flow) findCreated(ctx context.Context, id string) (*cybrid.ExternalBankAccount, error) {
	f.mu.Lock()
	a := f.attempts[id]
	cust, name, ins, mask := a.CustomerGUID, a.postName, a.institutionID, ""
	if a.plaidAccount.Mask != nil {
		mask = *a.plaidAccount.Mask
	}
	since := a.firstPost.Add(-f.settings.ClockSkew)
	f.mu.Unlock()

	var live, failed *cybrid.ExternalBankAccount
	const perPage = 100
	for page := 0; page < 20; page++ {
		l, err := f.api.ListExternalBankAccounts(ctx, cybrid.ListExternalBankAccountsParams{CustomerGUID: cust, Page: page, PerPage: perPage})
		if err != nil {
			return nil, err
		}
		older := false
		for i := range l.Objects {
			x := l.Objects[i]
			if x.CreatedAt.Before(since) {
				older = true
				continue
			}
			if x.CustomerGUID != "" && x.CustomerGUID != cust || x.Name != name ||
				x.State == cybrid.AccountDeleting || x.State == cybrid.AccountDeleted ||
				x.PlaidInstitutionID != "" && ins != "" && x.PlaidInstitutionID != ins ||
				x.PlaidAccountMask != "" && mask != "" && x.PlaidAccountMask != mask {
				continue
			}
			switch {
			case x.State == cybrid.AccountFailed:
				if failed == nil || x.CreatedAt.After(failed.CreatedAt) {
					failed = &x
				}
			case live == nil || x.CreatedAt.After(live.CreatedAt):
				live = &x
			}
		}
		if older || len(l.Objects) < perPage {
			break
		}
	}
	if live != nil {
		return live, nil
	}
	return failed, nil
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
