package avro

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// Codec converts BSON documents to and from Avro binary under one schema.
// It is safe for concurrent use.
type Codec struct {
	schema *Schema
	// exactNumbers refuses number conversions that decode to another BSON
	// type (schemas.NumbersExact).
	exactNumbers bool
	// dec is the decoder compiled from the schema on first use (decode.go).
	dec compiled
}

// CodecOptions configure a Codec. The zero value is the default.
type CodecOptions struct {
	// Numbers says which Avro types the encoder writes a BSON number to.
	// schemas.NumbersWiden (the default) also converts without loss: an
	// int32 into a long or a double, an int64 into an int when it fits, or
	// into a double when exact. schemas.NumbersExact writes an int32 only
	// as an int, an int64 only as a long and a double only as a double or
	// a float that holds it, so decoding restores each BSON number type; a
	// number with no such type, or union branch, is an error.
	Numbers schemas.Numbers
}

// NewCodec returns a codec for s with the default options. The schema's
// root must be a record, since a BSON document is a record.
func NewCodec(s *Schema) (*Codec, error) { return NewCodecWith(s, CodecOptions{}) }

// NewCodecWith returns a codec for s configured by opts.
func NewCodecWith(s *Schema, opts CodecOptions) (*Codec, error) {
	if s.Root.Kind != Record {
		return nil, fmt.Errorf("avro: the top-level type is %s; a document needs a record", s.Root.Kind)
	}
	return &Codec{schema: s, exactNumbers: opts.Numbers == schemas.NumbersExact}, nil
}

// Schema returns the codec's schema.
func (c *Codec) Schema() *Schema { return c.schema }

// DataError reports a value that does not fit the schema, or bytes that do
// not decode.
type DataError struct {
	// Path is the field path, like "address.zip" or "items[2]"; empty for
	// the document itself.
	Path string
	// Offset is the byte offset of the problem when decoding, else -1.
	Offset int
	Msg    string
}

// Error implements error.
func (e *DataError) Error() string {
	var b strings.Builder
	b.WriteString("avro: ")
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "at byte %d: ", e.Offset)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, "field %q: ", e.Path)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// inField prefixes a field name to the path of a *DataError as it unwinds,
// so that paths cost nothing unless something fails.
func inField(err error, name string) error {
	if de, ok := err.(*DataError); ok {
		switch {
		case de.Path == "":
			de.Path = name
		case de.Path[0] == '[':
			de.Path = name + de.Path
		default:
			de.Path = name + "." + de.Path
		}
	}
	return err
}

// atIndex prefixes an array index to the path of a *DataError.
func atIndex(err error, i int) error {
	if de, ok := err.(*DataError); ok {
		idx := "[" + strconv.Itoa(i) + "]"
		switch {
		case de.Path == "", de.Path[0] == '[':
			de.Path = idx + de.Path
		default:
			de.Path = idx + "." + de.Path
		}
	}
	return err
}

