-- list_members_contact_idx found the lists of a contact. No query of
-- herald's reads memberships by contact: campaigns read them by list (the
-- primary key), and only a delete of contacts, which herald never makes,
-- looks them up by contact (migration 0008's trigger). Every membership an
-- import wrote paid for the index: about 1 s of a million-row import's
-- merge, a tenth of it (docs/BENCHMARKS.md, "Import"). Without it, a
-- statement deleting contacts reads list_members once, whatever the number
-- of contacts it deletes: 80 ms for a million memberships.
DROP INDEX list_members_contact_idx;
