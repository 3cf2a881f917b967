package rawbson

import "go.mongodb.org/mongo-driver/bson/primitive"

// ParseDecimal128 parses a Decimal128 as primitive.ParseDecimal128 does.
// Plain decimals of at most 19 digits ("19.99", "-3", "0.050"), what the
// encoder writes for most amounts, are parsed here without allocating;
// everything else goes to the driver's parser. The Avro and Protobuf
// decoders use it for Decimal128 values written as strings.
func ParseDecimal128(b []byte) (primitive.Decimal128, bool) {
	if dec, ok := parseSmallDecimal(b); ok {
		return dec, true
	}
	dec, err := primitive.ParseDecimal128(string(b))
	return dec, err == nil
}

// parseSmallDecimal parses -?D+(.D+)? with at most 19 digits in all, whose
// significand fits a uint64 and whose exponent needs no clamping. It gives
// the same Decimal128 as primitive.ParseDecimal128: the digits as the
// significand, minus the number of fraction digits as the exponent, and
// the sign bit for a leading minus, even on zero.
func parseSmallDecimal(b []byte) (primitive.Decimal128, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var sig uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			sig = sig*10 + uint64(c-'0')
			digits++
		case c == '.' && frac < 0 && i > 0 && i < len(b)-1:
			frac = len(b) - i - 1
		default:
			return primitive.Decimal128{}, false
		}
	}
	if digits == 0 || digits > 19 {
		return primitive.Decimal128{}, false
	}
	exp := 0
	if frac > 0 {
		exp = -frac
	}
	h := uint64(exp-primitive.MinDecimal128Exp) << 49 // the biased exponent
	if neg {
		h |= 1 << 63
	}
	return primitive.NewDecimal128(h, sig), true
}
