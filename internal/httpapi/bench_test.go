package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// BenchmarkReceiver posts signed status notifications over loopback HTTP
// from parallel clients (-cpu sets GOMAXPROCS, SetParallelism multiplies it)
// and reports accepted POSTs per second and latency percentiles. Every
// event is committed before its 200. `herald bench webhooks` is the same
// measurement with a fixed duration and a durability check.
func BenchmarkReceiver(b *testing.B) {
	_, pool := storetest.DB(b)
	s := NewServer(testLogger(b), pool, Config{AppSecret: testAppSecret})
	s.Start(b.Context())
	b.Cleanup(s.Stop)
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	url := srv.URL + "/webhooks/whatsapp"

	var (
		seq       atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := statusBody(int(seq.Add(1)))
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, testAppSecret))
			began := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(began))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	at := func(p int) float64 {
		return float64(latencies[max((len(latencies)*p+99)/100-1, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(latencies))/b.Elapsed().Seconds(), "posts/s")
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
