package throttle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

// ErrStopped is returned by WaitN, Depart and Start once Stop has been
// called.
var ErrStopped = errors.New("limiter stopped")

// ErrSenderStopped is returned by WaitN while the sender number's status is
// not 'active'. It is read on every lease.
var ErrSenderStopped = errors.New("sender number stopped")

// DefaultHeadroom is Config.Headroom's default (see doc.go).
const DefaultHeadroom = 0.008

// Config configures a Limiter. A zero field takes its default.
type Config struct {
	// Headroom is the fraction of the rate left unused, for the delays
	// herald cannot see between a message leaving and the Cloud API
	// counting it (see doc.go). In [0, 0.5). Default 0.008; the zero value
	// means the default, so ask for a tiny value (1e-9) to pace at the full
	// rate.
	Headroom float64
	// Grace lengthens the second over which Depart counts this process's
	// slots against its departures (see ledger.admit): a message may leave
	// up to Grace after the slots of its second, which is what a host's
	// timers need now and then. Default: a third of Headroom's share of a
	// second (2.7 ms at 0.8 %), so that the number stays under its rate with
	// the rest of Headroom left for the way to the Cloud API (see doc.go).
	Grace time.Duration
	// Lead is how long before a lease's first slot WaitN returns: room for
	// the claim between the two. When the number's schedule has fallen
	// behind, the first slot is Lead after the lease. Default 40ms: a
	// claim takes a few milliseconds, and tens on a busy host; sends it
	// claimed late reach their slots late.
	Lead time.Duration
	// MinFactor is the AIMD floor, as a fraction of the configured rate.
	// In (0, 1]. Default 0.1.
	MinFactor float64
	// IncreaseStep is added back to the factor for every whole second
	// without a 130429, up to 1. In (0, 1]. Default 0.05.
	IncreaseStep float64
	// A 130429 multiplies the factor by one less the share of this
	// process's messages to the number in the last second that drew one,
	// but by no less than DecreaseFactor and no more than
	// CalmDecreaseFactor. A few messages bunched on the way draw a 130429
	// or a few out of a second's hundreds and get the mild decrease; a cap
	// lower than the rate refuses the share by which the rate exceeds it,
	// and the decrease brings the rate down to about the cap. Both in
	// (0, 1), DecreaseFactor ≤ CalmDecreaseFactor. Defaults 0.5 and 0.9.
	DecreaseFactor     float64
	CalmDecreaseFactor float64
}

func (c Config) withDefaults() Config {
	c.Headroom = cmp.Or(c.Headroom, DefaultHeadroom)
	c.Grace = cmp.Or(c.Grace, time.Duration(c.Headroom/3*float64(time.Second)))
	c.Lead = cmp.Or(c.Lead, 40*time.Millisecond)
	c.MinFactor = cmp.Or(c.MinFactor, 0.1)
	c.IncreaseStep = cmp.Or(c.IncreaseStep, 0.05)
	c.DecreaseFactor = cmp.Or(c.DecreaseFactor, 0.5)
	c.CalmDecreaseFactor = cmp.Or(c.CalmDecreaseFactor, 0.9)
	return c
}

// mustValidate panics on a configuration only a programmer can get wrong.
func (c Config) mustValidate() {
	var bad []string
	if c.Headroom < 0 || c.Headroom >= 0.5 {
		bad = append(bad, "Headroom must be in [0, 0.5)")
	}
	if c.Grace <= 0 {
		bad = append(bad, "Grace must be positive")
	}
	if c.Lead <= 0 {
		bad = append(bad, "Lead must be positive")
	}
	if c.MinFactor <= 0 || c.MinFactor > 1 {
		bad = append(bad, "MinFactor must be in (0, 1]")
	}
	if c.IncreaseStep <= 0 || c.IncreaseStep > 1 {
		bad = append(bad, "IncreaseStep must be in (0, 1]")
	}
	if c.DecreaseFactor <= 0 || c.DecreaseFactor >= 1 {
		bad = append(bad, "DecreaseFactor must be in (0, 1)")
	}
	if c.CalmDecreaseFactor <= 0 || c.CalmDecreaseFactor >= 1 || c.CalmDecreaseFactor < c.DecreaseFactor {
		bad = append(bad, "CalmDecreaseFactor must be in [DecreaseFactor, 1)")
	}
	if len(bad) > 0 {
		panic(fmt.Sprintf("throttle: invalid Config: %v", bad))
	}
}

// slowWindow: 130429s closer together than this count once, whichever
// process saw them.
const slowWindow = time.Second

// departSpeedup is how much faster than the number's rate a process's token
// bucket refills (see Depart): at exactly the rate, messages that left a
// little late would hold up the ones on time after them for good.
const departSpeedup = 1.05

