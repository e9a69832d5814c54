// Package journal keeps a crash-safe record of linkdesk's in-flight link and
// refresh attempts, so that after linkdesk stops abruptly (kill -9, a power
// cut, a crash) the next start can say what became of each attempt: it
// reconciles every unfinished attempt with Cybrid (reconcile.go) and offers
// the outcome to the operator until dismissed.
//
// # File
//
// One file per environment, userdirs.State()/journal-<env>.jsonl (see FileName),
// mode 0600 in a 0700 directory. It is JSON Lines, append-only while
// linkdesk runs: each line is the complete current record of one attempt
// (an Entry plus "v":1); the last line for an attempt id wins. A line is
// written, and the file fsynced, whenever something worth keeping changes
// (state, workflow, account, institution, the account chosen in Link) —
// not for polls. At Open the file is compacted: rewritten with one line per
// attempt, dropping finished attempts older than Options.Retain; the
// compacted file is made of lines of the file as found, so it never grows.
//
// # Bounds
//
// Whatever the file holds, Open reads it in two streaming passes and keeps
// in memory at most MaxHeld interrupted attempts and MaxHeld others (the
// newest); older ones stay in the file and still claim their accounts.
// Status lists at most MaxListed attempts and counts the rest by outcome;
// a reconciliation asks Cybrid at most MaxReconcileCalls times, from at
// most ReconcileWorkers goroutines.
//
// # When the disk refuses a write
//
// A write that fails (a full disk, an I/O error) is cut back out of the
// file, so no partial line stays; the record is kept in memory, and the
// journal tries again every RetryEvery and at every change, writing every
// record held meanwhile as soon as the disk takes it. While it fails,
// Status.Failing says that crash recovery is off and why (OnChange is
// called at once) and CanRecord refuses new attempts.
//
// A journal holds no secret: never a link token, a Plaid public token, an
// access token or a client secret — only GUIDs, states, times, the bank's
// name and the chosen Plaid account's id, mask and name.
//
// # Damage
//
// A line cut short (linkdesk killed while writing) can only be the last
// one; it is dropped and reported (Notes), and nothing else is lost: every
// earlier line is whole because each write is one append followed by fsync.
// A damaged line elsewhere is reported too, and the file as found is kept
// next to the journal (".damaged-<time>") before compaction.
//
// # One writer
//
// Open takes an exclusive lock (flock on Unix, an unshared handle on
// Windows) on "<file>.lock" for as long as the Journal is open, so a second
// linkdesk on the same environment gets ErrBusy instead of mistaking the
// first one's running attempts for interrupted ones.
package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"linkdesk/app/internal/filelock"
	"linkdesk/app/linkflow"
	"linkdesk/app/userdirs"
)

// Version is the format version written in every line ("v").
const Version = 1

// DefaultRetain is how long finished attempts are kept (Options.Retain).
const DefaultRetain = 7 * 24 * time.Hour

// maxLine bounds one line; a record is well under 2 KB.
const maxLine = 64 << 10

// Entry is what the journal keeps of one attempt.
type Entry struct {
	ID           string         `json:"id"`
	Kind         linkflow.Kind  `json:"kind"`
	CustomerGUID string         `json:"customer_guid"`
	State        linkflow.State `json:"state"`
	StartedAt    time.Time      `json:"started_at"`
	// UpdatedAt is the attempt's UpdatedAt when this record was written.
	UpdatedAt time.Time `json:"updated_at"`

	WorkflowGUID string `json:"workflow_guid,omitempty"`
	// AccountGUID is the account refreshed, or the account created once
	// Cybrid answered the POST.
	AccountGUID  string `json:"account_guid,omitempty"`
	AccountState string `json:"account_state,omitempty"`
	// AccountRequestedAt is when the attempt first entered creating_account:
	// no account request of this attempt is older.
	AccountRequestedAt time.Time `json:"account_requested_at,omitzero"`
	// Code is the failure code of an attempt that ended failed.
	Code string `json:"code,omitempty"`

	// Institution and InstitutionID are the bank chosen in Link.
	Institution   string `json:"institution,omitempty"`
	InstitutionID string `json:"institution_id,omitempty"`
	// The Plaid account chosen in Link (linkflow.Event.Selection).
	PlaidAccountID   string `json:"plaid_account_id,omitempty"`
	PlaidAccountMask string `json:"plaid_account_mask,omitempty"`
	PlaidAccountName string `json:"plaid_account_name,omitempty"`

	// Recovered is set once the attempt, found unfinished at a start, has
	// been reconciled with Cybrid.
	Recovered *Recovered `json:"recovered,omitempty"`
	// DismissedAt is when the operator dismissed Recovered.
	DismissedAt *time.Time `json:"dismissed_at,omitempty"`
}

