package wait

import (
	"errors"
	"fmt"
	"strings"
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
