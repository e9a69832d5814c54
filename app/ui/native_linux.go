//go:build linux || freebsd || openbsd || netbsd

package ui

/*
#cgo pkg-config: gtk+-3.0 webkit2gtk-4.0
#include <stdint.h>
#include <stdlib.h>
#include <gtk/gtk.h>
#include <webkit2/webkit2.h>

extern int linkdeskDecide(uintptr_t h, int popup, char *uri, int gesture);
extern void linkdeskPopupEvent(uintptr_t h, int kind, char *uri);
extern char *linkdeskOpenExternal(uintptr_t h, char *uri);
extern int linkdeskRoute(uintptr_t h, char *uri, int first, char **note);

// One per view: the main view, and each pop-up.
typedef struct {
	uintptr_t h;          // cgo.Handle of the Go *linuxNative
	int popup;
	GtkWidget *win;       // the pop-up's window (NULL for the main view)
	GtkWidget *mainwin;   // the app's main window
	WebKitWebView *view;
	GtkWidget *note;      // the pop-up's info line
	gboolean closed_by_page;
	gboolean redirected;
	// routed: the pop-up's route was decided (at its first web address);
	// placeholder: its bank page went to the system browser, and the view
	// stays, never shown and loading nothing, so that Link's window.open
	// has a window and Link waits in its OAuth step (see ld_placeholder).
	gboolean routed;
	gboolean placeholder;
} ld_view;

static GList *ld_popups = NULL; // open pop-ups (ld_view*)

enum { EV_OPENED = 1, EV_CLOSED_BY_PAGE = 2, EV_CLOSED_BY_USER = 3, EV_OPEN_EXTERNAL = 4,
	EV_WAIT_ENDED = 5, EV_WAIT_CANCELLED = 6 };

static gboolean ld_is_web(const char *uri) {
	return uri && (g_str_has_prefix(uri, "https://") || g_str_has_prefix(uri, "http://"));
}

// ld_placeholder retires a pop-up whose bank page went to the system
// browser: hidden, its page replaced by about:blank (the bank's page must
// not live on in two places: one OAuth state, one place), every later
// navigation refused. The view itself stays until the bank's return, the
// operator's cancel or Link closing it: Link's window.open has its window,
// so Link waits in its OAuth step instead of reporting a blocked pop-up.
static void ld_placeholder(ld_view *c) {
	c->placeholder = TRUE;
	gtk_widget_hide(c->win);
	webkit_web_view_stop_loading(c->view);
	webkit_web_view_load_uri(c->view, "about:blank");
}

// ld_route asks Go whether the pop-up's web address opens in the system
// browser (the per-institution OAuth route); when the browser could not be
// started, the page stays and the note says why.
static int ld_route(ld_view *c, const char *uri, int first) {
	char *note = NULL;
	int r = linkdeskRoute(c->h, (char *)uri, first, &note);
	if (note) {
		gtk_label_set_text(GTK_LABEL(c->note), note);
		free(note);
	}
	return r;
}

static gboolean ld_destroy_later(gpointer w) {
	// The window may have been destroyed meanwhile (closed by the user, or
	// the app shutting down): destroy it only if it is still a toplevel.
	GList *tops = gtk_window_list_toplevels();
	if (g_list_find(tops, w)) gtk_widget_destroy(GTK_WIDGET(w));
	g_list_free(tops);
	g_object_unref(w);
	return G_SOURCE_REMOVE;
}

static void ld_close_popup(ld_view *c) {
	// Never destroy a view inside its own signal emission: do it when idle.
	g_idle_add(ld_destroy_later, g_object_ref(c->win));
}

static gboolean ld_decide(WebKitWebView *v, WebKitPolicyDecision *d, WebKitPolicyDecisionType type, gpointer data) {
	ld_view *c = data;
	if (type != WEBKIT_POLICY_DECISION_TYPE_NAVIGATION_ACTION) return FALSE;
	WebKitNavigationAction *a = webkit_navigation_policy_decision_get_navigation_action(WEBKIT_NAVIGATION_POLICY_DECISION(d));
	const char *uri = webkit_uri_request_get_uri(webkit_navigation_action_get_request(a));
	if (c->placeholder) {
		// A placeholder shows about:blank and nothing else.
		if (g_strcmp0(uri, "about:blank") == 0) return FALSE;
		webkit_policy_decision_ignore(d);
		return TRUE;
	}
	int verdict = linkdeskDecide(c->h, c->popup, (char *)(uri ? uri : ""), webkit_navigation_action_is_user_gesture(a));
	if (verdict == 0 && c->popup && ld_is_web(uri)) {
		// The route of a pop-up opened without an address is decided at
		// its first web address; a page heading for a bank that signs in
		// in the system browser goes there before it loads.
		int first = !c->routed;
		c->routed = TRUE;
		if (ld_route(c, uri, first)) {
			webkit_policy_decision_ignore(d);
			ld_placeholder(c);
			return TRUE;
		}
	}
	if (verdict == 0) return FALSE;
	webkit_policy_decision_ignore(d);
	if (verdict == 2 && c->popup && !c->redirected) {
		c->redirected = TRUE;
		c->closed_by_page = TRUE;
		ld_close_popup(c);
	}
	return TRUE;
}

static void ld_ready(WebKitWebView *v, gpointer data) {
	ld_view *c = data;
	if (c->placeholder) return;
	gtk_widget_show_all(c->win);
	gtk_window_present(GTK_WINDOW(c->win));
	linkdeskPopupEvent(c->h, EV_OPENED, (char *)(webkit_web_view_get_uri(v) ? webkit_web_view_get_uri(v) : ""));
}

static void ld_page_close(WebKitWebView *v, gpointer data) {
	ld_view *c = data;
	c->closed_by_page = TRUE;
	ld_close_popup(c);
}

static void ld_destroyed(GtkWidget *w, gpointer data) {
	ld_view *c = data;
	ld_popups = g_list_remove(ld_popups, c);
	const char *uri = c->view ? webkit_web_view_get_uri(c->view) : NULL;
	int kind = c->closed_by_page ? EV_CLOSED_BY_PAGE : EV_CLOSED_BY_USER;
	if (c->placeholder) kind = c->closed_by_page ? EV_WAIT_ENDED : EV_WAIT_CANCELLED;
	linkdeskPopupEvent(c->h, kind, (char *)(uri ? uri : ""));
	g_free(c);
}

// ld_external hands the bank's page to the system browser. When the browser
// started, the embedded pop-up is retired (ld_placeholder: the bank's page
// now lives in the browser, and one OAuth state must not be worked in two
// places; Link waits in its OAuth step); when it did not, the pop-up stays
// and says why, and Copy link remains.
static void ld_external(GtkButton *b, gpointer data) {
	ld_view *c = data;
	const char *uri = webkit_web_view_get_uri(c->view);
	char *err = linkdeskOpenExternal(c->h, (char *)(uri ? uri : ""));
	if (!err) {
		ld_placeholder(c);
		return;
	}
	gtk_label_set_text(GTK_LABEL(c->note), err);
	free(err);
}

// ld_copy puts the bank page's address on the clipboard, for a browser the
// operator opens by hand.
static void ld_copy(GtkButton *b, gpointer data) {
	ld_view *c = data;
	const char *uri = webkit_web_view_get_uri(c->view);
	if (!uri) return;
	gtk_clipboard_set_text(gtk_clipboard_get(GDK_SELECTION_CLIPBOARD), uri, -1);
	gtk_label_set_text(GTK_LABEL(c->note),
		"The bank page's address is on the clipboard: paste it into a browser and sign in there; linkdesk continues when the bank sends you back.");
}

static void ld_title(WebKitWebView *v, GParamSpec *p, gpointer data) {
	ld_view *c = data;
	const char *t = webkit_web_view_get_title(v);
	const char *u = webkit_web_view_get_uri(v);
	GtkWidget *hb = gtk_window_get_titlebar(GTK_WINDOW(c->win));
	if (hb) {
		gtk_header_bar_set_title(GTK_HEADER_BAR(hb), t && *t ? t : "Bank sign-in");
		gtk_header_bar_set_subtitle(GTK_HEADER_BAR(hb), u ? u : "");
	}
}

static GtkWidget *ld_create(WebKitWebView *v, WebKitNavigationAction *a, gpointer data);

static void ld_watch(ld_view *c) {
	g_signal_connect(c->view, "decide-policy", G_CALLBACK(ld_decide), c);
	g_signal_connect(c->view, "create", G_CALLBACK(ld_create), c);
}

// ld_create answers window.open (also from cross-origin iframes such as
// Plaid Link's): a new view related to the opener, so window.opener and
// postMessage work, in a native window of its own.
//
// Before the view is made, the per-institution OAuth route is decided for
// the address window.open asked for (ld_route): a bank that signs in in the
// system browser gets its page there, and the view made is a placeholder
// that never shows or loads it (ld_placeholder). A pop-up opened without an
// address is routed at its first web address (ld_decide).
//
// The pop-up's user agent carries linkdesk's name (WebKit's application
// details, as Android's webview adds "wv"): a bank can tell it is an
// embedded view, as Plaid's in-process webview notice expects banks to.
static GtkWidget *ld_create(WebKitWebView *v, WebKitNavigationAction *a, gpointer data) {
	ld_view *parent = data;
	const char *want = webkit_uri_request_get_uri(webkit_navigation_action_get_request(a));
	ld_view *c = g_new0(ld_view, 1);
	c->h = parent->h;
	c->popup = 1;
	c->mainwin = parent->mainwin;
	c->view = WEBKIT_WEB_VIEW(webkit_web_view_new_with_related_view(v));
	WebKitSettings *s = webkit_settings_new();
	webkit_settings_set_javascript_can_open_windows_automatically(s, TRUE);
	webkit_settings_set_user_agent_with_application_details(s, "linkdesk", NULL);
	webkit_web_view_set_settings(c->view, s);
	g_object_unref(s);

	c->win = gtk_window_new(GTK_WINDOW_TOPLEVEL);
	gtk_window_set_transient_for(GTK_WINDOW(c->win), GTK_WINDOW(c->mainwin));
	gtk_window_set_default_size(GTK_WINDOW(c->win), 560, 700);
	GtkWidget *hb = gtk_header_bar_new();
	gtk_header_bar_set_show_close_button(GTK_HEADER_BAR(hb), TRUE);
	gtk_header_bar_set_title(GTK_HEADER_BAR(hb), "Bank sign-in");
	GtkWidget *ext = gtk_button_new_with_label("Open in system browser");
	gtk_widget_set_name(ext, "linkdesk-open-external");
	gtk_header_bar_pack_end(GTK_HEADER_BAR(hb), ext);
	GtkWidget *copy = gtk_button_new_with_label("Copy link");
	gtk_widget_set_name(copy, "linkdesk-copy-link");
	gtk_header_bar_pack_end(GTK_HEADER_BAR(hb), copy);
	gtk_window_set_titlebar(GTK_WINDOW(c->win), hb);

	GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
	c->note = gtk_label_new("Your bank's sign-in page. If it refuses to work in this window, use “Open in system browser”: "
		"sign in there, and linkdesk continues when the bank sends you back.");
	gtk_label_set_line_wrap(GTK_LABEL(c->note), TRUE);
	gtk_label_set_xalign(GTK_LABEL(c->note), 0);
	gtk_widget_set_margin_start(c->note, 10);
	gtk_widget_set_margin_end(c->note, 10);
	gtk_widget_set_margin_top(c->note, 6);
	gtk_widget_set_margin_bottom(c->note, 6);
	gtk_box_pack_start(GTK_BOX(box), c->note, FALSE, FALSE, 0);
	gtk_box_pack_start(GTK_BOX(box), GTK_WIDGET(c->view), TRUE, TRUE, 0);
	gtk_container_add(GTK_CONTAINER(c->win), box);

	g_signal_connect(c->view, "ready-to-show", G_CALLBACK(ld_ready), c);
	g_signal_connect(c->view, "close", G_CALLBACK(ld_page_close), c);
	g_signal_connect(c->view, "notify::title", G_CALLBACK(ld_title), c);
	g_signal_connect(c->view, "notify::uri", G_CALLBACK(ld_title), c);
	g_signal_connect(c->win, "destroy", G_CALLBACK(ld_destroyed), c);
	g_signal_connect(ext, "clicked", G_CALLBACK(ld_external), c);
	g_signal_connect(copy, "clicked", G_CALLBACK(ld_copy), c);
	ld_watch(c);
	ld_popups = g_list_append(ld_popups, c);
	if (ld_is_web(want)) {
		c->routed = TRUE;
		if (ld_route(c, want, 1)) c->placeholder = TRUE;
	}
	return GTK_WIDGET(c->view);
}

// ld_install hooks the main view (the child of the main GtkWindow).
static int ld_install(void *mainwin, uintptr_t h) {
	GtkWidget *child = gtk_bin_get_child(GTK_BIN(mainwin));
	if (!child || !WEBKIT_IS_WEB_VIEW(child)) return 0;
	ld_view *c = g_new0(ld_view, 1);
	c->h = h;
	c->mainwin = GTK_WIDGET(mainwin);
	c->view = WEBKIT_WEB_VIEW(child);
	WebKitSettings *s = webkit_web_view_get_settings(c->view);
	webkit_settings_set_javascript_can_open_windows_automatically(s, TRUE);
	// No disk cache: Plaid Link's iframe URL carries the link token, and
	// WebKit's disk cache would keep it in a file for the token's four-hour
	// life. The document-viewer model gives the cache no disk capacity;
	// what earlier runs left there is cleared.
	WebKitWebContext *ctx = webkit_web_view_get_context(c->view);
	webkit_web_context_set_cache_model(ctx, WEBKIT_CACHE_MODEL_DOCUMENT_VIEWER);
	WebKitWebsiteDataManager *dm = webkit_web_view_get_website_data_manager(c->view);
	if (dm) webkit_website_data_manager_clear(dm, WEBKIT_WEBSITE_DATA_DISK_CACHE, 0, NULL, NULL, NULL);
	ld_watch(c);
	return 1;
}

// ld_close_popups closes every pop-up as if by the user (tests), or after a
// redirect return.
static void ld_close_popups(int by_page) {
	for (GList *l = ld_popups; l; l = l->next) {
		ld_view *c = l->data;
		if (by_page) c->closed_by_page = TRUE;
		// A placeholder's window was never shown: there is nothing for
		// a close request to reach, so it is destroyed.
		if (c->placeholder) ld_close_popup(c);
		else gtk_window_close(GTK_WINDOW(c->win));
	}
}

// ld_popup_count counts the pop-ups shown (not placeholders) or, with
// placeholders set, the placeholders.
static int ld_popup_count(int placeholders) {
	int n = 0;
	for (GList *l = ld_popups; l; l = l->next) {
		ld_view *c = l->data;
		if ((c->placeholder != 0) == (placeholders != 0)) n++;
	}
	return n;
}

// ld_close_placeholders ends every wait for a bank in the system browser (the
// operator cancelled it): Link sees its window close and goes back to its
// OAuth step.
static void ld_close_placeholders(void) {
	for (GList *l = ld_popups; l; l = l->next) {
		ld_view *c = l->data;
		if (c->placeholder) ld_close_popup(c);
	}
}

// ld_copy_text puts text on the clipboard.
static void ld_copy_text(const char *text) {
	gtk_clipboard_set_text(gtk_clipboard_get(GDK_SELECTION_CLIPBOARD), text, -1);
}

// ld_popup_note returns the first shown pop-up's info line (tests), or "".
static const char *ld_popup_note(void) {
	for (GList *l = ld_popups; l; l = l->next) {
		ld_view *c = l->data;
		if (!c->placeholder) return gtk_label_get_text(GTK_LABEL(c->note));
	}
	return "";
}

// ld_present brings the main window to the front (the bank sent the
// customer back).
static void ld_present(void *mainwin) { gtk_window_present(GTK_WINDOW(mainwin)); }

// ld_destroy_popups destroys every pop-up at once (the app is closing; the
// main loop may no longer run).
static void ld_destroy_popups(void) {
	while (ld_popups) {
		ld_view *c = ld_popups->data;
		c->closed_by_page = TRUE;
		gtk_widget_destroy(c->win); // ld_destroyed removes it from the list
	}
}

// ld_click_external presses the first shown pop-up's "Open in system
// browser".
static int ld_click_external(void) {
	ld_view *c = NULL;
	for (GList *l = ld_popups; l && !c; l = l->next)
		if (!((ld_view *)l->data)->placeholder) c = l->data;
	if (!c) return 0;
	GtkWidget *hb = gtk_window_get_titlebar(GTK_WINDOW(c->win));
	GList *kids = gtk_container_get_children(GTK_CONTAINER(hb));
	int done = 0;
	for (GList *l = kids; l; l = l->next) {
		if (GTK_IS_BUTTON(l->data) && g_strcmp0(gtk_widget_get_name(GTK_WIDGET(l->data)), "linkdesk-open-external") == 0) {
			gtk_button_clicked(GTK_BUTTON(l->data));
			done = 1;
			break;
		}
	}
	g_list_free(kids);
	return done;
}
*/
import "C"

