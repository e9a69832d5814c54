package journal

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"linkdesk/app/durable"
	"linkdesk/app/linkflow"
)

// Bounds of what Open reads into memory and what Status shows, whatever
// the file holds (issue 14: a 39 MB journal of 200,000 unfinished attempts
// took 691 MB and 24 s to start, and listed every attempt).
const (
	// MaxHeld is how many interrupted attempts, and separately how many
	// other attempts, Open keeps in memory: the newest by start. The rest
	// stay in the file as they are (compaction copies their lines), are
	// counted in Status.Older, still claim their accounts (Claims), and
	// come into memory at a later start as newer ones are dismissed or
	// expire.
	MaxHeld = 1000
	// MaxListed bounds Status.Attempts (the newest); the other interrupted
	// attempts are counted by outcome in Status.Older.
	MaxListed = 50
)

// rec is what Open's first pass keeps of the last line of one attempt:
// 56 bytes, so that a file of 200,000 attempts costs about 11 MB while it
// is read.
type rec struct {
	off     int64  // of its line in the file
	started int64  // StartedAt, Unix ns
	n       uint32 // bytes of the line, its newline included (0: dropped)
	flags   uint8
	outcome uint8 // index in outcomeList
	// The account the attempt owns (Entry.AccountGUID, else the one
	// reconciliation found) and its workflow: what an attempt left in the
	// file only still claims.
	account, workflow guid128
}

const (
	fNL          = 1 << iota // the line ends with a newline
	fFinished                // Entry.Finished
	fExpired                 // finished before the retention's cutoff
	fInterrupted             // Entry.interrupted
	fHasAccount              // account is set
	fHasWorkflow             // workflow is set
)

// recList holds recs in blocks: it grows without copying, and without a
// guess at the number of lines.
type recList struct {
	blocks [][]rec
	n      int32
}

const recBlock = 4096

func (l *recList) add(r rec) int32 {
	if int(l.n)%recBlock == 0 {
		l.blocks = append(l.blocks, make([]rec, recBlock))
	}
	l.blocks[len(l.blocks)-1][int(l.n)%recBlock] = r
	l.n++
	return l.n - 1
}

func (l *recList) at(i int32) *rec { return &l.blocks[i/recBlock][i%recBlock] }

func (l *recList) len() int { return int(l.n) }

// brief is the part of a line the first pass reads (its times are parsed
// by hand: encoding/json's time.Time decoding is the slowest part).
type brief struct {
	V            int             `json:"v"`
	ID           string          `json:"id"`
	State        linkflow.State  `json:"state"`
	StartedAt    string          `json:"started_at"`
	UpdatedAt    string          `json:"updated_at"`
	WorkflowGUID string          `json:"workflow_guid"`
	AccountGUID  string          `json:"account_guid"`
	Recovered    *briefRecovered `json:"recovered"`
	DismissedAt  *string         `json:"dismissed_at"`
}

type briefRecovered struct {
	Outcome     Outcome `json:"outcome"`
	AccountGUID string  `json:"account_guid"`
	CheckedAt   string  `json:"checked_at"`
}

// The kinds of line the first pass finds.
const (
	lBlank = iota
	lOther // of another format version
	lDamaged
	lRecord
)

// parsed is what the first pass makes of one line.
type parsed struct {
	kind uint8
	nl   bool
	line int
	v    int    // lOther: its format version
	why  string // lDamaged
	off  int64
	n    int64
	id   [8]byte
	r    rec
}

