package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// importLockID serialises imports (a transaction-level advisory lock): two
// imports touching the same contacts would otherwise count each other's
// rows, and running them side by side gains nothing on one database.
const importLockID = 7_402_113_902

const importLock = `SELECT pg_advisory_xact_lock($1)`

// importSettings apply to the import's transaction only. The merge sorts
// every staged row once (to deduplicate and to insert in index order) and
// keeps the result for the statement's five readers: give both memory
// rather than temporary files. For 1M rows that is about 215 MB for the sort
// and as much for the result; at 256 MB the result went to a temporary
// file, written once and read four times (merges of 1M new contacts,
// alternating settings on a busy host: 12.1-16.7 s at 512 MB against
// 13.2-19.4 s at 256 MB). Imports run one at a time. JIT compilation of the
// one big statement costs more than it saves.
const importSettings = `SET LOCAL work_mem = '512MB'; SET LOCAL jit = off`

// membersLock is the lock list_members' check trigger takes (migration
// 0008), taken shared for the whole import: a delete of a contact or a list
// waits for the import to commit, and one that committed before it is seen
// by every statement the import runs after it. So the contacts the merge
// reads stay until the commit, and the memberships it writes name existing
// contacts (read under the lock, or inserted by the same statement) and the
// list it created or found: the check has nothing left to find.
const membersLock = `SELECT pg_advisory_xact_lock_shared(7402113903)`

// membersCheckOff switches the check trigger off for the import's own
// inserts, and membersCheckOn back on before the commit, so that no other
// transaction ever sees it off: until then they read the catalog as it was,
// and the ALTER's lock (SHARE ROW EXCLUSIVE on list_members, to the end of
// the transaction) makes any that would write memberships wait, while
// reading them goes on. The check costs a million-row import about 1.3 s
// (capturing the new rows, then the anti-join), a tenth of its merge. A
// role that does not own list_members cannot switch it off; the import then
// runs with the check on (see checkMembersOff).
const (
	membersCheckOff = `ALTER TABLE list_members DISABLE TRIGGER list_members_check_insert`
	membersCheckOn  = `ALTER TABLE list_members ENABLE TRIGGER list_members_check_insert`
)

// listEnsure returns the id of the named list, creating it. DO UPDATE (not
// DO NOTHING) so that RETURNING yields the row when it already exists.
const listEnsure = `
INSERT INTO lists (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = excluded.name
RETURNING id`

const importCreate = `
INSERT INTO imports (list_id, file_name, format, status)
VALUES ($1, $2, $3, 'running')
RETURNING id, created_at`

// stageCreate is the staging table COPY fills: one row per contact or per
// row error (err_reason set), in file order. A temporary table is private to
// the session and writes no WAL. The partial index lets errorsSave read
// only the errors (a few pages, or none) rather than every staged row.
const stageCreate = `
CREATE TEMP TABLE import_stage (
    line       integer NOT NULL,
    phone      text,
    country    text,
    name       text,
    email      text,
    attributes jsonb,
    consent    text,
    consent_at timestamptz,
    err_column text,
    err_reason text,
    phone_key  bigint -- the number's digits (phoneKey), to sort by
) ON COMMIT DROP;
CREATE INDEX ON import_stage (line) WHERE err_reason IS NOT NULL`

// seenCreate holds every number an import has merged so far, when it merges
// in chunks: a row repeating a number of an earlier chunk is a duplicate.
// Numbers are kept as their phone_key: a smaller index than text, compared
// faster.
const seenCreate = `CREATE TEMP TABLE import_seen (phone_key bigint PRIMARY KEY) ON COMMIT DROP`

// stageDropSeen removes from the staged chunk the rows whose number an
// earlier chunk had, then remembers the numbers of this one, in key order
// (repeats within the chunk are left to contactsMerge). A plain insert of
// the numbers left is cheaper than inserting all of them ON CONFLICT DO
// NOTHING and deleting those it did not insert (1M rows in 40 chunks:
// 3.7 s against 4.3 s by key, 7.1 s by text).
const stageDropSeen = `
DELETE FROM import_stage s USING import_seen x
WHERE s.err_reason IS NULL AND s.phone_key = x.phone_key;
INSERT INTO import_seen (phone_key)
SELECT DISTINCT phone_key FROM import_stage WHERE err_reason IS NULL ORDER BY phone_key`

