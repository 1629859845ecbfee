package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func (a *app) templatesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "templates", Short: "Register message templates"}
	var file string
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Load templates from the WABA's message_templates endpoint (WHATSAPP_WABA_ID) or from --file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var infos []whatsapp.TemplateInfo
			if file != "" {
				fh, err := os.Open(file)
				if err != nil {
					return err
				}
				defer fh.Close()
				if infos, err = campaigns.TemplatesFromJSON(fh); err != nil {
					return err
				}
			} else {
				if a.cfg.WABAID == "" || a.cfg.Token == "" {
					return usageError{fmt.Errorf("set WHATSAPP_WABA_ID and WHATSAPP_TOKEN, or use --file")}
				}
				client := whatsapp.NewClient(whatsapp.Config{BaseURL: a.cfg.APIURL, APIVersion: a.cfg.APIVersion, Token: a.cfg.Token})
				var err error
				if infos, err = client.ListTemplates(ctx, a.cfg.WABAID); err != nil {
					return err
				}
			}
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			for _, info := range infos {
				if _, err := campaigns.TemplateUpsert(ctx, pool, info); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "%d templates registered\n", len(infos))
			return nil
		},
	}
	sync.Flags().StringVar(&file, "file", "", "a JSON file in the shape of the message_templates listing")
	list := &cobra.Command{
		Use: "list", Short: "List registered templates", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			ts, err := campaigns.TemplateList(ctx, pool)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tLANGUAGE\tCATEGORY\tSTATUS\tPARAMETERS")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", t.Name, t.Language, t.Category, t.Status, len(t.Params))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(sync, list)
	return cmd
}

func (a *app) sendersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "senders", Short: "Register business phone numbers"}
	var s campaigns.Sender
	add := &cobra.Command{
		Use: "add", Short: "Add or update a sender number", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s.PhoneNumberID == "" {
				return usageError{fmt.Errorf("--phone-number-id is required")}
			}
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			id, err := campaigns.SenderUpsert(ctx, pool, s)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "sender %d: %s at %d/s\n", id, s.PhoneNumberID, s.RatePerSecond)
			return nil
		},
	}
	add.Flags().StringVar(&s.PhoneNumberID, "phone-number-id", "", "Meta's phone_number_id")
	add.Flags().StringVar(&s.DisplayPhone, "display", "", "display phone number")
	add.Flags().StringVar(&s.WABAID, "waba", "", "WhatsApp Business Account id")
	add.Flags().IntVar(&s.RatePerSecond, "rate", 80, "messages per second (80, or up to 1000 after Meta's upgrade)")
	add.Flags().IntVar(&s.MessagingLimit, "messaging-limit", 0, "unique recipients per 24 hours (250, 2000, 10000, 100000); 0 for unlimited")
	cmd.AddCommand(add)
	return cmd
}
