package journal

import (
	"time"

	"linkdesk/app/linkflow"
)

// rawBrief is a brief as scanBrief reads it: slices of the line, with no
// copy. A nil slice is a field that is absent or null.
type rawBrief struct {
	V                                                      int
	ID, State, StartedAt, UpdatedAt, WorkflowGUID, Account []byte
	Recovered                                              bool
	Outcome, RecoveredAccount, CheckedAt                   []byte
	Dismissed                                              bool
	DismissedAt                                            []byte
}

// scanBrief is the first pass's fast path: it reads a line as linkdesk
// writes it in one scan without allocating, about ten times faster than
// encoding/json (which checks the whole line, then decodes it again by
// reflection). It reports ok only when the line is one valid JSON object
// and what it returns is exactly what json.Unmarshal would decode into a
// brief; for anything else — damage, an escape or a non-ASCII character in
// a field it reads, a key that differs from a field's only in case, a key
// twice, deep nesting — it reports !ok and the caller decodes the line
// with encoding/json, which also words the error. FuzzScanBrief holds it
// to that.
func scanBrief(b []byte) (l rawBrief, ok bool) {
	s := scanner{b: b}
	s.ws()
	if !s.eat('{') {
		return l, false
	}
	var seen uint16
	s.ws()
	if s.eat('}') {
		return l, s.end()
	}
	for {
		s.ws()
		key, plain := s.str()
		if key == nil {
			return l, false
		}
		s.ws()
		if !s.eat(':') {
			return l, false
		}
		s.ws()
		f := topField(key, plain)
		if f < 0 {
			return l, false // may match a field but for case, or is escaped
		}
		if f > 0 {
			if seen&(1<<f) != 0 {
				return l, false // a key twice
			}
			seen |= 1 << f
		}
		switch f {
		case 0:
			if !s.skip(0) {
				return l, false
			}
		case fV:
			n, good := s.smallInt()
			if !good {
				return l, false
			}
			l.V = n
		case fRecovered:
			if s.null() {
				break
			}
			if !s.recovered(&l) {
				return l, false
			}
		case fDismissed:
			if s.null() {
				break
			}
			v, good := s.plainString()
			if !good {
				return l, false
			}
			l.Dismissed, l.DismissedAt = true, v
		default:
			if s.null() { // encoding/json leaves the field as it was
				break
			}
			v, good := s.plainString()
			if !good {
				return l, false
			}
			switch f {
			case fID:
				l.ID = v
			case fState:
				l.State = v
			case fStarted:
				l.StartedAt = v
			case fUpdated:
				l.UpdatedAt = v
			case fWorkflow:
				l.WorkflowGUID = v
			case fAccount:
				l.Account = v
			}
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return l, s.end()
		}
		return l, false
	}
}

// raw is b as scanBrief returns it (for a line encoding/json decoded).
func (b *brief) raw() rawBrief {
	r := rawBrief{V: b.V, ID: []byte(b.ID), State: []byte(b.State), StartedAt: []byte(b.StartedAt), UpdatedAt: []byte(b.UpdatedAt),
		WorkflowGUID: []byte(b.WorkflowGUID), Account: []byte(b.AccountGUID)}
	if b.Recovered != nil {
		r.Recovered = true
		r.Outcome, r.RecoveredAccount, r.CheckedAt = []byte(b.Recovered.Outcome), []byte(b.Recovered.AccountGUID), []byte(b.Recovered.CheckedAt)
	}
	if b.DismissedAt != nil {
		r.Dismissed, r.DismissedAt = true, []byte(*b.DismissedAt)
	}
	return r
}

// entry is the part of an Entry that Finished, interrupted and lastTouched
// look at. Known states and outcomes are not copied.
func (r *rawBrief) entry() (Entry, error) {
	e := Entry{State: stateOf(r.State)}
	var err error
	if e.StartedAt, err = parseTime(r.StartedAt); err != nil {
		return e, err
	}
	if e.UpdatedAt, err = parseTime(r.UpdatedAt); err != nil {
		return e, err
	}
	if r.Recovered {
		e.Recovered = &Recovered{Outcome: outcomeList[outcomeIndex(r.Outcome)]}
		if string(r.Outcome) != string(e.Recovered.Outcome) {
			e.Recovered.Outcome = Outcome(r.Outcome)
		}
		if e.Recovered.CheckedAt, err = parseTime(r.CheckedAt); err != nil {
			return e, err
		}
	}
	if r.Dismissed {
		t, err := parseTime(r.DismissedAt)
		if err != nil {
			return e, err
		}
		e.DismissedAt = &t
	}
	return e, nil
}

func stateOf(b []byte) linkflow.State {
	for _, s := range states {
		if string(b) == string(s) {
			return s
		}
	}
	return linkflow.State(b)
}

var states = []linkflow.State{linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen, linkflow.CreatingAccount,
	linkflow.AccountRetry, linkflow.WaitingForAccount, linkflow.UpdatingAccount, linkflow.Done, linkflow.Failed, linkflow.Exited}

// parseTime parses a time as encoding/json writes it: RFC 3339 with
// nanoseconds ("" is the zero time). The forms linkdesk writes are read
// without allocating (fastTime); anything else goes to time.Parse.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if t, ok := fastTime(b); ok {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

