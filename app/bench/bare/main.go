// Command bare is the benchmark's reference window: a bare webview_go window
// (the same size as linkdesk's) showing a trivial page, and nothing else. The
// benchmark (package linkdesk/app/bench) builds it with the same flags as
// linkdesk and compares linkdesk's start-up time and memory against it.
//
// When the page's load event fires, it writes the line "page interactive" to
// stderr — the same words linkdesk logs when its page is ready — so
// both are timed the same way from outside. SIGTERM or SIGINT closes it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	webview "github.com/webview/webview_go"
)

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>bare</title></head>
<body><h1>bare webview_go window</h1><p>The benchmark's reference page.</p>
<script>addEventListener("load", () => benchReady());</script>
</body></html>`

func main() {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		fmt.Fprintln(os.Stderr, "bare: no display (DISPLAY and WAYLAND_DISPLAY are unset); run it under Xvfb, e.g. build/scripts/with-desktop.sh")
		os.Exit(1)
	}
	w := webview.New(false)
	defer w.Destroy()
	w.SetTitle("bare")
	w.SetSize(1280, 800, webview.HintNone)
	var once sync.Once
	if err := w.Bind("benchReady", func() {
		once.Do(func() { fmt.Fprintln(os.Stderr, "page interactive") })
	}); err != nil {
		fmt.Fprintln(os.Stderr, "bare: binding benchReady:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		w.Dispatch(w.Terminate)
	}()
	w.SetHtml(page)
	w.Run()
}
