package linkflow

// Prefetching link tokens: Plaid Link on screen at the click.
//
// A link_token_create workflow takes seconds, and Plaid recommends creating
// the Link handler as early as possible so that open() is instant. So when
// the operator opens a customer, the page calls Flow.Prefetch and the flow
// prepares that customer's next link token in the background:
//
//   - only for a customer who can link: the prefetch first reads the
//     customer (GET /api/customers/{guid}) and goes on only when Cybrid says
//     verified;
//   - at most one unused token per customer, for the PrefetchCustomers
//     customers opened last (opening one more discards the token of the one
//     opened longest ago);
//   - a token is handed to Link only while at least its margin (PrefetchMargin,
//     a Link session's own limit) of its lifetime (LinkTokenLifetime) remains;
//     then it is dropped, and replaced when its customer is the one opened
//     last;
//   - link_token_create only: update-mode tokens live 30 minutes and are
//     created when the operator asks (StartRefresh);
//   - a workflow that fails, and a token that Plaid Link refuses
//     (INVALID_LINK_TOKEN: expired or already used), are replaced without
//     the operator doing anything, a bounded number of times, and the
//     timeline says so.
//
// No attempt exists before the click. The prefetch reserves the id of the
// attempt that will use the token (Prepared.AttemptID): its Cybrid calls are
// made under that id (cybrid.WithAttempt) and its notes (Settings.OnPrefetch)
// carry it, so the attempt's timeline shows when and why each of its
// workflows was created. StartLink takes the customer's prepared token: a
// ready one starts the attempt in link_open at once; one still being
// prepared becomes the attempt's own and goes on from where it is (no second
// workflow). Either way the click makes exactly one attempt.
//
// Prepared tokens live on a Shelf, which outlives Flows: the session keeps
// one per environment (as it keeps the environment's timeline), so leaving
// an environment and coming back discards nothing still valid, and no token
// ever reaches another environment's Flow.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/guid"
	"linkdesk/app/problem"
)

const (
	// LinkTokenLifetime is how long a link_token_create token lives at
	// Plaid (Settings.TokenLifetime overrides it).
	LinkTokenLifetime = 4 * time.Hour
	// PrefetchMargin is how much of its lifetime a prepared token must
	// still have to be handed to Link: a Link session may last 30 minutes.
	// (A quarter of the lifetime when that is shorter.)
	PrefetchMargin = 30 * time.Minute
	// PrefetchCustomers bounds the customers with a prepared token: the
	// ones opened last.
	PrefetchCustomers = 4

	// prefetchTries bounds the workflows one preparation creates (the first
	// and its replacements after failures).
	prefetchTries = 3
	// prefetchRefusals bounds the prepared tokens Plaid Link may refuse in
	// a row for one customer before the flow stops preparing them (until
	// the customer is opened again).
	prefetchRefusals = 3
)

// The states of a Prepared token.
const (
	PreparedPending = "pending" // the workflow runs
	PreparedReady   = "ready"   // LinkToken is set
	PreparedGone    = "gone"    // discarded; Prepared.Gone says why
)

// Prepared is a link token prepared for a customer before any attempt
// exists: what the page needs to create Plaid Link ahead of the click.
// AttemptID is reserved for the attempt that will use the token. LinkToken
// is set only while the token is ready; it is for the page only — never
// logged, never in an Event.
type Prepared struct {
	CustomerGUID string `json:"customer_guid"`
	AttemptID    string `json:"attempt_id"`
	State        string `json:"state"`
	WorkflowGUID string `json:"workflow_guid,omitempty"`
	LinkToken    string `json:"link_token,omitempty"`
	// RequestedAt is when the current workflow was requested (the token's
	// life is counted from then); ReadyAt when its token arrived.
	RequestedAt time.Time `json:"requested_at,omitzero"`
	ReadyAt     time.Time `json:"ready_at,omitzero"`
	// UsableUntil is the last moment the token is handed to Link.
	UsableUntil time.Time `json:"usable_until,omitzero"`
	// Why says why the current workflow was created; Gone why the token
	// was discarded.
	Why  string `json:"why,omitempty"`
	Gone string `json:"gone,omitempty"`
}

