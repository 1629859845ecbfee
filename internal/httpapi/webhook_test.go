package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestWebhookChallenge(t *testing.T) {
	t.Parallel()
	b := setupOn(t, storetest.Pool(t), Config{})

	challenge := func(mode, token, challenge string) *httptest.ResponseRecorder {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {challenge}}
		return b.do(httptest.NewRequest(http.MethodGet, "/webhooks/whatsapp?"+q.Encode(), nil))
	}

	t.Run("Good", func(t *testing.T) {
		t.Parallel()
		rec := challenge("subscribe", testVerifyToken.Reveal(), "1158201444")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "1158201444", rec.Body.String())
		require.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	})

	for name, tt := range map[string]struct{ mode, token string }{
		"WrongToken":  {"subscribe", "not-the-token"},
		"TokenPrefix": {"subscribe", testVerifyToken.Reveal()[:4]},
		"EmptyToken":  {"subscribe", ""},
		"WrongMode":   {"unsubscribe", testVerifyToken.Reveal()},
		"NoMode":      {"", testVerifyToken.Reveal()},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := challenge(tt.mode, tt.token, "1158201444")
			require.Equal(t, http.StatusForbidden, rec.Code)
			require.NotContains(t, rec.Body.String(), "1158201444")
		})
	}

	t.Run("NoVerifyTokenConfigured", func(t *testing.T) {
		t.Parallel()
		s := NewServer(testLogger(t), storetest.Pool(t), Config{AppSecret: testAppSecret})
		q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/whatsapp?"+q.Encode(), nil))
		require.Equal(t, http.StatusForbidden, rec.Code)
	})
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()

	body := statusBody(1)
	sha1Sig := func() string {
		h := hmac.New(sha1.New, []byte(testAppSecret.Reveal()))
		h.Write(body)
		return "sha1=" + hex.EncodeToString(h.Sum(nil))
	}()
	altered := bytes.Clone(body)
	altered[bytes.Index(altered, []byte("delivered"))] = 'D' // one byte

	for name, tt := range map[string]struct {
		body      []byte
		signature string
		reason    string
	}{
		"Missing":          {body, "", reasonSignatureMissing},
		"WrongSecret":      {body, whatsapp.Sign(body, "another-secret"), reasonSignatureMismatch},
		"OneByteAltered":   {altered, whatsapp.Sign(body, testAppSecret), reasonSignatureMismatch},
		"SHA1":             {body, sha1Sig, reasonSignatureMalformed},
		"NotHex":           {body, "sha256=" + strings.Repeat("zz", 32), reasonSignatureMalformed},
		"Truncated":        {body, whatsapp.Sign(body, testAppSecret)[:40], reasonSignatureMalformed},
		"NoPrefix":         {body, strings.TrimPrefix(whatsapp.Sign(body, testAppSecret), "sha256="), reasonSignatureMalformed},
		"UppercasePrefix":  {body, "SHA256=" + strings.TrimPrefix(whatsapp.Sign(body, testAppSecret), "sha256="), reasonSignatureMalformed},
		"SignedEmptyBody":  {body, whatsapp.Sign(nil, testAppSecret), reasonSignatureMismatch},
		"AppSecretAsValue": {body, "sha256=" + testAppSecret.Reveal(), reasonSignatureMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			rec := b.post(tt.body, tt.signature)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, 0, b.countEvents(t))
			require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", tt.reason))
			require.NotContains(t, b.logs.String(), testAppSecret.Reveal())
		})
	}

	t.Run("Good", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusOK, rec.Code)
		var stored []byte
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT body FROM webhook_events WHERE applied_at IS NULL`).Scan(&stored))
		require.Equal(t, body, stored, "the raw bytes, not a re-encoding")
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_stored_total", ""))
	})
}

func TestWebhookBody(t *testing.T) {
	t.Parallel()

	t.Run("Oversized", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{MaxBodyBytes: 1024})
		body := []byte(`{"object":"whatsapp_business_account","pad":"` + strings.Repeat("x", 1024) + `"}`)
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		require.Equal(t, 0, b.countEvents(t))
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonTooLarge))
	})

	t.Run("OversizedWithoutContentLength", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{MaxBodyBytes: 1024})
		body := []byte(`{"pad":"` + strings.Repeat("x", 2048) + `"}`)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
		req.ContentLength = -1 // chunked
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, testAppSecret))
		rec := b.do(req)
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		require.Equal(t, 0, b.countEvents(t))
	})

	t.Run("AtLimit", func(t *testing.T) {
		t.Parallel()
		body := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
		b := setup(t, Config{MaxBodyBytes: int64(len(body))})
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, 1, b.countEvents(t))
	})

	for name, body := range map[string]string{
		"MalformedJSON": `{"object":"whatsapp_business_account","entry":[`,
		"Empty":         ``,
		"NotJSON":       `object=whatsapp_business_account`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			rec := b.post([]byte(body), whatsapp.Sign([]byte(body), testAppSecret))
			require.Equal(t, http.StatusBadRequest, rec.Code)
			require.Equal(t, "request body is not JSON", decodeError(t, rec.Body).Error)
			require.Equal(t, 0, b.countEvents(t))
			require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonInvalidJSON))
		})
	}

	t.Run("UnknownEventKindsKept", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		bodies := []string{
			`{"object":"whatsapp_business_account","entry":[{"id":"1","time":1750030073,"changes":[{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":12,"message_template_name":"promo","message_template_language":"en_US","reason":null}}]}]}`,
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":"15550783883","event":"THROUGHPUT_UPGRADE","current_limit":"TIER_UNLIMITED"}}]}]}`,
			`{"object":"something_new","surprise":[1,2,{"x":null}]}`,
			`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.X","status":"warning","timestamp":"1","new_field":{"\u00e4":true}}]}}]}]}`,
		}
		for _, body := range bodies {
			rec := b.post([]byte(body), whatsapp.Sign([]byte(body), testAppSecret))
			require.Equal(t, http.StatusOK, rec.Code, body)
		}
		rows, err := b.pool.Query(context.Background(), `SELECT body FROM webhook_events ORDER BY id`)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var body []byte
			require.NoError(t, rows.Scan(&body))
			got = append(got, string(body))
		}
		require.NoError(t, rows.Err())
		require.Equal(t, bodies, got)
	})

	t.Run("NoAppSecretConfigured", func(t *testing.T) {
		t.Parallel()
		_, pool := storetest.DB(t)
		s := NewServer(testLogger(t), pool, Config{VerifyToken: testVerifyToken})
		s.Start(context.Background())
		t.Cleanup(s.Stop)
		body := statusBody(1)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, ""))
		s.Handler().ServeHTTP(rec, req)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		b := &testBundle{server: s, pool: pool}
		require.Equal(t, 0, b.countEvents(t))
	})
}

