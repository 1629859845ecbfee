package campaigns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// rollupSlots spreads a campaign's counters over this many rows so that
// concurrent workers rarely wait on one another's row lock.
const rollupSlots = 16

// statuses in the column order of campaign_rollups.
var rollupStatuses = [...]string{"queued", "in_flight", "accepted", "unknown", "sent", "delivered", "read", "failed", "cancelled"}

// delta accumulates counter changes for one campaign within one transaction.
type delta struct {
	status   map[string]int64
	replied  int64
	clicked  int64
	cost     int64
	failures map[int]int64
	minutes  map[minuteKey]int64
}

type minuteKey struct {
	minute time.Time
	event  string
}

func newDelta() *delta {
	return &delta{status: map[string]int64{}, failures: map[int]int64{}, minutes: map[minuteKey]int64{}}
}

// move records one send changing status.
func (d *delta) move(from, to string) {
	if from == to {
		return
	}
	d.status[from]--
	d.status[to]++
}

func (d *delta) event(at time.Time, event string) {
	d.minutes[minuteKey{at.UTC().Truncate(time.Minute), event}]++
}

func (d *delta) empty() bool {
	for _, v := range d.status {
		if v != 0 {
			return false
		}
	}
	return d.replied == 0 && d.clicked == 0 && d.cost == 0 && len(d.failures) == 0 && len(d.minutes) == 0
}

// deltas is a set of per-campaign deltas.
type deltas map[int64]*delta

func (ds deltas) of(campaignID int64) *delta {
	d, ok := ds[campaignID]
	if !ok {
		d = newDelta()
		ds[campaignID] = d
	}
	return d
}

// write adds every delta to the rollup tables in campaign order (a fixed lock
// order, so two transactions never deadlock on rollup rows).
func (ds deltas) write(ctx context.Context, tx pgx.Tx) error {
	ids := make([]int64, 0, len(ds))
	for id := range ds {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	batch := &pgx.Batch{}
	for _, id := range ids {
		d := ds[id]
		if d.empty() {
			continue
		}
		args := []any{id, rand.IntN(rollupSlots)}
		for _, s := range rollupStatuses {
			args = append(args, d.status[s])
		}
		args = append(args, d.replied, d.clicked, d.cost)
		batch.Queue(rollupAddSQL, args...)
		if len(d.failures) > 0 {
			codes := make([]int32, 0, len(d.failures))
			counts := make([]int64, 0, len(d.failures))
			for c := range d.failures {
				codes = append(codes, int32(c))
			}
			sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] }) // lock order
			for _, c := range codes {
				counts = append(counts, d.failures[int(c)])
			}
			batch.Queue(failureAddSQL, id, codes, counts)
		}
		if len(d.minutes) > 0 {
			keys := make([]minuteKey, 0, len(d.minutes))
			for k := range d.minutes {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { // lock order
				if !keys[i].minute.Equal(keys[j].minute) {
					return keys[i].minute.Before(keys[j].minute)
				}
				return keys[i].event < keys[j].event
			})
			var mins []time.Time
			var events []string
			var counts []int64
			for _, k := range keys {
				mins, events, counts = append(mins, k.minute), append(events, k.event), append(counts, d.minutes[k])
			}
			batch.Queue(minuteAddSQL, id, mins, events, counts)
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("update rollups: %w", err)
	}
	return nil
}

// codeOrZero is the failure code a failed send is counted under; a failure
// that came without one counts as 0, as a recount does.
func codeOrZero(code *int32) int {
	if code == nil {
		return 0
	}
	return int(*code)
}
