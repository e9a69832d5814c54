package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"linkdesk/app/desk"
	"linkdesk/app/ui"
)

// recordingView is the bridge's Evaluator for fuzzing: Dispatch runs f at
// once and Eval records the script. The fuzz target checks what the bridge
// accepts and what it would hand to the page, thousands of times a second;
// the real WebKit window (whose Eval runs the same script) is exercised by
// window_test.go and the end-to-end tests.
type recordingView struct {
	mu      sync.Mutex
	scripts []string
	got     chan struct{}
}

func (v *recordingView) Dispatch(f func()) { f() }
func (v *recordingView) Eval(js string) {
	v.mu.Lock()
	v.scripts = append(v.scripts, js)
	v.mu.Unlock()
	select {
	case v.got <- struct{}{}:
	default:
	}
}

func (v *recordingView) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.scripts...)
}

const fuzzSecret = "s3ss10n-secret-7c1f0e9d2b4a6c8e"

var bridgeCallID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// fuzzMethods: one that echoes its params back as text, one that returns
// them as its own JSON (so invalid JSON reaches the encoder), one that fails
// with them in its message, one that panics.
var fuzzMethods = map[string]desk.Method{
	"echo": func(_ context.Context, p json.RawMessage) (any, error) {
		return map[string]any{"params": string(p)}, nil
	},
	"raw": func(_ context.Context, p json.RawMessage) (any, error) { return p, nil },
	"fail": func(_ context.Context, p json.RawMessage) (any, error) {
		return nil, errors.New("cannot do that with " + string(p))
	},
	"boom":          func(_ context.Context, p json.RawMessage) (any, error) { panic("boom: " + string(p)) },
	"plaid.onEvent": func(_ context.Context, p json.RawMessage) (any, error) { return nil, nil },
}

// FuzzBridgeCall calls the bound function with arbitrary arguments, as a
// page (linkdesk's own, or a foreign one that got the binding) could. Call
// must never panic or block; it must refuse a call without the session
// secret without running anything or logging the secret, refuse call ids
// other than 1-64 letters, digits, _ or -, and unknown methods; and an
// accepted call must deliver exactly one result, as one well-formed
// window.linkdesk.deliver({id, ok, value|error}) script carrying the same id.
func FuzzBridgeCall(f *testing.F) {
	for _, s := range []struct {
		real             bool
		secret, id, meth string
		params           string
	}{
		{true, "", "c1", "echo", `{"page":1}`},
		{true, "", "c-2_x", "fail", `{"customer_guid":"</script><script>alert(1)</script>"}`},
		{true, "", "c3", "boom", `null`},
		{true, "", "c4", "plaid.onEvent", `{"attempt_id":"a","event_name":"OPEN"}`},
		{true, "", "c5", "raw", `{"a":`},
		{true, "", "c5", "raw", `{"a":1}`},
		{true, "", "c6", "echo", "\"\u2028\u2029\""},
		{true, "", "c6", "fail", "\"\u2028\u2029\\u2028\""},
		{true, "", "", "echo", `{}`},
		{true, "", "1); alert(1); (", "echo", `{}`},
		{true, "", strings.Repeat("a", 65), "echo", `{}`},
		// Found by the fuzzer: 80 bytes that each quote as \xbb made a
		// 350-byte refusal.
		{true, "", "0" + strings.Repeat("\xbb", 100), "echo", `{}`},
		{true, "", "c7", "nope", `{}`},
		{true, "", "c8", "__proto__", `{}`},
		{true, "", "c9", strings.Repeat("é", 100), `{}`},
		{false, "", "c1", "echo", `{}`},
		{false, fuzzSecret[:len(fuzzSecret)-1], "c1", "echo", `{}`},
		{false, fuzzSecret + " ", "c1", "echo", `{}`},
	} {
		f.Add(s.real, s.secret, s.id, s.meth, []byte(s.params))
	}
	f.Fuzz(func(t *testing.T, realSecret bool, secret, id, method string, params []byte) {
		if realSecret {
			secret = fuzzSecret
		}
		var logs bytes.Buffer
		view := &recordingView{got: make(chan struct{}, 1)}
		b := ui.NewBridge(view, fuzzSecret, fuzzMethods, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		err := b.Call(secret, id, method, json.RawMessage(params))
		_, known := fuzzMethods[method]
		accepted := secret == fuzzSecret && bridgeCallID.MatchString(id) && known
		if accepted != (err == nil) {
			b.Close()
			t.Fatalf("Call(secret ok %v, id %q, method %q) = %v; want accepted = %v", secret == fuzzSecret, id, method, err, accepted)
		}
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "internal error") || len(msg) > 300 || !utf8.ValidString(msg) || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
				t.Errorf("refusal is not one short readable line: %q", msg)
			}
			if secret != fuzzSecret && !strings.HasPrefix(msg, "refused") {
				t.Errorf("a call without the secret got %q, want a refusal", msg)
			}
		} else {
			select {
			case <-view.got:
			case <-time.After(5 * time.Second):
				t.Fatalf("no result delivered for %s after 5s", method)
			}
		}
		b.Close()
		scripts := view.all()
		if err != nil {
			if len(scripts) != 0 {
				t.Fatalf("a refused call delivered %q", scripts)
			}
		} else {
			if len(scripts) != 1 {
				t.Fatalf("%d scripts for one call: %q", len(scripts), scripts)
			}
			// encoding/json copies a json.RawMessage value as is, invalid
			// UTF-8 included; the page's params are JSON.stringify output.
			checkDeliver(t, scripts[0], id, method != "raw")
		}
		if l := logs.String(); strings.Contains(l, fuzzSecret) || (len(secret) >= 8 && strings.Contains(l, secret)) {
			t.Errorf("the log holds the secret (or the caller's guess): %q", l)
		}
	})
}

func checkDeliver(t *testing.T, js, id string, utf8Only bool) {
	t.Helper()
	const prefix, suffix = "window.linkdesk && window.linkdesk.deliver(", ")"
	if !strings.HasPrefix(js, prefix) || !strings.HasSuffix(js, suffix) {
		t.Fatalf("script is not a deliver call: %.200q", js)
	}
	payload := js[len(prefix) : len(js)-len(suffix)]
	// One JSON value and nothing else: it is the only argument, and a JSON
	// text cannot break out of it. U+2028/2029 are escaped (older JavaScript
	// engines end a string literal at them).
	dec := json.NewDecoder(strings.NewReader(payload))
	var msg struct {
		ID    *string         `json:"id"`
		OK    *bool           `json:"ok"`
		Value json.RawMessage `json:"value"`
		Error *string         `json:"error"`
	}
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("payload is not JSON (%v): %.200q", err, payload)
	}
	if dec.More() || dec.InputOffset() != int64(len(payload)) {
		t.Fatalf("payload has more than one JSON value: %.200q", payload)
	}
	if strings.ContainsAny(payload, "\u2028\u2029") || (utf8Only && !utf8.ValidString(payload)) {
		t.Fatalf("payload has raw U+2028/U+2029 or invalid UTF-8: %.200q", payload)
	}
	if msg.ID == nil || *msg.ID != id || msg.OK == nil {
		t.Fatalf("payload does not carry id %q and ok: %.200q", id, payload)
	}
	if !*msg.OK && (msg.Error == nil || *msg.Error == "") {
		t.Fatalf("a failed call without an error message: %.200q", payload)
	}
}
