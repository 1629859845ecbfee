package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
)

// The integrity of list_members is kept by triggers, not foreign keys
// (migration 0008): these tests hold them to what the keys did.

func requireForeignKeyViolation(t *testing.T, err error, constraint string) *pgconn.PgError {
	t.Helper()
	require.ErrorIs(t, store.InterpretError(err), store.ErrConflict)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23503", pgErr.Code)
	require.Equal(t, constraint, pgErr.ConstraintName)
	return pgErr
}

// execFails runs sql in a savepoint, so that the test's transaction
// survives the error it returns.
func execFails(t *testing.T, db DB, sql string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	sp, err := db.Begin(ctx)
	require.NoError(t, err)
	defer sp.Rollback(ctx) //nolint:errcheck // rolled back whatever happens
	_, err = sp.Exec(ctx, sql, args...)
	require.Error(t, err)
	return err
}

func TestListMembersNameAListAndAContact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.ctx
	c1 := b.seedContact(t, "+5511900000001", "A", "", ConsentOptedIn, `{}`)
	c2 := b.seedContact(t, "+5511900000002", "B", "", ConsentOptedIn, `{}`)
	var list int64
	require.NoError(t, b.db.QueryRow(ctx, `INSERT INTO lists (name) VALUES ('l') RETURNING id`).Scan(&list))

	_, err := b.db.Exec(ctx, `INSERT INTO list_members (list_id, contact_id) VALUES ($1, $2), ($1, $3)`, list, c1, c2)
	require.NoError(t, err)

	var other int64
	require.NoError(t, b.db.QueryRow(ctx, `INSERT INTO lists (name) VALUES ('other') RETURNING id`).Scan(&other))
	err = execFails(t, b.db, `INSERT INTO list_members (list_id, contact_id) SELECT $1::bigint, id FROM contacts UNION ALL SELECT $1, $2`,
		other, c2+1000)
	pgErr := requireForeignKeyViolation(t, err, "list_members_contact_id_fkey")
	require.Equal(t, fmt.Sprintf(`Key (contact_id)=(%d) is not present in table "contacts".`, c2+1000), pgErr.Detail)

	err = execFails(t, b.db, `INSERT INTO list_members (list_id, contact_id) VALUES ($1, $2)`, list+1000, c1)
	requireForeignKeyViolation(t, err, "list_members_list_id_fkey")

	err = execFails(t, b.db, `UPDATE list_members SET contact_id = $2 WHERE contact_id = $1`, c1, c2+1000)
	requireForeignKeyViolation(t, err, "list_members_contact_id_fkey")
	err = execFails(t, b.db, `UPDATE list_members SET list_id = $2 WHERE contact_id = $1`, c1, list+1000)
	requireForeignKeyViolation(t, err, "list_members_list_id_fkey")

	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members`))
}

func TestListMembersGoWithTheirListOrContact(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.ctx
	b.importCSV(t, "phone,name\n11900000001,A\n11900000002,B\n11900000003,C\n", Options{List: "one"})
	b.importCSV(t, "phone,name\n11900000001,A\n11900000002,B\n", Options{List: "two"})
	require.Equal(t, 5, b.count(t, `SELECT count(*) FROM list_members`))

	_, err := b.db.Exec(ctx, `DELETE FROM contacts WHERE phone = '+5511900000001'`)
	require.NoError(t, err)
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM list_members`))

	_, err = b.db.Exec(ctx, `DELETE FROM lists WHERE name = 'one'`)
	require.NoError(t, err)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM list_members`))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM list_members m JOIN lists l ON l.id = m.list_id WHERE l.name = 'two'`))

	_, err = b.db.Exec(ctx, `TRUNCATE lists CASCADE`)
	require.NoError(t, err)
	require.Zero(t, b.count(t, `SELECT count(*) FROM list_members`))
}

