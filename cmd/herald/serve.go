package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/throttle"
)

func (a *app) serveCmd() *cobra.Command {
	var opts engineOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run herald: webhook receiver, API, metrics and job workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runProcess(cmd, true, opts)
		},
	}
	cmd.Flags().StringVar(&a.cfg.Listen, "listen", a.cfg.Listen, "HTTP address (env HERALD_LISTEN)")
	bindEngineFlags(cmd, &opts)
	return cmd
}

func (a *app) workerCmd() *cobra.Command {
	var opts engineOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run only job workers (dispatch, reconciliation, webhook application)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runProcess(cmd, false, opts)
		},
	}
	bindEngineFlags(cmd, &opts)
	return cmd
}

func bindEngineFlags(cmd *cobra.Command, opts *engineOptions) {
	f := cmd.Flags()
	f.IntVar(&opts.SendWorkers, "send-workers", 20, "dispatch jobs run at once in this process")
	f.DurationVar(&opts.UnknownAfter, "unknown-after", 10*time.Minute, "a send in flight this long with no answer and no webhook is marked unknown")
	f.DurationVar(&opts.RequestTimeout, "request-timeout", 30*time.Second, "longest wait for one Cloud API answer; after it the send's outcome is unknown and left to its webhook")
	f.DurationVar(&opts.JobTimeout, "job-timeout", 10*time.Minute, "longest a dispatch job may run; a dead process's jobs are retried after twice this")
	f.Float64Var(&opts.Headroom, "headroom", throttle.DefaultHeadroom, "share of each sender number's rate left unused, for delays on the way to the Cloud API (raise it if numbers draw 130429)")
}

// runProcess runs until the context ends (SIGINT, SIGTERM), then shuts down
// in order.
func (a *app) runProcess(cmd *cobra.Command, listen bool, opts engineOptions) error {
	ctx := cmd.Context()
	if opts.Headroom <= 0 || opts.Headroom >= 0.5 {
		return usageError{fmt.Errorf("--headroom %g: want a share of the rate above 0 and below 0.5", opts.Headroom)}
	}
	pool, err := a.openDB(ctx)
	if err != nil {
		return err
	}
	defer a.closeDB(ctx)
	opts.Work = true
	if listen {
		if a.cfg.AppSecret == "" {
			return usageError{fmt.Errorf("WHATSAPP_APP_SECRET is required to check webhook signatures")}
		}
		ln, err := net.Listen("tcp", a.cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
		}
		opts.Listener = ln
		a.logger.Info("listening", slog.String("addr", ln.Addr().String()))
	}
	eng, err := a.newEngine(pool, opts)
	if err != nil {
		return err
	}
	if err := eng.start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-eng.httpErr:
		eng.stop(ctx)
		return err
	}
	eng.stop(ctx)
	return nil
}
