// Package timeline records every step of every link attempt of a linkdesk
// session — workflow states, each Cybrid API call, each Plaid Link callback
// and event, the bank pop-up and OAuth redirect — and exports one attempt or
// the whole session as JSON Lines and as a self-contained HTML report to
// attach to a bug ticket.
//
// A Recorder is fed by two observers: the link flow's (ObserveAttempt, see
// linkflow.Observer) and the Cybrid client's (ObserveCall, see
// cybrid.Options.Observer). It keeps the last Options.MaxEntries entries in
// memory; nothing is written to disk except by an explicit export.
//
// No entry holds a secret: values are scrubbed as they are recorded (see
// package redact for the rules), and every export is checked again before it is
// written.
//
// Each API call is filed under the attempt that made it: the link flow makes
// every call of an attempt with a context carrying the attempt id
// (cybrid.WithAttempt), and the Cybrid client hands it to the observer as
// cybrid.Call.AttemptID. Nothing is inferred from paths, GUIDs or states, so
// attempts running at the same time, for the same customer, keep their own
// calls. A call made for no attempt (customer and account lists, an unlink)
// is a session-level entry (attempt id ""). A token request (POST
// /oauth/token) is filed like the call that made it — the first call to find
// no valid token — so it is the attempt's when that call was, and
// session-level otherwise; the token then serves every call until it
// expires.
package timeline

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/linkflow"
	"linkdesk/app/redact"
)

// Kind is what an entry records.
type Kind string

const (
	// KindState is a step of an attempt: it started, changed state, failed
	// or ended. Every entry of an attempt (whatever its kind) carries
	// data.state, the attempt's state after it, and, when the entry moved
	// the attempt on, data.from (the state before) and, when that ended it,
	// data.code and data.what_to_do.
	KindState Kind = "state"
	// KindAPI is one HTTP exchange with Cybrid (token requests included).
	KindAPI Kind = "api"
	// KindPlaidCallback is a Plaid Link callback: onLoad, onSuccess, onExit.
	KindPlaidCallback Kind = "plaid_callback"
	// KindPlaidEvent is a Plaid Link onEvent, with its metadata.
	KindPlaidEvent Kind = "plaid_event"
	// KindLinkWindow is something around Link outside the page: the bank's
	// pop-up opened or closed, the OAuth redirect came back.
	KindLinkWindow Kind = "link_window"
	// KindNote is anything else worth knowing (a retried poll, dropped
	// entries, notes from other parts of linkdesk).
	KindNote Kind = "note"
)

