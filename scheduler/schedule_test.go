package scheduler

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
)

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-03-01T12:00:00Z", nil)
	ctx := context.Background()

	_, err := b.sched.Create(ctx, NewSchedule{
		Cron: "TZ=UTC 0 9 * * *", Zone: "Mars/Olympus_Mons", Template: "nope", Language: "en_US",
		PhoneNumberID: "2", Lists: []string{"patients", "ghosts"}, Priority: 9, CatchUp: "sometimes",
		Filters: map[string]string{"day": "{{tomorrow}}"},
	})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, []string{"catch_up", "cron", "filters.day", "lists", "name", "phone_number_id", "priority", "template", "zone"},
		slices.Sorted(maps.Keys(ve.Fields)))
	require.Contains(t, ve.Fields["cron"], "TZ=")
	require.Contains(t, ve.Fields["lists"], "ghosts")
	require.NotContains(t, ve.Fields["lists"], "patients")

	// Bindings are checked against the template.
	ns := reminder("unbound", "0 9 * * *", "UTC")
	ns.Bindings = nil
	_, err = b.sched.Create(ctx, ns)
	require.ErrorAs(t, err, &ve)
	require.Equal(t, map[string]string{"body.1": "not bound"}, ve.Fields)

	// Names are unique.
	_, err = b.sched.Create(ctx, reminder("daily", "0 9 * * *", "UTC"))
	require.NoError(t, err)
	_, err = b.sched.Create(ctx, reminder("daily", "0 10 * * *", "UTC"))
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields["name"], "exists")
}

func TestScheduleCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-03-06T10:00:00-03:00", nil) // a Friday
	ctx := context.Background()

	ns := reminder("weekday mornings", "0 9 * * 1-5", "America/Sao_Paulo")
	ns.Filters = map[string]string{"appointment_date": "{{run_date+1d}}"}
	sch, err := b.sched.Create(ctx, ns)
	require.NoError(t, err)
	require.True(t, sch.Enabled)
	require.Equal(t, CatchUpSkip, sch.CatchUp)
	require.Equal(t, 2, sch.Priority)
	require.Equal(t, ns.Filters, sch.Filters)
	require.Equal(t, ns.Bindings, sch.Bindings)
	require.Nil(t, sch.LastRunAt)
	require.True(t, mustTime(t, "2026-03-09T09:00:00-03:00").Equal(*sch.NextRunAt), "next run %v", sch.NextRunAt)

	got, err := b.sched.Get(ctx, sch.ID)
	require.NoError(t, err)
	require.Equal(t, sch, got)
	got, err = b.sched.GetByName(ctx, "weekday mornings")
	require.NoError(t, err)
	require.Equal(t, sch.ID, got.ID)
	_, err = b.sched.Create(ctx, reminder("another", "@yearly", "UTC"))
	require.NoError(t, err)
	list, err := b.sched.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "another", list[0].Name)

	off, err := b.sched.SetEnabled(ctx, sch.ID, false)
	require.NoError(t, err)
	require.False(t, off.Enabled)
	require.Nil(t, off.NextRunAt)
	// Nothing runs while off, and switching it back on after the Monday run
	// does not catch that run up.
	require.Empty(t, b.tick(t, "2026-03-09T09:30:00-03:00"))
	on, err := b.sched.SetEnabled(ctx, sch.ID, true)
	require.NoError(t, err)
	require.True(t, on.Enabled)
	require.True(t, mustTime(t, "2026-03-10T09:00:00-03:00").Equal(*on.NextRunAt), "next run %v", on.NextRunAt)
	again, err := b.sched.SetEnabled(ctx, sch.ID, true)
	require.NoError(t, err)
	require.Equal(t, on.NextRunAt, again.NextRunAt)

	require.NoError(t, b.sched.Delete(ctx, sch.ID))
	_, err = b.sched.Get(ctx, sch.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, b.sched.Delete(ctx, sch.ID), store.ErrNotFound)
}
