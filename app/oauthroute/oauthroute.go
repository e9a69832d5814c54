// Package oauthroute decides where a bank's OAuth sign-in page opens: in
// linkdesk's own pop-up window (a WebKit view related to Plaid Link's, so
// window.opener works) or in the system browser.
//
// Plaid documents in-process webviews as deprecated for Link, and that Chase
// does not support — and may block — OAuth pages opened in one; RFC 8252 §8.12
// says native apps should use an external user agent. Some banks therefore
// must always sign in in the system browser, and an operator may send every
// OAuth bank there. The bank then returns through the redirect URI (package
// ui's loopback redirect server, or the hosted return page and the linkdesk://
// hand-over in production), and Link is re-created with receivedRedirectUri.
//
// A Router is pure policy: it knows the mode and the institution list and
// reads an institution from a pop-up's address; the native layer asks it
// (through ui.Navigation.RouteToBrowser) before a bank page loads.
package oauthroute

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mode is the operator's OAuth route.
type Mode string

// The routes.
const (
	// Auto opens the listed institutions' pages in the system browser and
	// every other bank's in linkdesk's pop-up (the default).
	Auto Mode = "auto"
	// Browser opens every OAuth bank's page in the system browser.
	Browser Mode = "browser"
	// Popup opens every OAuth bank's page in linkdesk's pop-up, also the
	// listed ones: for QA rehearsing a bank that refuses embedded views.
	Popup Mode = "popup"
)

// Modes lists the modes in the order they are documented.
var Modes = []Mode{Auto, Browser, Popup}

// Valid reports whether m is one of Modes.
func (m Mode) Valid() bool { return slices.Contains(Modes, m) }

// DefaultBrowserInstitutions are the institutions Plaid documents as not
// supporting OAuth pages in in-process webviews (Plaid's "Link Webview SDK"
// page and its in-process webview deprecation notice name Chase): Chase's
// Plaid institution ids, ins_56 (its OAuth connection) and ins_3 (the id
// Chase had before OAuth, still seen in older Items).
var DefaultBrowserInstitutions = []string{"ins_56", "ins_3"}

// bankHosts are the hosts of the sign-in pages of the default institutions:
// a pop-up that heads there is recognised even when Link's events have not
// named the institution yet (Plaid delivers most events only at the end of
// the flow on the web).
var bankHosts = map[string][]string{
	"ins_56": {"chase.com"},
	"ins_3":  {"chase.com"},
}

// bankNames name the default institutions, for the operator: the wait for
// the bank in the browser is shown before Link's events name the bank.
var bankNames = map[string]string{
	"ins_56": "Chase",
	"ins_3":  "Chase",
}

// KnownName returns the name of one of the default institutions, "" for
// any other.
func KnownName(institutionID string) string { return bankNames[institutionID] }

var institutionID = regexp.MustCompile(`^ins_[0-9]{1,12}$`)

// ValidInstitutionID reports whether s has the form of a Plaid institution id
// (ins_ and digits).
func ValidInstitutionID(s string) bool { return institutionID.MatchString(s) }

// Router holds the route and the institution list. Safe for concurrent use;
// the mode can change at run time (the page's switch).
type Router struct {
	mu   sync.Mutex
	mode Mode
	ids  []string
}

// New returns a Router. ids are Plaid institution ids (invalid ones are
// dropped: package config has validated them already).
func New(mode Mode, ids []string) *Router {
	if !mode.Valid() {
		mode = Auto
	}
	r := &Router{mode: mode}
	for _, id := range ids {
		if ValidInstitutionID(id) && !slices.Contains(r.ids, id) {
			r.ids = append(r.ids, id)
		}
	}
	return r
}

// Mode is the current route.
func (r *Router) Mode() Mode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode
}

// SetMode changes the route for the rest of the run.
func (r *Router) SetMode(m Mode) error {
	if !m.Valid() {
		return fmt.Errorf("the OAuth route %q is not one of auto, browser or popup", m)
	}
	r.mu.Lock()
	r.mode = m
	r.mu.Unlock()
	return nil
}

// Institutions are the institutions that always sign in in the system
// browser (in mode Auto).
func (r *Router) Institutions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// Decision is where one bank page goes.
type Decision struct {
	// Browser: open the page in the system browser, not in linkdesk's pop-up.
	Browser bool
	// InstitutionID is the institution the decision was made for ("" when
	// unknown).
	InstitutionID string
	// Reason says why, for the log and the attempt's activity.
	Reason string
}

// Decide says where the bank page rawURL opens. linkInstitution is the
// institution Plaid Link's events named for the attempt whose Link is open
// ("" when none did yet). first is true for the pop-up's first address and
// false for a later one it navigates to (a page already shown in the pop-up
// moves to the browser only when it heads for a listed institution's host).
// Only http and https pages can go to the browser.
func (r *Router) Decide(rawURL, linkInstitution string, first bool) Decision {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Decision{Reason: "not a web page"}
	}
	r.mu.Lock()
	mode, ids := r.mode, r.ids
	r.mu.Unlock()
	fromURL := r.institutionOf(u, ids)
	ins := fromURL
	if ins == "" && first {
		ins = linkInstitution
	}
	switch mode {
	case Popup:
		return Decision{InstitutionID: ins, Reason: "the OAuth route is popup: every bank signs in in linkdesk's window"}
	case Browser:
		if !first {
			return Decision{InstitutionID: ins, Reason: "already in linkdesk's window"}
		}
		return Decision{Browser: true, InstitutionID: ins, Reason: "the OAuth route is browser: every bank signs in in the system browser"}
	}
	if ins != "" && slices.Contains(ids, ins) {
		return Decision{Browser: true, InstitutionID: ins, Reason: ins + " is listed to sign in in the system browser (it refuses embedded views)"}
	}
	return Decision{InstitutionID: ins, Reason: "not listed to sign in in the system browser"}
}

// institutionOf reads a listed institution from a page address: an
// institution_id query parameter, or the host of a listed institution's
// sign-in pages.
func (r *Router) institutionOf(u *url.URL, ids []string) string {
	if id := u.Query().Get("institution_id"); ValidInstitutionID(id) {
		return id
	}
	host := strings.ToLower(u.Hostname())
	for _, id := range ids {
		for _, h := range bankHosts[id] {
			if host == h || strings.HasSuffix(host, "."+h) {
				return id
			}
		}
	}
	return ""
}