import (
	"errors"
	"log/slog"
	"runtime/cgo"
	"unsafe"

	webview "github.com/webview/webview_go"
)

type linuxNative struct {
	nav     *Navigation
	handle  cgo.Handle
	mainwin unsafe.Pointer
}

// installNative hooks the main view's pop-ups and navigations: WebKitGTK's
// "create" signal (window.open, also from cross-origin iframes) makes a
// native pop-up related to the opener, and "decide-policy" applies nav's
// policy. Call on the UI thread.
func installNative(v webview.WebView, nav *Navigation) (native, error) {
	n := &linuxNative{nav: nav, mainwin: v.Window()}
	n.handle = cgo.NewHandle(n)
	if C.ld_install(v.Window(), C.uintptr_t(n.handle)) == 0 {
		n.handle.Delete()
		return nil, errors.New("the window has no WebKit web view to hook pop-ups into")
	}
	return n, nil
}

func (n *linuxNative) ClosePopups(byPage bool) {
	b := C.int(0)
	if byPage {
		b = 1
	}
	C.ld_close_popups(b)
}

func (n *linuxNative) Shutdown() {
	C.ld_destroy_popups()
	n.handle.Delete()
}

func (n *linuxNative) PopupCount() int { return int(C.ld_popup_count(0)) }

