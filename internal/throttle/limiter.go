package throttle

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrStopped is returned by Wait and Start once Stop has been called.
var ErrStopped = errors.New("limiter stopped")

// ErrSenderStopped is returned by Wait while the sender number's status is
// not 'active'. It is re-read on every heartbeat.
var ErrSenderStopped = errors.New("sender number stopped")

// Config configures a Limiter. A zero field takes its default.
type Config struct {
	// Heartbeat is how often the limiter renews its membership rows and
	// re-reads rates, member counts and the shared factor. A change made by
	// another process (a member joining or leaving, a new rate_per_second, a
	// 130429 elsewhere) applies here within one Heartbeat. Default 1s.
	Heartbeat time.Duration
	// MemberTTL is how long a member may go unseen before the others count
	// it dead and take its share, and how long after its last Wait a sender
	// stays wanted. It must be at least 3×Heartbeat. Default 5s.
	MemberTTL time.Duration
	// MinFactor is the AIMD floor, as a fraction of the configured rate.
	// In (0, 1]. Default 0.1.
	MinFactor float64
	// IncreaseStep is added back to the factor for every whole second
	// without a 130429, up to 1. In (0, 1]. Default 0.05.
	IncreaseStep float64
	// DecreaseFactor multiplies the factor on a 130429 that comes within
	// CalmAfter of the last decrease. In (0, 1). Default 0.5.
	DecreaseFactor float64
	// CalmDecreaseFactor multiplies the factor on a 130429 after CalmAfter
	// without one (or the first ever): a lone 130429 at the number's rate is
	// more often a few messages bunched on the way (Headroom's guard was not
	// enough) than a lower cap, and halving the rate for it cost seconds of
	// sending each time. A real overload answers 130429 again, and the next
	// decreases take DecreaseFactor. In (0, 1). Default 0.9.
	CalmDecreaseFactor float64
	// CalmAfter: see CalmDecreaseFactor. Default 30s.
	CalmAfter time.Duration
	// Headroom is the fraction of the rate left unused, for the jitter
	// herald cannot see: messages paced evenly here reach Meta with varying
	// delays (see Depart). In [0, 0.5). Default 0.01; the zero value means
	// the default, so ask for a tiny value (1e-9) to pace at the full rate.
	Headroom float64
	// Burst is the local rate.Limiter's burst: how many messages a member
	// that has been idle may send at once. 1 gives the smoothest flow; late
	// wake-ups are made up without it (see Wait). Default 1.
	Burst int
	// NowFunc is the clock for membership demand, leases and AIMD. Pacing
	// always sleeps on the real clock. Default time.Now.
	NowFunc func() time.Time
}

func (c Config) withDefaults() Config {
	c.Heartbeat = cmp.Or(c.Heartbeat, time.Second)
	c.MemberTTL = cmp.Or(c.MemberTTL, 5*time.Second)
	c.MinFactor = cmp.Or(c.MinFactor, 0.1)
	c.IncreaseStep = cmp.Or(c.IncreaseStep, 0.05)
	c.DecreaseFactor = cmp.Or(c.DecreaseFactor, 0.5)
	c.CalmDecreaseFactor = cmp.Or(c.CalmDecreaseFactor, 0.9)
	c.CalmAfter = cmp.Or(c.CalmAfter, 30*time.Second)
	c.Headroom = cmp.Or(c.Headroom, 0.01)
	c.Burst = cmp.Or(c.Burst, 1)
	if c.NowFunc == nil {
		c.NowFunc = time.Now
	}
	return c
}

