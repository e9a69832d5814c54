//go:build !linux && !freebsd && !openbsd && !netbsd && !darwin && !windows

package ui

import (
	"fmt"
	"runtime"

	webview "github.com/webview/webview_go"
)

// installNative reports that linkdesk has no pop-up or navigation layer for
// this operating system (it has one for Linux and the BSDs, macOS and
// Windows): window.open does nothing, so banks that sign in through OAuth
// cannot be linked in the window.
func installNative(v webview.WebView, nav *Navigation) (native, error) {
	return nil, fmt.Errorf("pop-up windows are not supported on %s: linkdesk supports them on Linux, the BSDs, macOS and Windows", runtime.GOOS)
}
