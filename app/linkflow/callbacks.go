package linkflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"linkdesk/app/redact"
)

// CallbackKind names one of Plaid Link's callbacks.
type CallbackKind string

// Plaid Link's callbacks (Plaid.create's onLoad, onEvent, onExit, onSuccess).
const (
	OnLoad    CallbackKind = "onLoad"
	OnEvent   CallbackKind = "onEvent"
	OnExit    CallbackKind = "onExit"
	OnSuccess CallbackKind = "onSuccess"
)

// Callback is one call Plaid Link made to the page, forwarded whole.
type Callback struct {
	Kind CallbackKind
	// Seq numbers the attempt's callbacks in the order Link delivered them
	// to the page: 1, 2, 3… for the whole attempt, across re-creations of
	// Link (the OAuth return). The page numbers them as they happen, so the
	// flow can apply them in that order whatever order they reach it in.
	Seq int
	// At is when Link delivered it, by the page's clock (zero: unknown).
	At time.Time
	// EventName is onEvent's first argument.
	EventName string
	// PublicToken is onSuccess's first argument. It stays in the flow.
	PublicToken string
	// Error is onExit's first argument; absent or null when there was none.
	Error json.RawMessage
	// Metadata is the callback's metadata argument, as Link gave it.
	Metadata json.RawMessage
}

// DefaultCallbackGap is how long a Plaid callback that arrived before an
// earlier one waits for it (Settings.CallbackGap) before the earlier one is
// recorded as lost.
const DefaultCallbackGap = 2 * time.Second

// ErrDuplicateCallback is returned by Deliver for a Seq already applied.
var ErrDuplicateCallback = errors.New("this Plaid callback was already delivered")

// seqState orders an attempt's Plaid callbacks (see Deliver).
type seqState struct {
	next   int           // the Seq whose turn it is (0: 1)
	wake   chan struct{} // closed when next moves on
	active bool          // a callback holds the turn
	lost   map[int]bool  // Seqs given up on: they are applied late if they come
	done   map[int]bool  // Seqs below next that were applied late
}

func (q *seqState) init() {
	if q.next == 0 {
		q.next = 1
	}
	if q.wake == nil {
		q.wake = make(chan struct{})
	}
}

// Deliver applies one Plaid Link callback of attempt id, in Seq order:
//
//   - a callback that arrives before an earlier one waits for it, at most
//     Settings.CallbackGap; then the missing ones are recorded as lost
//     (a note on the attempt) and it goes on;
//   - a lost callback that turns up later is still applied, and recorded as
//     arrived late (Data.late);
//   - a Seq already applied is ignored (ErrDuplicateCallback).
//
// Events keep what Link gave whole: the metadata, onExit's error (secrets
// redacted; the public token is never recorded), Seq and At. Deliver returns
// when the callback has been applied — for onSuccess, when the account
// creation has started — or with ctx's error while it waits its turn.
func (f *Flow) Deliver(ctx context.Context, id string, cb Callback) error {
	if cb.Seq < 1 {
		return fmt.Errorf("Plaid callback %s has no sequence number: the page numbers each callback of an attempt from 1", cb.Kind)
	}
	late, err := f.waitTurn(ctx, id, cb.Seq)
	if err != nil {
		return err
	}
	defer f.endTurn(id, cb.Seq, late)
	return f.apply(id, cb, late)
}

// waitTurn blocks until it is cb's turn. late reports a callback whose turn
// was given up on earlier.
func (f *Flow) waitTurn(ctx context.Context, id string, seq int) (late bool, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		f.mu.Lock()
		a, ok := f.attempts[id]
		if !ok {
			f.mu.Unlock()
			return false, fmt.Errorf("%w %.40q", ErrUnknownAttempt, id)
		}
		q := &a.seq
		q.init()
		switch {
		case seq < q.next:
			if q.lost[seq] && !q.done[seq] {
				if q.done == nil {
					q.done = map[int]bool{}
				}
				q.done[seq] = true
				f.mu.Unlock()
				return true, nil
			}
			f.mu.Unlock()
			return false, ErrDuplicateCallback
		case seq == q.next && !q.active:
			q.active = true
			f.mu.Unlock()
			return false, nil
		}
		wake := q.wake
		f.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(f.settings.CallbackGap)
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			f.giveUpBefore(id, seq)
		}
	}
}

