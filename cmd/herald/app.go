package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/store"
)

// app carries what every subcommand shares: configuration, output and the
// database once opened.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cfg    config
	logger *slog.Logger

	located *store.Located
	pool    *pgxpool.Pool
}

func newApp(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *app {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	a.cfg = configFromEnv(getenv)
	return a
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Send WhatsApp template campaigns and see what they did",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.cfg.Validate(); err != nil {
				return usageError{err}
			}
			a.logger = newLogger(a.stderr, a.cfg.LogLevel, a.cfg.LogFormat)
			return nil
		},
	}
	a.cfg.bindGlobalFlags(root)
	root.AddCommand(
		a.migrateCmd(),
		a.importCmd(),
		a.contactsCmd(),
		a.serveCmd(),
		a.workerCmd(),
		a.simCmd(),
		a.demoCmd(),
		a.campaignCmd(),
		a.templatesCmd(),
		a.sendersCmd(),
		a.reportCmd(),
		a.scheduleCmd(),
		a.benchCmd(),
		a.conversionsCmd(),
	)
	return root
}

// openDB finds Postgres, migrates it and opens the pool; close with closeDB.
func (a *app) openDB(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	loc, err := store.Locate(ctx, store.LocateConfig{
		DatabaseURL: a.cfg.DatabaseURL,
		DataDir:     a.cfg.DataDir,
	}, a.logger)
	if err != nil {
		return nil, err
	}
	pool, err := store.Open(ctx, loc.URL)
	if err != nil {
		_ = loc.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := store.Migrate(ctx, pool, a.logger); err != nil {
		pool.Close()
		_ = loc.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	a.located, a.pool = loc, pool
	return pool, nil
}

// withDB runs fn with the database open, and closes it after.
func (a *app) withDB(ctx context.Context, fn func(pool *pgxpool.Pool) error) error {
	pool, err := a.openDB(ctx)
	if err != nil {
		return err
	}
	defer a.closeDB(ctx)
	return fn(pool)
}

func (a *app) closeDB(ctx context.Context) {
	if a.pool != nil {
		a.pool.Close()
		a.pool = nil
	}
	if a.located != nil {
		if err := a.located.Close(context.WithoutCancel(ctx)); err != nil {
			a.logger.Error("stop private postgres", slog.Any("error", err))
		}
		a.located = nil
	}
}

// usageError marks an error in how herald was called (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func (a *app) printError(err error) {
	fmt.Fprintf(a.stderr, "herald: %v\n", err)
}