const seenDrop = `DROP TABLE import_seen`

const stageCopy = `COPY import_stage (line, phone, country, name, email, attributes, consent, consent_at,
    err_column, err_reason, phone_key) FROM STDIN (FORMAT binary)`

// stageAnalyze gives the planner the staging table's size, which is what
// it needs (hash joins, not nested loops, over a million rows). A sample of
// 3,000 rows (statistics target 10) measures it as well as the default
// 30,000, and reads a tenth of a large table: 0.05 s against 0.6 s for a
// million rows.
const stageAnalyze = `SET LOCAL default_statistics_target = 10; ANALYZE import_stage; RESET default_statistics_target`

const stageTruncate = `TRUNCATE import_stage`

const stageDrop = `DROP TABLE import_stage`

const errorsSave = `
INSERT INTO import_errors (import_id, line, column_name, reason)
SELECT $1, line, err_column, err_reason
FROM import_stage
WHERE err_reason IS NOT NULL`

// contactsMerge writes the staged contacts and their list membership in one
// statement, and counts what it did.
//
//   - src keeps the first row of each number (DISTINCT ON … ORDER BY
//     phone_key, line) with the contact that has the number, if any (its
//     consent before the import). Sorted by number, new contacts go into the
//     unique index in its own order. The sort compares the numbers' digits
//     as integers (phone_key): a third to a half faster than comparing text,
//     even bytewise, and the text's order among numbers of one length.
//   - ins inserts the new contacts with a plain INSERT: no ON CONFLICT, whose
//     speculative insertion costs a third more per row. A contact created
//     by another transaction after src was read makes it fail with a unique
//     violation; load then runs the statement again (see mergeAttempts).
//   - upd updates the existing contacts that the row changes, and only
//     those (re-importing a list writes nothing). src tells which from the
//     contact it read (changes), so that unchanged contacts are not joined
//     again; the update checks once more against the row it locks. Consent
//     only rises from not_opted_in to opted_in, and opted_out is never left
//     (the file may opt someone out). A blank name or email keeps the
//     stored one; attributes are merged.
//   - the new contacts join the list with a plain INSERT (they cannot be
//     members yet); existing ones unless they are members already, with ON
//     CONFLICT DO NOTHING for a membership added meanwhile. list_members
//     has no foreign keys (migration 0008), and the import holds
//     membersLock, so the contacts src read stay to the commit; its check
//     trigger is off for these inserts (membersCheckOff) or, for a role
//     that cannot switch it off, finds nothing.
//   - events records the consent changes of existing contacts.
//
// The counts come from aggregates over each part, without joining them.
// $1 is the list id, $2 the consent source ("import:<id>").
const contactsMerge = `
WITH src AS MATERIALIZED (
    SELECT DISTINCT ON (s.phone_key) s.phone, s.country, s.name, s.email, s.attributes, s.consent, s.consent_at,
           c.id AS contact_id, c.consent AS before,
           ((s.name <> '' AND s.name <> c.name)
             OR (s.email <> '' AND s.email <> c.email)
             OR (c.country = '' AND s.country <> '')
             OR NOT c.attributes @> s.attributes
             OR (c.consent <> 'opted_out' AND s.consent = 'opted_out')
             OR (c.consent = 'not_opted_in' AND s.consent = 'opted_in')) AS changes
    FROM import_stage s
    LEFT JOIN contacts c ON c.phone = s.phone
    WHERE s.err_reason IS NULL
    ORDER BY s.phone_key, s.line
),
ins AS (
    INSERT INTO contacts (phone, country, name, email, attributes, consent, consent_source, consent_at, opted_out_at)
    SELECT phone, country, name, email, attributes, consent,
           CASE WHEN consent = 'not_opted_in' THEN '' ELSE $2::text END,
           CASE WHEN consent = 'opted_in' THEN coalesce(consent_at, now()) END,
           CASE WHEN consent = 'opted_out' THEN now() END
    FROM src
    WHERE contact_id IS NULL
    RETURNING id, consent
),
upd AS (
    UPDATE contacts c SET
        name = CASE WHEN s.name = '' THEN c.name ELSE s.name END,
        email = CASE WHEN s.email = '' THEN c.email ELSE s.email END,
        country = CASE WHEN c.country = '' THEN s.country ELSE c.country END,
        attributes = c.attributes || s.attributes,
        consent = CASE
            WHEN c.consent = 'opted_out' OR s.consent = 'opted_out' THEN 'opted_out'
            WHEN s.consent = 'opted_in' THEN 'opted_in'
            ELSE c.consent
        END,
        consent_source = CASE
            WHEN (c.consent <> 'opted_out' AND s.consent = 'opted_out')
              OR (c.consent = 'not_opted_in' AND s.consent = 'opted_in') THEN $2::text
            ELSE c.consent_source
        END,
        consent_at = CASE
            WHEN c.consent = 'not_opted_in' AND s.consent = 'opted_in' THEN coalesce(s.consent_at, now())
            ELSE c.consent_at
        END,
        opted_out_at = CASE
            WHEN c.consent <> 'opted_out' AND s.consent = 'opted_out' THEN now()
            ELSE c.opted_out_at
        END,
        updated_at = now()
    FROM src s
    WHERE s.changes AND c.id = s.contact_id
      AND ((s.name <> '' AND s.name <> c.name)
        OR (s.email <> '' AND s.email <> c.email)
        OR (c.country = '' AND s.country <> '')
        OR NOT c.attributes @> s.attributes
        OR (c.consent <> 'opted_out' AND s.consent = 'opted_out')
        OR (c.consent = 'not_opted_in' AND s.consent = 'opted_in'))
    RETURNING c.id, c.consent AS after, s.before
),
members_new AS (
    INSERT INTO list_members (list_id, contact_id)
    SELECT $1::bigint, id FROM ins
),
members_old AS (
    INSERT INTO list_members (list_id, contact_id)
    SELECT $1::bigint, contact_id FROM src
    WHERE contact_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM list_members m WHERE m.list_id = $1::bigint AND m.contact_id = src.contact_id)
    ON CONFLICT DO NOTHING
),
events AS (
    INSERT INTO consent_events (contact_id, consent, source)
    SELECT id, after, $2::text FROM upd WHERE after <> before
),
i AS (
    SELECT count(*) AS n,
           count(*) FILTER (WHERE consent = 'opted_in') AS opted_in,
           count(*) FILTER (WHERE consent = 'not_opted_in') AS not_opted_in,
           count(*) FILTER (WHERE consent = 'opted_out') AS opted_out
    FROM ins
),
u AS (
    SELECT count(*) AS n,
           count(*) FILTER (WHERE after = 'opted_in') AS opted_in,
           count(*) FILTER (WHERE after = 'not_opted_in') AS not_opted_in,
           count(*) FILTER (WHERE after = 'opted_out' AND before <> 'opted_out') AS opted_out,
           count(*) FILTER (WHERE before = 'opted_in') AS was_opted_in,
           count(*) FILTER (WHERE before = 'not_opted_in') AS was_not_opted_in
    FROM upd
),
e AS (
    SELECT count(*) AS distinct_rows,
           count(contact_id) AS n,
           count(*) FILTER (WHERE before = 'opted_in') AS was_opted_in,
           count(*) FILTER (WHERE before = 'not_opted_in') AS was_not_opted_in,
           count(*) FILTER (WHERE before = 'opted_out') AS was_opted_out
    FROM src
)
SELECT
    e.distinct_rows,
    i.n AS imported,
    u.n AS updated,
    e.n - u.n AS unchanged,
    i.opted_in + u.opted_in + e.was_opted_in - u.was_opted_in AS opted_in,
    i.not_opted_in + u.not_opted_in + e.was_not_opted_in - u.was_not_opted_in AS not_opted_in,
    i.opted_out + u.opted_out AS opted_out,
    e.was_opted_out AS kept_opted_out
FROM i, u, e`

