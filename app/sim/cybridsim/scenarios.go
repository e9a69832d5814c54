package cybridsim

import "fmt"

// Helpers for QA scenarios (package sim's catalogue): the one-shot account
// failure and expiring bank connections in bulk.

// consumeAccountFailureLocked counts down Scenario.AccountFailureLimit for an
// account about to be created, clearing AccountFailureCode after the last
// one (caller holds s.mu). It does nothing when no failure is set or the
// limit is zero (unlimited).
func (s *Server) consumeAccountFailureLocked() {
	sc := &s.scenario
	if sc.AccountFailureCode == "" || sc.AccountFailureLimit <= 0 {
		return
	}
	sc.AccountFailureLimit--
	if sc.AccountFailureLimit == 0 {
		s.log.Info("cybridsim: account failure scenario used up", "failure_code", sc.AccountFailureCode)
		sc.AccountFailureCode = ""
	}
}

// ErrNoLinkedAccount is returned by ExpireNewestConnection and
// ExpireAllConnections when no account has a bank connection that can
// expire (none is completed or unverified).
var ErrNoLinkedAccount = simpleError("cybridsim: no completed or unverified external bank account to expire; link one first")

// expirable reports whether an account's connection can expire.
func expirable(a Account) bool { return a.State == stateCompleted || a.State == stateUnverified }

// ExpireNewestConnection expires the bank connection of the customer's newest
// completed or unverified account (see ExpireConnection) and returns the
// account as it is now (refresh_required). ErrNoLinkedAccount (wrapped with
// the customer) when the customer has none.
func (s *Server) ExpireNewestConnection(customerGUID string) (Account, error) {
	for _, a := range s.Accounts(customerGUID) { // newest first
		if !expirable(a) {
			continue
		}
		if err := s.ExpireConnection(a.GUID); err != nil {
			return Account{}, err
		}
		out, _ := s.Account(a.GUID)
		return out, nil
	}
	return Account{}, fmt.Errorf("%w (customer %s)", ErrNoLinkedAccount, customerGUID)
}

// ExpireAllConnections expires the bank connection of every completed or
// unverified account and returns them, newest first, as they are now.
// ErrNoLinkedAccount when there is none.
func (s *Server) ExpireAllConnections() ([]Account, error) {
	var out []Account
	for _, a := range s.Accounts("") {
		if !expirable(a) {
			continue
		}
		if err := s.ExpireConnection(a.GUID); err != nil {
			return out, err
		}
		now, _ := s.Account(a.GUID)
		out = append(out, now)
	}
	if len(out) == 0 {
		return nil, ErrNoLinkedAccount
	}
	return out, nil
}
