package journal

import (
	"time"
)

// RecheckTimeout bounds a reconciliation started from the page (Recheck).
const RecheckTimeout = 30 * time.Second

// Status is what the page shows about the journal: whether it is on, the
// interrupted attempts and anything found wrong with the file.
type Status struct {
	// On is false in the simulator and when the journal could not be
	// opened; Off then says why.
	On  bool   `json:"on"`
	Off string `json:"off,omitempty"`
	// Path is the journal file.
	Path string `json:"path,omitempty"`
	// Checking is true while interrupted attempts are compared with Cybrid.
	Checking bool `json:"checking"`
	// Notes report damage found in the file and write failures.
	Notes []string `json:"notes"`
	// Attempts are the interrupted attempts not yet dismissed, newest first.
	Attempts []Recovered `json:"attempts"`
}

// Status returns the journal's status for the page.
func (j *Journal) Status() Status {
	notes := j.Notes()
	if notes == nil {
		notes = []string{}
	}
	return Status{On: j.off == "", Off: j.off, Path: j.path, Checking: j.Checking(), Notes: notes, Attempts: j.Recovered()}
}
