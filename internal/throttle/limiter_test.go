package throttle

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func addSender(t testing.TB, pool *pgxpool.Pool, phoneNumberID string, ratePerSecond int) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(context.Background(),
		`INSERT INTO sender_numbers (phone_number_id, rate_per_second) VALUES ($1, $2) RETURNING id`,
		phoneNumberID, ratePerSecond).Scan(&id)
	require.NoError(t, err)
	return id
}

func newLimiter(t testing.TB, pool *pgxpool.Pool, cfg Config) *Limiter {
	t.Helper()
	l := NewLimiter(slog.New(slog.NewTextHandler(io.Discard, nil)), pool, cfg)
	require.NoError(t, l.Start(context.Background()))
	t.Cleanup(l.Stop)
	return l
}

// spacingAt is the slot spacing of a number at ratePerSecond with factor and
// headroom: one message a second less (half the rate under two a second),
// less headroom (see spacingSQL).
func spacingAt(ratePerSecond, factor, headroom float64) time.Duration {
	r := ratePerSecond * factor
	r = max(r-1, r/2)
	return time.Duration(float64(time.Second) / (r * (1 - headroom)))
}

// TestLeasesNeverOverlap: three limiters (as three processes would be),
// four goroutines each, lease slots of one number as fast as they can. The
// leases, as the server recorded them, tile the schedule: each starts
// where another ended, none overlaps another, and together they cover
// exactly the slots asked for at the number's spacing. The number is slow
// (10/s), so the schedule runs ahead of the clock from the first lease on
// and never falls behind, however slowly the leases come.
func TestLeasesNeverOverlap(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-tile", 10)
	type span struct{ start, end time.Time }
	var (
		mu    sync.Mutex
		spans []span
		wg    sync.WaitGroup
	)
	const perLease, leases = 10, 25
	for range 3 {
		l := newLimiter(t, pool, Config{})
		for range 4 {
			wg.Go(func() {
				for range leases {
					sc, err := lease(t.Context(), l.pool, id, perLease, l.cfg.Lead, l.cfg.Headroom, l.cfg.IncreaseStep)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					spans = append(spans, span{sc.start(perLease), sc.next})
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, spans, 3*4*leases)
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	spacing := spacingAt(10, 1, DefaultHeadroom)
	for i, s := range spans {
		// The server keeps microseconds: each lease may round by one.
		require.InDelta(t, perLease*spacing, s.end.Sub(s.start), float64(time.Microsecond))
		if i > 0 {
			require.InDelta(t, 0, s.start.Sub(spans[i-1].end), float64(time.Microsecond),
				"lease %d starts %v after the previous one ends", i, s.start.Sub(spans[i-1].end))
		}
	}
	total := spans[len(spans)-1].end.Sub(spans[0].start)
	require.InDelta(t, float64(len(spans)*perLease)*float64(spacing), float64(total), float64(len(spans))*float64(time.Microsecond))
}

// TestIdleNumberSavesNothing: after the schedule has fallen behind, a
// lease starts Lead from now, not at the old next slot (no burst of saved
// up slots), and the next lease follows it.
func TestIdleNumberSavesNothing(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-idle", 100)
	l := newLimiter(t, pool, Config{Lead: 30 * time.Millisecond})
	ctx := t.Context()
	_, err := pool.Exec(ctx, `INSERT INTO throttle_senders (sender_id, next_slot) VALUES ($1, now() - interval '1 minute')`, id)
	require.NoError(t, err)

	before := time.Now()
	slots, err := l.take(ctx, id, 5)
	require.NoError(t, err)
	require.Len(t, slots, 5)
	lead := slots[0].Sub(before)
	require.GreaterOrEqual(t, lead, 25*time.Millisecond, "first slot %v after the lease", lead)
	require.Less(t, lead, 500*time.Millisecond)
	spacing := spacingAt(100, 1, DefaultHeadroom)
	for i := 1; i < len(slots); i++ {
		require.Equal(t, spacing, slots[i].Sub(slots[i-1]))
	}
	more, err := l.take(ctx, id, 1)
	require.NoError(t, err)
	// Placed on this clock through two answers' delays: within a few ms.
	require.InDelta(t, float64(slots[4].Add(spacing).UnixNano()), float64(more[0].UnixNano()), float64(10*time.Millisecond))
}

// TestWorkFollowsWhoeverHasIt sends through one number from two started
// limiters, the second only for the first half second: the number keeps
// its whole rate after the second stops, and no second or 100 ms holds more
// than the rate allows. Bounds are generous for -race on a busy host.
func TestWorkFollowsWhoeverHasIt(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-work", 300)
	const headroom = 0.02
	a := newLimiter(t, pool, Config{Headroom: headroom})
	b := newLimiter(t, pool, Config{Headroom: headroom})

	start := time.Now()
	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		times2 := run(t, t.Context(), b, id, 2, 10, 500*time.Millisecond)
		mu.Lock()
		times = append(times, times2...)
		mu.Unlock()
	})
	timesA := run(t, t.Context(), a, id, 2, 10, 2*time.Second)
	wg.Wait()
	times = append(times, timesA...)

	require.LessOrEqual(t, MaxInWindow(times, time.Second), 300)
	require.LessOrEqual(t, MaxInWindow(times, 100*time.Millisecond), 45)
	late := 0
	for _, at := range times {
		if at.Sub(start) >= time.Second && at.Sub(start) < 2*time.Second {
			late++
		}
	}
	// One limiter alone, from 1 s to 2 s: the whole rate (294/s), not the
	// half share (147) it would keep if b held on to the other half. 200
	// leaves room for a slow host.
	require.Greater(t, late, 200, "sends from 1 s to 2 s, limiter a alone")
}

// run has workers goroutines on l take n slots at a time for senderID until
// d has passed, letting each message leave through Depart at its slot, and
// returns the departure times.
func run(t testing.TB, ctx context.Context, l *Limiter, senderID int64, workers, n int, d time.Duration) []time.Time {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				slots, err := l.WaitN(ctx, senderID, n)
				if err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				var chunk sync.WaitGroup
				for _, slot := range slots {
					chunk.Go(func() {
						if err := l.Depart(senderID, slot); err != nil {
							t.Error(err)
							return
						}
						now := time.Now()
						mu.Lock()
						times = append(times, now)
						mu.Unlock()
					})
				}
				chunk.Wait()
			}
		})
	}
	wg.Wait()
	return times
}

