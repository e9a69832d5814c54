package simclock

import (
	"testing"
	"time"
)

func TestSkipMovesTheClockAheadOfRealTimeAndNeverBack(t *testing.T) {
	var c Clock
	before := time.Now()
	if now := c.Now(); now.Before(before) || now.Sub(before) > time.Second {
		t.Fatalf("a new clock reads %v, real time is %v", now, before)
	}
	c.Skip(time.Hour)
	c.Skip(-2 * time.Hour)
	if ahead := c.Now().Sub(time.Now()); ahead < 59*time.Minute || ahead > time.Hour {
		t.Errorf("after skipping an hour (and trying to go back two) the clock is %v ahead of real time", ahead)
	}
}
