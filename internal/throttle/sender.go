package throttle

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/herald-sh/herald/internal/store"
)

// sender is this member's view of one sender number.
type sender struct {
	id  int64
	lim *rate.Limiter
	// gate lets one Wait at a time make a reservation (see reserve).
	gate chan struct{}
	log  sendLog
	// dep paces departures and departed logs them (see Depart).
	dep      *rate.Limiter
	departed sendLog

	// Guarded by Limiter.mu.
	lastWant time.Time // NowFunc at the last Wait
	waiters  int       // Waits in progress; a sender with waiters stays wanted
	known    bool      // a heartbeat has read this sender
	err      error     // ErrSenderStopped or not found, from the last heartbeat
	admitted bool
	// base is rate_per_second / live members × (1 − Headroom): the share
	// before the AIMD factor.
	base float64
	// factor is the AIMD factor right after the last decrease at slowedAt
	// (1 and zero when never slowed); factorAt adds the recovery since.
	factor      float64
	slowedAt    time.Time
	pendingSlow time.Time // a decrease not yet written; zero if none
	applied     float64   // the limit in force; 0 while gated
	changed     chan struct{}
}

func newSender(id int64, burst int) *sender {
	return &sender{
		id:      id,
		lim:     rate.NewLimiter(0, burst),
		dep:     rate.NewLimiter(0, 1),
		gate:    make(chan struct{}, 1),
		factor:  1,
		changed: make(chan struct{}),
	}
}

// factorAt is the AIMD factor at now, given its value f right after a
// decrease at slowedAt: IncreaseStep more for every whole second since, up to
// 1. memberHeartbeatSQL computes the same.
func factorAt(f float64, slowedAt, now time.Time, step float64) float64 {
	if slowedAt.IsZero() {
		return f
	}
	secs := math.Floor(now.Sub(slowedAt).Seconds())
	if secs < 0 {
		secs = 0 // another member's clock runs ahead of ours
	}
	return min(1, f+step*secs)
}

// enter marks senderID wanted by a Wait in progress.
func (l *Limiter) enter(senderID int64) (*sender, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return nil, ErrStopped
	}
	s := l.senders[senderID]
	if s == nil {
		s = newSender(senderID, l.cfg.Burst)
		l.senders[senderID] = s
	}
	if !s.known {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	s.waiters++
	s.lastWant = l.cfg.NowFunc()
	return s, nil
}

func (l *Limiter) leave(s *sender) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.waiters--
	s.lastWant = l.cfg.NowFunc()
}

// reserveAhead is how far in the future a Wait may hold a reservation.
// Several Waits holding reservations keep the schedule going when some wake
// late (timers on a busy host are often a few milliseconds late, more than
// the 1 ms between messages at 1,000/s), so late wake-ups do not cost
// throughput; the messages that were due then leave together, at most
// reserveAhead's worth. It also bounds how long a new limit takes to apply:
// SetLimit does not move reservations already made.
const reserveAhead = 25 * time.Millisecond

// Wait blocks until this process may send one message through senderID, ctx
// is done, or the limiter stops. It returns ErrSenderStopped while the
// number is stopped and a store.ErrNotFound error for an unknown number. A
// sender's first Wait lasts at least one heartbeat (two when other members
// are sending for it): its share starts only once it is admitted.
//
// Pacing is the token bucket; on top of it no one-second window of this
// member's sends holds more than its rate (see sendLog), so the messages
// released together after a late wake-up cannot push a window over.
func (l *Limiter) Wait(ctx context.Context, senderID int64) error {
	_, err := l.WaitN(ctx, senderID, 1)
	return err
}

