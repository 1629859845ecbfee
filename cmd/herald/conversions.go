package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/store"
)

func (a *app) conversionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "conversions", Short: "Record conversions (sales, sign-ups) for ROI reports"}
	var (
		region string
		window time.Duration
		asJSON bool
	)
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import conversions from CSV or XLSX (phone, value, currency, time, optional reference)",
		Long: `import reads a CSV or XLSX file of conversions and credits each one to the
last campaign message delivered to that contact within --window before it.
The file lands whole or not at all; refused rows are listed with line,
column and reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			var res *report.ImportResult
			err = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
				res, err = report.ImportConversions(ctx, tx, f, filepath.Base(args[0]), region, window)
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.stdout, "rows %d, recorded %d, duplicates %d, attributed to a campaign %d, refused %d\n",
				res.Rows, res.Recorded, res.Duplicates, res.Attributed, res.Refused)
			for _, e := range res.Errors {
				fmt.Fprintln(a.stdout, e.Error())
			}
			return nil
		},
	}
	imp.Flags().StringVar(&region, "default-country", "", "ISO country of numbers written without a country code, e.g. BR")
	imp.Flags().DurationVar(&window, "window", report.DefaultAttributionWindow, "attribution window")
	imp.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(imp)
	return cmd
}