func encErr(format string, args ...any) error {
	return &DataError{Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

// Encode appends the Avro binary encoding of doc to dst.
func (c *Codec) Encode(dst []byte, doc bson.Raw) ([]byte, error) {
	// The walk checks each value as it reads it, so the document is not
	// validated in a separate pass.
	if !rawbson.WellFramed(doc) {
		return dst, encErr("invalid BSON document")
	}
	return encodeRecord(dst, c.schema.Root, bsoncore.Document(doc), c.exactNumbers)
}

// Score values for how well a BSON value fits an Avro type.
const (
	noFit    = 0
	coercion = 2 // lossless conversion
	exact    = 3
)

func isTimestampMillis(t *Type) bool {
	return t.Logical == "timestamp-millis" || t.Logical == "local-timestamp-millis"
}

func isTimestampMicros(t *Type) bool {
	return t.Logical == "timestamp-micros" || t.Logical == "local-timestamp-micros"
}

// fit says how well v fits t (not a union). With exactNumbers, a number
// fits only a type that decodes to its own BSON type.
func fit(t *Type, v bsoncore.Value, exactNumbers bool) int {
	if exactNumbers {
		switch {
		case v.Type == bson.TypeInt32 && t.Kind != Int,
			v.Type == bson.TypeInt64 && t.Kind != Long,
			v.Type == bson.TypeDouble && t.Kind != Double && t.Kind != Float:
			return noFit
		}
	}
	switch v.Type {
	case bson.TypeNull:
		if t.Kind == Null {
			return exact
		}
	case bson.TypeBoolean:
		if t.Kind == Boolean {
			return exact
		}
	case bson.TypeInt32:
		i := int64(v.Int32())
		switch t.Kind {
		case Int:
			if t.Logical == "" {
				return exact
			}
		case Long:
			if t.Logical == "" {
				return coercion
			}
		case Double:
			return coercion
		case Float:
			if i >= -(1<<24) && i <= 1<<24 {
				return coercion
			}
		}
	case bson.TypeInt64:
		i := v.Int64()
		switch t.Kind {
		case Long:
			if t.Logical == "" {
				return exact
			}
		case Int:
			if t.Logical == "" && i >= math.MinInt32 && i <= math.MaxInt32 {
				return coercion
			}
		case Double:
			if i >= -(1<<53) && i <= 1<<53 {
				return coercion
			}
		case Float:
			if i >= -(1<<24) && i <= 1<<24 {
				return coercion
			}
		}
	case bson.TypeDouble:
		f := v.Double()
		switch t.Kind {
		case Double:
			return exact
		case Float:
			if float64(float32(f)) == f || math.IsNaN(f) {
				return coercion
			}
		}
	case bson.TypeString:
		switch t.Kind {
		case String:
			if t.Logical != "uuid" {
				return exact
			}
		case Enum:
			if sym, ok := rawString(v); ok && t.bsonKind == 0 && slices.Contains(t.Symbols, string(sym)) {
				return coercion
			}
		}
	case bson.TypeEmbeddedDocument:
		switch t.Kind {
		case Record:
			if t.bsonKind == 0 {
				return exact
			}
		case Map:
			return coercion
		}
	case bson.TypeArray:
		if t.Kind == Array {
			return exact
		}
	case bson.TypeBinary:
		sub, data, ok := v.BinaryOK()
		switch {
		case !ok:
			return noFit
		case sub == 4 && len(data) == 16 && (t.bsonKind == schemas.KindUUID || (t.Kind == Fixed && t.Logical == "uuid")):
			return exact
		case sub == 4 && len(data) == 16 && t.Kind == String && t.Logical == "uuid":
			return coercion
		case sub == 0 && t.Kind == Bytes && t.Logical == "":
			return exact
		case sub == 0 && t.Kind == Fixed && t.bsonKind == 0 && t.Logical == "" && t.Size == len(data):
			return coercion
		case t.bsonKind == schemas.KindBinaryOther:
			return exact
		}
	case bson.TypeDateTime:
		switch {
		case t.Kind == Long && isTimestampMillis(t), t.bsonKind == schemas.KindDate:
			return exact
		case t.Kind == Long && isTimestampMicros(t):
			return coercion
		}
	case bson.TypeObjectID:
		if t.bsonKind == schemas.KindObjectID {
			return exact
		}
	case bson.TypeDecimal128:
		if t.bsonKind == schemas.KindDecimal128 {
			return exact
		}
		if t.Logical == "decimal" {
			if _, ok := decimalUnscaled(v.Decimal128(), t.Scale, t.Precision); ok {
				return coercion
			}
		}
	default:
		if k := bsonHelperKind(v.Type); k != 0 && t.bsonKind == k {
			return exact
		}
	}
	return noFit
}

func bsonHelperKind(bt bsontype.Type) schemas.Kind {
	switch bt {
	case bson.TypeRegex:
		return schemas.KindRegex
	case bson.TypeJavaScript:
		return schemas.KindJavaScript
	case bson.TypeSymbol:
		return schemas.KindSymbol
	case bson.TypeCodeWithScope:
		return schemas.KindCodeWithScope
	case bson.TypeTimestamp:
		return schemas.KindTimestamp
	case bson.TypeMinKey:
		return schemas.KindMinKey
	case bson.TypeMaxKey:
		return schemas.KindMaxKey
	case bson.TypeUndefined:
		return schemas.KindUndefined
	case bson.TypeDBPointer:
		return schemas.KindDBPointer
	}
	return 0
}

// branch picks the union branch for v: the first exact fit, else the first
// lossless coercion.
func branch(u *Type, v bsoncore.Value, exactNumbers bool) int {
	best, bestScore := -1, noFit
	for i, b := range u.Branches {
		if s := fit(b, v, exactNumbers); s > bestScore {
			best, bestScore = i, s
			if s == exact {
				break
			}
		}
	}
	return best
}

func describe(t *Type) string {
	switch {
	case t.Name != "":
		return fmt.Sprintf("%s %q", t.Kind, t.Name)
	case t.Logical != "":
		return fmt.Sprintf("%s (%s)", t.Kind, t.Logical)
	case t.Kind == Union:
		parts := make([]string, len(t.Branches))
		for i, b := range t.Branches {
			parts[i] = describe(b)
		}
		return "union [" + strings.Join(parts, ", ") + "]"
	}
	return t.Kind.String()
}

func bsonTypeName(v bsoncore.Value) string {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return "document"
	case bson.TypeBinary:
		sub, _, _ := v.BinaryOK()
		return fmt.Sprintf("binary (subtype %d)", sub)
	}
	return v.Type.String()
}

func appendLong(dst []byte, i int64) []byte {
	return binary.AppendUvarint(dst, uint64((i<<1)^(i>>63)))
}

func appendBytes(dst, b []byte) []byte {
	dst = appendLong(dst, int64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = appendLong(dst, int64(len(s)))
	return append(dst, s...)
}

// encodeValue writes v as t. exactNumbers is the Codec's setting, passed
// down the walk.
func encodeValue(dst []byte, t *Type, v bsoncore.Value, exactNumbers bool) ([]byte, error) {
	// The common exact matches first: no scoring, no second switch.
	if t.bsonKind == 0 && t.Logical == "" {
		switch {
		case v.Type == bson.TypeString && t.Kind == String:
			if b, ok := rawString(v); ok {
				return appendBytes(dst, b), nil
			}
			return dst, badString(v)
		case v.Type == bson.TypeDouble && t.Kind == Double && len(v.Data) == 8:
			// Both are IEEE 754 binary64, little-endian.
			return append(dst, v.Data...), nil
		case v.Type == bson.TypeInt64 && t.Kind == Long && len(v.Data) == 8:
			return appendLong(dst, int64(binary.LittleEndian.Uint64(v.Data))), nil
		case v.Type == bson.TypeInt32 && (t.Kind == Int || t.Kind == Long && !exactNumbers) && len(v.Data) == 4:
			return appendLong(dst, int64(int32(binary.LittleEndian.Uint32(v.Data)))), nil
		case v.Type == bson.TypeEmbeddedDocument && t.Kind == Record:
			return encodeRecord(dst, t, v.Data, exactNumbers)
		case v.Type == bson.TypeArray && t.Kind == Array:
			return encodeArray(dst, t, v.Data, exactNumbers)
		}
	}
	if t.Kind == Union {
		i := branch(t, v, exactNumbers)
		if i < 0 {
			return dst, encErr("cannot encode BSON %s as %s", bsonTypeName(v), describe(t))
		}
		dst = appendLong(dst, int64(i))
		t = t.Branches[i]
	} else if fit(t, v, exactNumbers) == noFit {
		return dst, encErr("cannot encode BSON %s as Avro %s", bsonTypeName(v), describe(t))
	}
	if t.bsonKind != 0 {
		return encodeHelper(dst, t, v)
	}
	switch t.Kind {
	case Null:
		return dst, nil
	case Boolean:
		if v.Boolean() {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case Int, Long:
		switch v.Type {
		case bson.TypeInt32:
			return appendLong(dst, int64(v.Int32())), nil
		case bson.TypeInt64:
			return appendLong(dst, v.Int64()), nil
		}
		ms := v.DateTime()
		if isTimestampMicros(t) {
			if ms > math.MaxInt64/1000 || ms < math.MinInt64/1000 {
				return dst, encErr("date %d ms overflows timestamp-micros", ms)
			}
			return appendLong(dst, ms*1000), nil
		}
		return appendLong(dst, ms), nil
	case Float:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(asFloat(v)))), nil
	case Double:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(asFloat(v))), nil
	case String:
		if v.Type == bson.TypeBinary {
			_, data, _ := v.BinaryOK()
			return appendString(dst, formatUUID(data)), nil
		}
		b, ok := rawString(v)
		if !ok {
			return dst, badString(v)
		}
		return appendBytes(dst, b), nil
	case Bytes:
		if v.Type == bson.TypeDecimal128 {
			u, _ := decimalUnscaled(v.Decimal128(), t.Scale, t.Precision)
			return appendBytes(dst, twosComplement(u)), nil
		}
		_, data, _ := v.BinaryOK()
		return appendBytes(dst, data), nil
	case Fixed:
		if v.Type == bson.TypeDecimal128 {
			u, _ := decimalUnscaled(v.Decimal128(), t.Scale, t.Precision)
			b := twosComplement(u)
			if len(b) > t.Size {
				return dst, encErr("decimal does not fit fixed %q of %d bytes", t.Name, t.Size)
			}
			pad := byte(0)
			if u.Sign() < 0 {
				pad = 0xff
			}
			for i := len(b); i < t.Size; i++ {
				dst = append(dst, pad)
			}
			return append(dst, b...), nil
		}
		_, data, _ := v.BinaryOK()
		return append(dst, data...), nil
	case Enum:
		sym, _ := rawString(v)
		return appendLong(dst, int64(slices.Index(t.Symbols, string(sym)))), nil
	case Array:
		return encodeArray(dst, t, v.Data, exactNumbers)
	case Map:
		return encodeMap(dst, t, v.Data, exactNumbers)
	case Record:
		return encodeRecord(dst, t, v.Data, exactNumbers)
	}
	return dst, encErr("unsupported Avro type %s", t.Kind)
}