// mustValidate panics on a configuration only a programmer can get wrong.
func (c Config) mustValidate() {
	var bad []string
	if c.Heartbeat < 0 {
		bad = append(bad, "Heartbeat must be positive")
	}
	if c.MemberTTL < 3*c.Heartbeat {
		bad = append(bad, "MemberTTL must be at least 3×Heartbeat")
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
	if c.CalmDecreaseFactor <= 0 || c.CalmDecreaseFactor >= 1 {
		bad = append(bad, "CalmDecreaseFactor must be in (0, 1)")
	}
	if c.CalmAfter < c.Heartbeat {
		bad = append(bad, "CalmAfter must be at least Heartbeat")
	}
	if c.Headroom < 0 || c.Headroom >= 0.5 {
		bad = append(bad, "Headroom must be in [0, 0.5)")
	}
	if c.Burst < 1 {
		bad = append(bad, "Burst must be at least 1")
	}
	if len(bad) > 0 {
		panic(fmt.Sprintf("throttle: invalid Config: %v", bad))
	}
}

// Limiter paces sends per sender number so that all herald processes on one
// database together stay under each number's rate. See the package doc for
// the protocol.
type Limiter struct {
	logger   *slog.Logger
	pool     *pgxpool.Pool
	cfg      Config
	memberID string
	// lease is how long after the start of its last successful heartbeat
	// this member may send: the others count it dead MemberTTL after they
	// last saw it, and one Heartbeat of margin covers a reservation already
	// made and differences between clocks' rates.
	lease time.Duration
	// slowWindow: 130429s closer together than this count once. Other
	// members learn of a decrease within a Heartbeat, so 130429s in that
	// time belong to the same overload.
	slowWindow time.Duration

	kick     chan struct{} // a new sender is wanted: heartbeat now
	done     chan struct{} // closed by Stop
	stopOnce sync.Once
	tickMu   sync.Mutex // one heartbeat at a time

	mu        sync.Mutex
	senders   map[int64]*sender
	leaseFrom time.Time // NowFunc at the start of the last successful heartbeat
	held      bool      // this member may have rows in throttle_members
	started   bool
	stopped   bool
	cancel    context.CancelFunc
	loopDone  chan struct{}
}

// NewLimiter returns a Limiter with a random member id. It panics on an
// invalid Config.
func NewLimiter(logger *slog.Logger, pool *pgxpool.Pool, cfg Config) *Limiter {
	cfg = cfg.withDefaults()
	cfg.mustValidate()
	return &Limiter{
		logger:     logger,
		pool:       pool,
		cfg:        cfg,
		memberID:   rand.Text(),
		lease:      cfg.MemberTTL - cfg.Heartbeat,
		slowWindow: max(time.Second, cfg.Heartbeat),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		senders:    make(map[int64]*sender),
		held:       true, // the first heartbeat checks the database even if idle
	}
}

// Start runs a first heartbeat, which checks that the database answers and
// is migrated, then heartbeats every Config.Heartbeat until ctx is cancelled
// or Stop is called. Cancelling ctx leaves this member's rows to expire;
// Stop deletes them at once.
func (l *Limiter) Start(ctx context.Context) error {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return ErrStopped
	}
	if l.started {
		l.mu.Unlock()
		return errors.New("limiter already started")
	}
	l.started = true
	l.mu.Unlock()

	if err := l.Tick(ctx); err != nil {
		return fmt.Errorf("first heartbeat: %w", err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	l.mu.Lock()
	l.cancel, l.loopDone = cancel, loopDone
	l.mu.Unlock()
	go l.loop(loopCtx, loopDone)
	return nil
}

func (l *Limiter) loop(ctx context.Context, loopDone chan struct{}) {
	defer close(loopDone)
	ticker := time.NewTicker(l.cfg.Heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-l.kick:
		}
		if err := l.Tick(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrStopped) {
			l.logger.WarnContext(ctx, "throttle heartbeat",
				slog.String("member_id", l.memberID), slog.Any("error", err))
		}
	}
}

// Stop makes every Wait return ErrStopped, ends the heartbeat loop and
// deletes this member's rows so that the others take its share at their next
// heartbeat rather than after MemberTTL. Decreases not yet written are
// written. It is safe to call more than once.
func (l *Limiter) Stop() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.stopped = true
		close(l.done)
		cancel, loopDone := l.cancel, l.loopDone
		p := l.paramsLocked(nil)
		for _, s := range l.senders {
			if !s.pendingSlow.IsZero() {
				p.SlowSenderIDs = append(p.SlowSenderIDs, s.id)
			}
		}
		slices.Sort(p.SlowSenderIDs)
		for _, id := range p.SlowSenderIDs {
			p.SlowedAts = append(p.SlowedAts, l.senders[id].pendingSlow)
		}
		l.mu.Unlock()
		if cancel != nil {
			cancel()
			<-loopDone
		}
		l.tickMu.Lock() // let a Tick called directly finish first
		defer l.tickMu.Unlock()
		ctx, cancelCtx := context.WithTimeout(context.Background(), l.cfg.MemberTTL)
		defer cancelCtx()
		// With no wanted senders the heartbeat statement deletes every row
		// of this member.
		if _, err := memberHeartbeat(ctx, l.pool, p); err != nil {
			l.logger.Warn("throttle deregister; rows will expire instead",
				slog.String("member_id", l.memberID), slog.Any("error", err))
		}
	})
}

