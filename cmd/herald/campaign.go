package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/pricing"
)

// withService opens the database and an insert-only engine (no workers) for
// commands that change campaigns.
func (a *app) withService(ctx context.Context, fn func(svc *campaigns.Service) error) error {
	pool, err := a.openDB(ctx)
	if err != nil {
		return err
	}
	defer a.closeDB(ctx)
	eng, err := a.newEngine(pool, engineOptions{})
	if err != nil {
		return err
	}
	return fn(eng.service)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func campaignID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("campaign id %q: want a positive number", s)}
	}
	return id, nil
}

func (a *app) campaignCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "campaign", Short: "Create, run and watch campaigns"}
	var asJSON bool
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		nc       campaigns.NewCampaign
		binds    []string
		filters  []string
		startAt  string
		window   string
		startNow bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a draft campaign (--start to start it at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if nc.Bindings, nc.Filters, err = parseAudienceFlags(binds, filters); err != nil {
				return err
			}
			if window != "" {
				start, end, ok := strings.Cut(window, "-")
				if !ok {
					return usageError{fmt.Errorf("--window %q: want HH:MM-HH:MM, e.g. 09:00-20:00", window)}
				}
				nc.Window = &campaigns.Window{Start: start, End: end}
			}
			if startAt != "" {
				t, err := time.Parse(time.RFC3339, startAt)
				if err != nil {
					return usageError{fmt.Errorf("--start-at %q: want RFC 3339, e.g. 2026-12-01T09:00:00-03:00", startAt)}
				}
				nc.StartAt = &t
			}
			return a.withService(cmd.Context(), func(svc *campaigns.Service) error {
				c, err := svc.Create(cmd.Context(), nc)
				if err != nil {
					return err
				}
				out := map[string]any{"campaign": c}
				if startNow {
					exp, err := svc.Start(cmd.Context(), c.ID)
					if err != nil {
						return err
					}
					out["expansion"] = exp
				}
				if asJSON {
					return a.printJSON(out)
				}
				fmt.Fprintf(a.stdout, "campaign %d created (%s)\n", c.ID, c.Name)
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&nc.Name, "name", "", "campaign name")
	f.StringVar(&nc.Template, "template", "", "template name")
	f.StringVar(&nc.Language, "language", "", "template language, e.g. pt_BR")
	f.StringVar(&nc.PhoneNumberID, "sender", "", "sender phone_number_id")
	f.StringSliceVar(&nc.Lists, "list", nil, "contact list (repeatable)")
	f.StringArrayVar(&binds, "param", nil, "binding SLOT=SOURCE[,default=D][,format=F], e.g. 1=name or button.0=attr:code (repeatable)")
	f.StringArrayVar(&filters, "filter", nil, "attribute filter ATTRIBUTE=VALUE (repeatable, all must match)")
	f.IntVar(&nc.Priority, "priority", 2, "1 (urgent) to 4 (bulk)")
	f.StringVar(&startAt, "start-at", "", "start time (RFC 3339); default: when started")
	f.BoolVar(&startNow, "start", false, "start right after creating")
	f.StringVar(&window, "window", "", "send only between these times in each recipient's time zone, e.g. 09:00-20:00")

	one := func(use, short string, fn func(ctx context.Context, svc *campaigns.Service, id int64) (any, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " CAMPAIGN", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := campaignID(args[0])
				if err != nil {
					return err
				}
				return a.withService(cmd.Context(), func(svc *campaigns.Service) error {
					out, err := fn(cmd.Context(), svc, id)
					if err != nil {
						return err
					}
					if asJSON {
						return a.printJSON(out)
					}
					return a.printCampaignText(out)
				})
			},
		}
	}
	show := func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) { return svc.Get(ctx, id) }
	cmd.AddCommand(create,
		one("dry-run", "Show audience, exclusions, previews, cost and duration without sending", func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) {
			card, err := a.cfg.card()
			if err != nil {
				return nil, err
			}
			return svc.DryRun(ctx, id, card)
		}),
		one("start", "Expand and start (or schedule) a draft campaign", func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) {
			return svc.Start(ctx, id)
		}),
		one("pause", "Pause a running campaign", func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) {
			if err := svc.Pause(ctx, id, ""); err != nil {
				return nil, err
			}
			return show(ctx, svc, id)
		}),
		one("resume", "Resume a paused campaign", func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) {
			if err := svc.Resume(ctx, id); err != nil {
				return nil, err
			}
			return show(ctx, svc, id)
		}),
		one("cancel", "Cancel a campaign; queued sends are cancelled", func(ctx context.Context, svc *campaigns.Service, id int64) (any, error) {
			if err := svc.Cancel(ctx, id); err != nil {
				return nil, err
			}
			return show(ctx, svc, id)
		}),
		one("show", "Show a campaign", show),
	)
	return cmd
}

func (a *app) printCampaignText(v any) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
	switch x := v.(type) {
	case *campaigns.Campaign:
		fmt.Fprintf(tw, "campaign\t%d\t%s\n", x.ID, x.Name)
		fmt.Fprintf(tw, "status\t%s\t%s\n", x.Status, x.StatusReason)
		fmt.Fprintf(tw, "sender\t%s\t%d/s\n", x.PhoneNumberID, x.SenderRate)
		fmt.Fprintf(tw, "audience\t%d\t\n", x.Audience)
	case *campaigns.Expansion:
		fmt.Fprintf(tw, "audience\t%d\n", x.Audience)
		fmt.Fprintf(tw, "sends\t%d\n", x.Sends)
		for k, n := range x.Skipped {
			fmt.Fprintf(tw, "skipped %s\t%d\n", k, n)
		}
	case *campaigns.DryRun:
		fmt.Fprintf(tw, "audience\t%d\n", x.Audience)
		fmt.Fprintf(tw, "would send\t%d\n", x.Sends)
		for k, n := range x.Skipped {
			fmt.Fprintf(tw, "skipped %s\t%d\n", k, n)
		}
		fmt.Fprintf(tw, "estimated cost\t%s\n", pricing.FormatMicros(x.EstimatedCost, x.Currency))
		fmt.Fprintf(tw, "estimated duration\t%s\n", x.Duration)
		if x.MessagingLimit > 0 {
			fmt.Fprintf(tw, "messaging limit\t%d a day, %d used, fits: %t\n", x.MessagingLimit, x.Used24h, x.WithinLimit)
		}
		for _, p := range x.Previews {
			fmt.Fprintf(tw, "\npreview for %s:\n%s\n", p.Phone, p.Text+p.Error)
		}
	default:
		return a.printJSON(v)
	}
	return tw.Flush()
}

// parseAudienceFlags reads repeated --param SLOT=SOURCE and --filter
// ATTRIBUTE=VALUE flags, shared by campaigns and schedules.
func parseAudienceFlags(binds, filters []string) ([]campaigns.Binding, map[string]string, error) {
	var bindings []campaigns.Binding
	for _, b := range binds {
		bd, err := campaigns.ParseBinding(b)
		if err != nil {
			return nil, nil, usageError{err}
		}
		bindings = append(bindings, bd)
	}
	var fs map[string]string
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, nil, usageError{fmt.Errorf("filter %q: want ATTRIBUTE=VALUE", f)}
		}
		if fs == nil {
			fs = map[string]string{}
		}
		fs[k] = v
	}
	return bindings, fs, nil
}
