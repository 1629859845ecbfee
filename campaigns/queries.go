package campaigns

// SQL for the tables campaigns owns: templates, sender_numbers, campaigns,
// sends, campaign_exclusions and the rollups.

const templateUpsertSQL = `
INSERT INTO templates (external_id, name, language, category, status, parameter_format, components, synced_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (name, language) DO UPDATE SET
    external_id = EXCLUDED.external_id, category = EXCLUDED.category, status = EXCLUDED.status,
    parameter_format = EXCLUDED.parameter_format, components = EXCLUDED.components, synced_at = now()
RETURNING id`

const templateSelectSQL = `
SELECT id, external_id, name, language, category, status, parameter_format, components FROM templates`

const senderUpsertSQL = `
INSERT INTO sender_numbers (phone_number_id, display_phone_number, waba_id, rate_per_second, messaging_limit)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (phone_number_id) DO UPDATE SET
    display_phone_number = EXCLUDED.display_phone_number, waba_id = EXCLUDED.waba_id,
    rate_per_second = EXCLUDED.rate_per_second, messaging_limit = EXCLUDED.messaging_limit, updated_at = now()
RETURNING id`

const campaignInsertSQL = `
INSERT INTO campaigns (name, template_id, sender_id, list_ids, filters, bindings, priority, start_at, status,
    window_start, window_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9::time, $10::time)
RETURNING id`

const campaignSelectSQL = `
SELECT c.id, c.name, c.template_id, c.sender_id, s.phone_number_id, s.rate_per_second, c.list_ids, c.filters,
       c.bindings, c.status, c.status_reason, c.priority, c.start_at, c.audience, c.created_at, c.started_at, c.finished_at,
       to_char(c.window_start, 'HH24:MI'), to_char(c.window_end, 'HH24:MI')
FROM campaigns c JOIN sender_numbers s ON s.id = c.sender_id`

const campaignSetStatusSQL = `
UPDATE campaigns SET status = $2, status_reason = $3,
    started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) ELSE started_at END,
    finished_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN now() ELSE finished_at END
WHERE id = $1 AND status = ANY($4)
RETURNING id`

// campaignCompleteSQL finishes a running campaign once nothing is open. The
// rollups say so in a few rows at any size: they change in the same
// transaction as every send's status.
const campaignCompleteSQL = `
UPDATE campaigns SET status = 'completed', finished_at = now()
WHERE id = $1 AND status = 'running'
  AND (SELECT coalesce(sum(queued + in_flight), 0) FROM campaign_rollups WHERE campaign_id = $1) = 0
RETURNING id`

// sendClaimSQL marks the next queued sends of a range in_flight, in id order
// from $2, only while the campaign runs and its sender is active, and moves
// them from queued to in_flight in rollup slot $7, in one statement. SKIP
// LOCKED lets two jobs over the same range (a rescued job and its successor)
// share it without ever claiming one send twice. A contact messaged by the
// same number within the pair-rate window is left for later.
//
// The range is read through the primary key from the job's cursor ($2), so
// each send is passed over about once. Planner traps: "campaign_id + 0"
// keeps the unique (campaign_id, contact_id) index out of the plan, which
// would otherwise be ANDed in as a bitmap and read every send of the
// campaign on each claim (stale statistics right after an expansion make it
// look cheap); and the pair-rate check runs on the LIMITed candidates only,
// not on every send of the range before the LIMIT.
const sendClaimSQL = `
WITH candidates AS (
    SELECT s.id, s.contact_id FROM sends s
    WHERE s.id BETWEEN $2 AND $3 AND s.campaign_id + 0 = $1 AND s.status = 'queued'
      AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= now())
      AND EXISTS (SELECT 1 FROM campaigns c JOIN sender_numbers n ON n.id = c.sender_id
                  WHERE c.id = $1 AND c.status = 'running' AND n.status = 'active')
    ORDER BY s.id
    LIMIT $4
    FOR UPDATE OF s SKIP LOCKED
), next AS (
    SELECT c.id FROM candidates c
    WHERE NOT EXISTS (SELECT 1 FROM sends o JOIN campaigns oc ON oc.id = o.campaign_id
                      WHERE o.contact_id = c.contact_id AND o.id <> c.id AND oc.sender_id = $5
                        AND o.in_flight_at > now() - make_interval(secs => $6))
), claimed AS (
    UPDATE sends s SET status = 'in_flight', in_flight_at = now(), attempts = s.attempts + 1
    FROM next WHERE s.id = next.id
    RETURNING s.id, s.contact_id, s.phone, s.params, s.attempts
), rollup AS (
    INSERT INTO campaign_rollups AS r (campaign_id, slot, queued, in_flight)
    SELECT $1, $7, -count(*), count(*) FROM claimed HAVING count(*) > 0
    ON CONFLICT (campaign_id, slot) DO UPDATE SET
        queued = r.queued + EXCLUDED.queued, in_flight = r.in_flight + EXCLUDED.in_flight
)
SELECT id, contact_id, phone, params, attempts FROM claimed ORDER BY id`

