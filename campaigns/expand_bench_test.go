package campaigns_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

var expandRecipients = flag.Int("expand.recipients", 1_000_000, "audience of BenchmarkExpand")

// BenchmarkExpand times starting a campaign over a list of
// -expand.recipients opted-in contacts: the set-based expansion into sends
// (with one bound attribute), the rollups and the River dispatch jobs, in
// one transaction, with a real River client inserting the jobs.
func BenchmarkExpand(b *testing.B) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		b.StopTimer()
		_, pool := storetest.DB(b)
		_, err := campaigns.TemplateUpsert(ctx, pool, whatsapp.TemplateInfo{Name: "t", Language: "en", Status: "APPROVED", Category: "MARKETING",
			Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}, see you in {{2}}"}}})
		require.NoError(b, err)
		_, err = campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: "1", RatePerSecond: 1000})
		require.NoError(b, err)
		_, err = pool.Exec(ctx, `
			WITH l AS (INSERT INTO lists (name) VALUES ('big') RETURNING id),
			c AS (INSERT INTO contacts (phone, name, consent, country, attributes)
			      SELECT '+55119' || lpad(i::text, 8, '0'), 'N' || i, 'opted_in', 'BR', jsonb_build_object('city', 'Recife')
			      FROM generate_series(1, $1) i RETURNING id)
			INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c`, *expandRecipients)
		require.NoError(b, err)
		_, err = pool.Exec(ctx, `VACUUM ANALYZE contacts, list_members`)
		require.NoError(b, err)
		client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
		require.NoError(b, err)
		svc := campaigns.NewService(logger, pool, client, campaigns.Config{})
		c, err := svc.Create(ctx, campaigns.NewCampaign{Name: "big", Template: "t", Language: "en", PhoneNumberID: "1", Lists: []string{"big"},
			Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}, {Component: "body", Param: "2", Field: "city"}}})
		require.NoError(b, err)

		b.StartTimer()
		start := time.Now()
		exp, err := svc.Start(ctx, c.ID)
		elapsed := time.Since(start)
		b.StopTimer()
		require.NoError(b, err)
		require.EqualValues(b, *expandRecipients, exp.Sends)
		var jobs int
		require.NoError(b, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'campaign_send_batch'`).Scan(&jobs))
		require.Equal(b, exp.Jobs, jobs)
		b.ReportMetric(elapsed.Seconds(), "s/expansion")
		b.ReportMetric(float64(exp.Sends)/elapsed.Seconds(), "sends/s")
	}
}
