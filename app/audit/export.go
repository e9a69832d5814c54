package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"linkdesk/app/redact"
	"linkdesk/app/userdirs"
)

// SchemaVersion names the JSON Lines export's format.
const SchemaVersion = "linkdesk.audit/1"

// Format is an export format.
type Format string

const (
	// CSV opens in a spreadsheet (LibreOffice Calc, Excel): UTF-8 with a
	// byte-order mark, CRLF line ends, one header row, one row per record,
	// oldest first. A cell that a spreadsheet would read as a formula (it
	// starts with = + - @, a tab or a carriage return) is prefixed with '.
	CSV Format = "csv"
	// JSONL is JSON Lines: a header line ({"type":"header", …}), then the
	// records as they are in the log ("v":1, …), oldest first.
	JSONL Format = "jsonl"
)

// ParseFormats reads the page's format: "csv", "jsonl", or "both" / ""
// for both.
func ParseFormats(s string) ([]Format, error) {
	switch s {
	case "", "both":
		return []Format{CSV, JSONL}, nil
	case string(CSV):
		return []Format{CSV}, nil
	case string(JSONL):
		return []Format{JSONL}, nil
	}
	return nil, fmt.Errorf("format %.20q is not known: use csv, jsonl or both", s)
}

// File is one written export.
type File struct {
	Format Format `json:"format"`
	Path   string `json:"path"`
	Bytes  int    `json:"bytes"`
}

// Exported is what Export wrote.
type Exported struct {
	Files []File `json:"files"`
	// Dir is the folder they are in; Records how many records each holds.
	Dir     string `json:"dir"`
	Records int    `json:"records"`
}

// exportHeader is the first line of a JSON Lines export.
type exportHeader struct {
	Type       string `json:"type"`
	Schema     string `json:"schema"`
	ExportedAt string `json:"exported_at"`
	ExportedBy string `json:"exported_by"`
	Host       string `json:"host,omitempty"`
	Filter     Filter `json:"filter"`
	Records    int    `json:"records"`
	Damaged    int    `json:"damaged"`
	// From and To are the times of the first and last record.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Export writes the records matching f, oldest first, in each format to
// dir as linkdesk-audit[-<environment>]-<UTC time>.<format>, mode 0600,
// never overwriting a file. Every format is rendered and checked for
// secrets before any file is written. A log that is off exports nothing and
// says why.
func (l *Log) Export(dir string, f Filter, formats ...Format) (Exported, error) {
	if len(formats) == 0 {
		return Exported{}, errors.New("no export format given: use csv, jsonl or both")
	}
	if st := l.Status(); !st.On {
		return Exported{}, fmt.Errorf("the audit log is off (%s): there is nothing to export", st.Off)
	}
	recs, damaged, err := l.Records(f)
	if err != nil {
		return Exported{}, err
	}
	now := l.now()
	rendered := make([][]byte, len(formats))
	for i, fm := range formats {
		var b []byte
		switch fm {
		case CSV:
			b, err = renderCSV(recs)
		case JSONL:
			b, err = l.renderJSONL(recs, f, damaged, now)
		default:
			err = fmt.Errorf("format %q is not known: use csv or jsonl", fm)
		}
		if err != nil {
			return Exported{}, err
		}
		if err := redact.New(nil).Check(b); err != nil {
			return Exported{}, err
		}
		rendered[i] = b
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Exported{}, fmt.Errorf("cannot create the export folder %s: %w", dir, err)
	}
	base := "linkdesk-audit"
	if f.Environment != "" {
		base += "-" + f.Environment
	}
	base += "-" + now.UTC().Format("20060102T150405Z")
	out := Exported{Dir: dir, Records: len(recs), Files: []File{}}
	for i, fm := range formats {
		p, err := userdirs.WriteNew(dir, base, string(fm), rendered[i])
		if err != nil {
			return out, err
		}
		out.Files = append(out.Files, File{Format: fm, Path: p, Bytes: len(rendered[i])})
	}
	return out, nil
}

func (l *Log) renderJSONL(recs []Record, f Filter, damaged int, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	h := exportHeader{Type: "header", Schema: SchemaVersion, ExportedAt: now.UTC().Format(time.RFC3339Nano),
		ExportedBy: l.user, Host: l.host, Filter: f, Records: len(recs), Damaged: damaged}
	if n := len(recs); n > 0 {
		h.From, h.To = recs[0].Time.Format(time.RFC3339Nano), recs[n-1].Time.Format(time.RFC3339Nano)
	}
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := enc.Encode(line{V: Version, Record: r}); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// csvColumns are the CSV export's columns.
var csvColumns = []string{"time_local", "time_utc", "environment", "user", "host", "action", "outcome",
	"customer_guid", "account_guid", "institution", "institution_id", "attempt_id", "code", "detail"}

func renderCSV(recs []Record) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // so that Excel reads UTF-8
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	w.Write(csvColumns)
	for _, r := range recs {
		row := []string{
			r.Time.Local().Format("2006-01-02 15:04:05"), r.Time.UTC().Format(time.RFC3339), r.Environment, r.User, r.Host,
			string(r.Action), string(r.Outcome), r.CustomerGUID, r.AccountGUID, r.Institution, r.InstitutionID,
			r.AttemptID, r.Code, r.Detail,
		}
		for i := range row {
			row[i] = noFormula(row[i])
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// noFormula keeps a spreadsheet from evaluating a cell as a formula (bank
// names and messages come from outside linkdesk).
func noFormula(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