// Finished reports whether nothing is left to find out about the attempt:
// it ended while linkdesk ran, it was reconciled, or the operator dismissed
// it. Unfinished entries found at Open are what Reconcile checks.
func (e *Entry) Finished() bool {
	switch {
	case e.State.Final(), e.DismissedAt != nil:
		return true
	case e.Recovered != nil:
		return e.Recovered.Outcome != OutcomeUnchecked
	}
	return false
}

// line is one line of the file.
type line struct {
	V int `json:"v"`
	Entry
}

// Options configure Open.
type Options struct {
	// Dir holds the journal; "" means userdirs.State().
	Dir string
	// Env is the environment (sandbox, production); it names the file.
	Env string
	// BankURL is the Bank API base URL in use. When it is not the
	// environment's standard one (an override, e.g. a simulator run apart
	// with `linkdesk sim`), the file name carries a hash of it, so attempts
	// are never reconciled against a different server. "" names the file by
	// the environment alone: the built-in simulator's, whose port changes
	// from run to run while its state (its own file) stays.
	BankURL string
	// Retain is how long finished attempts are kept; DefaultRetain when 0.
	Retain time.Duration
	// Log receives warnings (a write that failed, damage found); discarded
	// when nil. It never sees a secret: the journal holds none.
	Log *slog.Logger
	// OnChange is called (from any goroutine, without locks held) when the
	// list of recovered attempts changes: reconciliation done, a dismissal.
	OnChange func()
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// standardBankURL is each environment's standard Bank API base.
var standardBankURL = map[string]string{
	"sandbox":    "https://bank.sandbox.cybrid.app",
	"production": "https://bank.production.cybrid.app",
}

var envRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// FileName is the journal's file name for an environment and Bank API URL:
// "journal-<env>.jsonl", or "journal-<env>-<8 hex of sha256(bankURL)>.jsonl"
// when bankURL is set and is not the environment's standard URL.
func FileName(env, bankURL string) (string, error) {
	if !envRE.MatchString(env) {
		return "", fmt.Errorf("journal: environment %q is not a valid name (lowercase letters, digits, - and _)", env)
	}
	u := strings.TrimRight(bankURL, "/")
	if u == "" || u == standardBankURL[env] {
		return "journal-" + env + ".jsonl", nil
	}
	h := sha256.Sum256([]byte(u))
	return "journal-" + env + "-" + hex.EncodeToString(h[:4]) + ".jsonl", nil
}

// ErrBusy is returned by Open when another process has the journal open
// (another linkdesk on the same environment).
var ErrBusy = errors.New("journal: another linkdesk is using this journal")

// Journal is an open journal. Its methods are safe for concurrent use.
type Journal struct {
	env      string
	path     string
	off      string // non-empty: the journal is off, and why
	log      *slog.Logger
	retain   time.Duration
	now      func() time.Time
	onChange func()

	mu      sync.Mutex
	f       *os.File
	unlock  func() error
	entries map[string]*Entry // the attempts held in memory (see MaxHeld)
	order   []string          // their ids in file order
	pending []string          // unfinished at Open: to reconcile
	notes   []string
	archive archive // the attempts left in the file only

	w writer // the state of writing (write.go)

	rec recon // reconciliation state (reconcile.go)
}

// Off returns a journal that records nothing and has nothing to recover;
// reason says why (shown by Status). Its methods are safe to call.
func Off(reason string) *Journal {
	return &Journal{off: reason, log: slog.New(slog.DiscardHandler), now: time.Now,
		onChange: func() {}, entries: map[string]*Entry{}}
}

// Open opens (creating it if needed) the journal for o.Env in o.Dir,
// compacts it and reads the attempts left unfinished, which Reconcile then
// checks. It reads the file in bounded memory and time whatever its size
// (MaxHeld; see load). Damage is tolerated and reported by Notes; a disk
// too full to compact the file leaves it as it is, and one that cannot
// take a record at all is reported at once (Status.Failing). It fails when
// the directory cannot be made private or written, or with ErrBusy.
func Open(o Options) (*Journal, error) {
	name, err := FileName(o.Env, o.BankURL)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = userdirs.State(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: cannot create the state directory %s: %w; make it writable or set XDG_STATE_HOME", dir, err)
	}
	// MkdirAll leaves an existing directory's mode alone: the journal's own
	// directory is made private whatever it was.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: cannot make %s private (mode 0700): %w", dir, err)
	}
	j := &Journal{
		env: o.Env, path: filepath.Join(dir, name), log: o.Log, retain: o.Retain, now: o.Now, onChange: o.OnChange,
		entries: map[string]*Entry{},
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.retain <= 0 {
		j.retain = DefaultRetain
	}
	if j.now == nil {
		j.now = time.Now
	}
	if j.onChange == nil {
		j.onChange = func() {}
	}
	unlock, err := filelock.Lock(j.path + ".lock")
	if errors.Is(err, filelock.ErrHeld) {
		return nil, fmt.Errorf("%w (%s.lock is locked): close the other linkdesk for this environment, or use it", ErrBusy, j.path)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.unlock = unlock
	if err := j.load(); err != nil {
		unlock()
		return nil, err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("journal: cannot open %s for writing: %w", j.path, err)
	}
	if err := j.w.start(f); err != nil {
		f.Close()
		unlock()
		return nil, fmt.Errorf("journal: cannot read %s: %w", j.path, err)
	}
	j.f = f
	// A disk that cannot take a record is reported from the start, not at
	// the first attempt.
	j.mu.Lock()
	j.settleLocked(j.probeLocked())
	j.mu.Unlock()
	return j, nil
}

func (j *Journal) damagedName() string {
	return j.path + ".damaged-" + j.now().UTC().Format("20060102T150405Z")
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

func lastTouched(e *Entry) time.Time {
	t := e.UpdatedAt
	if e.Recovered != nil && e.Recovered.CheckedAt.After(t) {
		t = e.Recovered.CheckedAt
	}
	if e.DismissedAt != nil && e.DismissedAt.After(t) {
		t = *e.DismissedAt
	}
	return t
}

// Path is the journal file ("" when the journal is off).
func (j *Journal) Path() string { return j.path }

// Env is the environment the journal is for ("" when it is off).
func (j *Journal) Env() string { return j.env }

// Notes are what Open found worth telling the operator (damage dropped,
// lines of another version, attempts left in the file only), one note per
// kind, and write failures that are over (a failure going on is
// Status.Failing).
func (j *Journal) Notes() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.notes...)
}

func (j *Journal) note(s string) {
	j.notes = append(j.notes, s)
	j.log.Warn("journal: " + s)
}

// Entries returns a copy of every entry held in memory (all of them, unless
// Open left some in the file only: see MaxHeld), in the order attempts
// started.
func (j *Journal) Entries() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Entry, 0, len(j.order))
	for _, id := range j.order {
		out = append(out, *j.entries[id])
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].StartedAt.Before(out[b].StartedAt) })
	return out
}

