package wasim

import "time"

// window is a sliding log of the last cap accept times of one phone number:
// a send is admitted when fewer than cap sends were admitted in the second
// before it, so no 1-second interval ever holds more than cap sends (a fixed
// window would let 2×cap straddle a boundary).
type window struct {
	times []time.Time // ring buffer, len <= cap
	head  int         // oldest entry once full
}

func newWindow(capacity int) *window {
	return &window{times: make([]time.Time, 0, capacity)}
}

func (w *window) allow(now time.Time) bool {
	if len(w.times) < cap(w.times) {
		w.times = append(w.times, now)
		return true
	}
	if now.Sub(w.times[w.head]) < time.Second {
		return false
	}
	w.times[w.head] = now
	w.head = (w.head + 1) % len(w.times)
	return true
}

// pairBucket is the pair rate limit for one sender and recipient: a token
// bucket of burst tokens refilled one per interval (reference §5.2: about
// one message per 6 s, bursts up to 45).
type pairBucket struct {
	tokens float64
	last   time.Time
}

type pairKey struct{ phoneNumberID, recipient string }

// pairs holds the pair buckets. Full buckets carry no information and are
// swept when the map has doubled since the last sweep.
type pairs struct {
	burst     float64
	interval  time.Duration
	buckets   map[pairKey]*pairBucket
	nextSweep int
}

func newPairs(burst int, interval time.Duration) *pairs {
	return &pairs{burst: float64(burst), interval: interval, buckets: map[pairKey]*pairBucket{}, nextSweep: 1024}
}

func (p *pairs) refill(b *pairBucket, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(p.burst, b.tokens+float64(now.Sub(b.last))/float64(p.interval))
		b.last = now
	}
}

func (p *pairs) allow(k pairKey, now time.Time) bool {
	b, ok := p.buckets[k]
	if !ok {
		if len(p.buckets) >= p.nextSweep {
			p.sweep(now)
		}
		b = &pairBucket{tokens: p.burst, last: now}
		p.buckets[k] = b
	}
	p.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (p *pairs) sweep(now time.Time) {
	for k, b := range p.buckets {
		p.refill(b, now)
		if b.tokens >= p.burst {
			delete(p.buckets, k)
		}
	}
	p.nextSweep = max(1024, 2*len(p.buckets))
}
