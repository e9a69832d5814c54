// Package audit keeps linkdesk's audit log: who did what to which customer's
// account, in which environment, when, and how it ended — so that long after
// an account was unlinked, refreshed or verified someone can still answer
// those questions.
//
// # What is recorded
//
// Every operator action, as it happens: an attempt to link, refresh or
// verify (one record when it starts, one when it ends, with its outcome —
// see Recorder.ObserveAttempt), an unlink (success or failure), storing or
// deleting API credentials, and switching environment. Each Record names its
// environment, the customer and account it acted on, the outcome, the OS user
// and host, and the time.
//
// # File
//
// One file for every environment of a state directory:
// <dir>/audit.jsonl (FileName), JSON Lines, one Record per line plus "v":1,
// mode 0600 in a 0700 directory. A record is appended with one write and the
// file is fsynced before Append returns, so a crash can at most cut the last
// line short (the reader skips and counts such lines). linkdesk never rewrites
// or edits a line.
//
// # Bound
//
// When appending would take the file past Options.MaxBytes (DefaultMaxBytes,
// 4 MiB ≈ 10 000 records), the file is first renamed to audit.1.jsonl
// (PrevFileName), replacing the previous one, and a new file is started.
// The log therefore keeps the last 4–8 MiB of records (one full generation
// plus the current one); older records are dropped. Export (CSV or JSON
// Lines, into the Downloads folder) to keep them longer.
//
// # Secrets
//
// A record holds no secret: GUIDs, states, codes, bank names and messages,
// each scrubbed of token-shaped values and of the secrets the caller names
// (package redact) before it is written; a GUID or attempt-id field that does
// not have its shape is left out rather than written.
//
// # Several linkdesks
//
// Two linkdesks on one state directory (say, one on sandbox and one on
// production) append to the same file: every append and rotation happens
// under an exclusive lock on <dir>/audit.lock (flock on Unix; on other systems
// only within one process).
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"linkdesk/app/durable"
	"linkdesk/app/guid"
	"linkdesk/app/linkflow"
	"linkdesk/app/redact"
	"linkdesk/app/userdirs"
)

// Version is the format version written in every line ("v").
const Version = 1

// File names in the state directory.
const (
	FileName     = "audit.jsonl"
	PrevFileName = "audit.1.jsonl"
	lockName     = "audit.lock"
)

// DefaultMaxBytes is the size at which the file is rotated (Options.MaxBytes).
const DefaultMaxBytes = 4 << 20

// maxLine bounds one line when reading; a record is well under 3 KB.
const maxLine = 64 << 10

// maxDetail bounds Record.Detail and the other free-text fields, in bytes.
const maxDetail = 600

// Action is what the operator did.
type Action string

// The actions recorded.
const (
	ActionLink              Action = "link"    // an attempt to link a new account
	ActionRefresh           Action = "refresh" // an attempt to renew a bank connection (Plaid update mode)
	ActionVerify            Action = "verify"  // an ownership verification
	ActionUnlink            Action = "unlink"
	ActionCredentialsStore  Action = "credentials_store"
	ActionCredentialsDelete Action = "credentials_delete"
	ActionSwitchEnvironment Action = "switch_environment"
)

// Actions lists every action, in the order they are documented.
var Actions = []Action{ActionLink, ActionRefresh, ActionVerify, ActionUnlink, ActionCredentialsStore, ActionCredentialsDelete, ActionSwitchEnvironment}

// Outcome is how an action ended (or that it started).
type Outcome string

// The outcomes.
const (
	// Started: an attempt began; a second record gives its end.
	OutcomeStarted Outcome = "started"
	OutcomeSuccess Outcome = "success"
	// Failure: it did not happen; Detail says why, Code gives the code.
	OutcomeFailure Outcome = "failure"
	// Exited: the customer left Plaid Link; nothing was linked.
	OutcomeExited Outcome = "exited"
	// Cancelled: the operator cancelled the attempt.
	OutcomeCancelled Outcome = "cancelled"
	// Abandoned: the attempt was still running when its environment
	// closed (an environment switch, or linkdesk quit).
	OutcomeAbandoned Outcome = "abandoned"
)

