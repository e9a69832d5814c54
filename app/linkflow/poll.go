package linkflow

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Poller decides when to poll an asynchronous Cybrid resource (a workflow
// until it carries a link token, an account until it leaves storing) and
// learns how long such resources usually take.
//
// Fixed intervals trade latency for requests: 1 s polls (what Cybrid's web SDK
// does) add ≈0.5 s on average; 100 ms polls cost 50 requests for a 5 s
// workflow. Poller gets both low latency and few requests:
//
//   - Cold (nothing learned yet): the first poll comes after Initial, the
//     second Initial later, then each gap grows by half up to Max
//     (100 ms, 100 ms, 150 ms, 225 ms, … 1 s).
//   - Warm: it sleeps until the median of the recent completion times,
//     less their spread (the slowest minus the fastest, at most a tenth of
//     the median), polls every Initial from there to as long after it, and
//     falls back to the growing schedule if the resource is late. Resources
//     that always take the same time are checked once, when they are due:
//     no dense polls that other Waits would queue behind.
//
// Whatever it is given, a Poller protects Cybrid: no gap is shorter than
// MinGap (a smaller Initial or Max counts as MinGap), and all the Waits of
// one Poller together make at most MaxPollsPerSecond checks a second —
// however many attempts poll at once, a check waits for its turn.
//
// A Poller is safe for concurrent use; keep one per kind of resource.
type Poller struct {
	// Initial is the first and the densest gap between polls (100 ms when
	// 0; at least MinGap).
	Initial time.Duration
	// Max is the longest gap between polls (at least Initial).
	Max time.Duration

	mu       sync.Mutex
	history  []time.Duration // most recent last, at most historySize
	nextSlot time.Time       // no check of any Wait starts before it
}

// MaxPollsPerSecond bounds the checks of one Poller, all its Waits
// together; MinGap is the shortest gap between two of them, and between two
// polls of one Wait. config.MinPoll refuses shorter poll settings.
const (
	MaxPollsPerSecond = 20
	MinGap            = time.Second / MaxPollsPerSecond
)

const historySize = 8

// ErrPollDeadline is returned (wrapped) by Wait when the context's deadline
// passes before the resource is ready.
var ErrPollDeadline = errors.New("deadline passed while waiting")

// Check reports whether the resource is ready. took is how long the resource
// took to become ready as the server measured it (updated_at - created_at),
// or 0 when unknown; Poller learns from it. A non-nil error stops Wait.
type Check func(ctx context.Context) (ready bool, took time.Duration, err error)

// Wait polls check on the schedule until it reports ready, returns an error,
// or ctx ends. It returns the number of polls made. When ctx's deadline
// passes the error wraps ErrPollDeadline.
func (p *Poller) Wait(ctx context.Context, check Check) (polls int, err error) {
	start := time.Now()
	o := p.outlook()
	timer := time.NewTimer(p.next(0, 0, o))
	defer timer.Stop()
	var gap time.Duration
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return polls, ErrPollDeadline
			}
			return polls, ctx.Err()
		case <-timer.C:
		}
		if err := p.turn(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return polls, ErrPollDeadline
			}
			return polls, err
		}
		polls++
		ready, took, err := check(ctx)
		if err != nil {
			return polls, err
		}
		elapsed := time.Since(start)
		if ready {
			if took <= 0 || took > elapsed {
				took = elapsed
			}
			p.learn(took)
			return polls, nil
		}
		gap = p.next(elapsed, gap, o)
		timer.Reset(gap)
	}
}

// outlook is what a Poller expects of the next resource: when it is
// likely ready (0 when nothing is learned) and how much earlier it may be.
type outlook struct {
	expected time.Duration // median of the recent completion times
	lead     time.Duration // their spread, at most expected/10
}

// next returns the delay before the next poll, given the time since the
// start, the previous gap (0 before the first poll) and the outlook.
func (p *Poller) next(elapsed, prev time.Duration, o outlook) time.Duration {
	initial, max := p.Initial, p.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if initial < MinGap {
		initial = MinGap
	}
	if max < initial {
		max = initial
	}
	if expected, lead := o.expected, o.lead; expected > 0 {
		wake := expected - lead
		if elapsed < wake {
			// Sleep until the earliest the resource is usually ready.
			if d := wake - elapsed; d > initial {
				return d
			}
			return initial
		}
		if elapsed < expected+lead || elapsed < expected+initial {
			return initial // dense around the expected completion
		}
		// Late: fall through to the growing schedule, starting from half the
		// lead so a late resource does not keep costing dense polls.
		if prev < lead/2 {
			prev = lead / 2
		}
	}
	if prev == 0 {
		return initial
	}
	g := prev + prev/2
	if g > max {
		g = max
	}
	return g
}

// turn waits until the Poller may make its next check (MinGap after the
// previous one of any Wait) and books that slot; it returns ctx's error if
// ctx ends first.
func (p *Poller) turn(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	slot := p.nextSlot
	if slot.Before(now) {
		slot = now
	}
	p.nextSlot = slot.Add(MinGap)
	p.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Poller) learn(took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.history = append(p.history, took)
	if len(p.history) > historySize {
		p.history = p.history[len(p.history)-historySize:]
	}
}

// outlook is the median of the recent completion times and their spread
// (the zero outlook when nothing is learned).
func (p *Poller) outlook() outlook {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.history) == 0 {
		return outlook{}
	}
	s := append([]time.Duration(nil), p.history...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	o := outlook{expected: s[len(s)/2], lead: s[len(s)-1] - s[0]}
	o.lead = min(o.lead, o.expected/10)
	return o
}
