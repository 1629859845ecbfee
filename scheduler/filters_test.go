package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestResolveFilters(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	cases := []struct {
		name    string
		value   string
		runAt   string
		want    string
		problem string
	}{
		{name: "no token", value: "gold", runAt: "2026-03-09T18:00:00-04:00", want: "gold"},
		{name: "run date", value: "{{run_date}}", runAt: "2026-03-09T18:00:00-04:00", want: "2026-03-09"},
		{name: "tomorrow", value: "{{run_date+1d}}", runAt: "2026-03-09T18:00:00-04:00", want: "2026-03-10"},
		{name: "spaces inside", value: "{{ run_date + 1d }}", runAt: "2026-03-09T18:00:00-04:00", want: "2026-03-10"},
		{name: "yesterday across a month", value: "{{run_date-1d}}", runAt: "2026-03-01T09:00:00-05:00", want: "2026-02-28"},
		{name: "two weeks ahead across a year", value: "{{run_date+2w}}", runAt: "2026-12-25T09:00:00-05:00", want: "2027-01-08"},
		// 23:30 in New York is already the next day in UTC: the date is
		// the zone's.
		{name: "date in the schedule's zone", value: "{{run_date+1d}}", runAt: "2026-03-10T03:30:00Z", want: "2026-03-10"},
		// The day after the spring-forward day has 24 hours again; calendar
		// arithmetic, not 24h steps.
		{name: "across spring forward", value: "{{run_date+1d}}", runAt: "2026-03-08T00:30:00-05:00", want: "2026-03-09"},
		{name: "inside text", value: "due {{run_date}}", runAt: "2026-03-09T18:00:00-04:00", want: "due 2026-03-09"},
		{name: "unknown token", value: "{{tomorrow}}", runAt: "2026-03-09T18:00:00-04:00", problem: "unknown token"},
		{name: "unknown unit", value: "{{run_date+1m}}", runAt: "2026-03-09T18:00:00-04:00", problem: "unknown token"},
		{name: "unclosed", value: "{{run_date", runAt: "2026-03-09T18:00:00-04:00", problem: "unknown token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, problems := resolveFilters(map[string]string{"appointment_date": tc.value, "plan": "gold"}, mustTime(t, tc.runAt), ny)
			if tc.problem != "" {
				require.Contains(t, problems["filters.appointment_date"], tc.problem)
				return
			}
			require.Nil(t, problems)
			require.Equal(t, map[string]string{"appointment_date": tc.want, "plan": "gold"}, got)
		})
	}
}
