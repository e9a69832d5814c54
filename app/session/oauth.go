package session

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"linkdesk/app/environment"
	"linkdesk/app/handover"
	"linkdesk/app/linkflow"
	"linkdesk/app/oauthroute"
	"linkdesk/app/pageapi"
	"linkdesk/app/ui"
)

// The OAuth route (package oauthroute) and the wait for a bank in the system
// browser. session.go's popupEvent starts and ends the wait from the native
// layer's events; oauthReturn ends it when the bank sends the customer back.

// browserWaitMessages are the attempt events of the wait for a bank in the
// system browser (popupEvent).
var browserWaitMessages = map[string]string{
	"routed_external":        "The bank signs in in the system browser: finish signing in in your browser; Link continues when the bank sends the customer back",
	"browser_wait_ended":     "The wait for the bank in the system browser ended",
	"browser_wait_cancelled": "The wait for the bank in the system browser was cancelled; the customer is back at Plaid Link's OAuth step (a later return from the browser is refused)",
}

// browserWait is the attempt waiting for its bank in the system browser.
type browserWait struct {
	pageapi.OAuthBrowserWait
	reason string
}

// routeBankPage is ui.Navigation.RouteToBrowser: the router decides, with
// the institution Link's events named for the open attempt.
func (s *Session) routeBankPage(rawURL string, first bool) (bool, string) {
	ins := ""
	if e := s.env.Load(); e != nil {
		_, ins, _ = e.Flow.OpenLink()
	}
	d := s.router.Decide(rawURL, ins, first)
	return d.Browser, d.Reason
}

// startWait records that the attempts reached wait for their bank in the
// system browser, and tells the page ("waiting").
func (s *Session) startWait(e *environment.Env, reached []linkflow.Attempt, ev ui.PopupEvent) {
	if len(reached) == 0 {
		return
	}
	a := reached[len(reached)-1]
	_, ins, _ := e.Flow.OpenLink()
	if d := s.router.Decide(ev.URL, ins, true); d.InstitutionID != "" {
		ins = d.InstitutionID // the bank as its page's address names it
	}
	w := &browserWait{OAuthBrowserWait: pageapi.OAuthBrowserWait{Waiting: true, AttemptID: a.ID, URL: ev.URL,
		InstitutionID: ins, Institution: a.Institution}, reason: ev.Reason}
	if w.Institution == "" && ins != "" {
		w.Institution = e.Institutions.Name(ins)
	}
	if w.Institution == "" {
		w.Institution = oauthroute.KnownName(ins)
	}
	s.waitMu.Lock()
	s.wait = w
	s.waitMu.Unlock()
	s.push(pageapi.OAuthBrowserPush(w.OAuthBrowserWait, "waiting", w.reason))
}

// endWait ends the wait (of attemptID, or whichever runs when "") and tells
// the page state.
func (s *Session) endWait(attemptID, state string) {
	s.waitMu.Lock()
	w := s.wait
	if w == nil || (attemptID != "" && w.AttemptID != attemptID) {
		s.waitMu.Unlock()
		return
	}
	s.wait = nil
	s.waitMu.Unlock()
	s.push(pageapi.OAuthBrowserPush(w.OAuthBrowserWait, state, ""))
}

// OAuthRoute implements pageapi.OAuthBackend.
func (s *Session) OAuthRoute() pageapi.OAuthRouteInfo {
	return pageapi.OAuthRouteInfo{Route: string(s.router.Mode()), BrowserInstitutions: s.router.Institutions()}
}

// SetOAuthRoute implements pageapi.OAuthBackend: the route changes for the
// rest of the run (LINKDESK_OAUTH_ROUTE sets it at the next start).
func (s *Session) SetOAuthRoute(route string) (pageapi.OAuthRouteInfo, error) {
	if err := s.router.SetMode(oauthroute.Mode(route)); err != nil {
		return pageapi.OAuthRouteInfo{}, err
	}
	s.Log.Info("the OAuth route changed", "route", route)
	return s.OAuthRoute(), nil
}

// BrowserWait implements pageapi.OAuthBackend.
func (s *Session) BrowserWait(attemptID string) pageapi.OAuthBrowserWait {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if s.wait == nil || s.wait.AttemptID != attemptID {
		return pageapi.OAuthBrowserWait{AttemptID: attemptID}
	}
	return s.wait.OAuthBrowserWait
}

