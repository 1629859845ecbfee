package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// TestReceiverRestartUnderLoad restarts the receiver twice while clients
// keep posting: every event that was answered 200 is stored, and a request
// that reached a stopping server is answered (never dropped silently).
func TestReceiverRestartUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)

	var current atomic.Pointer[string]
	start := func() (stop func()) {
		s := NewServer(testLogger(t), pool, Config{AppSecret: testAppSecret, VerifyToken: testVerifyToken})
		s.Start(ctx)
		ts := httptest.NewServer(s.Handler())
		u := ts.URL + "/webhooks/whatsapp"
		current.Store(&u)
		return func() {
			ts.Close() // waits for handlers, which wait for their commit
			s.Stop()
		}
	}
	stop := start()

	var (
		mu       sync.Mutex
		accepted []string
		okCount  atomic.Int64
		seq      atomic.Int64
		wg       sync.WaitGroup
		done     = make(chan struct{})
		okSignal = make(chan struct{}, 1)
	)
	client := &http.Client{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				id := fmt.Sprintf("wamid.restart-%d", seq.Add(1))
				body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":%q,"status":"sent","timestamp":"1"}]}}]}]}`, id))
				req, _ := http.NewRequest(http.MethodPost, *current.Load(), bytes.NewReader(body))
				req.Header.Set("X-Hub-Signature-256", whatsapp.Sign(body, testAppSecret))
				resp, err := client.Do(req)
				if err != nil {
					continue // the server was going away: not acknowledged, Meta would retry
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
					okCount.Add(1)
					select {
					case okSignal <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	waitOK := func(n int64) {
		for okCount.Load() < n {
			<-okSignal
		}
	}
	waitOK(200)
	stop()
	stop = start()
	waitOK(400)
	stop()
	stop = start()
	waitOK(600)
	close(done)
	wg.Wait()
	stop()

	mu.Lock()
	defer mu.Unlock()
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM unnest($1::text[]) AS a(id)
		WHERE EXISTS (SELECT 1 FROM webhook_events e WHERE position(convert_to(a.id, 'UTF8') IN e.body) > 0)`,
		accepted).Scan(&stored))
	require.GreaterOrEqual(t, len(accepted), 600)
	require.Equal(t, len(accepted), stored, "every event answered 200 is stored")
}
