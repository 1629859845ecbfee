// Package scheduler turns cron schedules into campaigns, one per due run,
// exactly once.
//
// # Schedules
//
// A schedule is a cron spec read in an IANA time zone, and the campaign each
// run creates: template, language, sender, lists, filters, bindings,
// priority. The spec is robfig/cron v3's standard form, five fields
// ("0 9 * * 1-5") or a descriptor (@daily, @hourly, @weekly, @monthly,
// @yearly). The zone is its own column, checked with time.LoadLocation;
// specs starting with TZ= or CRON_TZ= are refused (herald prepends
// CRON_TZ=<zone> itself), and so is @every, whose times are not calendar
// times.
//
// # Exactly once
//
// Ticks run from River's periodic job (PeriodicJob, TickWorker), from
// `herald schedule tick`, from any number of processes. Each schedule is
// handled in one transaction that locks its row FOR UPDATE SKIP LOCKED,
// inserts each run into schedule_runs (primary key: schedule, run time) ON
// CONFLICT DO NOTHING, creates and starts the campaign only when that insert
// won, links the run to it and advances next_run_at. So two ticks never make
// the same run.
//
// campaigns.Service.Create and Start open their own transactions, so a
// process can die after the campaign committed and before the run did. The
// run's transaction then rolls back, and the next tick claims the run again;
// before creating, it looks for an unlinked campaign with the run's name
// (RunName: the schedule's name and the run's wall-clock time, unique per
// run) made since the schedule was, adopts it, and starts it if it is still
// a draft. A run makes one campaign however often processes restart.
//
// # Catch-up
//
// A run that a tick finds more than Config.Grace (10 minutes) after its time
// was missed. The schedule's policy decides: skip makes the latest missed
// run only, none makes none, all makes every one, oldest first, up to
// Config.MaxCatchUp (10) per tick, keeping the most recent. Disabling a
// schedule is not an outage: enabled again, it runs next at the first time
// after now.
//
// # Daylight saving time
//
// Runs are wall-clock times in the schedule's zone, computed by robfig/cron
// v3.0.1, with one rule added by herald:
//
//   - Spring forward: a time that does not exist that day is skipped, not
//     moved. A 02:30 daily schedule in America/New_York makes no run on
//     8 March 2026 (clocks jump from 02:00 EST to 03:00 EDT); it runs on the
//     7th and the 9th at 02:30. The same holds for 02:30 in Europe/Berlin on
//     29 March 2026. When no day may be missed, pick a time outside the zone's
//     changeover hour (usually between 00:00 and 03:00 local).
//   - Fall back: a time that occurs twice runs once, at its first
//     occurrence. robfig/cron would fire both 02:30 CEST and 02:30 CET on
//     25 October 2026 in Europe/Berlin; herald drops the repeat. In
//     America/New_York, where 01:00–02:00 repeats, a 02:30 schedule is not
//     affected and runs once at 02:30 EST on 1 November 2026. The rule holds
//     for every spec: an hourly schedule runs once, not twice, in the
//     repeated hour.
//
// The tests in spec_test.go pin this behaviour.
//
// # Audiences relative to the run
//
// A filter value may hold date tokens that each run resolves against its own
// time, in the schedule's zone, as an ISO date (2006-01-02):
//
//	{{run_date}}      the run's date
//	{{run_date+1d}}   the day after ("appointment is tomorrow")
//	{{run_date-2w}}   two weeks before (d for days, w for weeks)
//
// So a daily 18:00 schedule with the filter appointment_date={{run_date+1d}}
// reminds, every evening, the contacts whose appointment_date attribute is
// the next day's date. Filters match attributes exactly, so the attribute
// must hold an ISO date. The created campaign stores the resolved value.
package scheduler
