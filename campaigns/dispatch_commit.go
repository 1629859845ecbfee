package campaigns

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// commitTimeout bounds the commit of a chunk's outcomes.
const commitTimeout = 30 * time.Second

// commit records a chunk's outcomes, its rollups and whatever the errors
// asked for (opt-outs, pausing the campaign, stopping the sender) in one
// transaction. It reports whether the job should stop. It runs to its own
// timeout even when ctx ends (shutdown, job timeout): the requests went out,
// and what they did is committed rather than left unknown.
func (d *Dispatcher) commit(ctx context.Context, info campaignInfo, outcomes []outcome) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	c := info.c
	var (
		ids                     []int64
		statuses, wamids, waIDs []string
		codes                   []*int32
		titles, details         []string
		nexts                   []*time.Time
		deltasAttempt           []int16
		optOut                  []int64
		pause, stopSender       *whatsapp.Error
		streakCode, streakCount int
		sawSuccess              bool
	)
	for _, o := range outcomes {
		if o.status == "" {
			// Outcome unknown: left in_flight for its webhook, or the
			// deadline, to settle. Rare and worth an operator's look.
			d.logger.Warn("send outcome unknown, waiting for its status webhook", slog.Int64("campaign_id", info.c.ID),
				slog.Int64("send_id", o.send.id), slog.String("error", o.err.Error()))
			continue
		}
		ids = append(ids, o.send.id)
		statuses = append(statuses, o.status)
		wamids = append(wamids, o.wamid)
		waIDs = append(waIDs, o.waID)
		var code *int32
		title, detail := "", ""
		if o.err != nil {
			v := int32(o.err.Code)
			code = &v
			title, detail = cmpOr(o.err.Title, whatsapp.CodeTitle(o.err.Code)), cmpOr(o.err.Details, o.err.Message)
		}
		codes, titles, details = append(codes, code), append(titles, title), append(details, detail)
		var next *time.Time
		if o.status == "queued" {
			n := o.next
			next = &n
		}
		nexts = append(nexts, next)
		var delta int16
		if o.refund {
			delta = -1
		}
		deltasAttempt = append(deltasAttempt, delta)

		switch o.action {
		case whatsapp.ActionOptOut:
			optOut = append(optOut, o.send.contactID)
		case whatsapp.ActionPauseCampaign:
			pause = o.err
		case whatsapp.ActionStopSender:
			stopSender = o.err
		}
		// The failure streak: consecutive failures with one code, in order.
		if o.status == "failed" && o.err != nil {
			if o.err.Code == streakCode {
				streakCount++
			} else {
				streakCode, streakCount = o.err.Code, 1
			}
		} else if o.status == "accepted" {
			sawSuccess, streakCode, streakCount = true, 0, 0
		}
	}
	stop := false
	err := store.WithTx(ctx, d.pool, func(tx pgx.Tx) error {
		ds := deltas{}
		if len(ids) > 0 {
			rows, err := tx.Query(ctx, sendResultSQL, ids, statuses, wamids, waIDs, codes, titles, details, nexts, deltasAttempt)
			if err != nil {
				return fmt.Errorf("record outcomes: %w", err)
			}
			now := d.cfg.NowFunc()
			for rows.Next() {
				var (
					id       int64
					old, new string
					code     *int32
				)
				if err := rows.Scan(&id, &old, &new, &code); err != nil {
					return err
				}
				dl := ds.of(c.ID)
				dl.move(old, new)
				if new == "failed" && old != "failed" {
					dl.failures[codeOrZero(code)]++
					dl.event(now, "failed")
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("record outcomes: %w", err)
			}
		}
		if err := ds.write(ctx, tx); err != nil {
			return err
		}
		if len(optOut) > 0 {
			if _, err := tx.Exec(ctx, contactOptOutSQL, optOut, d.cfg.NowFunc(), "cloud_api_error_131050"); err != nil {
				return fmt.Errorf("opt out contacts: %w", err)
			}
		}
		if stopSender != nil {
			reason := fmt.Sprintf("sender stopped: error %d %s", stopSender.Code, cmpOr(stopSender.Title, whatsapp.CodeTitle(stopSender.Code)))
			if _, err := tx.Exec(ctx, senderStopSQL, c.SenderID, reason); err != nil {
				return fmt.Errorf("stop sender: %w", err)
			}
			if _, err := tx.Exec(ctx, campaignsPauseForSenderSQL, c.SenderID, reason); err != nil {
				return fmt.Errorf("pause campaigns of sender: %w", err)
			}
			d.logger.Error("sender stopped", slog.Int64("sender_id", c.SenderID), slog.Int("code", stopSender.Code), slog.String("fbtrace_id", stopSender.FBTraceID))
			stop = true
			return nil
		}
		if pause != nil {
			reason := fmt.Sprintf("paused: error %d %s: %s", pause.Code, cmpOr(pause.Title, whatsapp.CodeTitle(pause.Code)), pause.Details)
			if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = 'paused', status_reason = $2 WHERE id = $1 AND status = 'running'`, c.ID, reason); err != nil {
				return fmt.Errorf("pause campaign: %w", err)
			}
			d.logger.Warn("campaign paused", slog.Int64("campaign_id", c.ID), slog.String("reason", reason))
			stop = true
			return nil
		}
		paused, err := d.updateStreak(ctx, tx, c.ID, sawSuccess, streakCode, streakCount)
		stop = paused
		return err
	})
	return stop, err
}

// updateStreak keeps the campaign's run of identical failures and pauses it
// at PauseAfter. The campaign row is only written when the streak changes,
// so healthy chunks do not contend on it.
func (d *Dispatcher) updateStreak(ctx context.Context, tx pgx.Tx, campaignID int64, reset bool, code, count int) (bool, error) {
	if count == 0 && !reset {
		return false, nil
	}
	var curCode, curCount int
	if err := tx.QueryRow(ctx, `SELECT failure_streak_code, failure_streak_count FROM campaigns WHERE id = $1`, campaignID).Scan(&curCode, &curCount); err != nil {
		return false, fmt.Errorf("read failure streak: %w", err)
	}
	newCode, newCount := code, count
	if !reset && code == curCode {
		newCount = curCount + count
	}
	if newCode == curCode && newCount == curCount {
		return false, nil
	}
	if count == 0 && curCount == 0 {
		return false, nil
	}
	var status string
	err := tx.QueryRow(ctx, `
		UPDATE campaigns SET failure_streak_code = $2::int, failure_streak_count = $3::int,
		    status = CASE WHEN $3::int >= $4::int AND status = 'running' THEN 'paused' ELSE status END,
		    status_reason = CASE WHEN $3::int >= $4::int AND status = 'running' THEN $5 ELSE status_reason END
		WHERE id = $1 RETURNING status`,
		campaignID, newCode, newCount, d.cfg.PauseAfter,
		fmt.Sprintf("paused: %d consecutive sends failed with error %d %s", newCount, newCode, whatsapp.CodeTitle(newCode))).Scan(&status)
	if err != nil {
		return false, fmt.Errorf("update failure streak: %w", err)
	}
	return status == "paused", nil
}
