package scheduler

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dateToken matches a run-relative date token: {{run_date}},
// {{run_date+1d}}, {{run_date-2w}}.
var dateToken = regexp.MustCompile(`\{\{\s*run_date\s*(?:([+-])\s*(\d{1,4})\s*([dw]))?\s*\}\}`)

// resolveFilters returns a schedule's filters for the run at runAt: every
// date token in a value is replaced by the ISO date (2006-01-02) of the run
// in loc, shifted by the token's offset in calendar days or weeks. The date
// is taken in the schedule's zone, so a 23:30 run in America/New_York on
// 9 March resolves {{run_date+1d}} to 2026-03-10 whatever the server's zone,
// and a DST change never shifts it. Filters match attribute values exactly,
// so the attribute must hold an ISO date.
//
// A value with "{{" that is not a date token is refused, per key.
func resolveFilters(filters map[string]string, runAt time.Time, loc *time.Location) (map[string]string, map[string]string) {
	if len(filters) == 0 {
		return map[string]string{}, nil
	}
	y, m, d := runAt.In(loc).Date()
	out := make(map[string]string, len(filters))
	var problems map[string]string
	for k, v := range filters {
		resolved := dateToken.ReplaceAllStringFunc(v, func(tok string) string {
			g := dateToken.FindStringSubmatch(tok)
			days := 0
			if g[1] != "" {
				n, _ := strconv.Atoi(g[2]) // at most four digits
				if g[3] == "w" {
					n *= 7
				}
				if g[1] == "-" {
					n = -n
				}
				days = n
			}
			// Noon UTC: calendar arithmetic that no zone change can move.
			return time.Date(y, m, d+days, 12, 0, 0, 0, time.UTC).Format(time.DateOnly)
		})
		if strings.Contains(resolved, "{{") || strings.Contains(resolved, "}}") {
			if problems == nil {
				problems = map[string]string{}
			}
			problems["filters."+k] = fmt.Sprintf("%q: unknown token; want {{run_date}}, {{run_date+Nd}} or {{run_date-Nw}}", v)
			continue
		}
		out[k] = resolved
	}
	return out, problems
}
