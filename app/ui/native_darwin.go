//go:build darwin

package ui

/*
#cgo CFLAGS: -x objective-c -fobjc-arc
#cgo LDFLAGS: -framework WebKit -framework Cocoa
#include <stdint.h>

// Defined in native_darwin.m.
int ld_install(void *window, uintptr_t h);
void ld_close_popups(int by_page);
void ld_shutdown(void);
int ld_popup_count(void);
int ld_click_external(void);
*/
import "C"

import (
	"errors"
	"log/slog"
	"runtime/cgo"

	webview "github.com/webview/webview_go"
)

// darwinNative is the macOS layer. It has not been compiled or run by the
// project's CI, which has no macOS machine.
type darwinNative struct {
	nav    *Navigation
	handle cgo.Handle
}

// installNative hooks the main WKWebView (the contentView of webview_go's
// NSWindow) with a WKUIDelegate whose createWebViewWithConfiguration makes
// window.open (also from cross-origin iframes) a native pop-up window related
// to the opener, and a WKNavigationDelegate that applies nav's policy to the
// main view and the pop-ups. It keeps the file-open panel working (see
// native_darwin.m). Call on the main thread.
func installNative(v webview.WebView, nav *Navigation) (native, error) {
	n := &darwinNative{nav: nav}
	n.handle = cgo.NewHandle(n)
	if C.ld_install(v.Window(), C.uintptr_t(n.handle)) == 0 {
		n.handle.Delete()
		return nil, errors.New("the window has no WKWebView to hook pop-ups into")
	}
	return n, nil
}

func (n *darwinNative) ClosePopups(byPage bool) {
	b := C.int(0)
	if byPage {
		b = 1
	}
	C.ld_close_popups(b)
}

// Shutdown closes the pop-ups (reporting them closed by the page), gives the
// main view back its previous delegates, and releases the handle.
func (n *darwinNative) Shutdown() {
	C.ld_shutdown()
	n.handle.Delete()
}

func (n *darwinNative) PopupCount() int { return int(C.ld_popup_count()) }

func (n *darwinNative) ClickOpenExternal() bool { return C.ld_click_external() == 1 }

// darwinPopupKinds are the PopupEvent kinds by the numbers native_darwin.m
// uses.
var darwinPopupKinds = map[C.int]string{1: "opened", 2: "closed_by_page", 3: "closed_by_user", 4: "open_external"}

//export linkdeskDecide
func linkdeskDecide(h C.uintptr_t, popup C.int, uri *C.char, gesture C.int) (verdict C.int) {
	// A panic must not cross into Objective-C: it would kill the app. Block
	// instead.
	defer func() {
		if r := recover(); r != nil {
			slog.Error("navigation policy panicked; blocking the navigation", "panic", r)
			verdict = C.int(Block)
		}
	}()
	n := cgo.Handle(h).Value().(*darwinNative)
	return C.int(n.nav.Decide(popup != 0, C.GoString(uri), gesture != 0))
}

//export linkdeskPopupEvent
func linkdeskPopupEvent(h C.uintptr_t, kind C.int, uri *C.char) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("pop-up event handler panicked", "panic", r)
		}
	}()
	n := cgo.Handle(h).Value().(*darwinNative)
	n.nav.Popup(PopupEvent{Kind: darwinPopupKinds[kind], URL: C.GoString(uri)})
}
