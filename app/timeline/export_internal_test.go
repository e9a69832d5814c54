package timeline

import (
	"errors"
	"os"
	"testing"

	"linkdesk/app/redact"
)

// An export is checked once more right before it is written.
func TestExportRefusesAnEntryHoldingASecret(t *testing.T) {
	const clientSecret = "s3cr3t-client-secret-value-42"
	const linkToken = "link-sandbox-6f4e2c1a-0000-4000-8000-123456789abc"

	// Through Export: a secret that reached the recorder unscrubbed (here by
	// writing the entry directly) stops the export and no file is written.
	dir := t.TempDir()
	r := New(Options{Environment: "sandbox", Dir: dir, Secrets: []string{clientSecret}})
	r.mu.Lock()
	r.appendLocked(Entry{Kind: KindNote, Message: "leak " + linkToken})
	r.mu.Unlock()
	files, err := r.Export("", JSONL, HTML)
	var se *redact.ErrSecretInExport
	if !errors.As(err, &se) || se.What != "a Plaid link token" || len(files) != 0 {
		t.Fatalf("Export = %v, %v; want a refusal naming the link token", files, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a refused export left files: %v", left)
	}
}
