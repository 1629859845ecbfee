package main

import "github.com/spf13/cobra"

// importCmd is `herald import FILE --list NAME …`.
func (a *app) importCmd() *cobra.Command {
	return &cobra.Command{Use: "import FILE", Short: "Import a CSV or Excel contact list", Hidden: true}
}