// PrefetchInfo is where an attempt's link token came from when it was
// prepared before the click (Attempt.Prefetched).
type PrefetchInfo struct {
	WorkflowGUID string    `json:"workflow_guid,omitempty"`
	RequestedAt  time.Time `json:"requested_at"`
	// ReadyAt is when the prepared token arrived; zero when the click came
	// first (the attempt then waited for it).
	ReadyAt time.Time `json:"ready_at,omitzero"`
	Why     string    `json:"why"`
	// Replaced counts the tokens Plaid Link refused during the attempt and
	// the flow replaced.
	Replaced int `json:"replaced,omitempty"`
}

// Shelf keeps one environment's prepared link tokens, across the Flows that
// run that environment one after the other. Give a Shelf to the Flows of
// one environment and one set of credentials only (Settings.Shelf). It is
// safe for concurrent use.
type Shelf struct {
	mu       sync.Mutex
	notifyMu sync.Mutex // serialises OnPrefetch calls, in the order they were made
	entries  map[string]*shelved
	recent   []string // customers opened, the one opened last at the end
}

// NewShelf returns an empty Shelf.
func NewShelf() *Shelf { return &Shelf{entries: map[string]*shelved{}} }

// Get returns the customer's prepared token (pending or ready), if any.
func (s *Shelf) Get(customerGUID string) (Prepared, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[customerGUID]
	if e == nil {
		return Prepared{}, false
	}
	return e.snapshot(), true
}

// Len returns how many customers have a prepared token (pending or ready).
func (s *Shelf) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// shelved is a Shelf's record of one customer's token; guarded by the
// Shelf's mu.
type shelved struct {
	p        Prepared
	checked  bool // the customer was read and can link
	tries    int  // workflows created by the current preparation
	refusals int  // tokens Plaid Link refused before a click
	polls    int

	owner   *Flow              // the Flow whose goroutine prepares it (nil: none)
	cancel  context.CancelFunc // ends that goroutine
	running bool
	gen     int // the goroutine's generation: a replaced one's reports are ignored
	// adopted: StartLink made it an attempt; the goroutine now reports to
	// that attempt, and the record is off the shelf.
	adopted bool
	timer   *time.Timer // the expiry watch of a ready token
}

func (e *shelved) snapshot() Prepared {
	p := e.p
	if p.State != PreparedReady {
		p.LinkToken = ""
	}
	return p
}

// prefetchNote is one OnPrefetch call, collected under the Shelf's lock and
// made after it.
type prefetchNote struct {
	p  Prepared
	ev Event
}

func (f *Flow) now() time.Time {
	if f.settings.Now != nil {
		return f.settings.Now()
	}
	return time.Now()
}

func (f *Flow) tokenLifetime() time.Duration {
	if f.settings.TokenLifetime > 0 {
		return f.settings.TokenLifetime
	}
	return LinkTokenLifetime
}

func (f *Flow) tokenMargin() time.Duration {
	return min(PrefetchMargin, f.tokenLifetime()/4)
}

// Prefetch is told that the operator opened customerGUID. With prefetching
// on (Settings.Shelf) it makes sure a link token is being prepared or is
// ready for that customer, and returns it; it returns false when nothing is
// prepared: prefetching is off, the flow is closing, or a link attempt of
// the customer is running. It returns at once: the customer is read and the
// workflow created and polled in the background, and every step is
// reported to Settings.OnPrefetch. Opening the customer counts towards the
// PrefetchCustomers opened last; the token of a customer who drops out of
// them is discarded.
func (f *Flow) Prefetch(customerGUID string) (Prepared, bool, error) {
	if err := guid.Check("customer GUID", customerGUID); err != nil {
		return Prepared{}, false, err
	}
	s := f.settings.Shelf
	if s == nil || f.ctx.Err() != nil {
		return Prepared{}, false, nil
	}
	var notes []prefetchNote
	s.mu.Lock()
	for _, old := range s.touchLocked(customerGUID) {
		notes = append(notes, f.dropLocked(old, fmt.Sprintf("Discarded the link token prepared for this customer: %d other customers were opened since (linkdesk keeps prepared tokens for the %d customers opened last)", PrefetchCustomers, PrefetchCustomers)))
	}
	if f.linkRunning(customerGUID) {
		f.notifyUnlock(notes)
		return Prepared{}, false, nil
	}
	e := s.entries[customerGUID]
	now := f.now()
	switch {
	case e == nil:
		e = f.newLocked(customerGUID, "the operator opened the customer")
		notes = append(notes, f.startLocked(e))
	case e.p.State == PreparedReady && now.Before(e.p.UsableUntil):
		if e.owner != f {
			// Prepared before the environment was left: this Flow
			// watches its expiry from now on.
			e.owner = f
			f.armLocked(e)
		}
	case e.p.State == PreparedReady:
		notes = append(notes, f.dropLocked(e, fmt.Sprintf("The link token prepared at %s has less than %s left; preparing a new one", clock(e.p.ReadyAt), ago(f.tokenMargin()))))
		e = f.newLocked(customerGUID, "the operator opened the customer again, and the token prepared earlier was about to expire")
		notes = append(notes, f.startLocked(e))
	case !e.running || e.owner != f:
		// Left behind by a Flow that closed (the environment was left):
		// follow its workflow again, or start over when it had none.
		notes = append(notes, f.startLocked(e))
	}
	p := e.snapshot()
	f.notifyUnlock(notes)
	return p, true, nil
}

