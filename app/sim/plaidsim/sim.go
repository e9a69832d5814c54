// Package plaidsim is linkdesk's simulated Plaid: the Link web SDK
// (link-initialize.js and the Link page it shows in a cross-origin iframe), a
// simulated bank's OAuth pages, and the small part of Plaid's API that the
// simulated Cybrid backend calls (the Backend interface in contract.go).
//
// A *Sim is an http.Handler for everything under /link/ and a Backend. The
// browser-facing paths mirror Plaid's CDN:
//
//	GET  /link/v2/stable/link-initialize.js       defines window.Plaid (Plaid.create)
//	GET  /link/v2/stable/link.html?token=…         the Link page (in the iframe)
//	GET  /link/v2/stable/sandbox-oauth-login.html  the simulated bank's sign-in (pop-up)
//	GET  /link/v2/stable/oauth-return.html         Plaid's OAuth return page (pop-up)
//	POST /link/v2/stable/sim/…                     JSON calls of the Link page (same-origin only, see checkOrigin)
//
// Serve it on an origin of its own (e.g. http://localhost:PORT while the app
// is on http://127.0.0.1:OTHER), so Link runs cross-origin to the host page
// as it does from cdn.plaid.com. Behaviour follows Plaid's Sandbox: user_good /
// pass_good, password error_<CODE>, mfa_device with code 1234, the Sandbox
// institutions including Platypus OAuth Bank (ins_127287), update mode and
// /sandbox/item/reset_login. See assets/plaidsim/README.md for the page
// protocol and the test driver.
package plaidsim

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Token lifetimes, as Plaid documents them.
const (
	LinkTokenLifetime       = 4 * time.Hour
	UpdateLinkTokenLifetime = 30 * time.Minute
	PublicTokenLifetime     = 30 * time.Minute
)

// Errors returned by CreateLinkToken and ResetLogin (wrapped with detail;
// test with errors.Is).
var (
	ErrItemNotFound     = errorString("plaid: ITEM_NOT_FOUND: no item with that item id")
	ErrInvalidLinkField = errorString("plaid: INVALID_FIELD: invalid link token request")
)

// Options configure a Sim. The zero value is usable.
type Options struct {
	// Now is the clock (token expiry). Default time.Now.
	Now func() time.Time
	// Logger receives one line per notable event (token issued, session
	// opened, item linked, exit). Tokens are never logged. Default: discard.
	Logger *slog.Logger
	// TestDriver makes link.html and the bank page load sim-driver.js, which
	// lets the host page drive the Link DOM by postMessage (see README.md).
	// Off by default; only end-to-end tests turn it on.
	TestDriver bool
	// OnChange, when set, is called after a change to what Snapshot keeps
	// (a link token issued, an item linked, repaired or reset), without the
	// simulator's lock held. Restore does not call it; Reset does.
	OnChange func()
	// LoadingTime is the least time Link shows its loading pane after the
	// customer submits credentials or a code (DefaultLoadingTime when
	// zero; negative: none — for tests, which need not see it).
	LoadingTime time.Duration
}

// DefaultLoadingTime is Options.LoadingTime's default: long enough for the
// loading pane to be seen.
const DefaultLoadingTime = 350 * time.Millisecond

// Sim is the simulated Plaid. It implements Backend and http.Handler; all
// methods are safe for concurrent use.
type Sim struct {
	now        func() time.Time
	log        *slog.Logger
	testDriver bool
	onChange   func()
	loading    time.Duration

	mu           sync.Mutex
	linkTokens   map[string]*linkToken
	sessions     map[string]*session // by link_session_id
	sessionOrder []*session
	oauthStates  map[string]*oauthState
	items        map[string]*item
	itemOrder    []*item
	publicTokens map[string]*publicToken
	scenario     Scenario
	linked       bool // an API call linked or repaired an item (serveAPI tells onChange)
}

var _ Backend = (*Sim)(nil)