// rawString returns the bytes of a BSON string (or JavaScript code, or
// symbol) without copying them: the value is a length, the bytes, and a
// NUL. ok is false when the value is malformed or not UTF-8.
func rawString(v bsoncore.Value) ([]byte, bool) {
	d := v.Data
	if len(d) < 5 || d[len(d)-1] != 0 {
		return nil, false
	}
	b := d[4 : len(d)-1]
	return b, utf8.Valid(b)
}

func badString(v bsoncore.Value) error {
	return encErr("BSON %s is malformed or not valid UTF-8", bsonTypeName(v))
}

// appendObjectIDHex appends an ObjectId as an Avro string of 24 hex digits.
func appendObjectIDHex(dst []byte, oid []byte) []byte {
	dst = appendLong(dst, 24)
	return hex.AppendEncode(dst, oid)
}

func asFloat(v bsoncore.Value) float64 {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32())
	case bson.TypeInt64:
		return float64(v.Int64())
	}
	return v.Double()
}

// encodeHelper writes a BSON value into the schemaflow helper type that
// carries its BSON type.
func encodeHelper(dst []byte, t *Type, v bsoncore.Value) ([]byte, error) {
	switch t.bsonKind {
	case schemas.KindUUID:
		_, data, _ := v.BinaryOK()
		return append(dst, data...), nil
	case schemas.KindBinaryOther:
		sub, data, _ := v.BinaryOK()
		dst = appendLong(dst, int64(sub))
		return appendBytes(dst, data), nil
	case schemas.KindObjectID:
		return appendObjectIDHex(dst, v.Data[:12]), nil
	case schemas.KindRegex:
		pattern, options, ok := v.RegexOK()
		if !ok || !utf8.ValidString(pattern) || !utf8.ValidString(options) {
			return dst, badString(v)
		}
		return appendString(appendString(dst, pattern), options), nil
	case schemas.KindJavaScript, schemas.KindSymbol:
		b, ok := rawString(v)
		if !ok {
			return dst, badString(v)
		}
		return appendBytes(dst, b), nil
	case schemas.KindDecimal128:
		var buf [64]byte
		return appendBytes(dst, schemas.AppendDecimal128(buf[:0], v.Decimal128())), nil
	case schemas.KindTimestamp:
		ts, inc := v.Timestamp()
		return appendLong(appendLong(dst, int64(ts)), int64(inc)), nil
	case schemas.KindMinKey, schemas.KindMaxKey, schemas.KindUndefined:
		return appendLong(dst, 0), nil
	case schemas.KindDBPointer:
		ns, oid, ok := v.DBPointerOK()
		if !ok || !utf8.ValidString(ns) {
			return dst, badString(v)
		}
		dst = appendString(dst, ns)
		return appendObjectIDHex(dst, oid[:]), nil
	case schemas.KindCodeWithScope:
		if err := rawbson.ValidateValue(v); err != nil {
			return dst, encErr("BSON code with scope: %v", err)
		}
		code, scope := v.CodeWithScope()
		return appendBytes(appendString(dst, code), scope), nil
	case schemas.KindDate:
		return appendLong(dst, v.DateTime()), nil
	}
	return dst, encErr("unsupported helper type %q", t.Name)
}

