// Package schemas holds what every schema format shares: the schema formats
// schemaflow speaks, the BSON value kinds that inference tracks, and the names
// of the helper types that carry BSON types Avro and Protobuf lack.
//
// Sub-packages do the work: infer builds schemas from documents, avro and
// protobuf encode and decode BSON documents, wire frames records in the
// Confluent wire format, and extjson reads Extended JSON input.
package schemas

import (
	"fmt"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// Format is a schema format.
type Format int

// The schema formats.
const (
	Avro Format = iota + 1
	Protobuf
	JSON
)

// String returns the lower-case format name.
func (f Format) String() string {
	switch f {
	case Avro:
		return "avro"
	case Protobuf:
		return "protobuf"
	case JSON:
		return "json"
	default:
		return fmt.Sprintf("format(%d)", int(f))
	}
}

// ParseFormat parses a format name, case-insensitively. It accepts the
// registry's names (AVRO, PROTOBUF, JSON) as well.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "avro":
		return Avro, nil
	case "protobuf", "proto":
		return Protobuf, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown schema format %q (want avro, protobuf or json)", s)
}

// Kind is the type of a BSON value as inference sees it. Binary values are
// split in three because they map to three different schema types.
type Kind uint8

// The BSON kinds. The order is the order in which kinds are listed in
// messages; it has no effect on the schemas produced.
const (
	KindNull Kind = iota + 1
	KindDouble
	KindString
	KindDocument
	KindArray
	KindBinary      // binary subtype 0 (generic)
	KindUUID        // binary subtype 4 with 16 bytes
	KindBinaryOther // binary of any other subtype, or a malformed UUID
	KindObjectID
	KindBool
	KindDate
	KindRegex
	KindJavaScript
	KindInt32
	KindInt64
	KindDecimal128
	KindTimestamp
	KindMinKey
	KindMaxKey
	KindUndefined
	KindDBPointer
	KindSymbol
	KindCodeWithScope
	kindEnd
)

var kindNames = [...]string{
	KindNull:          "null",
	KindDouble:        "double",
	KindString:        "string",
	KindDocument:      "document",
	KindArray:         "array",
	KindBinary:        "binary",
	KindUUID:          "uuid",
	KindBinaryOther:   "binaryOther",
	KindObjectID:      "objectId",
	KindBool:          "bool",
	KindDate:          "date",
	KindRegex:         "regex",
	KindJavaScript:    "javascript",
	KindInt32:         "int32",
	KindInt64:         "int64",
	KindDecimal128:    "decimal128",
	KindTimestamp:     "timestamp",
	KindMinKey:        "minKey",
	KindMaxKey:        "maxKey",
	KindUndefined:     "undefined",
	KindDBPointer:     "dbPointer",
	KindSymbol:        "symbol",
	KindCodeWithScope: "codeWithScope",
}

// String returns the kind's name, as used in messages and in generated
// Protobuf oneof member names.
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// AllKinds returns every kind, in declaration order.
func AllKinds() []Kind {
	out := make([]Kind, 0, int(kindEnd)-1)
	for k := KindNull; k < kindEnd; k++ {
		out = append(out, k)
	}
	return out
}