// giveUpBefore records the callbacks before seq that have not arrived as
// lost, so that seq can go on.
func (f *Flow) giveUpBefore(id string, seq int) {
	var from, to int
	f.mu.Lock()
	a, ok := f.attempts[id]
	if ok && !a.seq.active && a.seq.next < seq {
		q := &a.seq
		from, to = q.next, seq-1
		if q.lost == nil {
			q.lost = map[int]bool{}
		}
		for n := from; n <= to; n++ {
			q.lost[n] = true
		}
		q.next = seq
		close(q.wake)
		q.wake = make(chan struct{})
	}
	f.mu.Unlock()
	if to == 0 {
		return
	}
	what := fmt.Sprintf("Plaid callback %d", from)
	if to > from {
		what = fmt.Sprintf("Plaid callbacks %d–%d", from, to)
	}
	f.noteData(id, "note", fmt.Sprintf("%s did not reach linkdesk within %s; later callbacks are recorded without waiting for it", what, f.settings.CallbackGap),
		map[string]any{"missing_from": from, "missing_to": to})
}

// endTurn passes the turn on after seq was applied.
func (f *Flow) endTurn(id string, seq int, late bool) {
	if late {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.attempts[id]
	if !ok {
		return
	}
	q := &a.seq
	q.active = false
	if q.next == seq {
		q.next = seq + 1
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// apply hands cb to the handler of its kind, with its evidence.
func (f *Flow) apply(id string, cb Callback, late bool) error {
	switch cb.Kind {
	case OnLoad:
		return f.record(id, callbackEvidence(cb, nil, late))
	case OnEvent:
		if cb.EventName == "" {
			return errors.New("onEvent carried no event name")
		}
		var meta map[string]any
		if err := lenient(cb.Metadata, &meta); err != nil {
			return fmt.Errorf("onEvent %s: metadata %w", cb.EventName, err)
		}
		return f.plaidEvent(id, cb.EventName, callbackEvidence(cb, meta, late))
	case OnExit:
		var meta ExitMetadata
		if err := lenient(cb.Metadata, &meta); err != nil {
			return fmt.Errorf("onExit: metadata %w", err)
		}
		var linkErr *LinkError
		if err := lenient(cb.Error, &linkErr); err != nil {
			return fmt.Errorf("onExit: error %w", err)
		}
		return f.exit(id, linkErr, meta, callbackEvidence(cb, nil, late))
	case OnSuccess:
		var meta SuccessMetadata
		if err := lenient(cb.Metadata, &meta); err != nil {
			return fmt.Errorf("onSuccess: metadata %w", err)
		}
		return f.success(id, cb.PublicToken, meta, callbackEvidence(cb, nil, late))
	}
	return fmt.Errorf("%q is not a Plaid Link callback (onLoad, onEvent, onExit, onSuccess)", cb.Kind)
}

// lenient decodes Plaid's data, to which Plaid adds fields without notice;
// absent or null leaves v as it is.
func lenient(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("does not have Plaid's shape: %v", err)
	}
	return nil
}

// callbackEvidence is the event recording cb: Data holds Seq, At (as
// delivered_at), the event name, and the metadata and onExit's error whole,
// redacted (decoded is cb.Metadata when the caller decoded it already).
func callbackEvidence(cb Callback, decoded map[string]any, late bool) Event {
	data := map[string]any{"seq": cb.Seq}
	if !cb.At.IsZero() {
		data["delivered_at"] = cb.At.UTC().Format(time.RFC3339Nano)
	}
	meta := decoded
	if meta == nil {
		json.Unmarshal(cb.Metadata, &meta)
	}
	if meta != nil {
		data["metadata"] = scrub.Map(meta)
	}
	if cb.Kind == OnExit {
		var e map[string]any
		json.Unmarshal(cb.Error, &e)
		if e != nil {
			data["error"] = scrub.Map(e)
		} else {
			data["error"] = nil
		}
	}
	ev := Event{Type: "plaid_callback", Message: "Plaid Link: " + string(cb.Kind), Data: data, Seq: cb.Seq, At: cb.At}
	if cb.Kind == OnEvent {
		ev.Type = "plaid_event"
		ev.Message = "Plaid Link event " + cb.EventName
		data["event"] = cb.EventName
	}
	if late {
		data["late"] = true
		ev.Message += " (arrived late)"
	}
	return ev
}

// callbackEvent is the evidence of a callback from a Go-side caller (no
// Seq): meta and linkErr are recorded as their JSON.
func callbackEvent(kind CallbackKind, eventName string, meta any, linkErr *LinkError) Event {
	cb := Callback{Kind: kind, EventName: eventName}
	cb.Metadata, _ = json.Marshal(meta)
	if linkErr != nil {
		cb.Error, _ = json.Marshal(linkErr)
	}
	ev := callbackEvidence(cb, nil, false)
	delete(ev.Data, "seq")
	return ev
}

// scrub keeps secrets out of recorded Plaid data (package redact's rules).
var scrub = redact.New(nil)
