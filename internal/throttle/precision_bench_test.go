package throttle

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-sh/herald/internal/storetest"
)

var (
	benchSeconds = flag.Int("throttle.seconds", 5, "seconds each BenchmarkLimiterPrecision case sends for")
	benchRate    = flag.Int("throttle.rate", 1000, "rate_per_second of the sender number in BenchmarkLimiterPrecision")
)

// BenchmarkLimiterPrecision sends through one number at -throttle.rate for
// -throttle.seconds with one and with three started limiters (as three
// processes would be), each with eight goroutines that take ten slots at a
// time and let each message leave through Depart (a dispatcher has many
// sends in flight), and reports the achieved aggregate rate, its share of
// the target (over the span from the first departure to the last), and the
// fullest 1-s and 100-ms windows of departures. Figures
// are kept in docs/BENCHMARKS.md. Each case measures once whatever b.N is,
// so run it with -benchtime 1x:
//
//	go test -run '^$' -bench LimiterPrecision -benchtime 1x ./internal/throttle/
func BenchmarkLimiterPrecision(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("limiters=%d", n), func(b *testing.B) {
			_, pool := storetest.DB(b)
			id := addSender(b, pool, "pn-bench", *benchRate)
			ls := make([]*Limiter, n)
			for i := range ls {
				ls[i] = newLimiter(b, pool, Config{})
			}

			d := time.Duration(*benchSeconds) * time.Second
			b.ResetTimer()
			var (
				mu    sync.Mutex
				times []time.Time
				wg    sync.WaitGroup
			)
			for _, l := range ls {
				wg.Go(func() {
					got := run(b, context.Background(), l, id, 8, 10, d)
					mu.Lock()
					times = append(times, got...)
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()

			// Messages leave for a moment after d (slots already taken
			// are used), so the rate is taken over the departures' span.
			slices.SortFunc(times, time.Time.Compare)
			achieved := float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(achieved, "msg/s")
			b.ReportMetric(100*achieved/float64(*benchRate), "%_of_target")
			b.ReportMetric(float64(MaxInWindow(times, time.Second)), "max_1s")
			b.ReportMetric(float64(MaxInWindow(times, 100*time.Millisecond)), "max_100ms")
		})
	}
}
