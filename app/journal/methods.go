package journal

import (
	"sort"
	"time"
)

// RecheckTimeout bounds a reconciliation started from the page (Recheck).
const RecheckTimeout = 30 * time.Second

// Status is what the page shows about the journal: whether it is on and
// writing, the interrupted attempts and anything found wrong with the file.
// Its size is bounded whatever the journal holds.
type Status struct {
	// On is false in the simulator and when the journal could not be
	// opened; Off then says why.
	On  bool   `json:"on"`
	Off string `json:"off,omitempty"`
	// Path is the journal file.
	Path string `json:"path,omitempty"`
	// Checking is true while interrupted attempts are compared with Cybrid.
	Checking bool `json:"checking"`
	// Failing, when set, is the warning to show while the journal cannot
	// write: crash recovery is off, why, that new attempts are refused
	// (CanRecord) and what to do. It clears by itself once the disk takes
	// the records again. FailingSince is when it began; Unsaved counts
	// the attempts whose latest record is held in memory only.
	Failing      string    `json:"failing,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	Unsaved      int       `json:"unsaved"`
	// Notes report damage found in the file and write failures that are
	// over, one note per kind.
	Notes []string `json:"notes"`
	// Attempts are the newest MaxListed interrupted attempts not yet
	// dismissed, newest first.
	Attempts []Recovered `json:"attempts"`
	// Total counts every interrupted attempt not dismissed, listed or not
	// (those left in the file only included); Older counts the ones not in
	// Attempts by outcome, the most frequent first.
	Total int            `json:"total"`
	Older []OutcomeCount `json:"older"`
}

// OutcomeCount is how many interrupted attempts have one outcome.
type OutcomeCount struct {
	Outcome Outcome `json:"outcome"`
	Count   int     `json:"count"`
}

// Status returns the journal's status for the page.
func (j *Journal) Status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Status{On: j.off == "", Off: j.off, Path: j.path, Checking: j.rec.running,
		Notes: append([]string{}, j.notes...), Attempts: []Recovered{}, Older: []OutcomeCount{}}
	if j.w.failing != nil {
		st.Failing, st.FailingSince, st.Unsaved = j.failingTextLocked(), j.w.failingSince, len(j.w.unsaved)
	}
	all := j.recoveredLocked()
	st.Total = len(all) + j.archive.interrupted
	older := map[Outcome]int{}
	for i, r := range all {
		if i < MaxListed {
			st.Attempts = append(st.Attempts, r)
		} else {
			older[r.Outcome]++
		}
	}
	for o, n := range j.archive.byOutcome {
		older[o] += n
	}
	for o, n := range older {
		st.Older = append(st.Older, OutcomeCount{o, n})
	}
	sort.Slice(st.Older, func(a, b int) bool {
		if st.Older[a].Count != st.Older[b].Count {
			return st.Older[a].Count > st.Older[b].Count
		}
		return st.Older[a].Outcome < st.Older[b].Outcome
	})
	return st
}