// KindOf returns the kind of a BSON value, or 0 for an unknown BSON type.
func KindOf(v bsoncore.Value) Kind {
	switch v.Type {
	case bson.TypeDouble:
		return KindDouble
	case bson.TypeString:
		return KindString
	case bson.TypeEmbeddedDocument:
		return KindDocument
	case bson.TypeArray:
		return KindArray
	case bson.TypeBinary:
		sub, data, ok := v.BinaryOK()
		switch {
		case ok && sub == 0:
			return KindBinary
		case ok && sub == 4 && len(data) == 16:
			return KindUUID
		}
		return KindBinaryOther
	case bson.TypeUndefined:
		return KindUndefined
	case bson.TypeObjectID:
		return KindObjectID
	case bson.TypeBoolean:
		return KindBool
	case bson.TypeDateTime:
		return KindDate
	case bson.TypeNull:
		return KindNull
	case bson.TypeRegex:
		return KindRegex
	case bson.TypeDBPointer:
		return KindDBPointer
	case bson.TypeJavaScript:
		return KindJavaScript
	case bson.TypeSymbol:
		return KindSymbol
	case bson.TypeCodeWithScope:
		return KindCodeWithScope
	case bson.TypeInt32:
		return KindInt32
	case bson.TypeTimestamp:
		return KindTimestamp
	case bson.TypeInt64:
		return KindInt64
	case bson.TypeDecimal128:
		return KindDecimal128
	case bson.TypeMinKey:
		return KindMinKey
	case bson.TypeMaxKey:
		return KindMaxKey
	}
	return 0
}

// HelperNamespace is the Avro namespace of the helper types that carry BSON
// types Avro has no native type for. Avro decoders that do not know
// schemaflow read them as ordinary records, enums and fixed values.
const HelperNamespace = "bson"

// AvroHelperName returns the unqualified Avro name of the helper type for k,
// or "" when k maps to a native Avro type. KindDate has a helper ("Date")
// that is used only where a date shares a union with a plain long.
func AvroHelperName(k Kind) string {
	switch k {
	case KindBinaryOther:
		return "Binary"
	case KindUUID:
		return "UUID"
	case KindObjectID:
		return "ObjectId"
	case KindRegex:
		return "Regex"
	case KindJavaScript:
		return "JavaScript"
	case KindDecimal128:
		return "Decimal128"
	case KindTimestamp:
		return "Timestamp"
	case KindMinKey:
		return "MinKey"
	case KindMaxKey:
		return "MaxKey"
	case KindUndefined:
		return "Undefined"
	case KindDBPointer:
		return "DBPointer"
	case KindSymbol:
		return "Symbol"
	case KindCodeWithScope:
		return "CodeWithScope"
	case KindDate:
		return "Date"
	}
	return ""
}

// KindForAvroHelper returns the kind whose helper type has the given full
// Avro name ("bson.ObjectId"), or 0.
func KindForAvroHelper(fullName string) Kind {
	ns, name, ok := strings.Cut(fullName, ".")
	if !ok || ns != HelperNamespace || strings.Contains(name, ".") {
		return 0
	}
	for k := KindNull; k < kindEnd; k++ {
		if AvroHelperName(k) == name {
			return k
		}
	}
	return 0
}

// ProtoHelperName returns the name of the top-level Protobuf helper message
// for k, or "" when k maps to a native or well-known Protobuf type.
func ProtoHelperName(k Kind) string {
	switch k {
	case KindDate, KindNull:
		return "" // google.protobuf.Timestamp, google.protobuf.NullValue
	case KindUUID, KindBinaryOther:
		return "BsonBinary"
	}
	if n := AvroHelperName(k); n != "" {
		return "Bson" + n
	}
	return ""
}

// Avro field properties that keep what Avro names cannot express.
const (
	// PropBSONName holds a field's original BSON name when that name is not
	// a legal Avro name.
	PropBSONName = "bsonName"
	// PropOmitNull, when true, tells the decoder that a null value stands
	// for a field missing from the document rather than an explicit null.
	PropOmitNull = "bsonOmitNull"
)

// maxSignificand is 10^34 - 1, the largest canonical Decimal128 significand,
// as high and low 64-bit words.
const (
	maxSignificandHigh = 0x0001ed09bead87c0
	maxSignificandLow  = 0x378d8e63ffffffff
)

// Decimal128String returns the string form of d, which parses back to d.
// IEEE 754-2008 defines an encoding whose significand exceeds 10^34 - 1 as
// zero, but the driver prints its digits, which do not parse; such a value
// is written as the zero it stands for, with its sign and exponent.
func Decimal128String(d primitive.Decimal128) string {
	var buf [64]byte
	return string(AppendDecimal128(buf[:0], d))
}

