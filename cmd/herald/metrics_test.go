package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/throttle"
)

// TestThrottleMetrics: /metrics carries the throttle's counters as they
// stand when scraped.
func TestThrottleMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	var id int64
	require.NoError(t, pool.QueryRow(ctx,
		`INSERT INTO sender_numbers (phone_number_id, rate_per_second) VALUES ('pn-metrics', 1000) RETURNING id`).Scan(&id))
	l := throttle.NewLimiter(slog.New(slog.NewTextHandler(io.Discard, nil)), pool, throttle.Config{})
	require.NoError(t, l.Start(ctx))
	t.Cleanup(l.Stop)

	reg := prometheus.NewRegistry()
	reg.MustRegister(throttleMetrics(l)...)
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, families, 5)

	slots, err := l.WaitN(ctx, id, 3)
	require.NoError(t, err)
	for _, s := range slots {
		require.NoError(t, l.Depart(id, s))
	}
	l.SlowDown(id)
	families, err = reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	require.Equal(t, map[string]float64{
		"herald_throttle_leases_total":     1,
		"herald_throttle_slots_total":      3,
		"herald_throttle_held_back_total":  0,
		"herald_throttle_top_ups_total":    0,
		"herald_throttle_slow_downs_total": 1,
	}, got)
}