// encodeArray writes the array as one Avro block. The items are encoded in
// one pass and the block count is inserted in front of them afterwards,
// which costs a short copy instead of a second walk over the BSON.
func encodeArray(dst []byte, t *Type, arr bsoncore.Array, exactNumbers bool) ([]byte, error) {
	if !rawbson.WellFramed(arr) {
		return dst, encErr("invalid BSON array")
	}
	start := len(dst)
	n := 0
	for rem := arr[4 : len(arr)-1]; len(rem) > 0; n++ {
		_, v, next, ok := rawbson.Next(rem)
		if !ok {
			return dst, encErr("invalid BSON array")
		}
		rem = next
		var err error
		if dst, err = encodeValue(dst, t.Items, v, exactNumbers); err != nil {
			return dst, atIndex(err, n)
		}
	}
	return insertCount(dst, start, n), nil
}

// insertCount finishes a one-block array or map whose n items were written
// from start: it inserts the block count in front of them and appends the
// closing zero count.
func insertCount(dst []byte, start, n int) []byte {
	if n > 0 {
		var buf [binary.MaxVarintLen64]byte
		count := appendLong(buf[:0], int64(n))
		dst = append(dst, count...) // grow by the count's size
		copy(dst[start+len(count):], dst[start:len(dst)-len(count)])
		copy(dst[start:], count)
	}
	return append(dst, 0)
}

