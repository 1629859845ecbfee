-- A send row is updated about five times in its life: claimed, committed
-- with its wamid, then sent, delivered and read by webhooks. Each update
-- that changes an indexed column (or a column in an index's predicate)
-- writes a new entry into every index of the table; one that changes none
-- and finds room on its page is a HOT update, which touches no index.
-- sends_in_flight_idx (its predicate reads status) and sends_wamid_idx made
-- every one of those updates write four index entries: measured at a
-- million sends, each update cost twice what a HOT one does
-- (docs/BENCHMARKS.md, "Campaign engine").
--
-- The wamid lookup moves to its own table, written once per accepted send.
-- sends.wamid stays as the send's record; send_wamids is how a webhook or a
-- reply that carries only a wamid finds its send.
CREATE TABLE send_wamids (
    wamid   text PRIMARY KEY,
    send_id bigint NOT NULL
);
INSERT INTO send_wamids (wamid, send_id) SELECT wamid, id FROM sends WHERE wamid IS NOT NULL;
DROP INDEX sends_wamid_idx;

-- Reconciliation finds sends stuck in flight through the campaigns whose
-- rollups count sends in flight (campaigns.Reconcile), not through an index.
DROP INDEX sends_in_flight_idx;

-- Room on each page for the new versions of its rows: new pages are filled
-- to 60%, so status updates stay on their page and stay HOT.
ALTER TABLE sends SET (fillfactor = 60);

-- Deleting a campaign deletes its sends and their wamids.
CREATE OR REPLACE FUNCTION herald_campaigns_delete_sends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH gone AS (DELETE FROM sends s USING old_rows o WHERE s.campaign_id = o.id RETURNING s.wamid)
    DELETE FROM send_wamids w USING gone WHERE w.wamid = gone.wamid;
    RETURN NULL;
END
$$;