// TestListMembersDeleteWaitsForAnImport commits for real: a contact deleted
// while an import adds it to a list goes with its new membership, and an
// import that starts while a contact is being deleted waits, then imports it
// anew.
func TestListMembersDeleteWaitsForAnImport(t *testing.T) {
	t.Parallel()
	b := committing(t, nil, Config{})
	ctx, svc, pool := b.ctx, b.svc, b.db
	b.seedContact(t, "+5511900000001", "A", "", ConsentOptedIn, `{}`)
	waitFor := func(t *testing.T, what, query string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), "%s never waited", what)
			if b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, query) > 0 {
				return
			}
		}
	}

	t.Run("the delete comes second", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck // committed below
		var list int64
		require.NoError(t, tx.QueryRow(ctx, `INSERT INTO lists (name) VALUES ('l') RETURNING id`).Scan(&list))
		_, err = tx.Exec(ctx, `INSERT INTO list_members (list_id, contact_id) SELECT $1, id FROM contacts`, list)
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			_, err := pool.Exec(ctx, `DELETE FROM contacts WHERE phone = '+5511900000001'`)
			done <- err
		}()
		waitFor(t, "the delete", "DELETE FROM contacts%")
		require.NoError(t, tx.Commit(ctx))
		require.NoError(t, <-done)
		require.Zero(t, b.count(t, `SELECT count(*) FROM list_members`), "no membership of a deleted contact")
	})

	t.Run("the import comes second", func(t *testing.T) {
		b.seedContact(t, "+5511900000002", "B", "", ConsentOptedIn, `{}`)
		del, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer del.Rollback(ctx) //nolint:errcheck // committed below
		_, err = del.Exec(ctx, `DELETE FROM contacts WHERE phone = '+5511900000002'`)
		require.NoError(t, err)

		done := make(chan error, 1)
		var sum *Summary
		go func() {
			var err error
			sum, err = svc.Import(ctx, strings.NewReader("phone,name\n11900000002,B\n11900000003,C\n"),
				Options{List: "m", FileName: "m.csv", DefaultCountry: "BR"})
			done <- err
		}()
		waitFor(t, "the import", "%pg_advisory_xact_lock_shared%")
		require.NoError(t, del.Commit(ctx))
		require.NoError(t, <-done)
		require.Equal(t, 2, sum.Imported, "the deleted contact, imported anew")
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members m JOIN contacts c ON c.id = m.contact_id`))
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members`))
	})
}

// membersCheck reports whether list_members' insert check is on, as every
// session but an importing one sees it.
func membersCheck(t *testing.T, db DB) string {
	t.Helper()
	var enabled string
	require.NoError(t, db.QueryRow(context.Background(),
		`SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'list_members_check_insert'`).Scan(&enabled))
	return enabled
}

// TestImportLeavesTheMembershipCheckOn: an import switches the check off
// for its own inserts only. After it commits, and after one fails, a
// membership naming no contact is refused.
func TestImportLeavesTheMembershipCheckOn(t *testing.T) {
	t.Parallel()
	b := committing(t, nil, Config{})
	ctx, svc, pool := b.ctx, b.svc, b.db

	sum := b.importCSV(t, "phone,name\n11900000001,A\n11900000002,B\n", Options{List: "l"})
	require.Equal(t, 2, sum.Imported)
	require.Equal(t, "O", membersCheck(t, pool))

	// Far more than the header sniffing reads: the file breaks while its
	// rows are being staged, inside the import's transaction.
	var rows strings.Builder
	rows.WriteString("phone,name\n")
	for i := range 20_000 {
		fmt.Fprintf(&rows, "11%09d,N\n", 910_000_000+i)
	}
	_, err := svc.Import(ctx, &failingReader{data: []byte(rows.String()), err: errors.New("disk gone")},
		Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
	require.ErrorContains(t, err, "disk gone")
	require.Equal(t, "O", membersCheck(t, pool))

	var list int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM lists WHERE name = 'l'`).Scan(&list))
	err = execFails(t, pool, `INSERT INTO list_members (list_id, contact_id) VALUES ($1, -1)`, list)
	requireForeignKeyViolation(t, err, "list_members_contact_id_fkey")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members`))
}

// TestImportByARoleThatDoesNotOwnTheTables: a role that may write the
// tables but not alter them imports with the membership check on.
func TestImportByARoleThatDoesNotOwnTheTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, owner := storetest.DB(t)
	role := fmt.Sprintf("herald_test_importer_%d", time.Now().UnixNano())
	_, err := owner.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s NOLOGIN;
GRANT USAGE ON SCHEMA public TO %[1]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %[1]s;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %[1]s`, role))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := owner.Exec(context.WithoutCancel(ctx), fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role))
		require.NoError(t, err)
	})
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+role)
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.Error(t, execFails(t, pool, membersCheckOff), "the role cannot switch the check off")

	b := committing(t, pool, Config{})
	sum := b.importCSV(t, "phone,name\n11900000001,A\n11900000002,B\n", Options{List: "l"})
	require.Equal(t, 2, sum.Imported)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members`))
	require.Equal(t, "O", membersCheck(t, pool))
}
