package scheduler

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cron, zone string
		// want holds the fields expected to be refused, each with a
		// fragment of the message.
		want map[string]string
	}{
		{name: "weekdays", cron: "0 9 * * 1-5", zone: "America/Sao_Paulo"},
		{name: "descriptor", cron: "@daily", zone: "Europe/Berlin"},
		{name: "ranges and steps", cron: "*/15 8-18 1,15 * MON-FRI", zone: "UTC"},
		{name: "empty spec", cron: "", zone: "UTC", want: map[string]string{"cron": "required"}},
		{name: "TZ prefix", cron: "TZ=UTC 0 9 * * *", zone: "UTC", want: map[string]string{"cron": "TZ="}},
		{name: "CRON_TZ prefix", cron: "CRON_TZ=Europe/Berlin 0 9 * * *", zone: "UTC", want: map[string]string{"cron": "CRON_TZ="}},
		// robfig/cron v3.0.1 panics on these; they must be refused first.
		{name: "bare TZ=", cron: "TZ=", zone: "UTC", want: map[string]string{"cron": "TZ="}},
		{name: "CRON_TZ without spec", cron: "CRON_TZ=UTC", zone: "UTC", want: map[string]string{"cron": "TZ="}},
		{name: "every", cron: "@every 1h", zone: "UTC", want: map[string]string{"cron": "@every"}},
		{name: "four fields", cron: "0 9 * *", zone: "UTC", want: map[string]string{"cron": "exactly 5 fields"}},
		{name: "six fields", cron: "0 0 9 * * *", zone: "UTC", want: map[string]string{"cron": "exactly 5 fields"}},
		{name: "minute out of range", cron: "60 * * * *", zone: "UTC", want: map[string]string{"cron": "above maximum"}},
		{name: "unknown descriptor", cron: "@fortnightly", zone: "UTC", want: map[string]string{"cron": "unrecognized descriptor"}},
		{name: "never fires", cron: "0 0 30 2 *", zone: "UTC", want: map[string]string{"cron": "never fires"}},
		{name: "empty zone", cron: "0 9 * * *", zone: "", want: map[string]string{"zone": "required"}},
		{name: "unknown zone", cron: "0 9 * * *", zone: "Mars/Olympus_Mons", want: map[string]string{"zone": "unknown time zone"}},
		{name: "Local", cron: "0 9 * * *", zone: "Local", want: map[string]string{"zone": "not an IANA"}},
		{name: "space in zone", cron: "0 9 * * *", zone: "America/New York", want: map[string]string{"zone": "not an IANA"}},
		{name: "both bad", cron: "9am", zone: "Nowhere/Town", want: map[string]string{"cron": "exactly 5 fields", "zone": "unknown time zone"}},
		{name: "prefix and bad zone", cron: "TZ=UTC * * * * *", zone: "", want: map[string]string{"cron": "TZ=", "zone": "required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, problems := parseSpec(tc.cron, tc.zone)
			if tc.want == nil {
				require.Nil(t, problems)
				require.NotNil(t, s.sched)
				require.Equal(t, tc.zone, s.loc.String())
				return
			}
			require.Len(t, problems, len(tc.want), "problems: %v", problems)
			for field, fragment := range tc.want {
				require.Contains(t, problems[field], fragment)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return tm
}

func mustSpec(t *testing.T, cronSpec, zone string) spec {
	t.Helper()
	s, problems := parseSpec(cronSpec, zone)
	require.Nil(t, problems)
	return s
}

// TestNext pins the runs a spec makes, daylight saving changes included
// (see the package documentation). Times are written with their offsets in
// the schedule's zone.
func TestNext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, cron, after string
		want                    []string
	}{
		{
			name: "weekdays in Sao Paulo (no DST since 2019)", zone: "America/Sao_Paulo", cron: "0 9 * * 1-5",
			after: "2026-03-06T10:00:00-03:00", // a Friday, after 09:00
			want:  []string{"2026-03-09T09:00:00-03:00", "2026-03-10T09:00:00-03:00"},
		},
		{
			name: "spring forward New York: 02:30 skipped on 8 March", zone: "America/New_York", cron: "30 2 * * *",
			after: "2026-03-07T00:00:00-05:00",
			want:  []string{"2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"},
		},
		{
			name: "spring forward Berlin: 02:30 skipped on 29 March", zone: "Europe/Berlin", cron: "30 2 * * *",
			after: "2026-03-28T00:00:00+01:00",
			want:  []string{"2026-03-28T02:30:00+01:00", "2026-03-30T02:30:00+02:00"},
		},
		{
			name: "spring forward New York hourly: 02:00 does not exist", zone: "America/New_York", cron: "0 * * * *",
			after: "2026-03-08T00:30:00-05:00",
			want:  []string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"},
		},
		{
			name: "fall back New York: 02:30 is not repeated, runs once", zone: "America/New_York", cron: "30 2 * * *",
			after: "2026-10-31T00:00:00-04:00",
			want:  []string{"2026-10-31T02:30:00-04:00", "2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"},
		},
		{
			name: "fall back New York: repeated 01:30 runs once, at EDT", zone: "America/New_York", cron: "30 1 * * *",
			after: "2026-10-31T12:00:00-04:00",
			want:  []string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
		},
		{
			name: "fall back Berlin: repeated 02:30 runs once, at CEST", zone: "Europe/Berlin", cron: "30 2 * * *",
			after: "2026-10-24T00:00:00+02:00",
			want:  []string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
		},
		{
			name: "fall back Berlin: asked from inside the repeat", zone: "Europe/Berlin", cron: "30 2 * * *",
			after: "2026-10-25T02:40:00+02:00", // 00:40 UTC, before the second 02:30
			want:  []string{"2026-10-26T02:30:00+01:00"},
		},
		{
			name: "fall back New York hourly: the repeated hour runs once", zone: "America/New_York", cron: "0 * * * *",
			after: "2026-11-01T00:30:00-04:00",
			want:  []string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"},
		},
		{
			name: "fall back Berlin every 20 minutes", zone: "Europe/Berlin", cron: "*/20 * * * *",
			after: "2026-10-25T02:30:00+02:00",
			want:  []string{"2026-10-25T02:40:00+02:00", "2026-10-25T03:00:00+01:00"},
		},
		{
			name: "daily descriptor at local midnight", zone: "Europe/Berlin", cron: "@daily",
			after: "2026-10-24T12:00:00+02:00",
			want:  []string{"2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustSpec(t, tc.cron, tc.zone)
			at := mustTime(t, tc.after)
			var got []string
			for range tc.want {
				at = s.next(at)
				got = append(got, at.Format(time.RFC3339))
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestRobfigFiresRepeatedTimeTwice records why next drops repeated
// wall-clock times: robfig/cron on its own fires both.
func TestRobfigFiresRepeatedTimeTwice(t *testing.T) {
	t.Parallel()
	sched, err := cron.ParseStandard("CRON_TZ=Europe/Berlin 30 2 * * *")
	require.NoError(t, err)
	first := sched.Next(mustTime(t, "2026-10-24T12:00:00+02:00"))
	second := sched.Next(first)
	require.Equal(t, "2026-10-25T00:30:00Z", first.UTC().Format(time.RFC3339))
	require.Equal(t, "2026-10-25T01:30:00Z", second.UTC().Format(time.RFC3339))
}

func TestDueRuns(t *testing.T) {
	t.Parallel()
	daily := mustSpec(t, "0 9 * * *", "America/New_York")
	// Last ran 31 March at 09:00; down until 3 April.
	from := mustTime(t, "2026-04-01T09:00:00-04:00")
	grace := 10 * time.Minute
	cases := []struct {
		name   string
		s      spec
		from   string
		now    string
		policy CatchUp
		max    int
		want   []string
	}{
		{name: "3-day outage skip: latest only", now: "2026-04-03T10:00:00-04:00", policy: CatchUpSkip,
			want: []string{"2026-04-03T09:00:00-04:00"}},
		{name: "3-day outage none: nothing", now: "2026-04-03T10:00:00-04:00", policy: CatchUpNone},
		{name: "3-day outage all", now: "2026-04-03T10:00:00-04:00", policy: CatchUpAll, max: 10,
			want: []string{"2026-04-01T09:00:00-04:00", "2026-04-02T09:00:00-04:00", "2026-04-03T09:00:00-04:00"}},
		{name: "3-day outage all capped: most recent", now: "2026-04-03T10:00:00-04:00", policy: CatchUpAll, max: 2,
			want: []string{"2026-04-02T09:00:00-04:00", "2026-04-03T09:00:00-04:00"}},
		{name: "outage ending within grace, none: the on-time run", now: "2026-04-03T09:05:00-04:00", policy: CatchUpNone,
			want: []string{"2026-04-03T09:00:00-04:00"}},
		{name: "on time skip", from: "2026-04-03T09:00:00-04:00", now: "2026-04-03T09:00:00-04:00", policy: CatchUpSkip,
			want: []string{"2026-04-03T09:00:00-04:00"}},
		{name: "not yet due", from: "2026-04-03T09:00:00-04:00", now: "2026-04-03T08:59:59-04:00", policy: CatchUpAll, max: 10},
		{name: "minutely after a month, all capped at 3: the last three minutes", s: mustSpec(t, "* * * * *", "UTC"),
			from: "2026-03-01T00:00:00Z", now: "2026-04-01T00:00:30Z", policy: CatchUpAll, max: 3,
			want: []string{"2026-03-31T23:58:00Z", "2026-03-31T23:59:00Z", "2026-04-01T00:00:00Z"}},
		{name: "yearly after three years, all", s: mustSpec(t, "@yearly", "UTC"),
			from: "2024-01-01T00:00:00Z", now: "2026-06-01T00:00:00Z", policy: CatchUpAll, max: 10,
			want: []string{"2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := daily, from
			if tc.s.sched != nil {
				s = tc.s
			}
			if tc.from != "" {
				f = mustTime(t, tc.from)
			}
			var got []string
			for _, r := range s.dueRuns(f, mustTime(t, tc.now), tc.policy, grace, tc.max) {
				got = append(got, r.In(s.loc).Format(time.RFC3339))
			}
			require.Equal(t, tc.want, got)
		})
	}
}
