// native_darwin.m is the Objective-C half of native_darwin.go: it gives the
// WKWebView that webview_go makes (the NSWindow's contentView, webview.h
// set_up_window) native pop-up windows for window.open, and asks Go's
// Navigation about every navigation. Compiled by cgo with -fobjc-arc. Every
// function here runs on the main thread.

#import <Cocoa/Cocoa.h>
#import <WebKit/WebKit.h>
#include <stdint.h>

// Exported by native_darwin.go.
extern int linkdeskDecide(uintptr_t h, int popup, char *uri, int gesture);
extern void linkdeskPopupEvent(uintptr_t h, int kind, char *uri);

// The same numbers as native_darwin.go (and native_linux.go).
enum { EV_OPENED = 1, EV_CLOSED_BY_PAGE = 2, EV_CLOSED_BY_USER = 3, EV_OPEN_EXTERNAL = 4 };
enum { VERDICT_ALLOW = 0, VERDICT_BLOCK = 1, VERDICT_REDIRECTED = 2 };

static NSString *const ldNote =
	@"Your bank's sign-in page. If it refuses to work in this window, use “Open in system browser”: "
	@"sign in there, and linkdesk continues when the bank sends you back.";
static NSString *const ldNoteOpened =
	@"Opened in your browser. Finish signing in to the bank there; linkdesk continues when the bank sends you back.";

static void ld_event(uintptr_t h, int kind, NSString *url) {
	const char *s = url ? url.UTF8String : NULL;
	linkdeskPopupEvent(h, kind, (char *)(s ? s : ""));
}

// LDPopup is one pop-up window. The hook's popups array holds it (and so its
// window and web view) until the window closes.
@interface LDPopup : NSObject
@property(nonatomic, strong) NSWindow *window;
@property(nonatomic, strong) WKWebView *view;
@property(nonatomic, strong) NSTextField *note;
@property(nonatomic, strong) NSButton *openExternal;
@property(nonatomic) BOOL closedByPage; // window.close() or the redirect return, not the user
@property(nonatomic) BOOL redirected;
@property(nonatomic) BOOL closing;
@end

@implementation LDPopup
@end

// LDHook is the UI delegate and navigation delegate of the main view and of
// every pop-up view, and the window delegate of the pop-up windows.
//
// webview.h installs its own WKUIDelegate for one method, the file-open panel
// (webView:runOpenPanelWithParameters:...). LDHook implements that method
// itself rather than relying on forwarding: WKWebView holds its UIDelegate
// weakly, and this webview.h version hands it an autoreleased delegate that
// nothing else retains, so by the time installNative runs it is usually gone
// (webview/webview#1113; fixed upstream by #1114, which the webview.h vendored
// by webview_go predates: it still calls objc::autoreleased on it). Any
// other selector the previous UI delegate (or a previous navigation delegate;
// this webview.h sets none) answers is forwarded to it, and LDHook keeps it
// alive, so a newer webview.h keeps working too.
@interface LDHook : NSObject <WKUIDelegate, WKNavigationDelegate, NSWindowDelegate>
@property(nonatomic) uintptr_t handle; // cgo.Handle of the Go *darwinNative
@property(nonatomic, weak) NSWindow *mainWindow;
@property(nonatomic, weak) WKWebView *mainView;
@property(nonatomic, strong) id previousUIDelegate;
@property(nonatomic, strong) id previousNavigationDelegate;
@property(nonatomic, strong) NSMutableArray<LDPopup *> *popups;
@end

static LDHook *ldHook; // strong: delegates are held weakly by WebKit and AppKit

@implementation LDHook

// --- forwarding to the delegates that were there before -------------------

- (id)previousDelegateFor:(SEL)sel {
	if ([self.previousUIDelegate respondsToSelector:sel]) return self.previousUIDelegate;
	// The variant with preferences would take precedence over ours.
	if (sel != @selector(webView:decidePolicyForNavigationAction:preferences:decisionHandler:) &&
	    [self.previousNavigationDelegate respondsToSelector:sel])
		return self.previousNavigationDelegate;
	return nil;
}

- (BOOL)respondsToSelector:(SEL)sel {
	return [super respondsToSelector:sel] || [self previousDelegateFor:sel] != nil;
}

- (id)forwardingTargetForSelector:(SEL)sel {
	id t = [self previousDelegateFor:sel];
	return t ? t : [super forwardingTargetForSelector:sel];
}

// --- pop-ups ---------------------------------------------------------------

- (LDPopup *)popupForView:(WKWebView *)v {
	for (LDPopup *p in self.popups)
		if (p.view == v) return p;
	return nil;
}

- (LDPopup *)popupForWindow:(NSWindow *)w {
	for (LDPopup *p in self.popups)
		if (p.window == w) return p;
	return nil;
}

