package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// RetryEvery is how often a journal whose writes fail tries again.
const RetryEvery = 2 * time.Second

// probeSize is what CanRecord writes to check the disk takes a new
// attempt's records (a record is well under 2 KB).
const probeSize = 4 << 10

// writer is the state of a Journal's writes; Journal.mu guards it.
type writer struct {
	// size is the file's length as last written and fsynced: a failed
	// write is cut back to it.
	size int64
	// needNL: the file ends without a newline (a last line whose newline
	// was never written); the next write starts with one.
	needNL bool
	// unsaved lists the attempts whose latest record is in memory only, in
	// the order they changed.
	unsaved []string
	// failing is the error of the last failed write (nil: writing works),
	// since when it fails, and when it worked again last (for the note).
	failing      error
	failingSince time.Time
	// retry stops the retry loop; retryDone is closed when it ends.
	retry     chan struct{}
	retryDone chan struct{}
}

// start reads the opened file's length and last byte.
func (w *writer) start(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w.size = fi.Size()
	if w.size > 0 {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, w.size-1); err != nil && err != io.EOF {
			return err
		}
		w.needNL = b[0] != '\n'
	}
	return nil
}

// mark notes that id's latest record is not on disk yet.
func (w *writer) mark(id string) {
	for _, u := range w.unsaved {
		if u == id {
			return
		}
	}
	w.unsaved = append(w.unsaved, id)
}

// flushLocked writes the records of every attempt marked unsaved, in one
// append and one fsync; with none, while writes fail, it writes and
// removes a probe instead (see probeLocked). A failed write is cut back
// out of the file and its records stay marked. It reports whether writing
// started to fail or works again; while it fails a retry loop runs.
func (j *Journal) flushLocked() (changed bool) {
	var err error
	switch {
	case len(j.w.unsaved) > 0:
		var buf bytes.Buffer
		if j.w.needNL {
			buf.WriteByte('\n')
		}
		for _, id := range j.w.unsaved {
			b, merr := json.Marshal(line{V: Version, Entry: *j.entries[id]})
			if merr != nil {
				j.log.Error("journal: cannot encode a record", "attempt", id, "error", merr)
				continue
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		if err = j.appendLocked(buf.Bytes()); err == nil {
			j.w.unsaved, j.w.needNL = nil, false
		}
	case j.w.failing != nil:
		err = j.probeLocked()
	default:
		return false
	}
	return j.settleLocked(err)
}

// settleLocked records the outcome of a write or probe; it reports whether
// the journal started failing or recovered.
func (j *Journal) settleLocked(err error) (changed bool) {
	was := j.w.failing
	switch {
	case err != nil && was == nil:
		j.w.failing, j.w.failingSince = err, j.now()
		j.log.Warn("journal: writing failed; crash recovery is off until it works again", "path", j.path, "error", err)
		j.startRetryLocked()
		return true
	case err != nil:
		j.w.failing = err
		return false
	case was != nil:
		j.w.failing = nil
		j.note(fmt.Sprintf("Writing the journal %s failed from %s to %s (%s); every record held meanwhile was written when the disk took it again.",
			j.path, j.w.failingSince.Format("15:04:05"), j.now().Format("15:04:05"), ioErrText(was)))
		j.log.Info("journal: writing works again", "path", j.path)
		return true
	}
	return false
}

// appendLocked appends b and fsyncs; on failure it cuts the file back to
// the last good length, so that no partial line stays in it.
func (j *Journal) appendLocked(b []byte) error {
	_, err := j.f.Write(b)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		if terr := j.f.Truncate(j.w.size); terr != nil {
			j.log.Warn("journal: cannot cut a failed write back out", "path", j.path, "error", terr)
		}
		return err
	}
	j.w.size += int64(len(b))
	return nil
}

// probeLocked checks that the disk takes a new attempt's records: it
// writes probeSize bytes to "<file>.probe", fsyncs and removes it.
func (j *Journal) probeLocked() error {
	p := j.path + ".probe"
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, probeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(p); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	return err
}

func (j *Journal) startRetryLocked() {
	if j.w.retry != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	j.w.retry, j.w.retryDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(RetryEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			j.mu.Lock()
			if j.f == nil || j.w.retry != stop {
				j.mu.Unlock()
				return
			}
			changed := j.flushLocked()
			ok := j.w.failing == nil
			if ok {
				j.w.retry = nil
			}
			j.mu.Unlock()
			if changed {
				j.onChange()
			}
			if ok {
				return
			}
		}
	}()
}

func (j *Journal) stopRetry() {
	j.mu.Lock()
	stop, done := j.w.retry, j.w.retryDone
	j.w.retry = nil
	j.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// ErrNotRecording is wrapped by CanRecord's error.
var ErrNotRecording = errors.New("crash recovery is off")

// CanRecord reports whether a new attempt may start: nil when the journal
// records (its writes work) or is off (the simulator, or a journal that
// could not be opened: Status.Off says why, and nothing is recorded
// anyway). While writes fail it returns an error wrapping
// ErrNotRecording that says why and what to do; linkdesk then refuses new
// link, refresh and verification attempts (package pageapi), so that no
// attempt runs that a crash would leave unaccounted for. It asks the disk
// first — it writes the records held in memory, or a probe of a few
// records' size — so that freed space lets the next attempt through at
// once, and a disk that filled up before any record failed is noticed
// before the attempt starts.
func (j *Journal) CanRecord() error {
	if j == nil || j.off != "" {
		return nil
	}
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return fmt.Errorf("%w: the journal %s is closed; restart linkdesk", ErrNotRecording, j.path)
	}
	var changed bool
	if len(j.w.unsaved) > 0 || j.w.failing != nil {
		changed = j.flushLocked()
	} else {
		changed = j.settleLocked(j.probeLocked())
	}
	err := j.w.failing
	j.mu.Unlock()
	if changed {
		j.onChange()
	}
	if err != nil {
		return fmt.Errorf("%w: linkdesk cannot write its journal (%s), so an attempt started now could not be accounted for after a crash. Free space on the disk that holds %s, then try again (linkdesk also retries every %s by itself)",
			ErrNotRecording, ioErrText(err), filepath.Dir(j.path), RetryEvery)
	}
	return nil
}

// failingText is Status.Failing: the warning the page shows while writes
// fail. The caller holds mu.
func (j *Journal) failingTextLocked() string {
	if j.w.failing == nil {
		return ""
	}
	held := ""
	switch n := len(j.w.unsaved); n {
	case 0:
	case 1:
		held = " The latest state of 1 attempt is held in memory only; it is written as soon as the disk takes it."
	default:
		held = fmt.Sprintf(" The latest state of %d attempts is held in memory only; it is written as soon as the disk takes it.", n)
	}
	return fmt.Sprintf("Crash recovery is off since %s: linkdesk cannot write its journal %s (%s). New link, refresh and verification attempts are refused until it can.%s Free space on the disk that holds %s; linkdesk tries again every %s.",
		j.w.failingSince.Format("15:04:05"), j.path, ioErrText(j.w.failing), held, filepath.Dir(j.path), RetryEvery)
}

// ioErrText is an I/O error without the path it names (the messages name
// the journal already), e.g. "write: no space left on device".
func ioErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return shortErr(err)
}
