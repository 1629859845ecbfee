package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons a webhook POST is refused, the values of the "reason" label of
// herald_webhooks_rejected_total.
const (
	reasonTooLarge           = "too_large"
	reasonUnreadable         = "unreadable"
	reasonNotConfigured      = "not_configured"
	reasonSignatureMissing   = "signature_missing"
	reasonSignatureMalformed = "signature_malformed"
	reasonSignatureMismatch  = "signature_mismatch"
	reasonInvalidJSON        = "invalid_json"
	reasonCommitFailed       = "commit_failed"
	reasonNotRunning         = "not_running"
	reasonClientGone         = "client_gone"
)

var rejectReasons = []string{
	reasonTooLarge, reasonUnreadable, reasonNotConfigured, reasonSignatureMissing,
	reasonSignatureMalformed, reasonSignatureMismatch, reasonInvalidJSON,
	reasonCommitFailed, reasonNotRunning, reasonClientGone,
}

// metrics are the server's Prometheus metrics, in a registry of their own so
// that two Servers (tests, benchmarks) never collide.
type metrics struct {
	registry       *prometheus.Registry
	received       prometheus.Counter
	stored         prometheus.Counter
	rejected       *prometheus.CounterVec
	batchSize      prometheus.Histogram
	commitDuration prometheus.Histogram
	requests       *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhooks_received_total",
			Help: "Webhook POSTs received, before any check.",
		}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_webhooks_stored_total",
			Help: "Webhook events committed to webhook_events.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_webhooks_rejected_total",
			Help: "Webhook POSTs not answered 200, by reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_webhook_commit_batch_size",
			Help:    "Webhook events per committed group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024
		}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_webhook_commit_duration_seconds",
			Help:    "Time to insert and commit one group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route", "code"}),
	}
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r) // export every reason from zero
	}
	m.registry.MustRegister(
		m.received, m.stored, m.rejected, m.batchSize, m.commitDuration, m.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

// instrument records every request's latency under the pattern that matched
// it, so that the label's values stay few.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		begin := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by ServeMux on this same request
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Observe(time.Since(begin).Seconds())
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// MustRegister adds collectors to the server's /metrics, for parts of the
// process the server does not own (the throttle's counters).
func (s *Server) MustRegister(cs ...prometheus.Collector) {
	s.metrics.registry.MustRegister(cs...)
}
