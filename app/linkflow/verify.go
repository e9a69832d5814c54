package linkflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/problem"
)

// KindVerify verifies the ownership of a linked account in state unverified,
// as Cybrid's current recipe asks: an identity verification of type
// bank_account and method account_ownership, followed until it completes;
// the account then turns completed.
const KindVerify Kind = "verify"

// States of a verify attempt: creating_verification → waiting_for_verification
// → done | failed.
const (
	CreatingVerification   State = "creating_verification"
	WaitingForVerification State = "waiting_for_verification"
)

// VerifyAPI is the part of the Cybrid client a verification needs
// (*cybrid.Client).
type VerifyAPI interface {
	CreateIdentityVerification(ctx context.Context, v cybrid.PostIdentityVerification) (cybrid.IdentityVerification, error)
	GetIdentityVerification(ctx context.Context, guid string) (cybrid.IdentityVerification, error)
}

// StartVerify begins the ownership verification of the account accountGUID
// of customerGUID and returns at once; expected are Cybrid's sandbox
// expected_behaviours (e.g. passed_immediately; nil in production).
func (f *Flow) StartVerify(customerGUID, accountGUID string, expected []string) (Attempt, error) {
	if err := checkGUIDs(customerGUID, accountGUID); err != nil {
		return Attempt{}, err
	}
	api, ok := f.api.(VerifyAPI)
	if !ok {
		return Attempt{}, errors.New("this Cybrid client cannot create identity verifications")
	}
	return f.begin(KindVerify, customerGUID, accountGUID, CreatingVerification, "Starting bank-account ownership verification",
		func(ctx context.Context, id string) { f.verify(ctx, api, id, expected) }), nil
}

func (f *Flow) verify(ctx context.Context, api VerifyAPI, id string, expected []string) {
	a, _ := f.Get(id)
	iv, err := api.CreateIdentityVerification(ctx, cybrid.PostIdentityVerification{
		Type:                    cybrid.VerificationTypeBankAccount,
		Method:                  cybrid.VerificationMethodAccountOwnership,
		CustomerGUID:            a.CustomerGUID,
		ExternalBankAccountGUID: a.AccountGUID,
		ExpectedBehaviours:      expected,
	})
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.failWith(id, "", "Cybrid did not start the ownership verification.", err)
		return
	}
	f.update(id, func(a *attempt) (Event, error) {
		a.State = WaitingForVerification
		a.Polls = 0
		return Event{Type: "state", Message: "Waiting for Cybrid to verify the account's ownership", Data: map[string]any{"identity_verification_guid": iv.GUID, "verification_state": iv.State}}, nil
	})
	final := iv
	if iv.State != cybrid.VerificationCompleted {
		pctx, cancel := context.WithTimeout(ctx, f.settings.AccountTimeout)
		defer cancel()
		polls, err := f.accountPoll.Wait(pctx, func(ctx context.Context) (bool, time.Duration, error) {
			got, err := api.GetIdentityVerification(ctx, iv.GUID)
			if err != nil {
				if transient(err) {
					f.note(id, "poll", fmt.Sprintf("Polling the verification failed, retrying: %v", err))
					return false, 0, nil
				}
				return false, 0, err
			}
			f.countPoll(id)
			final = got
			return got.State == cybrid.VerificationCompleted || got.State == cybrid.VerificationExpired, 0, nil
		})
		switch {
		case errors.Is(err, ErrPollDeadline):
			msg := fmt.Sprintf("The verification %s was still %s after %s (%d polls).", iv.GUID, final.State, f.settings.AccountTimeout, polls)
			if final.State == cybrid.VerificationWaiting {
				msg += " It is waiting for a manual review at Cybrid; check the account later."
			} else {
				msg += " Check the account later; if it stays unverified, report the verification GUID to Cybrid support."
			}
			f.fail(id, "timeout", msg, problem.Problem{Kind: problem.CybridFailure, Headline: msg})
			return
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			f.failWith(id, "", "Checking the verification failed.", err)
			return
		}
	}
	if final.State == cybrid.VerificationExpired || final.Outcome == cybrid.VerificationFailed {
		codes := fmt.Sprint(final.FailureCodes)
		msg := fmt.Sprintf("Cybrid could not verify that the customer owns this account (%s %s, failure codes %s). The account stays unverified and cannot be used; check the customer's details, or unlink it and link an account in the customer's own name.", final.State, final.Outcome, codes)
		f.fail(id, "verification_failed", msg, problem.Problem{Kind: problem.Refused, Headline: msg,
			Detail: fmt.Sprintf("identity verification %s: %s %s, failure codes %s", iv.GUID, final.State, final.Outcome, codes)})
		return
	}
	acct, err := f.api.GetExternalBankAccount(ctx, a.AccountGUID)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.failWith(id, "", "The verification passed, but reading the account failed: reload the accounts.", err)
		return
	}
	f.finishWithAccount(id, acct)
}
