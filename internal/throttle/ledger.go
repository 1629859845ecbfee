package throttle

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ledger is one process's record for one sender number: the slots it holds
// and the messages it let leave, over the last second (and Grace, for
// slots). It is what lets a message leave late without ever taking another
// process's place (see admit).
type ledger struct {
	// pacer spaces this process's departures (see Depart).
	pacer *rate.Limiter

	mu       sync.Mutex
	slots    []time.Time // ascending
	departed []time.Time // ascending
	refused  []time.Time // 130429s answered, ascending

	// Top-ups: messages the rule held back wait for one more slot each.
	// One lease at a time per number; the messages held back while it is
	// on its way share the next.
	topMu   sync.Mutex
	next    *topUp // collecting messages; nil when none wait
	leasing bool   // a goroutine is leasing top-ups
}

// topUp is one lease of slots for messages held back.
type topUp struct {
	n     int
	slots []time.Time
	err   error
	done  chan struct{}
}

func newLedger() *ledger {
	return &ledger{pacer: rate.NewLimiter(rate.Inf, 1)}
}

// hold records a lease's slots, ascending and disjoint on the server from
// every other lease's. Leases taken by concurrent WaitNs may be recorded
// out of order; a lease's slots then go, as one block, where they belong.
func (g *ledger) hold(slots []time.Time) {
	if len(slots) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	i, _ := slices.BinarySearchFunc(g.slots, slots[0], time.Time.Compare)
	g.slots = slices.Insert(g.slots, i, slots...)
	// Leases placed through different offset estimates (see offsetFilter)
	// may overlap here by a fraction of a millisecond; keep the order.
	if end := i + len(slots); end < len(g.slots) && g.slots[end].Before(g.slots[end-1]) {
		slices.SortFunc(g.slots, time.Time.Compare)
	}
}

// refuse records a 130429 answered at now and returns the share of the
// messages that left in the last second that the 130429s of the last
// second make up (at most 1; 0 when none left, which says nothing of an
// overload: the refused message left more than a second ago).
func (g *ledger) refuse(now time.Time) float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	horizon := now.Add(-time.Second)
	g.refused = dropUntil(append(g.refused, now), horizon)
	g.departed = dropUntil(g.departed, horizon)
	if len(g.departed) == 0 {
		return 0
	}
	return min(1, float64(len(g.refused))/float64(len(g.departed)))
}

// dropUntil drops the times of ts (ascending) that are not after horizon.
func dropUntil(ts []time.Time, horizon time.Time) []time.Time {
	drop := 0
	for drop < len(ts) && !ts[drop].After(horizon) {
		drop++
	}
	return ts[drop:]
}

// admit decides whether a message may leave now. It may when this process
// has let fewer messages leave in the last second than it held slots in
// that second and Grace before it, up to now: then it is recorded and admit
// returns 0. Otherwise admit returns how long to wait before asking again.
//
// Every process keeping this rule keeps the number under its rate: the
// slots of all processes are disjoint, so the messages of all processes in
// any second are at most the slots of that second and Grace before it. A
// message that leaves late is fine as long as the process's other messages
// were late too (a host that is behind throughout): a late message never
// leaves in a second that already carries this process's share of slots.
// What the rule stops is a late group leaving together on top of messages
// that left on time.
func (g *ledger) admit(now time.Time, grace time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	horizon := now.Add(-time.Second)
	g.departed = dropUntil(g.departed, horizon)
	g.slots = dropUntil(g.slots, horizon.Add(-grace))
	held, _ := slices.BinarySearchFunc(g.slots, now, func(s, now time.Time) int {
		if s.After(now) {
			return 1
		}
		return -1
	})
	if len(g.departed) < held {
		g.departed = append(g.departed, now)
		return 0
	}
	// Room comes when the oldest departure leaves the second, or when the
	// next slot held comes due, whichever is first.
	wait := time.Second
	if len(g.departed) > 0 {
		wait = g.departed[0].Add(time.Second).Sub(now)
	}
	if held < len(g.slots) {
		wait = min(wait, g.slots[held].Sub(now))
	}
	return max(wait, 100*time.Microsecond)
}