// TestDepart: a message leaves at its slot, not before; a process never
// lets more messages leave in a second than it held slots in it: a fourth
// message on three slots is held back and takes one more slot; after Stop
// nothing leaves.
func TestDepart(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-depart", 100)
	l := newLimiter(t, pool, Config{})
	ctx := t.Context()

	slots, err := l.WaitN(ctx, id, 3)
	require.NoError(t, err)
	for _, slot := range slots {
		require.NoError(t, l.Depart(id, slot))
		require.False(t, time.Now().Before(slot), "left before its slot")
	}
	require.Zero(t, l.Stats().HeldBack)

	nextSlot := func() time.Time {
		var at time.Time
		require.NoError(t, pool.QueryRow(ctx, `SELECT next_slot FROM throttle_senders WHERE sender_id = $1`, id).Scan(&at))
		return at
	}
	before := nextSlot()
	require.NoError(t, l.Depart(id, slots[0])) // a fourth message on three slots
	st := l.Stats()
	require.Equal(t, int64(1), st.HeldBack)
	require.Equal(t, int64(1), st.TopUps)
	require.Equal(t, int64(4), st.Slots)
	require.GreaterOrEqual(t, nextSlot().Sub(before), spacingAt(100, 1, DefaultHeadroom), "the fourth message took a slot")

	l.Stop()
	require.ErrorIs(t, l.Depart(id, time.Now().Add(time.Second)), ErrStopped)
	_, err = l.WaitN(ctx, id, 3)
	require.ErrorIs(t, err, ErrStopped)
}

