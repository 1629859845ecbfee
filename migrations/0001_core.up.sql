-- herald's core schema: contacts and lists, templates and sender numbers,
-- campaigns and their sends, raw webhook events and what they became.

CREATE TABLE sender_numbers (
    id                   bigserial PRIMARY KEY,
    phone_number_id      text NOT NULL UNIQUE,
    display_phone_number text NOT NULL DEFAULT '',
    waba_id              text NOT NULL DEFAULT '',
    -- Messages per second the Cloud API allows this number (80 by default,
    -- 1,000 after Meta's automatic upgrade).
    rate_per_second      integer NOT NULL DEFAULT 80 CHECK (rate_per_second BETWEEN 1 AND 1000),
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stopped')),
    stopped_reason       text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE templates (
    id               bigserial PRIMARY KEY,
    external_id      text NOT NULL DEFAULT '',
    name             text NOT NULL,
    language         text NOT NULL,
    category         text NOT NULL,
    status           text NOT NULL,
    parameter_format text NOT NULL DEFAULT 'POSITIONAL',
    components       jsonb NOT NULL DEFAULT '[]',
    synced_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, language)
);

CREATE TABLE contacts (
    id             bigserial PRIMARY KEY,
    phone          text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    wa_id          text NOT NULL DEFAULT '',
    name           text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    -- ISO 3166-1 alpha-2 region of the number ("BR"), for pricing markets,
    -- time zones and the per-country report.
    country        text NOT NULL DEFAULT '',
    attributes     jsonb NOT NULL DEFAULT '{}',
    consent        text NOT NULL DEFAULT 'not_opted_in'
                   CHECK (consent IN ('opted_in', 'not_opted_in', 'opted_out')),
    consent_source text NOT NULL DEFAULT '',
    consent_at     timestamptz,
    opted_out_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lists (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE list_members (
    list_id    bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, contact_id)
);

CREATE INDEX list_members_contact_idx ON list_members (contact_id);

CREATE TABLE imports (
    id             bigserial PRIMARY KEY,
    list_id        bigint REFERENCES lists (id) ON DELETE SET NULL,
    file_name      text NOT NULL DEFAULT '',
    format         text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    error          text NOT NULL DEFAULT '',
    rows           integer NOT NULL DEFAULT 0,
    imported       integer NOT NULL DEFAULT 0,
    updated        integer NOT NULL DEFAULT 0,
    invalid        integer NOT NULL DEFAULT 0,
    duplicates     integer NOT NULL DEFAULT 0,
    opted_in       integer NOT NULL DEFAULT 0,
    not_opted_in   integer NOT NULL DEFAULT 0,
    kept_opted_out integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);

CREATE TABLE import_errors (
    import_id bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line      integer NOT NULL,
    column_name text NOT NULL DEFAULT '',
    reason    text NOT NULL
);

CREATE INDEX import_errors_import_idx ON import_errors (import_id, line);

CREATE TABLE campaigns (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    template_id   bigint NOT NULL REFERENCES templates (id),
    sender_id     bigint NOT NULL REFERENCES sender_numbers (id),
    list_ids      bigint[] NOT NULL,
    -- Attribute filters: {"attribute": "value", ...}, all must match.
    filters       jsonb NOT NULL DEFAULT '{}',
    -- Parameter bindings: [{"component","index","param","field","format","default"}].
    bindings      jsonb NOT NULL DEFAULT '[]',
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')),
    status_reason text NOT NULL DEFAULT '',
    -- Lower runs first: River job priority 1 (urgent) to 4 (bulk).
    priority      smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    start_at      timestamptz,
    window_start  time,
    window_end    time,
    schedule_id   bigint,
    -- Consecutive sends that failed with the same code; the campaign pauses
    -- when it reaches the threshold instead of burning the list.
    failure_streak_code  integer NOT NULL DEFAULT 0,
    failure_streak_count integer NOT NULL DEFAULT 0,
    audience      integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);

-- One row per campaign × recipient. The unique constraint is the first line of
-- "never twice to the same person".
-- Status order for monotonic updates: a status only ever moves to a higher
-- rank, so replayed or reordered webhooks change nothing. failed is final and
-- honoured even after delivered; unknown yields to any webhook that proves
-- what happened.
CREATE FUNCTION herald_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'in_flight' THEN 1 WHEN 'accepted' THEN 2
        WHEN 'unknown' THEN 2 WHEN 'sent' THEN 3 WHEN 'delivered' THEN 4
        WHEN 'read' THEN 5 WHEN 'failed' THEN 6 WHEN 'cancelled' THEN 7
    END
$$;

CREATE TABLE sends (
    id             bigserial PRIMARY KEY,
    campaign_id    bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id     bigint NOT NULL REFERENCES contacts (id),
    phone          text NOT NULL,
    country        text NOT NULL DEFAULT '',
    -- Every bound parameter's value, resolved and frozen at expansion, in
    -- the order of the campaign's bindings.
    params         text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'in_flight', 'accepted', 'unknown', 'sent',
                                     'delivered', 'read', 'failed', 'cancelled')),
    wamid          text,
    wa_id          text NOT NULL DEFAULT '',
    attempts       smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    error_code     integer,
    error_title    text NOT NULL DEFAULT '',
    error_details  text NOT NULL DEFAULT '',
    pricing_category text NOT NULL DEFAULT '',
    pricing_type   text NOT NULL DEFAULT '',
    billable       boolean,
    queued_at      timestamptz NOT NULL DEFAULT now(),
    in_flight_at   timestamptz,
    accepted_at    timestamptz,
    sent_at        timestamptz,
    delivered_at   timestamptz,
    read_at        timestamptz,
    failed_at      timestamptz,
    replied_at     timestamptz,
    clicked_at     timestamptz,
    UNIQUE (campaign_id, contact_id)
);