// fastTime reads YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) with at most 9
// fraction digits and fields in range; it reports !ok for anything else.
// The instant is right; the location is UTC (the first pass compares
// instants only). FuzzFastTime holds it to time.Parse.
func fastTime(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	y, mo, d, h, mi, sec := num(b[0:4]), num(b[5:7]), num(b[8:10]), num(b[11:13]), num(b[14:16]), num(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	i, ns := 19, 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			ns = ns*10 + int(b[i]-'0')
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			ns *= 10
		}
	}
	off := 0
	switch {
	case i == len(b)-1 && b[i] == 'Z':
	case i == len(b)-6 && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		oh, om := num(b[i+1:i+3]), num(b[i+4:i+6])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false
		}
		off = oh*3600 + om*60
		if b[i] == '-' {
			off = -off
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d {
		return time.Time{}, false // e.g. February 30
	}
	return t.Add(-time.Duration(off) * time.Second), true
}

// num is the decimal number b, or -1 when b is not all digits.
func num(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// The top-level fields of brief (0: another key, skipped).
const (
	fV = 1 + iota
	fID
	fState
	fStarted
	fUpdated
	fWorkflow
	fAccount
	fRecovered
	fDismissed
)

var topFields = map[string]int{"v": fV, "id": fID, "state": fState, "started_at": fStarted, "updated_at": fUpdated,
	"workflow_guid": fWorkflow, "account_guid": fAccount, "recovered": fRecovered, "dismissed_at": fDismissed}

var recoveredFields = map[string]int{"outcome": 1, "account_guid": 2, "checked_at": 3}

// topField is key's field, 0 for a key brief does not read, or -1 when the
// scanner cannot tell (an escaped key, or one with a character
// encoding/json's case-insensitive match might fold).
func topField(key []byte, plain bool) int {
	return fieldOf(topFields, key, plain)
}

func fieldOf(fields map[string]int, key []byte, plain bool) int {
	if !plain {
		return -1
	}
	if f, ok := fields[string(key)]; ok {
		return f
	}
	for _, c := range key {
		// The field names are lowercase ASCII: a key of ASCII without
		// capitals that is none of them matches none of them in any case.
		// encoding/json also folds the Kelvin and long-s signs onto k and s.
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return -1
		}
	}
	return 0
}

// recovered reads the "recovered" object into l.
func (s *scanner) recovered(l *rawBrief) bool {
	if !s.eat('{') {
		return false
	}
	l.Recovered = true
	s.ws()
	if s.eat('}') {
		return true
	}
	var seen uint8
	for {
		s.ws()
		key, plain := s.str()
		if key == nil {
			return false
		}
		s.ws()
		if !s.eat(':') {
			return false
		}
		s.ws()
		f := fieldOf(recoveredFields, key, plain)
		if f < 0 {
			return false
		}
		if f > 0 {
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
		}
		if f == 0 {
			if !s.skip(1) {
				return false
			}
		} else if !s.null() {
			v, good := s.plainString()
			if !good {
				return false
			}
			switch f {
			case 1:
				l.Outcome = v
			case 2:
				l.RecoveredAccount = v
			case 3:
				l.CheckedAt = v
			}
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace follows.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) null() bool {
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// str reads a string; it returns its raw content (nil when it is not a
// valid string) and whether that content holds no escape.
func (s *scanner) str() (raw []byte, plain bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	plain = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if raw == nil {
				raw = []byte{}
			}
			return raw, plain
		case c < 0x20:
			return nil, false
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.b) {
				return nil, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 || !isHex(s.b[s.i+1]) || !isHex(s.b[s.i+2]) || !isHex(s.b[s.i+3]) || !isHex(s.b[s.i+4]) {
					return nil, false
				}
				s.i += 5
			default:
				return nil, false
			}
		case c >= 0x80:
			// encoding/json turns invalid UTF-8 into U+FFFD: only a field's
			// plain ASCII is taken as it is.
			plain = false
			s.i++
		default:
			s.i++
		}
	}
	return nil, false
}

// plainString reads a string value without escapes or non-ASCII bytes.
func (s *scanner) plainString() ([]byte, bool) {
	raw, plain := s.str()
	if raw == nil || !plain {
		return nil, false
	}
	return raw, true
}

// smallInt reads a number that is a plain integer of up to 9 digits.
func (s *scanner) smallInt() (int, bool) {
	start, n := s.i, 0
	neg := s.eat('-')
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if neg {
		digits--
	}
	if digits == 0 || digits > 9 || (digits > 1 && s.b[start+btoi(neg)] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false // valid JSON, but not an int encoding/json would take
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skip skips one value of any kind, checking it; depth bounds nesting.
func (s *scanner) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		raw, _ := s.str()
		return raw != nil
	case c == '{':
		s.i++
		s.ws()
		if s.eat('}') {
			return true
		}
		for {
			s.ws()
			if raw, _ := s.str(); raw == nil {
				return false
			}
			s.ws()
			if !s.eat(':') {
				return false
			}
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case c == '[':
		s.i++
		s.ws()
		if s.eat(']') {
			return true
		}
		for {
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	case c == 't':
		return s.word("true")
	case c == 'f':
		return s.word("false")
	case c == 'n':
		return s.word("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return false
}

func (s *scanner) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// number checks a JSON number.
func (s *scanner) number() bool {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return false
		}
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
