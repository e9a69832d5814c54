package plaidsim

import "time"

// Scenario holds run-time switches that make the simulated Plaid behave as
// in a QA scenario (package sim's catalogue applies them). The zero value is
// Plaid's ordinary Sandbox behaviour. Each switch reproduces something Plaid
// documents (see the notes in /work/shared/reference/plaid-link-notes.md,
// cited per field); none invents behaviour.
//
// Switches that concern link tokens (MultiSelect, ExpiredLinkTokens) are
// applied when the token is created — a Link customization and an expiry are
// properties of the token — so they shape tokens issued after SetScenario,
// never tokens already issued. The others apply to Link sessions from the
// next API call on.
type Scenario struct {
	// MultiSelect makes Account Select allow several accounts for link
	// tokens created while it is set, whatever their link_customization_name
	// — as a Link customization with Account Select "Enabled for multiple
	// accounts" does (notes §4.3 [CUST]).
	MultiSelect bool
	// InstitutionDown makes every institution answer INSTITUTION_DOWN
	// (error_type INSTITUTION_ERROR), as Plaid's Sandbox institution
	// "Unhealthy Platypus Bank - Down" (ins_132361) does (notes §5.2
	// [SBXI]): selecting it emits SELECT_DOWN_INSTITUTION and ERROR and shows
	// the error pane; leaving calls onExit with that error. In update mode,
	// where no institution is selected, the credentials step fails the same
	// way (as the Sandbox password error_INSTITUTION_DOWN does, §5.1).
	InstitutionDown bool
	// RejectCredentials makes every credential submission fail with
	// INVALID_CREDENTIALS (ITEM_ERROR) — what the Sandbox password
	// error_INVALID_CREDENTIALS forces (notes §5.1 [CRED]): an inline,
	// retryable error; onExit then carries it as its error (§2.2). Passwords
	// of the form error_<CODE> keep forcing their own code.
	RejectCredentials bool
	// ExpiredLinkTokens makes link tokens be issued already expired: n > 0
	// for the next n tokens (decremented as they are issued), n < 0 for every
	// token, 0 for none. Link then refuses the token at initialisation with
	// onExit(INVALID_LINK_TOKEN), which Plaid documents for an expired token
	// (notes §1.4, §4.1 [INV]) and which the app answers by getting a new
	// token.
	ExpiredLinkTokens int
}

// Scenario returns the current switches.
func (s *Sim) Scenario() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenario
}

// SetScenario replaces the switches.
func (s *Sim) SetScenario(sc Scenario) {
	s.mu.Lock()
	s.scenario = sc
	s.mu.Unlock()
	s.log.Info("scenario set", "multi_select", sc.MultiSelect, "institution_down", sc.InstitutionDown,
		"reject_credentials", sc.RejectCredentials, "expired_link_tokens", sc.ExpiredLinkTokens)
}

// tokenExpiryLocked returns when a token issued now with lifetime life
// expires, consuming one ExpiredLinkTokens when set (caller holds s.mu).
func (s *Sim) tokenExpiryLocked(now time.Time, life time.Duration) time.Time {
	switch n := s.scenario.ExpiredLinkTokens; {
	case n > 0:
		s.scenario.ExpiredLinkTokens = n - 1
		return now
	case n < 0:
		return now
	}
	return now.Add(life)
}
