package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"

	webview "github.com/webview/webview_go"
)

// ErrNoDisplay is returned by CheckDisplay when no graphical display is
// available.
var ErrNoDisplay = errors.New("linkdesk needs a graphical display, and none was found (DISPLAY and WAYLAND_DISPLAY are unset). Run it from a desktop session, or under a virtual display: xvfb-run linkdesk")

// CheckDisplay reports whether a window can be opened. webview.New cannot
// report failure (with no display it returns a wrapper that crashes on first
// use), so this runs first.
func CheckDisplay() error {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" && runtime.GOOS != "netbsd" {
		return nil
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return ErrNoDisplay
	}
	return nil
}

// Window is the app's native window: a webview showing the app server's page.
//
// It binds no function into the page (see calls.go for why and for the page's
// route to Go); Go reaches the page with Push. View is the webview itself,
// for the native layer and for tests.
type Window struct {
	View   webview.WebView
	Server *Server
	log    *slog.Logger
	native native // nil when the OS layer could not be installed

	// closed is set (on the UI thread) before the web view is destroyed.
	// Work queued with Dispatch before that may still run later, when the
	// main loop runs again (another window): it must not touch the freed
	// view, so the queued function checks this first. Dispatch itself must
	// not reach the freed view either (webview_go's dispatch calls into
	// it): it holds closing's read lock while it queues, and Close takes the
	// write lock to set closed.
	closed  atomic.Bool
	closing sync.RWMutex
}

// Dispatch runs f on the UI thread, unless the window has been closed by
// then. Safe from any goroutine; use it instead of View.Dispatch.
func (w *Window) Dispatch(f func()) {
	w.closing.RLock()
	defer w.closing.RUnlock()
	if w.closed.Load() {
		return // e.g. a push from an environment closing after the window
	}
	w.View.Dispatch(func() {
		if !w.closed.Load() {
			f()
		}
	})
}

// Eval runs JavaScript in the page; UI thread only (inside Dispatch).
func (w *Window) Eval(js string) {
	if !w.closed.Load() {
		w.View.Eval(js)
	}
}

// WindowOptions configure Open.
type WindowOptions struct {
	Title  string
	Width  int
	Height int
	Debug  bool // developer tools, and page console messages on stdout
	Server *Server
	Logger *slog.Logger
	// Navigation is the pop-up and navigation policy (nil: none installed).
	Navigation *Navigation
}

// Open creates the window and navigates to the app page. It
// must be called from the main goroutine (webview_go locks it to the main OS
// thread), and Run must follow on the same goroutine.
func Open(o WindowOptions) (*Window, error) {
	if err := CheckDisplay(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 800
	}
	v := webview.New(o.Debug)
	if isNilView(v) {
		return nil, fmt.Errorf("the window could not be created on display %q: check that the display is reachable and that WebKitGTK is installed", os.Getenv("DISPLAY"))
	}
	v.SetTitle(o.Title)
	v.SetSize(o.Width, o.Height, webview.HintNone)
	w := &Window{View: v, Server: o.Server, log: o.Logger}
	if o.Navigation != nil {
		if o.Navigation.Log == nil {
			o.Navigation.Log = o.Logger
		}
		n, err := installNative(v, o.Navigation)
		if err != nil {
			o.Logger.Warn("pop-up windows are not available: banks that sign in through OAuth will not work in this window", "err", err)
		} else {
			w.native = n
		}
	}
	v.Navigate(o.Server.LaunchURL())
	return w, nil
}

// isNilView reports whether webview.New returned its broken wrapper (the
// native window could not be created). webview_go does not export the
// handle, so this looks at its one field.
func isNilView(v webview.WebView) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return true
	}
	e := rv.Elem()
	if e.Kind() != reflect.Struct || e.NumField() == 0 {
		return false
	}
	f := e.Field(0)
	switch f.Kind() {
	case reflect.Pointer, reflect.UnsafePointer:
		return f.IsNil()
	}
	return false
}