// BrowserWaitCount counts the placeholders of bank pages that went to the
// system browser.
func (n *linuxNative) BrowserWaitCount() int { return int(C.ld_popup_count(1)) }

// CancelBrowserWait closes the placeholders, as the operator cancelling the
// wait for the bank in the system browser.
func (n *linuxNative) CancelBrowserWait() { C.ld_close_placeholders() }

// CopyText puts text on the clipboard.
func (n *linuxNative) CopyText(text string) {
	cs := C.CString(text)
	defer C.free(unsafe.Pointer(cs))
	C.ld_copy_text(cs)
}

func (n *linuxNative) ClickOpenExternal() bool { return C.ld_click_external() == 1 }

// PopupNote is the first pop-up's info line (tests read what it tells the
// operator).
func (n *linuxNative) PopupNote() string { return C.GoString(C.ld_popup_note()) }

// Present brings the main window to the front.
func (n *linuxNative) Present() { C.ld_present(n.mainwin) }

//export linkdeskOpenExternal
func linkdeskOpenExternal(h C.uintptr_t, uri *C.char) (msg *C.char) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("opening the system browser panicked", "panic", r)
			msg = C.CString("linkdesk could not open your browser (an internal error; it is in the log). Use Copy link and open the address in a browser yourself.")
		}
	}()
	n := cgo.Handle(h).Value().(*linuxNative)
	if err := n.nav.Popup(PopupEvent{Kind: "open_external", URL: C.GoString(uri)}); err != nil {
		return C.CString("Your browser could not be opened (" + err.Error() + "). Use Copy link and open the address in a browser yourself; linkdesk continues when the bank sends you back.")
	}
	return nil
}

