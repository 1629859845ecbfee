package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/herald-sh/herald/internal/store"
)

// chunkBytes is the size of the COPY chunks a worksheet is merged in: about
// 25,000 rows, so that merging one overlaps reading the next, and three of
// them (filling, queued, copying) stay small.
const chunkBytes = 4 << 20

// loader is one import in its transaction.
type loader struct {
	ctx      context.Context
	tx       pgx.Tx
	listID   int64
	source   string // consent source
	sum      *Summary
	opts     Options
	counts   rowCounts // written by the goroutine reading rows until it ends
	merged   mergeResult
	progress progressCounter
	checkOff bool // list_members' check trigger is off until finish
}

// load reads the header, then streams the rows into Postgres and merges
// them, all in one transaction: the import lands whole or not at all.
//
// A text file is staged whole, then merged in one statement, which also
// finds the duplicates; parsing it costs little next to the merge. A
// worksheet is staged and merged in chunks while the next chunk is read,
// since parsing its XML costs as much as merging it; a temporary table
// remembers the numbers of earlier chunks. Either way the process holds a
// few batches of rows at a time, whatever the size of the file.
func (s *Service) load(ctx context.Context, src rowSource, opts Options, sum *Summary, read *int64, chunked bool) error {
	l, err := findLayout(src, opts.HeaderRow, opts.Mappings)
	if err != nil {
		return err
	}
	sum.HeaderRow, sum.Columns = l.line, l.columns
	// A consent date may be "today" anywhere on Earth: allow a day ahead.
	consent := consentParser{monthFirst: monthFirstRegions[opts.DefaultCountry], now: time.Now().Add(24 * time.Hour)}

	return store.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		ld := &loader{ctx: ctx, tx: tx, sum: sum, opts: opts, progress: progressCounter{fn: opts.ProgressFunc, read: read}}
		if err := ld.begin(); err != nil {
			return err
		}
		p := &pipeline{
			ctx:     ctx,
			src:     src,
			workers: s.cfg.Workers,
			newConv: func() *converter {
				return &converter{layout: l, strictWidth: src.strictWidth(), region: opts.DefaultCountry,
					skipNotOptedIn: opts.SkipNotOptedIn, consent: consent}
			},
		}
		p.start()
		defer p.stop()
		if chunked {
			err = ld.loadChunks(p, s.chunkBytes)
		} else {
			err = ld.loadStream(p)
		}
		if err != nil {
			return err
		}
		return ld.finish()
	})
}

// begin takes the import lock and creates the list, the import and the
// staging table.
func (ld *loader) begin() error {
	ctx, tx := ld.ctx, ld.tx
	if _, err := tx.Exec(ctx, importLock, int64(importLockID)); err != nil {
		return fmt.Errorf("wait for other imports: %w", err)
	}
	if _, err := tx.Exec(ctx, importSettings); err != nil {
		return fmt.Errorf("set up import transaction: %w", err)
	}
	if _, err := tx.Exec(ctx, membersLock); err != nil {
		return fmt.Errorf("wait for deletes of contacts or lists: %w", err)
	}
	if err := ld.checkMembersOff(); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, listEnsure, ld.opts.List).Scan(&ld.listID); err != nil {
		return fmt.Errorf("create list %q: %w", ld.opts.List, err)
	}
	if err := tx.QueryRow(ctx, importCreate, ld.listID, ld.opts.FileName, ld.sum.Format).Scan(&ld.sum.ImportID, &ld.sum.CreatedAt); err != nil {
		return fmt.Errorf("create import: %w", err)
	}
	ld.source = "import:" + strconv.FormatInt(ld.sum.ImportID, 10)
	if _, err := tx.Exec(ctx, stageCreate); err != nil {
		return fmt.Errorf("create staging table: %w", err)
	}
	ld.sum.Errors = []RowError{}
	return nil
}

// checkMembersOff switches list_members' check trigger off until finish,
// in a savepoint: a role without the right to do so imports with the check
// on.
func (ld *loader) checkMembersOff() error {
	err := pgx.BeginFunc(ld.ctx, ld.tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ld.ctx, membersCheckOff)
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		ld.checkOff = true
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
	default:
		return fmt.Errorf("switch off the membership check: %w", err)
	}
	return nil
}

// onBatch counts a batch once its tuples are staged.
func (ld *loader) onBatch(b *batch) {
	ld.counts.add(b.counts)
	for _, e := range b.errs {
		if len(ld.sum.Errors) == maxSummaryErrors {
			break
		}
		ld.sum.Errors = append(ld.sum.Errors, e)
	}
	ld.progress.batch(len(b.rows))
}

// loadStream stages every row with one COPY, then merges.
func (ld *loader) loadStream(p *pipeline) error {
	stream := &copyStream{p: p, onBatch: ld.onBatch}
	if _, err := ld.tx.Conn().PgConn().CopyFrom(ld.ctx, stream, stageCopy); err != nil {
		return stageError(p, err)
	}
	ld.savingStarts()
	// The staging table has no statistics yet; without them the planner
	// takes it for a few rows and may pick nested loops over a million.
	if _, err := ld.tx.Exec(ld.ctx, stageAnalyze); err != nil {
		return fmt.Errorf("analyze staging table: %w", err)
	}
	return ld.mergeStaged()
}

