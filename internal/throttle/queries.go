package throttle

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
)

// memberHeartbeat is the one write of a heartbeat. It upserts this member's
// row for every sender it wants, deletes its rows for the others, and applies
// the 130429 decreases seen since the last heartbeat.
//
// admit_after starts NULL; the first update after the row was committed sets
// it to now(), an instant known to lie after that commit (see doc.go). A row
// found expired is treated as a new join: a member that the others already
// counted out must be admitted again before it sends.
//
// A decrease applies only if the last one is at least @slow_window older, so
// a burst of 130429s from one overload counts once whichever process saw it;
// it multiplies by @calm_factor if the last one is @calm_after older (or
// there was none), else by @decrease_factor (see Config.CalmDecreaseFactor).
// The recovery expression must match factorAt. Rows are locked in sender id
// order so two members' statements cannot deadlock on throttle_senders.
const memberHeartbeatSQL = `
WITH slowed AS (
    INSERT INTO throttle_senders AS t (sender_id, factor, slowed_at)
    SELECT s.id, greatest(@min_factor::float8, @calm_factor::float8), x.slowed_at
    FROM unnest(@slow_sender_ids::bigint[], @slowed_ats::timestamptz[]) AS x (sender_id, slowed_at)
    JOIN sender_numbers s ON s.id = x.sender_id
    ORDER BY s.id
    ON CONFLICT (sender_id) DO UPDATE
    SET factor = greatest(@min_factor::float8,
            least(1, t.factor + @increase_step::float8 *
                floor(greatest(0, extract(epoch FROM excluded.slowed_at - t.slowed_at)))::float8)
            * CASE WHEN excluded.slowed_at >= t.slowed_at + @calm_after_us::bigint * interval '1 microsecond'
                   THEN @calm_factor::float8 ELSE @decrease_factor::float8 END),
        slowed_at = excluded.slowed_at
    WHERE excluded.slowed_at >= t.slowed_at + @slow_window_us::bigint * interval '1 microsecond'
), released AS (
    DELETE FROM throttle_members
    WHERE member_id = @member_id AND NOT (sender_id = ANY (@sender_ids::bigint[]))
)
INSERT INTO throttle_members AS m (sender_id, member_id)
SELECT s.id, @member_id
FROM sender_numbers s
WHERE s.id = ANY (@sender_ids::bigint[])
ORDER BY s.id
ON CONFLICT (sender_id, member_id) DO UPDATE
SET seen_at = now(),
    admit_after = CASE
        WHEN m.seen_at <= now() - @ttl_us::bigint * interval '1 microsecond' THEN NULL
        ELSE coalesce(m.admit_after, now())
    END`

// senderStates is the one read of a heartbeat: per wanted sender, its rate
// and status, the shared factor, the live members (this one included) and
// whether this member is admitted. It runs in the same implicit transaction
// as memberHeartbeatSQL (one batch), so it sees this member's fresh row.
const senderStatesSQL = `
SELECT s.id AS sender_id,
       s.rate_per_second,
       s.status,
       t.factor,
       t.slowed_at,
       me.admit_after,
       count(o.member_id) FILTER (WHERE o.seen_at > now() - @ttl_us::bigint * interval '1 microsecond') AS members,
       count(o.member_id) FILTER (WHERE o.seen_at <= now() - @ttl_us::bigint * interval '1 microsecond') AS dead,
       (me.admit_after IS NOT NULL AND NOT coalesce(bool_or(
            o.member_id <> @member_id
            AND o.seen_at > now() - @ttl_us::bigint * interval '1 microsecond'
            AND o.seen_at <= me.admit_after), false)) AS admitted
FROM sender_numbers s
LEFT JOIN throttle_senders t ON t.sender_id = s.id
LEFT JOIN throttle_members me ON me.sender_id = s.id AND me.member_id = @member_id
LEFT JOIN throttle_members o ON o.sender_id = s.id
WHERE s.id = ANY (@sender_ids::bigint[])
GROUP BY s.id, t.sender_id, me.sender_id, me.member_id`

// memberReapSQL deletes the rows of crashed members. It runs in its own short
// transaction and skips rows another statement holds, so it never waits and
// cannot take part in a deadlock with a member's heartbeat.
const memberReapSQL = `
DELETE FROM throttle_members
WHERE (sender_id, member_id) IN (
    SELECT sender_id, member_id FROM throttle_members
    WHERE sender_id = ANY (@sender_ids::bigint[])
      AND seen_at <= now() - @ttl_us::bigint * interval '1 microsecond'
    FOR UPDATE SKIP LOCKED)`

type heartbeatParams struct {
	MemberID       string
	SenderIDs      []int64 // sorted
	SlowSenderIDs  []int64 // sorted, parallel to SlowedAts
	SlowedAts      []time.Time
	MemberTTL      time.Duration
	SlowWindow     time.Duration
	MinFactor      float64
	IncreaseStep   float64
	DecreaseFactor float64
	CalmFactor     float64
	CalmAfter      time.Duration
}

// senderState is one row of senderStatesSQL.
type senderState struct {
	SenderID      int64      `db:"sender_id"`
	RatePerSecond int        `db:"rate_per_second"`
	Status        string     `db:"status"`
	Factor        *float64   `db:"factor"`
	SlowedAt      *time.Time `db:"slowed_at"`
	AdmitAfter    *time.Time `db:"admit_after"`
	Members       int        `db:"members"`
	Dead          int        `db:"dead"`
	Admitted      bool       `db:"admitted"`
}

// memberHeartbeat runs memberHeartbeatSQL and senderStatesSQL in one batch:
// one round trip, one implicit transaction.
func memberHeartbeat(ctx context.Context, db store.DBTX, p *heartbeatParams) ([]senderState, error) {
	args := pgx.NamedArgs{
		"member_id":       p.MemberID,
		"sender_ids":      nonNil(p.SenderIDs),
		"slow_sender_ids": nonNil(p.SlowSenderIDs),
		"slowed_ats":      append([]time.Time{}, p.SlowedAts...),
		"ttl_us":          p.MemberTTL.Microseconds(),
		"slow_window_us":  p.SlowWindow.Microseconds(),
		"min_factor":      p.MinFactor,
		"increase_step":   p.IncreaseStep,
		"decrease_factor": p.DecreaseFactor,
		"calm_factor":     p.CalmFactor,
		"calm_after_us":   p.CalmAfter.Microseconds(),
	}
	b := &pgx.Batch{}
	b.Queue(memberHeartbeatSQL, args)
	b.Queue(senderStatesSQL, pgx.NamedArgs{
		"member_id":  p.MemberID,
		"sender_ids": nonNil(p.SenderIDs),
		"ttl_us":     p.MemberTTL.Microseconds(),
	})
	br := db.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("upsert throttle members: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read sender states: %w", err)
	}
	states, err := pgx.CollectRows(rows, pgx.RowToStructByName[senderState])
	if err != nil {
		return nil, fmt.Errorf("read sender states: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return states, nil
}

// memberReap deletes expired members of the given senders.
func memberReap(ctx context.Context, db store.DBTX, senderIDs []int64, ttl time.Duration) error {
	_, err := db.Exec(ctx, memberReapSQL, pgx.NamedArgs{
		"sender_ids": nonNil(senderIDs),
		"ttl_us":     ttl.Microseconds(),
	})
	if err != nil {
		return fmt.Errorf("reap throttle members: %w", err)
	}
	return nil
}

// nonNil makes pgx send an empty array rather than NULL, which ANY and
// unnest would treat as "no rows" anyway but NOT (x = ANY (NULL)) would not.
func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