// PrefetchRefused is told that Plaid Link, created ahead of the click with
// the prepared token of attempt id attemptID, refused it before any click
// (onExit with an error while Link initialised: INVALID_LINK_TOKEN when the
// token expired or was already used). The token is discarded and a new one
// prepared under the same attempt id, without the operator doing anything —
// at most prefetchRefusals times in a row. It returns the new preparation,
// or false when nothing is prepared under that id any more (the click took
// it, or it was discarded).
func (f *Flow) PrefetchRefused(attemptID string, linkErr *LinkError) (Prepared, bool, error) {
	if err := CheckAttemptID(attemptID); err != nil {
		return Prepared{}, false, err
	}
	s := f.settings.Shelf
	if s == nil || f.ctx.Err() != nil {
		return Prepared{}, false, nil
	}
	s.mu.Lock()
	var e *shelved
	for _, x := range s.entries {
		if x.p.AttemptID == attemptID {
			e = x
		}
	}
	if e == nil || e.p.State != PreparedReady {
		s.mu.Unlock()
		return Prepared{}, false, nil
	}
	code, msg := "unknown", "no error given"
	if linkErr != nil {
		code, msg = linkErr.ErrorCode, linkErr.ErrorMessage
	}
	e.refusals++
	data := map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": e.p.WorkflowGUID, "error_code": code, "refusals": e.refusals}
	var notes []prefetchNote
	if e.refusals > prefetchRefusals {
		notes = append(notes, f.dropLocked(e, fmt.Sprintf("Plaid Link refused %d prepared link tokens in a row (last: %s: %s); no more are prepared until the customer is opened again", e.refusals, code, msg)))
		f.notifyUnlock(notes)
		return Prepared{}, false, nil
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.p.State, e.p.LinkToken, e.p.WorkflowGUID = PreparedPending, "", ""
	e.p.ReadyAt, e.p.UsableUntil = time.Time{}, time.Time{}
	e.p.Why = "Plaid Link refused the token prepared before (" + code + ")"
	e.tries, e.polls = 0, 0
	notes = append(notes, f.noteLocked(e, "prefetch", fmt.Sprintf("Plaid Link refused the prepared link token before the click (%s: %s): it expired or was already used. Preparing a new one; nothing for the operator to do", code, msg), data))
	notes = append(notes, f.startLocked(e))
	p := e.snapshot()
	f.notifyUnlock(notes)
	return p, true, nil
}

// LinkShown records that Plaid Link was on screen and usable took after
// the click that started attempt id (measured by the page: the simulated
// Link reports its first pane rendered and accepting input; with Plaid's
// own Link the OPEN event stands in). signal names that landmark;
// prepared says whether Link had been created before the click; phases are
// the times from the click to the steps on the way (data.phases_ms, for
// finding where the time goes).
func (f *Flow) LinkShown(id string, took time.Duration, signal string, prepared bool, phases map[string]time.Duration) error {
	how := "Link created at the click"
	if prepared {
		how = "Link created before the click"
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()/100) / 10 }
	data := map[string]any{"click_to_usable_ms": ms(took), "signal": signal, "prepared": prepared}
	if len(phases) > 0 {
		p := map[string]any{}
		for k, v := range phases {
			p[k] = ms(v)
		}
		data["phases_ms"] = p
	}
	return f.noteData(id, "link_window", fmt.Sprintf("Plaid Link on screen and usable %d ms after the click (%s)", took.Milliseconds(), how), data)
}

