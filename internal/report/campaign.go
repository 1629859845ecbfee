package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// Options tune a report. The zero value is usable.
type Options struct {
	// Card prices estimates and per-country costs and names the currency
	// of the rollups' cost. Default: pricing.Default(). It must be the card
	// the campaign engine prices with, or the currency is mislabelled.
	Card *pricing.Card
	// SeriesStep is the width of a time-series bucket. Default: one minute,
	// the resolution of campaign_minutes.
	SeriesStep time.Duration
	// NoSeries leaves the time series out (a summary for a list page).
	NoSeries bool
}

func (o Options) card() *pricing.Card {
	if o.Card != nil {
		return o.Card
	}
	return pricing.Default()
}

// CampaignReport is what happened to one campaign: funnel, failures, cost,
// conversions and a time series. Counts follow the rollups:
//
//	sent      = accepted + sent + delivered + read (the Cloud API took it)
//	delivered = delivered + read
//	pending   = queued + in_flight
//
// and once nothing is pending, sent + failed + unknown + cancelled +
// skipped = audience.
type CampaignReport struct {
	CampaignID       int64      `json:"campaign_id"`
	Name             string     `json:"name"`
	Template         string     `json:"template"`
	TemplateLanguage string     `json:"template_language"`
	Category         string     `json:"category"`
	Status           string     `json:"status"`
	CreatedAt        time.Time  `json:"created_at"`
	StartedAt        *time.Time `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at"`

	// Audience is every distinct recipient considered: messaged + skipped.
	Audience int64 `json:"audience"`
	// Skipped counts the recipients not messaged, by reason (not_opted_in,
	// opted_out, invalid, duplicate, missing_parameter, outside_window,
	// filtered); SkippedTotal is their sum.
	Skipped      map[string]int64 `json:"skipped"`
	SkippedTotal int64            `json:"skipped_total"`

	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	Failed    int64 `json:"failed"`
	Unknown   int64 `json:"unknown"`
	Pending   int64 `json:"pending"`
	Cancelled int64 `json:"cancelled"`
	Replied   int64 `json:"replied"`
	Clicked   int64 `json:"clicked"`
	// ClicksByButton counts button taps (quick replies and interactive
	// replies) by the button's label.
	ClicksByButton map[string]int64 `json:"clicks_by_button"`
	// Unaccounted is audience minus every recipient accounted for (sent,
	// failed, unknown, cancelled, pending, skipped). It is 0 unless the
	// rollups drifted or the expansion is still running; Verify says which.
	Unaccounted int64 `json:"unaccounted"`

	// FailedByCode counts failed sends per Cloud API error code (the key is
	// the code in decimal); FailedCodes is the same with titles, most
	// frequent first.
	FailedByCode map[string]int64 `json:"failed_by_code"`
	FailedCodes  []FailedCode     `json:"failed_codes"`

	Cost  Cost  `json:"cost"`
	Rates Rates `json:"rates"`

	// Conversions is the number of conversions attributed to the campaign,
	// in any currency.
	Conversions int64 `json:"conversions"`
	// Revenue sums the attributed conversions in the cost's currency;
	// conversions in other currencies are in OtherRevenue (micros by
	// currency) and count in neither ROI nor CostPerConversion.
	Revenue      Money            `json:"revenue"`
	OtherRevenue map[string]int64 `json:"other_revenue_micros,omitempty"`
	// ROI is (revenue − cost) / cost; nil when nothing was spent.
	ROI *float64 `json:"roi"`
	// CostPerConversion is cost / conversions in the cost's currency; nil
	// without conversions in that currency.
	CostPerConversion *Money `json:"cost_per_conversion"`

	// Series has the events per bucket (sent, delivered, read, failed,
	// replied, clicked), oldest first.
	Series []Minute `json:"series"`
}

// FailedCode is one Cloud API error code and how many sends failed with it.
type FailedCode struct {
	Code  int    `json:"code"`
	Title string `json:"title"`
	Count int64  `json:"count"`
}

