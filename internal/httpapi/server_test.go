package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	testAppSecret   whatsapp.Secret = "test-app-secret"
	testVerifyToken whatsapp.Secret = "test-verify-token"
	testAPIToken    whatsapp.Secret = "test-api-token"
)

type testBundle struct {
	server *Server
	pool   *pgxpool.Pool
	logs   *syncBuffer
}

// setup builds a started Server on a fresh database of its own, so that a
// test can count webhook_events rows. cfg's secrets default to the test ones.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	_, pool := storetest.DB(t)
	return setupOn(t, pool, cfg)
}

func setupOn(t *testing.T, pool *pgxpool.Pool, cfg Config) *testBundle {
	t.Helper()
	if cfg.AppSecret == "" {
		cfg.AppSecret = testAppSecret
	}
	if cfg.VerifyToken == "" {
		cfg.VerifyToken = testVerifyToken
	}
	logs := &syncBuffer{}
	s := NewServer(slog.New(slog.NewTextHandler(logs, nil)), pool, cfg)
	s.Start(context.Background())
	t.Cleanup(s.Stop)
	return &testBundle{server: s, pool: pool, logs: logs}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// do serves req and returns the recorded answer.
func (b *testBundle) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	b.server.Handler().ServeHTTP(rec, req)
	return rec
}

// post sends body to the webhook with the given signature header ("" for
// none).
func (b *testBundle) post(body []byte, signature string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(whatsapp.SignatureHeader, signature)
	}
	return b.do(req)
}

func (b *testBundle) countEvents(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_events`).Scan(&n))
	return n
}

// counter returns the value of a counter, or of the series of a counter
// vector whose label has the given value.
func (b *testBundle) counter(t *testing.T, name, labelValue string) float64 {
	t.Helper()
	fams, err := b.server.metrics.registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == labelValue) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, labelValue)
	return 0
}

// batches returns how many batches committed and how many events they held.
func (b *testBundle) batches(t *testing.T) (commits uint64, events float64) {
	t.Helper()
	fams, err := b.server.metrics.registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == "herald_webhook_commit_batch_size" {
			h := f.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatal("batch size histogram not found")
	return 0, 0
}

// statusBody is a realistic status notification, one status per POST as
// Meta sends them.
func statusBody(i int) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.TEST%d","status":"delivered","timestamp":"1750030073","recipient_id":"16505551234","biz_opaque_callback_data":"send:%d","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}}]}}]}]}`, i, i)
}

func decodeError(t *testing.T, body io.Reader) errorBody {
	t.Helper()
	var e errorBody
	require.NoError(t, json.NewDecoder(body).Decode(&e))
	return e
}

// syncBuffer is a log buffer the writer goroutine writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setupOn(t, storetest.Pool(t), Config{})
	rec := b.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
}

func TestReadyz(t *testing.T) {
	t.Parallel()

	t.Run("DatabaseUp", func(t *testing.T) {
		t.Parallel()
		b := setupOn(t, storetest.Pool(t), Config{})
		rec := b.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, http.StatusOK, rec.Code)
	})

	t.Run("DatabaseGone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		b.pool.Close()
		rec := b.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, "database unavailable", decodeError(t, rec.Body).Error)
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setupOn(t, storetest.Pool(t), Config{})
	b.post([]byte(`{}`), "sha256=00")
	rec := b.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	text := rec.Body.String()
	for _, want := range []string{
		"herald_webhooks_received_total 1",
		`herald_webhooks_rejected_total{reason="signature_malformed"} 1`,
		`herald_webhooks_rejected_total{reason="commit_failed"} 0`,
		"herald_webhooks_stored_total 0",
		"herald_webhook_commit_batch_size_bucket",
		`herald_http_request_duration_seconds_count{code="401",route="POST /webhooks/whatsapp"} 1`,
		"go_goroutines",
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, testAppSecret.Reveal())
}

func TestPatternPath(t *testing.T) {
	t.Parallel()
	for pattern, want := range map[string]string{
		"/api/v1/campaigns":                "/api/v1/campaigns",
		"GET /api/v1/campaigns/{id}":       "/api/v1/campaigns/{id}",
		"POST example.com/api/v1/x":        "/api/v1/x",
		"example.com/dashboard/":           "/dashboard/",
		"GET  /api/v1/with-two-spaces":     "/api/v1/with-two-spaces",
		"DELETE /api/v1/campaigns/{id}/$":  "/api/v1/campaigns/{id}/$",
		"GET /dashboard/{path...}":         "/dashboard/{path...}",
		"/":                                "/",
		strings.Repeat("x", 3) + "/api/v1": "/api/v1",
	} {
		require.Equal(t, want, patternPath(pattern), pattern)
	}
}
