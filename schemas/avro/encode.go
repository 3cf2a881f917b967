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

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas"
)

// Codec converts BSON documents to and from Avro binary under one schema.
// It is safe for concurrent use.
type Codec struct {
	schema *Schema
}

// NewCodec returns a codec for s. The schema's root must be a record, since
// a BSON document is a record.
func NewCodec(s *Schema) (*Codec, error) {
	if s.Root.Kind != Record {
		return nil, fmt.Errorf("avro: the top-level type is %s; a document needs a record", s.Root.Kind)
	}
	return &Codec{schema: s}, nil
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

// path is a field path kept on the stack and formatted only for errors.
type path struct {
	parent *path
	name   string
	index  int // array index when name == ""
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	parent := p.parent.String()
	if p.name == "" {
		return parent + "[" + strconv.Itoa(p.index) + "]"
	}
	if parent == "" {
		return p.name
	}
	return parent + "." + p.name
}

func encErr(p *path, format string, args ...any) error {
	return &DataError{Path: p.String(), Offset: -1, Msg: fmt.Sprintf(format, args...)}
}

// Encode appends the Avro binary encoding of doc to dst.
func (c *Codec) Encode(dst []byte, doc bson.Raw) ([]byte, error) {
	if err := bsoncore.Document(doc).Validate(); err != nil {
		return dst, &DataError{Offset: -1, Msg: "invalid BSON document: " + err.Error()}
	}
	return encodeRecord(dst, c.schema.Root, bsoncore.Document(doc), nil)
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

// fit says how well v fits t (not a union).
func fit(t *Type, v bsoncore.Value) int {
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
			if t.bsonKind == 0 && slices.Contains(t.Symbols, v.StringValue()) {
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
		sub, data := v.Binary()
		switch {
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
func branch(u *Type, v bsoncore.Value) int {
	best, bestScore := -1, noFit
	for i, b := range u.Branches {
		if s := fit(b, v); s > bestScore {
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

func encodeValue(dst []byte, t *Type, v bsoncore.Value, p *path) ([]byte, error) {
	if t.Kind == Union {
		i := branch(t, v)
		if i < 0 {
			return dst, encErr(p, "cannot encode BSON %s as %s", bsonTypeName(v), describe(t))
		}
		dst = appendLong(dst, int64(i))
		t = t.Branches[i]
	} else if fit(t, v) == noFit {
		return dst, encErr(p, "cannot encode BSON %s as Avro %s", bsonTypeName(v), describe(t))
	}
	if t.bsonKind != 0 {
		return encodeHelper(dst, t, v, p)
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
				return dst, encErr(p, "date %d ms overflows timestamp-micros", ms)
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
			_, data := v.Binary()
			return appendString(dst, formatUUID(data)), nil
		}
		return appendString(dst, v.StringValue()), nil
	case Bytes:
		if v.Type == bson.TypeDecimal128 {
			u, _ := decimalUnscaled(v.Decimal128(), t.Scale, t.Precision)
			return appendBytes(dst, twosComplement(u)), nil
		}
		_, data := v.Binary()
		return appendBytes(dst, data), nil
	case Fixed:
		if v.Type == bson.TypeDecimal128 {
			u, _ := decimalUnscaled(v.Decimal128(), t.Scale, t.Precision)
			b := twosComplement(u)
			if len(b) > t.Size {
				return dst, encErr(p, "decimal does not fit fixed %q of %d bytes", t.Name, t.Size)
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
		_, data := v.Binary()
		return append(dst, data...), nil
	case Enum:
		return appendLong(dst, int64(slices.Index(t.Symbols, v.StringValue()))), nil
	case Array:
		return encodeArray(dst, t, v.Array(), p)
	case Map:
		return encodeMap(dst, t, v.Document(), p)
	case Record:
		return encodeRecord(dst, t, v.Document(), p)
	}
	return dst, encErr(p, "unsupported Avro type %s", t.Kind)
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
func encodeHelper(dst []byte, t *Type, v bsoncore.Value, p *path) ([]byte, error) {
	switch t.bsonKind {
	case schemas.KindUUID:
		_, data := v.Binary()
		return append(dst, data...), nil
	case schemas.KindBinaryOther:
		sub, data := v.Binary()
		dst = appendLong(dst, int64(sub))
		return appendBytes(dst, data), nil
	case schemas.KindObjectID:
		oid := v.ObjectID()
		return appendString(dst, hex.EncodeToString(oid[:])), nil
	case schemas.KindRegex:
		pattern, options := v.Regex()
		return appendString(appendString(dst, pattern), options), nil
	case schemas.KindJavaScript:
		return appendString(dst, v.JavaScript()), nil
	case schemas.KindSymbol:
		return appendString(dst, v.Symbol()), nil
	case schemas.KindDecimal128:
		return appendString(dst, v.Decimal128().String()), nil
	case schemas.KindTimestamp:
		ts, inc := v.Timestamp()
		return appendLong(appendLong(dst, int64(ts)), int64(inc)), nil
	case schemas.KindMinKey, schemas.KindMaxKey, schemas.KindUndefined:
		return appendLong(dst, 0), nil
	case schemas.KindDBPointer:
		ns, oid := v.DBPointer()
		dst = appendString(dst, ns)
		return appendString(dst, hex.EncodeToString(oid[:])), nil
	case schemas.KindCodeWithScope:
		code, scope := v.CodeWithScope()
		return appendBytes(appendString(dst, code), scope), nil
	case schemas.KindDate:
		return appendLong(dst, v.DateTime()), nil
	}
	return dst, encErr(p, "unsupported helper type %q", t.Name)
}

func encodeArray(dst []byte, t *Type, arr bsoncore.Array, p *path) ([]byte, error) {
	n := 0
	for rem := arr[4 : len(arr)-1]; len(rem) > 0; n++ {
		_, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return dst, encErr(p, "invalid BSON array")
		}
		rem = next
	}
	if n > 0 {
		dst = appendLong(dst, int64(n))
		i := 0
		for rem := arr[4 : len(arr)-1]; len(rem) > 0; i++ {
			e, next, _ := bsoncore.ReadElement(rem)
			rem = next
			var err error
			if dst, err = encodeValue(dst, t.Items, e.Value(), &path{parent: p, index: i}); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, 0), nil
}

func encodeMap(dst []byte, t *Type, doc bsoncore.Document, p *path) ([]byte, error) {
	elems, err := doc.Elements()
	if err != nil {
		return dst, encErr(p, "invalid BSON document: %v", err)
	}
	if len(elems) > 0 {
		dst = appendLong(dst, int64(len(elems)))
		for _, e := range elems {
			k := e.Key()
			dst = appendString(dst, k)
			if dst, err = encodeValue(dst, t.Values, e.Value(), &path{parent: p, name: k}); err != nil {
				return dst, err
			}
		}
	}
	return append(dst, 0), nil
}

// encodeRecord writes the fields of t in schema order, taking each from doc.
// Documents usually hold their fields in schema order, so the next element
// is tried first and the document is scanned only when it does not match.
func encodeRecord(dst []byte, t *Type, doc bsoncore.Document, p *path) ([]byte, error) {
	body := doc[4 : len(doc)-1]
	cursor := body
	total := 0
	for rem := body; len(rem) > 0; total++ {
		_, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return dst, encErr(p, "invalid BSON document")
		}
		rem = next
	}
	matched := 0
	for _, f := range t.Fields {
		var v bsoncore.Value
		found := false
		if len(cursor) > 0 {
			e, next, _ := bsoncore.ReadElement(cursor)
			if keyEquals(e, f.BSONName) {
				v, found, cursor = e.Value(), true, next
			}
		}
		if !found {
			v, found = lookup(body, f.BSONName)
		}
		fp := &path{parent: p, name: f.BSONName}
		if !found {
			var err error
			if dst, err = encodeMissing(dst, f, fp); err != nil {
				return dst, err
			}
			continue
		}
		matched++
		var err error
		if dst, err = encodeValue(dst, f.Type, v, fp); err != nil {
			return dst, err
		}
	}
	if matched != total {
		return dst, extraField(t, body, p)
	}
	return dst, nil
}

func keyEquals(e bsoncore.Element, key string) bool {
	// An element is type byte, key, NUL, value.
	if len(e) < len(key)+2 {
		return false
	}
	return string(e[1:1+len(key)]) == key && e[1+len(key)] == 0
}

func lookup(body []byte, key string) (bsoncore.Value, bool) {
	for rem := body; len(rem) > 0; {
		e, next, _ := bsoncore.ReadElement(rem)
		if keyEquals(e, key) {
			return e.Value(), true
		}
		rem = next
	}
	return bsoncore.Value{}, false
}

// extraField names the first element that is not a field of t, or the first
// repeated one.
func extraField(t *Type, body []byte, p *path) error {
	seen := map[string]bool{}
	for rem := body; len(rem) > 0; {
		e, next, _ := bsoncore.ReadElement(rem)
		rem = next
		k := e.Key()
		if _, ok := t.byBSON[k]; !ok {
			return encErr(&path{parent: p, name: k}, "not in the schema (record %q)", t.Name)
		}
		if seen[k] {
			return encErr(&path{parent: p, name: k}, "appears twice in the document")
		}
		seen[k] = true
	}
	return encErr(p, "document does not match record %q", t.Name)
}

// encodeMissing writes a field the document lacks: null where the type
// allows it, else the field's default.
func encodeMissing(dst []byte, f *Field, p *path) ([]byte, error) {
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
		return encodeDefault(dst, f.Type, f.Default, p)
	}
	return dst, encErr(p, "missing, and the schema gives it no default")
}

// encodeDefault writes a JSON default value (as the parser checked it).
func encodeDefault(dst []byte, t *Type, d any, p *path) ([]byte, error) {
	switch t.Kind {
	case Union:
		return encodeDefault(append(dst, 0), t.Branches[0], d, p)
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
				if dst, err = encodeDefault(dst, t.Items, v, p); err != nil {
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
				if dst, err = encodeDefault(dst, t.Values, m[k], p); err != nil {
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
			if dst, err = encodeDefault(dst, f.Type, v, p); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return dst, encErr(p, "unsupported default for %s", t.Kind)
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
