package wait

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceDone(t *testing.T) {
	n := 0
	start := time.Now()
	err := Until(5*time.Second, func() (bool, error) { n++; return n == 3, fmt.Errorf("check %d", n) })
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d checks", err, n)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("three checks took %s", d)
	}
}

func TestUntilSaysWhyOnTimeout(t *testing.T) {
	n := 0
	err := Until(100*time.Millisecond, func() (bool, error) { n++; return false, fmt.Errorf("state storing (check %d)", n) })
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "state storing") || !strings.Contains(err.Error(), "100ms") {
		t.Fatalf("err = %v", err)
	}
	if n < 3 || n > 20 {
		t.Errorf("%d checks in 100 ms: want a few, neither one nor a busy loop", n)
	}
}

func TestUntilWokenChecksAtOnceOnASignal(t *testing.T) {
	sig := NewSignal()
	var ready atomic.Bool
	var readyAt atomic.Int64
	checks := 0
	cond := func() (bool, error) {
		checks++
		if checks == 8 {
			// By the 8th check (about 320 ms in) the interval has grown to
			// 170 ms: polling alone would see the change below 150 ms late.
			go func() {
				time.Sleep(20 * time.Millisecond)
				readyAt.Store(time.Now().UnixNano())
				ready.Store(true)
				sig.Notify()
				sig.Notify() // a second notification before the waiter runs must not block
			}()
		}
		return ready.Load(), nil
	}
	if err := UntilWoken(5*time.Second, sig, cond); err != nil {
		t.Fatal(err)
	}
	if late := time.Since(time.Unix(0, readyAt.Load())); late > 60*time.Millisecond {
		t.Errorf("returned %v after the signal; want at once, not at the next poll", late)
	}
	if checks < 9 || checks > 10 {
		t.Errorf("%d checks, want 9: eight polls, then one on the signal (10 if a poll came first)", checks)
	}
	// A nil wake is plain polling: it still returns once done.
	start := time.Now()
	if err := UntilWoken(time.Second, nil, func() (bool, error) { return time.Since(start) > 30*time.Millisecond, nil }); err != nil {
		t.Fatalf("nil wake: %v", err)
	}
}