// Record is one line of the audit log.
type Record struct {
	Time time.Time `json:"time"`
	// Environment is sim, sandbox or production.
	Environment string  `json:"environment"`
	Action      Action  `json:"action"`
	Outcome     Outcome `json:"outcome"`
	// CustomerGUID and AccountGUID are what the action acted on ("" when
	// it acts on no customer, or the account is not known yet).
	CustomerGUID string `json:"customer_guid,omitempty"`
	AccountGUID  string `json:"account_guid,omitempty"`
	// AttemptID ties an attempt's start and end records (and its timeline).
	AttemptID string `json:"attempt_id,omitempty"`
	// Institution is the bank's name, InstitutionID Plaid's id for it.
	InstitutionID string `json:"institution_id,omitempty"`
	Institution   string `json:"institution,omitempty"`
	// Code is a machine-readable reason (a Cybrid failure code, a Plaid
	// error code, …); Detail says what happened in words.
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
	// User is the OS user linkdesk ran as; Host the machine's name.
	User string `json:"user"`
	Host string `json:"host,omitempty"`
}

// line is one line of the file.
type line struct {
	V int `json:"v"`
	Record
}

// Options configure Open.
type Options struct {
	// Dir is the state directory; "" means userdirs.State().
	Dir string
	// MaxBytes is the size at which the file is rotated; DefaultMaxBytes
	// when 0.
	MaxBytes int64
	// Log receives warnings (an append that failed); discarded when nil.
	Log *slog.Logger
	// User and Host are stamped on every record; "" means CurrentUser()
	// and os.Hostname().
	User, Host string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Log is an audit log. Its methods are safe for concurrent use; the methods
// of a nil *Log or of Off's do nothing and say the log is off.
type Log struct {
	dir, path, prev string
	off             string // non-empty: the log is off, and why
	maxBytes        int64
	user, host      string
	log             *slog.Logger
	now             func() time.Time

	mu       sync.Mutex
	lock     *fileLock
	writeErr string // the last append's failure ("" after a success)
}

// Off returns a log that records nothing; reason says why (Status, List).
func Off(reason string) *Log {
	return &Log{off: reason, log: slog.New(slog.DiscardHandler), now: time.Now}
}

// Open opens (creating when needed) the audit log in o.Dir. It fails when the
// directory or the file cannot be created or written, saying what to fix.
func Open(o Options) (*Log, error) {
	dir := o.Dir
	if dir == "" {
		d, err := userdirs.State()
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit log: cannot create the state folder %s: %w. Check its permissions", dir, err)
	}
	l := &Log{
		dir: dir, path: filepath.Join(dir, FileName), prev: filepath.Join(dir, PrevFileName),
		maxBytes: o.MaxBytes, user: o.User, host: o.Host, log: o.Log, now: o.Now,
	}
	if l.maxBytes <= 0 {
		l.maxBytes = DefaultMaxBytes
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.user == "" {
		l.user = CurrentUser()
	}
	if l.host == "" {
		l.host, _ = os.Hostname()
	}
	lk, err := openLock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("audit log: cannot create its lock file in %s: %w. Check the folder's permissions", dir, err)
	}
	l.lock = lk
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		lk.close()
		return nil, fmt.Errorf("audit log: cannot open %s for writing: %w. Check the file's and the folder's permissions", l.path, err)
	}
	f.Close()
	os.Chmod(l.path, 0o600)
	return l, nil
}

// Close releases the lock file. Appends after Close fail.
func (l *Log) Close() {
	if l == nil || l.off != "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock != nil {
		l.lock.close()
		l.lock = nil
	}
}

// Path is the file records are appended to ("" when the log is off).
func (l *Log) Path() string {
	if l == nil || l.off != "" {
		return ""
	}
	return l.path
}

// User is the OS user stamped on records.
func (l *Log) User() string {
	if l == nil {
		return ""
	}
	return l.user
}

// Status says whether the log is on, where it is, and whether the last
// append failed.
type Status struct {
	On bool `json:"on"`
	// Off says why the log is off ("" when on).
	Off  string `json:"off,omitempty"`
	File string `json:"file,omitempty"`
	// WriteError is the last append's failure ("" when it succeeded): the
	// page shows it, since a record is missing.
	WriteError string `json:"write_error,omitempty"`
}