// parseLine reads one line (without its newline; nil when longer than
// maxLine); a finished attempt last touched before cutoff is expired.
func parseLine(b []byte, long bool, cutoff time.Time) parsed {
	var p parsed
	if long {
		p.kind, p.why = lDamaged, "line too long"
		return p
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return p
	}
	l, ok := scanBrief(b)
	var err error
	if !ok {
		var slow brief
		if err = json.Unmarshal(b, &slow); err == nil {
			l = slow.raw()
		}
	}
	switch {
	case err == nil && l.V != Version && l.V != 0:
		p.kind, p.v = lOther, l.V
		return p
	case err == nil && !linkflow.ValidAttemptID(string(l.ID)):
		err = errors.New("no attempt id")
	}
	var e Entry
	if err == nil {
		e, err = l.entry()
	}
	if err != nil {
		p.kind, p.why = lDamaged, shortErr(err)
		return p
	}
	p.kind = lRecord
	hex.Decode(p.id[:], l.ID)
	p.r = rec{started: e.StartedAt.UnixNano()}
	if e.Finished() {
		p.r.flags |= fFinished
		if lastTouched(&e).Before(cutoff) {
			p.r.flags |= fExpired
		}
	}
	if e.interrupted() {
		p.r.flags |= fInterrupted
	}
	if l.Recovered {
		p.r.outcome = outcomeIndex(l.Outcome)
	}
	acct := l.Account
	if len(acct) == 0 {
		acct = l.RecoveredAccount
	}
	if v, ok := packGUID(acct); ok {
		p.r.account, p.r.flags = v, p.r.flags|fHasAccount
	}
	if v, ok := packGUID(l.WorkflowGUID); ok {
		p.r.workflow, p.r.flags = v, p.r.flags|fHasWorkflow
	}
	return p
}

// chunk is a run of lines the first pass hands to one of its workers, and
// what the worker made of them. Chunks are recycled: the first pass makes
// little garbage whatever the file's size.
type chunk struct {
	buf   []byte
	lines []chunkLine
	res   []parsed
	done  chan struct{}
}

type chunkLine struct {
	start, end int // in buf
	line       int
	off, n     int64
	nl, long   bool
}

// Each chunk holds about chunkBytes of lines.
const chunkBytes = 256 << 10

// readLines parses every line of f, in file order, on GOMAXPROCS workers,
// and hands the results to use chunk by chunk, in order (the slice is
// reused after use returns). Memory is bounded by the chunks in flight.
func readLines(f *os.File, cutoff time.Time, use func([]parsed)) error {
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *chunk)
	queue := make(chan *chunk, workers)
	free := make(chan *chunk, workers+2)
	for w := 0; w < workers; w++ {
		go func() {
			for c := range jobs {
				c.res = c.res[:0]
				for _, l := range c.lines {
					var b []byte
					if !l.long {
						b = c.buf[l.start:l.end]
					}
					p := parseLine(b, l.long, cutoff)
					p.line, p.off, p.n, p.nl = l.line, l.off, l.n, l.nl
					p.r.off, p.r.n = l.off, uint32(l.n)
					if l.nl {
						p.r.flags |= fNL
					}
					c.res = append(c.res, p)
				}
				c.done <- struct{}{}
			}
		}()
	}
	var readErr error
	go func() {
		defer close(jobs)
		defer close(queue)
		lr := &lineReader{br: bufio.NewReaderSize(f, maxLine+1)}
		next := func() *chunk {
			select {
			case c := <-free:
				c.buf, c.lines = c.buf[:0], c.lines[:0]
				return c
			default:
				return &chunk{done: make(chan struct{}, 1)}
			}
		}
		c := next()
		for n := 1; ; n++ {
			b, off, ln, nl, long, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			start := len(c.buf)
			c.buf = append(c.buf, b...)
			c.lines = append(c.lines, chunkLine{start: start, end: len(c.buf), line: n, off: off, n: ln, nl: nl, long: long})
			if len(c.buf) >= chunkBytes || len(c.lines) >= chunkBytes/64 {
				queue <- c
				jobs <- c
				c = next()
			}
		}
		if len(c.lines) > 0 {
			queue <- c
			jobs <- c
		}
	}()
	for c := range queue {
		<-c.done
		use(c.res)
		select {
		case free <- c:
		default:
		}
	}
	return readErr
}

// guid128 is a Cybrid GUID (32 lowercase hex characters) in 16 bytes.
type guid128 [16]byte

func packGUID[S string | []byte](s S) (g guid128, ok bool) {
	if len(s) != 32 {
		return g, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return g, false
		}
	}
	hex.Decode(g[:], []byte(s))
	return g, true
}

// guidSet is a sorted set of GUIDs: the accounts or workflows of the
// attempts left in the file only.
type guidSet []guid128