// WaitN is n Waits made by one goroutine: it blocks until this process may
// send n messages through senderID and returns when each was let go, in
// order. Like n concurrent Waits it holds up to reserveAhead of slots at a
// time (made in the order the calls took the gate, see reserve), so a late wake-up loses none (the messages that were due leave
// together, still within the one-second log), but it needs one goroutine
// and one timer instead of n. On an error it returns the times of the
// messages let go before it.
func (l *Limiter) WaitN(ctx context.Context, senderID int64, n int) ([]time.Time, error) {
	s, err := l.enter(senderID)
	if err != nil {
		return nil, err
	}
	defer l.leave(s)
	type slot struct {
		r  *rate.Reservation
		at time.Time
	}
	var held []slot // reserved, oldest first, not yet let go
	defer func() {
		for _, h := range held {
			h.r.Cancel()
		}
	}()
	times := make([]time.Time, 0, n)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for len(times) < n {
		if len(times)+len(held) < n {
			// Top up the slots held. Without any, wait for the gate and a
			// slot; with some, only take what is free right now.
			gotGate := false
			if len(held) == 0 {
				select {
				case s.gate <- struct{}{}:
					gotGate = true
				case <-ctx.Done():
					return times, ctx.Err()
				case <-l.done:
					return times, ErrStopped
				}
				r, at, err := l.reserve(ctx, s)
				if err != nil {
					<-s.gate
					return times, err
				}
				held = append(held, slot{r, at})
			} else {
				select {
				case s.gate <- struct{}{}:
					gotGate = true
				default:
				}
			}
			if gotGate {
				for len(times)+len(held) < n {
					r, at, ok := l.tryReserve(s)
					if !ok {
						break
					}
					held = append(held, slot{r, at})
				}
				<-s.gate
			}
		}
		// Let the first slot held go when it is due and the log has room.
		wait := time.Until(held[0].at)
		if wait <= 0 {
			l.mu.Lock()
			perSecond := max(1, int(s.applied))
			l.mu.Unlock()
			if wait = s.log.admit(perSecond); wait <= 0 {
				times = append(times, time.Now())
				held = held[1:]
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return times, ctx.Err()
		case <-l.done:
			return times, ErrStopped
		}
	}
	return times, nil
}

// tryReserve runs while holding s.gate: it returns a reservation if the
// member may send and the next slot is due within reserveAhead.
func (l *Limiter) tryReserve(s *sender) (*rate.Reservation, time.Time, bool) {
	l.mu.Lock()
	limit, err := l.limitLocked(s, l.cfg.NowFunc())
	l.mu.Unlock()
	if err != nil || limit <= 0 {
		return nil, time.Time{}, false
	}
	now := time.Now()
	r := s.lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay > reserveAhead {
		r.CancelAt(now) // the last reservation made: cancelling restores the limiter exactly
		return nil, time.Time{}, false
	}
	return r, now.Add(delay), true
}

// Depart blocks until a message that Wait let go may leave, and should be
// called right before its request is written. Wait spaces the grants, but a
// granted message then waits a varying time (its claim, its chunk's
// schedule), and messages granted apart could leave together: a burst that
// reaches the Cloud API spread over a few milliseconds, so that a second
// later the API still counts it while herald no longer does, and answers
// 130429. Departures leave one at a time, spaced at a little more than the
// member's rate (see departSpeedup), and none leaves while the member's
// last second already holds its rate (see sendLog): a delay on the way
// then moves a second's end by one message per late millisecond at
// 1,000/s, which Headroom absorbs, rather than by a whole burst. ctx's end
// is ignored: the message was granted and claimed, so it leaves, or its
// caller returns it unsent on ErrStopped; the wait is short, a second at
// worst.
func (l *Limiter) Depart(senderID int64) error {
	l.mu.Lock()
	s := l.senders[senderID]
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if s == nil {
		return nil // granted without Wait: nothing to hold it to
	}
	var timer *time.Timer
	sleep := func(d time.Duration) bool {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
			return true
		case <-l.done:
			return false
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	now := time.Now()
	if r := s.dep.ReserveN(now, 1); r.OK() {
		if d := r.DelayFrom(now); d > 0 && !sleep(d) {
			r.Cancel()
			return ErrStopped
		}
	}
	for {
		l.mu.Lock()
		perSecond, window := l.departLimitLocked(s)
		l.mu.Unlock()
		wait := s.departed.admitWithin(perSecond, window)
		if wait <= 0 {
			return nil
		}
		if !sleep(wait) {
			return ErrStopped
		}
	}
}

// departLimitLocked is the cap of the departure log: the member's whole
// share (its rate before Headroom, times the AIMD factor) in any window of
// a second plus most of Headroom's worth of a second (departGuard). Over
// the long run that is a little more than the paced rate Wait grants; what
// Headroom buys is a guard: a message
// held up on its way by up to that much (a host that paused a process, a
// slow network path, timers firing late and several messages leaving
// together) still cannot put more than the share into any second as the
// Cloud API counts it. A plain one-second log at the paced rate left room
// for Headroom's worth of messages, which a few messages leaving together
// used up.
func (l *Limiter) departLimitLocked(s *sender) (int, time.Duration) {
	share := s.applied
	if h := l.cfg.Headroom; h < 1 {
		share /= 1 - h
	}
	guard := time.Duration(departGuard * l.cfg.Headroom * float64(time.Second))
	return max(1, int(share+1e-6)), time.Second + guard
}

// departGuard is the share of Headroom that lengthens the departure log's
// window. Not all of it: the log must let messages through a little faster
// than Wait grants them, or, running full, it would hold them ever longer.
const departGuard = 0.8

// departSpeedup is how much faster than the member's rate Depart lets
// messages leave one by one. Grants arrive at the rate on average but
// unevenly; paced at exactly the rate, departures that fell behind after a
// gap could never catch up. The one-second log still caps them at the rate.
const departSpeedup = 1.02

// reserve runs while holding s.gate, so reservations are made in the order
// Waits arrived and one at a time. It returns a reservation due within
// reserveAhead and when it is due. While the member may not send, or while
// the next slot is further ahead, it waits without a reservation and tries
// again when the limit changes or the slot comes near.
func (l *Limiter) reserve(ctx context.Context, s *sender) (*rate.Reservation, time.Time, error) {
	for {
		l.mu.Lock()
		limit, err := l.limitLocked(s, l.cfg.NowFunc())
		changed := s.changed
		l.mu.Unlock()
		if err != nil {
			return nil, time.Time{}, err
		}
		var timer *time.Timer
		var retry <-chan time.Time
		if limit > 0 {
			now := time.Now()
			r := s.lim.ReserveN(now, 1) // burst ≥ 1, so always OK
			delay := r.DelayFrom(now)
			if delay <= reserveAhead {
				return r, now.Add(delay), nil
			}
			// The last reservation made, so cancelling restores the limiter
			// exactly: only the gate holder reserves.
			r.CancelAt(now)
			timer = time.NewTimer(delay - reserveAhead)
			retry = timer.C
		}
		select {
		case <-retry:
		case <-changed:
		case <-ctx.Done():
			err = ctx.Err()
		case <-l.done:
			err = ErrStopped
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return nil, time.Time{}, err
		}
	}
}

// SlowDown records a 130429 for senderID: the factor is multiplied by
// DecreaseFactor, or CalmDecreaseFactor after a calm period (floored at
// MinFactor), here at once and for every member at
// its next heartbeat. A 130429 within a second (or a Heartbeat, if longer) of
// the last decrease, seen here or by another member, is part of the same
// overload and changes nothing.
func (l *Limiter) SlowDown(senderID int64) {
	now := l.cfg.NowFunc()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	s := l.senders[senderID]
	if s == nil { // not sending for it here; still tell the others
		s = newSender(senderID, l.cfg.Burst)
		l.senders[senderID] = s
	}
	if !s.slowedAt.IsZero() && now.Sub(s.slowedAt) < l.slowWindow {
		return
	}
	f := factorAt(s.factor, s.slowedAt, now, l.cfg.IncreaseStep)
	decrease := l.cfg.DecreaseFactor
	if s.slowedAt.IsZero() || now.Sub(s.slowedAt) >= l.cfg.CalmAfter {
		decrease = l.cfg.CalmDecreaseFactor
	}
	s.factor = max(l.cfg.MinFactor, f*decrease)
	s.slowedAt = now
	s.pendingSlow = now
	l.applyLocked(s, now, false)
}

// Rate is the rate in messages per second at which this process currently
// paces senderID: its share of the number's rate times the AIMD factor,
// less Headroom. It is 0 before the member is admitted, while the number is
// stopped and when the last successful heartbeat is older than the lease.
func (l *Limiter) Rate(senderID int64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.senders[senderID]
	if s == nil {
		return 0
	}
	limit, _ := l.limitLocked(s, l.cfg.NowFunc())
	return limit
}

func (l *Limiter) limitLocked(s *sender, now time.Time) (float64, error) {
	if l.stopped {
		return 0, ErrStopped
	}
	if s.err != nil {
		return 0, s.err
	}
	if l.leaseFrom.IsZero() || now.Sub(l.leaseFrom) >= l.lease {
		return 0, nil // the others may already count this member dead
	}
	return s.applied, nil
}

// observeLocked takes in what a heartbeat read about s; st is nil when the
// sender does not exist.
func (l *Limiter) observeLocked(s *sender, st *senderState, now time.Time) {
	s.known = true
	if st == nil {
		s.err = fmt.Errorf("sender %d: %w", s.id, store.ErrNotFound)
		return
	}
	s.err = nil
	if st.Status != "active" {
		s.err = ErrSenderStopped
	}
	s.admitted = st.Admitted
	s.base = float64(st.RatePerSecond) / float64(max(st.Members, 1)) * (1 - l.cfg.Headroom)
	f, at := 1.0, time.Time{}
	if st.Factor != nil && st.SlowedAt != nil {
		f, at = *st.Factor, *st.SlowedAt
	}
	// The database is the truth, except for a decrease made here after this
	// heartbeat collected the pending ones: it is written next time.
	step := l.cfg.IncreaseStep
	if s.pendingSlow.IsZero() || factorAt(f, at, now, step) <= factorAt(s.factor, s.slowedAt, now, step) {
		s.factor, s.slowedAt = f, at
	}
}

// applyLocked sets the local limiter to s's current share and wakes the Wait
// holding the gate if the limit or the error changed, or if force is set.
// Reservations already made keep their slots (at most reserveAhead away);
// the debt they represent is repaid at the new rate.
func (l *Limiter) applyLocked(s *sender, now time.Time, force bool) {
	next := 0.0
	if s.known && s.err == nil && s.admitted {
		next = s.base * factorAt(s.factor, s.slowedAt, now, l.cfg.IncreaseStep)
	}
	if next > 0 && rate.Limit(next) != s.lim.Limit() {
		at := time.Now()
		s.lim.SetLimitAt(at, rate.Limit(next))
		s.dep.SetLimitAt(at, rate.Limit(next*departSpeedup))
	}
	if force || next != s.applied || s.err != nil {
		s.applied = next
		close(s.changed)
		s.changed = make(chan struct{})
	}
}