//export linkdeskRoute
func linkdeskRoute(h C.uintptr_t, uri *C.char, first C.int, note **C.char) (browser C.int) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("the OAuth route panicked; the bank's page stays in linkdesk's window", "panic", r)
			browser = 0
		}
	}()
	n := cgo.Handle(h).Value().(*linuxNative)
	ok, msg := n.nav.RoutePopup(C.GoString(uri), first != 0)
	if msg != "" {
		*note = C.CString(msg)
	}
	if ok {
		return 1
	}
	return 0
}

//export linkdeskDecide
func linkdeskDecide(h C.uintptr_t, popup C.int, uri *C.char, gesture C.int) (verdict C.int) {
	// A panic must not cross into C: it would kill the app. Block instead.
	defer func() {
		if r := recover(); r != nil {
			slog.Error("navigation policy panicked; blocking the navigation", "panic", r)
			verdict = C.int(Block)
		}
	}()
	n := cgo.Handle(h).Value().(*linuxNative)
	return C.int(n.nav.Decide(popup != 0, C.GoString(uri), gesture != 0))
}

//export linkdeskPopupEvent
func linkdeskPopupEvent(h C.uintptr_t, kind C.int, uri *C.char) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("pop-up event handler panicked", "panic", r)
		}
	}()
	n := cgo.Handle(h).Value().(*linuxNative)
	kinds := map[C.int]string{1: "opened", 2: "closed_by_page", 3: "closed_by_user", 4: "open_external",
		5: "browser_wait_ended", 6: "browser_wait_cancelled"}
	n.nav.Popup(PopupEvent{Kind: kinds[kind], URL: C.GoString(uri)})
}
