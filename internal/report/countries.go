package report

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// CountryStats is one recipient country of a campaign.
type CountryStats struct {
	// Country is the ISO 3166-1 alpha-2 region of the numbers ("" when
	// unknown); Market is its pricing market on the card.
	Country   string `json:"country"`
	Market    string `json:"market"`
	Messaged  int64  `json:"messaged"`
	Sent      int64  `json:"sent"`
	Delivered int64  `json:"delivered"`
	Read      int64  `json:"read"`
	Failed    int64  `json:"failed"`
	Replied   int64  `json:"replied"`
	Clicked   int64  `json:"clicked"`
	// Billable counts the messages charged: billable in their pricing
	// webhook, or delivered with no pricing information yet.
	Billable int64 `json:"billable"`
	// CostMicros prices the billable messages with the card, by their
	// pricing category (the template's when the webhook gave none).
	CostMicros int64 `json:"cost_micros"`
	// Unpriced counts billable messages of a category the card does not
	// know; they are not in CostMicros.
	Unpriced int64 `json:"unpriced,omitempty"`
}

// There are no rollups by country, so this reads every send of the
// campaign once (a scan of its rows through the (campaign_id, contact_id)
// index): 400–750 ms per million sends (docs/BENCHMARKS.md). Use it for a detail page
// or an export, not for a list.
const countriesBreakdown = `
SELECT s.country, coalesce(nullif(s.pricing_category, ''), t.category) AS category,
       count(*),
       count(*) FILTER (WHERE s.status IN ('accepted', 'sent', 'delivered', 'read')),
       count(*) FILTER (WHERE s.status IN ('delivered', 'read')),
       count(*) FILTER (WHERE s.status = 'read'),
       count(*) FILTER (WHERE s.status = 'failed'),
       count(s.replied_at), count(s.clicked_at),
       count(*) FILTER (WHERE s.billable OR (s.billable IS NULL AND s.status IN ('delivered', 'read')))
FROM campaigns c
JOIN templates t ON t.id = c.template_id
LEFT JOIN sends s ON s.campaign_id = c.id
WHERE c.id = $1
GROUP BY 1, 2`

// Countries breaks a campaign down by recipient country (sends.country),
// with the cost of each priced by opts.Card. It scans the campaign's sends;
// see countriesBreakdown for the cost. Countries are sorted by messages,
// most first. A missing campaign is store.ErrNotFound.
func Countries(ctx context.Context, db store.DBTX, campaignID int64, opts Options) ([]CountryStats, error) {
	card := opts.card()
	rows, err := db.Query(ctx, countriesBreakdown, campaignID)
	if err != nil {
		return nil, fmt.Errorf("break down campaign %d by country: %w", campaignID, err)
	}
	byCountry := map[string]*CountryStats{}
	found := false
	var country, category *string
	var g CountryStats
	_, err = pgx.ForEachRow(rows, []any{&country, &category, &g.Messaged, &g.Sent, &g.Delivered, &g.Read,
		&g.Failed, &g.Replied, &g.Clicked, &g.Billable}, func() error {
		found = true
		if country == nil { // the campaign has no sends
			return nil
		}
		s := byCountry[*country]
		if s == nil {
			s = &CountryStats{Country: *country, Market: card.Market(*country)}
			byCountry[*country] = s
		}
		s.Messaged += g.Messaged
		s.Sent += g.Sent
		s.Delivered += g.Delivered
		s.Read += g.Read
		s.Failed += g.Failed
		s.Replied += g.Replied
		s.Clicked += g.Clicked
		s.Billable += g.Billable
		if price, ok := card.PriceOK(*category, *country); ok {
			s.CostMicros += g.Billable * price
		} else {
			s.Unpriced += g.Billable
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("break down campaign %d by country: %w", campaignID, err)
	}
	if !found {
		return nil, fmt.Errorf("break down campaign %d by country: %w", campaignID, store.ErrNotFound)
	}
	out := make([]CountryStats, 0, len(byCountry))
	for _, s := range byCountry {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Messaged != out[j].Messaged {
			return out[i].Messaged > out[j].Messaged
		}
		return out[i].Country < out[j].Country
	})
	return out, nil
}
