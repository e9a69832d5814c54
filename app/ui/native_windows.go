//go:build windows

package ui

import (
	webview "github.com/webview/webview_go"
)

// windowsNative is the Windows layer, and it adds nothing: WebView2 already
// does what the other layers add for pop-ups.
//
// webview_go's webview.h (the WebView2 part, where the controller is made)
// registers only WebMessageReceived and PermissionRequested on the
// ICoreWebView2; it registers no NewWindowRequested handler. Microsoft's
// documentation of CoreWebView2.NewWindowRequested: when the event is not
// handled (neither Handled nor NewWindow set), "the target content will be
// opened on a popup window". That pop-up is WebView2's own window, and it
// keeps window.opener, so Plaid Link's OAuth pop-up (window.open from its
// cross-origin iframe) works as in a browser.
//
// What is not done on Windows:
//   - The main view is not locked down to Navigation.Allowed, and a link the
//     user clicks is not sent to the system browser: both need
//     ICoreWebView2's NavigationStarting event through COM, and webview_go
//     does not expose the ICoreWebView2.
//   - Navigations to the OAuth redirect URI are not intercepted. The bank
//     sends its pop-up to the redirect URI, which is the app server's
//     loopback redirect page, and that page completes the redirect return.
//   - linkdesk neither sees nor counts WebView2's pop-ups: PopupCount is 0,
//     ClickOpenExternal reports false (they have no such button),
//     ClosePopups and Shutdown do nothing, and no PopupEvent is reported.
type windowsNative struct{}

// installNative returns the Windows layer, which never fails; see
// windowsNative. It logs once, at Info, that pop-ups are WebView2's own.
func installNative(v webview.WebView, nav *Navigation) (native, error) {
	nav.init()
	nav.Log.Info("pop-up windows (a bank's OAuth sign-in) are WebView2's own on Windows; linkdesk does not control them or the main view's navigations")
	return windowsNative{}, nil
}

func (windowsNative) ClosePopups(byPage bool) {}
func (windowsNative) PopupCount() int         { return 0 }
func (windowsNative) ClickOpenExternal() bool { return false }
func (windowsNative) Shutdown()               {}
