package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/scheduler"
)

// withScheduler opens the database and an insert-only engine (no workers)
// for commands that keep schedules or tick them.
func (a *app) withScheduler(ctx context.Context, fn func(s *scheduler.Scheduler) error) error {
	return a.withService(ctx, func(svc *campaigns.Service) error {
		return fn(scheduler.NewScheduler(a.logger, a.pool, svc, scheduler.Config{}))
	})
}

// findSchedule reads a schedule named on the command line by id or by name.
func findSchedule(ctx context.Context, s *scheduler.Scheduler, arg string) (*scheduler.Schedule, error) {
	var (
		sch *scheduler.Schedule
		err error
	)
	if id, perr := strconv.ParseInt(arg, 10, 64); perr == nil {
		sch, err = s.Get(ctx, id)
	}
	if sch == nil && (err == nil || errors.Is(err, store.ErrNotFound)) {
		sch, err = s.GetByName(ctx, arg)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no schedule %q (see herald schedule list)", arg)
	}
	return sch, err
}

func (a *app) scheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Make campaigns on cron schedules",
		Long: `A schedule makes one campaign per run of a cron spec read in a time zone.
Filters may be relative to the run: --filter 'appointment_date={{run_date+1d}}'
matches contacts whose appointment_date attribute is the day after the run
(d for days, w for weeks). See the scheduler package documentation for
catch-up policies and what daylight saving changes do.`,
	}
	var asJSON bool
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		ns      scheduler.NewSchedule
		binds   []string
		filters []string
		catchUp string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a schedule (enabled; its first run is the next time the spec fires)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if ns.Bindings, ns.Filters, err = parseAudienceFlags(binds, filters); err != nil {
				return err
			}
			ns.CatchUp = scheduler.CatchUp(catchUp)
			return a.withScheduler(cmd.Context(), func(s *scheduler.Scheduler) error {
				sch, err := s.Create(cmd.Context(), ns)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(sch)
				}
				fmt.Fprintf(a.stdout, "schedule %d created (%s), next run %s\n", sch.ID, sch.Name, inZone(sch.NextRunAt, sch.Zone))
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&ns.Name, "name", "", "schedule name; each campaign is named after it and its run time")
	f.StringVar(&ns.Cron, "cron", "", `cron spec, 5 fields or a descriptor: "0 9 * * 1-5", @daily`)
	f.StringVar(&ns.Zone, "zone", "", "IANA time zone the spec is read in, e.g. America/Sao_Paulo")
	f.StringVar(&ns.Template, "template", "", "template name")
	f.StringVar(&ns.Language, "language", "", "template language, e.g. pt_BR")
	f.StringVar(&ns.PhoneNumberID, "sender", "", "sender phone_number_id")
	f.StringSliceVar(&ns.Lists, "list", nil, "contact list (repeatable)")
	f.StringArrayVar(&binds, "param", nil, "binding SLOT=SOURCE[,default=D][,format=F], e.g. 1=name (repeatable)")
	f.StringArrayVar(&filters, "filter", nil, "attribute filter ATTRIBUTE=VALUE; VALUE may hold {{run_date}}, {{run_date+1d}}, {{run_date-1w}} (repeatable)")
	f.IntVar(&ns.Priority, "priority", 2, "1 (urgent) to 4 (bulk)")
	f.StringVar(&catchUp, "catch-up", "skip", "missed runs: skip (make the latest), none, all (each, up to 10 per tick)")

	list := &cobra.Command{
		Use: "list", Short: "List schedules", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withScheduler(cmd.Context(), func(s *scheduler.Scheduler) error {
				all, err := s.List(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(all)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tCRON\tZONE\tENABLED\tCATCH-UP\tNEXT RUN\tLAST RUN")
				for _, sch := range all {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", sch.ID, sch.Name, sch.Cron, sch.Zone, sch.Enabled,
						sch.CatchUp, inZone(sch.NextRunAt, sch.Zone), inZone(sch.LastRunAt, sch.Zone))
				}
				return tw.Flush()
			})
		},
	}

	show := &cobra.Command{
		Use: "show SCHEDULE", Short: "Show a schedule (by id or name) and its latest runs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withScheduler(cmd.Context(), func(s *scheduler.Scheduler) error {
				sch, err := findSchedule(cmd.Context(), s, args[0])
				if err != nil {
					return err
				}
				runs, err := s.Runs(cmd.Context(), sch.ID, 10)
				if err != nil {
					return err
				}
				if asJSON {
					return a.printJSON(map[string]any{"schedule": sch, "runs": runs})
				}
				return a.printSchedule(sch, runs)
			})
		},
	}

	// change runs fn on the schedule named by the argument and shows the
	// result.
	change := func(use, short string, fn func(ctx context.Context, s *scheduler.Scheduler, sch *scheduler.Schedule) (*scheduler.Schedule, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " SCHEDULE", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withScheduler(cmd.Context(), func(s *scheduler.Scheduler) error {
					sch, err := findSchedule(cmd.Context(), s, args[0])
					if err != nil {
						return err
					}
					out, err := fn(cmd.Context(), s, sch)
					if err != nil {
						return err
					}
					if asJSON && out == nil {
						return a.printJSON(map[string]int64{"deleted": sch.ID})
					}
					if asJSON {
						return a.printJSON(out)
					}
					if out == nil {
						fmt.Fprintf(a.stdout, "schedule %d (%s) deleted\n", sch.ID, sch.Name)
						return nil
					}
					return a.printSchedule(out, nil)
				})
			},
		}
	}

	tick := &cobra.Command{
		Use:   "tick",
		Short: "Make the runs due now and print the ids of the campaigns made",
		Long: `tick does once what the River periodic job of herald serve and herald worker
does every minute. It is safe to run alongside them, or from cron instead of
them: each run makes one campaign however many ticks see it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withScheduler(cmd.Context(), func(s *scheduler.Scheduler) error {
				created, err := s.Tick(cmd.Context(), time.Now())
				if asJSON {
					if jerr := a.printJSON(map[string]any{"created": append([]int64{}, created...)}); jerr != nil {
						return errors.Join(err, jerr)
					}
				} else {
					for _, id := range created {
						fmt.Fprintln(a.stdout, id)
					}
				}
				return err
			})
		},
	}

	cmd.AddCommand(create, list, show,
		change("enable", "Enable a schedule; its next run is the next time the spec fires", func(ctx context.Context, s *scheduler.Scheduler, sch *scheduler.Schedule) (*scheduler.Schedule, error) {
			return s.SetEnabled(ctx, sch.ID, true)
		}),
		change("disable", "Disable a schedule; runs while disabled are not caught up", func(ctx context.Context, s *scheduler.Scheduler, sch *scheduler.Schedule) (*scheduler.Schedule, error) {
			return s.SetEnabled(ctx, sch.ID, false)
		}),
		change("delete", "Delete a schedule; the campaigns it made stay", func(ctx context.Context, s *scheduler.Scheduler, sch *scheduler.Schedule) (*scheduler.Schedule, error) {
			return nil, s.Delete(ctx, sch.ID)
		}),
		tick,
	)
	return cmd
}

func (a *app) printSchedule(sch *scheduler.Schedule, runs []scheduler.Run) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintf(tw, "schedule\t%d\t%s\n", sch.ID, sch.Name)
	fmt.Fprintf(tw, "cron\t%s\t%s\n", sch.Cron, sch.Zone)
	fmt.Fprintf(tw, "enabled\t%t\tcatch-up %s\n", sch.Enabled, sch.CatchUp)
	fmt.Fprintf(tw, "next run\t%s\t\n", inZone(sch.NextRunAt, sch.Zone))
	fmt.Fprintf(tw, "last run\t%s\t\n", inZone(sch.LastRunAt, sch.Zone))
	fmt.Fprintf(tw, "template\t%s\t%s\n", sch.Template, sch.Language)
	fmt.Fprintf(tw, "sender\t%s\t\n", sch.PhoneNumberID)
	fmt.Fprintf(tw, "lists\t%s\t\n", strings.Join(sch.Lists, ", "))
	for k, v := range sch.Filters {
		fmt.Fprintf(tw, "filter\t%s=%s\t\n", k, v)
	}
	for _, r := range runs {
		at := inZone(&r.RunAt, sch.Zone)
		switch {
		case r.CampaignID != nil:
			fmt.Fprintf(tw, "run %s\tcampaign %d\t\n", at, *r.CampaignID)
		case r.Error != "":
			fmt.Fprintf(tw, "run %s\tno campaign\t%s\n", at, r.Error)
		default:
			fmt.Fprintf(tw, "run %s\tcampaign deleted\t\n", at)
		}
	}
	return tw.Flush()
}

// inZone formats t in the named zone, or "-" when there is no time.
func inZone(t *time.Time, zone string) string {
	if t == nil {
		return "-"
	}
	if loc, err := time.LoadLocation(zone); err == nil {
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	return t.Format(time.RFC3339)
}
