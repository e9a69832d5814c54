package cybridsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind string

// Fault kinds.
const (
	// Fault500, Fault502 and Fault503 answer with that status: 500 and 503
	// with a Cybrid ErrorResponse, 502 with the HTML page a gateway sends.
	Fault500 FaultKind = "500"
	Fault502 FaultKind = "502"
	Fault503 FaultKind = "503"
	// FaultReset closes the connection (TCP reset) without an answer.
	FaultReset FaultKind = "reset"
	// FaultSlow holds the answer for Fault.Delay (longer than the client's
	// per-request timeout), then answers normally if the client is still
	// there. Without Commit, a request whose client gave up during the delay
	// is dropped unperformed.
	FaultSlow FaultKind = "slow"
	// FaultUnauthorized revokes the access token the request carries (it is
	// removed from the token store, so the client must fetch a new one) and
	// answers 401 authentication_failed. On POST /oauth/token it answers the
	// OAuth 401 invalid_client.
	FaultUnauthorized FaultKind = "unauthorized"
	// FaultRateLimited answers 429 with a Retry-After header of
	// Fault.RetryAfter (whole seconds).
	FaultRateLimited FaultKind = "rate_limited"
	// FaultMalformed answers with a JSON body cut in the middle: with
	// Commit, the real answer (real status) truncated; without, a fixed
	// truncated body with 200.
	FaultMalformed FaultKind = "malformed"
)

// Defaults of a Fault's optional fields.
const (
	// DefaultFaultDelay is a slow fault's delay: longer than the Cybrid
	// client's default per-request timeout (10 s).
	DefaultFaultDelay = 15 * time.Second
	// DefaultFaultRetryAfter is a rate_limited fault's Retry-After.
	DefaultFaultRetryAfter = time.Second
)

// Fault is a failure injected into the requests that match Route.
//
// Faults are checked in order; the first one that matches a request and has
// applications left applies to it (so several faults on one route queue up).
// A request under /sim/ is never faulted.
type Fault struct {
	// Route is "METHOD /path", where a {name} path segment matches any one
	// segment: "GET /api/workflows/{guid}", "POST /api/external_bank_accounts",
	// "POST /oauth/token" (the keys of Stats.ByRoute). The query is ignored.
	Route string
	Kind  FaultKind
	// Times is how many of the next matching requests the fault applies to;
	// 0 means every matching request until the faults are changed.
	Times int
	// Commit performs the request first (the account or workflow is created,
	// the token revoked…) and then fails the answer: the ambiguous case where
	// the server did the work but the client saw an error. Valid with 500,
	// 502, 503, reset, slow and malformed.
	Commit bool
	// Delay is how long a slow fault holds the answer (DefaultFaultDelay
	// when zero).
	Delay time.Duration
	// RetryAfter is the Retry-After header, rounded up to whole seconds, of
	// a rate_limited fault (DefaultFaultRetryAfter when zero) and of a 503
	// fault (none when zero).
	RetryAfter time.Duration
}

// FaultStatus is a fault with its counters.
type FaultStatus struct {
	Fault
	// Applied counts the requests the fault was applied to.
	Applied int
	// Remaining is how many more requests it will apply to; -1 for a fault
	// with Times 0 (always).
	Remaining int
}

type faultRec struct {
	f         Fault
	method    string
	segs      []string
	applied   int
	remaining int // -1: always
}

// check validates f and fills in defaults.
func (f *Fault) check() (*faultRec, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(f.Route), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# ") {
		return nil, fmt.Errorf("route %q must be \"METHOD /path\", e.g. \"GET /api/workflows/{guid}\"", f.Route)
	}
	if method != strings.ToUpper(method) {
		return nil, fmt.Errorf("route %q: the method must be upper case", f.Route)
	}
	if strings.HasPrefix(path, "/sim/") {
		return nil, fmt.Errorf("route %q: the simulator's own /sim/ endpoints cannot be faulted", f.Route)
	}
	switch f.Kind {
	case Fault500, Fault502, Fault503, FaultReset, FaultSlow, FaultMalformed:
	case FaultUnauthorized, FaultRateLimited:
		if f.Commit {
			return nil, fmt.Errorf("fault %s on %q cannot commit: a 401 or 429 means the request was not performed", f.Kind, f.Route)
		}
	default:
		return nil, fmt.Errorf("fault kind %q is not one of 500, 502, 503, reset, slow, unauthorized, rate_limited, malformed", f.Kind)
	}
	if f.Times < 0 {
		return nil, fmt.Errorf("fault %s on %q: times must be 0 (always) or more, got %d", f.Kind, f.Route, f.Times)
	}
	if f.Delay < 0 || f.RetryAfter < 0 {
		return nil, fmt.Errorf("fault %s on %q: delay and retry_after must not be negative", f.Kind, f.Route)
	}
	if f.Kind == FaultSlow && f.Delay == 0 {
		f.Delay = DefaultFaultDelay
	}
	if f.Kind == FaultRateLimited && f.RetryAfter == 0 {
		f.RetryAfter = DefaultFaultRetryAfter
	}
	rec := &faultRec{f: *f, method: method, segs: strings.Split(strings.Trim(path, "/"), "/"), remaining: f.Times}
	f.Route = method + " " + path
	rec.f.Route = f.Route
	if f.Times == 0 {
		rec.remaining = -1
	}
	return rec, nil
}

