package timeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	"linkdesk/app/desk"
)

// TimelineResult is what the "timeline" method returns.
type TimelineResult struct {
	// Entries are the steps asked for, oldest first.
	Entries []Entry `json:"entries"`
	// LastSeq is the Seq of the session's latest entry: pass it as since
	// next time to get only newer entries.
	LastSeq int64 `json:"last_seq"`
	// Dropped is how many older entries (of the attempt, or of the session)
	// are no longer in memory.
	Dropped int64 `json:"dropped"`
	// Attempts are the summaries: the one asked for, or all of the session.
	Attempts []Attempt `json:"attempts"`
}

// ExportResult is what "exportAttempt" and "exportSession" return.
type ExportResult struct {
	Dir   string `json:"dir"`
	Files []File `json:"files"`
	// Paths are the files' paths in Files' order; JSONL and HTML the path
	// of each format ("" when not asked for). The page shows them.
	Paths []string `json:"paths"`
	JSONL string   `json:"jsonl,omitempty"`
	HTML  string   `json:"html,omitempty"`
}

// Methods returns the page's calls on this Recorder, to merge into the
// window's method table; see the package function Methods.
func (r *Recorder) Methods() map[string]desk.Method {
	return Methods(func() *Recorder { return r })
}

// ErrNoTimeline is returned by the page's calls while no environment runs
// (the first-run screen waits for credentials).
var ErrNoTimeline = errors.New("no environment is running yet, so there is no timeline: store the API credentials first")

// Methods returns the page's calls on the Recorder current returns at call
// time (so that they follow environment switches; nil: ErrNoTimeline):
//
//	timeline         {attempt_id?: string, since?: number} → TimelineResult
//	exportAttempt    {attempt_id: string, format?: "jsonl"|"html"|"both"} → ExportResult
//	exportSession    {format?: "jsonl"|"html"|"both"} → ExportResult
//	                 (ExportResult: {dir, files: [{format, path, bytes}], paths: [path…], jsonl?: path, html?: path})
//	openExportFolder {} → {dir: string}
//
// Parameters are decoded strictly (an unknown field is an error). format
// defaults to "both".
func Methods(current func() *Recorder) map[string]desk.Method {
	get := func() (*Recorder, error) {
		if r := current(); r != nil {
			return r, nil
		}
		return nil, ErrNoTimeline
	}
	return map[string]desk.Method{
		"timeline": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var p struct {
				AttemptID string `json:"attempt_id"`
				Since     int64  `json:"since"`
			}
			if err := decodeParams(raw, &p); err != nil {
				return nil, err
			}
			if p.AttemptID != "" {
				if err := checkAttemptID(p.AttemptID); err != nil {
					return nil, err
				}
			}
			if p.Since < 0 {
				return nil, fmt.Errorf("since %d is not valid: pass 0 (everything) or the last_seq of a previous answer", p.Since)
			}
			r, err := get()
			if err != nil {
				return nil, err
			}
			return r.Timeline(p.AttemptID, p.Since)
		},
		"exportAttempt": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var p struct {
				AttemptID string `json:"attempt_id"`
				Format    string `json:"format"`
			}
			if err := decodeParams(raw, &p); err != nil {
				return nil, err
			}
			if p.AttemptID == "" {
				return nil, errors.New("attempt_id is missing: say which attempt to export (or use exportSession for all of them)")
			}
			if err := checkAttemptID(p.AttemptID); err != nil {
				return nil, err
			}
			r, err := get()
			if err != nil {
				return nil, err
			}
			return r.exportAs(p.AttemptID, p.Format)
		},
		"exportSession": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var p struct {
				Format string `json:"format"`
			}
			if err := decodeParams(raw, &p); err != nil {
				return nil, err
			}
			r, err := get()
			if err != nil {
				return nil, err
			}
			return r.exportAs("", p.Format)
		},
		"openExportFolder": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var p struct{}
			if err := decodeParams(raw, &p); err != nil {
				return nil, err
			}
			r, err := get()
			if err != nil {
				return nil, err
			}
			dir, err := r.ExportDir()
			if err != nil {
				return nil, err
			}
			if err := OpenFolder(dir); err != nil {
				return nil, err
			}
			return map[string]string{"dir": dir}, nil
		},
	}
}

// Timeline answers the "timeline" method: entries of one attempt (or the
// session) newer than since.
func (r *Recorder) Timeline(attemptID string, since int64) (TimelineResult, error) {
	res := TimelineResult{}
	r.mu.Lock()
	defer r.mu.Unlock()
	if attemptID != "" {
		a, ok := r.attempts[attemptID]
		if !ok {
			return res, fmt.Errorf("no attempt %q in this session's timeline: it may belong to an earlier run of linkdesk", r.scrub.String(attemptID))
		}
		res.Attempts = []Attempt{*a}
		res.Dropped = r.droppedBy[attemptID]
	} else {
		res.Attempts = make([]Attempt, 0, len(r.order))
		for _, id := range r.order {
			res.Attempts = append(res.Attempts, *r.attempts[id])
		}
		res.Dropped = r.dropped
	}
	res.Entries = r.entriesLocked(attemptID, since)
	res.LastSeq = r.seq
	return res, nil
}

func (r *Recorder) exportAs(attemptID, format string) (ExportResult, error) {
	var formats []Format
	switch format {
	case "", "both":
		formats = []Format{JSONL, HTML}
	case "jsonl":
		formats = []Format{JSONL}
	case "html":
		formats = []Format{HTML}
	default:
		return ExportResult{}, fmt.Errorf("format %q is not known: use \"jsonl\", \"html\" or \"both\"", truncate(format, 20))
	}
	files, err := r.Export(attemptID, formats...)
	if err != nil {
		return ExportResult{}, err
	}
	dir, _ := r.ExportDir()
	res := ExportResult{Dir: dir, Files: files, Paths: []string{}}
	for _, f := range files {
		res.Paths = append(res.Paths, f.Path)
		switch f.Format {
		case JSONL:
			res.JSONL = f.Path
		case HTML:
			res.HTML = f.Path
		}
	}
	return res, nil
}

// attemptIDRE is the shape of linkflow's attempt ids (hex today); it allows
// a little more so that a change of id format there does not break exports.
var attemptIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkAttemptID(id string) error {
	if !attemptIDRE.MatchString(id) {
		// The value is not echoed: a token pasted by mistake must not travel on.
		return fmt.Errorf("attempt_id (%d characters) is not an attempt id: use the id shown for the attempt (letters, digits, '-' or '_', at most 64)", len(id))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// maxParams bounds what the page may send in one call.
const maxParams = 4 << 10

func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) > maxParams {
		return fmt.Errorf("parameters are %d bytes; this call takes at most %d", len(raw), maxParams)
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("parameters are not valid JSON: %v", err)
		}
		return fmt.Errorf("parameters do not fit this call: %v", err)
	}
	if dec.More() {
		return errors.New("parameters hold more than one JSON value: send one object")
	}
	return nil
}
