package rawbson

import (
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// FuzzParseDecimal128 holds ParseDecimal128 to the driver's: the
// same value, or both refuse.
func FuzzParseDecimal128(f *testing.F) {
	for _, s := range []string{"19.99", "-0", "0.050", "007", "1.", ".5", "+1", "1e3", "9999999999999999999", "18446744073709551616", "-1.5", "NaN", "1..2", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseDecimal128([]byte(s))
		want, err := primitive.ParseDecimal128(s)
		if ok != (err == nil) {
			t.Fatalf("%q: fast ok=%v, driver err=%v", s, ok, err)
		}
		if ok {
			gh, gl := got.GetBytes()
			wh, wl := want.GetBytes()
			if gh != wh || gl != wl {
				t.Fatalf("%q: fast %s (%x %x), driver %s (%x %x)", s, got, gh, gl, want, wh, wl)
			}
		}
	})
}
