package pageapi

import (
	"context"
	"errors"

	"linkdesk/app/linkflow"
)

// The OAuth route and the wait for a bank in the system browser: calls the
// page can make when the backend implements OAuthBackend (the session does).
//
//	oauth.route          {}                      → OAuthRouteInfo
//	oauth.setRoute       {route}                 → OAuthRouteInfo
//	oauth.browserWait    {attempt_id}            → OAuthBrowserWait
//	oauth.browserAction  {attempt_id, action}    → OAuthBrowserActionResult
//
// Go pushes PushOAuthBrowser (OAuthBrowserMessage) when a wait starts or
// ends.

// OAuthRouteInfo is where banks' OAuth pages open. Route is "auto" (the
// BrowserInstitutions in the system browser, other banks in linkdesk's
// pop-up), "browser" (every bank in the system browser) or "popup" (every
// bank in the pop-up). It is set by LINKDESK_OAUTH_ROUTE and
// LINKDESK_OAUTH_BROWSER_INSTITUTIONS; oauth.setRoute changes the route for
// the rest of the run.
type OAuthRouteInfo struct {
	Route               string   `json:"route"`
	BrowserInstitutions []string `json:"browser_institutions"`
}

// OAuthBrowserWait is an attempt's wait for its bank in the system browser:
// Waiting with the bank page's address (for Copy link) and the bank, or not
// Waiting.
type OAuthBrowserWait struct {
	Waiting       bool   `json:"waiting"`
	AttemptID     string `json:"attempt_id"`
	URL           string `json:"url,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	Institution   string `json:"institution,omitempty"`
}

// OAuthBrowserActionResult says what an action did, in a sentence for the
// operator.
type OAuthBrowserActionResult struct {
	Message string `json:"message"`
}

type (
	// RouteParams sets the OAuth route: auto, browser or popup.
	RouteParams struct {
		Route string `json:"route"`
	}
	// BrowserActionParams act on an attempt's wait for its bank in the
	// system browser: action "open" opens the bank's page in the browser
	// again, "copy" puts its address on the clipboard, "cancel" ends the
	// wait (Link goes back to its OAuth step; a later return is refused).
	BrowserActionParams struct {
		AttemptID string `json:"attempt_id"`
		Action    string `json:"action"`
	}
)

// OAuthBackend is the part of a Backend that runs the OAuth route.
type OAuthBackend interface {
	OAuthRoute() OAuthRouteInfo
	SetOAuthRoute(route string) (OAuthRouteInfo, error)
	BrowserWait(attemptID string) OAuthBrowserWait
	BrowserAction(attemptID, action string) (string, error)
}

var errNoOAuthRoute = errors.New("this linkdesk cannot route banks' OAuth pages")

func (a *API) oauth() (OAuthBackend, error) {
	o, ok := a.b.(OAuthBackend)
	if !ok {
		return nil, errNoOAuthRoute
	}
	return o, nil
}

func init() {
	for _, c := range []call{
		define("oauth.route", func(ctx context.Context, a *API, _ NoParams) (OAuthRouteInfo, error) {
			o, err := a.oauth()
			if err != nil {
				return OAuthRouteInfo{}, err
			}
			return o.OAuthRoute(), nil
		}),
		define("oauth.setRoute", func(ctx context.Context, a *API, p RouteParams) (OAuthRouteInfo, error) {
			o, err := a.oauth()
			if err != nil {
				return OAuthRouteInfo{}, err
			}
			return o.SetOAuthRoute(p.Route)
		}),
		define("oauth.browserWait", func(ctx context.Context, a *API, p AttemptParams) (OAuthBrowserWait, error) {
			if err := linkflow.CheckAttemptID(p.AttemptID); err != nil {
				return OAuthBrowserWait{}, err
			}
			o, err := a.oauth()
			if err != nil {
				return OAuthBrowserWait{}, err
			}
			return o.BrowserWait(p.AttemptID), nil
		}),
		define("oauth.browserAction", func(ctx context.Context, a *API, p BrowserActionParams) (OAuthBrowserActionResult, error) {
			if err := linkflow.CheckAttemptID(p.AttemptID); err != nil {
				return OAuthBrowserActionResult{}, err
			}
			switch p.Action {
			case "open", "copy", "cancel":
			default:
				return OAuthBrowserActionResult{}, errors.New("action " + quote(p.Action) + " is not one of open, copy or cancel")
			}
			o, err := a.oauth()
			if err != nil {
				return OAuthBrowserActionResult{}, err
			}
			msg, err := o.BrowserAction(p.AttemptID, p.Action)
			return OAuthBrowserActionResult{Message: msg}, err
		}),
	} {
		if _, dup := callTable[c.name]; dup {
			panic("pageapi: call " + c.name + " defined twice")
		}
		callTable[c.name] = c
	}
}

// OAuthBrowserMessage tells the page about an attempt's wait for its bank in
// the system browser. State is "waiting" (show "Finish signing in in your
// browser" with Copy link, Open again and Cancel: oauth.browserAction; URL
// is the bank page's address), "returned" (the bank sent the customer back;
// Link resumes), "cancelled" (the operator ended the wait; Link is back at
// its OAuth step) or "ended" (Link closed the bank's window itself, or the
// attempt ended).
type OAuthBrowserMessage struct {
	Type          string `json:"type"`
	AttemptID     string `json:"attempt_id"`
	State         string `json:"state"`
	URL           string `json:"url,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	Institution   string `json:"institution,omitempty"`
	// Reason says why the bank signs in in the browser (the route), for
	// the operator.
	Reason string `json:"reason,omitempty"`
}

// OAuthBrowserPush is the push for a change of an attempt's wait for its
// bank in the system browser.
func OAuthBrowserPush(w OAuthBrowserWait, state, reason string) OAuthBrowserMessage {
	m := OAuthBrowserMessage{Type: PushOAuthBrowser, AttemptID: w.AttemptID, State: state,
		InstitutionID: w.InstitutionID, Institution: w.Institution, Reason: reason}
	if state == "waiting" {
		m.URL = w.URL
	}
	return m
}
