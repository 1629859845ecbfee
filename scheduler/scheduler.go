package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/store"
)

// campaignService is the part of campaigns.Service a run needs. Both calls
// open their own transactions on the pool.
type campaignService interface {
	Create(ctx context.Context, nc campaigns.NewCampaign) (*campaigns.Campaign, error)
	Start(ctx context.Context, id int64) (*campaigns.Expansion, error)
}

// Config tunes a Scheduler.
type Config struct {
	// Grace is how late a tick may find a run and still count it on time
	// rather than missed (default 10 minutes). Only CatchUpNone looks at it:
	// it makes an on-time run and drops a missed one.
	Grace time.Duration
	// MaxCatchUp is the most runs CatchUpAll makes for one schedule in one
	// tick (default 10). When more were missed, the most recent are made and
	// the older ones are skipped.
	MaxCatchUp int
	// NowFunc returns the current time (default time.Now). The tick worker
	// ticks at NowFunc(); Create and SetEnabled compute next runs from it.
	NowFunc func() time.Time
}

// Scheduler turns due schedule runs into started campaigns, each run exactly
// once however many processes tick, and keeps the schedules.
type Scheduler struct {
	logger *slog.Logger
	pool   *pgxpool.Pool
	svc    campaignService
	cfg    Config
}

// NewScheduler returns a Scheduler. svc creates and starts the campaigns; it
// may be nil for a Scheduler used only to keep schedules (no Tick).
func NewScheduler(logger *slog.Logger, pool *pgxpool.Pool, svc *campaigns.Service, cfg Config) *Scheduler {
	cfg.Grace = cmp.Or(cfg.Grace, 10*time.Minute)
	cfg.MaxCatchUp = cmp.Or(cfg.MaxCatchUp, 10)
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Grace < 0 || cfg.MaxCatchUp < 0 {
		panic("scheduler: Config.Grace and Config.MaxCatchUp must not be negative")
	}
	s := &Scheduler{logger: logger, pool: pool, cfg: cfg}
	if svc != nil {
		s.svc = svc
	}
	return s
}

// Tick makes every run due at now: for each enabled schedule whose next run
// is at or before now, the runs its catch-up policy picks, each one campaign,
// created and started. It returns the ids of the campaigns it made.
//
// Each schedule is handled in its own transaction that holds the schedule's
// row (FOR UPDATE SKIP LOCKED, so concurrent ticks share the work), inserts
// each run into schedule_runs ON CONFLICT DO NOTHING, creates the campaign
// only when its insert won, and advances next_run_at. A schedule that fails
// is rolled back and retried at the next tick; the others go on, and Tick
// returns the failures joined. A run whose campaign is refused for good (its
// list or template is gone) is recorded with the reason and not retried.
//
// A tick holds one pooled connection per schedule and borrows another for
// campaigns.Service, which opens its own transactions.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) ([]int64, error) {
	if s.svc == nil {
		panic("scheduler: Tick needs the campaigns service given to NewScheduler")
	}
	var (
		created []int64
		failed  = []int64{} // never nil: ANY(NULL) matches nothing
		errs    []error
	)
	for {
		var sch *Schedule
		var made []int64
		err := store.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, scheduleLockDueSQL, now, failed)
			if err != nil {
				return fmt.Errorf("find due schedules: %w", err)
			}
			sch, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Schedule])
			if errors.Is(err, pgx.ErrNoRows) {
				sch = nil
				return nil
			}
			if err != nil {
				return fmt.Errorf("find due schedules: %w", err)
			}
			made, err = s.runSchedule(ctx, tx, sch, now)
			return err
		})
		switch {
		case err != nil && sch == nil:
			return created, errors.Join(append(errs, err)...)
		case err != nil:
			failed = append(failed, sch.ID)
			errs = append(errs, fmt.Errorf("tick schedule %d (%s): %w", sch.ID, sch.Name, err))
		case sch == nil:
			return created, errors.Join(errs...)
		default:
			created = append(created, made...)
		}
	}
}

