package timeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"linkdesk/app/userdirs"
)

// SchemaVersion names the JSON Lines format; it changes when a field changes
// meaning or goes away (new fields may appear without a change).
const SchemaVersion = "linkdesk.timeline/1"

// Format is an export format.
type Format string

const (
	// JSONL is JSON Lines: a Header line, then one Entry per line.
	JSONL Format = "jsonl"
	// HTML is a self-contained report (inline CSS, no script, no external
	// requests) to attach to a ticket.
	HTML Format = "html"
)

// Header is the first line of a JSON Lines export.
type Header struct {
	// Type is always "header"; entry lines have no type field.
	Type        string `json:"type"`
	Schema      string `json:"schema"`
	Version     string `json:"linkdesk_version"`
	Environment string `json:"environment"`
	BankGUID    string `json:"bank_guid"`
	ExportedAt  string `json:"exported_at"`
	// Scope is "attempt" (AttemptID set) or "session".
	Scope     string `json:"scope"`
	AttemptID string `json:"attempt_id,omitempty"`
	// From and To are the times of the first and last entry.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Entries is how many entry lines follow; Dropped how many older ones
	// the in-memory timeline no longer had.
	Entries  int       `json:"entries"`
	Dropped  int64     `json:"dropped"`
	Attempts []Attempt `json:"attempts"`
}

func (r *Recorder) header(s snapshot, exported time.Time) Header {
	h := Header{
		Type: "header", Schema: SchemaVersion, Version: r.opts.Version,
		Environment: r.opts.Environment, BankGUID: r.opts.BankGUID,
		ExportedAt: exported.UTC().Format(time.RFC3339Nano), Scope: s.scope, AttemptID: s.attempt,
		Entries: len(s.entries), Dropped: s.dropped, Attempts: s.attempts,
	}
	if h.Attempts == nil {
		h.Attempts = []Attempt{}
	}
	if n := len(s.entries); n > 0 {
		h.From = s.entries[0].Time.Format(time.RFC3339Nano)
		h.To = s.entries[n-1].Time.Format(time.RFC3339Nano)
	}
	return h
}

// WriteJSONL writes one attempt (attemptID) or the whole session ("") as
// JSON Lines to w. The export is checked for secrets before anything is
// written.
func (r *Recorder) WriteJSONL(w io.Writer, attemptID string) error {
	b, err := r.render(JSONL, attemptID, r.now())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteHTML writes one attempt (attemptID) or the whole session ("") as an
// HTML report to w, checked for secrets first.
func (r *Recorder) WriteHTML(w io.Writer, attemptID string) error {
	b, err := r.render(HTML, attemptID, r.now())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (r *Recorder) render(f Format, attemptID string, now time.Time) ([]byte, error) {
	s, err := r.snapshot(attemptID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch f {
	case JSONL:
		enc := json.NewEncoder(&buf)
		if err := enc.Encode(r.header(s, now)); err != nil {
			return nil, err
		}
		for _, e := range s.entries {
			if err := enc.Encode(e); err != nil {
				return nil, fmt.Errorf("encoding entry %d: %w", e.Seq, err)
			}
		}
	case HTML:
		if err := r.renderHTML(&buf, s, now); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown export format %q: use jsonl or html", f)
	}
	if err := r.scrub.Check(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// File is one written export.
type File struct {
	Format Format `json:"format"`
	Path   string `json:"path"`
	Bytes  int    `json:"bytes"`
}

// Export writes one attempt (attemptID) or the whole session ("") in each
// format to the export directory, as
// linkdesk-<environment>-<attempt-ID|session>-<UTC time>.<format>, mode
// 0600, never overwriting a file. Every format is rendered and checked before
// any file is written; on error nothing is written.
func (r *Recorder) Export(attemptID string, formats ...Format) ([]File, error) {
	if len(formats) == 0 {
		return nil, errors.New("no export format given: use jsonl, html or both")
	}
	now := r.now()
	rendered := make([][]byte, len(formats))
	for i, f := range formats {
		b, err := r.render(f, attemptID, now)
		if err != nil {
			return nil, err
		}
		rendered[i] = b
	}
	dir, err := r.ExportDir()
	if err != nil {
		return nil, err
	}
	env := safeName(r.opts.Environment)
	if env == "" {
		env = "unknown"
	}
	what := "session"
	if attemptID != "" {
		what = "attempt-" + safeName(attemptID)
	}
	base := fmt.Sprintf("linkdesk-%s-%s-%s", env, what, now.UTC().Format("20060102T150405Z"))
	var out []File
	for i, f := range formats {
		p, err := userdirs.WriteNew(dir, base, string(f), rendered[i])
		if err != nil {
			return out, err
		}
		out = append(out, File{Format: f, Path: p, Bytes: len(rendered[i])})
	}
	return out, nil
}

// safeName keeps the characters that are safe in a file name everywhere.
func safeName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// ExportDir is where exports go: Options.Dir, else userdirs.Exports()
// (resolved once per Recorder).
func (r *Recorder) ExportDir() (string, error) {
	if r.opts.Dir != "" {
		if err := os.MkdirAll(r.opts.Dir, 0o700); err != nil {
			return "", fmt.Errorf("cannot create the export folder %s: %w", r.opts.Dir, err)
		}
		return r.opts.Dir, nil
	}
	r.dirOnce.Do(func() { r.dir, r.dirErr = userdirs.Exports() })
	return r.dir, r.dirErr
}
