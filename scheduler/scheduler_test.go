package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// countingInserter stands in for the River client: campaigns.Service.Start
// enqueues dispatch jobs through it, and nothing here runs them.
type countingInserter struct{ jobs atomic.Int64 }

func (c *countingInserter) InsertManyFastTx(_ context.Context, _ pgx.Tx, params []river.InsertManyParams) (int, error) {
	c.jobs.Add(int64(len(params)))
	return len(params), nil
}

// clock is a NowFunc that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type testBundle struct {
	dsn   string
	pool  *pgxpool.Pool
	clock *clock
	svc   *campaigns.Service
	sched *Scheduler
}

// setup gives a test a fresh database with a template ("reminder", en_US,
// "Hi {{1}}"), a sender ("1") and a list ("patients") of opted-in contacts
// whose appointment_date attributes are given by phone, and a Scheduler at
// now.
func setup(t *testing.T, now string, appointments map[string]string) *testBundle {
	t.Helper()
	ctx := context.Background()
	dsn, pool := storetest.DB(t)
	b := &testBundle{dsn: dsn, pool: pool, clock: &clock{now: mustTime(t, now)}}
	b.svc, b.sched = b.newScheduler(pool)

	_, err := campaigns.TemplateUpsert(ctx, pool, whatsapp.TemplateInfo{Name: "reminder", Language: "en_US", Status: "APPROVED",
		Category: "UTILITY", Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}"}}})
	require.NoError(t, err)
	_, err = campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: "1", RatePerSecond: 80})
	require.NoError(t, err)
	var listID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lists (name) VALUES ('patients') RETURNING id`).Scan(&listID))
	for phone, date := range appointments {
		attrs, _ := json.Marshal(map[string]string{"appointment_date": date})
		_, err := pool.Exec(ctx, `WITH c AS (INSERT INTO contacts (phone, name, consent, attributes) VALUES ($1, 'Ana', 'opted_in', $2) RETURNING id)
			INSERT INTO list_members (list_id, contact_id) SELECT $3, id FROM c`, phone, attrs, listID)
		require.NoError(t, err)
	}
	return b
}

// newScheduler builds what one herald process has: its own campaigns
// service and Scheduler on pool, on the bundle's clock.
func (b *testBundle) newScheduler(pool *pgxpool.Pool) (*campaigns.Service, *Scheduler) {
	svc := campaigns.NewService(discard, pool, &countingInserter{}, campaigns.Config{NowFunc: b.clock.Now})
	return svc, NewScheduler(discard, pool, svc, Config{NowFunc: b.clock.Now})
}

func reminder(name, cronSpec, zone string) NewSchedule {
	return NewSchedule{Name: name, Cron: cronSpec, Zone: zone, Template: "reminder", Language: "en_US",
		PhoneNumberID: "1", Lists: []string{"patients"},
		Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}}}
}

// tick ticks at now and returns the campaigns made.
func (b *testBundle) tick(t *testing.T, now string) []int64 {
	t.Helper()
	b.clock.Set(mustTime(t, now))
	created, err := b.sched.Tick(context.Background(), b.clock.Now())
	require.NoError(t, err)
	return created
}

// campaignNames returns the names of all campaigns made from schedule id, by
// run time.
func (b *testBundle) campaignNames(t *testing.T, scheduleID int64) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT c.name FROM schedule_runs r JOIN campaigns c ON c.id = r.campaign_id
		WHERE r.schedule_id = $1 ORDER BY r.run_at`, scheduleID)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestTickMakesOneStartedCampaignPerRun(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-03-06T10:00:00-03:00", map[string]string{"+5511990000001": "2026-03-10"})
	ctx := context.Background()
	sch, err := b.sched.Create(ctx, reminder("mornings", "0 9 * * 1-5", "America/Sao_Paulo"))
	require.NoError(t, err)

	require.Empty(t, b.tick(t, "2026-03-09T08:59:59-03:00"))
	created := b.tick(t, "2026-03-09T09:00:20-03:00")
	require.Len(t, created, 1)
	require.Empty(t, b.tick(t, "2026-03-09T09:01:00-03:00"), "a run is made once")

	c, err := b.svc.Get(ctx, created[0])
	require.NoError(t, err)
	require.Equal(t, "mornings @ 2026-03-09 09:00 -03", c.Name)
	require.Equal(t, "running", c.Status)
	require.EqualValues(t, 1, c.Audience)
	require.Equal(t, sch.ID, int64(b.count(t, `SELECT schedule_id FROM campaigns WHERE id = $1`, c.ID)))

	sch, err = b.sched.Get(ctx, sch.ID)
	require.NoError(t, err)
	require.True(t, mustTime(t, "2026-03-09T09:00:00-03:00").Equal(*sch.LastRunAt))
	require.True(t, mustTime(t, "2026-03-10T09:00:00-03:00").Equal(*sch.NextRunAt))
	runs, err := b.sched.Runs(ctx, sch.ID, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, created[0], *runs[0].CampaignID)
}