func applySelection(e *Entry, s linkflow.Selection) {
	if s.InstitutionID != "" {
		e.InstitutionID = s.InstitutionID
	}
	if s.Institution != "" && e.Institution == "" {
		e.Institution = s.Institution
	}
	if s.AccountID != "" {
		e.PlaidAccountID, e.PlaidAccountMask, e.PlaidAccountName = s.AccountID, s.Mask, s.Name
	}
}

// Observe records an attempt's snapshot; it is a linkflow.Observer. A
// record is written (and fsynced) only when something the journal keeps has
// changed. The account chosen in Link comes with the onSuccess event
// (Event.Selection), which the flow reports before it asks Cybrid for the
// account: it is on disk before the request is sent. When the write fails
// the flow goes on: the record is kept in memory and written as soon as the
// disk takes it, and Status.Failing says so at once (Options.OnChange is
// called); see CanRecord.
func (j *Journal) Observe(a linkflow.Attempt, ev linkflow.Event) {
	if j == nil {
		return
	}
	j.mu.Lock()
	if j.off != "" {
		j.mu.Unlock()
		return
	}
	var next Entry
	if e, ok := j.entries[a.ID]; ok {
		next = *e
	}
	next.ID, next.Kind, next.CustomerGUID, next.State = a.ID, a.Kind, a.CustomerGUID, a.State
	next.StartedAt, next.UpdatedAt = a.StartedAt, a.UpdatedAt
	next.WorkflowGUID, next.AccountGUID = a.WorkflowGUID, a.AccountGUID
	if a.Institution != "" {
		next.Institution = a.Institution
	}
	if a.Account != nil {
		next.AccountState = a.Account.State
		if a.Account.InstitutionID != "" && next.InstitutionID == "" {
			next.InstitutionID = a.Account.InstitutionID
		}
	}
	if a.State == linkflow.CreatingAccount && next.AccountRequestedAt.IsZero() {
		next.AccountRequestedAt = a.UpdatedAt
	}
	if a.State == linkflow.Failed {
		next.Code = a.Code
	}
	if ev.Selection != nil {
		applySelection(&next, *ev.Selection)
	}
	if prev, ok := j.entries[a.ID]; ok && sameRecord(prev, &next) {
		// Only times or counters moved: keep the record as it is in memory,
		// without a write.
		j.mu.Unlock()
		return
	}
	changed := j.putLocked(&next)
	j.mu.Unlock()
	if changed {
		j.onChange()
	}
}

