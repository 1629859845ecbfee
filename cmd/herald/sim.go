package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/wasim"
)

func (a *app) simCmd() *cobra.Command {
	var (
		listen, webhook string
		rate            int
		latency         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the Cloud API simulator: templates, rate caps, failures, signed webhooks",
		Long: `sim serves the Cloud API's send and template endpoints on --listen and posts
signed status webhooks and replies to --webhook-url, so a campaign can be
rehearsed end to end before paying for it. Point herald at it with
WHATSAPP_API_URL=http://ADDR and use the same WHATSAPP_APP_SECRET on both.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if webhook != "" && a.cfg.AppSecret == "" {
				return usageError{fmt.Errorf("WHATSAPP_APP_SECRET is required to sign webhooks")}
			}
			sim := wasim.New(wasim.Config{
				Templates: demoTemplates, Rate: rate, Latency: latency, Failures: wasim.DefaultFailureMix(),
				WebhookURL: webhook, AppSecret: a.cfg.AppSecret, WABAID: demoWABA, DisplayPhoneNumber: demoDisplayPhone,
				Seed: time.Now().UnixNano(),
			}, a.logger)
			srv := wasim.HTTPServer(listen, sim)
			sim.Start(ctx)
			defer sim.Close()
			errc := make(chan error, 1)
			go func() { errc <- srv.ListenAndServe() }()
			a.logger.Info("simulator listening", slog.String("addr", listen), slog.String("waba", demoWABA), slog.String("phone_number_id", demoPhoneNumberID))
			select {
			case <-ctx.Done():
				return srv.Shutdown(ctx)
			case err := <-errc:
				return err
			}
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve the simulated Cloud API on")
	cmd.Flags().StringVar(&webhook, "webhook-url", "", "where to post status webhooks (empty: none)")
	cmd.Flags().IntVar(&rate, "rate", 80, "messages per second per phone number before 130429")
	cmd.Flags().DurationVar(&latency, "latency", 0, "added to every answer")
	return cmd
}
