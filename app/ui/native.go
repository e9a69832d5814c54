package ui

// native is what the OS-specific layer (native_<os>.go) adds to the web view:
// pop-up windows for window.open, and navigation decisions by Navigation.
// Every method must be called on the UI thread.
//
//   - Linux (WebKitGTK): native_linux.go connects the web view's "create" and
//     "decide-policy" signals.
//   - macOS (WKWebView): native_darwin.go installs a WKUIDelegate and a
//     WKNavigationDelegate.
//   - Windows (WebView2): opens window.open in its own pop-up window by
//     default; see native_windows.go.
type native interface {
	// ClosePopups closes every pop-up window; byPage reports them as closed
	// by the page (as after the OAuth redirect return) rather than by the
	// user.
	ClosePopups(byPage bool)
	// PopupCount is the number of open pop-up windows.
	PopupCount() int
	// ClickOpenExternal presses the first pop-up's "Open in system browser"
	// (as the user would), reporting whether there was one.
	ClickOpenExternal() bool
	// Shutdown destroys the pop-ups and releases the layer; the window is
	// closing.
	Shutdown()
}
