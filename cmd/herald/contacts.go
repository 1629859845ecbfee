package main

import "github.com/spf13/cobra"

// contactsCmd is `herald contacts list --list NAME`.
func (a *app) contactsCmd() *cobra.Command {
	return &cobra.Command{Use: "contacts", Short: "Look at stored contacts", Hidden: true}
}
