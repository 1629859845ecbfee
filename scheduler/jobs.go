package scheduler

import (
	"context"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"
)

// TickArgs asks for one tick of the scheduler.
type TickArgs struct{}

// Kind is the stable job kind stored in River's rows.
func (TickArgs) Kind() string { return "scheduler_tick" }

// InsertOpts makes a tick a single attempt: a failed tick is not retried,
// because the next periodic tick does the same work with a fresher now.
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1}
}

// TickWorker runs TickArgs jobs.
type TickWorker struct {
	river.WorkerDefaults[TickArgs]
	Scheduler *Scheduler
}

// Work ticks at the Scheduler's NowFunc.
func (w *TickWorker) Work(ctx context.Context, _ *river.Job[TickArgs]) error {
	_, err := w.Scheduler.Tick(ctx, w.Scheduler.cfg.NowFunc())
	return err
}

// PeriodicJob is the River periodic job that ticks at the start of every
// minute, the resolution of a cron spec, and once when the client starts.
// River inserts it from the elected leader only; ticks from several
// processes (or an extra `herald schedule tick`) are safe all the same.
func PeriodicJob() *river.PeriodicJob {
	everyMinute, err := cron.ParseStandard("* * * * *")
	if err != nil {
		panic(err) // a constant spec
	}
	return river.NewPeriodicJob(everyMinute,
		func() (river.JobArgs, *river.InsertOpts) { return TickArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