// sameRecord reports whether a and b differ only in UpdatedAt.
func sameRecord(a, b *Entry) bool {
	x, y := *a, *b
	x.UpdatedAt, y.UpdatedAt = time.Time{}, time.Time{}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(ax, by)
}

// putLocked stores e and writes its line (write.go). It reports whether
// the journal's write status changed (writing failed, or works again): the
// caller then calls onChange, once it has released mu.
func (j *Journal) putLocked(e *Entry) (changed bool) {
	if _, ok := j.entries[e.ID]; !ok {
		j.order = append(j.order, e.ID)
	}
	j.entries[e.ID] = e
	if j.f == nil {
		return false
	}
	j.w.mark(e.ID)
	return j.flushLocked()
}

// Close stops reconciliation and the retries of a failed write, makes a
// last attempt to write what is held in memory only, closes the file and
// releases the lock. A closed journal records nothing more; closing again
// does nothing.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.stopReconcile()
	j.stopRetry()
	j.mu.Lock()
	defer j.mu.Unlock()
	var err error
	if j.f != nil {
		if j.w.failing != nil {
			j.flushLocked()
			if n := len(j.w.unsaved); n > 0 {
				j.log.Warn("journal: closing with records the disk did not take", "attempts", n, "error", j.w.failing)
			}
		}
		err = j.f.Close()
		j.f = nil
	}
	if j.unlock != nil {
		j.unlock()
		j.unlock = nil
	}
	return err
}