// mergeAttempts bounds how often contactsMerge is run again after another
// transaction created or deleted one of the import's contacts under it.
const mergeAttempts = 3

// mergeResult is the row contactsMerge returns.
type mergeResult struct {
	DistinctRows int `db:"distinct_rows"`
	Imported     int `db:"imported"`
	Updated      int `db:"updated"`
	Unchanged    int `db:"unchanged"`
	OptedIn      int `db:"opted_in"`
	NotOptedIn   int `db:"not_opted_in"`
	OptedOut     int `db:"opted_out"`
	KeptOptedOut int `db:"kept_opted_out"`
}

func (m *mergeResult) add(o mergeResult) {
	m.DistinctRows += o.DistinctRows
	m.Imported += o.Imported
	m.Updated += o.Updated
	m.Unchanged += o.Unchanged
	m.OptedIn += o.OptedIn
	m.NotOptedIn += o.NotOptedIn
	m.OptedOut += o.OptedOut
	m.KeptOptedOut += o.KeptOptedOut
}

const importFinish = `
UPDATE imports SET
    status = 'completed', finished_at = now(),
    rows = @rows, imported = @imported, updated = @updated, unchanged = @unchanged,
    invalid = @invalid, duplicates = @duplicates, skipped = @skipped,
    opted_in = @opted_in, not_opted_in = @not_opted_in, opted_out = @opted_out,
    kept_opted_out = @kept_opted_out, details = @details
WHERE id = @id
RETURNING finished_at`

