package throttle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMaxInWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		name   string
		times  []time.Time
		window time.Duration
		want   int
	}{
		{"Empty", nil, time.Second, 0},
		{"One", at(5), time.Second, 1},
		{"HalfOpen", at(0, 1000), time.Second, 1},
		{"JustInside", at(0, 999), time.Second, 2},
		{"Unsorted", at(1500, 0, 900, 950, 2000), time.Second, 3},
		{"Cluster", at(0, 10, 400, 410, 420, 430, 1000), 100 * time.Millisecond, 4},
		{"SameInstant", at(7, 7, 7), time.Millisecond, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			times := append([]time.Time(nil), tt.times...)
			require.Equal(t, tt.want, MaxInWindow(tt.times, tt.window))
			require.Equal(t, times, tt.times, "input left as it was")
		})
	}

	t.Run("EvenlyPaced", func(t *testing.T) {
		t.Parallel()
		var ts []time.Time
		for i := range 5000 {
			ts = append(ts, t0.Add(time.Duration(i)*time.Millisecond))
		}
		require.Equal(t, 1000, MaxInWindow(ts, time.Second))
		require.Equal(t, 100, MaxInWindow(ts, 100*time.Millisecond))
	})
}