// sendRangeClaimableSQL counts the queued sends of a range that are due
// (campaign_id + 0: see sendClaimSQL).
const sendRangeClaimableSQL = `
SELECT count(*) FROM sends
WHERE id BETWEEN $2 AND $3 AND campaign_id + 0 = $1 AND status = 'queued'
  AND (next_attempt_at IS NULL OR next_attempt_at <= now())`

// sendRangeOpenSQL tells a job what is left in its range: how many sends are
// still queued and when the earliest may go (campaign_id + 0: see
// sendClaimSQL).
const sendRangeOpenSQL = `
SELECT count(*), min(coalesce(next_attempt_at, now()))
FROM sends WHERE id BETWEEN $2 AND $3 AND campaign_id + 0 = $1 AND status = 'queued'`

// sendResultSQL commits the outcome of a dispatched chunk. The locked CTE
// reads each row's status before the change (for the rollups) and carries
// the new values, so the update joins one CTE (see statusApplySQL); the rank
// guard keeps a webhook that already moved the send ahead from being undone.
// A send's first wamid is also written to send_wamids, where webhooks and
// replies that carry only the wamid look it up.
const sendResultSQL = `
WITH u AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
                         $8::timestamptz[], $9::smallint[])
        AS u(id, status, wamid, wa_id, error_code, error_title, error_details, next_attempt_at, attempt_delta)
), old AS (
    SELECT u.*, s.status AS old_status, s.wamid AS old_wamid FROM sends s JOIN u ON u.id = s.id ORDER BY s.id FOR UPDATE OF s
), wamids AS (
    INSERT INTO send_wamids (wamid, send_id)
    SELECT o.wamid, o.id FROM old o WHERE o.wamid <> '' AND o.old_wamid IS NULL
    ON CONFLICT (wamid) DO NOTHING
)
UPDATE sends s SET
    status = CASE WHEN herald_status_rank(o.status) > herald_status_rank(o.old_status)
                    OR (o.status = 'queued' AND o.old_status = 'in_flight') THEN o.status ELSE s.status END,
    wamid = coalesce(s.wamid, nullif(o.wamid, '')),
    wa_id = coalesce(nullif(o.wa_id, ''), s.wa_id),
    accepted_at = CASE WHEN o.status = 'accepted' THEN coalesce(s.accepted_at, now()) ELSE s.accepted_at END,
    failed_at = CASE WHEN o.status = 'failed' AND o.old_status = 'in_flight' THEN now() ELSE s.failed_at END,
    error_code = CASE WHEN o.status = 'failed' AND o.old_status = 'in_flight' THEN o.error_code ELSE s.error_code END,
    error_title = CASE WHEN o.status = 'failed' AND o.old_status = 'in_flight' THEN o.error_title ELSE s.error_title END,
    error_details = CASE WHEN o.status = 'failed' AND o.old_status = 'in_flight' THEN o.error_details ELSE s.error_details END,
    next_attempt_at = o.next_attempt_at,
    attempts = s.attempts + o.attempt_delta
FROM old o
WHERE s.id = o.id
RETURNING s.id, o.old_status, s.status, s.error_code`