// closeLater closes a pop-up once the current WebKit callback has returned,
// never inside it.
- (void)closeLater:(LDPopup *)p {
	if (p.closing) return;
	p.closing = YES;
	dispatch_async(dispatch_get_main_queue(), ^{
		[p.window close];
	});
}

// window.open (also from cross-origin iframes such as Plaid Link's): a new
// web view made with WebKit's configuration, which relates it to the opener
// so that window.opener and postMessage work, in a window of its own.
- (WKWebView *)webView:(WKWebView *)webView
    createWebViewWithConfiguration:(WKWebViewConfiguration *)configuration
               forNavigationAction:(WKNavigationAction *)navigationAction
                    windowFeatures:(WKWindowFeatures *)windowFeatures {
	const CGFloat W = 560, H = 700, bar = 64, pad = 10;
	LDPopup *p = [LDPopup new];

	p.window = [[NSWindow alloc] initWithContentRect:NSMakeRect(0, 0, W, H)
	                                       styleMask:(NSWindowStyleMaskTitled | NSWindowStyleMaskClosable |
	                                                  NSWindowStyleMaskMiniaturizable | NSWindowStyleMaskResizable)
	                                         backing:NSBackingStoreBuffered
	                                           defer:NO];
	p.window.releasedWhenClosed = NO; // ARC owns it (through p)
	p.window.title = @"Bank sign-in";
	p.window.minSize = NSMakeSize(360, 300);
	p.window.delegate = self;

	NSView *content = [[NSView alloc] initWithFrame:NSMakeRect(0, 0, W, H)];

	p.openExternal = [NSButton buttonWithTitle:@"Open in system browser" target:self action:@selector(openExternal:)];
	p.openExternal.identifier = @"linkdesk-open-external";
	[p.openExternal sizeToFit];
	NSSize bs = p.openExternal.frame.size;
	p.openExternal.frame = NSMakeRect(W - pad - bs.width, H - bar + (bar - bs.height) / 2, bs.width, bs.height);
	p.openExternal.autoresizingMask = NSViewMinXMargin | NSViewMinYMargin;

	p.note = [NSTextField wrappingLabelWithString:ldNote];
	p.note.font = [NSFont systemFontOfSize:[NSFont smallSystemFontSize]];
	p.note.frame = NSMakeRect(pad, H - bar + 4, W - 3 * pad - bs.width, bar - 8);
	p.note.autoresizingMask = NSViewWidthSizable | NSViewMinYMargin;

	p.view = [[WKWebView alloc] initWithFrame:NSMakeRect(0, 0, W, H - bar) configuration:configuration];
	p.view.autoresizingMask = NSViewWidthSizable | NSViewHeightSizable;
	p.view.UIDelegate = self;
	p.view.navigationDelegate = self;

	[content addSubview:p.note];
	[content addSubview:p.openExternal];
	[content addSubview:p.view];
	p.window.contentView = content;

	NSWindow *main = self.mainWindow;
	if (main) {
		[p.window setFrameTopLeftPoint:NSMakePoint(NSMinX(main.frame) + 40, NSMaxY(main.frame) - 40)];
	} else {
		[p.window center];
	}
	[self.popups addObject:p];
	[p.window makeKeyAndOrderFront:nil];
	ld_event(self.handle, EV_OPENED, navigationAction.request.URL.absoluteString);
	return p.view;
}

// window.close() in a pop-up. (In the main view it is ignored.)
- (void)webViewDidClose:(WKWebView *)webView {
	LDPopup *p = [self popupForView:webView];
	if (!p) return;
	p.closedByPage = YES;
	[self closeLater:p];
}

- (void)windowWillClose:(NSNotification *)notification {
	LDPopup *p = [self popupForWindow:notification.object];
	if (!p) return;
	p.closing = YES;
	[self.popups removeObject:p];
	NSString *url = p.view.URL.absoluteString;
	p.view.UIDelegate = nil;
	p.view.navigationDelegate = nil;
	p.window.delegate = nil;
	[p.view stopLoading];
	ld_event(self.handle, p.closedByPage ? EV_CLOSED_BY_PAGE : EV_CLOSED_BY_USER, url);
	// Keep p (window and view) alive until AppKit has finished closing.
	dispatch_async(dispatch_get_main_queue(), ^{
		[p.view removeFromSuperview];
	});
}

- (void)openExternal:(id)sender {
	for (LDPopup *p in self.popups) {
		if (p.openExternal == sender) {
			p.note.stringValue = ldNoteOpened;
			ld_event(self.handle, EV_OPEN_EXTERNAL, p.view.URL.absoluteString);
			return;
		}
	}
}

// The pop-up's title is the page's, and (macOS 11+) its subtitle the host the
// user is signing in to.
- (void)updateTitle:(WKWebView *)webView {
	LDPopup *p = [self popupForView:webView];
	if (!p) return;
	NSString *t = webView.title;
	p.window.title = t.length ? t : @"Bank sign-in";
	if (@available(macOS 11.0, *)) {
		NSString *host = webView.URL.host;
		p.window.subtitle = host ? host : @"";
	}
}

