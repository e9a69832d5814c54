package linkflow

import (
	"context"
	"errors"
	"testing"
	"time"
)

// simulate plays the schedule without sleeping: the resource becomes ready at
// ready; it returns how many polls the schedule makes and how long after
// ready the first poll that sees it comes.
func simulate(p *Poller, o outlook, ready time.Duration) (polls int, overhead time.Duration) {
	t := p.next(0, 0, o)
	var gap time.Duration
	for {
		polls++
		if t >= ready {
			return polls, t - ready
		}
		gap = p.next(t, gap, o)
		t += gap
	}
}

func TestColdScheduleStartsDenseAndGrowsToMax(t *testing.T) {
	p := &Poller{Initial: 100 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	var gap time.Duration
	elapsed := p.next(0, 0, outlook{})
	got = append(got, elapsed)
	for i := 0; i < 8; i++ {
		gap = p.next(elapsed, gap, outlook{})
		elapsed += gap
		got = append(got, gap)
	}
	want := []time.Duration{100, 100, 150, 225, 337, 506, 759, 1000, 1000}
	for i := range want {
		w := want[i] * time.Millisecond
		if d := got[i] - w; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("gap %d = %v, want %v (all: %v)", i, got[i], w, got)
		}
	}
}

func TestScheduleCostAndLatency(t *testing.T) {
	p := &Poller{Initial: 100 * time.Millisecond, Max: time.Second}
	cases := []struct {
		name        string
		o           outlook
		ready       time.Duration
		maxPolls    int
		maxOverhead time.Duration
	}{
		// Nothing learned: a 5 s workflow costs few polls; latency is bounded
		// by Max.
		{"cold 5s", outlook{}, 5 * time.Second, 12, time.Second},
		{"cold 300ms", outlook{}, 300 * time.Millisecond, 4, 150 * time.Millisecond},
		// Learned 5 s, always the same: one poll when it is due.
		{"warm 5s, no spread, on time", outlook{5 * time.Second, 0}, 5 * time.Second, 1, 0},
		{"warm 5s, no spread, 30ms late", outlook{5 * time.Second, 0}, 5030 * time.Millisecond, 2, 100 * time.Millisecond},
		// Learned 5 s give or take 500 ms: at most one dense gap late.
		{"warm 5s on time", outlook{5 * time.Second, 500 * time.Millisecond}, 5 * time.Second, 12, 100 * time.Millisecond},
		{"warm 5s, 200ms early", outlook{5 * time.Second, 500 * time.Millisecond}, 4800 * time.Millisecond, 12, 100 * time.Millisecond},
		{"warm 5s, 300ms late", outlook{5 * time.Second, 500 * time.Millisecond}, 5300 * time.Millisecond, 12, 100 * time.Millisecond},
		// Much later than learned: falls back to the growing schedule.
		{"warm 5s, 10s actual", outlook{5 * time.Second, 500 * time.Millisecond}, 10 * time.Second, 18, time.Second},
		// Learned short: dense from the start, still cheap.
		{"warm 1s", outlook{time.Second, 100 * time.Millisecond}, time.Second, 6, 100 * time.Millisecond},
	}
	for _, c := range cases {
		polls, over := simulate(p, c.o, c.ready)
		t.Logf("%-30s polls=%2d overhead=%v", c.name, polls, over)
		if polls > c.maxPolls {
			t.Errorf("%s: %d polls, want at most %d", c.name, polls, c.maxPolls)
		}
		if over > c.maxOverhead {
			t.Errorf("%s: first poll %v after ready, want at most %v", c.name, over, c.maxOverhead)
		}
	}
}