const contactOptOutSQL = `
WITH changed AS (
    UPDATE contacts SET consent = 'opted_out', opted_out_at = coalesce(opted_out_at, $2), consent_source = $3, updated_at = now()
    WHERE id = ANY($1) AND consent <> 'opted_out'
    RETURNING id
)
INSERT INTO consent_events (contact_id, consent, source, occurred_at)
SELECT id, 'opted_out', $3, $2 FROM changed`

const senderStopSQL = `
UPDATE sender_numbers SET status = 'stopped', stopped_reason = $2, updated_at = now() WHERE id = $1`

const campaignsPauseForSenderSQL = `
UPDATE campaigns SET status = 'paused', status_reason = $2 WHERE sender_id = $1 AND status = 'running'`

// rollupAddSQL adds signed deltas to one slot of a campaign's counters.
const rollupAddSQL = `
INSERT INTO campaign_rollups AS r (campaign_id, slot, queued, in_flight, accepted, unknown, sent, delivered, read,
    failed, cancelled, replied, clicked, cost_micros)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (campaign_id, slot) DO UPDATE SET
    queued = r.queued + EXCLUDED.queued, in_flight = r.in_flight + EXCLUDED.in_flight,
    accepted = r.accepted + EXCLUDED.accepted, unknown = r.unknown + EXCLUDED.unknown,
    sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered, read = r.read + EXCLUDED.read,
    failed = r.failed + EXCLUDED.failed, cancelled = r.cancelled + EXCLUDED.cancelled,
    replied = r.replied + EXCLUDED.replied, clicked = r.clicked + EXCLUDED.clicked,
    cost_micros = r.cost_micros + EXCLUDED.cost_micros`

const failureAddSQL = `
INSERT INTO campaign_failures AS f (campaign_id, error_code, count)
SELECT $1, code, n FROM unnest($2::int[], $3::bigint[]) AS u(code, n)
ON CONFLICT (campaign_id, error_code) DO UPDATE SET count = f.count + EXCLUDED.count`

const minuteAddSQL = `
INSERT INTO campaign_minutes AS m (campaign_id, minute, event, count)
SELECT $1, minute, event, n FROM unnest($2::timestamptz[], $3::text[], $4::bigint[]) AS u(minute, event, n)
ON CONFLICT (campaign_id, minute, event) DO UPDATE SET count = m.count + EXCLUDED.count`

const webhookEventsClaimSQL = `
SELECT id, body FROM webhook_events WHERE applied_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`

const webhookEventsDoneSQL = `UPDATE webhook_events SET applied_at = now() WHERE id = ANY($1)`