- (void)webView:(WKWebView *)webView didCommitNavigation:(WKNavigation *)navigation {
	[self updateTitle:webView];
}

- (void)webView:(WKWebView *)webView didFinishNavigation:(WKNavigation *)navigation {
	[self updateTitle:webView];
}

// --- navigation policy -----------------------------------------------------

- (void)webView:(WKWebView *)webView
    decidePolicyForNavigationAction:(WKNavigationAction *)navigationAction
                    decisionHandler:(void (^)(WKNavigationActionPolicy))decisionHandler {
	if (navigationAction.targetFrame == nil) {
		// A new-window request (target=_blank): allowing it leads to
		// createWebViewWithConfiguration above, and the new view's own
		// navigations are decided as a pop-up's. Linux likewise leaves
		// NEW_WINDOW_ACTION decisions to WebKit.
		decisionHandler(WKNavigationActionPolicyAllow);
		return;
	}
	LDPopup *p = [self popupForView:webView];
	NSString *url = navigationAction.request.URL.absoluteString;
	const char *u = url ? url.UTF8String : NULL;
	int gesture = navigationAction.navigationType == WKNavigationTypeLinkActivated;
	int verdict = linkdeskDecide(self.handle, p != nil, (char *)(u ? u : ""), gesture);
	if (verdict == VERDICT_ALLOW) {
		decisionHandler(WKNavigationActionPolicyAllow);
		return;
	}
	decisionHandler(WKNavigationActionPolicyCancel);
	if (verdict == VERDICT_REDIRECTED && p && !p.redirected) {
		// The bank sent the pop-up back to the redirect URI: Go resumes Link
		// in the main view, and the pop-up has done its job.
		p.redirected = YES;
		p.closedByPage = YES;
		[self closeLater:p];
	}
}

// --- file inputs (see the comment on LDHook) -------------------------------

- (void)webView:(WKWebView *)webView
    runOpenPanelWithParameters:(WKOpenPanelParameters *)parameters
              initiatedByFrame:(WKFrameInfo *)frame
             completionHandler:(void (^)(NSArray<NSURL *> *URLs))completionHandler {
	NSOpenPanel *panel = [NSOpenPanel openPanel];
	panel.canChooseFiles = YES;
	panel.canChooseDirectories = parameters.allowsDirectories;
	panel.allowsMultipleSelection = parameters.allowsMultipleSelection;
	completionHandler([panel runModal] == NSModalResponseOK ? panel.URLs : nil);
}

@end

// ld_install hooks the main view, the contentView of webview_go's NSWindow.
// It returns 0 when there is no WKWebView there.
int ld_install(void *window, uintptr_t h) {
	id obj = (__bridge id)window;
	if (![obj isKindOfClass:[NSWindow class]]) return 0;
	NSWindow *w = obj;
	if (![w.contentView isKindOfClass:[WKWebView class]]) return 0;
	WKWebView *v = (WKWebView *)w.contentView;

	LDHook *hook = [LDHook new];
	hook.handle = h;
	hook.mainWindow = w;
	hook.mainView = v;
	hook.popups = [NSMutableArray array];
	hook.previousUIDelegate = v.UIDelegate;
	hook.previousNavigationDelegate = v.navigationDelegate;
	// The preferences object is shared with the live view (configuration
	// returns a copy that refers to the same WKPreferences).
	v.configuration.preferences.javaScriptCanOpenWindowsAutomatically = YES;
	v.UIDelegate = hook;
	v.navigationDelegate = hook;
	ldHook = hook;
	return 1;
}

// ld_close_popups closes every pop-up, as the user would, or (by_page) as
// after the redirect return.
void ld_close_popups(int by_page) {
	for (LDPopup *p in [ldHook.popups copy]) {
		if (by_page) p.closedByPage = YES;
		[p.window close]; // windowWillClose: reports it
	}
}

// ld_shutdown closes every pop-up at once (reported as closed by the page,
// as on Linux), unhooks the main view and drops the hook: the window is
// closing. No Go callback follows it.
void ld_shutdown(void) {
	LDHook *hook = ldHook;
	if (!hook) return;
	for (LDPopup *p in [hook.popups copy]) {
		p.closedByPage = YES;
		[p.window close];
	}
	WKWebView *v = hook.mainView;
	if (v) {
		v.UIDelegate = hook.previousUIDelegate;
		v.navigationDelegate = hook.previousNavigationDelegate;
	}
	ldHook = nil;
}

int ld_popup_count(void) { return (int)ldHook.popups.count; }

// ld_click_external presses the first pop-up's "Open in system browser".
int ld_click_external(void) {
	LDPopup *p = ldHook.popups.firstObject;
	if (!p) return 0;
	[p.openExternal performClick:nil];
	return 1;
}