func (s guidSet) has(guid string) bool {
	g, ok := packGUID(guid)
	if !ok {
		return false
	}
	i := sort.Search(len(s), func(i int) bool { return bytes.Compare(s[i][:], g[:]) >= 0 })
	return i < len(s) && s[i] == g
}

func (s guidSet) sorted() guidSet {
	sort.Slice(s, func(a, b int) bool { return bytes.Compare(s[a][:], s[b][:]) < 0 })
	out := s[:0]
	for i, g := range s {
		if i == 0 || g != s[i-1] {
			out = append(out, g)
		}
	}
	return out
}

// archive is what the journal knows of the attempts Open left in the file
// only (beyond MaxHeld).
type archive struct {
	accounts, workflows guidSet
	// entries counts them; interrupted counts those the operator has not
	// dismissed, by outcome in byOutcome.
	entries, interrupted int
	byOutcome            map[Outcome]int
}

// outcomeList are the outcomes a rec can count under (index 0: unknown or
// not checked yet).
var outcomeList = []Outcome{OutcomeUnchecked, OutcomeChecking, OutcomeNothingLinked, OutcomeNotCreated, OutcomeLinked,
	OutcomeStoring, OutcomeFailed, OutcomeGone, OutcomeAmbiguous, OutcomeRefreshed, OutcomeRefreshRequired}

func outcomeIndex(o []byte) uint8 {
	for i, x := range outcomeList {
		if string(o) == string(x) {
			return uint8(i)
		}
	}
	return 0
}

// interrupted reports whether e is one of the interrupted attempts the
// operator is shown (Recovered): found unfinished at a start and not
// dismissed.
func (e *Entry) interrupted() bool {
	return e.DismissedAt == nil && (e.Recovered != nil || !e.State.Final())
}

// lineReader reads a file's lines with their offsets, in bounded memory: a
// line longer than maxLine is skipped and reported as such.
type lineReader struct {
	br  *bufio.Reader
	off int64
}

// next returns the next line without its newline (valid until the next
// call; nil when long), where it starts, its length in the file (newline
// included), whether it ends with a newline, and whether it was longer
// than maxLine. It returns io.EOF after the last line.
func (r *lineReader) next() (b []byte, off, n int64, nl, long bool, err error) {
	off = r.off
	chunk, err := r.br.ReadSlice('\n')
	n = int64(len(chunk))
	for err == bufio.ErrBufferFull {
		long = true
		chunk, err = r.br.ReadSlice('\n')
		n += int64(len(chunk))
	}
	r.off += n
	if err != nil && err != io.EOF {
		return nil, off, n, false, long, err
	}
	if n == 0 {
		return nil, off, 0, false, false, io.EOF
	}
	nl = chunk[len(chunk)-1] == '\n'
	if long {
		return nil, off, n, nl, true, nil
	}
	return bytes.TrimRight(chunk, "\r\n"), off, n, nl, false, nil
}

// compactAbove is the size from which compaction waits until superseded
// and expired lines are a quarter of the file: copying a large file at
// every start for a few lines would make every start slow.
const compactAbove = 8 << 20

// span is a line of the file that compaction keeps.
type span struct {
	off, n int64
	nl     bool
}

