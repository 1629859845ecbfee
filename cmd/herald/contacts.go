package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/importer"
)

// contactsCmd is `herald contacts list --list NAME [--json]`.
func (a *app) contactsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "contacts", Short: "Look at stored contacts"}
	var (
		list   string
		asJSON bool
	)
	ls := &cobra.Command{
		Use:   "list",
		Short: "List the contacts of a list: phone, name, consent, attributes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			svc := importer.NewService(a.logger, importer.Config{}, pool)
			// Page through the list so that a million contacts stream in
			// bounded memory.
			if asJSON {
				fmt.Fprint(a.stdout, "[")
			}
			var after int64
			first := true
			for {
				page, err := svc.ListContacts(ctx, list, after, 1000)
				if err != nil {
					return err
				}
				for _, c := range page {
					if asJSON {
						b, err := json.Marshal(c)
						if err != nil {
							return err
						}
						if !first {
							fmt.Fprint(a.stdout, ",")
						}
						fmt.Fprintf(a.stdout, "\n  %s", b)
					} else {
						fmt.Fprintf(a.stdout, "%s\t%s\t%s\t%s\n", c.Phone, c.Consent, c.Name, formatAttributes(c.Attributes))
					}
					first = false
				}
				if len(page) < 1000 {
					break
				}
				after = page[len(page)-1].ID
			}
			if asJSON {
				if !first {
					fmt.Fprintln(a.stdout)
				}
				fmt.Fprintln(a.stdout, "]")
			}
			return nil
		},
	}
	ls.Flags().StringVar(&list, "list", "", "the list (required)")
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = ls.MarkFlagRequired("list")
	cmd.AddCommand(ls)
	return cmd
}

// formatAttributes writes attributes as key=value, sorted.
func formatAttributes(attrs map[string]string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := attrs[k]
		if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' }) {
			v = strconv.Quote(v)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}
