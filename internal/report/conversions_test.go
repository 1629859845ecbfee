package report

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
)

func TestRecordConversions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Conversions happen ten days after t0; sends are placed relative to it.
	convAt := t0.Add(10 * 24 * time.Hour)
	before := func(d time.Duration) int { return int((10*24*time.Hour - d) / time.Minute) }

	type testBundle struct {
		tx           pgx.Tx
		older, newer int64 // campaigns
		contact      map[string]int64
		send         map[string]int64
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		tx := storetest.Tx(t)
		tmpl, sender := newTemplateAndSender(t, tx, "promo", "marketing")
		b := &testBundle{tx: tx, contact: map[string]int64{}, send: map[string]int64{},
			older: newCampaign(t, tx, tmpl, sender, "Older", "completed", 0),
			newer: newCampaign(t, tx, tmpl, sender, "Newer", "completed", 0)}
		add := func(key string, campaign int64, phone string, s sendSpec) {
			if _, ok := b.contact[phone]; !ok {
				b.contact[phone] = newContact(t, tx, phone, key, "BR")
			}
			s.phone = phone
			b.send[key] = newSend(t, tx, campaign, b.contact[phone], s)
		}
		// Two deliveries: the later one wins.
		add("two_old", b.older, "+5511911110001", sendSpec{status: "delivered", delivered: before(3 * 24 * time.Hour)})
		add("two_new", b.newer, "+5511911110001", sendSpec{status: "read", delivered: before(24 * time.Hour), read: before(23 * time.Hour)})
		// Delivered eight days before: outside the seven-day window.
		add("outside", b.newer, "+5511911110002", sendSpec{status: "delivered", delivered: before(8 * 24 * time.Hour)})
		// Delivered exactly seven days before: inside (both ends included).
		add("edge", b.newer, "+5511911110003", sendSpec{status: "delivered", delivered: before(7 * 24 * time.Hour)})
		// A newer send never delivered does not take it from an older delivered one.
		add("delivered", b.older, "+5511911110004", sendSpec{status: "delivered", delivered: before(2 * 24 * time.Hour)})
		add("undelivered", b.newer, "+5511911110004", sendSpec{status: "sent"})
		// Only undelivered sends: nothing to credit.
		add("failed", b.newer, "+5511911110005", sendSpec{status: "failed", errorCode: 131026})
		// Delivered after the conversion: it cannot have caused it.
		add("after", b.newer, "+5511911110006", sendSpec{status: "delivered", delivered: before(-time.Hour)})
		// Read with no delivered status on record: read implies delivered.
		add("read_only", b.newer, "+5511911110007", sendSpec{status: "read", read: before(time.Hour)})
		return b
	}

	conv := func(phone, ref string, value int64) Conversion {
		return Conversion{Phone: phone, ValueMicros: value, Currency: "usd", OccurredAt: convAt, Reference: ref, Source: "test"}
	}
	attributedTo := func(t *testing.T, b *testBundle, ref string) (sendID, campaignID *int64) {
		t.Helper()
		require.NoError(t, b.tx.QueryRow(ctx, `SELECT send_id, campaign_id FROM conversions WHERE reference = $1`, ref).
			Scan(&sendID, &campaignID))
		return sendID, campaignID
	}

	t.Run("Attribution", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res, err := RecordConversions(ctx, b.tx, []Conversion{
			conv("+5511911110001", "o-two", 10_000_000),
			conv("+5511911110002", "o-outside", 1_000_000),
			conv("+5511911110003", "o-edge", 2_000_000),
			conv("+5511911110004", "o-undelivered", 3_000_000),
			conv("+5511911110005", "o-failed", 1_000_000),
			conv("+5511911110006", "o-after", 1_000_000),
			conv("+5511911110007", "o-read", 4_000_000),
			conv("+4915100000000", "o-stranger", 5_000_000), // no such contact
		}, 0)
		require.NoError(t, err)
		require.Equal(t, RecordResult{Recorded: 8, Attributed: 4}, res)

		for ref, want := range map[string]string{"o-two": "two_new", "o-edge": "edge", "o-undelivered": "delivered", "o-read": "read_only"} {
			sendID, _ := attributedTo(t, b, ref)
			require.NotNil(t, sendID, ref)
			require.Equal(t, b.send[want], *sendID, ref)
		}
		_, campaignID := attributedTo(t, b, "o-undelivered")
		require.Equal(t, b.older, *campaignID)
		for _, ref := range []string{"o-outside", "o-failed", "o-after", "o-stranger"} {
			sendID, campaignID := attributedTo(t, b, ref)
			require.Nil(t, sendID, ref)
			require.Nil(t, campaignID, ref)
		}
		var contactID *int64
		require.NoError(t, b.tx.QueryRow(ctx, `SELECT contact_id FROM conversions WHERE reference = 'o-stranger'`).Scan(&contactID))
		require.Nil(t, contactID)

		// The report of the newer campaign counts its three conversions.
		exec(t, b.tx, `INSERT INTO campaign_rollups (campaign_id, slot, delivered, cost_micros) VALUES ($1, 0, 4, 8000000)`, b.newer)
		r, err := Campaign(ctx, b.tx, b.newer, Options{})
		require.NoError(t, err)
		require.Equal(t, int64(3), r.Conversions)
		require.Equal(t, Money{Currency: "USD", Total: 16, TotalMicros: 16_000_000}, r.Revenue)
		require.InDelta(t, 1.0, *r.ROI, 1e-9) // (16 − 8) / 8
		require.Equal(t, &Money{Currency: "USD", Total: 2.666667, TotalMicros: 2_666_667}, r.CostPerConversion)
		require.Equal(t, "2.666667 USD", r.CostPerConversion.String())
	})

	t.Run("WindowAndContactID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// A one-day window leaves the two-day-old delivery out; contact by id.
		res, err := RecordConversions(ctx, b.tx, []Conversion{
			{ContactID: b.contact["+5511911110004"], ValueMicros: 1, Currency: "USD", OccurredAt: convAt, Reference: "w-1"},
			{ContactID: b.contact["+5511911110001"], ValueMicros: 1, Currency: "USD", OccurredAt: convAt, Reference: "w-2"},
		}, 24*time.Hour)
		require.NoError(t, err)
		require.Equal(t, RecordResult{Recorded: 2, Attributed: 1}, res)
		sendID, _ := attributedTo(t, b, "w-2")
		require.Equal(t, b.send["two_new"], *sendID)
		var phone string
		require.NoError(t, b.tx.QueryRow(ctx, `SELECT phone FROM conversions WHERE reference = 'w-1'`).Scan(&phone))
		require.Equal(t, "+5511911110004", phone)
	})

	t.Run("DuplicatesAndOtherCurrencies", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		in := []Conversion{conv("+5511911110001", "d-1", 5_000_000), conv("+5511911110001", "d-1", 5_000_000),
			conv("+5511911110001", "", 1_000_000), conv("+5511911110001", "", 1_000_000)}
		in[2].Currency = "BRL"
		res, err := RecordConversions(ctx, b.tx, in, 0)
		require.NoError(t, err)
		require.Equal(t, RecordResult{Recorded: 3, Duplicates: 1, Attributed: 3}, res)
		// The same file again: only the conversions without reference are new.
		res, err = RecordConversions(ctx, b.tx, in, 0)
		require.NoError(t, err)
		require.Equal(t, RecordResult{Recorded: 2, Duplicates: 2, Attributed: 2}, res)

		r, err := Campaign(ctx, b.tx, b.newer, Options{})
		require.NoError(t, err)
		require.Equal(t, int64(5), r.Conversions)
		require.Equal(t, int64(7_000_000), r.Revenue.TotalMicros)
		require.Equal(t, map[string]int64{"BRL": 2_000_000}, r.OtherRevenue)
		require.Nil(t, r.ROI) // nothing spent
	})

	t.Run("LateDelivery", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res, err := RecordConversions(ctx, b.tx, []Conversion{conv("+5511911110005", "l-1", 1)}, 0)
		require.NoError(t, err)
		require.Zero(t, res.Attributed)
		// The delivered status of another send arrives after the conversion was recorded.
		exec(t, b.tx, `UPDATE sends SET status = 'delivered', delivered_at = $2, error_code = NULL WHERE id = $1`,
			b.send["failed"], convAt.Add(-time.Hour))
		n, err := AttributeConversions(ctx, b.tx, convAt.Add(-24*time.Hour), 0)
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		sendID, _ := attributedTo(t, b, "l-1")
		require.Equal(t, b.send["failed"], *sendID)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		for _, c := range []Conversion{
			{Currency: "USD", OccurredAt: convAt},
			{Phone: "+5511911110001", Currency: "dollars", OccurredAt: convAt},
			{Phone: "+5511911110001", Currency: "USD"},
		} {
			_, err := RecordConversions(ctx, tx, []Conversion{c}, 0)
			require.Error(t, err)
		}
		res, err := RecordConversions(ctx, tx, nil, 0)
		require.NoError(t, err)
		require.Zero(t, res)
	})
}
