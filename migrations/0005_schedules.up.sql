-- Cron schedules that turn into campaigns, and the runs they made.

CREATE TABLE schedules (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    -- A robfig/cron v3 standard spec (5 fields or a descriptor such as
    -- @daily), never with a TZ= or CRON_TZ= prefix: the zone is its own
    -- column, checked with time.LoadLocation, and herald prepends it.
    cron_spec       text NOT NULL CHECK (cron_spec !~ '^\s*(CRON_)?TZ='),
    time_zone       text NOT NULL,
    -- The campaign each run creates. filters values may hold run-relative
    -- date tokens ({{run_date+1d}}), resolved when the run happens.
    template        text NOT NULL,
    language        text NOT NULL,
    phone_number_id text NOT NULL,
    lists           text[] NOT NULL,
    filters         jsonb NOT NULL DEFAULT '{}',
    bindings        jsonb NOT NULL DEFAULT '[]',
    priority        smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    enabled         boolean NOT NULL DEFAULT true,
    -- What a tick does with runs it finds missed: skip (make only the
    -- latest), none (make none), all (make each, up to a cap).
    catch_up        text NOT NULL DEFAULT 'skip' CHECK (catch_up IN ('skip', 'none', 'all')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- The latest run a tick handled, and the first it has not; NULL next
    -- while disabled.
    last_run_at     timestamptz,
    next_run_at     timestamptz,
    CHECK (NOT enabled OR next_run_at IS NOT NULL)
);

-- The tick's only query over schedules: the enabled ones that are due.
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE enabled;

-- One row per run a schedule made. The primary key is what makes a run
-- happen once: the tick inserts it ON CONFLICT DO NOTHING, in the same
-- transaction that advances the schedule's next_run_at, and only the inserter
-- creates the campaign. A run whose campaign could not be created (its
-- template or list was gone) keeps the reason in error and is not retried.
CREATE TABLE schedule_runs (
    schedule_id bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    run_at      timestamptz NOT NULL,
    campaign_id bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, run_at)
);

-- Finding whether a campaign already belongs to a run (crash recovery), and
-- the foreign key's check when a campaign is deleted.
CREATE INDEX schedule_runs_campaign_idx ON schedule_runs (campaign_id) WHERE campaign_id IS NOT NULL;
