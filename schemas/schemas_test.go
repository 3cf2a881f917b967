package schemas

import (
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