// BrowserAction implements pageapi.OAuthBackend: "open" opens the bank's
// page in the system browser again, "copy" puts its address on the
// clipboard, "cancel" ends the wait.
func (s *Session) BrowserAction(attemptID, action string) (string, error) {
	w := s.BrowserWait(attemptID)
	if !w.Waiting {
		return "", errors.New("this attempt is not waiting for its bank in the system browser: nothing to do")
	}
	win := s.currentWindow()
	switch action {
	case "open":
		open := s.Navigation.OpenExternal
		if open == nil {
			open = ui.OpenInBrowser
		}
		if err := open(w.URL); err != nil {
			return "", errors.New("the browser could not be opened (" + err.Error() + "): use Copy link and open the address in a browser yourself")
		}
		return "The bank's sign-in page opened in your browser again.", nil
	case "copy":
		if win == nil || !win.CopyText(w.URL) {
			return "", errors.New("linkdesk cannot use the clipboard here: open the bank's page with Open in browser instead")
		}
		return "The bank's sign-in address is on the clipboard: paste it into a browser.", nil
	case "cancel":
		if win != nil {
			win.CancelBrowserWait()
		}
		return "Stopped waiting for the bank: the customer is back at Plaid Link's OAuth step.", nil
	}
	return "", errors.New("action " + action + " is not one of open, copy or cancel")
}

// listenHandover takes linkdesk:// URLs that a second linkdesk hands over
// (the OS starts one for the URL scheme). linkdesk runs on without it when
// it cannot listen (another linkdesk of this user takes them).
func (s *Session) listenHandover() {
	dir := handover.Dir()
	if s.opts.RuntimeDir != "" {
		dir = filepath.Join(s.opts.RuntimeDir, "linkdesk")
	}
	h, err := handover.Listen(dir, s.handOver, s.Log.With("component", "handover"))
	if err != nil {
		s.Log.Warn("linkdesk:// addresses will not reach this linkdesk", "why", err)
		return
	}
	s.handover = h
}

// handOver takes linkdesk://oauth-return?<query> from a second linkdesk:
// the bank's answer, forwarded by the hosted return page. The address the
// bank sent the browser to is the current environment's redirect URI with
// that query; it is taken as if the browser had come back (oauthReturn).
func (s *Session) handOver(rawURL string) error {
	q, err := handover.ParseReturn(rawURL)
	if err != nil {
		return err
	}
	e := s.env.Load()
	if e == nil || e.RedirectURI == "" {
		return errors.New("linkdesk has no OAuth redirect URI in this environment, so it was not waiting for a bank's answer")
	}
	s.Log.Info("a bank's answer was handed over through linkdesk://")
	return s.oauthReturn(e.RedirectURI + "?" + q)
}

// serveReturns starts, once, the loopback port the hosted return page
// forwards the bank's answer to when linkdesk:// is not registered
// (LINKDESK_OAUTH_RETURN_PORT): http://127.0.0.1:PORT/oauth-return?<query>.
// It matters only for an https redirect URI (linkdesk serves a loopback one
// itself); the answer is taken for the current environment's redirect URI,
// with the same guards as the loopback redirect server (ui.ServeRedirect).
func (s *Session) serveReturns(e *environment.Env) {
	port := s.base.OAuthReturnPort
	if s.returns != nil || port == 0 || !strings.HasPrefix(e.RedirectURI, "https://") {
		return
	}
	rs, err := ui.ServeRedirect(fmt.Sprintf("http://127.0.0.1:%d/oauth-return", port), func(full string) error {
		cur := s.env.Load()
		if cur == nil || !strings.HasPrefix(cur.RedirectURI, "https://") {
			return ui.ErrNotWaiting
		}
		u, err := url.Parse(full)
		if err != nil {
			return ui.ErrNotWaiting
		}
		return s.oauthReturn(cur.RedirectURI + "?" + u.RawQuery)
	}, s.Log.With("component", "oauth-return"))
	if err != nil {
		s.Log.Warn("the hosted return page's loopback route is off: the bank's answer can come back only through linkdesk://", "why", err)
		return
	}
	s.returns = rs
}
