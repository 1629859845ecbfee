package pricing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MicrosPerUnit is the number of micro-units in one unit of a currency.
const MicrosPerUnit = 1_000_000

// ParseMicros reads a decimal amount ("0.0625", "-3", "12.5") as micro-units
// (62500, -3000000, 12500000), exactly: more than six significant decimals,
// exponents, thousands separators and amounts beyond ±9.2 trillion are
// refused rather than rounded.
func ParseMicros(s string) (int64, error) {
	orig := s
	if s == "" {
		return 0, errors.New("empty amount")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a decimal amount", orig)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than six decimals", orig)
	}
	frac += strings.Repeat("0", 6-len(frac))
	w := int64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil || w > (1<<63-1)/MicrosPerUnit-1 {
			return 0, fmt.Errorf("%q is too large", orig)
		}
	}
	f, _ := strconv.ParseInt(frac, 10, 64) // six digits: cannot fail
	v := w*MicrosPerUnit + f
	if neg {
		v = -v
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatMicros writes an amount of micro-units as a decimal with at least two
// and at most six decimals, trailing zeros beyond the second dropped, and the
// currency after a space: 12340000 → "12.34 USD", 62500 → "0.0625 USD",
// -1500000 → "-1.50 USD". It is exact (no floating point). An empty currency
// gives the number alone.
func FormatMicros(micros int64, currency string) string {
	var b strings.Builder
	u := uint64(micros)
	if micros < 0 {
		b.WriteByte('-')
		u = -u // two's complement: exact also for math.MinInt64
	}
	b.WriteString(strconv.FormatUint(u/MicrosPerUnit, 10))
	frac := fmt.Sprintf("%06d", u%MicrosPerUnit)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	b.WriteByte('.')
	b.WriteString(frac)
	if currency != "" {
		b.WriteByte(' ')
		b.WriteString(currency)
	}
	return b.String()
}