// Limiter paces sends per sender number so that all herald processes on one
// database together stay under each number's rate. See the package doc for
// the protocol.
type Limiter struct {
	logger *slog.Logger
	pool   *pgxpool.Pool
	cfg    Config

	done    chan struct{}  // closed by Stop
	slowing sync.WaitGroup // SlowDowns being written

	mu      sync.Mutex
	senders map[int64]*ledger // per number, this process
	offset  offsetFilter      // this clock minus the server's

	leases, slots, heldBack, topUps, slowDowns atomic.Int64
}

// NewLimiter returns a Limiter. It panics on an invalid Config.
func NewLimiter(logger *slog.Logger, pool *pgxpool.Pool, cfg Config) *Limiter {
	cfg = cfg.withDefaults()
	cfg.mustValidate()
	return &Limiter{
		logger:  logger,
		pool:    pool,
		cfg:     cfg,
		done:    make(chan struct{}),
		senders: make(map[int64]*ledger),
	}
}

// Start checks that the database answers and holds the throttle's table.
// The limiter keeps no background work: every lease is one statement.
func (l *Limiter) Start(ctx context.Context) error {
	if l.stopped() {
		return ErrStopped
	}
	if _, err := l.pool.Exec(ctx, `SELECT next_slot FROM throttle_senders LIMIT 0`); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// Stop makes every WaitN and Depart return ErrStopped and waits for
// decreases being written. It is safe to call more than once.
func (l *Limiter) Stop() {
	l.mu.Lock() // SlowDown checks done under mu, so no slowing.Go follows Wait
	if !l.stopped() {
		close(l.done)
	}
	l.mu.Unlock()
	l.slowing.Wait()
}

func (l *Limiter) stopped() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Wait is WaitN for one message.
func (l *Limiter) Wait(ctx context.Context, senderID int64) (time.Time, error) {
	slots, err := l.WaitN(ctx, senderID, 1)
	if err != nil {
		return time.Time{}, err
	}
	return slots[0], nil
}

// WaitN takes n consecutive slots of senderID's schedule and returns their
// times, on this process's clock, Lead before the first: the caller claims
// the sends in between, then lets each leave through Depart at its slot. It
// returns ErrSenderStopped while the number is stopped and a
// store.ErrNotFound error for an unknown number. Slots taken are spent: a
// caller that ends early (ctx, Stop) leaves them unused, and nobody else
// sends in them.
func (l *Limiter) WaitN(ctx context.Context, senderID int64, n int) ([]time.Time, error) {
	if n <= 0 {
		return nil, nil
	}
	if l.stopped() {
		return nil, ErrStopped
	}
	slots, err := l.take(ctx, senderID, n)
	if err != nil {
		return nil, err
	}
	if err := l.sleep(ctx, time.Until(slots[0].Add(-l.cfg.Lead))); err != nil {
		return nil, err
	}
	return slots, nil
}

// take leases n slots and places them on this process's clock.
func (l *Limiter) take(ctx context.Context, senderID int64, n int) ([]time.Time, error) {
	sc, err := lease(ctx, l.pool, senderID, n, l.cfg.Lead, l.cfg.Headroom, l.cfg.IncreaseStep)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	reading := now.Sub(sc.dbNow)
	l.mu.Lock()
	offset := l.offset.observe(now, reading)
	l.mu.Unlock()
	// sc.start(n) + offset, reckoned from now so that the slots carry
	// now's monotonic clock reading: a step of the wall clock afterwards
	// does not move them.
	first := now.Add(sc.start(n).Sub(sc.dbNow) - reading + offset)
	l.leases.Add(1)
	l.slots.Add(int64(n))
	slots := make([]time.Time, n)
	for i := range slots {
		slots[i] = first.Add(time.Duration(i) * sc.spacing)
	}
	g := l.ledger(senderID)
	g.hold(slots)
	g.pacer.SetLimit(rate.Every(time.Duration(float64(sc.spacing) / departSpeedup)))
	g.pacer.SetBurst(1 + int(l.cfg.Grace/sc.spacing))
	return slots, nil
}

// offsetFilter estimates how far this process's clock is ahead of the
// database server's. Each lease gives one reading: the time its answer
// arrived here minus the server's clock when it was written, which is the
// offset plus the answer's way back. That way is usually a fraction of a
// millisecond but now and then several (a busy core, a collector pause), and
// a late reading would place the lease's slots late here, onto the next
// holder's. The lowest reading of the last offsetWindow or two is the
// estimate: the fastest answer is the truest, and a window lets it follow
// the clocks' drift.
type offsetFilter struct {
	cur, prev   time.Duration // lowest reading of this window and the last
	windowStart time.Time
	any         bool
}

const offsetWindow = 10 * time.Second

func (f *offsetFilter) observe(now time.Time, reading time.Duration) time.Duration {
	switch {
	case !f.any:
		f.cur, f.prev, f.windowStart, f.any = reading, reading, now, true
	case now.Sub(f.windowStart) >= offsetWindow:
		f.prev, f.cur, f.windowStart = f.cur, reading, now
	default:
		f.cur = min(f.cur, reading)
	}
	return min(f.cur, f.prev)
}

// Stats counts this limiter's leases and the slots they took, the messages
// Depart held back (the ledger's second was full), the leases taken to top
// them up, and the 130429s reported to SlowDown.
type Stats struct {
	Leases, Slots, HeldBack, TopUps, SlowDowns int64
}

// Stats returns the counts so far.
func (l *Limiter) Stats() Stats {
	return Stats{Leases: l.leases.Load(), Slots: l.slots.Load(), HeldBack: l.heldBack.Load(),
		TopUps: l.topUps.Load(), SlowDowns: l.slowDowns.Load()}
}

func (l *Limiter) ledger(senderID int64) *ledger {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.senders[senderID]
	if g == nil {
		g = newLedger()
		l.senders[senderID] = g
	}
	return g
}

// sleep waits d, or until ctx ends or the limiter stops.
func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return ErrStopped
	}
}

