package main

import (
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/report"
)

func (a *app) reportCmd() *cobra.Command {
	var (
		asJSON          bool
		csvFile, xlsxFn string
	)
	cmd := &cobra.Command{
		Use:   "report CAMPAIGN",
		Short: "Delivery, engagement, cost and ROI of a campaign",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := campaignID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			card, err := a.cfg.card()
			if err != nil {
				return err
			}
			rep, err := report.Campaign(ctx, pool, id, report.Options{Card: card})
			if err != nil {
				return err
			}
			if csvFile != "" {
				if err := writeFile(csvFile, func(f *os.File) error { return report.WriteCSV(f, rep, report.Recipients(ctx, pool, id)) }); err != nil {
					return err
				}
			}
			if xlsxFn != "" {
				if err := writeFile(xlsxFn, func(f *os.File) error { return report.WriteXLSX(f, rep, report.Recipients(ctx, pool, id)) }); err != nil {
					return err
				}
			}
			if asJSON {
				return a.printJSON(rep)
			}
			if csvFile != "" || xlsxFn != "" {
				return nil
			}
			return report.WriteText(a.stdout, rep)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&csvFile, "csv", "", "write the report and every recipient to this CSV file")
	cmd.Flags().StringVar(&xlsxFn, "xlsx", "", "write the report (with a funnel chart) and every recipient to this XLSX file")
	verify := &cobra.Command{
		Use:   "verify CAMPAIGN",
		Short: "Recount a campaign from its raw rows and compare with the report's counters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := campaignID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return a.withDB(ctx, func(pool *pgxpool.Pool) error {
				v, err := report.Verify(ctx, pool, id)
				if err != nil {
					return err
				}
				if !v.OK {
					for _, m := range v.Mismatches {
						fmt.Fprintln(a.stdout, m)
					}
					return fmt.Errorf("campaign %d: %d counters disagree with the raw rows", id, len(v.Mismatches))
				}
				fmt.Fprintf(a.stdout, "campaign %d: counters agree with the raw rows\n", id)
				return nil
			})
		},
	}
	templates := &cobra.Command{
		Use:   "templates",
		Short: "Compare templates across campaigns: reach, reads, replies, clicks, cost, conversions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.withDB(ctx, func(pool *pgxpool.Pool) error {
				stats, err := report.Templates(ctx, pool, report.TemplateFilter{})
				if err != nil {
					return err
				}
				return a.printJSON(stats)
			})
		},
	}
	countries := &cobra.Command{
		Use:   "countries CAMPAIGN",
		Short: "A campaign's delivery and cost by recipient country",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := campaignID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			card, err := a.cfg.card()
			if err != nil {
				return err
			}
			return a.withDB(ctx, func(pool *pgxpool.Pool) error {
				stats, err := report.Countries(ctx, pool, id, report.Options{Card: card})
				if err != nil {
					return err
				}
				return a.printJSON(stats)
			})
		},
	}
	cmd.AddCommand(verify, templates, countries)
	return cmd
}

func writeFile(path string, fn func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
