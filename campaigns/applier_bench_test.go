package campaigns_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

var (
	applyRate    = flag.Int("apply.rate", 3000, "webhook events per second stored during BenchmarkApplierLag")
	applySeconds = flag.Int("apply.seconds", 20, "how long BenchmarkApplierLag stores events")
)

// BenchmarkApplierLag stores status webhooks at a steady rate (one status
// per body, as Meta posts them, in group commits every 10 ms like the
// receiver's) while an Applier runs, and reports the lag from receipt to
// applied: p50, p99 and max over every event. Each send gets sent,
// delivered and read.
func BenchmarkApplierLag(b *testing.B) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		_, pool := storetest.DB(b)
		total := *applyRate * *applySeconds
		sends := total / 3
		_, err := pool.Exec(ctx, `
			WITH t AS (INSERT INTO templates (name, language, category, status) VALUES ('t', 'en', 'MARKETING', 'APPROVED') RETURNING id),
			n AS (INSERT INTO sender_numbers (phone_number_id) VALUES ('1') RETURNING id),
			l AS (INSERT INTO lists (name) VALUES ('l') RETURNING id),
			c AS (INSERT INTO campaigns (name, template_id, sender_id, list_ids, status)
			      SELECT 'c', t.id, n.id, ARRAY[l.id], 'running' FROM t, n, l RETURNING id),
			k AS (INSERT INTO contacts (phone, consent, country)
			      SELECT '+55119' || lpad(i::text, 8, '0'), 'opted_in', 'BR' FROM generate_series(1, $1) i RETURNING id)
			INSERT INTO sends (campaign_id, contact_id, phone, country, status, wamid, accepted_at)
			SELECT c.id, k.id, '+55', 'BR', 'accepted', 'wamid.' || k.id, now() FROM c, k`, sends)
		require.NoError(b, err)
		_, err = pool.Exec(ctx, `INSERT INTO campaign_rollups (campaign_id, slot, accepted) SELECT id, 0, $1 FROM campaigns`, sends)
		require.NoError(b, err)
		var firstID int64
		require.NoError(b, pool.QueryRow(ctx, `SELECT min(id) FROM sends`).Scan(&firstID))

		a := campaigns.NewApplier(logger, pool, campaigns.ApplierConfig{})
		actx, cancel := context.WithCancel(ctx)
		a.Start(actx)

		body := func(i int) []byte {
			send := firstID + int64(i/3)
			status := [...]string{"sent", "delivered", "read"}[i%3]
			billable := true
			st := whatsapp.Status{ID: "wamid." + strconv.FormatInt(send, 10), Status: status,
				Timestamp: strconv.FormatInt(time.Now().Unix(), 10), BizOpaqueCallbackData: campaigns.CallbackData(send)}
			if status != "read" {
				st.Pricing = &whatsapp.Pricing{Billable: &billable, PricingModel: "PMP", Type: "regular", Category: "marketing"}
			}
			bs, _ := json.Marshal(whatsapp.NewStatusNotification("waba", whatsapp.Metadata{PhoneNumberID: "1"}, []whatsapp.Status{st}))
			return bs
		}
		b.ResetTimer()
		tick := time.NewTicker(10 * time.Millisecond)
		start := time.Now()
		sent := 0
		for sent < total {
			<-tick.C
			due := min(total, int(time.Since(start).Seconds()*float64(*applyRate)))
			if due <= sent {
				continue
			}
			batch := make([][]byte, 0, due-sent)
			for i := sent; i < due; i++ {
				batch = append(batch, body(i))
			}
			_, err := pool.Exec(ctx, `INSERT INTO webhook_events (body) SELECT unnest($1::bytea[])`, batch)
			require.NoError(b, err)
			a.Wake()
			sent = due
		}
		tick.Stop()
		<-a.Idle()
		b.StopTimer()
		cancel()
		a.Stop()

		var unapplied int
		require.NoError(b, pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE applied_at IS NULL`).Scan(&unapplied))
		require.Zero(b, unapplied, "every event applied once the applier is idle")
		rows, err := pool.Query(ctx, `SELECT extract(epoch FROM applied_at - received_at)::float8 FROM webhook_events`)
		require.NoError(b, err)
		lags, err := pgx.CollectRows(rows, pgx.RowTo[float64])
		require.NoError(b, err)
		require.Len(b, lags, total)
		sort.Float64s(lags)
		b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(lags[len(lags)/2]*1000, "lag-p50-ms")
		b.ReportMetric(lags[len(lags)*99/100]*1000, "lag-p99-ms")
		b.ReportMetric(lags[len(lags)-1]*1000, "lag-max-ms")
		var read int64
		require.NoError(b, pool.QueryRow(ctx, `SELECT sum(read) FROM campaign_rollups`).Scan(&read))
		require.EqualValues(b, sends, read)
	}
}
