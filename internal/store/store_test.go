package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	var before int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&before))
	require.Positive(t, before)
	require.NoError(t, store.Migrate(ctx, pool, logger))
	require.NoError(t, store.Migrate(ctx, pool, logger))
	var after int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&after))
	require.Equal(t, before, after)

	// River's tables are there too.
	var riverJobs bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&riverJobs))
	require.True(t, riverJobs)
}

func TestInterpretError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := storetest.Tx(t)

	err := tx.QueryRow(ctx, `SELECT 1 WHERE false`).Scan(new(int))
	require.ErrorIs(t, store.InterpretError(err), store.ErrNotFound)

	_, err = tx.Exec(ctx, `INSERT INTO lists (name) VALUES ('a')`)
	require.NoError(t, err)
	err = store.WithTx(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, `INSERT INTO lists (name) VALUES ('a')`)
		return store.InterpretError(err)
	})
	require.ErrorIs(t, err, store.ErrConflict)
	require.True(t, errors.Is(store.InterpretError(errors.New("x")), store.ErrConflict) == false)
}

func TestWithTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := storetest.Tx(t)
	boom := errors.New("boom")
	err := store.WithTx(ctx, tx, func(sp pgx.Tx) error {
		if _, err := sp.Exec(ctx, `INSERT INTO lists (name) VALUES ('rolled-back')`); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	var n int
	require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM lists WHERE name = 'rolled-back'`).Scan(&n))
	require.Zero(t, n)
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u:xxxxx@h:5432/db", store.RedactURL("postgres://u:s3cret@h:5432/db"))
	require.NotContains(t, store.RedactURL("postgres://h/db?password=s3cret"), "s3cret")
	require.Equal(t, "postgres://h/db", store.RedactURL("postgres://h/db"))
}

func TestEnsureDatabaseCreatesMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, err := url.Parse(storetest.DatabaseURL())
	require.NoError(t, err)
	name := "herald_test_store_ensure"
	u.Path = "/" + name
	admin, err := pgx.Connect(ctx, storetest.DatabaseURL())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(ctx) })
	drop := func() {
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err)
	}
	drop()
	t.Cleanup(drop)

	require.NoError(t, store.EnsureDatabase(ctx, u.String()))
	require.NoError(t, store.EnsureDatabase(ctx, u.String()), "second call is a no-op")
	conn, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
}
