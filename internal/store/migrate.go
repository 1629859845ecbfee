package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/herald-sh/herald/migrations"
)

// migrateLockID serialises concurrent migrators (two processes starting at
// once) with a transaction-level advisory lock.
const migrateLockID = 7_402_113_901

// Migrate brings River's tables and then herald's own up to date. Running it
// again is a no-op. It is safe to run from several processes at once: a
// session-level advisory lock makes them take turns. River's migrations run
// in their own transactions (some add enum values that one transaction may
// not also use); each of herald's files runs in one transaction.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockID); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockID) //nolint:errcheck // released with the session anyway

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet(logger)})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	for _, v := range res.Versions {
		logger.Debug("applied river migration", slog.Int("version", v.Version))
	}
	return migrateApp(ctx, conn.Conn(), migrations.FS, logger)
}

func migrateApp(ctx context.Context, tx *pgx.Conn, fsys fs.FS, logger *slog.Logger) error {
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(fsys, "*.up.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&applied); err != nil {
			return fmt.Errorf("check migration %s: %w", name, err)
		}
		if applied {
			continue
		}
		sql, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		// Each file runs in its own transaction, so a failing file names
		// itself and leaves nothing behind.
		if err := WithTx(ctx, tx, func(sp pgx.Tx) error {
			if _, err := sp.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := sp.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
			return err
		}); err != nil {
			return fmt.Errorf("apply migration %s: %w", name, err)
		}
		logger.Debug("applied migration", slog.String("name", strings.TrimSuffix(name, ".up.sql")))
	}
	return nil
}

// quiet keeps River's migrator from logging at info level every time herald
// starts; herald logs what was applied itself.
func quiet(logger *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{logger.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(attrs), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
