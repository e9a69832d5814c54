package ui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"
	"unicode/utf8"
)

// The page↔Go boundary.
//
// linkdesk registers no webview_go binding. webview_go answers a call to a
// bound function by evaluating, in the main view, a script into which it
// pastes the message's id unescaped — for a message from any frame that can
// post to its "external" handler (bank pop-ups, the iframes inside them,
// Plaid's iframe). With no name bound, webview's on_message returns before
// that reply is built, so no frame can make it run script in the page.
//
// Page → Go: the page calls Go with a same-origin
//
//	POST /call/{method}
//	Origin: <the app's origin>           (required)
//	Sec-Fetch-Site: same-origin          (when the browser sends it)
//	Cookie: linkdesk_session=…           (HttpOnly, set by the one-time launch URL)
//	X-Linkdesk-Secret: <per-launch secret from the page's meta tag>
//	Content-Type: application/json
//	<params: one JSON object, at most Calls.MaxParams bytes>
//
// A foreign frame cannot send that: its Origin differs, it cannot read the
// secret, and the custom header makes its request a CORS preflight, which is
// refused. Other local processes lack the cookie and the secret. Every
// refused request is answered 403 (or 413 when too large, before its body is
// read) and logged in a bounded way.
//
// The answer is the HTTP response: 200 with the result as JSON, or an error
// status with {"error": "…"} — plus {"problem": {…}} when the call's error
// carries one (PageProblem). Nothing the page sent is ever put into a
// script. Go → page: Window.Push evaluates window.linkdesk.push(<JSON>) with
// Dispatch + Eval, built from JSON-encoded values only.

// CallFunc answers one page call: method is the name from the URL, params
// the request body (a JSON object, within Calls.MaxParams). It runs on a
// server goroutine, never on the UI thread. Its result is marshalled to
// JSON; an error's text is shown to the operator. Return an error wrapping
// ErrUnknownCall for a name that is not a call.
type CallFunc func(ctx context.Context, method string, params []byte) (any, error)

// PageProblem is implemented by a CallFunc's error (anywhere in its chain,
// as errors.As finds it) that describes itself for the operator — kind,
// headline, fix, technical detail (package problem's Problem). handleCall
// answers such an error with {"error": err.Error(), "problem": PageProblem()},
// so the page can tell, say, a failed customer list from an empty one and
// say what to do. The value must marshal to a JSON object; ui never looks
// inside it.
type PageProblem interface {
	error
	PageProblem() any
}

// ErrUnknownCall is wrapped by a CallFunc's error for a method that does not
// exist (answered 404).
var ErrUnknownCall = errors.New("unknown call")

// Calls configures the page-call endpoint of a Server.
type Calls struct {
	// Serve answers the calls.
	Serve CallFunc
	// MaxParams bounds a call's body; larger bodies are refused before they
	// are read. 0 means 64 KiB.
	MaxParams int64
	// Timeout bounds one call (its context ends then); 0 means 60 s.
	Timeout time.Duration
}

// callPath is the endpoint's path prefix; CallHeader carries the secret.
const (
	callPath   = "/call/"
	CallHeader = "X-Linkdesk-Secret"
)

var methodRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]{0,63}$`)

// SetCalls installs (or replaces) the page-call endpoint's handler.
func (s *Server) SetCalls(c Calls) {
	if c.MaxParams <= 0 {
		c.MaxParams = 64 << 10
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	s.callsMu.Lock()
	s.calls = c
	s.callsMu.Unlock()
}

// handleCall serves POST /call/{method}; ServeHTTP has checked the Host.
func (s *Server) handleCall(w http.ResponseWriter, r *http.Request) {
	s.callsMu.Lock()
	c := s.calls
	s.callsMu.Unlock()
	method := r.PathValue("method")
	if why := s.refuseCall(r, c); why != "" {
		s.refused.Log("ui server: refused a page call", "why", why, "method", truncate(method, 64), "origin", truncate(r.Header.Get("Origin"), 80))
		status := http.StatusForbidden
		if why == whyTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, map[string]string{"error": "refused: " + why})
		return
	}
	if !methodRE.MatchString(method) || c.Serve == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("unknown call %q", truncate(method, 64))})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.MaxParams))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refused.Log("ui server: refused a page call", "why", whyTooLarge, "method", method)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("refused: the parameters are larger than %d bytes", c.MaxParams)})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the call's parameters could not be read"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.Timeout)
	defer cancel()
	start := time.Now()
	value, err := func() (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("page call panicked", "method", method, "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("linkdesk hit an internal error in %q; nothing else was affected and the error is in the log", method)
			}
		}()
		return c.Serve(ctx, method, body)
	}()
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, ErrUnknownCall) {
			status = http.StatusNotFound
		}
		s.log.Warn("page call failed", "method", method, "duration", time.Since(start).Round(time.Millisecond), "err", err)
		writeJSON(w, status, errorBody(err))
		return
	}
	s.log.Debug("page call done", "method", method, "duration", time.Since(start).Round(time.Millisecond))
	data, err := json.Marshal(value)
	if err != nil {
		s.log.Error("page call: cannot encode the result", "method", method, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "linkdesk could not encode the result of " + method})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

const whyTooLarge = "too large"

// errorBody is a failed call's answer: {"error": text}, and the problem when
// err carries one (PageProblem) whose value marshals.
func errorBody(err error) map[string]any {
	body := map[string]any{"error": err.Error()}
	var pp PageProblem
	if errors.As(err, &pp) {
		if v := pp.PageProblem(); v != nil {
			if b, merr := json.Marshal(v); merr == nil && len(b) > 0 && b[0] == '{' {
				body["problem"] = json.RawMessage(b)
			}
		}
	}
	return body
}

// refuseCall says why a request is not the app page's own call ("" when it
// is). The checks run before the body is read.
func (s *Server) refuseCall(r *http.Request, c Calls) string {
	switch {
	case r.Header.Get("Origin") != s.URL:
		return "not from linkdesk's page (Origin)"
	case r.Header.Get("Sec-Fetch-Site") != "" && r.Header.Get("Sec-Fetch-Site") != "same-origin":
		return "not from linkdesk's page (Sec-Fetch-Site)"
	case !s.authorized(r):
		return "no session cookie"
	case subtle.ConstantTimeCompare([]byte(r.Header.Get(CallHeader)), []byte(s.Secret)) != 1:
		return "no session secret"
	case r.Header.Get("Content-Type") != "application/json":
		return "not JSON"
	case r.ContentLength > c.MaxParams:
		return whyTooLarge
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
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
