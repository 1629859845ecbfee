-- Conversions (purchases, sign-ups ...) reported by the business, and the
-- campaign message each is attributed to: the last one delivered to that
-- contact at or before the conversion, within the attribution window.
CREATE TABLE conversions (
    id           bigserial PRIMARY KEY,
    -- NULL when the phone matches no contact: the conversion is kept (it is
    -- revenue) but cannot be attributed.
    contact_id   bigint REFERENCES contacts (id) ON DELETE SET NULL,
    phone        text NOT NULL DEFAULT '',
    value_micros bigint NOT NULL,
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    occurred_at  timestamptz NOT NULL,
    -- The business's own id (order number): importing the same file twice
    -- records each conversion once. Several NULLs are allowed.
    reference    text UNIQUE,
    source       text NOT NULL DEFAULT '',
    send_id      bigint REFERENCES sends (id) ON DELETE SET NULL,
    campaign_id  bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX conversions_campaign_idx ON conversions (campaign_id) WHERE campaign_id IS NOT NULL;
CREATE INDEX conversions_contact_idx ON conversions (contact_id, occurred_at);

-- Counters for campaign reports, which must not grow with the size of a
-- campaign. Both are kept by statement-level triggers, so they are exact in
-- the transaction of every write, whoever writes (one grouped upsert per
-- statement, not per row), and a report reads a handful of rows.
--
-- When a campaign is deleted its rows cascade away and the triggers skip
-- campaigns that no longer exist. Each upsert takes its counter rows in
-- (campaign, key) order, so two writers cannot deadlock on them.

-- Attributed conversions per campaign and currency.
CREATE TABLE campaign_conversions (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    currency     text NOT NULL,
    count        bigint NOT NULL DEFAULT 0,
    value_micros bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, currency)
);

CREATE FUNCTION campaign_conversions_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO campaign_conversions AS cc (campaign_id, currency, count, value_micros)
        SELECT o.campaign_id, o.currency, -count(*), -sum(o.value_micros)
        FROM old_rows o
        WHERE o.campaign_id IS NOT NULL AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = o.campaign_id)
        GROUP BY o.campaign_id, o.currency
        ORDER BY o.campaign_id, o.currency
        ON CONFLICT (campaign_id, currency)
        DO UPDATE SET count = cc.count + excluded.count, value_micros = cc.value_micros + excluded.value_micros;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO campaign_conversions AS cc (campaign_id, currency, count, value_micros)
        SELECT n.campaign_id, n.currency, count(*), sum(n.value_micros)
        FROM new_rows n
        WHERE n.campaign_id IS NOT NULL AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.campaign_id)
        GROUP BY n.campaign_id, n.currency
        ORDER BY n.campaign_id, n.currency
        ON CONFLICT (campaign_id, currency)
        DO UPDATE SET count = cc.count + excluded.count, value_micros = cc.value_micros + excluded.value_micros;
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger, hence three.
CREATE TRIGGER conversions_count_insert AFTER INSERT ON conversions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_conversions_apply();
CREATE TRIGGER conversions_count_update AFTER UPDATE ON conversions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_conversions_apply();
CREATE TRIGGER conversions_count_delete AFTER DELETE ON conversions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_conversions_apply();

-- Excluded recipients per campaign and reason. campaign_exclusions has no
-- rollup in 0001 and a report would otherwise count every excluded row on
-- each view. Sharded by the writer's backend like campaign_rollups, so
-- concurrent writers of one campaign rarely wait on one counter row; a
-- report sums the slots. A slot may go negative after deletes; the sum is
-- what counts.
CREATE TABLE campaign_exclusion_counts (
    campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    reason      text NOT NULL,
    slot        smallint NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, reason, slot)
);

INSERT INTO campaign_exclusion_counts (campaign_id, reason, slot, count)
SELECT campaign_id, reason, 0, count(*) FROM campaign_exclusions GROUP BY campaign_id, reason;

CREATE FUNCTION campaign_exclusion_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO campaign_exclusion_counts AS ec (campaign_id, reason, slot, count)
        SELECT o.campaign_id, o.reason, (pg_backend_pid() % 8)::smallint, -count(*)
        FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = o.campaign_id)
        GROUP BY o.campaign_id, o.reason
        ORDER BY o.campaign_id, o.reason
        ON CONFLICT (campaign_id, reason, slot) DO UPDATE SET count = ec.count + excluded.count;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO campaign_exclusion_counts AS ec (campaign_id, reason, slot, count)
        SELECT n.campaign_id, n.reason, (pg_backend_pid() % 8)::smallint, count(*)
        FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.campaign_id)
        GROUP BY n.campaign_id, n.reason
        ORDER BY n.campaign_id, n.reason
        ON CONFLICT (campaign_id, reason, slot) DO UPDATE SET count = ec.count + excluded.count;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER campaign_exclusions_count_insert AFTER INSERT ON campaign_exclusions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_exclusion_counts_apply();
CREATE TRIGGER campaign_exclusions_count_update AFTER UPDATE ON campaign_exclusions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_exclusion_counts_apply();
CREATE TRIGGER campaign_exclusions_count_delete AFTER DELETE ON campaign_exclusions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION campaign_exclusion_counts_apply();
