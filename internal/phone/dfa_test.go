package phone

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"
)

func TestDFAMatchesRegexp(t *testing.T) {
	t.Parallel()

	patterns := []string{
		`\d{8,9}`, `1`, `(?:0|90)(?:(1[245]|2[1-35]|31|4[13]|[56]5|99)(\d{10,11}))?`,
		`([2-9]\d{6})$|1`, `0?(?:(11|2\d)15)?`, `^1\d`, `[^0-4]5`, ``, `x`, `a|\d{3}$|12`,
	}
	coll, err := phonenumbers.MetadataCollection()
	require.NoError(t, err)
	for _, m := range coll.GetMetadata() {
		patterns = append(patterns, m.GetNationalPrefixForParsing(), m.GetInternationalPrefix(),
			m.GetLeadingDigits(), m.GetGeneralDesc().GetNationalNumberPattern(),
			m.GetMobile().GetNationalNumberPattern(), m.GetFixedLine().GetNationalNumberPattern())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range patterns {
		d, err := compileDFA(p)
		require.NoError(t, err, p)
		full := regexp.MustCompile("^(?:" + p + ")$")
		prefix := regexp.MustCompile("^(?:" + p + ")")
		for range 200 {
			var b strings.Builder
			for range rng.IntN(14) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			s := b.String()
			require.Equal(t, full.MatchString(s), d.full(s), "full %q on %q", p, s)
			empty, longer := d.prefix(s)
			require.Equal(t, prefix.MatchString(s), empty || longer, "prefix %q on %q", p, s)
			if loc := prefix.FindStringIndex(s); loc != nil && loc[1] > 0 {
				require.True(t, longer, "non-empty prefix %q on %q", p, s)
			}
		}
	}
}

func TestDFARefusesWordBoundaries(t *testing.T) {
	t.Parallel()

	_, err := compileDFA(`\b12`)
	require.ErrorIs(t, err, errUnsupportedPattern)
}

func TestTableCompilesEveryRegion(t *testing.T) {
	t.Parallel()

	tb := tables()
	for id, r := range tb.regions {
		require.True(t, r.fast, "region %s", id)
	}
	for code, cc := range tb.codes {
		if cc != nil {
			require.True(t, cc.fast, "calling code %d", code)
		}
	}
}
