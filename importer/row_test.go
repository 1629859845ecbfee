package importer

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPhoneKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"+5511987654321":   5511987654321,
		"+12025550123":     12025550123,
		"+1234567":         1234567,
		"+999999999999999": 999999999999999,
	} {
		k, ok := phoneKey(in)
		require.True(t, ok, in)
		require.Equal(t, want, k, in)
	}
	for _, in := range []string{"", "+", "5511987654321", "+0511987654321", "+55 11987654321", "+1234567890123456"} {
		_, ok := phoneKey(in)
		require.False(t, ok, "%q", in)
	}

	// Numbers of one length sort by key as by text, which is the order of
	// contacts.phone's unique index.
	numbers := []string{"+5511987654321", "+5521900000000", "+5511900000001", "+5599999999999", "+5511987654320"}
	byText := slices.Clone(numbers)
	slices.Sort(byText)
	slices.SortFunc(numbers, func(a, b string) int {
		ka, _ := phoneKey(a)
		kb, _ := phoneKey(b)
		return cmp.Compare(ka, kb)
	})
	require.Equal(t, strings.Join(byText, " "), strings.Join(numbers, " "))
}
