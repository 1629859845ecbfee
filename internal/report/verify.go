package report

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// Verification compares a campaign's rollups with a recount of its raw rows.
type Verification struct {
	CampaignID int64 `json:"campaign_id"`
	// OK is true when every compared value agrees.
	OK bool `json:"ok"`
	// Mismatches describe each disagreement, one per line, as
	// "delivered: rollups 10, sends 11".
	Mismatches []string `json:"mismatches"`
}

// One statement, so one snapshot: a running campaign is compared with
// itself at one instant. It scans the campaign's sends twice (statuses;
// failed ones by code): 250–400 ms per million sends (docs/BENCHMARKS.md).
const verifyQuery = `
WITH roll AS (
    SELECT coalesce(sum(queued), 0)::bigint AS queued, coalesce(sum(in_flight), 0)::bigint AS in_flight,
           coalesce(sum(accepted), 0)::bigint AS accepted, coalesce(sum(unknown), 0)::bigint AS unknown,
           coalesce(sum(sent), 0)::bigint AS sent, coalesce(sum(delivered), 0)::bigint AS delivered,
           coalesce(sum(read), 0)::bigint AS read, coalesce(sum(failed), 0)::bigint AS failed,
           coalesce(sum(cancelled), 0)::bigint AS cancelled, coalesce(sum(replied), 0)::bigint AS replied,
           coalesce(sum(clicked), 0)::bigint AS clicked
    FROM campaign_rollups WHERE campaign_id = $1
), raw AS (
    SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
           count(*) FILTER (WHERE status = 'in_flight') AS in_flight,
           count(*) FILTER (WHERE status = 'accepted') AS accepted,
           count(*) FILTER (WHERE status = 'unknown') AS unknown,
           count(*) FILTER (WHERE status = 'sent') AS sent,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status = 'read') AS read,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(replied_at) AS replied, count(clicked_at) AS clicked,
           count(*) AS total
    FROM sends WHERE campaign_id = $1
), fail_roll AS (
    SELECT coalesce(jsonb_object_agg(error_code::text, count), '{}') AS m
    FROM campaign_failures WHERE campaign_id = $1 AND count <> 0
), fail_raw AS (
    SELECT coalesce(jsonb_object_agg(code::text, n), '{}') AS m
    FROM (SELECT coalesce(error_code, 0) AS code, count(*) AS n
          FROM sends WHERE campaign_id = $1 AND status = 'failed' GROUP BY 1) f
), excl_roll AS (
    SELECT coalesce(jsonb_object_agg(reason, n), '{}') AS m
    FROM (SELECT reason, sum(count) AS n FROM campaign_exclusion_counts
          WHERE campaign_id = $1 GROUP BY reason HAVING sum(count) <> 0) e
), excl_raw AS (
    SELECT coalesce(jsonb_object_agg(reason, n), '{}') AS m, coalesce(sum(n), 0)::bigint AS total
    FROM (SELECT reason, count(*) AS n FROM campaign_exclusions WHERE campaign_id = $1 GROUP BY reason) e
), conv_roll AS (
    SELECT coalesce(jsonb_object_agg(currency, count), '{}') AS n, coalesce(jsonb_object_agg(currency, value_micros), '{}') AS v
    FROM campaign_conversions WHERE campaign_id = $1 AND count <> 0
), conv_raw AS (
    SELECT coalesce(jsonb_object_agg(currency, n), '{}') AS n, coalesce(jsonb_object_agg(currency, v), '{}') AS v
    FROM (SELECT currency, count(*) AS n, sum(value_micros) AS v FROM conversions
          WHERE campaign_id = $1 GROUP BY currency) c
)
SELECT c.audience, c.status,
       roll.queued, roll.in_flight, roll.accepted, roll.unknown, roll.sent, roll.delivered, roll.read,
       roll.failed, roll.cancelled, roll.replied, roll.clicked,
       raw.queued, raw.in_flight, raw.accepted, raw.unknown, raw.sent, raw.delivered, raw.read,
       raw.failed, raw.cancelled, raw.replied, raw.clicked, raw.total,
       fail_roll.m, fail_raw.m, excl_roll.m, excl_raw.m, excl_raw.total,
       conv_roll.n, conv_raw.n, conv_roll.v, conv_raw.v
FROM campaigns c, roll, raw, fail_roll, fail_raw, excl_roll, excl_raw, conv_roll, conv_raw
WHERE c.id = $1`

