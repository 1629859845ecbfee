package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"
)

func (a *app) serveCmd() *cobra.Command {
	var workers int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run herald: webhook receiver, API, metrics and job workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runProcess(cmd, true, workers)
		},
	}
	cmd.Flags().StringVar(&a.cfg.Listen, "listen", a.cfg.Listen, "HTTP address (env HERALD_LISTEN)")
	cmd.Flags().IntVar(&workers, "send-workers", 20, "dispatch jobs run at once in this process")
	return cmd
}

func (a *app) workerCmd() *cobra.Command {
	var workers int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run only job workers (dispatch, reconciliation, webhook application)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runProcess(cmd, false, workers)
		},
	}
	cmd.Flags().IntVar(&workers, "send-workers", 20, "dispatch jobs run at once in this process")
	return cmd
}

// runProcess runs until the context ends (SIGINT, SIGTERM), then shuts down
// in order.
func (a *app) runProcess(cmd *cobra.Command, listen bool, workers int) error {
	ctx := cmd.Context()
	pool, err := a.openDB(ctx)
	if err != nil {
		return err
	}
	defer a.closeDB(ctx)
	opts := engineOptions{Work: true, SendWorkers: workers}
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
