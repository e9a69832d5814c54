package ui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"linkdesk/app/desk"
)

// Evaluator is the part of a webview the bridge needs: Dispatch runs f on the
// UI thread; Eval runs JavaScript in the page (UI thread only).
type Evaluator interface {
	Dispatch(f func())
	Eval(js string)
}

// BindingName is the one function the bridge binds into the page.
const BindingName = "linkdesk_rpc"

// Bridge connects the page to Go without ever blocking the window.
//
// JS → Go: the page calls linkdesk_rpc(secret, id, method, params). The bound
// function runs on the UI thread, so it only checks the call and returns at
// once; the method runs in its own goroutine, with a timeout and a recover.
// Go → JS: the result is delivered with Dispatch + Eval of
// window.linkdesk.deliver({id, ok, value, error}); Push sends events with
// window.linkdesk.push(message).
//
// Every page the view shows gets the binding, foreign pages too, so a call
// without the per-launch secret (which only the app's own page holds) is
// refused and logged.
type Bridge struct {
	view    Evaluator
	secret  string
	methods map[string]desk.Method
	log     *slog.Logger
	timeout time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewBridge returns a bridge that serves methods to pages holding secret.
func NewBridge(view Evaluator, secret string, methods map[string]desk.Method, log *slog.Logger) *Bridge {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Bridge{view: view, secret: secret, methods: methods, log: log, timeout: 60 * time.Second, ctx: ctx, cancel: cancel}
}

// Close cancels running calls and waits for them.
func (b *Bridge) Close() {
	b.cancel()
	b.wg.Wait()
}

var callIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Call is the bound function. It returns at once: nil when the call was
// accepted (its result follows through deliver), an error (which rejects the
// page's promise) when it was refused.
func (b *Bridge) Call(secret, id, method string, params json.RawMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("bridge: panic while accepting a call", "method", method, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("linkdesk hit an internal error accepting %q; the error is in the log", method)
		}
	}()
	if subtle.ConstantTimeCompare([]byte(secret), []byte(b.secret)) != 1 {
		b.log.Warn("bridge: refused a call without the session secret (a page other than linkdesk's own tried to use the binding)", "method", truncate(method, 64))
		return fmt.Errorf("refused: this page is not linkdesk's")
	}
	if !callIDRE.MatchString(id) {
		return fmt.Errorf("call id %q is not valid: use 1 to 64 letters, digits, _ or -", truncate(id, 40))
	}
	m, ok := b.methods[method]
	if !ok {
		return fmt.Errorf("unknown call %q", truncate(method, 64))
	}
	b.wg.Add(1)
	go b.run(id, method, m, params)
	return nil
}

func (b *Bridge) run(id, method string, m desk.Method, params json.RawMessage) {
	defer b.wg.Done()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	start := time.Now()
	value, err := func() (v any, err error) {
		defer func() {
			if r := recover(); r != nil {
				b.log.Error("bridge: panic in a call", "method", method, "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("linkdesk hit an internal error in %q; nothing else was affected and the error is in the log", method)
			}
		}()
		return m(ctx, params)
	}()
	msg := map[string]any{"id": id, "ok": err == nil}
	if err != nil {
		msg["error"] = err.Error()
		b.log.Warn("bridge: call failed", "method", method, "duration", time.Since(start).Round(time.Millisecond), "err", err)
	} else {
		msg["value"] = value
		b.log.Debug("bridge: call done", "method", method, "duration", time.Since(start).Round(time.Millisecond))
	}
	b.send("deliver", msg)
}

// Push sends a message to the page's window.linkdesk.push. Safe from any
// goroutine.
func (b *Bridge) Push(msg any) { b.send("push", msg) }

func (b *Bridge) send(fn string, msg any) {
	data, err := json.Marshal(msg)
	if err != nil {
		b.log.Error("bridge: cannot encode a message for the page", "err", err)
		data, _ = json.Marshal(map[string]any{"id": fieldOf(msg, "id"), "ok": false, "error": "linkdesk could not encode the result"})
	}
	js := "window.linkdesk && window.linkdesk." + fn + "(" + string(data) + ")"
	b.view.Dispatch(func() { b.view.Eval(js) })
}

func fieldOf(msg any, key string) any {
	if m, ok := msg.(map[string]any); ok {
		return m[key]
	}
	return nil
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
