package ui

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"sync"
)

// Verdict is what the native layer does with a navigation.
type Verdict int

const (
	// Allow lets the navigation proceed.
	Allow Verdict = iota
	// Block stops it (and, for a user's click, opens it in the system
	// browser instead).
	Block
	// Redirected stops it because it reached the OAuth redirect URI; the URL
	// was handed to OnRedirect, and a pop-up showing it is closed.
	Redirected
)

// PopupEvent is something that happened to a native pop-up window.
type PopupEvent struct {
	// Kind is "opened", "closed_by_page" (window.close()), "closed_by_user",
	// "open_external" (the operator sent the bank's page to the system
	// browser), "routed_external" (the OAuth route sent it there before it
	// loaded; Reason says why), "open_external_failed" (the browser could
	// not be started; Err says why), "browser_wait_ended" (the placeholder
	// kept for a page in the browser was closed by the bank's return or by
	// Link) or "browser_wait_cancelled" (closed by the operator or the app).
	Kind   string
	URL    string // the pop-up's page when it happened (may be empty)
	Err    string
	Reason string
}

// Navigation decides where the views may go, and hears about pop-ups and the
// OAuth redirect return. The native layer (one file per OS) calls Decide for
// every navigation of the main view and of pop-ups, and Popup for pop-up
// events. All fields are set before the window opens; methods are safe from
// the UI thread.
//
// Policy:
//   - Any view reaching RedirectURI (same scheme, host, port and path) is
//     stopped and the full URL goes to OnRedirect: Link is re-created with it
//     as receivedRedirectUri.
//   - The main view (and its frames) may show only Allowed origins: the app
//     itself, Plaid's (or the simulator's) Link origin, about:blank. Anything
//     else is blocked; when the user clicked a link to it, it opens in the
//     system browser instead.
//   - Pop-ups (a bank's OAuth pages) may go anywhere.
type Navigation struct {
	// Allowed are the origins ("scheme://host:port") the main view may show;
	// "https://*.plaid.com" allows every subdomain.
	Allowed []string
	// RedirectURI is the configured OAuth redirect URI, or "".
	RedirectURI string
	// OnRedirect receives the full URL that reached RedirectURI.
	OnRedirect func(rawURL string)
	// OnPopup receives pop-up events.
	OnPopup func(PopupEvent)
	// OpenExternal opens a URL in the system browser; nil means
	// OpenInBrowser.
	OpenExternal func(rawURL string) error
	// RouteToBrowser, when set, decides whether a bank pop-up's page opens
	// in the system browser instead of the pop-up (the per-institution
	// OAuth route, package oauthroute): rawURL is the pop-up's first web
	// address (first) or one it is navigating to. It returns the decision
	// and why. nil: every page stays in its pop-up.
	RouteToBrowser func(rawURL string, first bool) (browser bool, reason string)
	Log            *slog.Logger

	mu       sync.Mutex
	ready    bool
	allowed  map[string]bool
	suffixes []string // from "scheme://*.domain" entries: "scheme://" + "|." + "domain"
	redirect *url.URL
}

// Configure replaces the allowed origins and the redirect URI (after an
// environment switch). Safe from any goroutine.
func (n *Navigation) Configure(allowed []string, redirectURI string) {
	n.mu.Lock()
	n.Allowed, n.RedirectURI, n.ready = allowed, redirectURI, false
	n.mu.Unlock()
	n.init()
}

// init derives the lookup tables from Allowed and RedirectURI once.
func (n *Navigation) init() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ready {
		return
	}
	n.ready = true
	n.allowed = map[string]bool{}
	n.suffixes = nil
	for _, o := range n.Allowed {
		o = strings.TrimRight(o, "/")
		if scheme, rest, ok := strings.Cut(o, "://*."); ok {
			n.suffixes = append(n.suffixes, scheme+"://|."+rest)
			continue
		}
		n.allowed[o] = true
	}
	n.redirect = nil
	if n.RedirectURI != "" {
		n.redirect, _ = url.Parse(n.RedirectURI)
	}
	if n.Log == nil {
		n.Log = slog.Default()
	}
}

// IsRedirect reports whether rawURL is the OAuth redirect URI (with any
// query).
func (n *Navigation) IsRedirect(rawURL string) bool {
	n.init()
	n.mu.Lock()
	r := n.redirect
	n.mu.Unlock()
	if r == nil {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, r.Scheme) && strings.EqualFold(u.Host, r.Host) &&
		strings.TrimRight(u.Path, "/") == strings.TrimRight(r.Path, "/")
}