// TestLedgerLateGroup: a process whose messages fell behind their slots
// (a host that paused it) may let them leave late, but never more in a
// second than it held slots in that second and Grace before it.
func TestLedgerLateGroup(t *testing.T) {
	t.Parallel()
	g := newLedger()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const grace = 3 * time.Millisecond
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	// 1,000 slots a second, 1 ms apart, for two seconds.
	var slots []time.Time
	for i := range 2000 {
		slots = append(slots, ms(i))
	}
	g.hold(slots[1000:]) // recorded out of order, as concurrent leases may be
	g.hold(slots[:1000])

	// On time for 500 ms, then a 40 ms pause: the 40 messages due in it
	// are all let go at 540 ms, since their slots are held.
	for i := range 500 {
		require.Zero(t, g.admit(ms(i), grace), "message %d", i)
	}
	for range 40 {
		require.Zero(t, g.admit(ms(540), grace))
	}
	// Then on time again: in the second ending at 999 ms the process has
	// let 540 + 459 = 999 leave against 1,000 slots; fine.
	for i := 541; i < 1000; i++ {
		require.Zero(t, g.admit(ms(i), grace), "message %d", i)
	}
	// A group that leaves together on top of on-time messages is what the
	// rule stops. At 1,000 ms the second (0, 1,000] holds 998 departures
	// and the process held 1,001 slots from -3 ms (Grace) to 1,000 ms:
	// three may leave, the fourth finds the second full.
	admitted := 0
	var wait time.Duration
	for range 100 {
		if wait = g.admit(ms(1000), grace); wait > 0 {
			break
		}
		admitted++
	}
	require.Equal(t, 3, admitted)
	// It waits for room: the oldest departure (1 ms) leaving the second.
	require.LessOrEqual(t, wait, time.Millisecond)
}

// TestSenderStateApplies: a stopped number grants nothing, an unknown one is
// not found, and a new rate_per_second applies to the next lease.
func TestSenderStateApplies(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-state", 100)
	l := newLimiter(t, pool, Config{})
	ctx := t.Context()

	_, err := pool.Exec(ctx, `UPDATE sender_numbers SET status = 'stopped' WHERE id = $1`, id)
	require.NoError(t, err)
	_, err = l.WaitN(ctx, id, 1)
	require.ErrorIs(t, err, ErrSenderStopped)

	_, err = l.WaitN(ctx, id+1000, 1)
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = pool.Exec(ctx, `UPDATE sender_numbers SET status = 'active', rate_per_second = 500 WHERE id = $1`, id)
	require.NoError(t, err)
	slots, err := l.WaitN(ctx, id, 3)
	require.NoError(t, err)
	require.Equal(t, spacingAt(500, 1, DefaultHeadroom), slots[1].Sub(slots[0]))

	// At 80/s, a second and Grace hold at most 79 slots however they fall
	// against the slots: one message of each second is left for the way to
	// the Cloud API.
	_, err = pool.Exec(ctx, `UPDATE sender_numbers SET rate_per_second = 80 WHERE id = $1`, id)
	require.NoError(t, err)
	slots, err = l.take(ctx, id, 200)
	require.NoError(t, err)
	require.Equal(t, 79, MaxInWindow(slots, time.Second+l.cfg.Grace))
}

