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
	return UntilWoken(timeout, nil, cond)
}

// UntilWoken is Until that also checks cond as soon as wake receives,
// without waiting for the next poll: a source that signals every change
// (see Signal) is awaited as fast as a channel read, and polling still
// covers a missed signal. A nil wake is Until.
func UntilWoken(timeout time.Duration, wake <-chan struct{}, cond func() (done bool, why error)) error {
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
		nap := time.NewTimer(min(interval, time.Until(deadline)+time.Millisecond))
		select {
		case <-nap.C:
			interval = min(interval*3/2, maxInterval)
		case <-wake:
			nap.Stop()
		}
	}
}

// For is Until for a test: on a timeout it fails t (Fatalf) saying what was
// awaited and cond's last reason.
func For(t testing.TB, timeout time.Duration, what string, cond func() (done bool, why error)) {
	t.Helper()
	ForWoken(t, timeout, what, nil, cond)
}

// ForWoken is UntilWoken for a test, failing t as For does.
func ForWoken(t testing.TB, timeout time.Duration, what string, wake <-chan struct{}, cond func() (done bool, why error)) {
	t.Helper()
	if err := UntilWoken(timeout, wake, cond); err != nil {
		t.Fatalf("waited for %s: %v", what, err)
	}
}

// True is For with a condition that has no reason to give.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	For(t, timeout, what, func() (bool, error) { return cond(), nil })
}

// Signal tells a waiter (UntilWoken, ForWoken) that what it waits for may
// have changed. Make it with NewSignal; Notify never blocks, and
// notifications that nobody has received yet count as one.
type Signal chan struct{}

// NewSignal returns a Signal to pass, as a channel, to UntilWoken.
func NewSignal() Signal { return make(Signal, 1) }

// Notify wakes the waiter, or the next one to wait.
func (s Signal) Notify() {
	select {
	case s <- struct{}{}:
	default:
	}
}
