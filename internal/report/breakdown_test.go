package report

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
)

func TestCountries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ByCountry", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		for _, s := range []sendSpec{
			{phone: "+4915100000001", country: "DE", status: "read", delivered: 2, read: 3, billable: ptr(true)},
			{phone: "+14155550001", country: "US", status: "delivered", delivered: 2, billable: ptr(false)},
			{phone: "+14155550002", country: "US", status: "failed", errorCode: 131049},
		} {
			newSend(t, tx, f.campaignID, newContact(t, tx, s.phone, "", s.country), s)
		}
		got, err := Countries(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		require.Equal(t, []CountryStats{
			{Country: "BR", Market: "Brazil", Messaged: 16, Sent: 10, Delivered: 6, Read: 3, Failed: 3, Replied: 2,
				Clicked: 1, Billable: 6, CostMicros: 6 * 62_500},
			{Country: "US", Market: "North America", Messaged: 2, Sent: 1, Delivered: 1, Failed: 1},
			{Country: "DE", Market: "Germany", Messaged: 1, Sent: 1, Delivered: 1, Read: 1, Billable: 1, CostMicros: 136_500},
		}, got)
	})

	t.Run("NoSendsAndNotFound", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		tmpl, sender := newTemplateAndSender(t, tx, "empty", "utility")
		id := newCampaign(t, tx, tmpl, sender, "Empty", "draft", 0)
		got, err := Countries(ctx, tx, id, Options{})
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = Countries(ctx, tx, 987654321, Options{})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := storetest.Tx(t)
	f := newFixture(t, tx)

	// A second run of the same template, a draft (left out) and another template.
	second := newCampaign(t, tx, f.templateID, f.senderID, "Spring sale again", "running", 5)
	exec(t, tx, `INSERT INTO campaign_rollups (campaign_id, slot, queued, sent, delivered, read, failed, replied, cost_micros)
		VALUES ($1, 0, 1, 1, 1, 1, 0, 1, 125000)`, second)
	draft := newCampaign(t, tx, f.templateID, f.senderID, "Draft", "draft", 100)
	exec(t, tx, `INSERT INTO campaign_rollups (campaign_id, slot, queued) VALUES ($1, 0, 100)`, draft)
	otherTmpl, _ := newTemplateAndSender(t, tx, "otp", "authentication")
	other := newCampaign(t, tx, otherTmpl, f.senderID, "Codes", "completed", 2)
	exec(t, tx, `INSERT INTO campaign_rollups (campaign_id, slot, delivered, failed) VALUES ($1, 3, 1, 1)`, other)

	_, err := RecordConversions(ctx, tx, []Conversion{{Phone: "+5511900000008", ValueMicros: 1, Currency: "USD",
		OccurredAt: t0.Add(time.Hour)}}, 0)
	require.NoError(t, err)

	got, err := Templates(ctx, tx, TemplateFilter{})
	require.NoError(t, err)
	var spring, otp *TemplateStats
	for i := range got {
		switch got[i].Template {
		case "spring_sale":
			spring = &got[i]
		case "otp":
			otp = &got[i]
		}
	}
	require.NotNil(t, spring)
	require.NotNil(t, otp)
	require.Equal(t, TemplateStats{Template: "spring_sale", Language: "en", Category: "marketing", Campaigns: 2,
		Audience: 25, Skipped: 4 + 1, Sent: 13, Delivered: 8, Read: 4, Failed: 3, Replied: 3, Clicked: 1,
		CostMicros: 500_000, Conversions: 1, Rates: Rates{Delivery: 8.0 / 13, Read: 0.5, Reply: 3.0 / 8, Click: 1.0 / 8, Failure: 3.0 / 16}}, *spring)
	require.Equal(t, int64(1), otp.Campaigns)
	require.Equal(t, int64(1), otp.Delivered)
	require.Equal(t, int64(0), otp.Skipped)

	// By name and time.
	got, err = Templates(ctx, tx, TemplateFilter{Name: "otp", Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "otp", got[0].Template)
	got, err = Templates(ctx, tx, TemplateFilter{Name: "otp", Since: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, got)
}