// runSchedule makes the due runs of one locked schedule and advances it.
func (s *Scheduler) runSchedule(ctx context.Context, tx pgx.Tx, sch *Schedule, now time.Time) ([]int64, error) {
	sp, err := mustParseSpec(sch.Cron, sch.Zone)
	if err != nil {
		return nil, err
	}
	var (
		made []int64
		last *time.Time
	)
	for _, at := range sp.dueRuns(*sch.NextRunAt, now, sch.CatchUp, s.cfg.Grace, s.cfg.MaxCatchUp) {
		last = &at
		tag, err := tx.Exec(ctx, scheduleRunInsertSQL, sch.ID, at)
		if err != nil {
			return nil, fmt.Errorf("record run %s: %w", at.Format(time.RFC3339), err)
		}
		if tag.RowsAffected() == 0 {
			continue // another tick made this run
		}
		id, err := s.makeRun(ctx, tx, sch, sp, at)
		if refusal := refused(err); refusal != "" {
			if _, err := tx.Exec(ctx, scheduleRunSetErrorSQL, sch.ID, at, refusal); err != nil {
				return nil, fmt.Errorf("record refused run %s: %w", at.Format(time.RFC3339), err)
			}
			s.logger.Warn("schedule run made no campaign", slog.Int64("schedule_id", sch.ID),
				slog.String("schedule", sch.Name), slog.Time("run_at", at), slog.String("reason", refusal))
			continue
		}
		if err != nil {
			return nil, err
		}
		s.logger.Info("schedule run made a campaign", slog.Int64("schedule_id", sch.ID),
			slog.String("schedule", sch.Name), slog.Time("run_at", at), slog.Int64("campaign_id", id))
		made = append(made, id)
	}
	var next *time.Time
	if t := sp.next(now); !t.IsZero() {
		next = &t
	}
	if _, err := tx.Exec(ctx, scheduleAdvanceSQL, sch.ID, next, last); err != nil {
		return nil, fmt.Errorf("advance schedule: %w", err)
	}
	return made, nil
}

// refused returns the reason when err means the run can never make its
// campaign (a validation error), and "" otherwise.
func refused(err error) string {
	var cve *campaigns.ValidationError
	var sve *ValidationError
	if errors.As(err, &cve) || errors.As(err, &sve) {
		return err.Error()
	}
	return ""
}

// RunName is the name of the campaign a schedule's run at runAt makes: the
// schedule's name and the run's wall-clock time in loc. It is unique per
// run, which is what lets a tick find a campaign an earlier, crashed tick
// created (see campaignFindOrphanSQL).
func RunName(schedule string, runAt time.Time, loc *time.Location) string {
	return schedule + " @ " + runAt.In(loc).Format("2006-01-02 15:04 MST")
}

// makeRun creates and starts the campaign of one run, or adopts the one a
// crashed tick left, and links it to the run.
func (s *Scheduler) makeRun(ctx context.Context, tx pgx.Tx, sch *Schedule, sp spec, at time.Time) (int64, error) {
	name := RunName(sch.Name, at, sp.loc)
	filters, problems := resolveFilters(sch.Filters, at, sp.loc)
	if problems != nil {
		return 0, &ValidationError{Fields: problems}
	}
	var (
		id     int64
		status string
	)
	err := tx.QueryRow(ctx, campaignFindOrphanSQL, name, sch.ID, sch.CreatedAt).Scan(&id, &status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c, err := s.svc.Create(ctx, campaigns.NewCampaign{
			Name:          name,
			Template:      sch.Template,
			Language:      sch.Language,
			PhoneNumberID: sch.PhoneNumberID,
			Lists:         sch.Lists,
			Filters:       filters,
			Bindings:      sch.Bindings,
			Priority:      sch.Priority,
		})
		if err != nil {
			return 0, err
		}
		id, status = c.ID, c.Status
	case err != nil:
		return 0, fmt.Errorf("find campaign %q: %w", name, err)
	}
	if status == "draft" {
		// Someone may have cancelled an adopted draft; that stands.
		if _, err := s.svc.Start(ctx, id); err != nil && !errors.Is(err, campaigns.ErrInvalidTransition) {
			return 0, fmt.Errorf("start campaign %d: %w", id, err)
		}
	}
	if _, err := tx.Exec(ctx, scheduleRunSetCampaignSQL, sch.ID, at, id); err != nil {
		return 0, fmt.Errorf("link run to campaign %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, campaignSetScheduleSQL, id, sch.ID); err != nil {
		return 0, fmt.Errorf("link campaign %d to schedule: %w", id, err)
	}
	return id, nil
}