var verifyFields = [...]string{"queued", "in_flight", "accepted", "unknown", "sent", "delivered", "read",
	"failed", "cancelled", "replied", "clicked"}

// Verify recounts a campaign from its raw rows (sends by status, failed sends
// by error code, sends with a reply or a click, exclusions, conversions) and
// compares the counts with the rollups and the audience:
//
//   - each status column, replied and clicked of the summed rollup slots
//     against the sends;
//   - campaign_failures against failed sends per error_code (a failed send
//     without a code counts as code 0);
//   - the exclusion counters against the exclusions, per reason, and the
//     conversion counters against the attributed conversions, per currency
//     (count and value);
//   - audience against sends + exclusions;
//   - for a completed or cancelled campaign, that nothing is queued or in
//     flight.
//
// Cost is not recounted: the price of each message depends on the rate card
// the engine used when it was delivered. A missing campaign is
// store.ErrNotFound.
func Verify(ctx context.Context, db store.DBTX, campaignID int64) (*Verification, error) {
	var (
		audience            int64
		status              string
		roll, raw           [len(verifyFields)]int64
		total, excluded     int64
		failRoll, failRaw   map[string]int64
		exclRoll, exclRaw   map[string]int64
		convRollN, convRawN map[string]int64
		convRollV, convRawV map[string]int64
	)
	dest := []any{&audience, &status}
	for i := range roll {
		dest = append(dest, &roll[i])
	}
	for i := range raw {
		dest = append(dest, &raw[i])
	}
	dest = append(dest, &total, &failRoll, &failRaw, &exclRoll, &exclRaw, &excluded,
		&convRollN, &convRawN, &convRollV, &convRawV)
	if err := db.QueryRow(ctx, verifyQuery, campaignID).Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("verify campaign %d: %w", campaignID, store.ErrNotFound)
		}
		return nil, fmt.Errorf("verify campaign %d: %w", campaignID, err)
	}

	v := &Verification{CampaignID: campaignID, Mismatches: []string{}}
	for i, f := range verifyFields {
		if roll[i] != raw[i] {
			v.Mismatches = append(v.Mismatches, fmt.Sprintf("%s: rollups %d, sends %d", f, roll[i], raw[i]))
		}
	}
	v.compareMaps("failed with code %s: campaign_failures %d, sends %d", failRoll, failRaw)
	v.compareMaps("skipped %s: campaign_exclusion_counts %d, exclusions %d", exclRoll, exclRaw)
	v.compareMaps("conversions in %s: campaign_conversions %d, conversions %d", convRollN, convRawN)
	v.compareMaps("conversion value in %s: campaign_conversions %d, conversions %d", convRollV, convRawV)
	if audience != total+excluded {
		v.Mismatches = append(v.Mismatches, fmt.Sprintf("audience: campaign %d, sends %d + exclusions %d = %d",
			audience, total, excluded, total+excluded))
	}
	if status == "completed" || status == "cancelled" {
		if open := raw[0] + raw[1]; open != 0 {
			v.Mismatches = append(v.Mismatches, fmt.Sprintf("campaign %s with %d sends queued or in flight", status, open))
		}
	}
	v.OK = len(v.Mismatches) == 0
	return v, nil
}

// compareMaps adds a mismatch, formatted with key, rollup and raw value, for
// each key whose values differ (a missing key counts as 0).
func (v *Verification) compareMaps(format string, rollup, raw map[string]int64) {
	keys := make([]string, 0, len(rollup)+len(raw))
	for k := range rollup {
		keys = append(keys, k)
	}
	for k := range raw {
		if _, ok := rollup[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if rollup[k] != raw[k] {
			v.Mismatches = append(v.Mismatches, fmt.Sprintf(format, k, rollup[k], raw[k]))
		}
	}
}
