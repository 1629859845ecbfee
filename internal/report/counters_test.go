package report

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
)

// The counters of migration 0004 follow every insert, update and delete of
// exclusions and conversions, and go away with their campaign.
func TestCounterTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Exclusions", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		skipped := func() map[string]int64 {
			r, err := Campaign(ctx, tx, f.campaignID, Options{NoSeries: true})
			require.NoError(t, err)
			return r.Skipped
		}
		require.Equal(t, map[string]int64{"opted_out": 2, "not_opted_in": 1, "invalid": 1}, skipped())

		exec(t, tx, `UPDATE campaign_exclusions SET reason = 'duplicate' WHERE campaign_id = $1 AND reason = 'opted_out'`, f.campaignID)
		require.Equal(t, map[string]int64{"duplicate": 2, "not_opted_in": 1, "invalid": 1}, skipped())

		exec(t, tx, `DELETE FROM campaign_exclusions WHERE campaign_id = $1 AND reason = 'invalid'`, f.campaignID)
		require.Equal(t, map[string]int64{"duplicate": 2, "not_opted_in": 1}, skipped())

		// COPY fires statement triggers too.
		id := newContact(t, tx, "+5511900000099", "", "BR")
		_, err := tx.CopyFrom(ctx, []string{"campaign_exclusions"}, []string{"campaign_id", "contact_id", "reason"},
			copyRows([]any{f.campaignID, id, "filtered"}))
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"duplicate": 2, "not_opted_in": 1, "filtered": 1}, skipped())

		v, err := Verify(ctx, tx, f.campaignID)
		require.NoError(t, err)
		require.True(t, v.OK, v.Mismatches) // audience 20 = 16 sends + 4 exclusions

		exec(t, tx, `DELETE FROM campaigns WHERE id = $1`, f.campaignID)
		require.Zero(t, queryInt(t, tx, `SELECT count(*) FROM campaign_exclusion_counts WHERE campaign_id = $1`, f.campaignID))
	})

	t.Run("Conversions", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		at := t0.Add(time.Hour)
		_, err := RecordConversions(ctx, tx, []Conversion{
			{Phone: "+5511900000008", ValueMicros: 5_000_000, Currency: "USD", OccurredAt: at, Reference: "c-1"},
			{Phone: "+5511900000009", ValueMicros: 7_000_000, Currency: "USD", OccurredAt: at, Reference: "c-2"},
			{Phone: "+5511900000010", ValueMicros: 9_000_000, Currency: "BRL", OccurredAt: at, Reference: "c-3"},
		}, 0)
		require.NoError(t, err)
		report := func() *CampaignReport {
			r, err := Campaign(ctx, tx, f.campaignID, Options{NoSeries: true})
			require.NoError(t, err)
			return r
		}
		r := report()
		require.Equal(t, int64(3), r.Conversions)
		require.Equal(t, int64(12_000_000), r.Revenue.TotalMicros)
		require.Equal(t, map[string]int64{"BRL": 9_000_000}, r.OtherRevenue)

		exec(t, tx, `UPDATE conversions SET value_micros = 6000000 WHERE reference = 'c-1'`)
		exec(t, tx, `DELETE FROM conversions WHERE reference = 'c-3'`)
		r = report()
		require.Equal(t, int64(2), r.Conversions)
		require.Equal(t, int64(13_000_000), r.Revenue.TotalMicros)
		require.Nil(t, r.OtherRevenue)

		// Deleting the campaign unlinks its conversions and drops its counters.
		exec(t, tx, `DELETE FROM campaigns WHERE id = $1`, f.campaignID)
		require.Zero(t, queryInt(t, tx, `SELECT count(*) FROM campaign_conversions WHERE campaign_id = $1`, f.campaignID))
		require.Equal(t, int64(2), queryInt(t, tx, `SELECT count(*) FROM conversions WHERE reference IN ('c-1', 'c-2') AND campaign_id IS NULL AND send_id IS NULL`))
	})
}
