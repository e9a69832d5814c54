package pageapi

import (
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/timeline"
)

// The messages Go pushes to the page (window.linkdesk.push(msg)); Type
// tells them apart.
const (
	// PushAttempt: an attempt changed (AttemptMessage).
	PushAttempt = "attempt"
	// PushTimeline: a timeline entry was recorded (TimelineMessage).
	PushTimeline = "timeline"
	// PushRecovered: the interrupted attempts changed (RecoveredMessage).
	PushRecovered = "recovered"
	// PushOAuthRedirect: a bank sent the customer back; re-create Link for
	// the attempt (OAuthRedirectMessage).
	PushOAuthRedirect = "oauth_redirect"
	// PushPopup: the bank's sign-in window opened or closed (PopupMessage).
	PushPopup = "popup"
	// PushOAuthBrowser: an attempt's wait for its bank in the system
	// browser started or ended (OAuthBrowserMessage, oauth.go).
	PushOAuthBrowser = "oauth_browser"
	// PushPrepared: a link token prepared before the click changed
	// (PreparedMessage).
	PushPrepared = "prepared"
)

// Pushes lists every push type, sorted.
func Pushes() []string {
	return []string{PushAttempt, PushOAuthBrowser, PushOAuthRedirect, PushPopup, PushPrepared, PushRecovered, PushTimeline}
}

// AttemptMessage carries an attempt's new snapshot and the event that made
// it. Attempt.CustomerGUID says whose it is.
type AttemptMessage struct {
	Type    string           `json:"type"`
	Attempt linkflow.Attempt `json:"attempt"`
	Event   linkflow.Event   `json:"event"`
}

// AttemptPush is the push for an attempt event.
func AttemptPush(a linkflow.Attempt, ev linkflow.Event) AttemptMessage {
	return AttemptMessage{Type: PushAttempt, Attempt: a, Event: ev}
}

// TimelineMessage carries a new timeline entry.
type TimelineMessage struct {
	Type  string         `json:"type"`
	Entry timeline.Entry `json:"entry"`
}

// TimelinePush is the push for a timeline entry.
func TimelinePush(e timeline.Entry) TimelineMessage {
	return TimelineMessage{Type: PushTimeline, Entry: e}
}

// RecoveredMessage carries the journal's status.
type RecoveredMessage struct {
	Type   string         `json:"type"`
	Status journal.Status `json:"status"`
}

// RecoveredPush is the push for the journal's status.
func RecoveredPush(s journal.Status) RecoveredMessage {
	return RecoveredMessage{Type: PushRecovered, Status: s}
}

// OAuthRedirectMessage tells the page to re-create Link for AttemptID with
// URL as receivedRedirectUri.
type OAuthRedirectMessage struct {
	Type      string `json:"type"`
	AttemptID string `json:"attempt_id"`
	URL       string `json:"url"`
}

// OAuthRedirectPush is the push for a bank's OAuth return.
func OAuthRedirectPush(attemptID, url string) OAuthRedirectMessage {
	return OAuthRedirectMessage{Type: PushOAuthRedirect, AttemptID: attemptID, URL: url}
}

// PopupMessage says what happened to the bank's sign-in window: "opened",
// "closed_by_page", "closed_by_user", "open_external" (the operator sent the
// page to the system browser), "routed_external" (the OAuth route sent it
// there before it loaded), "open_external_failed" (Error says why),
// "browser_wait_ended" or "browser_wait_cancelled" (see ui.PopupEvent).
type PopupMessage struct {
	Type  string `json:"type"`
	Kind  string `json:"kind"`
	Error string `json:"error,omitempty"`
}

// PopupPush is the push for a pop-up event.
func PopupPush(kind, err string) PopupMessage {
	return PopupMessage{Type: PushPopup, Kind: kind, Error: err}
}

// PreparedMessage carries a link token prepared for a customer before the
// click (linkflow.Flow.Prefetch): pending, ready (with the token, which the
// page may create Plaid Link with, hidden, ahead of the click) or gone
// (discarded: Link created with it must be destroyed).
// Prepared.CustomerGUID says whose it is.
type PreparedMessage struct {
	Type     string            `json:"type"`
	Prepared linkflow.Prepared `json:"prepared"`
}

// PreparedPush is the push for a prepared token's change.
func PreparedPush(p linkflow.Prepared) PreparedMessage {
	return PreparedMessage{Type: PushPrepared, Prepared: p}
}