// takePrepared gives a click on Link bank account the customer's prepared
// token: a ready one starts the attempt in link_open; one still being
// prepared becomes the attempt's own. It reports false when the customer
// has none; a prepared token too close to its expiry is discarded, and the
// attempt then creates a new one under the id the prefetch had reserved.
func (f *Flow) takePrepared(customerGUID string) (Attempt, bool) {
	s := f.settings.Shelf
	if s == nil {
		return Attempt{}, false
	}
	s.mu.Lock()
	e := s.entries[customerGUID]
	if e == nil || f.ctx.Err() != nil {
		s.mu.Unlock()
		return Attempt{}, false
	}
	now := f.now()
	var notes []prefetchNote
	var snap Attempt
	info := &PrefetchInfo{WorkflowGUID: e.p.WorkflowGUID, RequestedAt: e.p.RequestedAt, ReadyAt: e.p.ReadyAt, Why: e.p.Why}
	data := map[string]any{"prefetched": true, "workflow_guid": e.p.WorkflowGUID, "why": e.p.Why}
	switch {
	case e.p.State == PreparedReady && !now.Before(e.p.UsableUntil):
		notes = append(notes, f.dropLocked(e, fmt.Sprintf("The link token prepared at %s has less than %s left; the click creates a new one", clock(e.p.ReadyAt), ago(f.tokenMargin()))))
		info.ReadyAt = time.Time{}
		info.Why = "the token prepared at " + clock(e.p.ReadyAt) + " was about to expire"
		data["why"] = info.Why
		snap = f.beginAdopted(e.p.AttemptID, customerGUID, CreatingWorkflow, info,
			Event{Type: "state", Message: "Creating a Plaid link token: the one prepared at " + clock(e.p.ReadyAt) + " was about to expire", Data: data}, nil, f.getLinkToken)
	case e.p.State == PreparedReady:
		delete(s.entries, customerGUID)
		if e.timer != nil {
			e.timer.Stop()
		}
		e.adopted = true
		data["requested_at"], data["ready_at"] = e.p.RequestedAt, e.p.ReadyAt
		msg := fmt.Sprintf("Opening Plaid Link with the link token prepared %s ago (workflow %s; %s)", ago(now.Sub(e.p.ReadyAt)), e.p.WorkflowGUID, e.p.Why)
		snap = f.beginAdopted(e.p.AttemptID, customerGUID, LinkOpen, info, Event{Type: "state", Message: msg, Data: data}, func(a *attempt) {
			a.LinkToken = e.p.LinkToken
			a.WorkflowGUID = e.p.WorkflowGUID
		}, nil)
	default: // pending: the attempt goes on with it
		delete(s.entries, customerGUID)
		e.adopted = true
		if !e.running || e.owner != f {
			notes = append(notes, f.startLocked(e))
		}
		state, msg := CreatingWorkflow, fmt.Sprintf("Taking over the link token being prepared since %s (%s)", clock(e.p.RequestedAt), e.p.Why)
		if e.p.WorkflowGUID != "" {
			state = WaitingForToken
			msg = fmt.Sprintf("Waiting for the link token being prepared since %s (workflow %s; %s)", clock(e.p.RequestedAt), e.p.WorkflowGUID, e.p.Why)
		}
		cancel := e.cancel
		polls := e.polls
		snap = f.beginAdopted(e.p.AttemptID, customerGUID, state, info, Event{Type: "state", Message: msg, Data: data}, func(a *attempt) {
			a.WorkflowGUID = e.p.WorkflowGUID
			a.Polls = polls
			prev := a.cancel
			a.cancel = func() { prev(); cancel() }
		}, nil)
	}
	f.notifyUnlock(notes)
	return snap, true
}

// beginAdopted records the attempt id (reserved by a prefetch) in state
// first, lets set finish it, reports it with ev, and runs run (if any) in a
// goroutine as begin does. The caller may hold the Shelf's lock.
func (f *Flow) beginAdopted(id, customerGUID string, first State, info *PrefetchInfo, ev Event, set func(*attempt), run func(ctx context.Context, id string)) Attempt {
	now := time.Now()
	ctx, cancel := context.WithCancel(cybrid.WithAttempt(f.ctx, id))
	a := &attempt{
		Attempt: Attempt{
			ID: id, Kind: KindLink, CustomerGUID: customerGUID,
			State: first, StartedAt: now, UpdatedAt: now, StateSince: now, Rev: 1,
			Prefetched: info,
		},
		cancel: cancel,
	}
	if set != nil {
		set(a)
	}
	f.mu.Lock()
	f.attempts[id] = a
	snap := a.Attempt
	f.notifyMu.Lock()
	f.mu.Unlock()
	f.emit(snap, ev)
	f.notifyMu.Unlock()
	if run != nil {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			run(ctx, id)
		}()
	}
	return snap
}

