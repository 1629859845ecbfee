package main

import "github.com/spf13/cobra"

// benchCmd is `herald bench …`: measurements on this machine.
func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure herald on this machine",
	}
	cmd.AddCommand(a.benchImportCmd(), a.benchWebhooksCmd(), a.benchSendCmd(), a.benchExpandCmd(), a.benchWorkerCmd())
	return cmd
}
