// Package institutions remembers banks' names by their Plaid institution id,
// so that linkdesk can show "First Platypus Bank" where Cybrid gives only
// ins_109508. Cybrid's external bank accounts carry the id alone; Plaid Link
// tells the page both (onSuccess and onExit metadata.institution, onEvent
// metadata institution_id / institution_name), and the flow's events carry
// them (linkflow.Event.Selection, the recorded Plaid metadata). Names learned
// there are kept in the state directory for the next run.
//
// # File
//
// <dir>/institutions.json (FileName), mode 0600 in a 0700 directory:
//
//	{"v":1,"institutions":{"ins_109508":{"name":"First Platypus Bank","seen":"2025-…Z"}}}
//
// It is rewritten whole (a temporary file, fsync, rename) when a name is
// learned or changes, merged first with what another linkdesk may have
// written meanwhile. It keeps at most MaxEntries banks, dropping the ones
// seen longest ago. It holds no secret: only public bank ids and names.
package institutions

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"linkdesk/app/durable"
	"linkdesk/app/linkflow"
	"linkdesk/app/redact"
	"linkdesk/app/userdirs"
)

// FileName is the file's name in the state directory.
const FileName = "institutions.json"

// MaxEntries bounds the file: an operator's banks number in the hundreds.
const MaxEntries = 2000

// maxName bounds a bank's name, in bytes.
const maxName = 200

// refreshSeen is how old a bank's "seen" time may get before seeing it again
// is written down (so that Link's events do not rewrite the file each time).
const refreshSeen = 24 * time.Hour

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type entry struct {
	Name string    `json:"name"`
	Seen time.Time `json:"seen"`
}

type file struct {
	V            int              `json:"v"`
	Institutions map[string]entry `json:"institutions"`
}

// Names maps Plaid institution ids to banks' names. Its methods are safe for
// concurrent use, and for a nil *Names (which knows no name).
type Names struct {
	path string // "" keeps names in memory only
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]entry
	// warned: a failed write was logged (once until a write succeeds).
	warned bool
}

// Memory returns Names kept in memory only (this run).
func Memory() *Names {
	return &Names{log: slog.New(slog.DiscardHandler), now: time.Now, entries: map[string]entry{}}
}

// Open reads the names kept in dir ("" means userdirs.State()), creating
// the directory (0700) when needed. A missing file is an empty store; a file
// that cannot be read as JSON is logged and replaced at the next write. log
// may be nil.
func Open(dir string, log *slog.Logger) (*Names, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		d, err := userdirs.State()
		if err != nil {
			return nil, fmt.Errorf("bank names: %w", err)
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bank names: cannot create the state folder %s: %w. Check its permissions", dir, err)
	}
	n := &Names{path: filepath.Join(dir, FileName), log: log, now: time.Now, entries: map[string]entry{}}
	got, err := n.readFile()
	if err != nil {
		log.Warn("bank names: the file could not be read; it is started anew", "file", n.path, "error", err)
	}
	n.entries = got
	return n, nil
}

// Path is the file the names are kept in ("" in memory only).
func (n *Names) Path() string {
	if n == nil {
		return ""
	}
	return n.path
}

// Name returns the bank's name for a Plaid institution id, or "" when none
// is known.
func (n *Names) Name(id string) string {
	if n == nil || id == "" {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.entries[id].Name
}

// Learn remembers that the institution id is named name, and writes the
// file when that is new or changed. An id without Plaid's shape, or an empty
// name, is ignored. The name is kept printable, scrubbed of token-shaped
// values and cut to 200 bytes. It reports whether anything changed.
func (n *Names) Learn(id, name string) bool {
	if n == nil || !idRE.MatchString(id) {
		return false
	}
	name = cleanName(name)
	if name == "" {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now().UTC()
	old, ok := n.entries[id]
	if ok && old.Name == name && now.Sub(old.Seen) < refreshSeen {
		return false
	}
	n.entries[id] = entry{Name: name, Seen: now}
	if n.path != "" {
		n.writeLocked()
	}
	return !ok || old.Name != name
}

// Observe is a linkflow.Observer: it learns names from the account chosen
// in Link (Event.Selection) and from the Plaid metadata the event recorded
// (onEvent's institution_id and institution_name; onSuccess's and onExit's
// institution). It never blocks for long: a write is one small file.
func (n *Names) Observe(_ linkflow.Attempt, ev linkflow.Event) {
	if n == nil {
		return
	}
	if s := ev.Selection; s != nil {
		n.Learn(s.InstitutionID, s.Institution)
	}
	meta, _ := ev.Data["metadata"].(map[string]any)
	if meta == nil {
		return
	}
	if id, _ := meta["institution_id"].(string); id != "" {
		name, _ := meta["institution_name"].(string)
		n.Learn(id, name)
	}
	if ins, _ := meta["institution"].(map[string]any); ins != nil {
		id, _ := ins["institution_id"].(string)
		name, _ := ins["name"].(string)
		n.Learn(id, name)
	}
}

func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name)
	name = strings.TrimSpace(redact.New(nil).String(name))
	if len(name) > maxName {
		i := maxName
		for i > 0 && (name[i]&0xC0) == 0x80 {
			i--
		}
		name = name[:i]
	}
	return name
}

// readFile reads the file; a missing file is empty.
func (n *Names) readFile() (map[string]entry, error) {
	out := map[string]entry{}
	b, err := os.ReadFile(n.path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return out, fmt.Errorf("not linkdesk's JSON: %w", err)
	}
	for id, e := range f.Institutions {
		if idRE.MatchString(id) {
			if name := cleanName(e.Name); name != "" {
				out[id] = entry{Name: name, Seen: e.Seen}
			}
		}
	}
	return out, nil
}

// writeLocked merges the file's names (another linkdesk may have learned
// some) under the ones in memory, bounds them, and replaces the file.
func (n *Names) writeLocked() {
	if disk, err := n.readFile(); err == nil {
		for id, e := range disk {
			if cur, ok := n.entries[id]; !ok || e.Seen.After(cur.Seen) {
				n.entries[id] = e
			}
		}
	}
	if len(n.entries) > MaxEntries {
		ids := make([]string, 0, len(n.entries))
		for id := range n.entries {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return n.entries[ids[i]].Seen.After(n.entries[ids[j]].Seen) })
		for _, id := range ids[MaxEntries:] {
			delete(n.entries, id)
		}
	}
	b, err := json.Marshal(file{V: 1, Institutions: n.entries})
	if err == nil {
		err = durable.WriteFile(n.path, b)
	}
	if err != nil {
		if !n.warned {
			n.log.Warn("bank names: could not be saved; names learned now are kept until linkdesk quits", "file", n.path, "error", err)
			n.warned = true
		}
		return
	}
	n.warned = false
}
