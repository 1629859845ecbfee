package importer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// load reads the header, then streams the rows into Postgres and merges
// them, all in one transaction: the import lands whole or not at all.
func (s *Service) load(ctx context.Context, src rowSource, opts Options, sum *Summary, read *int64) error {
	l, err := findLayout(src, opts.HeaderRow, opts.Mappings)
	if err != nil {
		return err
	}
	sum.HeaderRow, sum.Columns = l.line, l.columns
	now := time.Now()
	consent := consentParser{monthFirst: monthFirstRegions[opts.DefaultCountry], now: now.Add(24 * time.Hour)}

	return store.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, importLock, int64(importLockID)); err != nil {
			return fmt.Errorf("wait for other imports: %w", err)
		}
		if _, err := tx.Exec(ctx, importSettings); err != nil {
			return fmt.Errorf("set up import transaction: %w", err)
		}
		var listID int64
		if err := tx.QueryRow(ctx, listEnsure, opts.List).Scan(&listID); err != nil {
			return fmt.Errorf("create list %q: %w", opts.List, err)
		}
		if err := tx.QueryRow(ctx, importCreate, listID, opts.FileName, sum.Format).Scan(&sum.ImportID, &sum.CreatedAt); err != nil {
			return fmt.Errorf("create import: %w", err)
		}
		if _, err := tx.Exec(ctx, stageCreate); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}

		// Stream the rows: read, convert in parallel, COPY in file order.
		var counts rowCounts
		sum.Errors = []RowError{}
		progress := progressCounter{fn: opts.ProgressFunc, read: read}
		p := &pipeline{
			ctx:     ctx,
			src:     src,
			workers: s.cfg.Workers,
			newConv: func() *converter {
				return &converter{layout: l, strictWidth: src.strictWidth(), region: opts.DefaultCountry,
					skipNotOptedIn: opts.SkipNotOptedIn, consent: consent}
			},
			onBatch: func(b *batch) {
				counts.add(b.counts)
				for _, e := range b.errs {
					if len(sum.Errors) == maxSummaryErrors {
						break
					}
					sum.Errors = append(sum.Errors, e)
				}
				progress.batch(len(b.rows))
			},
		}
		p.start()
		_, err := tx.Conn().PgConn().CopyFrom(ctx, p, stageCopy)
		p.stop()
		if err != nil {
			if p.readErr != nil {
				err = p.readErr // the file broke, not the database
			}
			var fe *FileError
			if errors.As(err, &fe) {
				return err
			}
			return fmt.Errorf("stage rows: %w", err)
		}
		if opts.ProgressFunc != nil {
			opts.ProgressFunc(Progress{Phase: "saving", Rows: progress.rows, Bytes: atomic.LoadInt64(read)})
		}

		// The staging table has no statistics yet; without them the planner
		// takes it for a few rows and may pick nested loops over a million.
		if _, err := tx.Exec(ctx, stageAnalyze); err != nil {
			return fmt.Errorf("analyze staging table: %w", err)
		}
		if _, err := tx.Exec(ctx, errorsSave, sum.ImportID); err != nil {
			return fmt.Errorf("save row errors: %w", err)
		}
		m, err := merge(ctx, tx, listID, "import:"+strconv.FormatInt(sum.ImportID, 10))
		if err != nil {
			return err
		}
		sum.Rows, sum.Invalid, sum.Skipped = counts.rows, counts.invalid, counts.skipped
		sum.Duplicates = counts.staged - m.DistinctRows
		sum.Imported, sum.Updated, sum.Unchanged = m.Imported, m.Updated, m.Unchanged
		sum.OptedIn, sum.NotOptedIn, sum.OptedOut, sum.KeptOptedOut = m.OptedIn, m.NotOptedIn, m.OptedOut, m.KeptOptedOut

		details := importDetails{Encoding: sum.Encoding, Delimiter: sum.Delimiter, Sheet: sum.Sheet,
			HeaderRow: sum.HeaderRow, Columns: sum.Columns}
		err = tx.QueryRow(ctx, importFinish, pgx.NamedArgs{
			"id": sum.ImportID, "rows": sum.Rows, "imported": sum.Imported, "updated": sum.Updated,
			"unchanged": sum.Unchanged, "invalid": sum.Invalid, "duplicates": sum.Duplicates,
			"skipped": sum.Skipped, "opted_in": sum.OptedIn, "not_opted_in": sum.NotOptedIn,
			"opted_out": sum.OptedOut, "kept_opted_out": sum.KeptOptedOut, "details": details.encode(),
		}).Scan(&sum.FinishedAt)
		if err != nil {
			return fmt.Errorf("finish import %d: %w", sum.ImportID, err)
		}
		if _, err := tx.Exec(ctx, stageDrop); err != nil {
			return fmt.Errorf("drop staging table: %w", err)
		}
		return nil
	})
}

// merge runs contactsMerge in a savepoint, again if another transaction
// created a contact the import thought new (unique violation) or deleted
// one it thought existing (foreign key violation) since it looked.
func merge(ctx context.Context, tx pgx.Tx, listID int64, source string) (mergeResult, error) {
	for attempt := 1; ; attempt++ {
		var m mergeResult
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			rows, err := sp.Query(ctx, contactsMerge, listID, source)
			if err != nil {
				return err
			}
			m, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[mergeResult])
			return err
		})
		if err == nil {
			return m, nil
		}
		if attempt == mergeAttempts || !errors.Is(store.InterpretError(err), store.ErrConflict) {
			return mergeResult{}, fmt.Errorf("merge contacts: %w", err)
		}
	}
}
