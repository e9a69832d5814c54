package ui

import (
	"log/slog"
	"sync"
	"time"
)

// limitedLog logs at most burst warnings a minute. Beyond that it counts,
// and when the minute is over (or at Close) it logs one summary line with
// how many were left out. The app server and the redirect server log their
// refusals through it, so that a flood of refused requests cannot flood the
// log. Safe for concurrent use.
type limitedLog struct {
	log     *slog.Logger
	burst   int
	summary string

	mu     sync.Mutex
	start  time.Time // of the current minute
	logged int       // lines logged in it
	more   int       // not logged one by one
	timer  *time.Timer
	closed bool
}

// newLimitedLog logs to log; summary is the summary line's message.
func newLimitedLog(log *slog.Logger, burst int, summary string) *limitedLog {
	return &limitedLog{log: log, burst: burst, summary: summary}
}

// Log logs msg with args at warning level, unless the minute's burst is
// spent.
func (l *limitedLog) Log(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= time.Minute {
		l.flushLocked()
		l.start, l.logged = now, 0
	}
	if l.logged < l.burst {
		l.logged++
		l.log.Warn(msg, args...)
		return
	}
	l.more++
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(l.start.Add(time.Minute).Sub(now), l.flush)
	}
}

func (l *limitedLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *limitedLog) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if l.more > 0 {
		l.log.Warn(l.summary, "not_logged", l.more, "at_most_per_minute", l.burst)
		l.more = 0
	}
}

// Close logs the count still pending and stops the timer.
func (l *limitedLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.flushLocked()
}