func encodeMap(dst []byte, t *Type, doc bsoncore.Document, exactNumbers bool) ([]byte, error) {
	if !rawbson.WellFramed(doc) {
		return dst, encErr("invalid BSON document")
	}
	start := len(dst)
	n := 0
	for rem := doc[4 : len(doc)-1]; len(rem) > 0; n++ {
		k, v, next, ok := rawbson.Next(rem)
		if !ok {
			return dst, encErr("invalid BSON document")
		}
		rem = next
		if !utf8.Valid(k) {
			return dst, encErr("map key %q is not valid UTF-8", k)
		}
		dst = appendBytes(dst, k)
		var err error
		if dst, err = encodeValue(dst, t.Values, v, exactNumbers); err != nil {
			return dst, inField(err, string(k))
		}
	}
	return insertCount(dst, start, n), nil
}

// encodeRecord writes the fields of t in schema order, taking each from doc.
// Documents usually hold their fields in schema order, so the element at a
// cursor is tried first and the document is scanned only when it does not
// match. When every field was found at the cursor and the cursor ends at the
// end of the document, every element was used exactly once.
func encodeRecord(dst []byte, t *Type, doc bsoncore.Document, exactNumbers bool) ([]byte, error) {
	if !rawbson.WellFramed(doc) {
		return dst, encErr("invalid BSON document")
	}
	body := doc[4 : len(doc)-1]
	cursor := body
	inOrder := true
	matched := 0
	for _, f := range t.Fields {
		var v bsoncore.Value
		var next []byte
		var found bool
		if f.bsonKey.Name() == f.BSONName {
			v, next, found = rawbson.NextKey(cursor, &f.bsonKey)
		} else { // a Field made by hand, not by the parser
			v, next, found = rawbson.NextKeyed(cursor, f.BSONName)
		}
		if found {
			cursor = next
		} else {
			inOrder = false
			v, found = lookup(body, f.BSONName)
		}
		var err error
		if !found {
			if dst, err = encodeMissing(dst, f); err != nil {
				return dst, inField(err, f.BSONName)
			}
			continue
		}
		matched++
		if dst, err = encodeValue(dst, f.Type, v, exactNumbers); err != nil {
			return dst, inField(err, f.BSONName)
		}
	}
	if inOrder && len(cursor) == 0 {
		return dst, nil
	}
	total := 0
	for rem := body; len(rem) > 0; total++ {
		_, _, next, ok := rawbson.Next(rem)
		if !ok {
			return dst, encErr("invalid BSON document")
		}
		rem = next
	}
	if matched != total {
		return dst, extraField(t, body)
	}
	return dst, nil
}

func lookup(body []byte, key string) (bsoncore.Value, bool) {
	for rem := body; len(rem) > 0; {
		k, v, next, ok := rawbson.Next(rem)
		if !ok {
			break
		}
		if string(k) == key {
			return v, true
		}
		rem = next
	}
	return bsoncore.Value{}, false
}