func (l *Limiter) paramsLocked(senderIDs []int64) *heartbeatParams {
	return &heartbeatParams{
		MemberID:       l.memberID,
		SenderIDs:      senderIDs,
		MemberTTL:      l.cfg.MemberTTL,
		SlowWindow:     l.slowWindow,
		MinFactor:      l.cfg.MinFactor,
		IncreaseStep:   l.cfg.IncreaseStep,
		DecreaseFactor: l.cfg.DecreaseFactor,
		CalmFactor:     l.cfg.CalmDecreaseFactor,
		CalmAfter:      l.cfg.CalmAfter,
	}
}

// Tick runs one heartbeat now: it writes this member's rows and pending
// decreases, then re-reads every wanted sender's rate, members and factor
// and applies them. When it has just joined a sender it runs a second round
// at once, which sets the instant its admission is measured from. Start
// calls it every Heartbeat; tests call it to step the protocol.
func (l *Limiter) Tick(ctx context.Context) error {
	l.tickMu.Lock()
	defer l.tickMu.Unlock()
	again, err := l.tickOnce(ctx)
	if err != nil || !again {
		return err
	}
	_, err = l.tickOnce(ctx)
	return err
}

func (l *Limiter) tickOnce(ctx context.Context) (again bool, err error) {
	now := l.cfg.NowFunc()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false, ErrStopped
	}
	var wanted, slow []int64
	for id, s := range l.senders {
		switch {
		case s.waiters > 0 || now.Sub(s.lastWant) < l.cfg.MemberTTL:
			wanted = append(wanted, id)
		case s.pendingSlow.IsZero():
			delete(l.senders, id) // released; a later Wait starts afresh
		}
		if !s.pendingSlow.IsZero() {
			slow = append(slow, id)
		}
	}
	slices.Sort(wanted)
	slices.Sort(slow)
	p := l.paramsLocked(wanted)
	p.SlowSenderIDs = slow
	for _, id := range slow {
		s := l.senders[id]
		p.SlowedAts = append(p.SlowedAts, s.pendingSlow)
		s.pendingSlow = time.Time{}
	}
	if len(wanted) == 0 && len(slow) == 0 && !l.held {
		l.leaseFrom = now
		l.mu.Unlock()
		return false, nil
	}
	l.mu.Unlock()

	states, err := memberHeartbeat(ctx, l.pool, p)
	if err != nil {
		l.mu.Lock()
		for i, id := range slow { // write them next time
			if s := l.senders[id]; s != nil && s.pendingSlow.IsZero() {
				s.pendingSlow = p.SlowedAts[i]
			}
		}
		l.mu.Unlock()
		return false, err
	}

	l.mu.Lock()
	lapsed := l.leaseFrom.IsZero() || now.Sub(l.leaseFrom) >= l.lease
	l.leaseFrom = now
	l.held = len(wanted) > 0
	byID := make(map[int64]*senderState, len(states))
	for i := range states {
		byID[states[i].SenderID] = &states[i]
	}
	var reap bool
	for _, id := range wanted {
		s := l.senders[id]
		if s == nil {
			continue
		}
		st := byID[id]
		if st != nil {
			again = again || st.AdmitAfter == nil
			reap = reap || st.Dead > 0
		}
		l.observeLocked(s, st, now)
		l.applyLocked(s, now, lapsed)
	}
	l.mu.Unlock()

	if reap {
		if err := memberReap(ctx, l.pool, wanted, l.cfg.MemberTTL); err != nil {
			return again, err
		}
	}
	return again, nil
}
