package schemas

import (
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

func TestDecimal128String(t *testing.T) {
	t.Parallel()
	tests := []struct {
		high, low uint64
		want      string
	}{
		{0x3040000000000000, 15, "15"},
		{0x7c00000000000000, 0, "NaN"},
		{0xf800000000000000, 0, "-Infinity"},
		// Significand 10^34 - 1 is the largest canonical one.
		{0x3041ed09bead87c0, 0x378d8e63ffffffff, "9999999999999999999999999999999999"},
		// One more is non-canonical: zero, with the exponent kept.
		{0x3041ed09bead87c0, 0x378d8e6400000000, "0"},
		{0xb041ed09bead87c0, 0x378d8e6400000000, "-0"},
		{0x3043ed09bead87c0, 0x378d8e6400000000, "0E+1"},
		// The "11" combination form is always non-canonical.
		{0x6c10000000000000, 0, "0"},
	}
	for _, tt := range tests {
		got := Decimal128String(primitive.NewDecimal128(tt.high, tt.low))
		if got != tt.want {
			t.Errorf("%#x %#x: got %q, want %q", tt.high, tt.low, got, tt.want)
		}
		if _, err := primitive.ParseDecimal128(got); err != nil {
			t.Errorf("%q does not parse: %v", got, err)
		}
	}
}

// The fast path must print exactly what the driver prints.
func TestDecimal128StringMatchesDriver(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1_000_000 {
		exp := uint64(r.IntN(6176 * 2)) // the whole exponent range
		if i%2 == 0 {
			exp = uint64(6176 - 40 + r.IntN(60)) // where plain and scientific meet
		}
		l := r.Uint64() >> r.IntN(64)
		h := exp << 49
		if r.IntN(2) == 0 {
			h |= 1 << 63
		}
		d := primitive.NewDecimal128(h, l)
		if got, want := Decimal128String(d), d.String(); got != want {
			t.Fatalf("%#x %#x: got %q, want %q", h, l, got, want)
		}
	}
}