// Entry is one step. Time is UTC and marshals as RFC 3339 with nanoseconds.
// Seq increases by one per entry recorded in the session (the page asks for
// entries "since" the last Seq it has). AttemptID is the attempt the step
// belongs to — for an API call, the attempt the call was made for
// (cybrid.Call.AttemptID) — or "" for a session-level step. Data never holds
// a secret.
type Entry struct {
	Seq       int64          `json:"seq"`
	Time      time.Time      `json:"time"`
	AttemptID string         `json:"attempt_id"`
	Kind      Kind           `json:"kind"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
}

// Attempt summarises one link or refresh attempt for a report: the latest
// snapshot the flow reported, without its link token.
type Attempt struct {
	ID           string         `json:"id"`
	Kind         linkflow.Kind  `json:"kind"`
	CustomerGUID string         `json:"customer_guid"`
	State        linkflow.State `json:"state"`
	// Ended reports whether State is final (done, failed, exited).
	Ended     bool      `json:"ended"`
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when the attempt reached its final state; zero while it runs.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// DurationMS runs from StartedAt to EndedAt (or to the last update).
	DurationMS int64 `json:"duration_ms"`

	WorkflowGUID string `json:"workflow_guid,omitempty"`
	AccountGUID  string `json:"account_guid,omitempty"`
	AccountState string `json:"account_state,omitempty"`
	AccountName  string `json:"account_name,omitempty"`
	AccountMask  string `json:"account_mask,omitempty"`
	Institution  string `json:"institution,omitempty"`
	ExitStatus   string `json:"exit_status,omitempty"`
	Polls        int    `json:"polls"`
	// Code is the machine-readable reason of a failure (Cybrid failure_code,
	// Plaid error_code, or linkflow's own); Error says what happened and
	// what to do next.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// DefaultMaxEntries is how many entries a Recorder keeps when
// Options.MaxEntries is 0.
const DefaultMaxEntries = 10000

// maxAttempts bounds the attempt summaries kept; the oldest ended ones go
// first.
const maxAttempts = 2000

// Options configure a Recorder.
type Options struct {
	// Environment (sim, sandbox, production), BankGUID and Version go into
	// every export's header.
	Environment, BankGUID, Version string
	// MaxEntries is how many entries are kept (0: DefaultMaxEntries). When
	// full, the oldest entry is dropped; exports and Entries say how many
	// were dropped.
	MaxEntries int
	// Dir is where exports go; "" means userdirs.Exports(), resolved at the
	// first export.
	Dir string
	// Secrets are exact values that must never be written (the API client
	// secret). Values shorter than 6 bytes are ignored.
	Secrets []string
	// OnEntry, when set, is called after each entry is recorded, outside the
	// Recorder's lock, from the goroutine that reported the step. It must
	// not block for long.
	OnEntry func(Entry)
	// Now is the clock for API entries and export times; nil means time.Now.
	Now func() time.Time
}

// Recorder keeps the session's timeline. It is safe for concurrent use.
type Recorder struct {
	opts  Options
	max   int
	scrub *redact.Scrubber
	now   func() time.Time

	mu        sync.Mutex
	seq       int64
	entries   []Entry
	dropped   int64
	droppedBy map[string]int64 // attempt id → entries of it dropped
	attempts  map[string]*Attempt
	order     []string // attempt ids, oldest first
	dirOnce   sync.Once
	dir       string
	dirErr    error
}

// New returns an empty Recorder.
func New(o Options) *Recorder {
	r := &Recorder{
		opts:      o,
		max:       o.MaxEntries,
		scrub:     redact.New(o.Secrets),
		now:       o.Now,
		droppedBy: map[string]int64{},
		attempts:  map[string]*Attempt{},
	}
	if r.max <= 0 {
		r.max = DefaultMaxEntries
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// ObserveAttempt records a flow event and the attempt's new snapshot. It has
// the shape of a linkflow.Observer (chain it with others). Poll-count events
// ("Poll 3") are not entries of their own: each poll is already an API entry.
func (r *Recorder) ObserveAttempt(a linkflow.Attempt, ev linkflow.Event) {
	id := a.ID
	if id == "" {
		id = ev.AttemptID
	}
	if id == "" {
		return
	}
	r.mu.Lock()
	prev, known := r.attempts[id]
	var prevState linkflow.State
	prevPolls := 0
	if known {
		prevState, prevPolls = prev.State, prev.Polls
	}
	r.updateAttempt(a, ev)
	if ev.Type == "poll" && a.Polls != prevPolls {
		r.mu.Unlock()
		return
	}
	kind := KindNote
	switch ev.Type {
	case "state":
		kind = KindState
	case "plaid_callback":
		kind = KindPlaidCallback
	case "plaid_event":
		kind = KindPlaidEvent
	case "link_window":
		kind = KindLinkWindow
	}
	// Every entry of an attempt says the state after it; the one that moved
	// the attempt on also says the state before it (data.from), whatever
	// its kind: a callback (onSuccess → creating_account, onExit → exited)
	// moves it as often as the flow's own steps.
	data := r.scrub.Map(ev.Data)
	if data == nil {
		data = map[string]any{}
	}
	data["state"] = string(a.State)
	if known && prevState != a.State {
		data["from"] = string(prevState)
		if a.State.Final() {
			if a.Code != "" {
				data["code"] = r.scrub.String(a.Code)
			}
			if a.Error != "" && a.Error != ev.Message {
				data["what_to_do"] = r.scrub.String(a.Error)
			}
		}
	}
	if data["code"] == "" {
		delete(data, "code")
	}
	t := ev.Time
	if t.IsZero() {
		t = r.now()
	}
	e := r.appendLocked(Entry{Time: t.UTC(), AttemptID: id, Kind: kind, Message: r.scrub.String(ev.Message), Data: data})
	r.mu.Unlock()
	r.notify(e)
}

// updateAttempt stores the summary of snapshot a; the caller holds r.mu.
func (r *Recorder) updateAttempt(a linkflow.Attempt, ev linkflow.Event) {
	s, ok := r.attempts[a.ID]
	if !ok {
		s = &Attempt{ID: a.ID}
		r.attempts[a.ID] = s
		r.order = append(r.order, a.ID)
		r.trimAttemptsLocked()
	}
	sc := r.scrub.String
	s.Kind, s.CustomerGUID, s.State = a.Kind, sc(a.CustomerGUID), a.State
	s.StartedAt = a.StartedAt.UTC()
	s.Ended = a.State.Final()
	s.WorkflowGUID, s.AccountGUID = sc(a.WorkflowGUID), sc(a.AccountGUID)
	if a.Account != nil {
		s.AccountState, s.AccountName, s.AccountMask = sc(a.Account.State), sc(a.Account.Name), sc(a.Account.Mask)
	}
	if a.Institution != "" {
		s.Institution = sc(a.Institution)
	} else if s.Institution == "" && ev.Type == "plaid_event" {
		// The flow learns the bank at onSuccess/onExit; Plaid's events
		// name it earlier.
		if m, ok := ev.Data["metadata"].(map[string]any); ok {
			if name, ok := m["institution_name"].(string); ok {
				s.Institution = redact.Cut(sc(name))
			}
		}
	}
	s.ExitStatus = sc(a.ExitStatus)
	s.Polls = a.Polls
	s.Code, s.Error = sc(a.Code), sc(a.Error)
	end := a.UpdatedAt
	if s.Ended {
		if s.EndedAt.IsZero() {
			s.EndedAt = a.StateSince.UTC()
		}
		end = s.EndedAt
	}
	if !a.StartedAt.IsZero() && !end.IsZero() {
		s.DurationMS = end.Sub(a.StartedAt).Milliseconds()
	}
}

func (r *Recorder) trimAttemptsLocked() {
	for len(r.order) > maxAttempts {
		// Drop the oldest ended attempt; if none has ended, the oldest.
		drop := 0
		for i, id := range r.order {
			if r.attempts[id].Ended {
				drop = i
				break
			}
		}
		delete(r.attempts, r.order[drop])
		r.order = append(r.order[:drop], r.order[drop+1:]...)
	}
}

// ObserveCall records one Cybrid API exchange. It has the shape of
// cybrid.Options.Observer. The entry is filed under c.AttemptID, the
// attempt the call was made for ("": session-level).
func (r *Recorder) ObserveCall(c cybrid.Call) {
	now := r.now()
	path := r.scrub.String(c.Path)
	method := r.scrub.String(c.Method)
	data := map[string]any{
		"method":      method,
		"path":        path,
		"status":      c.Status,
		"duration_ms": float64(c.Duration.Microseconds()) / 1000,
	}
	msg := fmt.Sprintf("%s %s → %s", method, path, statusText(c.Status))
	if c.Err != nil {
		data["error"] = redact.Cut(r.scrub.String(c.Err.Error()))
		msg = fmt.Sprintf("%s %s → failed: %s", method, path, data["error"])
	}
	if c.Retry != "" {
		// The client's own retry: why the previous try failed.
		data["retry"] = redact.Cut(r.scrub.String(c.Retry))
	}
	if c.Attempt > 1 {
		data["try"] = c.Attempt
	}
	// The bodies, as QA reads them in Postman: JSON as JSON, anything else
	// as text; values under secret-named keys and token-shaped values
	// replaced.
	if b := r.body(c.RequestBody); b != nil {
		data["request"] = b
	}
	if b := r.body(c.ResponseBody); b != nil {
		data["response"] = b
	}
	if c.BodyCut {
		data["body_cut"] = fmt.Sprintf("bodies are kept up to %d bytes each", cybrid.MaxObservedBody)
	}
	id := r.scrub.String(c.AttemptID)
	r.mu.Lock()
	// The observer runs when the response has been read: the call started
	// Duration earlier. Entries are stamped with the end, like every other
	// entry (when it was known).
	e := r.appendLocked(Entry{Time: now.UTC(), AttemptID: id, Kind: KindAPI, Message: msg, Data: data})
	r.mu.Unlock()
	r.notify(e)
}

// body is a call's body for an entry: decoded JSON, scrubbed; else
// scrubbed text; nil for none.
func (r *Recorder) body(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		return r.scrub.Value(v)
	}
	return redact.Cut(r.scrub.String(string(b)))
}

func statusText(status int) string {
	if status == 0 {
		return "no response"
	}
	return fmt.Sprint(status)
}

// Note records a note, for an attempt or (attemptID "") for the session.
// Other parts of linkdesk use it for steps the flow does not report (an
// unlink, an ownership verification). msg and data are scrubbed.
func (r *Recorder) Note(attemptID, msg string, data map[string]any) {
	r.mu.Lock()
	e := r.appendLocked(Entry{Time: r.now().UTC(), AttemptID: r.scrub.String(attemptID), Kind: KindNote, Message: r.scrub.String(msg), Data: r.scrub.Map(data)})
	r.mu.Unlock()
	r.notify(e)
}

// appendLocked stamps e with the next Seq, stores it, and drops the oldest
// entry when full; the caller holds r.mu.
func (r *Recorder) appendLocked(e Entry) Entry {
	r.seq++
	e.Seq = r.seq
	r.entries = append(r.entries, e)
	if n := len(r.entries) - r.max; n > 0 {
		for _, old := range r.entries[:n] {
			r.droppedBy[old.AttemptID]++
		}
		r.dropped += int64(n)
		clear(r.entries[:n])
		r.entries = r.entries[n:]
	}
	return e
}

func (r *Recorder) notify(e Entry) {
	if r.opts.OnEntry != nil {
		r.opts.OnEntry(e)
	}
}

// Entries returns, oldest first, the session's entries (attemptID "": all of
// them, session-level or not) or the entries filed under one attempt, with
// Seq greater than since. When entries were dropped, the first entry
// returned (when since is 0) is a note saying how many (with Seq 0).
func (r *Recorder) Entries(attemptID string, since int64) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entriesLocked(attemptID, since)
}

func (r *Recorder) entriesLocked(attemptID string, since int64) []Entry {
	out := []Entry{}
	var lost int64
	if attemptID == "" {
		lost = r.dropped
	} else {
		lost = r.droppedBy[attemptID]
	}
	if lost > 0 && since == 0 {
		t := time.Time{}
		if len(r.entries) > 0 {
			t = r.entries[0].Time
		}
		out = append(out, Entry{Time: t, AttemptID: attemptID, Kind: KindNote,
			Message: fmt.Sprintf("%d earlier entries were dropped: linkdesk keeps the last %d steps of a session", lost, r.max),
			Data:    map[string]any{"dropped": lost}})
	}
	for _, e := range r.entries {
		if e.Seq <= since {
			continue
		}
		if attemptID == "" || e.AttemptID == attemptID {
			out = append(out, e)
		}
	}
	return out
}

// Attempts returns the summaries of the session's attempts, oldest first.
func (r *Recorder) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Attempt, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, *r.attempts[id])
	}
	return out
}

// Attempt returns the summary of one attempt.
func (r *Recorder) Attempt(id string) (Attempt, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.attempts[id]
	if !ok {
		return Attempt{}, false
	}
	return *a, true
}

// LastSeq is the Seq of the latest entry (0 before the first).
func (r *Recorder) LastSeq() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// snapshot is a consistent copy for an export.
type snapshot struct {
	scope    string // "attempt" or "session"
	attempt  string
	entries  []Entry
	attempts []Attempt
	dropped  int64
}

func (r *Recorder) snapshot(attemptID string) (snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := snapshot{scope: "session", attempt: attemptID}
	if attemptID != "" {
		a, ok := r.attempts[attemptID]
		if !ok {
			return s, fmt.Errorf("no attempt %q in this session's timeline: pick one from the timeline panel (the timeline keeps the attempts of the running session only)", r.scrub.String(attemptID))
		}
		s.scope = "attempt"
		s.attempts = []Attempt{*a}
		s.dropped = r.droppedBy[attemptID]
	} else {
		for _, id := range r.order {
			s.attempts = append(s.attempts, *r.attempts[id])
		}
		s.dropped = r.dropped
	}
	s.entries = r.entriesLocked(attemptID, 0)
	sort.SliceStable(s.attempts, func(i, j int) bool { return s.attempts[i].StartedAt.Before(s.attempts[j].StartedAt) })
	return s, nil
}