// Run shows the window until it is closed or Terminate is called.
func (w *Window) Run() { w.View.Run() }

// Terminate ends Run; safe from any goroutine.
func (w *Window) Terminate() { w.Dispatch(w.View.Terminate) }

// onUI runs f on the UI thread and waits for it.
func (w *Window) onUI(f func()) {
	done := make(chan struct{})
	w.closing.RLock()
	if w.closed.Load() {
		w.closing.RUnlock()
		return
	}
	w.View.Dispatch(func() {
		defer close(done)
		if !w.closed.Load() {
			f()
		}
	})
	w.closing.RUnlock()
	<-done
}

// ClosePopups closes every pop-up window (byPage: as the page would, after
// the OAuth redirect return; else as the user would). Safe from any goroutine
// other than the UI thread.
func (w *Window) ClosePopups(byPage bool) {
	if w.native != nil {
		w.Dispatch(func() {
			if w.native != nil {
				w.native.ClosePopups(byPage)
			}
		})
	}
}

// PopupCount reports how many pop-up windows are open. Not from the UI
// thread.
func (w *Window) PopupCount() (n int) {
	if w.native == nil {
		return 0
	}
	w.onUI(func() { n = w.native.PopupCount() })
	return n
}

// BrowserWaitCount reports how many placeholders wait for bank pages that
// went to the system browser (not counted by PopupCount). Not from the UI
// thread.
func (w *Window) BrowserWaitCount() (n int) {
	p, ok := w.native.(interface{ BrowserWaitCount() int })
	if !ok {
		return 0
	}
	w.onUI(func() { n = p.BrowserWaitCount() })
	return n
}

// CancelBrowserWait ends the wait for a bank in the system browser: its
// placeholder closes (as by the operator), and Link, seeing its window
// closed, goes back to its OAuth step. Safe from any goroutine.
func (w *Window) CancelBrowserWait() {
	if p, ok := w.native.(interface{ CancelBrowserWait() }); ok {
		w.Dispatch(p.CancelBrowserWait)
	}
}

// CopyText puts text on the clipboard, reporting whether the OS layer can.
// Safe from any goroutine.
func (w *Window) CopyText(text string) bool {
	p, ok := w.native.(interface{ CopyText(string) })
	if ok {
		w.Dispatch(func() { p.CopyText(text) })
	}
	return ok
}

// Present brings the window to the front (where the OS layer can). Safe
// from any goroutine.
func (w *Window) Present() {
	if p, ok := w.native.(interface{ Present() }); ok {
		w.Dispatch(p.Present)
	}
}

// PopupNote is what the first pop-up's info line says ("" when there is
// none, or the OS layer has none). Not from the UI thread.
func (w *Window) PopupNote() (note string) {
	p, ok := w.native.(interface{ PopupNote() string })
	if !ok {
		return ""
	}
	w.onUI(func() { note = p.PopupNote() })
	return note
}

// ClickOpenExternal presses the first pop-up's "Open in system browser", as
// the user would. Not from the UI thread.
func (w *Window) ClickOpenExternal() (ok bool) {
	if w.native == nil {
		return false
	}
	w.onUI(func() { ok = w.native.ClickOpenExternal() })
	return ok
}

// Push sends msg to the page: window.linkdesk.push(msg), evaluated with
// Dispatch + Eval. The script is built from msg's JSON encoding only. Safe
// from any goroutine; messages arrive in the order they were pushed.
func (w *Window) Push(msg any) {
	data, err := json.Marshal(msg)
	if err != nil {
		w.log.Error("cannot encode a message for the page", "err", err)
		return
	}
	js := "window.linkdesk && window.linkdesk.push(" + string(data) + ")"
	w.Dispatch(func() { w.Eval(js) })
}

// Close releases the window.
func (w *Window) Close() {
	w.closing.Lock()
	w.closed.Store(true)
	w.closing.Unlock()
	if w.native != nil {
		w.native.Shutdown()
		w.native = nil
	}
	w.View.Destroy()
}
