package throttle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// factorSQL is the AIMD factor of throttle_senders row t now: the value
// right after the last decrease plus @increase_step for every whole second
// since, up to 1 (1 when never slowed).
const factorSQL = `CASE WHEN t.slowed_at IS NULL THEN t.factor
    ELSE least(1, t.factor + @increase_step::float8 *
        floor(greatest(0, extract(epoch FROM now() - t.slowed_at)))::float8) END`

// spacingSQL is the microseconds between slots of a number at rate
// messages a second with AIMD factor f: the rate times f, less one message
// a second, less Headroom. The one message is for the edges of a second:
// a second can hold one slot more than its length divided by the spacing,
// which at 80/s is all Headroom leaves (half the rate when f has brought it
// under two messages a second).
func spacingSQL(rate, f string) string {
	return `(1e6 / (greatest(` + rate + ` * ` + f + ` - 1, ` + rate + ` * ` + f + ` / 2) * (1 - @headroom::float8)))`
}

// leaseSQL takes @n slots of an active sender number's schedule: from
// next_slot, or from @lead_us after now if the schedule has fallen behind
// (an idle number saves nothing up; the lead is room for the commit, the
// answer's way back and the caller's claim before the first slot), spaced
// as spacingSQL says. It returns the new next_slot, the spacing, and the
// server's clock after the update, which lets the caller place the slots
// on its own clock. The row lock makes concurrent leases take consecutive
// slots. No row comes back for a number that is stopped or does not exist.
var leaseSQL = `
WITH s AS (
    SELECT id, rate_per_second::float8 AS rate
    FROM sender_numbers
    WHERE id = @sender_id AND status = 'active'
)
INSERT INTO throttle_senders AS t (sender_id, next_slot, spacing_us)
SELECT id, clock_timestamp() + (@lead_us::float8 + @n::int * ` + spacingSQL("rate", "1") + `) * interval '1 microsecond',
       ` + spacingSQL("rate", "1") + `
FROM s
ON CONFLICT (sender_id) DO UPDATE
SET spacing_us = ` + spacingSQL("(SELECT rate FROM s)", "("+factorSQL+")") + `,
    next_slot = greatest(coalesce(t.next_slot, '-infinity'), clock_timestamp() + @lead_us::float8 * interval '1 microsecond')
        + @n::int * ` + spacingSQL("(SELECT rate FROM s)", "("+factorSQL+")") + ` * interval '1 microsecond'
RETURNING t.next_slot, t.spacing_us, clock_timestamp() AS db_now`

// senderStatusSQL tells why leaseSQL returned nothing.
const senderStatusSQL = `SELECT status FROM sender_numbers WHERE id = $1`

// slowSQL records a 130429 for a sender number: the factor, as it stands
// now, is multiplied by @decrease, floored at @min_factor. A decrease
// within @slow_window of the last one is the same overload seen again (by
// this process or another) and changes nothing.
const slowSQL = `
INSERT INTO throttle_senders AS t (sender_id, factor, slowed_at)
SELECT id, greatest(@min_factor::float8, @decrease::float8), now()
FROM sender_numbers WHERE id = @sender_id
ON CONFLICT (sender_id) DO UPDATE
SET factor = greatest(@min_factor::float8, (` + factorSQL + `) * @decrease::float8),
    slowed_at = now()
WHERE t.slowed_at IS NULL
   OR now() >= t.slowed_at + @slow_window_us::bigint * interval '1 microsecond'`

// schedule is one lease as the server saw it.
type schedule struct {
	next    time.Time     // next_slot after the lease: the end of its slots
	spacing time.Duration // between slots
	dbNow   time.Time     // the server's clock after the update
}

// start is the server time of the lease's first slot.
func (s schedule) start(n int) time.Time {
	return s.next.Add(-time.Duration(n) * s.spacing)
}

func lease(ctx context.Context, db store.DBTX, senderID int64, n int, lead time.Duration, headroom, increaseStep float64) (schedule, error) {
	var (
		sc        schedule
		spacingUS float64
	)
	err := db.QueryRow(ctx, leaseSQL, pgx.NamedArgs{
		"sender_id":     senderID,
		"n":             n,
		"lead_us":       lead.Microseconds(),
		"headroom":      headroom,
		"increase_step": increaseStep,
	}).Scan(&sc.next, &spacingUS, &sc.dbNow)
	if errors.Is(err, pgx.ErrNoRows) {
		var status string
		switch err := db.QueryRow(ctx, senderStatusSQL, senderID).Scan(&status); {
		case errors.Is(err, pgx.ErrNoRows):
			return sc, fmt.Errorf("sender %d: %w", senderID, store.ErrNotFound)
		case err != nil:
			return sc, fmt.Errorf("read status of sender %d: %w", senderID, err)
		}
		return sc, ErrSenderStopped
	}
	if err != nil {
		return sc, fmt.Errorf("lease %d slots of sender %d: %w", n, senderID, err)
	}
	sc.spacing = time.Duration(spacingUS * float64(time.Microsecond))
	return sc, nil
}

type slowParams struct {
	SenderID     int64
	MinFactor    float64
	IncreaseStep float64
	Decrease     float64
	SlowWindow   time.Duration
}

func slow(ctx context.Context, db store.DBTX, p slowParams) error {
	_, err := db.Exec(ctx, slowSQL, pgx.NamedArgs{
		"sender_id":      p.SenderID,
		"min_factor":     p.MinFactor,
		"increase_step":  p.IncreaseStep,
		"decrease":       p.Decrease,
		"slow_window_us": p.SlowWindow.Microseconds(),
	})
	if err != nil {
		return fmt.Errorf("slow down sender %d: %w", p.SenderID, err)
	}
	return nil
}
