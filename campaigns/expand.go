package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/herald-sh/herald/internal/store"
)

// audienceQuery builds the statement that resolves a campaign's audience:
// the distinct contacts of its lists that match its filters, each with the
// value of every binding, and its arguments. User input never enters the SQL
// text: a field name picks one of a fixed set of column expressions and
// everything else is a parameter. $1 is the list ids, $2 the filters.
func audienceQuery(c *Campaign) (string, []any) {
	filters, _ := json.Marshal(cmpMap(c.Filters))
	args := []any{c.ListIDs, filters}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d::text", len(args))
	}
	var exprs []string
	for _, b := range c.Bindings {
		var e string
		switch {
		case b.Field == "":
			e = arg(b.Value)
		case contactFields[b.Field]:
			e = "c." + b.Field
		default:
			e = "c.attributes->>" + arg(b.Field)
		}
		exprs = append(exprs, fmt.Sprintf("coalesce(nullif(btrim(%s), ''), nullif(%s, ''))", e, arg(b.Default)))
	}
	params := "ARRAY[]::text[]"
	if len(exprs) > 0 {
		params = "ARRAY[" + strings.Join(exprs, ", ") + "]"
	}
	return `SELECT c.id, c.phone, c.country, c.consent, ` + params + ` AS params
FROM contacts c
WHERE c.id IN (SELECT contact_id FROM list_members WHERE list_id = ANY($1::bigint[]))
  AND c.attributes @> $2::jsonb`, args
}

// expandQuery inserts the sends and the exclusions of a campaign in one
// statement and reports the counts.
func expandQuery(c *Campaign) (string, []any) {
	audience, args := audienceQuery(c)
	labels := make([]string, len(c.Bindings))
	for i, b := range c.Bindings {
		labels[i] = "missing " + b.label()
	}
	args = append(args, c.ID, labels)
	n := len(args) - 1
	return fmt.Sprintf(`WITH audience AS MATERIALIZED (%s),
excluded AS (
    INSERT INTO campaign_exclusions (campaign_id, contact_id, reason, detail)
    SELECT $%[2]d, id,
           CASE consent WHEN 'opted_out' THEN 'opted_out' WHEN 'not_opted_in' THEN 'not_opted_in' ELSE 'missing_parameter' END,
           CASE WHEN consent = 'opted_in' THEN ($%[3]d::text[])[array_position(params, NULL)] ELSE '' END
    FROM audience
    WHERE consent <> 'opted_in' OR array_position(params, NULL) IS NOT NULL
    RETURNING reason
),
inserted AS (
    INSERT INTO sends (campaign_id, contact_id, phone, country, params)
    SELECT $%[2]d, id, phone, country, params FROM audience
    WHERE consent = 'opted_in' AND array_position(params, NULL) IS NULL
    RETURNING id
)
SELECT (SELECT count(*) FROM audience),
       (SELECT count(*) FROM inserted), coalesce((SELECT min(id) FROM inserted), 0), coalesce((SELECT max(id) FROM inserted), 0),
       coalesce((SELECT jsonb_object_agg(reason, n) FROM (SELECT reason, count(*) AS n FROM excluded GROUP BY reason) r), '{}')`,
		audience, n, n+1), args
}

// Expansion is what starting a campaign produced.
type Expansion struct {
	Audience int64            `json:"audience"`
	Sends    int64            `json:"sends"`
	Skipped  map[string]int64 `json:"skipped"`
	Jobs     int              `json:"jobs"`
}

// Start expands a draft campaign and sets it running, or schedules it when
// its start time is in the future (a River job starts it then).
func (s *Service) Start(ctx context.Context, id int64) (*Expansion, error) {
	var exp *Expansion
	err := store.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := campaignGetForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.StartAt != nil && c.StartAt.After(s.cfg.NowFunc()) && c.Status == "draft" {
			if err := setStatus(ctx, tx, id, "scheduled", "", "draft"); err != nil {
				return err
			}
			_, err := s.jobs.InsertManyFastTx(ctx, tx, []river.InsertManyParams{{
				Args:       StartArgs{CampaignID: id},
				InsertOpts: &river.InsertOpts{ScheduledAt: *c.StartAt},
			}})
			if err != nil {
				return fmt.Errorf("schedule campaign %d: %w", id, err)
			}
			exp = &Expansion{}
			return nil
		}
		exp, err = s.expandTx(ctx, tx, c)
		return err
	})
	return exp, err
}

func campaignGetForUpdate(ctx context.Context, tx pgx.Tx, id int64) (*Campaign, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, fmt.Errorf("lock campaign %d: %w", id, err)
	}
	return campaignGet(ctx, tx, id)
}

// expandLock is the advisory lock every expansion holds shared and a delete
// of contacts exclusively (migration 0006, herald_contacts_keep_sent): it
// stands in for the row locks of the foreign key sends no longer have.
const expandLock = 7234012

func (s *Service) expandTx(ctx context.Context, tx pgx.Tx, c *Campaign) (*Expansion, error) {
	if err := setStatus(ctx, tx, c.ID, "running", "", "draft", "scheduled"); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, expandLock); err != nil {
		return nil, fmt.Errorf("expand campaign %d: %w", c.ID, err)
	}
	query, args := expandQuery(c)
	exp := &Expansion{}
	var first, last int64
	var skipped []byte
	if err := tx.QueryRow(ctx, query, args...).Scan(&exp.Audience, &exp.Sends, &first, &last, &skipped); err != nil {
		return nil, fmt.Errorf("expand campaign %d: %w", c.ID, err)
	}
	if err := json.Unmarshal(skipped, &exp.Skipped); err != nil {
		return nil, fmt.Errorf("decode exclusions: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE campaigns SET audience = $2 WHERE id = $1`, c.ID, exp.Audience); err != nil {
		return nil, fmt.Errorf("set audience of campaign %d: %w", c.ID, err)
	}
	d := deltas{}
	d.of(c.ID).status["queued"] += exp.Sends
	if err := d.write(ctx, tx); err != nil {
		return nil, err
	}
	if exp.Sends == 0 {
		_, err := tx.Exec(ctx, campaignCompleteSQL, c.ID)
		return exp, err
	}
	n, err := s.enqueueRanges(ctx, tx, c, first, last)
	exp.Jobs = n
	return exp, err
}