// Cost is what a campaign cost so far: billable delivered messages priced by
// the rate card.
type Cost struct {
	Currency string `json:"currency"`
	// Total is TotalMicros in units of Currency, for charts and
	// spreadsheets; use TotalMicros for arithmetic.
	Total       float64 `json:"total"`
	TotalMicros int64   `json:"total_micros"`
	// EstimatedMicros is the cost if every message that may still be
	// delivered (pending, accepted, sent) is: the cost so far plus those
	// messages at the average price of the delivered ones, or, before any
	// delivery, at the card's price for the template's category in the
	// "Other" market. A forecast, not a bill.
	EstimatedMicros int64 `json:"estimated_micros"`
}

// Money is an amount in micro-units of a currency.
type Money struct {
	Currency    string  `json:"currency"`
	Total       float64 `json:"total"`
	TotalMicros int64   `json:"total_micros"`
}

func newMoney(micros int64, currency string) Money {
	return Money{Currency: currency, Total: float64(micros) / pricing.MicrosPerUnit, TotalMicros: micros}
}

// String formats the amount exactly ("12.34 USD").
func (m Money) String() string { return pricing.FormatMicros(m.TotalMicros, m.Currency) }

// Rates are fractions between 0 and 1; 0 when the denominator is 0.
type Rates struct {
	// Delivery is delivered / sent.
	Delivery float64 `json:"delivery_rate"`
	// Read is read / delivered.
	Read float64 `json:"read_rate"`
	// Reply is replied / delivered.
	Reply float64 `json:"reply_rate"`
	// Click is clicked / delivered.
	Click float64 `json:"click_rate"`
	// Failure is failed / (sent + failed).
	Failure float64 `json:"failure_rate"`
}

// Minute is the number of events of one kind in one time bucket.
type Minute struct {
	Minute time.Time `json:"minute"`
	Event  string    `json:"event"`
	Count  int64     `json:"count"`
}

type rollup struct {
	queued, inFlight, accepted, unknown, sent, delivered, read, failed, cancelled, replied, clicked, costMicros int64
}