// New returns an empty simulator.
func New(o Options) *Sim {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case o.LoadingTime == 0:
		o.LoadingTime = DefaultLoadingTime
	case o.LoadingTime < 0:
		o.LoadingTime = 0
	}
	return &Sim{
		now: o.Now, log: o.Logger.With("component", "plaidsim"), testDriver: o.TestDriver, onChange: o.OnChange,
		loading:      o.LoadingTime,
		linkTokens:   map[string]*linkToken{},
		sessions:     map[string]*session{},
		oauthStates:  map[string]*oauthState{},
		items:        map[string]*item{},
		publicTokens: map[string]*publicToken{},
	}
}

type linkToken struct {
	req      LinkTokenRequest
	expires  time.Time
	consumed bool // a session linked an item with it
	multi    bool // Account Select allows several accounts
}

func (lt *linkToken) updateMode() bool { return lt.req.UpdateItemID != "" }

// multiSelect reports whether Account Select allows several accounts: the
// Link customization decides, as in Plaid's Dashboard (a customization whose
// name contains "multi"), or Scenario.MultiSelect when the token was issued.
func (lt *linkToken) multiSelect() bool { return lt.multi }

func multiCustomization(name string) bool {
	return strings.Contains(strings.ToLower(name), "multi")
}

type session struct {
	id         string
	token      *linkToken
	created    time.Time
	inst       *institution
	step       string    // last step the server saw, see SessionInfo.Step
	candidates []Account // accounts offered at Account Select
	mfaPending bool
	oauth      *oauthState
	item       *item  // the linked (or, in update mode, repaired) item
	exitStatus string // onExit status, once exited
	errorCode  string // error that ended the session, if any
}

type oauthState struct {
	id        string
	sess      *session
	result    string // "pending" | "approved" | "denied"
	processed bool   // Link has continued after it
}

type item struct {
	id           string
	inst         *institution
	accounts     []Account // all accounts at the institution
	selected     []Account // shared with the app (Account Select)
	needsUpdate  bool
	customerGUID string
	created      time.Time
}

type publicToken struct {
	item    *item
	expires time.Time
	used    bool
}

// CreateLinkToken implements Backend (/link/token/create). A new-item token
// lives 4 hours, an update-mode token (UpdateItemID set) 30 minutes — unless
// Scenario.ExpiredLinkTokens asks for an already expired one.
func (s *Sim) CreateLinkToken(req LinkTokenRequest) (LinkToken, error) {
	if strings.TrimSpace(req.CustomerGUID) == "" {
		return LinkToken{}, fmt.Errorf("%w: user.client_user_id (the customer guid) must not be empty", ErrInvalidLinkField)
	}
	switch req.Language {
	case "", "en", "fr", "es", "nl", "de":
	default:
		return LinkToken{}, fmt.Errorf("%w: language %q is not one of en, fr, es, nl, de", ErrInvalidLinkField, req.Language)
	}
	if req.RedirectURI != "" {
		if err := checkRedirectURI(req.RedirectURI); err != nil {
			return LinkToken{}, fmt.Errorf("%w: redirect_uri %q: %v", ErrInvalidLinkField, req.RedirectURI, err)
		}
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	life := LinkTokenLifetime
	if req.UpdateItemID != "" {
		if s.items[req.UpdateItemID] == nil {
			return LinkToken{}, fmt.Errorf("%w: update mode for item %q", ErrItemNotFound, req.UpdateItemID)
		}
		life = UpdateLinkTokenLifetime
	}
	tok := "link-sandbox-" + newUUID()
	exp := s.tokenExpiryLocked(s.now(), life)
	lt := &linkToken{req: req, expires: exp, multi: multiCustomization(req.LinkCustomizationName) || s.scenario.MultiSelect}
	s.linkTokens[tok] = lt
	s.log.Info("link token created", "customer", req.CustomerGUID, "update_item", req.UpdateItemID,
		"customization", req.LinkCustomizationName, "account_select_multi", lt.multi, "expires", exp.Format(time.RFC3339))
	return LinkToken{Token: tok, Expiration: exp}, nil
}

// checkRedirectURI applies Plaid's redirect_uri rules: https, or http only for
// localhost in Sandbox; no query string, no fragment.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"):
	default:
		return fmt.Errorf("must use https (http is allowed for localhost in Sandbox)")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("must not contain a query string or fragment")
	}
	return nil
}

