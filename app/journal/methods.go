package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"linkdesk/app/desk"
	"linkdesk/app/linkflow"
)

// RecheckTimeout bounds a reconciliation started from the page.
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

// Methods returns the page's calls on this journal; see the function
// Methods.
func (j *Journal) Methods() map[string]desk.Method {
	return Methods(func() *Journal { return j })
}

// offJournal answers for current() == nil (no environment running).
var offJournal = Off("no environment is running")

// Methods returns the page's calls on the journal current returns at call
// time (so that they follow environment switches; nil is treated as a
// journal that is off), in the desk's form:
//
//	"recovered.list"    {}                    → Status
//	"recovered.dismiss" {"attempt_id": "…"}   → null
//	"recovered.recheck" {}                    → null (ask Cybrid again about unchecked attempts)
func Methods(current func() *Journal) map[string]desk.Method {
	get := func() *Journal {
		if j := current(); j != nil {
			return j
		}
		return offJournal
	}
	return map[string]desk.Method{
		"recovered.list": func(ctx context.Context, raw json.RawMessage) (any, error) {
			if err := strict(raw, &struct{}{}); err != nil {
				return nil, err
			}
			return get().Status(), nil
		},
		"recovered.dismiss": func(ctx context.Context, raw json.RawMessage) (any, error) {
			var p struct {
				AttemptID string `json:"attempt_id"`
			}
			if err := strict(raw, &p); err != nil {
				return nil, err
			}
			return nil, get().Dismiss(p.AttemptID)
		},
		"recovered.recheck": func(ctx context.Context, raw json.RawMessage) (any, error) {
			if err := strict(raw, &struct{}{}); err != nil {
				return nil, err
			}
			return nil, get().Recheck(RecheckTimeout)
		},
	}
}

// WrapMethods is Wrap on this journal.
func (j *Journal) WrapMethods(methods map[string]desk.Method) map[string]desk.Method {
	return Wrap(methods, func() *Journal { return j })
}

// Wrap returns methods with "plaid.onSuccess" preceded by NoteSelection on
// the journal current returns, so that the account chosen in Link is
// journaled before the flow asks Cybrid to create it. Other methods are
// returned unchanged; the map given is not modified.
func Wrap(methods map[string]desk.Method, current func() *Journal) map[string]desk.Method {
	out := make(map[string]desk.Method, len(methods))
	for k, v := range methods {
		out[k] = v
	}
	next, ok := methods["plaid.onSuccess"]
	if !ok {
		return out
	}
	out["plaid.onSuccess"] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p struct {
			AttemptID string                   `json:"attempt_id"`
			Metadata  linkflow.SuccessMetadata `json:"metadata"`
		}
		// The desk validates the call; a body it would refuse is not noted.
		if j := current(); j != nil && len(raw) <= maxParams && json.Unmarshal(raw, &p) == nil && attemptIDRE.MatchString(p.AttemptID) {
			j.NoteSelection(p.AttemptID, p.Metadata)
		}
		return next(ctx, raw)
	}
	return out
}

// maxParams bounds what the page may send in one call (as the desk does).
const maxParams = 64 << 10

func strict(raw json.RawMessage, v any) error {
	if len(raw) > maxParams {
		return fmt.Errorf("parameters are %d bytes; the limit is %d", len(raw), maxParams)
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("parameters do not fit this call: %v", err)
	}
	return nil
}
