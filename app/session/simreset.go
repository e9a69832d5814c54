package session

import (
	"errors"
	"log/slog"
	"path/filepath"

	"linkdesk/app/config"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
	"linkdesk/app/userdirs"
)

// simStateFile is where the built-in simulator keeps its state: the file
// sim.StateFileName in the state folder (dir, or userdirs.State() when
// ""), beside the crash journals that are reconciled against it. With no
// state folder the simulator keeps its state in memory ("").
func simStateFile(dir string, log *slog.Logger) string {
	if dir == "" {
		d, err := userdirs.State()
		if err != nil {
			log.Warn("the built-in simulator keeps its state in memory only: there is no state folder", "error", err)
			return ""
		}
		dir = d
	}
	return filepath.Join(dir, sim.StateFileName)
}

// ErrNoSimulator is returned by ResetSimulator when the built-in simulator
// has not been started in this run.
var ErrNoSimulator = errors.New("the built-in simulator is not running: switch to Simulator first")

// ResetSimulator implements pageapi.Backend: the built-in simulator starts
// afresh (sim.Sim.Reset: the seed customers only, the Normal scenario, no
// faults), on the same port, and its state file says so at once. When the
// simulator is the current environment, that environment is stopped first
// — its running attempts are cancelled, as an environment switch cancels
// them (the page asks the operator first) — and started again on the fresh
// simulator, with the same timeline, which notes the reset. Link tokens
// prepared ahead of a click in the simulator are dropped: the fresh
// simulator does not know them.
func (s *Session) ResetSimulator() (pageapi.SessionInfo, error) {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	sm := s.sims.Running()
	if sm == nil {
		return pageapi.SessionInfo{}, ErrNoSimulator
	}
	cur := s.env.Load()
	onSim := cur != nil && cur.Target.Simulated()
	if onSim {
		s.env.Store(nil)
		cur.Close()
	}
	delete(s.shelves, config.Sim)
	err := sm.Reset()
	if err != nil {
		s.Log.Error("the simulator was reset, but its state file could not be written", "error", err)
	} else {
		s.Log.Info("the built-in simulator was reset: it starts afresh", "state_file", sm.Persistence().File)
	}
	if kept := s.timelines[config.Sim]; kept != nil {
		kept.rec.Note("", "The simulator was reset by the operator: every account, workflow, verification and Plaid item made in it is gone; it starts again with its seed customers",
			map[string]any{"state_file": sm.Persistence().File})
	}
	if onSim {
		if serr := s.switchToLocked(config.Sim); serr != nil {
			return pageapi.SessionInfo{}, serr
		}
	}
	if err != nil {
		return pageapi.SessionInfo{}, err
	}
	return s.Info(), nil
}