// statusApplySQL applies a batch of status updates. A status is matched to
// its send by the id echoed in biz_opaque_callback_data (so it applies even
// before the send's wamid is committed) or else by wamid. Several updates
// for one send in a batch collapse to the highest rank; the locked old row
// gives the rollups the status before the change; the rank guard makes
// replays and reordering change nothing. The update joins only the locked
// CTE, which carries the new values too: joined to two CTEs the planner,
// which guesses a handful of rows for unnest, compared every pair of rows
// (quadratic in the batch: seconds at a few thousand statuses). Cost counts
// once, when a send is
// both delivered (or read) and billable, since Meta charges per delivered
// message.
const statusApplySQL = `
WITH u AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::bool[], $11::text[])
        AS u(send_id, wamid, status, at, error_code, error_title, error_details, pcat, ptype, billable, wa_id)
), matched AS (
    SELECT s.id AS sid, u.* FROM u JOIN sends s ON s.id = u.send_id AND (s.wamid IS NULL OR s.wamid = u.wamid)
    UNION ALL
    SELECT w.send_id AS sid, u.* FROM u JOIN send_wamids w ON w.wamid = u.wamid WHERE u.send_id IS NULL
), agg AS (
    SELECT sid,
        (array_agg(status ORDER BY herald_status_rank(status) DESC))[1] AS status,
        max(wamid) AS wamid,
        max(wa_id) AS wa_id,
        min(at) FILTER (WHERE status = 'sent') AS sent_at,
        min(at) FILTER (WHERE status = 'delivered') AS delivered_at,
        min(at) FILTER (WHERE status = 'read') AS read_at,
        min(at) FILTER (WHERE status = 'failed') AS failed_at,
        (array_agg(error_code) FILTER (WHERE status = 'failed'))[1] AS error_code,
        (array_agg(error_title) FILTER (WHERE status = 'failed'))[1] AS error_title,
        (array_agg(error_details) FILTER (WHERE status = 'failed'))[1] AS error_details,
        (array_agg(pcat) FILTER (WHERE pcat <> ''))[1] AS pcat,
        (array_agg(ptype) FILTER (WHERE ptype <> ''))[1] AS ptype,
        bool_or(billable) AS billable
    FROM matched GROUP BY sid
), old AS (
    SELECT agg.*, s.status AS old_status, s.billable AS old_billable, s.sent_at AS old_sent_at,
           s.delivered_at AS old_delivered_at, s.read_at AS old_read_at, s.wamid AS old_wamid
    FROM sends s JOIN agg ON agg.sid = s.id ORDER BY s.id FOR UPDATE OF s
), wamids AS (
    INSERT INTO send_wamids (wamid, send_id)
    SELECT o.wamid, o.sid FROM old o WHERE o.wamid IS NOT NULL AND o.wamid <> '' AND o.old_wamid IS NULL
    ON CONFLICT (wamid) DO NOTHING
)
UPDATE sends s SET
    status = CASE WHEN herald_status_rank(o.status) > herald_status_rank(o.old_status) THEN o.status ELSE o.old_status END,
    wamid = coalesce(s.wamid, nullif(o.wamid, '')),
    wa_id = CASE WHEN s.wa_id = '' THEN coalesce(o.wa_id, '') ELSE s.wa_id END,
    sent_at = coalesce(s.sent_at, o.sent_at),
    delivered_at = coalesce(s.delivered_at, o.delivered_at),
    read_at = coalesce(s.read_at, o.read_at),
    failed_at = CASE WHEN o.status = 'failed' AND o.old_status <> 'failed' THEN o.failed_at ELSE s.failed_at END,
    error_code = CASE WHEN o.status = 'failed' AND o.old_status <> 'failed' THEN o.error_code ELSE s.error_code END,
    error_title = CASE WHEN o.status = 'failed' AND o.old_status <> 'failed' THEN coalesce(o.error_title, '') ELSE s.error_title END,
    error_details = CASE WHEN o.status = 'failed' AND o.old_status <> 'failed' THEN coalesce(o.error_details, '') ELSE s.error_details END,
    pricing_category = CASE WHEN s.pricing_category = '' THEN coalesce(o.pcat, '') ELSE s.pricing_category END,
    pricing_type = CASE WHEN s.pricing_type = '' THEN coalesce(o.ptype, '') ELSE s.pricing_type END,
    billable = coalesce(s.billable, o.billable)
FROM old o
WHERE s.id = o.sid
RETURNING s.id, s.wamid, s.campaign_id, o.old_status, s.status, s.country, s.pricing_category, s.error_code,
    (herald_status_rank(o.old_status) IN (4, 5) AND o.old_billable IS TRUE) AS was_charged,
    (herald_status_rank(s.status) IN (4, 5) AND s.billable IS TRUE) AS is_charged,
    CASE WHEN o.old_sent_at IS NULL THEN s.sent_at END,
    CASE WHEN o.old_delivered_at IS NULL THEN s.delivered_at END,
    CASE WHEN o.old_read_at IS NULL THEN s.read_at END`

const pendingInsertSQL = `
INSERT INTO pending_statuses (wamid, send_id, status, occurred_at, payload)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::jsonb[])`

const pendingClaimSQL = `
SELECT id, payload FROM pending_statuses ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`