// TestSlowDown walks the AIMD factor through its rules, reading it back
// through the spacing of the next lease.
func TestSlowDown(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	id := addSender(t, pool, "pn-slow", 1000)
	const step = 0.001 // slow recovery, so that seconds moved below barely count
	l := newLimiter(t, pool, Config{IncreaseStep: step})
	ctx := t.Context()

	spacing := func() time.Duration {
		t.Helper()
		slots, err := l.take(ctx, id, 2)
		require.NoError(t, err)
		return slots[1].Sub(slots[0])
	}
	factor := func() float64 {
		t.Helper()
		var f float64
		require.NoError(t, pool.QueryRow(ctx, `SELECT factor FROM throttle_senders WHERE sender_id = $1`, id).Scan(&f))
		return f
	}
	age := func(d time.Duration) { // the last decrease happened d ago
		t.Helper()
		_, err := pool.Exec(ctx, `UPDATE throttle_senders SET slowed_at = now() - $2 * interval '1 microsecond' WHERE sender_id = $1`, id, d.Microseconds())
		require.NoError(t, err)
	}
	within := func(want, got time.Duration) {
		t.Helper()
		require.InDelta(t, float64(want), float64(got), float64(time.Microsecond))
	}

	within(spacingAt(1000, 1, DefaultHeadroom), spacing())

	// A 130429 when few of the last second's messages drew one (a few
	// bunched on the way): the mild decrease, × 0.9.
	require.NoError(t, l.slowDown(ctx, id, 0.003))
	require.InDelta(t, 0.9, factor(), 1e-9)
	within(spacingAt(1000, 0.9, DefaultHeadroom), spacing())

	// Again within a second: the same overload, no change.
	require.NoError(t, l.slowDown(ctx, id, 0.9))
	require.InDelta(t, 0.9, factor(), 1e-9)

	// Two seconds later, 30 % refused (a cap 30 % under the rate): × 0.7.
	age(2 * time.Second)
	require.NoError(t, l.slowDown(ctx, id, 0.3))
	require.InDelta(t, (0.9+2*step)*0.7, factor(), 1e-9)

	// Most refused: never more than halved at once.
	age(2 * time.Second)
	f := factor()
	require.NoError(t, l.slowDown(ctx, id, 0.8))
	require.InDelta(t, (f+2*step)*0.5, factor(), 1e-9)

	// Never below MinFactor.
	for range 10 {
		age(2 * time.Second)
		require.NoError(t, l.slowDown(ctx, id, 1))
	}
	require.InDelta(t, 0.1, factor(), 1e-9)
	age(0)
	within(spacingAt(1000, 0.1, DefaultHeadroom), spacing())

	// Recovery: a step for every whole second since, up to 1.
	age(100 * time.Second)
	within(spacingAt(1000, 0.2, DefaultHeadroom), spacing())
	age(time.Hour)
	within(spacingAt(1000, 1, DefaultHeadroom), spacing())

	// SlowDown writes in the background; Stop waits for it.
	other := addSender(t, pool, "pn-slow-2", 80)
	l.SlowDown(other)
	l.Stop()
	require.Equal(t, int64(1), l.Stats().SlowDowns, "130429s counted")
	var f2 float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT factor FROM throttle_senders WHERE sender_id = $1`, other).Scan(&f2))
	require.InDelta(t, 0.9, f2, 1e-9)
}

// TestLedgerRefusedShare: the share of the last second's departures that
// drew a 130429, which sizes the decrease.
func TestLedgerRefusedShare(t *testing.T) {
	g := newLedger()
	t0 := time.Now()
	require.Zero(t, g.refuse(t0), "nothing left in the last second: no evidence of an overload")
	for i := range 300 { // 200 in the last second, 100 before it
		g.departed = append(g.departed, t0.Add(time.Duration(i)*5*time.Millisecond))
	}
	now := t0.Add(1500 * time.Millisecond)
	var share float64
	for i := range 5 {
		share = g.refuse(now.Add(time.Duration(i) * time.Millisecond))
	}
	require.InDelta(t, 5.0/200, share, 0.001)
	// A second later the five and those departures have passed; 100 more
	// left meanwhile.
	for i := range 100 {
		g.departed = append(g.departed, now.Add(time.Duration(i+1)*10*time.Millisecond))
	}
	require.InDelta(t, 1.0/100, g.refuse(now.Add(1010*time.Millisecond)), 0.001)
}

// TestLedgerHoldKeepsOrder: leases recorded out of order, and one that
// overlaps another by a fraction of a millisecond (placed through a newer
// offset estimate), leave the ledger's slots in order.
func TestLedgerHoldKeepsOrder(t *testing.T) {
	t.Parallel()
	g := newLedger()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	block := func(from time.Duration, n int) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, t0.Add(from+time.Duration(i)*time.Millisecond))
		}
		return out
	}
	g.hold(block(20*time.Millisecond, 10))
	g.hold(block(0, 10))
	g.hold(block(8500*time.Microsecond, 5)) // overlaps the first block
	require.Len(t, g.slots, 25)
	require.True(t, slices.IsSortedFunc(g.slots, time.Time.Compare))
}