// Depart blocks until a message whose slot WaitN gave may leave, and
// should be called right before its request is written. It waits for the
// slot, then for this process's token bucket for the number
// (golang.org/x/time/rate, a little faster than the rate, with a burst of
// Grace's worth: messages on their slots never wait for it, and messages
// that fell behind catch up one at a time rather than together), then
// checks the ledger's rule: no more messages in any second than slots held
// in it (see ledger.admit). A message the rule holds back takes one more
// slot and leaves at that one: waiting instead for room in the second
// could take up to a second, and the chunks such messages hold keep their
// jobs from taking the slots that would make room.
//
// ctx's end is ignored: the message was granted and claimed, so it leaves,
// or its caller puts it back unsent when Depart returns ErrStopped or an
// error of a new lease.
func (l *Limiter) Depart(senderID int64, slot time.Time) error {
	ctx := context.Background()
	g := l.ledger(senderID)
	if err := l.sleep(ctx, time.Until(slot)); err != nil {
		return err
	}
	r := g.pacer.Reserve()
	if err := l.sleep(ctx, r.Delay()); err != nil {
		r.Cancel()
		return err
	}
	for held := false; ; held = true {
		if g.admit(time.Now(), l.cfg.Grace) == 0 {
			return nil
		}
		if !held {
			l.heldBack.Add(1)
		}
		slot, err := l.topUp(senderID, g)
		if err != nil {
			return err
		}
		if err := l.sleep(ctx, time.Until(slot)); err != nil {
			return err
		}
	}
}

// topUp returns one more slot of senderID for a message held back. The
// messages held back while a top-up lease is on its way share the next.
func (l *Limiter) topUp(senderID int64, g *ledger) (time.Time, error) {
	g.topMu.Lock()
	if g.next == nil {
		g.next = &topUp{done: make(chan struct{})}
	}
	b := g.next
	i := b.n
	b.n++
	if !g.leasing {
		g.leasing = true
		go l.leaseTopUps(senderID, g)
	}
	g.topMu.Unlock()
	select {
	case <-b.done:
	case <-l.done:
		return time.Time{}, ErrStopped
	}
	if b.err != nil {
		return time.Time{}, b.err
	}
	return b.slots[i], nil
}

func (l *Limiter) leaseTopUps(senderID int64, g *ledger) {
	for {
		g.topMu.Lock()
		b := g.next
		g.next = nil
		if b == nil {
			g.leasing = false
			g.topMu.Unlock()
			return
		}
		g.topMu.Unlock()
		l.topUps.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.slots, b.err = l.take(ctx, senderID, b.n)
		cancel()
		close(b.done)
	}
}

// SlowDown records a 130429 for senderID: the number's factor, shared by
// every process, is multiplied by DecreaseFactor, or by CalmDecreaseFactor
// after a calm period (floored at MinFactor). Every lease from then on, in
// any process, is spaced at the lower rate; slots already taken keep theirs.
// A 130429 within a second of the last decrease, seen here or elsewhere, is
// part of the same overload and changes nothing. The write runs in the
// background; Stop waits for it.
func (l *Limiter) SlowDown(senderID int64) {
	l.slowDowns.Add(1)
	share := l.ledger(senderID).refuse(time.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped() {
		return
	}
	l.slowing.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.slowDown(ctx, senderID, share); err != nil {
			l.logger.Warn("throttle slow down", slog.Int64("sender_id", senderID), slog.Any("error", err))
		}
	})
}

// slowDown lowers the number's factor for a 130429 when share of the last
// second's messages drew one (see Config.DecreaseFactor).
func (l *Limiter) slowDown(ctx context.Context, senderID int64, share float64) error {
	return slow(ctx, l.pool, slowParams{
		SenderID:     senderID,
		MinFactor:    l.cfg.MinFactor,
		IncreaseStep: l.cfg.IncreaseStep,
		Decrease:     min(max(1-share, l.cfg.DecreaseFactor), l.cfg.CalmDecreaseFactor),
		SlowWindow:   slowWindow,
	})
}
