package throttle

import (
	"slices"
	"sync"
	"time"
)

// MaxInWindow is the largest number of times that fall in one half-open
// window [t, t+window), over every t. It is how the Cloud API's cap is
// checked in tests and benchmarks: "no 1-s window holds more than the rate".
// times need not be sorted; MaxInWindow does not modify it.
func MaxInWindow(times []time.Time, window time.Duration) int {
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	best := 0
	// A fullest window can always be moved to start at one of the times.
	end := 0
	for start := range sorted {
		limit := sorted[start].Add(window)
		for end < len(sorted) && sorted[end].Before(limit) {
			end++
		}
		best = max(best, end-start)
	}
	return best
}

// sendLog is one member's send times for one sender over the last second.
// The token bucket alone keeps the long-run rate, but messages released
// together after a late wake-up can put more than the rate into a one-second
// window; sendLog holds a message back until the window has room. It is
// what makes "no one-second window above the rate" hold by construction for
// the sum of the members' windows, whatever the local scheduling jitter.
type sendLog struct {
	mu    sync.Mutex
	times []time.Time // ascending, all within the last second
}

// admit records a send now if fewer than perSecond sends happened in the
// second before it, and otherwise returns how long to wait before asking
// again.
func (w *sendLog) admit(perSecond int) time.Duration {
	return w.admitWithin(perSecond, time.Second)
}

// admitWithin is admit over a window of the given length (at least the
// longest window of any admitWithin call on w).
func (w *sendLog) admitWithin(perSecond int, window time.Duration) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now() // under the lock, so times stay in order
	horizon := now.Add(-window)
	drop := 0
	for drop < len(w.times) && !w.times[drop].After(horizon) {
		drop++
	}
	w.times = w.times[drop:]
	if len(w.times) < perSecond {
		w.times = append(w.times, now)
		return 0
	}
	return w.times[len(w.times)-perSecond].Sub(horizon)
}