// Status reports the log's state.
func (l *Log) Status() Status {
	if l == nil {
		return Status{Off: "no audit log was opened"}
	}
	if l.off != "" {
		return Status{Off: l.off}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return Status{On: true, File: l.path, WriteError: l.writeErr}
}

// Append stamps r with the time (when zero), the user and the host, scrubs it
// (package redact, plus the exact values in secrets), and appends it to the
// file, fsynced, rotating first when the file would grow past MaxBytes. A
// failure is also logged and kept for Status. Appending to a log that is off
// does nothing.
func (l *Log) Append(r Record, secrets ...string) error {
	if l == nil || l.off != "" {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = l.now()
	}
	r.Time = r.Time.UTC()
	r.User, r.Host = l.user, l.host
	r = clean(r, redact.New(secrets))
	b, err := json.Marshal(line{V: Version, Record: r})
	if err != nil {
		return l.failed(r, fmt.Errorf("encoding the record: %w", err))
	}
	if err := redact.New(secrets).Check(b); err != nil {
		// clean removed every secret it knows of; this is a last guard.
		return l.failed(r, err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return l.failedLocked(r, errors.New("the audit log is closed"))
	}
	unlock, err := l.lock.acquire()
	if err != nil {
		return l.failedLocked(r, err)
	}
	defer unlock()
	if err := l.rotateIfFull(int64(len(b))); err != nil {
		return l.failedLocked(r, err)
	}
	if err := appendSync(l.path, b); err != nil {
		return l.failedLocked(r, err)
	}
	l.writeErr = ""
	return nil
}

func (l *Log) failed(r Record, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failedLocked(r, err)
}

func (l *Log) failedLocked(r Record, err error) error {
	err = fmt.Errorf("audit log: a record was not written (%s %s in %s): %w. Check that %s is writable", r.Action, r.Outcome, r.Environment, err, l.dir)
	l.writeErr = err.Error()
	l.log.Warn("audit log: a record was not written", "action", r.Action, "outcome", r.Outcome, "environment", r.Environment, "error", err)
	return err
}

// rotateIfFull renames the file to PrevFileName when n more bytes would take
// it past maxBytes (a file holding nothing yet is never rotated). The caller
// holds the file lock.
func (l *Log) rotateIfFull(n int64) error {
	fi, err := os.Stat(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Size() == 0 || fi.Size()+n <= l.maxBytes {
		return nil
	}
	if err := os.Rename(l.path, l.prev); err != nil {
		return fmt.Errorf("rotating %s: %w", l.path, err)
	}
	durable.SyncDir(l.dir)
	return nil
}

// appendSync appends b to path (created 0600) with one write, then fsyncs.
func appendSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	return errors.Join(werr, serr, cerr)
}

// clean scrubs r's free text and drops identifier fields without their shape.
func clean(r Record, s *redact.Scrubber) Record {
	text := func(v string) string { return cut(s.String(strings.Map(printable, v)), maxDetail) }
	r.Environment = keepIf(envRE.MatchString, r.Environment)
	r.CustomerGUID = keepIf(guid.Valid, r.CustomerGUID)
	r.AccountGUID = keepIf(guid.Valid, r.AccountGUID)
	r.AttemptID = keepIf(linkflow.ValidAttemptID, r.AttemptID)
	r.InstitutionID = keepIf(institutionRE.MatchString, r.InstitutionID)
	r.Action = Action(text(string(r.Action)))
	r.Outcome = Outcome(text(string(r.Outcome)))
	r.Institution = text(r.Institution)
	r.Code = cut(text(r.Code), 80)
	r.Detail = text(r.Detail)
	r.User = cut(text(r.User), 120)
	r.Host = cut(text(r.Host), 120)
	return r
}

var (
	envRE         = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	institutionRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func keepIf(ok func(string) bool, v string) string {
	if ok(v) {
		return v
	}
	return ""
}

// printable turns control characters (newlines included) into spaces.
func printable(r rune) rune {
	if unicode.IsControl(r) {
		return ' '
	}
	return r
}

// cut shortens v to at most n bytes, on a rune boundary, marking the cut.
func cut(v string, n int) string {
	if len(v) <= n {
		return v
	}
	i := n
	for i > 0 && (v[i]&0xC0) == 0x80 {
		i--
	}
	return v[:i] + "…"
}

// CurrentUser is the OS user's login name (os/user), else $USER or
// $USERNAME, else "unknown".
func CurrentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "unknown"
}

// decodeLine reads one line of the file; ok is false for a damaged line.
func decodeLine(b []byte) (Record, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return Record{}, false
	}
	var ln line
	if err := json.Unmarshal(b, &ln); err != nil || ln.V < 1 || ln.Time.IsZero() {
		return Record{}, false
	}
	return ln.Record, true
}
