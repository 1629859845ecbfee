package report

// SQL for reports. Reports read tables the campaigns package owns (campaigns,
// sends, rollups, exclusions) and never write them; report owns conversions
// and the two counter tables of migration 0004 (campaign_conversions,
// campaign_exclusion_counts), which triggers keep.
//
// A campaign report reads only per-campaign aggregates (rollup slots,
// failures per code, events per minute, exclusions per reason, conversions
// per currency), never sends nor exclusions, so that it costs the same for a
// hundred recipients or a million.

const campaignGet = `
SELECT c.id, c.name, c.status, c.audience, c.created_at, c.started_at, c.finished_at,
       t.name AS template, t.language, t.category
FROM campaigns c
JOIN templates t ON t.id = c.template_id
WHERE c.id = $1`

const rollupSum = `
SELECT coalesce(sum(queued), 0)::bigint, coalesce(sum(in_flight), 0)::bigint,
       coalesce(sum(accepted), 0)::bigint, coalesce(sum(unknown), 0)::bigint,
       coalesce(sum(sent), 0)::bigint, coalesce(sum(delivered), 0)::bigint,
       coalesce(sum(read), 0)::bigint, coalesce(sum(failed), 0)::bigint,
       coalesce(sum(cancelled), 0)::bigint, coalesce(sum(replied), 0)::bigint,
       coalesce(sum(clicked), 0)::bigint, coalesce(sum(cost_micros), 0)::bigint
FROM campaign_rollups
WHERE campaign_id = $1`

const failuresByCode = `
SELECT error_code, count
FROM campaign_failures
WHERE campaign_id = $1 AND count <> 0
ORDER BY count DESC, error_code`

// campaign_exclusion_counts is kept by a trigger of migration 0004.
const exclusionsByReason = `
SELECT reason, sum(count)::bigint
FROM campaign_exclusion_counts
WHERE campaign_id = $1
GROUP BY reason
HAVING sum(count) <> 0`

// At the table's own resolution the primary key returns the rows in order:
// no aggregate, no sort.
const minutesSeries = `
SELECT minute, event, count
FROM campaign_minutes
WHERE campaign_id = $1
ORDER BY minute, event`

// $2 is the bucket width in microseconds. The "C" collation sorts the event
// names bytewise, which is cheaper than the locale's rules and the same for
// these ASCII names.
const minutesSeriesBinned = `
SELECT date_bin($2::bigint * interval '1 microsecond', minute, timestamptz '2000-01-01 00:00:00+00') AS bucket,
       event COLLATE "C", sum(count)::bigint
FROM campaign_minutes
WHERE campaign_id = $1
GROUP BY 1, 2
ORDER BY 1, 2`

// campaign_conversions is kept by a trigger of migration 0004.
const conversionsByCurrency = `
SELECT currency, count, value_micros
FROM campaign_conversions
WHERE campaign_id = $1 AND count <> 0
ORDER BY currency`

// clicksByButton counts a campaign's button taps by label. It reads the
// inbound messages linked to the campaign's sends: a few per hundred sends,
// found through inbound_messages_send_idx.
const clicksByButton = `
SELECT coalesce(nullif(i.text, ''), i.button) AS label, count(*)
FROM inbound_messages i JOIN sends s ON s.id = i.send_id
WHERE s.campaign_id = $1 AND i.type IN ('button', 'interactive')
GROUP BY 1 ORDER BY 2 DESC`