// Decide is called by the native layer for each navigation.
func (n *Navigation) Decide(popup bool, rawURL string, userGesture bool) Verdict {
	n.init()
	if n.IsRedirect(rawURL) {
		n.Log.Info("OAuth redirect URI reached; resuming Link", "in_popup", popup)
		if n.OnRedirect != nil {
			n.OnRedirect(rawURL)
		}
		return Redirected
	}
	if popup {
		return Allow
	}
	if rawURL == "about:blank" || strings.HasPrefix(rawURL, "about:srcdoc") {
		return Allow
	}
	u, err := url.Parse(rawURL)
	if err == nil && n.allowedOrigin(u) {
		return Allow
	}
	safe := redactQuery(rawURL)
	if userGesture && err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		n.Log.Info("a link leads away from linkdesk; opening it in the system browser", "url", safe)
		n.openExternal(rawURL)
	} else {
		n.Log.Warn("blocked a navigation away from linkdesk", "url", safe)
	}
	return Block
}

func (n *Navigation) allowedOrigin(u *url.URL) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.allowed[u.Scheme+"://"+u.Host] {
		return true
	}
	for _, sfx := range n.suffixes {
		scheme, domain, _ := strings.Cut(sfx, "://|")
		if u.Scheme == scheme && u.Port() == "" && strings.HasSuffix(u.Hostname(), domain) {
			return true
		}
	}
	return false
}

// Popup is called by the native layer for pop-up events. For
// "open_external" it opens the URL in the system browser and returns the
// error when that failed (the event then goes on as "open_external_failed").
func (n *Navigation) Popup(ev PopupEvent) error {
	n.init()
	var err error
	if ev.Kind == "open_external" {
		open := n.OpenExternal
		if open == nil {
			open = OpenInBrowser
		}
		if ev.URL == "" {
			err = errors.New("the pop-up shows no address yet")
		} else {
			err = open(ev.URL)
		}
		if err != nil {
			ev.Kind, ev.Err = "open_external_failed", err.Error()
			n.Log.Warn("could not open the system browser for the bank's page", "err", err)
		}
	}
	n.Log.Info("pop-up window "+strings.ReplaceAll(ev.Kind, "_", " "), "url", redactQuery(ev.URL))
	if n.OnPopup != nil {
		n.OnPopup(ev)
	}
	return err
}

// RoutePopup is called by the native layer before a bank pop-up's web page
// loads: when window.open asks for it (first) and for each later web address
// the pop-up navigates to. When RouteToBrowser sends the page to the system
// browser and the browser started, it reports "routed_external" to OnPopup
// and returns true: the native layer then keeps the pop-up as a hidden
// placeholder that loads nothing. When the browser could not be started it
// reports "open_external_failed" and returns false with a note for the
// pop-up saying why and what to do: the page stays in linkdesk's window.
func (n *Navigation) RoutePopup(rawURL string, first bool) (browser bool, note string) {
	n.init()
	if n.RouteToBrowser == nil || n.IsRedirect(rawURL) {
		return false, ""
	}
	ok, reason := n.RouteToBrowser(rawURL, first)
	if !ok {
		return false, ""
	}
	open := n.OpenExternal
	if open == nil {
		open = OpenInBrowser
	}
	if err := open(rawURL); err != nil {
		n.Log.Warn("could not open the system browser for a bank that signs in there; its page stays in linkdesk's window", "err", err, "url", redactQuery(rawURL))
		ev := PopupEvent{Kind: "open_external_failed", URL: rawURL, Err: err.Error(), Reason: reason}
		if n.OnPopup != nil {
			n.OnPopup(ev)
		}
		return false, "This bank signs in in your browser, but the browser could not be opened (" + err.Error() +
			"). Use Copy link and open the address in a browser yourself; linkdesk continues when the bank sends you back."
	}
	n.Log.Info("the bank's sign-in page opened in the system browser (OAuth route)", "reason", reason, "url", redactQuery(rawURL))
	if n.OnPopup != nil {
		n.OnPopup(PopupEvent{Kind: "routed_external", URL: rawURL, Reason: reason})
	}
	return true, ""
}

func (n *Navigation) openExternal(rawURL string) {
	open := n.OpenExternal
	if open == nil {
		open = OpenInBrowser
	}
	if err := open(rawURL); err != nil {
		n.Log.Warn("could not open the system browser", "err", err)
	}
}

// redactQuery drops the query and fragment of a URL for logs: bank and
// OAuth URLs carry state and codes there.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// OpenInBrowser opens an http(s) URL in the user's default browser: xdg-open
// on Linux and the BSDs, open on macOS, the URL protocol handler on Windows.
// The URL is passed as one argument, never through a shell.
func OpenInBrowser(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("only http and https addresses open in the browser, not %q", redactQuery(rawURL))
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", rawURL)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", rawURL)
	default:
		cmd = exec.Command("xdg-open", rawURL)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("no program to open a browser was found (%s): open %s yourself", cmd.Path, redactQuery(rawURL))
		}
		return err
	}
	go cmd.Wait()
	return nil
}