// TestWebhookGroupCommit sends 200 signed POSTs at once over real HTTP. With
// batches of 50 and a wait longer than the test, the writer can only commit
// full batches: exactly 4 of them, whatever the scheduling.
func TestWebhookGroupCommit(t *testing.T) {
	t.Parallel()
	const n, batch = 200, 50
	b := setup(t, Config{CommitMaxBatch: batch, CommitMaxWait: time.Hour})
	var stored atomic.Int64
	b.server.OnStored(func() { stored.Add(1) })
	srv := httptest.NewServer(b.server.Handler())
	t.Cleanup(srv.Close)

	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := statusBody(i)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/whatsapp", bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, testAppSecret))
			resp, err := srv.Client().Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()

	for i, c := range codes {
		require.Equal(t, http.StatusOK, c, "request %d", i)
	}
	require.Equal(t, n, b.countEvents(t))
	var distinct int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(DISTINCT body) FROM webhook_events`).Scan(&distinct))
	require.Equal(t, n, distinct)
	commits, events := b.batches(t)
	require.Equal(t, uint64(n/batch), commits)
	require.Equal(t, float64(n), events)
	require.Equal(t, int64(n/batch), stored.Load(), "OnStored once per batch")
}

// TestWebhookGroupCommitDefaults is the same load with the default batch
// and wait: every POST answered 200 has its row, whatever the batching.
func TestWebhookGroupCommitDefaults(t *testing.T) {
	t.Parallel()
	const n = 200
	b := setup(t, Config{})
	srv := httptest.NewServer(b.server.Handler())
	t.Cleanup(srv.Close)

	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := statusBody(i)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/whatsapp", bytes.NewReader(body))
			req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, testAppSecret))
			resp, err := srv.Client().Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(n), ok.Load())
	require.Equal(t, n, b.countEvents(t))
	_, events := b.batches(t)
	require.Equal(t, float64(n), events)
}

func TestWebhookCommitFailure(t *testing.T) {
	t.Parallel()

	t.Run("TableDropped", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		_, err := b.pool.Exec(context.Background(), `DROP TABLE webhook_events`)
		require.NoError(t, err)
		body := statusBody(1)
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, "temporarily unavailable", decodeError(t, rec.Body).Error)
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonCommitFailed))
		require.Equal(t, 0.0, b.counter(t, "herald_webhooks_stored_total", ""))
		require.Contains(t, b.logs.String(), "store webhook events")
	})

	t.Run("PoolClosed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{})
		b.pool.Close()
		body := statusBody(1)
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonCommitFailed))
	})
}

func TestWebhookWriterLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("NotStarted", func(t *testing.T) {
		t.Parallel()
		_, pool := storetest.DB(t)
		s := NewServer(testLogger(t), pool, Config{AppSecret: testAppSecret})
		b := &testBundle{server: s, pool: pool}
		body := statusBody(1)
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonNotRunning))
		s.Stop() // before Start: returns at once
	})

	t.Run("StopFlushes", func(t *testing.T) {
		t.Parallel()
		const n = 3
		// The batch never fills and the wait never ends: only Stop commits.
		b := setup(t, Config{CommitMaxBatch: 10, CommitMaxWait: time.Hour})
		enqueued := make(chan struct{}, n)
		b.server.writer.enqueuedFunc = func() { enqueued <- struct{}{} }
		codes := make(chan int, n)
		for i := range n {
			go func() {
				body := statusBody(i)
				codes <- b.post(body, whatsapp.Sign(body, testAppSecret)).Code
			}()
		}
		for range n {
			<-enqueued
		}
		b.server.Stop()
		for range n {
			require.Equal(t, http.StatusOK, <-codes)
		}
		require.Equal(t, n, b.countEvents(t))

		body := statusBody(n)
		rec := b.post(body, whatsapp.Sign(body, testAppSecret))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "after Stop")
		require.Equal(t, n, b.countEvents(t))
	})

	t.Run("StartContextEnds", func(t *testing.T) {
		t.Parallel()
		_, pool := storetest.DB(t)
		s := NewServer(testLogger(t), pool, Config{AppSecret: testAppSecret, CommitMaxWait: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		s.Start(ctx)
		b := &testBundle{server: s, pool: pool}
		enqueued := make(chan struct{}, 1)
		s.writer.enqueuedFunc = func() { enqueued <- struct{}{} }
		code := make(chan int, 1)
		go func() {
			body := statusBody(1)
			code <- b.post(body, whatsapp.Sign(body, testAppSecret)).Code
		}()
		<-enqueued
		cancel()
		require.Equal(t, http.StatusOK, <-code, "committed on the way out")
		s.Stop()
		require.Equal(t, 1, b.countEvents(t))
	})

	t.Run("ClientGoneBeforeCommit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{CommitMaxBatch: 10, CommitMaxWait: time.Hour})
		enqueued := make(chan struct{}, 1)
		b.server.writer.enqueuedFunc = func() { enqueued <- struct{}{} }
		ctx, cancel := context.WithCancel(context.Background())
		body := statusBody(1)
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, testAppSecret))
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- b.do(req) }()
		<-enqueued
		cancel()
		rec := <-done // the handler returns without waiting for the writer
		require.Equal(t, http.StatusServiceUnavailable, rec.Code)
		require.Equal(t, 1.0, b.counter(t, "herald_webhooks_rejected_total", reasonClientGone))
		require.NotContains(t, b.logs.String(), "internal error")
		b.server.Stop()
		require.Equal(t, 0, b.countEvents(t), "a body whose client left is dropped, Meta retries it")
	})
}