// replaceRefused handles onExit for an attempt whose prepared token Plaid
// Link refused after the click (INVALID_LINK_TOKEN: it expired or was
// already used): instead of failing, the attempt creates a new token and
// opens Link again with it — once per attempt — and the callback is recorded
// saying so. It reports whether it did; otherwise onExit is applied as
// usual.
func (f *Flow) replaceRefused(id string, linkErr *LinkError, ev Event) bool {
	if linkErr == nil || linkErr.ErrorCode != "INVALID_LINK_TOKEN" {
		return false
	}
	err := f.update(id, func(a *attempt) (Event, error) {
		if a.State != LinkOpen || a.Prefetched == nil || a.Prefetched.Replaced > 0 {
			return Event{}, errNotReplaced
		}
		info := *a.Prefetched
		info.Replaced++
		a.Prefetched = &info
		a.LinkToken = ""
		a.oauthWaiting = false
		a.State = CreatingWorkflow
		a.Polls = 0
		ev.Message = "Plaid Link: onExit — INVALID_LINK_TOKEN: the prepared link token expired or was already used; creating a new one (nothing for the operator to do)"
		return ev, nil
	})
	if err != nil {
		return false
	}
	ctx := f.attemptCtx(id)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.getLinkToken(ctx, id)
	}()
	return true
}

var errNotReplaced = errors.New("not a prepared token to replace")

// linkRunning reports whether a link attempt of the customer has not ended.
func (f *Flow) linkRunning(customerGUID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.attempts {
		if a.CustomerGUID == customerGUID && a.Kind == KindLink && !a.State.Final() {
			return true
		}
	}
	return false
}

// touchLocked makes customerGUID the customer opened last and returns the
// records of the customers that drop out of the PrefetchCustomers opened
// last.
func (s *Shelf) touchLocked(customerGUID string) []*shelved {
	for i, c := range s.recent {
		if c == customerGUID {
			s.recent = append(s.recent[:i], s.recent[i+1:]...)
			break
		}
	}
	s.recent = append(s.recent, customerGUID)
	var out []*shelved
	for len(s.recent) > PrefetchCustomers {
		if e := s.entries[s.recent[0]]; e != nil {
			out = append(out, e)
		}
		s.recent = s.recent[1:]
	}
	return out
}

func (s *Shelf) lastOpenedLocked() string {
	if len(s.recent) == 0 {
		return ""
	}
	return s.recent[len(s.recent)-1]
}

// newLocked puts a new, pending record for the customer on the shelf.
func (f *Flow) newLocked(customerGUID, why string) *shelved {
	e := &shelved{p: Prepared{CustomerGUID: customerGUID, AttemptID: newID(), State: PreparedPending, Why: why}}
	f.settings.Shelf.entries[customerGUID] = e
	return e
}

// startLocked starts the goroutine that prepares e under this Flow: it
// reads the customer (once), then creates the workflow (or follows the one
// e has) and polls it.
func (f *Flow) startLocked(e *shelved) prefetchNote {
	if e.cancel != nil {
		e.cancel() // a goroutine of a Flow that is closing
	}
	ctx, cancel := context.WithCancel(cybrid.WithAttempt(f.ctx, e.p.AttemptID))
	e.owner, e.cancel, e.running = f, cancel, true
	e.gen++
	gen := e.gen
	msg := "Preparing a link token before the click: " + e.p.Why
	if e.p.WorkflowGUID != "" {
		msg = "Following the link-token workflow " + e.p.WorkflowGUID + " again (it was being prepared when linkdesk left the environment)"
	}
	n := f.noteLocked(e, "prefetch", msg, map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": e.p.WorkflowGUID, "why": e.p.Why})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.prepare(ctx, &job{e: e, gen: gen})
	}()
	return n
}

