-- The campaign engine at a million sends (docs/BENCHMARKS.md, "Campaign
-- engine"): what a send row costs to insert at expansion and to update as it
-- moves through its statuses.

-- Foreign keys of sends. Their checks run once per inserted row, and the
-- check on contacts also locks each contact row (a WAL record and a dirtied
-- page per recipient): together they cost more than the rest of an
-- expansion's insert. Both hold by construction instead. Sends are inserted
-- only by expansion, from the contacts it selects in the same statement and
-- while it holds its campaign's row lock (FOR UPDATE), so a send never names
-- a missing campaign or contact when it is written. What the keys also did on
-- delete is kept by the triggers below.
ALTER TABLE sends DROP CONSTRAINT sends_campaign_id_fkey;
ALTER TABLE sends DROP CONSTRAINT sends_contact_id_fkey;

-- Deleting a campaign deletes its sends (was ON DELETE CASCADE).
CREATE FUNCTION herald_campaigns_delete_sends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sends s USING old_rows o WHERE s.campaign_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER campaigns_delete_sends AFTER DELETE ON campaigns
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_campaigns_delete_sends();

-- A contact that a campaign has a send for cannot be deleted (was the
-- default NO ACTION). The foreign key's row lock made a delete wait for an
-- expansion in progress that had selected the contact; here the delete takes
-- advisory lock 7234012 (shared by every expansion, see campaigns.expandTx)
-- exclusively, so it waits for expansions in progress to commit and then
-- sees their sends, and an expansion that starts meanwhile waits for the
-- delete and no longer sees the contact. In READ COMMITTED, each statement of
-- this function reads with a new snapshot.
CREATE FUNCTION herald_contacts_keep_sent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sent bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7234012);
    SELECT o.id INTO sent FROM old_rows o WHERE EXISTS (SELECT 1 FROM sends s WHERE s.contact_id = o.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'contact % has campaign sends', sent
            USING ERRCODE = 'foreign_key_violation', TABLE = 'sends';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_keep_sent AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_contacts_keep_sent();

-- sends_open_idx held every queued send, so expansion wrote one more index
-- entry per recipient, and every status change moved the row in it. Dispatch
-- reads a job's range through the primary key instead, and whether a campaign
-- has open sends comes from its rollups. What still has to find sends by
-- status across campaigns is reconciliation, which looks for sends in flight
-- too long: this index holds only those.
DROP INDEX sends_open_idx;
CREATE INDEX sends_in_flight_idx ON sends (in_flight_at) WHERE status = 'in_flight';