// extraField names the first element that is not a field of t, or the first
// repeated one.
func extraField(t *Type, body []byte) error {
	seen := map[string]bool{}
	for rem := body; len(rem) > 0; {
		e, next, _ := bsoncore.ReadElement(rem)
		rem = next
		k := e.Key()
		if _, ok := t.byBSON[k]; !ok {
			return inField(encErr("not in the schema (record %q)", t.Name), k)
		}
		if seen[k] {
			return inField(encErr("appears twice in the document"), k)
		}
		seen[k] = true
	}
	return encErr("document does not match record %q", t.Name)
}

// encodeMissing writes a field the document lacks: null where the type
// allows it, else the field's default.
func encodeMissing(dst []byte, f *Field) ([]byte, error) {
	switch f.Type.Kind {
	case Null:
		return dst, nil
	case Union:
		for i, b := range f.Type.Branches {
			if b.Kind == Null {
				return appendLong(dst, int64(i)), nil
			}
		}
	}
	if f.HasDefault {
		return encodeDefault(dst, f.Type, f.Default)
	}
	return dst, encErr("missing, and the schema gives it no default")
}

// encodeDefault writes a JSON default value (as the parser checked it).
func encodeDefault(dst []byte, t *Type, d any) ([]byte, error) {
	switch t.Kind {
	case Union:
		return encodeDefault(append(dst, 0), t.Branches[0], d)
	case Null:
		return dst, nil
	case Boolean:
		if d.(bool) {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case Int, Long:
		i, _ := d.(json.Number).Int64()
		return appendLong(dst, i), nil
	case Float, Double:
		var f float64
		switch x := d.(type) {
		case json.Number:
			f, _ = x.Float64()
		case string:
			f, _ = strconv.ParseFloat(x, 64) // NaN, Infinity, -Infinity
		}
		if t.Kind == Float {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case String:
		return appendString(dst, d.(string)), nil
	case Bytes:
		b, _ := latin1(d.(string))
		return appendBytes(dst, b), nil
	case Fixed:
		b, _ := latin1(d.(string))
		return append(dst, b...), nil
	case Enum:
		return appendLong(dst, int64(slices.Index(t.Symbols, d.(string)))), nil
	case Array:
		list := d.([]any)
		if len(list) > 0 {
			dst = appendLong(dst, int64(len(list)))
			for _, v := range list {
				var err error
				if dst, err = encodeDefault(dst, t.Items, v); err != nil {
					return dst, err
				}
			}
		}
		return append(dst, 0), nil
	case Map:
		m := d.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			dst = appendLong(dst, int64(len(keys)))
			for _, k := range keys {
				dst = appendString(dst, k)
				var err error
				if dst, err = encodeDefault(dst, t.Values, m[k]); err != nil {
					return dst, err
				}
			}
		}
		return append(dst, 0), nil
	case Record:
		m := d.(map[string]any)
		for _, f := range t.Fields {
			v, ok := m[f.Name]
			if !ok {
				v = f.Default
			}
			var err error
			if dst, err = encodeDefault(dst, f.Type, v); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return dst, encErr("unsupported default for %s", t.Kind)
}

func formatUUID(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:16])
	return string(buf[:])
}

func parseUUID(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	b, err := hex.DecodeString(h)
	return b, err == nil
}

// decimalUnscaled returns the unscaled integer of a Decimal128 at the given
// scale, when the value is finite, needs no rounding and has at most
// precision digits.
func decimalUnscaled(d128 primitive.Decimal128, scale, precision int) (*big.Int, bool) {
	bi, exp, err := d128.BigInt()
	if err != nil {
		return nil, false // NaN or infinity
	}
	// value = bi * 10^exp; want unscaled u with value = u * 10^-scale.
	shift := exp + scale
	switch {
	case shift > 0:
		bi.Mul(bi, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(shift)), nil))
	case shift < 0:
		div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-shift)), nil)
		q, r := new(big.Int).QuoRem(bi, div, new(big.Int))
		if r.Sign() != 0 {
			return nil, false
		}
		bi = q
	}
	if len(new(big.Int).Abs(bi).String()) > precision {
		return nil, false
	}
	return bi, true
}

// twosComplement returns the big-endian two's-complement bytes of i, as Avro
// decimals store their unscaled value.
func twosComplement(i *big.Int) []byte {
	if i.Sign() >= 0 {
		b := i.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -i - 1, inverted.
	n := new(big.Int).Neg(i)
	n.Sub(n, big.NewInt(1))
	b := n.Bytes()
	for j := range b {
		b[j] = ^b[j]
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xff}, b...)
	}
	return b
}
