package campaigns

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/storetest"
)

func TestDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, []contactRow{
		{"+5511900000041", "Ana", "opted_in", attrs("Recife", "A1")},
		{"+5511900000042", "Bia", "opted_in", attrs("", "B2")},
		{"+5511900000043", "Caio", "opted_in", attrs("Natal", "C3")},
		{"+5511900000044", "Duda", "not_opted_in", attrs("Natal", "D4")},
		{"+5511900000045", "", "opted_in", attrs("Natal", "E5")},
	}, promoBindings)
	_, err := SenderUpsert(ctx, pool, Sender{PhoneNumberID: "555001", RatePerSecond: 80, MessagingLimit: 2})
	require.NoError(t, err)

	card := pricing.Default()
	dr, err := f.svc.DryRun(ctx, f.campaign.ID, card)
	require.NoError(t, err)
	require.EqualValues(t, 5, dr.Audience)
	require.EqualValues(t, 3, dr.Sends)
	require.Equal(t, map[string]int64{"not_opted_in": 1, "missing_parameter": 1}, dr.Skipped)
	require.Equal(t, 3*card.Price("marketing", "BR"), dr.EstimatedCost)
	require.Len(t, dr.Previews, 3)
	require.True(t, strings.HasPrefix(dr.Previews[0].Text, "Olá Ana, sua oferta em Recife vence 01/12."), dr.Previews[0].Text)
	require.Contains(t, dr.Previews[1].Text, "sua cidade", "the default fills a missing city")
	require.Equal(t, 2, dr.MessagingLimit)
	require.False(t, dr.WithinLimit, "three recipients do not fit a limit of two")

	// A dry run stores nothing.
	var sends, exclusions int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sends), (SELECT count(*) FROM campaign_exclusions)`).Scan(&sends, &exclusions))
	require.Zero(t, sends+exclusions)
	c, err := f.svc.Get(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.Equal(t, "draft", c.Status)
}
