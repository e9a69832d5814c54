package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"linkdesk/app/guid"
)

// Filter selects records; an empty field matches every record.
type Filter struct {
	// Environment is sim, sandbox or production.
	Environment  string `json:"environment"`
	CustomerGUID string `json:"customer_guid"`
	AccountGUID  string `json:"account_guid"`
	Action       Action `json:"action"`
}

// Check says what is wrong with f, if anything.
func (f Filter) Check() error {
	if f.Environment != "" && !envRE.MatchString(f.Environment) {
		return errors.New("environment is not valid: use sim, sandbox, production or \"\" for all")
	}
	if f.CustomerGUID != "" {
		if err := guid.Check("customer GUID", f.CustomerGUID); err != nil {
			return err
		}
	}
	if f.AccountGUID != "" {
		if err := guid.Check("account GUID", f.AccountGUID); err != nil {
			return err
		}
	}
	if f.Action != "" && !slices.Contains(Actions, f.Action) {
		return fmt.Errorf("action is not one of %v (or \"\" for all)", Actions)
	}
	return nil
}

func (f Filter) match(r Record) bool {
	return (f.Environment == "" || r.Environment == f.Environment) &&
		(f.CustomerGUID == "" || r.CustomerGUID == f.CustomerGUID) &&
		(f.AccountGUID == "" || r.AccountGUID == f.AccountGUID) &&
		(f.Action == "" || r.Action == f.Action)
}

// quick reports whether a raw line can match f, before it is decoded.
func (f Filter) quick(b []byte) bool {
	for _, v := range []string{f.Environment, f.CustomerGUID, f.AccountGUID, string(f.Action)} {
		if v != "" && !bytes.Contains(b, []byte(v)) {
			return false
		}
	}
	return true
}

// Paging limits of List.
const (
	DefaultPerPage = 50
	MaxPerPage     = 500
)

// Page is one page of records, newest first.
type Page struct {
	Records []Record `json:"records"`
	// Total is how many records match the filter; Page (0-based) and
	// PerPage say which of them Records are.
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
	// Damaged counts lines that could match the filter but could not be
	// read (a line cut short by a crash, a file edited by hand); they are
	// left out.
	Damaged int `json:"damaged,omitempty"`
	// Status is the log's state: on or off (and why), its file, and the
	// last append's failure.
	Status Status `json:"status"`
}

// List returns page (0-based) of the records matching f, newest first,
// perPage at a time (0 means DefaultPerPage; at most MaxPerPage). A log
// that is off answers an empty page whose Status says why.
func (l *Log) List(f Filter, page, perPage int) (Page, error) {
	if err := f.Check(); err != nil {
		return Page{}, err
	}
	if page < 0 {
		return Page{}, fmt.Errorf("page %d is not valid: pages start at 0", page)
	}
	if perPage == 0 {
		perPage = DefaultPerPage
	}
	if perPage < 1 || perPage > MaxPerPage {
		return Page{}, fmt.Errorf("per_page %d is not valid: use 1 to %d (0 means %d)", perPage, MaxPerPage, DefaultPerPage)
	}
	out := Page{Records: []Record{}, Page: page, PerPage: perPage, Status: l.Status()}
	if !out.Status.On {
		return out, nil
	}
	all, damaged, err := l.read(f)
	if err != nil {
		return Page{}, err
	}
	out.Total, out.Damaged = len(all), damaged
	// all is oldest first; page 0 is its end.
	hi := len(all) - page*perPage
	lo := max(hi-perPage, 0)
	for i := hi - 1; i >= lo; i-- {
		out.Records = append(out.Records, all[i])
	}
	return out, nil
}

// Records returns every record matching f, oldest first (nil when the log is
// off), and how many damaged lines were skipped.
func (l *Log) Records(f Filter) ([]Record, int, error) {
	if err := f.Check(); err != nil {
		return nil, 0, err
	}
	if !l.Status().On {
		return nil, 0, nil
	}
	return l.read(f)
}

// Latest returns, for each account, the newest record matching f and also
// keep (nil keeps all), e.g. every account's last successful unlink.
func (l *Log) Latest(f Filter, keep func(Record) bool) (map[string]Record, error) {
	recs, _, err := l.Records(f)
	if err != nil {
		return nil, err
	}
	out := map[string]Record{}
	for _, r := range recs {
		if r.AccountGUID != "" && (keep == nil || keep(r)) {
			out[r.AccountGUID] = r
		}
	}
	return out, nil
}

// read returns the records of both files matching f, oldest first, under the
// file lock (so that no rotation happens between the two files).
func (l *Log) read(f Filter) ([]Record, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return nil, 0, errors.New("the audit log is closed")
	}
	unlock, err := l.lock.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	var out []Record
	damaged := 0
	for _, p := range []string{l.prev, l.path} {
		n, err := readFile(p, f, &out)
		damaged += n
		if err != nil {
			return nil, 0, err
		}
	}
	return out, damaged, nil
}

func readFile(path string, f Filter, out *[]Record) (damaged int, err error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the audit log %s: %w", path, err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		b := sc.Bytes()
		if !f.quick(b) {
			continue
		}
		r, ok := decodeLine(b)
		if !ok {
			if len(bytes.TrimSpace(b)) > 0 {
				damaged++
			}
			continue
		}
		if f.match(r) {
			*out = append(*out, r)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return damaged + 1, fmt.Errorf("the audit log %s has a line longer than %d bytes: it was not written by linkdesk; move the file away", path, maxLine)
		}
		return damaged, fmt.Errorf("reading the audit log %s: %w", path, err)
	}
	return damaged, nil
}
