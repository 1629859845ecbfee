// Package storetest gives tests a real, migrated Postgres: one database per
// test package (go test runs packages in parallel), a rolled-back transaction
// per test by default, and a fresh database for tests that must commit.
//
// It is imported only from _test.go files. When Postgres cannot be reached
// the test binary prints one line and exits 1: a test that needs the
// database never skips.
package storetest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/internal/store"
)

var (
	state struct {
		once     sync.Once
		baseURL  string // server URL without database
		template string // migrated template database of this package
		pool     *pgxpool.Pool
		err      error
	}
	dbSeq atomic.Int64
)

// DatabaseURL is the server tests use: TEST_DATABASE_URL, or the local
// server's postgres database.
func DatabaseURL() string {
	return cmp.Or(os.Getenv("TEST_DATABASE_URL"), "postgres://127.0.0.1:5432/postgres?sslmode=disable")
}

// Main prepares this package's database and runs the tests. Use it as
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
func Main(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: Postgres is required for these tests and is not usable at %s: %v\n",
			store.RedactURL(DatabaseURL()), err)
		os.Exit(1)
	}
	code := m.Run()
	state.pool.Close()
	dropOwn()
	os.Exit(code)
}

func setup() error {
	state.once.Do(func() { state.err = doSetup() })
	return state.err
}

func doSetup() error {
	ctx := context.Background()
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	pkg = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(pkg))
	state.baseURL = DatabaseURL()
	// Names carry the process id: two test runs of one package at once
	// (two terminals, an editor and CI) must not drop each other's
	// databases. Leftovers of processes that are gone are dropped.
	prefix := "herald_test_" + pkg + "_p"
	state.template = fmt.Sprintf("%s%d", prefix, os.Getpid())
	admin, err := pgx.Connect(ctx, state.baseURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, prefix)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		pidPart, _, _ := strings.Cut(strings.TrimPrefix(n, prefix), "_")
		if pid, err := strconv.Atoi(pidPart); err == nil && pid != os.Getpid() && processAlive(pid) {
			continue
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	// Migrate a template database that no test connects to, so that DB can
	// copy it at any time; the package's shared database is one such copy.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{state.template}.Sanitize()); err != nil {
		return err
	}
	tmpl, err := store.Open(ctx, withDatabase(state.baseURL, state.template))
	if err != nil {
		return err
	}
	err = store.Migrate(ctx, tmpl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tmpl.Close()
	if err != nil {
		return err
	}
	shared := state.template + "_shared"
	if err := copyDatabase(ctx, admin, shared); err != nil {
		return err
	}
	pool, err := store.Open(ctx, withDatabase(state.baseURL, shared))
	if err != nil {
		return err
	}
	state.pool = pool
	return nil
}

func withDatabase(dsn, name string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool is the package's shared pool on its migrated database. Tests that
// write through it must clean up after themselves; prefer Tx or DB.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("storetest: Postgres not usable at %s: %v", store.RedactURL(DatabaseURL()), err)
	}
	return state.pool
}

// Tx opens a transaction on the package database that is rolled back when
// the test ends, so nothing a test writes is seen by another.
func Tx(t testing.TB) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := Pool(t).Begin(ctx)
	if err != nil {
		t.Fatalf("storetest: begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.WithoutCancel(ctx)) })
	return tx
}

// DB creates a fresh migrated database for one test (a copy of the package's
// template database) and returns its URL and a pool on it. Use it for tests
// that must commit: a real River client, concurrency, crashes. The database
// is dropped when the test ends.
func DB(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	Pool(t)
	name := fmt.Sprintf("%s_%d", state.template, dbSeq.Add(1))
	admin, err := pgx.Connect(ctx, state.baseURL)
	if err != nil {
		t.Fatalf("storetest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if err := copyDatabase(ctx, admin, name); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	dsn := withDatabase(state.baseURL, name)
	pool, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), state.baseURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return dsn, pool
}

func copyDatabase(ctx context.Context, admin *pgx.Conn, name string) error {
	_, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{state.template}.Sanitize())
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// processAlive reports whether a process with this id exists.
func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// dropOwn drops the databases this process created.
func dropOwn() {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, state.baseURL)
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, state.template)
	if err != nil {
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}