// TestTickExactlyOnceConcurrent runs two herald processes (each its own pool,
// campaigns service and Scheduler) ticking the same due time at once, day
// after day, and a third that starts late and ticks the same times again.
func TestTickExactlyOnceConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-04-01T00:00:00Z", map[string]string{"+5511990000001": "x"})
	ctx := context.Background()
	const schedules, days = 4, 5
	for i := range schedules {
		_, err := b.sched.Create(ctx, reminder(string(rune('a'+i)), "0 9 * * *", "UTC"))
		require.NoError(t, err)
	}
	var procs []*Scheduler
	for range 3 {
		pool, err := store.Open(ctx, b.dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		_, s := b.newScheduler(pool)
		procs = append(procs, s)
	}

	var all []int64
	for day := range days {
		now := time.Date(2026, 4, 1+day, 9, 0, 30, 0, time.UTC)
		b.clock.Set(now)
		start := make(chan struct{})
		results := make([][]int64, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				<-start
				results[i], errs[i] = procs[i].Tick(ctx, now)
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		made := append(results[0], results[1]...)
		require.Len(t, made, schedules, "day %d: each schedule's run made once (%v and %v)", day, results[0], results[1])

		// A process that restarts and ticks the same time makes nothing.
		late, err := procs[2].Tick(ctx, now)
		require.NoError(t, err)
		require.Empty(t, late)
		all = append(all, made...)
	}
	slices.Sort(all)
	require.Len(t, slices.Compact(all), schedules*days)
	require.Equal(t, schedules*days, b.count(t, `SELECT count(*) FROM campaigns`))
	require.Equal(t, schedules*days, b.count(t, `SELECT count(*) FROM schedule_runs WHERE campaign_id IS NOT NULL`))
	require.Equal(t, schedules*days, b.count(t, `SELECT count(DISTINCT name) FROM campaigns`))
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM campaigns WHERE status = 'draft'`))
}

// TestTickAdoptsCampaignOfCrashedTick covers a process that died after
// campaigns.Service.Create committed and before the run's transaction did:
// the campaign exists as a draft, no run is recorded. The next tick must
// take that campaign, not make a second one.
func TestTickAdoptsCampaignOfCrashedTick(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-04-01T00:00:00Z", map[string]string{"+5511990000001": "x"})
	ctx := context.Background()
	sch, err := b.sched.Create(ctx, reminder("daily", "0 9 * * *", "UTC"))
	require.NoError(t, err)
	// What the crashed tick left behind, and an unrelated campaign.
	orphan, err := b.svc.Create(ctx, campaigns.NewCampaign{Name: "daily @ 2026-04-01 09:00 UTC", Template: "reminder",
		Language: "en_US", PhoneNumberID: "1", Lists: []string{"patients"}, Bindings: sch.Bindings})
	require.NoError(t, err)
	_, err = b.svc.Create(ctx, campaigns.NewCampaign{Name: "daily", Template: "reminder",
		Language: "en_US", PhoneNumberID: "1", Lists: []string{"patients"}, Bindings: sch.Bindings})
	require.NoError(t, err)

	created := b.tick(t, "2026-04-01T09:00:30Z")
	require.Equal(t, []int64{orphan.ID}, created)
	c, err := b.svc.Get(ctx, orphan.ID)
	require.NoError(t, err)
	require.Equal(t, "running", c.Status, "the adopted draft is started")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM campaigns`))

	// The next day's run is new: the adopted campaign is linked and never
	// taken twice.
	created = b.tick(t, "2026-04-02T09:00:30Z")
	require.Len(t, created, 1)
	require.NotEqual(t, orphan.ID, created[0])
	require.Equal(t, []string{"daily @ 2026-04-01 09:00 UTC", "daily @ 2026-04-02 09:00 UTC"}, b.campaignNames(t, sch.ID))
}

func TestCatchUpAfterOutage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy CatchUp
		want   []string
	}{
		{CatchUpSkip, []string{"2026-04-03 09:00 EDT"}},
		{CatchUpNone, nil},
		{CatchUpAll, []string{"2026-04-01 09:00 EDT", "2026-04-02 09:00 EDT", "2026-04-03 09:00 EDT"}},
	}
	for _, tc := range cases {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			b := setup(t, "2026-03-31T08:00:00-04:00", map[string]string{"+5511990000001": "x"})
			ctx := context.Background()
			ns := reminder("d", "0 9 * * *", "America/New_York")
			ns.CatchUp = tc.policy
			sch, err := b.sched.Create(ctx, ns)
			require.NoError(t, err)
			require.Len(t, b.tick(t, "2026-03-31T09:00:30-04:00"), 1, "on time: made under every policy")

			// Down from 31 March 09:01 until 3 April 10:00.
			created := b.tick(t, "2026-04-03T10:00:00-04:00")
			require.Len(t, created, len(tc.want))
			want := []string{"d @ 2026-03-31 09:00 EDT"}
			for _, w := range tc.want {
				want = append(want, "d @ "+w)
			}
			require.Equal(t, want, b.campaignNames(t, sch.ID))

			sch, err = b.sched.Get(ctx, sch.ID)
			require.NoError(t, err)
			require.True(t, mustTime(t, "2026-04-04T09:00:00-04:00").Equal(*sch.NextRunAt))
			require.Empty(t, b.tick(t, "2026-04-03T10:01:00-04:00"))
		})
	}
}

