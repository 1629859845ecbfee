package throttle

import (
	"slices"
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
