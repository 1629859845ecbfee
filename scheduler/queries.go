package scheduler

// SQL for the tables scheduler owns: schedules and schedule_runs. A few
// statements read or link rows of other packages' tables (lists,
// sender_numbers, campaigns); each says why.

const scheduleColumns = `id, name, cron_spec, time_zone, template, language, phone_number_id, lists, filters,
       bindings, priority, enabled, catch_up, created_at, updated_at, last_run_at, next_run_at`

const scheduleInsertSQL = `
INSERT INTO schedules (name, cron_spec, time_zone, template, language, phone_number_id, lists, filters, bindings,
                       priority, catch_up, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING ` + scheduleColumns

const scheduleGetByIDSQL = `SELECT ` + scheduleColumns + ` FROM schedules WHERE id = $1`

const scheduleGetByNameSQL = `SELECT ` + scheduleColumns + ` FROM schedules WHERE name = $1`

const scheduleListSQL = `SELECT ` + scheduleColumns + ` FROM schedules ORDER BY name`

// scheduleSetEnabledSQL turns a schedule on or off. Enabling an enabled
// schedule keeps its next_run_at, so a pending catch-up is not lost; enabling
// a disabled one starts from $3, the first run after now: a schedule does not
// catch up on the time it was switched off.
const scheduleSetEnabledSQL = `
UPDATE schedules SET enabled = $2, updated_at = now(),
    next_run_at = CASE WHEN NOT $2 THEN NULL WHEN enabled THEN next_run_at ELSE $3 END
WHERE id = $1
RETURNING ` + scheduleColumns

const scheduleDeleteSQL = `DELETE FROM schedules WHERE id = $1`

// scheduleLockDueSQL takes the next due schedule for this tick. SKIP LOCKED
// lets several ticking processes share the due schedules without waiting on
// one another; a schedule another tick holds is that tick's to run, and by
// the time it commits its next_run_at is in the future. $2 holds schedules
// this tick already failed on, so one broken schedule cannot stall the rest.
const scheduleLockDueSQL = `
SELECT ` + scheduleColumns + ` FROM schedules
WHERE enabled AND next_run_at <= $1 AND NOT (id = ANY($2::bigint[]))
ORDER BY next_run_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED`

// scheduleAdvanceSQL moves a schedule past the runs a tick handled. A spec
// that never fires again ($2 NULL) leaves the schedule disabled.
const scheduleAdvanceSQL = `
UPDATE schedules SET next_run_at = $2, enabled = enabled AND $2::timestamptz IS NOT NULL,
    last_run_at = coalesce($3, last_run_at)
WHERE id = $1`

// scheduleRunInsertSQL claims one run. A run already recorded (by a tick that
// committed first) inserts nothing, and then nobody creates its campaign.
const scheduleRunInsertSQL = `
INSERT INTO schedule_runs (schedule_id, run_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`

const scheduleRunSetCampaignSQL = `
UPDATE schedule_runs SET campaign_id = $3 WHERE schedule_id = $1 AND run_at = $2`

const scheduleRunSetErrorSQL = `
UPDATE schedule_runs SET error = $3 WHERE schedule_id = $1 AND run_at = $2`

const scheduleRunListSQL = `
SELECT run_at, campaign_id, error, created_at FROM schedule_runs
WHERE schedule_id = $1
ORDER BY run_at DESC
LIMIT $2`

// campaignFindOrphanSQL finds a campaign an earlier tick created for this run
// and then lost (the process died after campaigns.Service.Create committed
// and before the run's transaction did). Create runs in its own transaction,
// so the campaign's name, which carries the schedule and the run time, is
// what ties it to the run; a campaign already linked to a run is never taken.
// The campaigns table has no index on name; a tick runs this once per run.
const campaignFindOrphanSQL = `
SELECT c.id, c.status FROM campaigns c
WHERE c.name = $1 AND (c.schedule_id IS NULL OR c.schedule_id = $2) AND c.created_at >= $3
  AND NOT EXISTS (SELECT 1 FROM schedule_runs r WHERE r.campaign_id = c.id)
ORDER BY c.id
LIMIT 1`

// campaignSetScheduleSQL fills campaigns.schedule_id, which the core schema
// keeps for this link; campaigns.NewCampaign has no field for it.
const campaignSetScheduleSQL = `UPDATE campaigns SET schedule_id = $2 WHERE id = $1`

// audienceCheckSQL finds, at schedule creation, the lists that do not exist
// and whether the sender does, so a typo fails now rather than at 09:00.
const audienceCheckSQL = `
SELECT ARRAY(SELECT unnest($1::text[]) EXCEPT SELECT name FROM lists),
       EXISTS (SELECT 1 FROM sender_numbers WHERE phone_number_id = $2)`