// loadChunks stages and merges one chunk while the chunker fills the next.
// Numbers merged by earlier chunks are remembered in import_seen, on the
// server, so that the process's memory stays flat.
func (ld *loader) loadChunks(p *pipeline, size int) error {
	if _, err := ld.tx.Exec(ld.ctx, seenCreate); err != nil {
		return fmt.Errorf("create import_seen: %w", err)
	}
	c := &chunker{p: p, chunkBytes: size, onBatch: ld.onBatch, free: make(chan *chunk, 3), out: make(chan *chunk, 1)}
	for range cap(c.free) {
		c.free <- &chunk{}
	}
	go c.run()
	defer func() {
		p.stop()
		for range c.out { // wait for the chunker
		}
	}()
	for ch := range c.out {
		if _, err := ld.tx.Exec(ld.ctx, stageTruncate); err != nil {
			return fmt.Errorf("empty staging table: %w", err)
		}
		_, err := ld.tx.Conn().PgConn().CopyFrom(ld.ctx, bytes.NewReader(ch.data), stageCopy)
		c.free <- ch
		if err != nil {
			return stageError(p, err)
		}
		if _, err := ld.tx.Exec(ld.ctx, stageDropSeen); err != nil {
			return fmt.Errorf("drop repeated numbers: %w", err)
		}
		// The rows it dropped were staged but are in no chunk's distinct
		// rows: finish counts them as duplicates.
		if err := ld.mergeStaged(); err != nil {
			return err
		}
	}
	if c.err != nil {
		return stageError(p, c.err)
	}
	ld.savingStarts()
	if _, err := ld.tx.Exec(ld.ctx, seenDrop); err != nil {
		return fmt.Errorf("drop import_seen: %w", err)
	}
	return nil
}

// stageError explains a failed COPY: the file's fault or the database's.
// It stops the pipeline first, so that its reader is done with readErr.
func stageError(p *pipeline, err error) error {
	p.stop()
	if p.readErr != nil {
		err = p.readErr // the file broke, not the database
	}
	var fe *FileError
	if errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("stage rows: %w", err)
}

func (ld *loader) savingStarts() {
	if ld.opts.ProgressFunc != nil {
		ld.opts.ProgressFunc(Progress{Phase: "saving", Rows: ld.progress.rows, Bytes: atomic.LoadInt64(ld.progress.read)})
	}
}

// mergeStaged saves the staged row errors and merges the staged contacts.
func (ld *loader) mergeStaged() error {
	if _, err := ld.tx.Exec(ld.ctx, errorsSave, ld.sum.ImportID); err != nil {
		return fmt.Errorf("save row errors: %w", err)
	}
	m, err := merge(ld.ctx, ld.tx, ld.listID, ld.source)
	if err != nil {
		return err
	}
	ld.merged.add(m)
	return nil
}

// finish writes the import's counts and drops the staging table.
func (ld *loader) finish() error {
	sum, m := ld.sum, ld.merged
	sum.Rows, sum.Invalid, sum.Skipped = ld.counts.rows, ld.counts.invalid, ld.counts.skipped
	sum.Duplicates = ld.counts.staged - m.DistinctRows
	sum.Imported, sum.Updated, sum.Unchanged = m.Imported, m.Updated, m.Unchanged
	sum.OptedIn, sum.NotOptedIn, sum.OptedOut, sum.KeptOptedOut = m.OptedIn, m.NotOptedIn, m.OptedOut, m.KeptOptedOut
	details := importDetails{Encoding: sum.Encoding, Delimiter: sum.Delimiter, Sheet: sum.Sheet,
		HeaderRow: sum.HeaderRow, Columns: sum.Columns}
	err := ld.tx.QueryRow(ld.ctx, importFinish, pgx.NamedArgs{
		"id": sum.ImportID, "rows": sum.Rows, "imported": sum.Imported, "updated": sum.Updated,
		"unchanged": sum.Unchanged, "invalid": sum.Invalid, "duplicates": sum.Duplicates,
		"skipped": sum.Skipped, "opted_in": sum.OptedIn, "not_opted_in": sum.NotOptedIn,
		"opted_out": sum.OptedOut, "kept_opted_out": sum.KeptOptedOut, "details": details.encode(),
	}).Scan(&sum.FinishedAt)
	if err != nil {
		return fmt.Errorf("finish import %d: %w", sum.ImportID, err)
	}
	if _, err := ld.tx.Exec(ld.ctx, stageDrop); err != nil {
		return fmt.Errorf("drop staging table: %w", err)
	}
	if ld.checkOff {
		if _, err := ld.tx.Exec(ld.ctx, membersCheckOn); err != nil {
			return fmt.Errorf("switch the membership check back on: %w", err)
		}
	}
	return nil
}

// merge runs contactsMerge in a savepoint, again if another transaction
// created a contact the import thought new (unique violation) since it
// looked. The contacts it found cannot go meanwhile: the import holds
// membersLock.
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
