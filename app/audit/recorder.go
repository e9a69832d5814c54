package audit

import (
	"fmt"
	"sort"
	"sync"

	"linkdesk/app/linkflow"
)

// Recorder records the actions of one environment in a Log: it stamps the
// environment on every record, fills in bank names, and keeps the
// environment's API client secret out of them. Its methods are safe for
// concurrent use; a nil Recorder, or one on a log that is off, records
// nothing.
type Recorder struct {
	log     *Log
	env     string
	names   func(institutionID string) string
	secrets []string

	mu sync.Mutex
	// running are the attempts that started and have not ended, as last
	// seen.
	running map[string]linkflow.Attempt
}

// For returns a Recorder for the environment env. names, when not nil,
// gives a bank's name for its Plaid institution id ("" unknown); secrets are
// values never to be written (the environment's client secret).
func (l *Log) For(env string, names func(institutionID string) string, secrets ...string) *Recorder {
	return &Recorder{log: l, env: env, names: names, secrets: secrets, running: map[string]linkflow.Attempt{}}
}

// Log is the log r appends to (nil for a nil Recorder).
func (r *Recorder) Log() *Log {
	if r == nil {
		return nil
	}
	return r.log
}

// Record appends rec with r's environment, naming the bank from its
// institution id when rec does not. See Log.Append.
func (r *Recorder) Record(rec Record) error {
	if r == nil {
		return nil
	}
	rec.Environment = r.env
	if rec.Institution == "" && rec.InstitutionID != "" && r.names != nil {
		rec.Institution = r.names(rec.InstitutionID)
	}
	return r.log.Append(rec, r.secrets...)
}

// ObserveAttempt is a linkflow.Observer: it records an attempt when it
// starts (its first snapshot) and when it ends (its first snapshot in a
// final state) — link, refresh or verify, with the outcome: success, failure
// (with the code and what to do), exited (the customer left Link) or
// cancelled (by the operator). Other events are not recorded.
func (r *Recorder) ObserveAttempt(a linkflow.Attempt, ev linkflow.Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	_, running := r.running[a.ID]
	var rec *Record
	switch {
	case !running && !a.State.Final():
		r.running[a.ID] = a
		rec = &Record{Time: ev.Time, Outcome: OutcomeStarted, Detail: ev.Message}
	case running && a.State.Final():
		delete(r.running, a.ID)
		end := ended(a, ev)
		rec = &end
	case running:
		r.running[a.ID] = a
	}
	r.mu.Unlock()
	if rec == nil {
		return
	}
	fill(rec, a)
	r.Record(*rec)
}

// Abandon records every attempt that started and has not ended as
// abandoned, saying why (e.g. its environment closed). Call it after the
// flow has stopped.
func (r *Recorder) Abandon(why string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	left := make([]linkflow.Attempt, 0, len(r.running))
	for _, a := range r.running {
		left = append(left, a)
	}
	clear(r.running)
	r.mu.Unlock()
	sort.Slice(left, func(i, j int) bool { return left[i].StartedAt.Before(left[j].StartedAt) })
	for _, a := range left {
		rec := Record{Outcome: OutcomeAbandoned, Detail: fmt.Sprintf("%s; it was at the step %s. Check the customer's accounts before starting again.", why, a.State)}
		fill(&rec, a)
		r.Record(rec)
	}
}

// ended is the record of an attempt's end.
func ended(a linkflow.Attempt, ev linkflow.Event) Record {
	rec := Record{Time: ev.Time, Code: a.Code}
	switch {
	case a.State == linkflow.Done:
		rec.Outcome = OutcomeSuccess
		rec.Detail = ev.Message
		if a.Account != nil && a.Account.State != "" {
			rec.Detail += " (account " + a.Account.State + ")"
		}
	case a.State == linkflow.Exited && a.ExitStatus == "cancelled":
		rec.Outcome, rec.Detail = OutcomeCancelled, a.Error
	case a.State == linkflow.Exited:
		rec.Outcome, rec.Detail = OutcomeExited, a.Error
	default:
		rec.Outcome, rec.Detail = OutcomeFailure, a.Error
	}
	return rec
}

// fill sets what every record of attempt a carries.
func fill(rec *Record, a linkflow.Attempt) {
	rec.Action = actionOf(a.Kind)
	rec.CustomerGUID, rec.AttemptID = a.CustomerGUID, a.ID
	rec.AccountGUID = a.AccountGUID
	rec.Institution = a.Institution
	if a.Account != nil {
		if rec.AccountGUID == "" {
			rec.AccountGUID = a.Account.GUID
		}
		rec.InstitutionID = a.Account.InstitutionID
	}
}

func actionOf(k linkflow.Kind) Action {
	switch k {
	case linkflow.KindRefresh:
		return ActionRefresh
	case linkflow.KindVerify:
		return ActionVerify
	}
	return ActionLink
}
