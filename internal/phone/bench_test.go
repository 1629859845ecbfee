package phone

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// benchInputs are numbers as a Brazilian or American list holds them.
func benchInputs() []string {
	rng := rand.New(rand.NewPCG(3, 5))
	out := make([]string, 4096)
	for i := range out {
		switch i % 4 {
		case 0:
			out[i] = fmt.Sprintf("+55 11 9%04d-%04d", rng.IntN(10000), rng.IntN(10000))
		case 1:
			out[i] = fmt.Sprintf("(21) 9%04d-%04d", rng.IntN(10000), rng.IntN(10000))
		case 2:
			out[i] = fmt.Sprintf("55319%08d", rng.IntN(100000000))
		case 3:
			out[i] = fmt.Sprintf("+1 (415) %03d-%04d", 200+rng.IntN(800), rng.IntN(10000))
		}
	}
	return out
}

// BenchmarkNormalize is herald's path: the fast path, phonenumbers for the
// rest.
func BenchmarkNormalize(b *testing.B) {
	in := benchInputs()
	tables()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := Normalize(in[i%len(in)], "BR"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeParallel shows that the fast path shares nothing
// mutable between goroutines.
func BenchmarkNormalizeParallel(b *testing.B) {
	in := benchInputs()
	tables()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := Normalize(in[i%len(in)], "BR"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNormalizeSlowPath forces phonenumbers (a trunk prefix), for
// comparison.
func BenchmarkNormalizeSlowPath(b *testing.B) {
	in := benchInputs()
	for i := range in {
		in[i] = fmt.Sprintf("0 (11) 9%04d-%04d", i, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := Normalize(in[i%len(in)], "BR"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPhonenumbers is the library alone: Parse, IsValidNumber, Format.
func BenchmarkPhonenumbers(b *testing.B) {
	in := benchInputs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n, err := phonenumbers.Parse(in[i%len(in)], "BR")
		if err != nil || !phonenumbers.IsValidNumber(n) {
			b.Fatal(in[i%len(in)], err)
		}
		_ = phonenumbers.Format(n, phonenumbers.E164)
	}
}
