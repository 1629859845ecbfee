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

-- A campaign report sums its conversions by currency.
CREATE INDEX conversions_campaign_idx ON conversions (campaign_id, currency) INCLUDE (value_micros)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX conversions_contact_idx ON conversions (contact_id, occurred_at);

-- Campaign reports count exclusions by reason on every view (there is no
-- rollup for them); this index lets that be an index-only scan of one
-- campaign's entries instead of a visit to each excluded row.
CREATE INDEX campaign_exclusions_reason_idx ON campaign_exclusions (campaign_id, reason);
