package report

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// TemplateFilter selects the campaigns a template comparison covers.
type TemplateFilter struct {
	// Since and Until bound the campaigns' creation time, [Since, Until);
	// zero times leave that side open.
	Since, Until time.Time
	// Name keeps only the template of that name (all languages); "" keeps
	// every template.
	Name string
}

// TemplateStats compares one template (name and language) across the
// campaigns that used it. Counts are sums over those campaigns, with the
// definitions of CampaignReport.
type TemplateStats struct {
	Template  string `json:"template"`
	Language  string `json:"language"`
	Category  string `json:"category"`
	Campaigns int64  `json:"campaigns"`
	Audience  int64  `json:"audience"`
	// Skipped is audience minus the recipients messaged.
	Skipped    int64 `json:"skipped"`
	Sent       int64 `json:"sent"`
	Delivered  int64 `json:"delivered"`
	Read       int64 `json:"read"`
	Failed     int64 `json:"failed"`
	Replied    int64 `json:"replied"`
	Clicked    int64 `json:"clicked"`
	CostMicros int64 `json:"cost_micros"`
	// Conversions attributed to these campaigns, in any currency.
	Conversions int64 `json:"conversions"`
	Rates       Rates `json:"rates"`
}

// Rollups only: one lateral sum of a campaign's slots and one of its
// conversion counters per campaign; no sends are read. Draft
// campaigns have sent nothing and are left out.
const templatesCompare = `
SELECT t.name, t.language, t.category, count(*), coalesce(sum(c.audience), 0)::bigint,
       coalesce(sum(r.messaged), 0)::bigint, coalesce(sum(r.sent), 0)::bigint,
       coalesce(sum(r.delivered), 0)::bigint, coalesce(sum(r.read), 0)::bigint,
       coalesce(sum(r.failed), 0)::bigint, coalesce(sum(r.replied), 0)::bigint,
       coalesce(sum(r.clicked), 0)::bigint, coalesce(sum(r.cost_micros), 0)::bigint,
       coalesce(sum(cv.n), 0)::bigint
FROM campaigns c
JOIN templates t ON t.id = c.template_id
CROSS JOIN LATERAL (
    SELECT sum(queued + in_flight + accepted + unknown + sent + delivered + read + failed + cancelled) AS messaged,
           sum(accepted + sent + delivered + read) AS sent, sum(delivered + read) AS delivered,
           sum(read) AS read, sum(failed) AS failed, sum(replied) AS replied, sum(clicked) AS clicked,
           sum(cost_micros) AS cost_micros
    FROM campaign_rollups WHERE campaign_id = c.id
) r
CROSS JOIN LATERAL (SELECT sum(count) AS n FROM campaign_conversions WHERE campaign_id = c.id) cv
WHERE c.status <> 'draft'
  AND ($1::timestamptz IS NULL OR c.created_at >= $1)
  AND ($2::timestamptz IS NULL OR c.created_at < $2)
  AND ($3::text = '' OR t.name = $3)
GROUP BY t.id, t.name, t.language, t.category
ORDER BY 7 DESC, t.name, t.language`

// Templates compares templates across campaigns, most sent first, from the
// rollups: its cost grows with the number of campaigns, not of sends.
func Templates(ctx context.Context, db store.DBTX, filter TemplateFilter) ([]TemplateStats, error) {
	rows, err := db.Query(ctx, templatesCompare, nullTime(filter.Since), nullTime(filter.Until), filter.Name)
	if err != nil {
		return nil, fmt.Errorf("compare templates: %w", err)
	}
	stats, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TemplateStats, error) {
		var s TemplateStats
		var messaged int64
		err := row.Scan(&s.Template, &s.Language, &s.Category, &s.Campaigns, &s.Audience, &messaged, &s.Sent,
			&s.Delivered, &s.Read, &s.Failed, &s.Replied, &s.Clicked, &s.CostMicros, &s.Conversions)
		s.Skipped = s.Audience - messaged
		s.Rates = Rates{
			Delivery: ratio(s.Delivered, s.Sent),
			Read:     ratio(s.Read, s.Delivered),
			Reply:    ratio(s.Replied, s.Delivered),
			Click:    ratio(s.Clicked, s.Delivered),
			Failure:  ratio(s.Failed, s.Sent+s.Failed),
		}
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("compare templates: %w", err)
	}
	return stats, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