// importRow is an imports row with its list's name.
type importRow struct {
	ID           int64      `db:"id"`
	List         *string    `db:"list"`
	FileName     string     `db:"file_name"`
	Format       string     `db:"format"`
	Status       string     `db:"status"`
	Rows         int        `db:"rows"`
	Imported     int        `db:"imported"`
	Updated      int        `db:"updated"`
	Unchanged    int        `db:"unchanged"`
	Invalid      int        `db:"invalid"`
	Duplicates   int        `db:"duplicates"`
	Skipped      int        `db:"skipped"`
	OptedIn      int        `db:"opted_in"`
	NotOptedIn   int        `db:"not_opted_in"`
	OptedOut     int        `db:"opted_out"`
	KeptOptedOut int        `db:"kept_opted_out"`
	Details      []byte     `db:"details"`
	CreatedAt    time.Time  `db:"created_at"`
	FinishedAt   *time.Time `db:"finished_at"`
}

const importGetByID = `
SELECT i.id, l.name AS list, i.file_name, i.format, i.status, i.rows, i.imported, i.updated, i.unchanged,
       i.invalid, i.duplicates, i.skipped, i.opted_in, i.not_opted_in, i.opted_out, i.kept_opted_out,
       i.details, i.created_at, i.finished_at
FROM imports i LEFT JOIN lists l ON l.id = i.list_id
WHERE i.id = $1`

func importGetByIDQuery(ctx context.Context, db store.DBTX, id int64) (*importRow, error) {
	rows, err := db.Query(ctx, importGetByID, id)
	if err != nil {
		return nil, fmt.Errorf("get import %d: %w", id, err)
	}
	row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[importRow])
	if err != nil {
		return nil, fmt.Errorf("get import %d: %w", id, store.InterpretError(err))
	}
	return row, nil
}

// importErrorList pages through an import's errors in line order, keyset
// on (line, column_name, reason) so that a million errors stream in bounded
// memory.
const importErrorList = `
SELECT line, column_name, reason
FROM import_errors
WHERE import_id = $1 AND (line, column_name, reason) > ($2, $3, $4)
ORDER BY line, column_name, reason
LIMIT $5`

// contactRow is a contact as listed.
type contactRow struct {
	ID         int64      `db:"id"`
	Phone      string     `db:"phone"`
	Name       string     `db:"name"`
	Email      string     `db:"email"`
	Country    string     `db:"country"`
	Consent    string     `db:"consent"`
	ConsentAt  *time.Time `db:"consent_at"`
	Attributes []byte     `db:"attributes"`
}

const listGetID = `SELECT id FROM lists WHERE name = $1`

// contactListByList pages through a list's members, keyset on contact id.
const contactListByList = `
SELECT c.id, c.phone, c.name, c.email, c.country, c.consent, c.consent_at, c.attributes
FROM list_members m JOIN contacts c ON c.id = m.contact_id
WHERE m.list_id = $1 AND m.contact_id > $2
ORDER BY m.contact_id
LIMIT $3`

// importDetails is what imports.details holds.
type importDetails struct {
	Encoding  string   `json:"encoding,omitempty"`
	Delimiter string   `json:"delimiter,omitempty"`
	Sheet     string   `json:"sheet,omitempty"`
	HeaderRow int      `json:"header_row"`
	Columns   []Column `json:"columns"`
}

func (d importDetails) encode() []byte {
	b, _ := json.Marshal(d) // strings and ints only: cannot fail
	return b
}
