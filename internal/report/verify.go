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
// failed ones by code), which costs about a second per million sends.
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
), excl AS (
    SELECT count(*) AS n FROM campaign_exclusions WHERE campaign_id = $1
)
SELECT c.audience, c.status,
       roll.queued, roll.in_flight, roll.accepted, roll.unknown, roll.sent, roll.delivered, roll.read,
       roll.failed, roll.cancelled, roll.replied, roll.clicked,
       raw.queued, raw.in_flight, raw.accepted, raw.unknown, raw.sent, raw.delivered, raw.read,
       raw.failed, raw.cancelled, raw.replied, raw.clicked, raw.total,
       fail_roll.m, fail_raw.m, excl.n
FROM campaigns c, roll, raw, fail_roll, fail_raw, excl
WHERE c.id = $1`

var verifyFields = [...]string{"queued", "in_flight", "accepted", "unknown", "sent", "delivered", "read",
	"failed", "cancelled", "replied", "clicked"}

// Verify recounts a campaign from its raw rows (sends by status, failed sends
// by error code, sends with a reply or a click, exclusions) and compares the
// counts with the rollups and the audience:
//
//   - each status column, replied and clicked of the summed rollup slots
//     against the sends;
//   - campaign_failures against failed sends per error_code (a failed send
//     without a code counts as code 0);
//   - audience against sends + exclusions;
//   - for a completed or cancelled campaign, that nothing is queued or in
//     flight.
//
// Cost is not recounted: the price of each message depends on the rate card
// the engine used when it was delivered. A missing campaign is
// store.ErrNotFound.
func Verify(ctx context.Context, db store.DBTX, campaignID int64) (*Verification, error) {
	var (
		audience          int64
		status            string
		roll, raw         [len(verifyFields)]int64
		total, excluded   int64
		failRoll, failRaw map[string]int64
	)
	dest := []any{&audience, &status}
	for i := range roll {
		dest = append(dest, &roll[i])
	}
	for i := range raw {
		dest = append(dest, &raw[i])
	}
	dest = append(dest, &total, &failRoll, &failRaw, &excluded)
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
	codes := make([]string, 0, len(failRoll)+len(failRaw))
	for c := range failRoll {
		codes = append(codes, c)
	}
	for c := range failRaw {
		if _, ok := failRoll[c]; !ok {
			codes = append(codes, c)
		}
	}
	sort.Strings(codes)
	for _, c := range codes {
		if failRoll[c] != failRaw[c] {
			v.Mismatches = append(v.Mismatches, fmt.Sprintf("failed with code %s: campaign_failures %d, sends %d", c, failRoll[c], failRaw[c]))
		}
	}
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