// inboundInsertSQL stores inbound messages once each (a replayed webhook
// inserts nothing) and links each to the campaign send it answers: by the
// context wamid, or by the send id in a herald button payload.
const inboundInsertSQL = `
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::timestamptz[], $9::bigint[])
        AS u(wamid, from_phone, context, kind, type, text, button, at, payload_send)
)
INSERT INTO inbound_messages (wamid, from_phone, contact_id, send_id, context_wamid, kind, type, text, button, occurred_at)
SELECT DISTINCT ON (u.wamid) u.wamid, u.from_phone, c.id, coalesce(w.send_id, ps.id), u.context, u.kind, u.type, u.text, u.button, u.at
FROM u
LEFT JOIN contacts c ON c.phone = u.from_phone
LEFT JOIN send_wamids w ON u.context <> '' AND w.wamid = u.context
LEFT JOIN sends ps ON ps.id = u.payload_send AND ps.contact_id = c.id
ON CONFLICT (wamid) DO NOTHING
RETURNING send_id, contact_id, kind, type, occurred_at, text`

// sendEngagedSQL marks sends replied to or clicked, returning only the
// first time each happens (the rollups count sends, not messages).
const sendEngagedSQL = `
WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bool[], $3::timestamptz[]) AS u(id, click, at)),
agg AS (
    SELECT id, min(at) FILTER (WHERE click) AS clicked, min(at) FILTER (WHERE NOT click) AS replied FROM u GROUP BY id
), old AS (
    SELECT agg.*, s.replied_at AS old_replied, s.clicked_at AS old_clicked
    FROM sends s JOIN agg ON agg.id = s.id ORDER BY s.id FOR UPDATE OF s
)
UPDATE sends s SET replied_at = coalesce(s.replied_at, o.replied), clicked_at = coalesce(s.clicked_at, o.clicked)
FROM old o WHERE s.id = o.id
RETURNING s.campaign_id,
    CASE WHEN o.old_replied IS NULL THEN s.replied_at END,
    CASE WHEN o.old_clicked IS NULL THEN s.clicked_at END`

const contactConsentByPhoneSQL = `
WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(phone, consent, source, at)),
changed AS (
    UPDATE contacts c SET consent = u.consent, consent_source = u.source, updated_at = now(),
        opted_out_at = CASE WHEN u.consent = 'opted_out' THEN u.at ELSE c.opted_out_at END,
        consent_at = CASE WHEN u.consent = 'opted_in' THEN u.at ELSE c.consent_at END
    FROM u WHERE c.phone = u.phone AND c.consent <> u.consent
    RETURNING c.id, u.consent, u.source, u.at
)
INSERT INTO consent_events (contact_id, consent, source, occurred_at) SELECT * FROM changed`

// reconcileUnknownSQL marks sends in flight for longer than $1 seconds
// unknown. It looks only at campaigns whose rollups count sends in flight:
// sends has no index on status (one would make every status update write
// every index, see migration 0009), and those campaigns' sends are read
// through the (campaign_id, contact_id) index.
const reconcileUnknownSQL = `
WITH flying AS (
    SELECT campaign_id FROM campaign_rollups GROUP BY campaign_id HAVING sum(in_flight) > 0
), stale AS (
    SELECT s.id FROM sends s
    WHERE s.campaign_id IN (SELECT campaign_id FROM flying)
      AND s.status = 'in_flight' AND s.in_flight_at < now() - make_interval(secs => $1)
    ORDER BY s.id LIMIT $2 FOR UPDATE OF s SKIP LOCKED
)
UPDATE sends s SET status = 'unknown', error_title = 'outcome unknown',
    error_details = 'no answer from the Cloud API and no status webhook before the deadline'
FROM stale WHERE s.id = stale.id
RETURNING s.campaign_id`

// messagingLimitSQL reads a sender's messaging limit and how many unique
// contacts its portfolio (the numbers of its WABA) reached with campaign
// messages in the last 24 hours.
const messagingLimitSQL = `
SELECT n.messaging_limit,
       (SELECT count(DISTINCT s.contact_id) FROM sends s
        JOIN campaigns c ON c.id = s.campaign_id
        JOIN sender_numbers o ON o.id = c.sender_id
        WHERE (o.id = n.id OR (n.waba_id <> '' AND o.waba_id = n.waba_id))
          AND s.accepted_at > now() - interval '24 hours')
FROM sender_numbers n WHERE n.id = $1`
