package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/herald-sh/herald/internal/store"
)

// ReconcileArgs is the periodic job that ends sends stuck in flight.
type ReconcileArgs struct{}

// Kind is the stable job kind stored in River's rows.
func (ReconcileArgs) Kind() string { return "campaign_reconcile" }

// ReconcileWorker runs ReconcileArgs jobs.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Pool *pgxpool.Pool
	// UnknownAfter is how long a send may stay in flight without an answer
	// or a status webhook before it is marked unknown.
	UnknownAfter time.Duration
}

// Work marks stale in-flight sends unknown and completes the campaigns that
// leaves with nothing open.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := Reconcile(ctx, w.Pool, w.UnknownAfter)
	return err
}

// Reconcile marks sends in flight for longer than after as unknown: herald
// cannot tell whether the Cloud API took them, so it does not send them
// again. A status webhook that arrives later still moves them on (unknown
// ranks below sent). It returns how many it marked.
func Reconcile(ctx context.Context, pool *pgxpool.Pool, after time.Duration) (int, error) {
	total := 0
	for {
		var n int
		campaigns := map[int64]bool{}
		err := store.WithTx(ctx, pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, reconcileUnknownSQL, after.Seconds(), 1000)
			if err != nil {
				return err
			}
			ds := deltas{}
			for rows.Next() {
				var campaignID int64
				if err := rows.Scan(&campaignID); err != nil {
					return err
				}
				ds.of(campaignID).move("in_flight", "unknown")
				campaigns[campaignID] = true
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if err := ds.write(ctx, tx); err != nil {
				return err
			}
			for id := range campaigns {
				if _, err := tx.Exec(ctx, campaignCompleteSQL, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("reconcile in-flight sends: %w", err)
		}
		total += n
		if n < 1000 {
			break
		}
	}
	// A send left in flight may since have been settled by its webhook;
	// finish every running campaign with nothing open.
	if _, err := pool.Exec(ctx, `
		UPDATE campaigns c SET status = 'completed', finished_at = now()
		WHERE c.status = 'running'
		  AND (SELECT sum(r.queued + r.in_flight) FROM campaign_rollups r WHERE r.campaign_id = c.id) = 0`); err != nil {
		return total, fmt.Errorf("complete settled campaigns: %w", err)
	}
	return total, nil
}
