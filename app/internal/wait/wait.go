// Package wait is the tests' one way to wait for something that happens on
// its own time: a state Cybrid reaches, a window that loads, a pop-up that
// opens. A test states what it waits for and how long it may take; wait
// polls, and on a timeout fails the test with that description and the last
// reason the condition gave — never a bare "timed out".
//
//	wait.For(t, 10*time.Second, "the account leaves storing", func() (bool, error) {
//		a, err := get()
//		if err != nil {
//			return false, err
//		}
//		return a.State != "storing", fmt.Errorf("state %s", a.State)
//	})
package wait

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Poll intervals: the first check is immediate, the next ones start at
// minInterval and grow by half to maxInterval (a fast condition costs
// little; a slow one is not polled in a busy loop).
const (
	minInterval = 10 * time.Millisecond
	maxInterval = 200 * time.Millisecond
)

// ErrTimeout is wrapped by Until's error when the time ran out.
var ErrTimeout = errors.New("timed out")

// Until calls cond until it reports done or timeout passes. cond's error is
// why it is not done yet (nil when it has nothing to say); Until returns nil
// once cond is done, else an error wrapping ErrTimeout with cond's last
// reason.
func Until(timeout time.Duration, cond func() (done bool, why error)) error {
	deadline := time.Now().Add(timeout)
	interval := minInterval
	var last error
	for {
		done, why := cond()
		if done {
			return nil
		}
		if why != nil {
			last = why
		}
		if !time.Now().Before(deadline) {
			if last != nil {
				return fmt.Errorf("%w after %s: %w", ErrTimeout, timeout, last)
			}
			return fmt.Errorf("%w after %s", ErrTimeout, timeout)
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(interval*3/2, maxInterval)
	}
}

// For is Until for a test: on a timeout it fails t (Fatalf) saying what was
// awaited and cond's last reason.
func For(t testing.TB, timeout time.Duration, what string, cond func() (done bool, why error)) {
	t.Helper()
	if err := Until(timeout, cond); err != nil {
		t.Fatalf("waited for %s: %v", what, err)
	}
}

// True is For with a condition that has no reason to give.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, timeout, what, func() (bool, error) { return cond(), nil })
}