func (fr *faultRec) matches(method, path string) bool {
	if fr.method != method || fr.remaining == 0 {
		return false
	}
	return route{segs: fr.segs}.matchSegs(path)
}

// matchSegs is match without collecting parameters.
func (rt route) matchSegs(path string) bool {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(rt.segs) {
		return false
	}
	for i, want := range rt.segs {
		if strings.HasPrefix(want, "{") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if segs[i] != want {
			return false
		}
	}
	return true
}

// SetFaults replaces the injected faults with fs (nil or empty clears
// them). Nothing changes when one of them is invalid.
func (s *Server) SetFaults(fs []Fault) error {
	recs := make([]*faultRec, 0, len(fs))
	for i := range fs {
		f := fs[i]
		rec, err := f.check()
		if err != nil {
			return fmt.Errorf("cybridsim: fault %d: %w", i, err)
		}
		recs = append(recs, rec)
	}
	s.mu.Lock()
	s.faults = recs
	s.mu.Unlock()
	s.log.Info("cybridsim: faults set", "faults", len(recs))
	return nil
}

// AddFault appends f to the injected faults.
func (s *Server) AddFault(f Fault) error {
	rec, err := f.check()
	if err != nil {
		return fmt.Errorf("cybridsim: %w", err)
	}
	s.mu.Lock()
	s.faults = append(s.faults, rec)
	s.mu.Unlock()
	s.log.Info("cybridsim: fault added", "route", f.Route, "kind", f.Kind, "times", f.Times, "commit", f.Commit)
	return nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Faults returns the injected faults with their counters, spent ones
// included, in order.
func (s *Server) Faults() []FaultStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FaultStatus, 0, len(s.faults))
	for _, fr := range s.faults {
		out = append(out, FaultStatus{Fault: fr.f, Applied: fr.applied, Remaining: fr.remaining})
	}
	return out
}

// takeFault returns the fault that applies to r, counting it, or nil.
func (s *Server) takeFault(r *http.Request) *Fault {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fr := range s.faults {
		if !fr.matches(r.Method, r.URL.Path) {
			continue
		}
		if fr.remaining > 0 {
			fr.remaining--
		}
		fr.applied++
		s.stats.Faults++
		f := fr.f
		return &f
	}
	return nil
}

// noFaultKey marks a request the fault layer passes on to the handlers.
type noFaultKey struct{}

// serveFault serves /sim/faults and applies an injected fault to r. It
// reports whether it answered (or dropped) the request.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request) bool {
	if r.Context().Value(noFaultKey{}) != nil {
		return false
	}
	if r.URL.Path == "/sim/faults" {
		s.count(r.URL.Path, "")
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.faultsJSON())
		case http.MethodPut:
			s.putFaultsHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, PUT")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed on /sim/faults; allowed: GET, PUT")
		}
		return true
	}
	f := s.takeFault(r)
	if f == nil {
		return false
	}
	// Read the body now: the server notices a client that hangs up only once
	// the request body has been read.
	raw, _ := readBody(r)
	pass := r.WithContext(context.WithValue(r.Context(), noFaultKey{}, true))
	pass.Body = io.NopCloser(bytes.NewReader(raw))
	s.log.Info("cybridsim: fault applied", "method", r.Method, "path", r.URL.Path, "kind", f.Kind, "commit", f.Commit)
	var done *bufferedAnswer
	if f.Commit {
		// Perform the request (counted by ServeHTTP), keep the answer.
		done = &bufferedAnswer{header: http.Header{}, status: http.StatusOK}
		s.ServeHTTP(done, pass)
	} else {
		s.count(r.URL.Path, s.routeKey(r))
	}
	switch f.Kind {
	case Fault500:
		writeError(w, http.StatusInternalServerError, "internal_error", "Internal server error")
	case Fault503:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "The service is temporarily unavailable; try again shortly")
	case Fault502:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"))
	case FaultReset:
		resetConnection(w)
	case FaultSlow:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			// The client gave up: without Commit nothing was performed.
			return true
		}
		if done != nil {
			done.replay(w)
		} else {
			s.ServeHTTP(w, pass)
		}
	case FaultUnauthorized:
		if r.URL.Path == "/oauth/token" {
			writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed (injected fault)")
			return true
		}
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			s.mu.Lock()
			delete(s.tokens, strings.TrimSpace(tok))
			s.mu.Unlock()
		}
		writeError(w, http.StatusUnauthorized, "authentication_failed",
			"Access token has been revoked; get a new access token from POST /oauth/token")
	case FaultRateLimited:
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("Too many requests; retry after %d seconds", secs))
	case FaultMalformed:
		if done != nil {
			cut := done.body.Bytes()
			cut = cut[:len(cut)/2]
			for k, v := range done.header {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(done.status)
			w.Write(cut)
			return true
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"guid":"` + randomGUID()[:11]))
	}
	return true
}

