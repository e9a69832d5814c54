package timeline

import (
	"fmt"
)

// TimelineResult is what Timeline returns.
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

// ExportResult is what ExportFormat returns.
type ExportResult struct {
	Dir   string `json:"dir"`
	Files []File `json:"files"`
	// Paths are the files' paths in Files' order; JSONL and HTML the path
	// of each format ("" when not asked for). The page shows them.
	Paths []string `json:"paths"`
	JSONL string   `json:"jsonl,omitempty"`
	HTML  string   `json:"html,omitempty"`
}

// Timeline returns the entries of one attempt (or, attemptID "", of the
// session) newer than since, with the attempts' summaries.
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

// ExportFormat exports one attempt (or, attemptID "", the session) in format
// "jsonl", "html" or "both" ("" means both) and says where the files are.
func (r *Recorder) ExportFormat(attemptID, format string) (ExportResult, error) {
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
