package institutions_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/institutions"
	"linkdesk/app/linkflow"
)

func TestNamesAreLearnedFromTheFlowsEventsAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	n, err := institutions.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := linkflow.Attempt{ID: "0123456789abcdef"}
	// onEvent SELECT_INSTITUTION, as the flow records it.
	n.Observe(at, linkflow.Event{Type: "plaid_event", Data: map[string]any{"event": "SELECT_INSTITUTION",
		"metadata": map[string]any{"institution_id": "ins_109509", "institution_name": "First Gingham Credit Union", "view_name": "SELECT_INSTITUTION"}}})
	// onExit's metadata.institution.
	n.Observe(at, linkflow.Event{Type: "plaid_callback", Data: map[string]any{
		"metadata": map[string]any{"institution": map[string]any{"institution_id": "ins_109510", "name": "Tattersall Federal Credit Union"}}}})
	// onSuccess: the account chosen in Link.
	n.Observe(at, linkflow.Event{Type: "plaid_callback", Selection: &linkflow.Selection{InstitutionID: "ins_109508", Institution: "First Platypus Bank"}})
	// Nothing to learn: no name, a malformed id, a token for a name.
	n.Observe(at, linkflow.Event{Type: "plaid_event", Data: map[string]any{"metadata": map[string]any{"institution_id": "ins_1", "institution_name": ""}}})
	n.Learn("ins_2; rm -rf /", "Evil")
	n.Learn("ins_3", "public-sandbox-5c224a01-8314-4491-a06f-39e193d5cddc")

	for id, want := range map[string]string{"ins_109508": "First Platypus Bank", "ins_109509": "First Gingham Credit Union",
		"ins_109510": "Tattersall Federal Credit Union", "ins_1": "", "ins_404": ""} {
		if got := n.Name(id); got != want {
			t.Errorf("Name(%s) = %q, want %q", id, got, want)
		}
	}
	if got := n.Name("ins_3"); strings.Contains(got, "public-sandbox") {
		t.Errorf("a token-shaped name was kept: %q", got)
	}

	// The next run knows them.
	again, err := institutions.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Name("ins_109508"); got != "First Platypus Bank" {
		t.Errorf("after a restart Name(ins_109508) = %q", got)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, institutions.FileName))
	var f struct {
		V            int                        `json:"v"`
		Institutions map[string]json.RawMessage `json:"institutions"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.V != 1 || len(f.Institutions) != 4 {
		t.Errorf("file (%v): %s", err, raw)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(filepath.Join(dir, institutions.FileName)); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("folder mode %v", fi.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the folder holds %d files, want only %s", len(ents), institutions.FileName)
	}
}

// Two linkdesks learning different banks keep both; a damaged file is
// started anew; a nil store knows nothing.
func TestTheFileIsSharedAndRecovers(t *testing.T) {
	dir := t.TempDir()
	a, _ := institutions.Open(dir, nil)
	b, _ := institutions.Open(dir, nil)
	a.Learn("ins_1", "One Bank")
	b.Learn("ins_2", "Two Bank")
	c, _ := institutions.Open(dir, nil)
	if c.Name("ins_1") != "One Bank" || c.Name("ins_2") != "Two Bank" {
		t.Errorf("after two writers: %q %q", c.Name("ins_1"), c.Name("ins_2"))
	}
	os.WriteFile(filepath.Join(dir, institutions.FileName), []byte(`{"v":1,"institutions":{"ins_1":`), 0o600)
	d, err := institutions.Open(dir, nil)
	if err != nil || d.Name("ins_1") != "" {
		t.Errorf("damaged file: %v, %q", err, d.Name("ins_1"))
	}
	d.Learn("ins_9", "Nine Bank")
	if e, _ := institutions.Open(dir, nil); e.Name("ins_9") != "Nine Bank" {
		t.Error("a damaged file was not replaced")
	}
	var none *institutions.Names
	if none.Name("ins_1") != "" || none.Learn("ins_1", "x") {
		t.Error("a nil store knows something")
	}
}

// The file keeps at most MaxEntries banks: learning more drops the ones seen
// longest ago.
func TestTheFileIsBounded(t *testing.T) {
	dir := t.TempDir()
	full := map[string]any{}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range institutions.MaxEntries {
		full[fmt.Sprintf("ins_%d", i)] = map[string]any{"name": fmt.Sprintf("Bank %d", i), "seen": t0.Add(time.Duration(i) * time.Minute)}
	}
	b, _ := json.Marshal(map[string]any{"v": 1, "institutions": full})
	os.WriteFile(filepath.Join(dir, institutions.FileName), b, 0o600)
	n, _ := institutions.Open(dir, nil)
	for i := range 3 {
		n.Learn(fmt.Sprintf("ins_new%d", i), "New Bank")
	}
	again, _ := institutions.Open(dir, nil)
	for id, known := range map[string]bool{"ins_0": false, "ins_2": false, "ins_3": true, "ins_new2": true} {
		if (again.Name(id) != "") != known {
			t.Errorf("%s known: %t, want %t", id, !known, known)
		}
	}
}
