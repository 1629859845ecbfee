package report

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
)

func TestCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Funnel", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)

		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		require.Equal(t, f.campaignID, r.CampaignID)
		require.Equal(t, "Spring sale", r.Name)
		require.Equal(t, "spring_sale", r.Template)
		require.Equal(t, "en", r.TemplateLanguage)
		require.Equal(t, "marketing", r.Category)
		require.Equal(t, "completed", r.Status)
		require.Equal(t, int64(20), r.Audience)
		require.Equal(t, map[string]int64{"opted_out": 2, "not_opted_in": 1, "invalid": 1}, r.Skipped)
		require.Equal(t, int64(4), r.SkippedTotal)
		require.Equal(t, int64(10), r.Sent)
		require.Equal(t, int64(6), r.Delivered)
		require.Equal(t, int64(3), r.Read)
		require.Equal(t, int64(3), r.Failed)
		require.Equal(t, int64(2), r.Unknown)
		require.Equal(t, int64(0), r.Pending)
		require.Equal(t, int64(1), r.Cancelled)
		require.Equal(t, int64(2), r.Replied)
		require.Equal(t, int64(1), r.Clicked)
		require.Zero(t, r.Unaccounted)
		require.Equal(t, r.Audience, r.Sent+r.Failed+r.Unknown+r.Cancelled+r.SkippedTotal)

		require.Equal(t, map[string]int64{"131026": 2, "131049": 1}, r.FailedByCode)
		require.Len(t, r.FailedCodes, 2)
		require.Equal(t, 131026, r.FailedCodes[0].Code)
		require.Equal(t, int64(2), r.FailedCodes[0].Count)
		require.NotEmpty(t, r.FailedCodes[0].Title)
		require.NotEqual(t, "Error 131026", r.FailedCodes[0].Title)

		require.InDelta(t, 0.6, r.Rates.Delivery, 1e-9)
		require.InDelta(t, 0.5, r.Rates.Read, 1e-9)
		require.InDelta(t, 2.0/6, r.Rates.Reply, 1e-9)
		require.InDelta(t, 1.0/6, r.Rates.Click, 1e-9)
		require.InDelta(t, 3.0/13, r.Rates.Failure, 1e-9)

		require.Equal(t, Cost{Currency: "USD", Total: 0.375, TotalMicros: 375_000,
			// 4 accepted or sent may still be delivered, at the average 62,500.
			EstimatedMicros: 375_000 + 4*62_500}, r.Cost)
		require.Zero(t, r.Conversions)
		require.Equal(t, Money{Currency: "USD"}, r.Revenue)
		require.NotNil(t, r.ROI)
		require.InDelta(t, -1, *r.ROI, 1e-9)
		require.Nil(t, r.CostPerConversion)

		require.Len(t, r.Series, 10)
		require.Equal(t, Minute{Minute: t0.Add(time.Minute), Event: "failed", Count: 3}, r.Series[0])
		require.Equal(t, Minute{Minute: t0.Add(time.Minute), Event: "sent", Count: 10}, r.Series[1])
	})

	t.Run("JSONKeys", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		b, err := json.Marshal(r)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		for _, k := range []string{"campaign_id", "audience", "skipped", "sent", "delivered", "read", "failed",
			"failed_by_code", "replied", "clicked", "cost", "unknown", "pending", "cancelled", "rates",
			"conversions", "revenue", "roi", "cost_per_conversion", "series"} {
			require.Contains(t, m, k)
		}
		require.Equal(t, map[string]any{"opted_out": 2.0, "not_opted_in": 1.0, "invalid": 1.0}, m["skipped"])
		require.Equal(t, map[string]any{"131026": 2.0, "131049": 1.0}, m["failed_by_code"])
		require.Equal(t, map[string]any{"currency": "USD", "total": 0.375, "total_micros": 375_000.0,
			"estimated_micros": 625_000.0}, m["cost"])
	})

	t.Run("SeriesStepAndNoSeries", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		r, err := Campaign(ctx, tx, f.campaignID, Options{SeriesStep: time.Hour})
		require.NoError(t, err)
		byEvent := map[string]int64{}
		for _, m := range r.Series {
			require.Equal(t, t0, m.Minute)
			byEvent[m.Event] = m.Count
		}
		require.Equal(t, map[string]int64{"sent": 10, "failed": 3, "delivered": 6, "read": 3, "replied": 2, "clicked": 1}, byEvent)

		r, err = Campaign(ctx, tx, f.campaignID, Options{NoSeries: true})
		require.NoError(t, err)
		require.Empty(t, r.Series)
	})

	t.Run("Running", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		tmpl, sender := newTemplateAndSender(t, tx, "appointment", "utility")
		id := newCampaign(t, tx, tmpl, sender, "Reminders", "running", 3)
		for i, status := range []string{"queued", "in_flight", "queued"} {
			phone := "+1415555100" + string(rune('0'+i))
			newSend(t, tx, id, newContact(t, tx, phone, "", "US"), sendSpec{phone: phone, status: status})
		}
		rollupsFromSends(t, tx, id, 3_400)
		r, err := Campaign(ctx, tx, id, Options{})
		require.NoError(t, err)
		require.Equal(t, int64(3), r.Pending)
		require.Zero(t, r.Sent)
		require.Zero(t, r.Unaccounted)
		require.Equal(t, map[string]int64{}, r.Skipped)
		require.Equal(t, map[string]int64{}, r.FailedByCode)
		require.Nil(t, r.ROI)
		// Nothing delivered yet: the estimate is the card's utility price in "Other".
		require.Equal(t, int64(3*7_700), r.Cost.EstimatedMicros)
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		_, err := Campaign(ctx, tx, 987654321, Options{})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Agrees", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		v, err := Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.True(t, v.OK, v.Mismatches)
		require.Empty(t, v.Mismatches)
	})

	t.Run("DetectsPlantedMismatches", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		// A delivered status counted in the rollups but lost from the send,
		// a failure filed under the wrong code, and an audience off by one.
		exec(t, tx, `UPDATE campaign_rollups SET delivered = delivered + 1, sent = sent - 1
			WHERE campaign_id = $1 AND slot = 0`, f.campaignID)
		exec(t, tx, `UPDATE campaign_failures SET error_code = 131000 WHERE campaign_id = $1 AND error_code = 131049`, f.campaignID)
		exec(t, tx, `UPDATE campaigns SET audience = 21 WHERE id = $1`, f.campaignID)

		v, err := Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.False(t, v.OK)
		require.Equal(t, []string{
			"sent: rollups 1, sends 2",
			"delivered: rollups 4, sends 3",
			"failed with code 131000: campaign_failures 1, sends 0",
			"failed with code 131049: campaign_failures 0, sends 1",
			"audience: campaign 21, sends 16 + exclusions 4 = 20",
		}, v.Mismatches)
	})

	t.Run("DetectsCounterDrift", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		_, err := RecordConversions(ctx, tx, []Conversion{{Phone: "+5511900000008", ValueMicros: 5_000_000,
			Currency: "USD", OccurredAt: t0.Add(time.Hour)}}, 0)
		require.NoError(t, err)
		v, err := Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.True(t, v.OK, v.Mismatches)

		exec(t, tx, `UPDATE campaign_exclusion_counts SET count = count + 1 WHERE campaign_id = $1 AND reason = 'invalid'`, f.campaignID)
		exec(t, tx, `UPDATE campaign_conversions SET value_micros = 1 WHERE campaign_id = $1`, f.campaignID)
		v, err = Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.Equal(t, []string{
			"skipped invalid: campaign_exclusion_counts 2, exclusions 1",
			"conversion value in USD: campaign_conversions 1, conversions 5000000",
		}, v.Mismatches)
	})

	t.Run("OpenSendsInFinishedCampaign", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		exec(t, tx, `UPDATE sends SET status = 'queued' WHERE id = $1`, f.sends["+5511900000016"])
		exec(t, tx, `UPDATE campaign_rollups SET cancelled = 0, queued = 1 WHERE campaign_id = $1 AND cancelled = 1`, f.campaignID)
		v, err := Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.Equal(t, []string{"campaign completed with 1 sends queued or in flight"}, v.Mismatches)
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		_, err := Verify(ctx, storetest.Tx(t), 987654321)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