// Campaign builds the report of one campaign from its rollups, failures per
// code, events per minute, exclusions and attributed conversions. It never
// scans the campaign's sends. A missing campaign is store.ErrNotFound.
//
// The queries go in one batch (one round trip) but not one snapshot: while a
// campaign runs, counts may be a few milliseconds apart from each other.
func Campaign(ctx context.Context, db store.DBTX, campaignID int64, opts Options) (*CampaignReport, error) {
	card := opts.card()
	step := opts.SeriesStep
	if step <= 0 {
		step = time.Minute
	}

	b := &pgx.Batch{}
	r := &CampaignReport{
		CampaignID:   campaignID,
		Skipped:      map[string]int64{},
		FailedByCode: map[string]int64{},
		FailedCodes:  []FailedCode{},
		Series:       []Minute{},

		ClicksByButton: map[string]int64{},
	}
	b.Queue(campaignGet, campaignID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&r.CampaignID, &r.Name, &r.Status, &r.Audience, &r.CreatedAt, &r.StartedAt, &r.FinishedAt,
			&r.Template, &r.TemplateLanguage, &r.Category)
	})
	var ru rollup
	b.Queue(rollupSum, campaignID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&ru.queued, &ru.inFlight, &ru.accepted, &ru.unknown, &ru.sent, &ru.delivered,
			&ru.read, &ru.failed, &ru.cancelled, &ru.replied, &ru.clicked, &ru.costMicros)
	})
	b.Queue(failuresByCode, campaignID).Query(func(rows pgx.Rows) error {
		var fc FailedCode
		_, err := pgx.ForEachRow(rows, []any{&fc.Code, &fc.Count}, func() error {
			fc.Title = whatsapp.CodeTitle(fc.Code)
			r.FailedCodes = append(r.FailedCodes, fc)
			r.FailedByCode[strconv.Itoa(fc.Code)] = fc.Count
			return nil
		})
		return err
	})
	b.Queue(clicksByButton, campaignID).Query(func(rows pgx.Rows) error {
		var label string
		var n int64
		_, err := pgx.ForEachRow(rows, []any{&label, &n}, func() error {
			r.ClicksByButton[label] = n
			return nil
		})
		return err
	})
	b.Queue(exclusionsByReason, campaignID).Query(func(rows pgx.Rows) error {
		var reason string
		var n int64
		_, err := pgx.ForEachRow(rows, []any{&reason, &n}, func() error {
			r.Skipped[reason] = n
			r.SkippedTotal += n
			return nil
		})
		return err
	})
	if !opts.NoSeries {
		var q *pgx.QueuedQuery
		if step == time.Minute {
			q = b.Queue(minutesSeries, campaignID)
		} else {
			q = b.Queue(minutesSeriesBinned, campaignID, step.Microseconds())
		}
		q.Query(func(rows pgx.Rows) error {
			var m Minute
			_, err := pgx.ForEachRow(rows, []any{&m.Minute, &m.Event, &m.Count}, func() error {
				m.Minute = m.Minute.UTC()
				r.Series = append(r.Series, m)
				return nil
			})
			return err
		})
	}
	revenue := map[string]int64{}
	var conversionsInCurrency int64
	b.Queue(conversionsByCurrency, campaignID).Query(func(rows pgx.Rows) error {
		var currency string
		var n, micros int64
		_, err := pgx.ForEachRow(rows, []any{&currency, &n, &micros}, func() error {
			r.Conversions += n
			revenue[currency] = micros
			if currency == card.Currency {
				conversionsInCurrency = n
			}
			return nil
		})
		return err
	})
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("get campaign %d: %w", campaignID, store.ErrNotFound)
		}
		return nil, fmt.Errorf("report campaign %d: %w", campaignID, err)
	}

	r.Sent = ru.accepted + ru.sent + ru.delivered + ru.read
	r.Delivered = ru.delivered + ru.read
	r.Read = ru.read
	r.Failed = ru.failed
	r.Unknown = ru.unknown
	r.Pending = ru.queued + ru.inFlight
	r.Cancelled = ru.cancelled
	r.Replied = ru.replied
	r.Clicked = ru.clicked
	r.Unaccounted = r.Audience - (r.Sent + r.Failed + r.Unknown + r.Cancelled + r.Pending + r.SkippedTotal)
	r.Rates = Rates{
		Delivery: ratio(r.Delivered, r.Sent),
		Read:     ratio(r.Read, r.Delivered),
		Reply:    ratio(r.Replied, r.Delivered),
		Click:    ratio(r.Clicked, r.Delivered),
		Failure:  ratio(r.Failed, r.Sent+r.Failed),
	}
	sort.SliceStable(r.FailedCodes, func(i, j int) bool { return r.FailedCodes[i].Count > r.FailedCodes[j].Count })

	r.Cost = Cost{
		Currency:        card.Currency,
		Total:           float64(ru.costMicros) / pricing.MicrosPerUnit,
		TotalMicros:     ru.costMicros,
		EstimatedMicros: estimate(ru, r.Category, card),
	}
	r.Revenue = newMoney(revenue[card.Currency], card.Currency)
	delete(revenue, card.Currency)
	if len(revenue) > 0 {
		r.OtherRevenue = revenue
	}
	if ru.costMicros > 0 {
		roi := float64(r.Revenue.TotalMicros-ru.costMicros) / float64(ru.costMicros)
		r.ROI = &roi
	}
	if conversionsInCurrency > 0 {
		m := newMoney(divRound(ru.costMicros, conversionsInCurrency), card.Currency)
		r.CostPerConversion = &m
	}
	return r, nil
}

// estimate is the cost so far plus the messages that may still be
// delivered, priced at the average of the delivered ones.
func estimate(ru rollup, category string, card *pricing.Card) int64 {
	outstanding := ru.queued + ru.inFlight + ru.accepted + ru.sent
	delivered := ru.delivered + ru.read
	if outstanding == 0 {
		return ru.costMicros
	}
	if delivered > 0 && ru.costMicros > 0 {
		// outstanding*cost may overflow int64 for absurd sizes; divide first
		// and add the remainder's share.
		avg, rem := ru.costMicros/delivered, ru.costMicros%delivered
		return ru.costMicros + outstanding*avg + divRound(outstanding*rem, delivered)
	}
	price, _ := card.Rate(category, pricing.OtherMarket)
	return ru.costMicros + outstanding*price
}

func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// divRound divides rounding half away from zero (for positive d).
func divRound(n, d int64) int64 {
	if n < 0 {
		return -divRound(-n, d)
	}
	return (n + d/2) / d
}