func TestWaitLearnsTheMedianCompletionTime(t *testing.T) {
	p := &Poller{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	if p.outlook() != (outlook{}) {
		t.Fatal("a new poller expects something")
	}
	for _, took := range []time.Duration{400, 100, 300, 200, 500} {
		p.learn(took * time.Millisecond)
	}
	if got := p.outlook(); got != (outlook{300 * time.Millisecond, 30 * time.Millisecond}) {
		t.Errorf("outlook of 100..500ms = %+v, want 300ms, give or take a tenth of it (less than their spread)", got)
	}
	// Only the recent history counts.
	for i := 0; i < historySize; i++ {
		p.learn(time.Second)
	}
	if got := p.outlook(); got != (outlook{time.Second, 0}) {
		t.Errorf("after %d samples of 1s the outlook is %+v, want 1s, no spread", historySize, got)
	}
}

func TestWaitReturnsReadyErrorsAndDeadline(t *testing.T) {
	p := &Poller{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	n := 0
	polls, err := p.Wait(context.Background(), func(context.Context) (bool, time.Duration, error) {
		n++
		return n == 3, 0, nil
	})
	if err != nil || polls != 3 {
		t.Fatalf("Wait = %d polls, %v; want 3 polls, nil", polls, err)
	}
	if p.outlook().expected == 0 {
		t.Error("Wait did not learn the completion time")
	}

	boom := errors.New("boom")
	if _, err := p.Wait(context.Background(), func(context.Context) (bool, time.Duration, error) { return false, 0, boom }); !errors.Is(err, boom) {
		t.Errorf("Wait with a failing check = %v, want boom", err)
	}

	// (A new Poller: this one learned that its resource takes longer than
	// the deadline, and would not poll at all before it.)
	p = &Poller{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	polls, err = p.Wait(ctx, func(context.Context) (bool, time.Duration, error) { return false, 0, nil })
	if !errors.Is(err, ErrPollDeadline) || polls == 0 {
		t.Errorf("Wait past the deadline = %d polls, %v; want some polls and ErrPollDeadline", polls, err)
	}
}

// Issue 14: whatever a Poller is given (1ns, as LINKDESK_POLL_INITIAL=1ns
// once was), one Wait checks at most MaxPollsPerSecond times a second.
func TestNanosecondScheduleIsBoundedPerWait(t *testing.T) {
	p := &Poller{Initial: time.Nanosecond, Max: time.Nanosecond}
	const run = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	start := time.Now()
	polls, err := p.Wait(ctx, func(context.Context) (bool, time.Duration, error) { return false, 0, nil })
	took := time.Since(start)
	if !errors.Is(err, ErrPollDeadline) {
		t.Fatalf("Wait = %v, want ErrPollDeadline", err)
	}
	rate := float64(polls) / took.Seconds()
	t.Logf("Initial=Max=1ns: %d polls in %v (%.1f/s)", polls, took.Round(time.Millisecond), rate)
	if limit := int(run/MinGap) + 1; polls > limit {
		t.Errorf("%d polls in %v, want at most %d (%d a second)", polls, run, limit, MaxPollsPerSecond)
	}
	if polls < MaxPollsPerSecond/2 {
		t.Errorf("only %d polls in %v: the floor should not slow a dense schedule below %d a second", polls, run, MaxPollsPerSecond/2)
	}
}

// However many attempts poll at once, one Poller's checks together stay
// within MaxPollsPerSecond, and every Wait still gets its turns.
func TestConcurrentWaitsShareTheBound(t *testing.T) {
	p := &Poller{Initial: time.Nanosecond, Max: time.Nanosecond}
	const run, waiters = time.Second, 8
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	counts := make(chan int, waiters)
	for i := 0; i < waiters; i++ {
		go func() {
			n, _ := p.Wait(ctx, func(context.Context) (bool, time.Duration, error) { return false, 0, nil })
			counts <- n
		}()
	}
	total := 0
	for i := 0; i < waiters; i++ {
		n := <-counts
		if n == 0 {
			t.Errorf("a Wait never got a turn")
		}
		total += n
	}
	t.Logf("%d concurrent Waits at 1ns: %d polls in %v together", waiters, total, run)
	if limit := int(run/MinGap) + 1; total > limit {
		t.Errorf("%d polls together in %v, want at most %d", total, run, limit)
	}
}
