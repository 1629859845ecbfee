package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
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

// TestContactPhoneCheck evaluates contacts' phone CHECK (migration 0010) on
// edge cases and random strings and compares it with the E.164 pattern it
// replaced: it must accept and refuse exactly the same numbers.
func TestContactPhoneCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := storetest.Tx(t)

	var def string
	require.NoError(t, tx.QueryRow(ctx, `
		SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'contacts'::regclass AND conname = 'contacts_phone_check'`).Scan(&def))
	expr, ok := strings.CutPrefix(def, "CHECK ")
	require.True(t, ok, def)

	e164 := regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	inputs := []string{
		"", "+", "+1", "+123456", "+1234567", "+123456789012345", "+1234567890123456",
		"+0123456789", "5511987654321", "++5511987654", "+55 11987654", "+5511987654\n",
		"+551198765432a", "+٥٥١١٩٨٧٦٥٤٣", "+5511９87654321", " +5511987654321", "+5511987654321+",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "+0123456789 a٣\n"
	runes := []rune(alphabet)
	for range 20000 {
		var b strings.Builder
		if rng.IntN(3) > 0 {
			b.WriteByte('+')
		}
		for range rng.IntN(18) {
			if rng.IntN(10) == 0 {
				b.WriteRune(runes[rng.IntN(len(runes))])
			} else {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		inputs = append(inputs, b.String())
	}

	rows, err := tx.Query(ctx, `SELECT phone, `+expr+` FROM unnest($1::text[]) AS phone`, inputs)
	require.NoError(t, err)
	accepted := 0
	for rows.Next() {
		var phone string
		var pass bool
		require.NoError(t, rows.Scan(&phone, &pass))
		require.Equal(t, e164.MatchString(phone), pass, "phone %q", phone)
		if pass {
			accepted++
		}
	}
	require.NoError(t, rows.Err())
	require.Greater(t, accepted, 1000, "the random inputs should include many valid numbers")
}
