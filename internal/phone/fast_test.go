package phone

import (
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"github.com/stretchr/testify/require"
)

// diffCase is one input for comparing the fast path with phonenumbers.
type diffCase struct {
	raw, region, form string
}

// diffCases writes numbers of every region and type the way people do:
// international, national, with the trunk prefix, with the calling code but
// no plus, after an IDD, with punctuation, mutated to be invalid or of the
// wrong length. perDesc is the number of variants per example number.
func diffCases(rng *rand.Rand, perDesc int) []diffCase {
	coll, _ := phonenumbers.MetadataCollection()
	var geo []string
	for _, m := range coll.GetMetadata() {
		if m.GetId() != "001" {
			geo = append(geo, m.GetId())
		}
	}
	sort.Strings(geo)
	var out []diffCase
	for _, m := range coll.GetMetadata() {
		cc := strconv.Itoa(int(m.GetCountryCode()))
		home := m.GetId()
		if home == "001" {
			home = geo[rng.IntN(len(geo))]
		}
		for _, d := range []*phonenumbers.PhoneNumberDesc{
			m.GetFixedLine(), m.GetMobile(), m.GetTollFree(), m.GetPremiumRate(), m.GetSharedCost(),
			m.GetVoip(), m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(),
		} {
			example := d.GetExampleNumber()
			if example == "" {
				continue
			}
			for i := range perDesc {
				nsn := mutate(rng, example, i)
				other := geo[rng.IntN(len(geo))]
				out = append(out,
					diffCase{"+" + cc + nsn, other, "plus"},
					diffCase{"+" + cc + " " + punctuate(rng, nsn), other, "plus"},
					diffCase{punctuate(rng, nsn), home, "national"},
					diffCase{nsn, home, "national"},
					diffCase{m.GetNationalPrefix() + nsn, home, "trunk"},
					diffCase{cc + nsn, home, "code"},
					diffCase{cc + " " + punctuate(rng, nsn), other, "code"},
					diffCase{"00" + cc + nsn, home, "idd"},
					diffCase{"011 " + cc + " " + nsn, "US", "idd"},
					diffCase{"+" + randomDigits(rng, 2+rng.IntN(15)), other, "random"},
					diffCase{randomDigits(rng, 2+rng.IntN(15)), home, "random"},
				)
			}
		}
	}
	return out
}

// mutate returns example as is (i == 0), with random trailing digits, or
// one digit longer or shorter.
func mutate(rng *rand.Rand, example string, i int) string {
	switch {
	case i == 0:
		return example
	case i%7 == 3:
		return example + strconv.Itoa(rng.IntN(10))
	case i%7 == 5 && len(example) > 3:
		return example[:len(example)-1]
	}
	k := min(1+rng.IntN(4), len(example))
	return example[:len(example)-k] + randomDigits(rng, k)
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// punctuate groups digits the way lists do: "(11) 98765-4321", "11.9876.5432".
func punctuate(rng *rand.Rand, digits string) string {
	seps := []string{" ", "-", ".", "/"}
	var b strings.Builder
	if len(digits) > 6 && rng.IntN(2) == 0 {
		b.WriteString("(" + digits[:2] + ") ")
		digits = digits[2:]
	}
	sep := seps[rng.IntN(len(seps))]
	for len(digits) > 4 {
		b.WriteString(digits[:3] + sep)
		digits = digits[3:]
	}
	b.WriteString(digits)
	return b.String()
}

// TestFastMatchesPhonenumbers is the guarantee behind the fast path: on
// every input where it answers, phonenumbers answers the same. It also
// checks that the fast path answers for most valid numbers written in the
// usual ways, or it would not be worth having.
//
// HERALD_PHONE_DIFF_VARIANTS raises the number of variants per example
// number (default 6, about 60,000 inputs; 200 makes about two million).
func TestFastMatchesPhonenumbers(t *testing.T) {
	t.Parallel()

	perDesc := 6
	if testing.Short() {
		perDesc = 2
	}
	if v, err := strconv.Atoi(os.Getenv("HERALD_PHONE_DIFF_VARIANTS")); err == nil && v > 0 {
		perDesc = v
	}
	tb := tables()
	rng := rand.New(rand.NewPCG(7, 11))
	type tally struct{ valid, fast int }
	byForm := map[string]*tally{}
	cases := diffCases(rng, perDesc)
	for _, c := range cases {
		want, wantErr := slow(c.raw, c.region)
		got, ok := tb.fast(c.raw, tb.regions[c.region])
		if ok {
			require.NoError(t, wantErr, "fast path accepted %q (default %s) that phonenumbers refuses", c.raw, c.region)
			require.Equal(t, want, got, "%q (default %s)", c.raw, c.region)
		}
		if byForm[c.form] == nil {
			byForm[c.form] = &tally{}
		}
		if wantErr == nil {
			byForm[c.form].valid++
			if ok {
				byForm[c.form].fast++
			}
		}
	}
	for form, n := range byForm {
		t.Logf("%-8s valid %6d, fast path %6d (%.1f%%)", form, n.valid, n.fast, 100*float64(n.fast)/float64(max(n.valid, 1)))
	}
	t.Logf("%d inputs", len(cases))
	for _, form := range []string{"plus", "national", "code"} {
		n := byForm[form]
		require.Greater(t, float64(n.fast)/float64(n.valid), 0.95, "fast path coverage of %s numbers", form)
	}
}

// FuzzFastMatchesPhonenumbers looks for an input the fast path accepts and
// phonenumbers does not, or reads differently.
func FuzzFastMatchesPhonenumbers(f *testing.F) {
	for _, s := range []string{
		"+55 11 98765-4321", "(11) 98765-4321", "5511987654321", "011 98765-4321", "+1 (415) 555-2671",
		"14155552671", "0044 7400 123456", "+800 1234 5678", "(+55) 11.98765.4321", "+54 9 11 2345-6789",
		"+7 912 345 67 89", "87 912 345 67 89", "+44 1481 123456", "+39 06 1234 5678", "262 262 12 34 56",
	} {
		f.Add(s, "BR")
		f.Add(s, "US")
		f.Add(s, "AR")
	}
	tb := tables()
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, ok := tb.fast(raw, tb.regions[region])
		if !ok {
			return
		}
		want, err := slow(raw, region)
		if err != nil {
			t.Fatalf("fast path accepted %q (default %q) as %v; phonenumbers: %v", raw, region, got, err)
		}
		if got != want {
			t.Fatalf("%q (default %q): fast path %v, phonenumbers %v", raw, region, got, want)
		}
	})
}