// load reads the file in two passes over it, in memory bounded by MaxHeld
// whatever its size: the first (on every CPU, readLines) keeps, of each
// attempt's last line, where it is and what it says in brief (rec, 32
// bytes); the second reads the held attempts in full and copies the lines
// worth keeping into the compacted file — each attempt's last line,
// dropping finished attempts older than Options.Retain. The compacted file
// is made of lines of the file as found, so it is never larger (but for a
// newline the last line may lack); a large file is copied only once a
// quarter of it can go (compactAbove). Damage is counted and reported in
// one note per kind. When the disk refuses the copy the file is left as it
// is (nothing is lost) and compacted at a later start.
func (j *Journal) load() error {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: cannot read %s: %w", j.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: cannot read %s: %w", j.path, err)
	}
	size := fi.Size()

	var (
		recs          recList
		byID          = map[[8]byte]int32{}
		keep          []span // lines of another format version, kept as they are
		otherVersions int
		firstOther    struct{ line, v int }
		damaged       int
		firstDamage   struct {
			line int
			why  string
		}
		cutShort int64 = -1
	)
	cutoff := j.now().Add(-j.retain)
	err = readLines(f, cutoff, func(ps []parsed) {
		for k := range ps {
			p := &ps[k]
			switch p.kind {
			case lBlank:
			case lOther:
				keep = append(keep, span{p.off, p.n, p.nl})
				if otherVersions++; otherVersions == 1 {
					firstOther.line, firstOther.v = p.line, p.v
				}
			case lDamaged:
				if !p.nl { // only the last line can lack its newline
					cutShort = p.n
				} else if damaged++; damaged == 1 {
					firstDamage.line, firstDamage.why = p.line, p.why
				}
			case lRecord:
				if i, seen := byID[p.id]; seen {
					*recs.at(i) = p.r // the last line of an attempt wins
				} else {
					byID[p.id] = recs.add(p.r)
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("journal: cannot read %s: %w", j.path, err)
	}
	byID = nil

	// Which attempts are kept, and which of those are held in memory.
	var inter, other []int32
	for i := range recs.len() {
		r := recs.at(int32(i))
		switch {
		case r.flags&fExpired != 0:
			r.n = 0 // dropped
		case r.flags&fInterrupted != 0:
			inter = append(inter, int32(i))
		default:
			other = append(other, int32(i))
		}
	}
	held := make([]bool, recs.len())
	j.archive.byOutcome = map[Outcome]int{}
	for _, group := range [][]int32{inter, other} {
		sort.Slice(group, func(a, b int) bool { return recs.at(group[a]).started > recs.at(group[b]).started })
		for k, i := range group {
			if k < MaxHeld {
				held[i] = true
				continue
			}
			r := recs.at(i)
			j.archive.entries++
			if r.flags&fInterrupted != 0 {
				j.archive.interrupted++
				j.archive.byOutcome[outcomeList[r.outcome]]++
			}
		}
	}
	inter, other = nil, nil
	for i := range recs.len() {
		if r := recs.at(int32(i)); r.n > 0 && !held[i] {
			if r.flags&fHasAccount != 0 {
				j.archive.accounts = append(j.archive.accounts, r.account)
			}
			if r.flags&fHasWorkflow != 0 {
				j.archive.workflows = append(j.archive.workflows, r.workflow)
			}
		}
	}
	j.archive.accounts, j.archive.workflows = j.archive.accounts.sorted(), j.archive.workflows.sorted()

	// The held attempts, in full, in file order. A line the first pass
	// read but that is not a whole record is damage after all.
	var heldRecs []int32
	for i := range recs.len() {
		if held[i] {
			heldRecs = append(heldRecs, int32(i))
		}
	}
	sort.Slice(heldRecs, func(a, b int) bool { return recs.at(heldRecs[a]).off < recs.at(heldRecs[b]).off })
	for _, i := range heldRecs {
		r := recs.at(i)
		b := make([]byte, r.n)
		if _, err := f.ReadAt(b, r.off); err != nil {
			return fmt.Errorf("journal: cannot read %s: %w", j.path, err)
		}
		var l line
		if err := json.Unmarshal(bytes.TrimRight(b, "\r\n"), &l); err != nil {
			if damaged++; damaged == 1 {
				firstDamage.line, firstDamage.why = 0, shortErr(err)
			}
			r.n = 0
			continue
		}
		e := l.Entry
		j.entries[e.ID] = &e
		j.order = append(j.order, e.ID)
		if !e.Finished() {
			j.pending = append(j.pending, e.ID)
		}
	}

	// The lines kept: how much of the file they are, and (only when the
	// file is to be compacted) which, in file order.
	var kept int64
	whole := true
	for _, s := range keep {
		kept, whole = kept+s.n, whole && s.nl
	}
	for i := range recs.len() {
		if r := recs.at(int32(i)); r.n > 0 {
			kept, whole = kept+int64(r.n), whole && r.flags&fNL != 0
		}
	}
	spans := func() []span {
		spans := keep
		for i := range recs.len() {
			if r := recs.at(int32(i)); r.n > 0 {
				spans = append(spans, span{r.off, int64(r.n), r.flags&fNL != 0})
			}
		}
		recs = recList{}
		sort.Slice(spans, func(a, b int) bool { return spans[a].off < spans[b].off })
		return spans
	}

	j.noteLoad(otherVersions, firstOther.line, firstOther.v, damaged, firstDamage.line, firstDamage.why, cutShort)
	switch {
	case kept == size && whole:
		return nil // nothing to drop: the file is its own compaction
	case damaged == 0 && cutShort < 0 && whole && size >= compactAbove && (size-kept)*4 < size:
		// Superseded lines are less than a quarter of a large file: not
		// worth copying it at this start (the waste stays bounded).
		return nil
	}
	if damaged > 0 {
		if err := copyFile(f, size, j.damagedName()); err != nil {
			j.note(fmt.Sprintf("The journal %s could not be compacted: keeping a copy of the damaged file failed (%s). It is left as it is and compacted at a later start.", j.path, shortErr(err)))
			return nil
		}
	}
	if err := compact(f, spans(), j.path); err != nil {
		j.note(fmt.Sprintf("The journal %s could not be compacted (%s). It is left as it is and compacted at a later start.", j.path, shortErr(err)))
		return nil
	}
	return nil
}

// noteLoad reports, in one note per kind, what Open found wrong.
func (j *Journal) noteLoad(otherVersions, otherLine, otherV, damaged, damageLine int, why string, cutShort int64) {
	switch {
	case otherVersions == 1:
		j.note(fmt.Sprintf("Line %d of the journal %s was written by another version of linkdesk (format %d); it is kept but not used.", otherLine, j.path, otherV))
	case otherVersions > 1:
		j.note(fmt.Sprintf("%d lines of the journal %s were written by another version of linkdesk (the first: line %d, format %d); they are kept but not used.", otherVersions, j.path, otherLine, otherV))
	}
	where := fmt.Sprintf("line %d", damageLine)
	if damageLine == 0 {
		where = "a record that could not be read whole"
	}
	switch {
	case damaged == 1:
		j.note(fmt.Sprintf("%s of the journal %s is damaged (%s) and was skipped; the file as found is kept as %s.", upperFirst(where), j.path, why, filepath.Base(j.damagedName())))
	case damaged > 1:
		j.note(fmt.Sprintf("%d lines of the journal %s are damaged and were skipped (the first: %s, %s); the file as found is kept as %s.", damaged, j.path, where, why, filepath.Base(j.damagedName())))
	}
	if cutShort >= 0 {
		j.note(fmt.Sprintf("The last line of the journal %s was cut short (%d bytes; linkdesk probably stopped while writing it) and was dropped; every earlier record was read.", j.path, cutShort))
	}
	if a := j.archive; a.entries > 0 {
		j.note(fmt.Sprintf("The journal holds %d more attempts than linkdesk keeps in memory (the newest %d interrupted and %d other attempts): the older ones stay in the file, still count as the owners of their accounts, and %d interrupted ones among them are listed at a later start, as newer ones are dismissed.", a.entries, MaxHeld, MaxHeld, a.interrupted))
	}
}

// copyFile copies the first size bytes of f to a new private file at path.
func copyFile(f *os.File, size int64, path string) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, 0, size))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// compact replaces path with the lines spans of f (in order, each ending
// with a newline), durably (package durable): on failure path is left as
// it was.
func compact(f *os.File, spans []span, path string) error {
	return durable.Replace(path, func(out io.Writer) error {
		w := bufio.NewWriterSize(out, 256<<10)
		var end int64
		if len(spans) > 0 {
			end = spans[len(spans)-1].off + spans[len(spans)-1].n
		}
		src := bufio.NewReaderSize(io.NewSectionReader(f, 0, end), 256<<10)
		var pos int64
		for _, s := range spans {
			if _, err := src.Discard(int(s.off - pos)); err != nil {
				return err
			}
			if _, err := io.CopyN(w, src, s.n); err != nil {
				return err
			}
			if !s.nl {
				w.WriteByte('\n')
			}
			pos = s.off + s.n
		}
		return w.Flush()
	})
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