// TestRelativeFilter makes a 23:30 New York schedule remind the contacts
// whose appointment is the next day: at 23:30 EDT on 9 March it is already
// 10 March in UTC, and the date must still be the zone's.
func TestRelativeFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-03-09T12:00:00-04:00", map[string]string{
		"+5511990000001": "2026-03-09",
		"+5511990000002": "2026-03-10", // tomorrow
		"+5511990000003": "2026-03-10", // tomorrow
		"+5511990000004": "2026-03-11",
	})
	ctx := context.Background()
	ns := reminder("eve", "30 23 * * *", "America/New_York")
	ns.Filters = map[string]string{"appointment_date": "{{run_date+1d}}"}
	sch, err := b.sched.Create(ctx, ns)
	require.NoError(t, err)
	require.Equal(t, "{{run_date+1d}}", sch.Filters["appointment_date"], "the schedule keeps the token")

	created := b.tick(t, "2026-03-10T03:30:10Z")
	require.Len(t, created, 1)
	c, err := b.svc.Get(ctx, created[0])
	require.NoError(t, err)
	require.Equal(t, map[string]string{"appointment_date": "2026-03-10"}, c.Filters)
	require.EqualValues(t, 2, c.Audience)
	rows, err := b.pool.Query(ctx, `SELECT phone FROM sends WHERE campaign_id = $1 ORDER BY phone`, c.ID)
	require.NoError(t, err)
	phones, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"+5511990000002", "+5511990000003"}, phones)

	created = b.tick(t, "2026-03-11T03:30:10Z")
	require.Len(t, created, 1)
	c, err = b.svc.Get(ctx, created[0])
	require.NoError(t, err)
	require.Equal(t, map[string]string{"appointment_date": "2026-03-11"}, c.Filters)
	require.EqualValues(t, 1, c.Audience)
}

// TestRefusedRunIsRecorded: a run whose campaign cannot be made (its list was
// deleted) is recorded with the reason, once, and the schedule moves on.
func TestRefusedRunIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, "2026-04-01T00:00:00Z", nil)
	ctx := context.Background()
	sch, err := b.sched.Create(ctx, reminder("daily", "0 9 * * *", "UTC"))
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `DELETE FROM lists WHERE name = 'patients'`)
	require.NoError(t, err)

	require.Empty(t, b.tick(t, "2026-04-01T09:00:30Z"))
	require.Empty(t, b.tick(t, "2026-04-01T09:01:30Z"))
	runs, err := b.sched.Runs(ctx, sch.ID, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Nil(t, runs[0].CampaignID)
	require.Contains(t, runs[0].Error, "patients")
	sch, err = b.sched.Get(ctx, sch.ID)
	require.NoError(t, err)
	require.True(t, mustTime(t, "2026-04-02T09:00:00Z").Equal(*sch.NextRunAt))
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM campaigns`))
}

// TestDSTTicks ticks every quarter hour across a spring-forward day in New
// York and a fall-back day in Berlin with a 02:30 daily schedule in each.
func TestDSTTicks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, from, to string
		want                 []string
	}{
		{
			name: "spring forward New York", zone: "America/New_York",
			from: "2026-03-07T12:00:00-05:00", to: "2026-03-09T12:00:00-04:00",
			want: []string{"r @ 2026-03-09 02:30 EDT"}, // none on the 8th
		},
		{
			name: "fall back Berlin", zone: "Europe/Berlin",
			from: "2026-10-24T12:00:00+02:00", to: "2026-10-26T12:00:00+01:00",
			want: []string{"r @ 2026-10-25 02:30 CEST", "r @ 2026-10-26 02:30 CET"}, // once on the 25th
		},
		{
			name: "fall back New York", zone: "America/New_York",
			from: "2026-10-31T12:00:00-04:00", to: "2026-11-02T12:00:00-05:00",
			want: []string{"r @ 2026-11-01 02:30 EST", "r @ 2026-11-02 02:30 EST"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tc.from, map[string]string{"+5511990000001": "x"})
			sch, err := b.sched.Create(context.Background(), reminder("r", "30 2 * * *", tc.zone))
			require.NoError(t, err)
			for now := mustTime(t, tc.from); !now.After(mustTime(t, tc.to)); now = now.Add(15 * time.Minute) {
				b.tick(t, now.Format(time.RFC3339))
			}
			require.Equal(t, tc.want, b.campaignNames(t, sch.ID))
		})
	}
}
