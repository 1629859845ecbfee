package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// CatchUp says what a tick does with the runs a schedule missed while no
// tick ran (an outage, a long deploy).
type CatchUp string

// The catch-up policies. A run is missed when a tick finds it more than
// Config.Grace after its time; a run found within Grace is on time and made
// under every policy.
const (
	// CatchUpSkip makes only the latest missed run and skips the older ones.
	CatchUpSkip CatchUp = "skip"
	// CatchUpNone makes no missed run.
	CatchUpNone CatchUp = "none"
	// CatchUpAll makes every missed run, oldest first, up to
	// Config.MaxCatchUp per tick; beyond that the most recent are kept.
	CatchUpAll CatchUp = "all"
)

func (c CatchUp) valid() bool {
	return c == CatchUpSkip || c == CatchUpNone || c == CatchUpAll
}

// spec is a parsed cron spec in its zone.
type spec struct {
	sched cron.Schedule
	loc   *time.Location
}

// parseSpec checks a cron spec and a zone the way a schedule stores them and
// returns the parsed spec. Problems are reported per field ("cron", "zone"),
// all of them.
//
// The zone never comes from the spec: robfig/cron reads a TZ= or CRON_TZ=
// prefix itself and, in v3.0.1, panics on one without a following space, so
// such specs are refused and the zone, checked with time.LoadLocation, is
// prepended here.
func parseSpec(cronSpec, zone string) (spec, map[string]string) {
	problems := map[string]string{}
	var loc *time.Location
	switch {
	case zone == "":
		problems["zone"] = "required: an IANA time zone such as America/New_York"
	case zone == "Local" || strings.ContainsAny(zone, " \t"):
		problems["zone"] = fmt.Sprintf("%q is not an IANA time zone name", zone)
	default:
		l, err := time.LoadLocation(zone)
		if err != nil {
			problems["zone"] = fmt.Sprintf("unknown time zone %q", zone)
		} else {
			loc = l
		}
	}
	trimmed := strings.TrimSpace(cronSpec)
	switch {
	case trimmed == "":
		problems["cron"] = "required, e.g. \"0 9 * * 1-5\" or @daily"
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		problems["cron"] = "must not carry a TZ= or CRON_TZ= prefix: give the zone on its own"
	case strings.HasPrefix(trimmed, "@every"):
		problems["cron"] = "@every is not supported: runs fall on calendar times, e.g. \"0 */2 * * *\""
	}
	if len(problems) > 0 {
		if _, bad := problems["cron"]; !bad && loc == nil {
			// Still report a bad spec alongside a bad zone.
			if _, err := parseCron(trimmed, time.UTC); err != nil {
				problems["cron"] = err.Error()
			}
		}
		return spec{}, problems
	}
	s, err := parseCron(trimmed, loc)
	if err != nil {
		problems["cron"] = err.Error()
		return spec{}, problems
	}
	if s.next(time.Now()).IsZero() {
		problems["cron"] = "never fires"
		return spec{}, problems
	}
	return s, nil
}

func parseCron(cronSpec string, loc *time.Location) (s spec, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse %q", cronSpec)
		}
	}()
	sched, err := cron.ParseStandard("CRON_TZ=" + loc.String() + " " + cronSpec)
	if err != nil {
		return spec{}, err
	}
	return spec{sched: sched, loc: loc}, nil
}

// mustParseSpec parses what Create validated and stored. It fails only if
// the stored row was edited by hand or the zone left the tz database.
func mustParseSpec(cronSpec, zone string) (spec, error) {
	s, problems := parseSpec(cronSpec, zone)
	if problems != nil {
		return spec{}, &ValidationError{Fields: problems}
	}
	return s, nil
}

// next returns the first run strictly after t, in the schedule's zone, or
// the zero time if the spec never fires again.
//
// Daylight saving time, as robfig/cron v3.0.1 computes it plus one rule of
// herald's:
//   - Spring forward: a wall-clock time that does not exist that day is
//     skipped. A 02:30 daily schedule in America/New_York does not run on
//     8 March 2026 (02:00 EST jumps to 03:00 EDT); it runs on the 7th and the
//     9th at 02:30.
//   - Fall back: robfig/cron fires a wall-clock time that occurs twice at both
//     instants (02:30 CEST and 02:30 CET on 25 October 2026 in Europe/Berlin).
//     herald keeps the first and drops the repeat, so a daily schedule runs
//     once that day. This holds for every spec: an hourly schedule also runs
//     once, not twice, in the repeated hour.
func (s spec) next(t time.Time) time.Time {
	for {
		t = s.sched.Next(t)
		if t.IsZero() {
			return t
		}
		t = t.In(s.loc)
		end, repeat := repeatedWallClock(t)
		if !repeat {
			return t
		}
		// Resume at the end of the repeated stretch.
		t = end.Add(-time.Second)
	}
}

// repeatedWallClock reports whether t's wall-clock time already occurred
// earlier, because the zone set its clocks back, and if so when the repeated
// stretch of wall-clock times ends.
func repeatedWallClock(t time.Time) (end time.Time, repeat bool) {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return time.Time{}, false
	}
	_, cur := t.Zone()
	_, prev := start.Add(-time.Nanosecond).Zone()
	back := time.Duration(prev-cur) * time.Second
	if back <= 0 || t.Sub(start) >= back {
		return time.Time{}, false
	}
	return start.Add(back), true
}

// runsBetween returns the runs in [from, to], oldest first, keeping only the
// last keep of them. It looks back from to in growing windows rather than
// stepping from from, so a minutely schedule after a month's outage costs a
// day's steps, not a month's.
func (s spec) runsBetween(from, to time.Time, keep int) []time.Time {
	if keep < 1 || to.Before(from) {
		return nil
	}
	for w := 24 * time.Hour; ; w *= 2 {
		start, partial := from, false
		if to.Sub(from) > w {
			start, partial = to.Add(-w), true
		}
		var runs []time.Time
		for t := s.next(start.Add(-time.Second)); !t.IsZero() && !t.After(to); t = s.next(t) {
			if len(runs) == keep {
				runs = append(runs[:0], runs[1:]...)
			}
			runs = append(runs, t)
		}
		if len(runs) == keep || !partial {
			return runs
		}
	}
}

// dueRuns picks the runs a tick at now makes for a schedule whose first
// unhandled run is at from, by its catch-up policy. Runs later than grace
// after their time count as missed.
func (s spec) dueRuns(from, now time.Time, policy CatchUp, grace time.Duration, maxCatchUp int) []time.Time {
	keep := 1
	if policy == CatchUpAll {
		keep = maxCatchUp
	}
	runs := s.runsBetween(from, now, keep)
	if policy == CatchUpNone && len(runs) > 0 && now.Sub(runs[len(runs)-1]) > grace {
		return nil
	}
	return runs
}
