package scheduler

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

func TestTickWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-04-01T00:00:00Z", map[string]string{"+5511990000001": "x"})
	_, err := b.sched.Create(context.Background(), reminder("daily", "0 9 * * *", "UTC"))
	require.NoError(t, err)
	require.Equal(t, "scheduler_tick", TickArgs{}.Kind())
	require.Equal(t, 1, TickArgs{}.InsertOpts().MaxAttempts)

	w := &TickWorker{Scheduler: b.sched}
	b.clock.Set(mustTime(t, "2026-04-01T09:00:05Z"))
	require.NoError(t, w.Work(context.Background(), &river.Job[TickArgs]{JobRow: &rivertype.JobRow{}}))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM campaigns`))
	require.NotNil(t, PeriodicJob())
}