// routeKey is the Stats.ByRoute key of r, "" when no route matches.
func (s *Server) routeKey(r *http.Request) string {
	for _, rt := range s.routes {
		if rt.method == r.Method && rt.matchSegs(r.URL.Path) {
			return rt.method + " " + rt.pattern
		}
	}
	return ""
}

// resetConnection drops the connection under w without an answer: a TCP
// reset where the connection can be taken over, else an aborted handler.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

// bufferedAnswer is a ResponseWriter that keeps the answer.
type bufferedAnswer struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header { return b.header }
func (b *bufferedAnswer) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferedAnswer) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

func (b *bufferedAnswer) replay(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}

// ---- /sim/faults ----

// FaultJSON is the JSON form of a Fault at /sim/faults; delay and
// retry_after are Go duration strings ("2s", "250ms").
type FaultJSON struct {
	Route      string    `json:"route"`
	Kind       FaultKind `json:"kind"`
	Times      int       `json:"times"`
	Commit     bool      `json:"commit,omitempty"`
	Delay      string    `json:"delay,omitempty"`
	RetryAfter string    `json:"retry_after,omitempty"`
	// Applied and Remaining are reported by GET (ignored by PUT).
	Applied   int `json:"applied"`
	Remaining int `json:"remaining"`
}

// FaultsJSON is the body of GET and PUT /sim/faults.
type FaultsJSON struct {
	Faults []FaultJSON `json:"faults"`
	// Applied is Stats.Faults (reported by GET, ignored by PUT).
	Applied int `json:"applied"`
}

func (s *Server) faultsJSON() FaultsJSON {
	out := FaultsJSON{Faults: []FaultJSON{}, Applied: s.Stats().Faults}
	for _, fs := range s.Faults() {
		fj := FaultJSON{Route: fs.Route, Kind: fs.Kind, Times: fs.Times, Commit: fs.Commit, Applied: fs.Applied, Remaining: fs.Remaining}
		if fs.Delay > 0 {
			fj.Delay = fs.Delay.String()
		}
		if fs.RetryAfter > 0 {
			fj.RetryAfter = fs.RetryAfter.String()
		}
		out.Faults = append(out.Faults, fj)
	}
	return out
}

// putFaultsHTTP serves PUT /sim/faults: the body's faults replace the
// current ones ({"faults": []} clears them); the answer is GET's.
func (s *Server) putFaultsHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	var in FaultsJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		badRequest(w, errorf(`the body must be {"faults":[{"route":"GET /api/workflows/{guid}","kind":"502","times":1,"commit":false,"delay":"15s","retry_after":"1s"}]}: %v`, err))
		return
	}
	fs := make([]Fault, 0, len(in.Faults))
	for i, fj := range in.Faults {
		f := Fault{Route: fj.Route, Kind: fj.Kind, Times: fj.Times, Commit: fj.Commit}
		for _, d := range []struct {
			name, v string
			dst     *time.Duration
		}{{"delay", fj.Delay, &f.Delay}, {"retry_after", fj.RetryAfter, &f.RetryAfter}} {
			if d.v == "" {
				continue
			}
			v, err := time.ParseDuration(d.v)
			if err != nil {
				badRequest(w, errorf("Invalid value. faults[%d].%s must be a duration such as \"2s\", got %q", i, d.name, d.v))
				return
			}
			*d.dst = v
		}
		fs = append(fs, f)
	}
	if err := s.SetFaults(fs); err != nil {
		badRequest(w, errors.New("Invalid value. "+strings.TrimPrefix(err.Error(), "cybridsim: ")))
		return
	}
	writeJSON(w, http.StatusOK, s.faultsJSON())
}
