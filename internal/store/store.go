// Package store is herald's Postgres plumbing: the connection pool, the DBTX
// interface every query function takes, transactions, error translation and
// migrations (River's tables and herald's own). SQL for herald's tables lives
// in the packages that own them, not here.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned when a row that must exist does not.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write breaks a unique or foreign-key rule.
var ErrConflict = errors.New("conflict")

// DBTX is satisfied by *pgxpool.Pool, *pgx.Conn and pgx.Tx, so a query
// function runs the same inside or outside a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// TxBeginner starts transactions; *pgxpool.Pool and pgx.Tx (savepoints) both do.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// WithTx runs fn in a transaction that commits when fn returns nil and rolls
// back otherwise.
func WithTx(ctx context.Context, db TxBeginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// InterpretError maps pgx's no-rows and Postgres' unique and foreign-key
// violations to ErrNotFound and ErrConflict, keeping the original in the chain.
func InterpretError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound // "no rows in result set" says nothing more to a user
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505", "23503":
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url %s: %w", RedactURL(dsn), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", RedactURL(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s: %w", RedactURL(dsn), err)
	}
	return pool, nil
}

// RedactURL hides the password of a connection URL so it can be logged.
func RedactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "[unparsable database url]"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
