// Package simclock is a clock for the simulator (sim.Options.Now,
// cybridsim.Options.Now) that a test moves forward instead of waiting: a
// simulated delay (a workflow in storing, an account being stored) passes
// when the test says so, without the test sleeping through it.
//
// The clock is real time plus everything skipped: it never runs behind
// linkdesk's own clock, which stays real (the flow's poller, its deadlines,
// and the matching rule that allows Cybrid's clock to be behind linkdesk's,
// linkflow.ClockSkew, all read time.Now).
package simclock

import (
	"sync"
	"time"
)

// Clock is real time plus what Skip added. The zero value is real time; it
// is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	skipped time.Duration
}

// Now is the clock's time: time.Now plus everything skipped.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skipped)
}

// Skip moves the clock forward by d (a negative d is ignored: the clock
// never goes back).
func (c *Clock) Skip(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped += d
}
