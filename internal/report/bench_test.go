package report

import (
	"bytes"
	"context"
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/storetest"
)

// benchSends is the size of the benchmark campaign.
const benchSends = 1_000_000

// newBenchCampaign commits a finished campaign of benchSends sends to Brazil
// in a fresh database, the way a large real one looks: 100 sends a second,
// 3 % failed over four codes, 0.1 % unknown, 40 % read over two days, 5 %
// replied, 2 % clicked, 50,000 skipped recipients over four reasons, 16
// rollup slots, events per minute, 20,000 attributed conversions. Then it
// vacuums and analyses, as autovacuum would have by the time anyone looks.
func newBenchCampaign(b *testing.B) (*pgxpool.Pool, int64) {
	b.Helper()
	ctx := context.Background()
	_, pool := storetest.DB(b)
	start := time.Now()
	steps := []string{
		`INSERT INTO templates (name, language, category, status) VALUES ('big_sale', 'pt_BR', 'marketing', 'APPROVED')`,
		`INSERT INTO sender_numbers (phone_number_id) VALUES ('pn-bench')`,
		`INSERT INTO campaigns (name, template_id, sender_id, list_ids, status, audience, created_at, started_at, finished_at)
		 SELECT 'Big sale', t.id, s.id, '{}', 'completed', 1050000, '2026-10-12 09:00Z', '2026-10-12 09:00Z', '2026-10-14 12:00Z'
		 FROM templates t, sender_numbers s`,
		`INSERT INTO contacts (phone, name, country, consent)
		 SELECT '+55119' || lpad(g::text, 8, '0'), 'Contact ' || g, 'BR', 'opted_in' FROM generate_series(1, 1050000) g`,
		// k spreads outcomes evenly over the campaign: k in [0, 1000).
		`INSERT INTO sends (campaign_id, contact_id, phone, country, status, wamid, error_code, error_title,
		        pricing_category, billable, queued_at, accepted_at, sent_at, delivered_at, read_at, failed_at, replied_at, clicked_at)
		 SELECT 1, g, '+55119' || lpad(g::text, 8, '0'), 'BR', st, CASE WHEN acc IS NOT NULL THEN 'wamid.' || g END,
		        code, CASE WHEN code IS NOT NULL THEN 'Error' ELSE '' END,
		        CASE WHEN dlv IS NOT NULL THEN 'marketing' ELSE '' END, CASE WHEN dlv IS NOT NULL THEN true END,
		        t, acc, CASE WHEN st IN ('sent', 'delivered', 'read') THEN acc + interval '1 second' END,
		        dlv, rd, CASE WHEN st = 'failed' THEN t + interval '2 seconds' END,
		        CASE WHEN k % 20 = 0 AND rd IS NOT NULL THEN rd + interval '3 minutes' END,
		        CASE WHEN k % 50 = 0 AND rd IS NOT NULL THEN rd + interval '1 minute' END
		 FROM (
		   SELECT g, k, st, t,
		          CASE WHEN st IN ('accepted', 'sent', 'delivered', 'read') THEN t + interval '1 second' END AS acc,
		          CASE WHEN st IN ('delivered', 'read') THEN t + interval '4 seconds' END AS dlv,
		          CASE WHEN st = 'read' THEN t + (k * interval '172 seconds') END AS rd,
		          CASE WHEN st = 'failed' THEN (ARRAY[131026, 131049, 131050, 130472])[k % 4 + 1] END AS code
		   FROM (
		     SELECT g, (g * 7919) % 1000 AS k, timestamptz '2026-10-12 09:00Z' + g * interval '10 milliseconds' AS t,
		            CASE WHEN (g * 7919) % 1000 < 30 THEN 'failed'
		                 WHEN (g * 7919) % 1000 < 31 THEN 'unknown'
		                 WHEN (g * 7919) % 1000 < 60 THEN 'accepted'
		                 WHEN (g * 7919) % 1000 < 110 THEN 'sent'
		                 WHEN (g * 7919) % 1000 < 600 THEN 'delivered'
		                 ELSE 'read' END AS st
		     FROM generate_series(1::bigint, 1000000) g) x) y`,
		`INSERT INTO campaign_exclusions (campaign_id, contact_id, reason)
		 SELECT 1, g, (ARRAY['not_opted_in', 'opted_out', 'invalid', 'duplicate'])[g % 4 + 1]
		 FROM generate_series(1000001, 1050000) g`,
		`INSERT INTO campaign_rollups (campaign_id, slot, queued, in_flight, accepted, unknown, sent, delivered, read,
		        failed, cancelled, replied, clicked, cost_micros)
		 SELECT 1, (id % 16)::smallint,
		        count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'in_flight'),
		        count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'unknown'),
		        count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'delivered'),
		        count(*) FILTER (WHERE status = 'read'), count(*) FILTER (WHERE status = 'failed'),
		        count(*) FILTER (WHERE status = 'cancelled'), count(replied_at), count(clicked_at),
		        62500 * count(*) FILTER (WHERE billable)
		 FROM sends GROUP BY id % 16`,
		`INSERT INTO campaign_failures (campaign_id, error_code, count)
		 SELECT 1, error_code, count(*) FROM sends WHERE status = 'failed' GROUP BY error_code`,
		`INSERT INTO campaign_minutes (campaign_id, minute, event, count)
		 SELECT 1, date_trunc('minute', at), event, count(*)
		 FROM sends, LATERAL (VALUES ('sent', sent_at), ('delivered', delivered_at), ('read', read_at),
		                             ('failed', failed_at), ('replied', replied_at), ('clicked', clicked_at)) e(event, at)
		 WHERE at IS NOT NULL
		 GROUP BY 2, 3`,
		`INSERT INTO conversions (contact_id, phone, value_micros, currency, occurred_at, source, send_id, campaign_id)
		 SELECT contact_id, phone, 49900000, 'USD', read_at + interval '1 hour', 'bench', id, campaign_id
		 FROM sends WHERE status = 'read' LIMIT 20000`,
		`VACUUM ANALYZE`,
	}
	for _, sql := range steps {
		if _, err := pool.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	b.Logf("generated %d sends in %v", benchSends, time.Since(start).Round(time.Millisecond))
	return pool, 1
}

// reportLatency runs fn b.N times and reports the latency percentiles.
func reportLatency(b *testing.B, fn func() error) {
	b.Helper()
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	// Nearest rank: with fewer than 20 samples p95 is the slowest one.
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(durations)))) - 1
		return float64(durations[max(i, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkCampaignReport measures reports of a campaign of a million sends.
// Campaign is the report page (rollups only); the others scan sends and are
// measured for the record.
func BenchmarkCampaignReport(b *testing.B) {
	ctx := context.Background()
	pool, id := newBenchCampaign(b)
	card := pricing.Default()

	b.Run("Campaign", func(b *testing.B) {
		reportLatency(b, func() error {
			r, err := Campaign(ctx, pool, id, Options{Card: card})
			if err == nil && r.Sent+r.Failed+r.Unknown+r.Cancelled+r.SkippedTotal != r.Audience {
				b.Fatalf("unbalanced report: %+v", r)
			}
			return err
		})
	})
	b.Run("Verify", func(b *testing.B) {
		reportLatency(b, func() error {
			v, err := Verify(ctx, pool, id)
			if err == nil && !v.OK {
				b.Fatalf("mismatches: %v", v.Mismatches)
			}
			return err
		})
	})
	b.Run("Countries", func(b *testing.B) {
		reportLatency(b, func() error {
			_, err := Countries(ctx, pool, id, Options{Card: card})
			return err
		})
	})
	b.Run("Templates", func(b *testing.B) {
		reportLatency(b, func() error {
			_, err := Templates(ctx, pool, TemplateFilter{})
			return err
		})
	})
	b.Run("CSVRecipients", func(b *testing.B) {
		r, err := Campaign(ctx, pool, id, Options{Card: card})
		if err != nil {
			b.Fatal(err)
		}
		reportLatency(b, func() error { return WriteCSV(io.Discard, r, Recipients(ctx, pool, id)) })
	})
	b.Run("XLSXRecipients", func(b *testing.B) {
		r, err := Campaign(ctx, pool, id, Options{Card: card})
		if err != nil {
			b.Fatal(err)
		}
		var size int
		reportLatency(b, func() error {
			var buf bytes.Buffer
			err := WriteXLSX(&buf, r, Recipients(ctx, pool, id))
			size = buf.Len()
			return err
		})
		b.ReportMetric(float64(size)/1e6, "MB")
	})
}
