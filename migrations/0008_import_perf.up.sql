-- Importing a million contacts into a list (docs/BENCHMARKS.md, "Import").
--
-- The foreign keys of list_members ran two queries per inserted membership,
-- and the one on contacts also locked each contact FOR KEY SHARE (a WAL
-- record and a dirtied page per row, after the contact's own insert): 6 to
-- 11 s of one backend per million members, more than the rest of the
-- import's merge. They are replaced by triggers that keep what they
-- guaranteed, for every writer, with one query per statement instead of two
-- per row:
--
--   - a membership names an existing list and an existing contact: checked
--     after each INSERT or UPDATE statement over all its rows at once (an
--     anti-join), raising foreign_key_violation like the keys did;
--   - deleting a list or a contact deletes its memberships (was ON DELETE
--     CASCADE), and so does truncating either table.
--
-- The keys' row locks also kept a list or contact from being deleted between
-- the check and the commit of a transaction adding members to it. Advisory
-- lock 7402113903 does that instead: a statement adding members takes it
-- shared before its check and keeps it to the end of its transaction; a
-- statement deleting lists or contacts takes it exclusively before deleting
-- anything, so it waits for those transactions to commit and then sees (and
-- deletes) their members, and a check that starts meanwhile waits for the
-- delete to commit and no longer sees the contact. In READ COMMITTED, each
-- statement of these functions reads with a new snapshot. Deletes of
-- contacts and lists are rare (herald makes none) and briefly serialised.
ALTER TABLE list_members DROP CONSTRAINT list_members_list_id_fkey;
ALTER TABLE list_members DROP CONSTRAINT list_members_contact_id_fkey;

CREATE FUNCTION herald_list_members_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7402113903);
    -- Aggregates rather than LIMIT 1, which would lead the planner to
    -- expect an early match and probe an index once per row.
    SELECT min(n.list_id) INTO missing
    FROM (SELECT DISTINCT list_id FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM lists l WHERE l.id = n.list_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "list_members" violates foreign key constraint "list_members_list_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'list_members', CONSTRAINT = 'list_members_list_id_fkey',
                  DETAIL = format('Key (list_id)=(%s) is not present in table "lists".', missing);
    END IF;
    SELECT min(n.contact_id) INTO missing
    FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = n.contact_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "list_members" violates foreign key constraint "list_members_contact_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'list_members', CONSTRAINT = 'list_members_contact_id_fkey',
                  DETAIL = format('Key (contact_id)=(%s) is not present in table "contacts".', missing);
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger, hence two.
CREATE TRIGGER list_members_check_insert AFTER INSERT ON list_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_check();
CREATE TRIGGER list_members_check_update AFTER UPDATE ON list_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_check();

CREATE FUNCTION herald_list_members_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7402113903);
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_lock_members BEFORE DELETE OR TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_lock();
CREATE TRIGGER lists_lock_members BEFORE DELETE OR TRUNCATE ON lists
    FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_lock();

CREATE FUNCTION herald_contacts_delete_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM list_members m USING old_rows o WHERE m.contact_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_delete_members AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_contacts_delete_members();

CREATE FUNCTION herald_lists_delete_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM list_members m USING old_rows o WHERE m.list_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER lists_delete_members AFTER DELETE ON lists
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION herald_lists_delete_members();

CREATE FUNCTION herald_list_members_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE list_members;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_truncate_members AFTER TRUNCATE ON contacts
    FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_truncate();
CREATE TRIGGER lists_truncate_members AFTER TRUNCATE ON lists
    FOR EACH STATEMENT EXECUTE FUNCTION herald_list_members_truncate();
