package sim

// The simulator's state across restarts: with Options.StateFile, what a
// tester made in the simulator — Cybrid's records (cybridsim.State) and
// Plaid's items and usable link tokens (plaidsim.State) — is kept in that
// file (package simstate: locked, atomic, set aside when unusable) and
// restored at the next Start. Reset starts the simulator afresh.

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"linkdesk/app/sim/cybridsim"
	"linkdesk/app/sim/plaidsim"
	"linkdesk/app/sim/simstate"
)

// StateVersion is the version of the state file's format (the "state" of
// a simstate file: cybridsim.State and plaidsim.State together). Change it
// whenever either changes in a way an older linkdesk could not read; a file
// of another version is set aside and the simulator starts afresh.
const StateVersion = 1

// StateFileName is the name of the built-in simulator's state file in
// linkdesk's state folder (userdirs.State()).
const StateFileName = "sim-state.json"

// fileState is the "state" of the simulator's state file.
type fileState struct {
	Cybrid cybridsim.State `json:"cybrid"`
	Plaid  plaidsim.State  `json:"plaid"`
}

// Persistence says where the simulator keeps its state.
type Persistence struct {
	// File is the state file in use: the state survives the process. ""
	// when the state is kept in memory only (no Options.StateFile, or the
	// file could not be used: Note says why).
	File string `json:"file,omitempty"`
	// Restored is set when the state was read from File at Start;
	// SavedAt is when it had been saved.
	Restored bool      `json:"restored"`
	SavedAt  time.Time `json:"saved_at,omitzero"`
	// Note says, for a tester, what a start found that they should know:
	// another linkdesk holding the file (this simulator then keeps its
	// state in memory), a file set aside, a folder that cannot be written.
	Note string `json:"note,omitempty"`
}

// openState opens o.StateFile and restores what it holds into s's
// simulators (Start calls it before serving). A file another process holds,
// or a folder that cannot be written, leaves the simulator in memory, with
// a log line and Persistence.Note saying so: never an error.
func (s *Sim) openState(file string, log *slog.Logger) {
	if file == "" {
		return
	}
	st, found, err := simstate.Open(simstate.Options{Path: file, Version: StateVersion, Log: log,
		Snapshot: func() any { return fileState{Cybrid: s.Cybrid.Snapshot(), Plaid: s.Plaid.Snapshot()} },
	}, func(raw json.RawMessage) error {
		var fs fileState
		if err := json.Unmarshal(raw, &fs); err != nil {
			return err
		}
		if err := s.Cybrid.Restore(fs.Cybrid); err != nil {
			return err
		}
		if err := s.Plaid.Restore(fs.Plaid); err != nil {
			s.Cybrid.Reset() // nothing of a state only half restored
			return err
		}
		return nil
	})
	switch {
	case errors.Is(err, simstate.ErrBusy):
		s.persist.Note = "Another linkdesk keeps the simulator's state in " + file + ": this simulator keeps its state in memory only (it is lost when linkdesk closes), and its attempts are not journaled. Close the other linkdesk and restart this one to use the saved state."
		log.Warn("sim: another linkdesk holds the simulator's state file; this simulator keeps its state in memory only", "file", file)
		return
	case err != nil:
		s.persist.Note = "The simulator's state cannot be kept in " + file + " (" + err.Error() + "): it is kept in memory only and lost when linkdesk closes."
		log.Warn("sim: the simulator's state is kept in memory only", "file", file, "error", err)
		return
	}
	s.state = st
	s.persist = Persistence{File: file, Restored: found.Loaded, SavedAt: found.SavedAt, Note: found.Note}
	if found.Loaded {
		log.Info("sim: state restored", "file", file, "saved_at", found.SavedAt.Format(time.RFC3339),
			"external_bank_accounts", len(s.Cybrid.Accounts("")), "plaid_items", len(s.Plaid.Items()))
	} else {
		// The fresh state is written at once: the file is there to see,
		// and a file set aside is replaced.
		st.Commit()
		log.Info("sim: state kept in a new file", "file", file)
	}
}

// cybridChanged and plaidChanged hear every change of the simulators'
// records. A change of Cybrid's is on disk before its answer is sent
// (Commit), as Cybrid commits before it answers: whatever linkdesk's crash
// journal learned from an answer, the saved simulator has. Plaid's changes
// (an item linked in Link) are saved a moment later (Changed), and with
// the next Cybrid change at the latest.
func (s *Sim) cybridChanged() {
	if st := s.state; st != nil {
		st.Commit()
	}
}

func (s *Sim) plaidChanged() {
	if st := s.state; st != nil {
		st.Changed()
	}
}

// Persistence says where the simulator keeps its state.
func (s *Sim) Persistence() Persistence { return s.persist }

// Reset starts the simulator afresh, on the same port: the seed customers
// only — no workflows, accounts, verifications, Plaid items or link tokens
// — the QA scenario back to normal and no injected faults. Access tokens
// stay valid. With a state file, the fresh state is saved at once.
func (s *Sim) Reset() error {
	s.Plaid.Reset()
	s.Cybrid.Reset() // commits the fresh state (cybridChanged)
	s.ResetScenario()
	s.log.Info("sim: reset: the simulator starts afresh", "file", s.persist.File)
	if st := s.state; st != nil {
		return st.Commit()
	}
	return nil
}

// resetHandler serves POST /sim/reset (Reset; 200 {"reset": true}) and
// passes everything else to next. The body must be JSON ({} will do): a
// web page of another origin cannot send that without a CORS preflight,
// which only loopback origins and Options.CORSOrigins pass.
func (s *Sim) resetHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sim/reset" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, "POST")
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			writeSimError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("send Content-Type: application/json with the body {} (got %q)", ct))
			return
		}
		if err := s.Reset(); err != nil {
			writeSimError(w, http.StatusInternalServerError, "internal_error", "the simulator was reset, but its state file could not be written: "+err.Error())
			return
		}
		writeSimJSON(w, http.StatusOK, map[string]any{"reset": true, "state_file": s.persist.File})
	})
}