// enqueueRanges inserts one dispatch job per BatchSize ids of [first, last].
// Ids of one campaign's sends come from one INSERT, so the ranges are dense;
// jobs still filter by campaign, so a gap or a foreign id costs nothing.
//
// The jobs are spread over the time the sender number needs for them at its
// rate: job k is due PaceLead before k × BatchSize / rate. River runs
// available jobs by priority, then scheduled_at, then id, so jobs inserted at
// once would all come before those of any campaign started later, and every
// worker would wait on the first campaign's number while the others idle.
// Paced, the jobs of campaigns on different numbers interleave, and each
// number has about PaceLead worth of jobs waiting on its throttle.
func (s *Service) enqueueRanges(ctx context.Context, tx pgx.Tx, c *Campaign, first, last int64) (int, error) {
	var params []river.InsertManyParams
	b := int64(s.cfg.BatchSize)
	now := s.cfg.NowFunc()
	per := time.Duration(float64(b) / float64(max(c.SenderRate, 1)) * float64(time.Second))
	for k, lo := 0, first; lo <= last; k, lo = k+1, lo+b {
		opts := &river.InsertOpts{Priority: c.Priority}
		if at := now.Add(time.Duration(k)*per - s.cfg.PaceLead); at.After(now) {
			opts.ScheduledAt = at
		}
		params = append(params, river.InsertManyParams{
			Args:       SendBatchArgs{CampaignID: c.ID, SenderID: c.SenderID, FirstID: lo, LastID: min(lo+b-1, last)},
			InsertOpts: opts,
		})
	}
	if _, err := s.jobs.InsertManyFastTx(ctx, tx, params); err != nil {
		return 0, fmt.Errorf("enqueue sends of campaign %d: %w", c.ID, err)
	}
	return len(params), nil
}

// Pause stops a running campaign from claiming more sends; the chunk in
// flight finishes. Nothing is lost: its queued sends wait for Resume.
func (s *Service) Pause(ctx context.Context, id int64, reason string) error {
	return setStatus(ctx, s.pool, id, "paused", cmpOr(reason, "paused by user"), "running", "scheduled")
}

// Resume sets a paused campaign running again and re-enqueues jobs over what
// is still queued.
func (s *Service) Resume(ctx context.Context, id int64) error {
	return store.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := campaignGetForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Status == "paused" && c.StartedAt == nil {
			// Paused while scheduled: it has not been expanded yet.
			if err := setStatus(ctx, tx, id, "draft", "", "paused"); err != nil {
				return err
			}
			c.Status = "draft"
			_, err := s.expandTx(ctx, tx, c)
			return err
		}
		if err := setStatus(ctx, tx, id, "running", "", "paused"); err != nil {
			return err
		}
		// The sender may have been stopped by an auth error; resuming a
		// campaign is the operator saying it is fixed.
		if _, err := tx.Exec(ctx, `UPDATE sender_numbers SET status = 'active', stopped_reason = '' WHERE id = $1`, c.SenderID); err != nil {
			return fmt.Errorf("reactivate sender: %w", err)
		}
		var first, last *int64
		if err := tx.QueryRow(ctx, `SELECT min(id), max(id) FROM sends WHERE campaign_id = $1 AND status = 'queued'`, id).Scan(&first, &last); err != nil {
			return fmt.Errorf("find queued sends of campaign %d: %w", id, err)
		}
		if first == nil {
			_, err := tx.Exec(ctx, campaignCompleteSQL, id)
			return err
		}
		_, err = s.enqueueRanges(ctx, tx, c, *first, *last)
		return err
	})
}

// Cancel ends a campaign: its queued sends become cancelled at once; sends
// already in flight finish and are counted.
func (s *Service) Cancel(ctx context.Context, id int64) error {
	return store.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := setStatus(ctx, tx, id, "cancelled", "cancelled by user", "draft", "scheduled", "running", "paused"); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE sends SET status = 'cancelled' WHERE campaign_id = $1 AND status = 'queued'`, id)
		if err != nil {
			return fmt.Errorf("cancel sends of campaign %d: %w", id, err)
		}
		d := deltas{}
		d.of(id).status["queued"] = -tag.RowsAffected()
		d.of(id).status["cancelled"] = tag.RowsAffected()
		return d.write(ctx, tx)
	})
}

// StartArgs starts a scheduled campaign at its start time.
type StartArgs struct {
	CampaignID int64 `json:"campaign_id"`
}

// Kind is the stable job kind stored in River's rows.
func (StartArgs) Kind() string { return "campaign_start" }

// StartWorker runs StartArgs jobs.
type StartWorker struct {
	river.WorkerDefaults[StartArgs]
	Service *Service
}

// Work expands the campaign unless it was paused or cancelled meanwhile.
func (w *StartWorker) Work(ctx context.Context, job *river.Job[StartArgs]) error {
	return store.WithTx(ctx, w.Service.pool, func(tx pgx.Tx) error {
		c, err := campaignGetForUpdate(ctx, tx, job.Args.CampaignID)
		if err != nil {
			return err
		}
		if c.Status != "scheduled" {
			return nil
		}
		_, err = w.Service.expandTx(ctx, tx, c)
		return err
	})
}