// AppendDecimal128 appends the string form of d (see Decimal128String).
func AppendDecimal128(dst []byte, d primitive.Decimal128) []byte {
	h, l := d.GetBytes()
	switch {
	case (h>>58)&0x1f >= 0x1e: // NaN or infinity
		return append(dst, d.String()...)
	case (h>>61)&3 == 3: // the "11" form always has a significand above 10^34
		exp := (h >> 47) & 0x3fff
		return append(dst, primitive.NewDecimal128(h&(1<<63)|exp<<49, 0).String()...)
	}
	sh := h & (1<<49 - 1)
	if sh > maxSignificandHigh || (sh == maxSignificandHigh && l > maxSignificandLow) {
		return append(dst, primitive.NewDecimal128(h&^(1<<49-1), 0).String()...)
	}
	if sh == 0 {
		// The coefficient fits in 64 bits, as nearly every real decimal's
		// does: format it without big-number arithmetic.
		return appendSmallDecimal(dst, h, l)
	}
	return append(dst, d.String()...)
}

// appendSmallDecimal formats a Decimal128 whose coefficient is l, following
// the specification's to-string rules that the driver's String implements:
// plain notation when the exponent is at most 0 and the adjusted exponent
// is at least -6, scientific notation otherwise.
func appendSmallDecimal(dst []byte, h, l uint64) []byte {
	if h>>63 == 1 {
		dst = append(dst, '-')
	}
	exp := int((h>>49)&0x3fff) - 6176
	start := len(dst)
	dst = strconv.AppendUint(dst, l, 10)
	n := len(dst) - start
	adjusted := exp + n - 1
	switch {
	case exp == 0:
		return dst
	case exp < 0 && adjusted >= -6:
		point := n + exp // digits before the point
		if point > 0 {
			dst = append(dst, 0)
			copy(dst[start+point+1:], dst[start+point:])
			dst[start+point] = '.'
			return dst
		}
		digits := append([]byte(nil), dst[start:]...)
		dst = append(dst[:start], '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	if n > 1 {
		dst = append(dst, 0)
		copy(dst[start+2:], dst[start+1:])
		dst[start+1] = '.'
	}
	dst = append(dst, 'E')
	if adjusted >= 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(adjusted), 10)
}

// Numbers says how a field whose values hold several BSON number types
// (int32, int64, double) is typed in an inferred schema, and how strictly
// an encoder matches numbers to schema types.
type Numbers uint8

// The number modes. The zero value is NumbersWiden, the default.
const (
	// NumbersWiden gives such a field one number type: int32 and int64
	// widen to int64, and integers widen to double when every one seen
	// fits a double exactly. Decoding may then return another BSON number
	// type than was written (an int32 5 comes back as the double 5.0),
	// which suits SQL-like consumers. The default.
	NumbersWiden Numbers = iota
	// NumbersExact keeps each value's BSON number type: the field is a
	// union (Avro) or a oneof (Protobuf) of the number types seen, and an
	// encoder writes a number only to a type that decodes to the same BSON
	// type. A MongoDB → Kafka → MongoDB round trip is then type-exact.
	NumbersExact
)

// String returns the mode's name, as written in specs and flags.
func (n Numbers) String() string {
	switch n {
	case NumbersWiden:
		return "widen"
	case NumbersExact:
		return "exact"
	}
	return fmt.Sprintf("numbers(%d)", int(n))
}

// ParseNumbers parses a number mode name, "widen" or "exact",
// case-insensitively.
func ParseNumbers(s string) (Numbers, error) {
	switch strings.ToLower(s) {
	case "widen":
		return NumbersWiden, nil
	case "exact":
		return NumbersExact, nil
	}
	return 0, fmt.Errorf("unknown number mode %q (want widen or exact)", s)
}
