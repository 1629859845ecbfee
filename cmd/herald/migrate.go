package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or update herald's tables and River's (running it twice is a no-op)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if _, err := a.openDB(ctx); err != nil {
				return err
			}
			defer a.closeDB(ctx)
			fmt.Fprintf(a.stdout, "migrated %s database\n", a.located.Source)
			return nil
		},
	}
}
