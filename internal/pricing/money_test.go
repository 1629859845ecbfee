package pricing

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMicros(t *testing.T) {
	t.Parallel()

	ok := map[string]int64{
		"0.0625": 62_500, "0": 0, "1": 1_000_000, "12.34": 12_340_000, ".5": 500_000, "5.": 5_000_000,
		"-3": -3_000_000, "+0.000001": 1, "0.1230000000": 123_000, "9223372036853": 9_223_372_036_853_000_000,
	}
	for in, want := range ok {
		got, err := ParseMicros(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", ".", "-", "1e3", "1,000", "0.0000001", "abc", "1.2.3", " 1", "9223372036854"} {
		_, err := ParseMicros(in)
		require.Error(t, err, in)
	}
}

func TestFormatMicros(t *testing.T) {
	t.Parallel()

	tests := []struct {
		micros   int64
		currency string
		want     string
	}{
		{12_340_000, "USD", "12.34 USD"},
		{62_500, "USD", "0.0625 USD"},
		{0, "USD", "0.00 USD"},
		{1, "EUR", "0.000001 EUR"},
		{-1_500_000, "USD", "-1.50 USD"},
		{25_000_000_000, "", "25000.00"},
		{math.MinInt64, "X", "-9223372036854.775808 X"},
		{math.MaxInt64, "X", "9223372036854.775807 X"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, FormatMicros(tt.micros, tt.currency))
	}
	// Round trip.
	for _, m := range []int64{0, 1, 62_500, 12_340_000, -7} {
		got, err := ParseMicros(FormatMicros(m, ""))
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
}
