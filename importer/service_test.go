package importer

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
)

// testBundle is what most importer tests need: a service on a transaction
// that is rolled back when the test ends.
type testBundle struct {
	ctx context.Context
	svc *Service
	db  DB
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	tx := storetest.Tx(t)
	// Tests share the package's database and write the same numbers. Take
	// the import lock first, as Import does, so that one test's import
	// never waits on a row another test holds while that test waits for
	// the lock.
	_, err := tx.Exec(context.Background(), importLock, int64(importLockID))
	require.NoError(t, err)
	return &testBundle{
		ctx: context.Background(),
		svc: NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), Config{TempDir: t.TempDir()}, tx),
		db:  tx,
	}
}

// committing gives a test that must commit a fresh database of its own
// and a service on pool, or on that database's pool when pool is nil.
func committing(t *testing.T, pool *pgxpool.Pool, cfg Config) *testBundle {
	t.Helper()
	if pool == nil {
		_, pool = storetest.DB(t)
	}
	cfg.TempDir = t.TempDir()
	return &testBundle{
		ctx: context.Background(),
		svc: NewService(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, pool),
		db:  pool,
	}
}

// corpus is the path of a file in testdata/import.
func corpus(name string) string { return filepath.Join("..", "testdata", "import", name) }

// contacts returns the members of a list by phone.
func (b *testBundle) contacts(t *testing.T, list string) map[string]Contact {
	t.Helper()
	out := map[string]Contact{}
	var after int64
	for {
		page, err := b.svc.ListContacts(b.ctx, list, after, 2)
		require.NoError(t, err)
		for _, c := range page {
			out[c.Phone] = c
		}
		if len(page) < 2 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// count runs a count(*) query.
func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.QueryRow(b.ctx, sql, args...).Scan(&n))
	return n
}

// storedErrors returns every stored error of an import.
func (b *testBundle) storedErrors(t *testing.T, id int64) []RowError {
	t.Helper()
	var out []RowError
	require.NoError(t, b.svc.Errors(b.ctx, id, func(e RowError) error {
		out = append(out, e)
		return nil
	}))
	return out
}

// requireBalanced checks the summary's identities.
func requireBalanced(t *testing.T, s *Summary) {
	t.Helper()
	require.Equal(t, s.Rows, s.Imported+s.Updated+s.Unchanged+s.Invalid+s.Duplicates+s.Skipped, "rows add up")
	require.Equal(t, s.Imported+s.Updated+s.Unchanged, s.OptedIn+s.NotOptedIn+s.OptedOut+s.KeptOptedOut, "consent adds up")
}