CREATE UNIQUE INDEX sends_wamid_idx ON sends (wamid) WHERE wamid IS NOT NULL;
-- The dispatcher and the completion check look only at unfinished sends; a
-- partial index keeps that cheap when a campaign has a million finished rows.
CREATE INDEX sends_open_idx ON sends (campaign_id, id) WHERE status IN ('queued', 'in_flight');
CREATE INDEX sends_contact_idx ON sends (contact_id);

-- Recipients a campaign did not message, and why.
CREATE TABLE campaign_exclusions (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES contacts (id),
    reason      text NOT NULL
                CHECK (reason IN ('not_opted_in', 'opted_out', 'invalid', 'duplicate',
                                  'missing_parameter', 'outside_window', 'filtered')),
    detail      text NOT NULL DEFAULT '',
    PRIMARY KEY (campaign_id, contact_id)
);

-- Exact counters per campaign, kept in the same transaction as every status
-- change. Sharded (slot) so that concurrent workers do not queue on one row;
-- a report sums the slots.
CREATE TABLE campaign_rollups (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    slot        smallint NOT NULL,
    queued      bigint NOT NULL DEFAULT 0,
    in_flight   bigint NOT NULL DEFAULT 0,
    accepted    bigint NOT NULL DEFAULT 0,
    unknown     bigint NOT NULL DEFAULT 0,
    sent        bigint NOT NULL DEFAULT 0,
    delivered   bigint NOT NULL DEFAULT 0,
    read        bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    cancelled   bigint NOT NULL DEFAULT 0,
    replied     bigint NOT NULL DEFAULT 0,
    clicked     bigint NOT NULL DEFAULT 0,
    cost_micros bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, slot)
);

-- Raw webhook bodies, append-only, stored before the receiver answers 200.
CREATE TABLE webhook_events (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    body        bytea NOT NULL,
    applied_at  timestamptz
);

CREATE INDEX webhook_events_unapplied_idx ON webhook_events (id) WHERE applied_at IS NULL;

-- Status updates that could not yet be matched to a send (the webhook came
-- before the send's own commit). Retried by the applier until matched or stale.
CREATE TABLE pending_statuses (
    id          bigserial PRIMARY KEY,
    wamid       text NOT NULL,
    send_id     bigint,
    status      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX pending_statuses_wamid_idx ON pending_statuses (wamid);

CREATE TABLE inbound_messages (
    id           bigserial PRIMARY KEY,
    wamid        text NOT NULL UNIQUE,
    from_phone   text NOT NULL,
    contact_id   bigint REFERENCES contacts (id),
    send_id      bigint REFERENCES sends (id) ON DELETE SET NULL,
    context_wamid text NOT NULL DEFAULT '',
    kind         text NOT NULL CHECK (kind IN ('reply', 'click', 'opt_out', 'opt_in', 'other')),
    type         text NOT NULL,
    text         text NOT NULL DEFAULT '',
    button       text NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbound_messages_send_idx ON inbound_messages (send_id);

-- Consent changes, newest last: who changed a contact's consent, when and why.
CREATE TABLE consent_events (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    consent     text NOT NULL CHECK (consent IN ('opted_in', 'not_opted_in', 'opted_out')),
    source      text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

-- Failed sends per error code, kept exact like campaign_rollups.
CREATE TABLE campaign_failures (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    error_code  integer NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, error_code)
);

-- Events per campaign per minute (sent, delivered, read, failed, replied,
-- clicked) for the report's time series.
CREATE TABLE campaign_minutes (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    minute      timestamptz NOT NULL,
    event       text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, minute, event)
);