// dropLocked takes e off the shelf, stops its goroutine and its expiry
// watch, and returns the note that says why.
func (f *Flow) dropLocked(e *shelved, why string) prefetchNote {
	s := f.settings.Shelf
	if s.entries[e.p.CustomerGUID] == e {
		delete(s.entries, e.p.CustomerGUID)
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.cancel != nil {
		e.cancel()
	}
	e.p.State, e.p.Gone = PreparedGone, why
	return f.noteLocked(e, "prefetch", why, map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": e.p.WorkflowGUID, "gone": true})
}

// noteLocked is the OnPrefetch note msg about e (no token in it).
func (f *Flow) noteLocked(e *shelved, typ, msg string, data map[string]any) prefetchNote {
	if data == nil {
		data = map[string]any{}
	}
	data["prepared"] = e.p.State
	return prefetchNote{p: e.snapshot(), ev: Event{AttemptID: e.p.AttemptID, Time: time.Now(), Type: typ, Message: msg, Data: data}}
}

// notifyUnlock releases the Shelf's lock and makes the OnPrefetch calls in
// order, each logged.
func (f *Flow) notifyUnlock(notes []prefetchNote) {
	s := f.settings.Shelf
	s.notifyMu.Lock()
	s.mu.Unlock()
	defer s.notifyMu.Unlock()
	for _, n := range notes {
		attrs := []any{"attempt", n.ev.AttemptID, "customer", n.p.CustomerGUID, "prepared", n.p.State, "type", n.ev.Type}
		if len(n.ev.Data) > 0 {
			attrs = append(attrs, "data", jsonValue{n.ev.Data})
		}
		f.log.Info(n.ev.Message, attrs...)
		if f.settings.OnPrefetch != nil {
			f.settings.OnPrefetch(n.p, n.ev)
		}
	}
}

// armLocked watches a ready token's expiry: when it may no longer be
// handed to Link it is dropped, and replaced when its customer is the one
// opened last.
func (f *Flow) armLocked(e *shelved) {
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timer = time.AfterFunc(max(e.p.UsableUntil.Sub(f.now()), 0), func() { f.expire(e) })
}

func (f *Flow) expire(e *shelved) {
	s := f.settings.Shelf
	if f.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if s.entries[e.p.CustomerGUID] != e || e.p.State != PreparedReady || e.owner != f {
		s.mu.Unlock()
		return
	}
	if f.now().Before(e.p.UsableUntil) {
		f.armLocked(e)
		s.mu.Unlock()
		return
	}
	cust := e.p.CustomerGUID
	var notes []prefetchNote
	if s.lastOpenedLocked() == cust && !f.linkRunning(cust) {
		notes = append(notes, f.dropLocked(e, fmt.Sprintf("The link token prepared at %s has less than %s left; replacing it for the customer opened last", clock(e.p.ReadyAt), ago(f.tokenMargin()))))
		n := f.newLocked(cust, "the token prepared at "+clock(e.p.ReadyAt)+" was about to expire")
		notes = append(notes, f.startLocked(n))
	} else {
		notes = append(notes, f.dropLocked(e, fmt.Sprintf("The link token prepared at %s has less than %s left; discarded (other customers were opened since: a new one is prepared when this one is opened again)", clock(e.p.ReadyAt), ago(f.tokenMargin()))))
	}
	f.notifyUnlock(notes)
}

// job is one goroutine preparing a shelf record; gen tells it from a
// goroutine that replaced it (whose record it then no longer touches).
type job struct {
	e   *shelved
	gen int
}

// lock takes the Shelf's lock and reports whether the job is still the
// record's own; when it is not, the lock is released.
func (f *Flow) lock(j *job) bool {
	f.settings.Shelf.mu.Lock()
	if j.e.gen != j.gen {
		f.settings.Shelf.mu.Unlock()
		return false
	}
	return true
}

// prepare is the goroutine behind a shelf record: it reads the customer
// (once), creates the link-token workflow — a new one after a failure, at
// most prefetchTries in all — and polls it, reporting to the record or,
// once a click adopted it, to the attempt.
func (f *Flow) prepare(ctx context.Context, j *job) {
	e := j.e
	s := f.settings.Shelf
	if !f.lock(j) {
		return
	}
	cust, wf, checked := e.p.CustomerGUID, e.p.WorkflowGUID, e.checked
	s.mu.Unlock()
	if !checked {
		err := f.customerCanLink(ctx, cust)
		if ctx.Err() != nil {
			f.prepareStopped(j)
			return
		}
		if err != nil {
			p := problem.Classify(err)
			code := ""
			if p.Kind == problem.CustomerState {
				code = "customer_state"
			} else {
				p = causeProblem("Reading the customer before preparing a link token failed.", err)
			}
			f.prepareFailed(j, code, p)
			return
		}
		if !f.lock(j) {
			return
		}
		e.checked = true
		s.mu.Unlock()
	}
	req := cybrid.PostWorkflow{
		Type: "plaid", Kind: cybrid.LinkTokenCreate, Language: f.settings.Language,
		LinkCustomizationName: f.settings.LinkCustomizationName, CustomerGUID: cust, RedirectURI: f.settings.RedirectURI,
	}
	for {
		if wf == "" {
			if !f.lock(j) {
				return
			}
			e.tries++
			try := e.tries
			e.p.RequestedAt = f.now()
			s.mu.Unlock()
			w, err := f.api.CreateWorkflow(ctx, req)
			if ctx.Err() != nil {
				f.prepareStopped(j)
				return
			}
			if err != nil {
				if try < prefetchTries && (errors.Is(err, cybrid.ErrAmbiguous) || cybrid.IsTemporary(err)) {
					f.prepareNote(j, "retry", fmt.Sprintf("Creating the link-token workflow failed (%v); creating a new one", err), nil)
					if !sleepCtx(ctx, max(cybrid.RetryAfter(err), time.Duration(try)*500*time.Millisecond)) {
						f.prepareStopped(j)
						return
					}
					continue
				}
				f.prepareFailed(j, "", causeProblem("Cybrid did not create the link-token workflow.", err))
				return
			}
			wf = w.GUID
			f.prepareWorkflow(j, wf)
		}
		final, polls, err := f.pollPrepared(ctx, j, wf)
		switch {
		case errors.Is(err, ErrPollDeadline):
			msg := fmt.Sprintf("Cybrid did not produce a link token within %s (%d polls). Try again; if it keeps happening, Cybrid may be degraded.", f.settings.WorkflowTimeout, polls)
			f.prepareFailed(j, "timeout", problem.Problem{Kind: problem.CybridFailure, Headline: msg, Action: problem.TryAgain,
				Detail: fmt.Sprintf("workflow %s still had no plaid_link_token after %s", wf, f.settings.WorkflowTimeout)})
			return
		case ctx.Err() != nil:
			f.prepareStopped(j)
			return
		case err != nil:
			f.prepareFailed(j, "", causeProblem("Checking the link-token workflow failed.", err))
			return
		case final.State == cybrid.WorkflowFailed:
			code := final.FailureCode
			if !f.lock(j) {
				return
			}
			try := e.tries
			s.mu.Unlock()
			if try < prefetchTries {
				f.prepareNote(j, "retry", fmt.Sprintf("The link-token workflow %s failed (failure code %s); creating a replacement", wf, orUnknown(code)), map[string]any{"workflow_guid": wf, "failure_code": code})
				wf = ""
				continue
			}
			msg := fmt.Sprintf("Cybrid could not create a Plaid link token (failure code %s). Try again; if it fails again, report the workflow GUID %s and the failure code to Cybrid support.", orUnknown(code), wf)
			f.prepareFailed(j, code, problem.Problem{Kind: problem.CybridFailure, Headline: msg, Action: problem.TryAgain,
				Detail: fmt.Sprintf("workflow %s: state failed, failure_code %s", wf, problem.Quote(orUnknown(code), 64))})
			return
		}
		f.prepareReady(j, final.PlaidLinkToken, polls)
		return
	}
}

func (f *Flow) pollPrepared(ctx context.Context, j *job, wf string) (cybrid.Workflow, int, error) {
	return f.pollLinkToken(ctx, wf,
		func(msg string) { f.prepareNote(j, "poll", msg, nil) },
		func() { f.preparePolled(j) })
}

// updateRunning applies change to attempt id unless it has ended.
func (f *Flow) updateRunning(id string, change func(a *attempt) Event) {
	f.update(id, func(a *attempt) (Event, error) {
		if a.State.Final() {
			return Event{}, errors.New("already ended")
		}
		return change(a), nil
	})
}

func (f *Flow) prepareNote(j *job, typ, msg string, data map[string]any) {
	if !f.lock(j) {
		return
	}
	e := j.e
	if e.adopted {
		f.settings.Shelf.mu.Unlock()
		f.noteData(e.p.AttemptID, typ, msg, data)
		return
	}
	f.notifyUnlock([]prefetchNote{f.noteLocked(e, typ, msg, data)})
}

func (f *Flow) prepareWorkflow(j *job, wf string) {
	if !f.lock(j) {
		return
	}
	e := j.e
	e.p.WorkflowGUID = wf
	e.polls = 0
	if e.adopted {
		f.settings.Shelf.mu.Unlock()
		f.updateRunning(e.p.AttemptID, func(a *attempt) Event {
			a.WorkflowGUID = wf
			a.State = WaitingForToken
			a.Polls = 0
			if a.Prefetched != nil {
				info := *a.Prefetched
				info.WorkflowGUID = wf
				a.Prefetched = &info
			}
			return Event{Type: "state", Message: "Waiting for Cybrid to create the Plaid link token", Data: map[string]any{"workflow_guid": wf}}
		})
		return
	}
	f.notifyUnlock([]prefetchNote{f.noteLocked(e, "prefetch", fmt.Sprintf("Workflow %s created to prepare a link token (%s)", wf, e.p.Why),
		map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": wf, "why": e.p.Why})})
}

func (f *Flow) preparePolled(j *job) {
	if !f.lock(j) {
		return
	}
	e := j.e
	e.polls++
	adopted := e.adopted
	f.settings.Shelf.mu.Unlock()
	if adopted {
		f.countPoll(e.p.AttemptID)
	}
}

func (f *Flow) prepareReady(j *job, token string, polls int) {
	if !f.lock(j) {
		return
	}
	e := j.e
	now := f.now()
	e.running = false
	e.p.LinkToken, e.p.ReadyAt = token, now
	e.p.UsableUntil = e.p.RequestedAt.Add(f.tokenLifetime() - f.tokenMargin())
	took := now.Sub(e.p.RequestedAt)
	if e.adopted {
		f.settings.Shelf.mu.Unlock()
		f.updateRunning(e.p.AttemptID, func(a *attempt) Event {
			a.LinkToken = token
			a.State = LinkOpen
			if a.Prefetched != nil {
				info := *a.Prefetched
				info.ReadyAt = now
				a.Prefetched = &info
			}
			return Event{Type: "state", Message: "Link token ready; opening Plaid Link", Data: map[string]any{"polls": polls}}
		})
		return
	}
	e.p.State = PreparedReady
	f.armLocked(e)
	n := f.noteLocked(e, "prefetch", fmt.Sprintf("Link token prepared in %s (workflow %s, %d polls); kept for a click on Link bank account until %s", ago(took), e.p.WorkflowGUID, polls, clock(e.p.UsableUntil)),
		map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": e.p.WorkflowGUID, "polls": polls, "usable_until": e.p.UsableUntil.UTC().Format(time.RFC3339)})
	f.notifyUnlock([]prefetchNote{n})
}

// prepareFailed ends a preparation with code and the problem p: an attempt
// that adopted it fails with them (Error is p's text); otherwise the
// customer's shelf entry goes, with a note.
func (f *Flow) prepareFailed(j *job, code string, p problem.Problem) {
	msg := p.Text()
	if !f.lock(j) {
		return
	}
	e := j.e
	e.running = false
	if e.adopted {
		f.settings.Shelf.mu.Unlock()
		f.fail(e.p.AttemptID, code, msg, p)
		return
	}
	data := map[string]any{"customer_guid": e.p.CustomerGUID, "workflow_guid": e.p.WorkflowGUID, "gone": true}
	if code != "" {
		data["code"] = code
	}
	n := f.dropLocked(e, "No link token prepared: "+msg)
	for k, v := range data {
		n.ev.Data[k] = v
	}
	f.notifyUnlock([]prefetchNote{n})
}

// prepareStopped: the job's context ended — its Flow closed, the record was
// dropped, or the adopting attempt was cancelled. A workflow already created
// stays on the shelf for the environment's next Flow.
func (f *Flow) prepareStopped(j *job) {
	if !f.lock(j) {
		return
	}
	e := j.e
	s := f.settings.Shelf
	e.running = false
	if e.adopted || s.entries[e.p.CustomerGUID] != e {
		s.mu.Unlock()
		return
	}
	e.owner, e.cancel = nil, nil
	if e.p.WorkflowGUID == "" {
		f.notifyUnlock([]prefetchNote{f.dropLocked(e, "The link token was not prepared: linkdesk left the environment before creating its workflow")})
		return
	}
	f.notifyUnlock([]prefetchNote{f.noteLocked(e, "prefetch", "Preparing the link token paused: linkdesk left the environment; its workflow "+e.p.WorkflowGUID+" is followed again when the customer is opened", nil)})
}

// clock is t as the operator's wall clock shows it.
func clock(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.Local().Format("15:04:05")
}

// ago is a short human duration: "850 ms", "12 s", "3 min 20 s", "30 min",
// "2 h 5 min".
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", max(d.Milliseconds(), 0))
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d < time.Hour && int(d.Seconds())%60 == 0:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case int(d.Minutes())%60 == 0:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}