// ExchangePublicToken implements Backend (/item/public_token/exchange). A
// public token is single-use and expires 30 minutes after Link issued it.
func (s *Sim) ExchangePublicToken(publicToken string) (Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.publicTokens[publicToken]
	switch {
	case pt == nil:
		return Item{}, ErrPublicTokenUnknown
	case pt.used:
		return Item{}, ErrPublicTokenUsed
	case !s.now().Before(pt.expires):
		return Item{}, ErrPublicTokenExpired
	}
	pt.used = true
	s.log.Info("public token exchanged", "item", pt.item.id, "institution", pt.item.inst.ID)
	return pt.item.public(), nil
}

// ResetLogin implements Backend (/sandbox/item/reset_login): the item needs
// update mode (ITEM_LOGIN_REQUIRED) until a Link session in update mode
// repairs it.
func (s *Sim) ResetLogin(itemID string) error {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	it := s.items[itemID]
	if it == nil {
		return fmt.Errorf("%w: reset_login for item %q", ErrItemNotFound, itemID)
	}
	it.needsUpdate = true
	s.log.Info("item login reset", "item", itemID)
	return nil
}

func (it *item) public() Item {
	return Item{ItemID: it.id, InstitutionID: it.inst.ID, InstitutionName: it.inst.Name, Accounts: slices.Clone(it.selected)}
}

// ItemInfo is a snapshot of one item for tests and the simulator's UI.
type ItemInfo struct {
	Item
	CustomerGUID string
	// NeedsUpdate is set by ResetLogin and cleared by a successful update-mode session.
	NeedsUpdate bool
	Created     time.Time
}

// Items returns a snapshot of all items, oldest first.
func (s *Sim) Items() []ItemInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ItemInfo, 0, len(s.itemOrder))
	for _, it := range s.itemOrder {
		out = append(out, ItemInfo{Item: it.public(), CustomerGUID: it.customerGUID, NeedsUpdate: it.needsUpdate, Created: it.created})
	}
	return out
}

// SessionInfo is a snapshot of one Link session (one open() of Link).
type SessionInfo struct {
	LinkSessionID string
	CustomerGUID  string
	UpdateMode    bool
	InstitutionID string // "" until an institution is selected
	// Step is the last step the server saw: "opened", "credentials", "mfa",
	// "oauth", "select_account", "connected", "exited", "failed".
	Step string
	// ItemID is the linked (or repaired) item once Step is "connected".
	ItemID string
	// OAuthStateID is the session's current OAuth state at an OAuth
	// institution: the bank page is
	// /link/v2/stable/sandbox-oauth-login.html?oauth_state_id=<it>&institution_id=<the bank>.
	OAuthStateID string
	// ExitStatus is onExit's status when the user exited ("" otherwise);
	// ErrorCode the error that ended the session, if any.
	ExitStatus string
	ErrorCode  string
}

// Sessions returns a snapshot of all Link sessions, oldest first.
func (s *Sim) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.sessionOrder))
	for _, se := range s.sessionOrder {
		si := SessionInfo{LinkSessionID: se.id, CustomerGUID: se.token.req.CustomerGUID, UpdateMode: se.token.updateMode(),
			Step: se.step, ExitStatus: se.exitStatus, ErrorCode: se.errorCode}
		if se.inst != nil {
			si.InstitutionID = se.inst.ID
		}
		if se.item != nil {
			si.ItemID = se.item.id
		}
		if se.oauth != nil {
			si.OAuthStateID = se.oauth.id
		}
		out = append(out, si)
	}
	return out
}
