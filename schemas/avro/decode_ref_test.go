package avro

// The decoder as it was before it was compiled per schema: a tree walk
// over the schema's types. It is kept as the reference the compiled
// decoder is tested against (TestDecodeMatchesReference,
// FuzzDecodeMatchesReference): the same documents, the same errors.

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

type refDecoder struct {
	data  []byte
	off   int
	depth int
}

func (d *refDecoder) fail(format string, args ...any) error {
	return &DataError{Offset: d.off, Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes one Avro binary value of the codec's record type into a
// BSON document. Trailing bytes are an error: a framed record holds exactly
// one value.
func refDecode(c *Codec, data []byte) (bson.Raw, error) {
	d := &refDecoder{data: data}
	// BSON takes about twice the Avro bytes (field names, lengths, fixed
	// width numbers): one allocation mostly does.
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, min(2*len(data)+64, MaxDocumentSize)))
	dst, err := d.recordBody(dst, c.schema.Root)
	if err != nil {
		return nil, err
	}
	if d.off != len(data) {
		return nil, d.fail("%d bytes left after the record", len(data)-d.off)
	}
	dst, err = bsoncore.AppendDocumentEnd(dst, idx)
	if err != nil {
		return nil, &DataError{Offset: d.off, Msg: err.Error()}
	}
	return bson.Raw(dst), nil
}

func (d *refDecoder) long() (int64, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if d.off >= len(d.data) {
			return 0, d.fail("unexpected end of data")
		}
		if shift >= 64 {
			return 0, d.fail("varint longer than 10 bytes")
		}
		c := d.data[d.off]
		d.off++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

func (d *refDecoder) take(n int64) ([]byte, error) {
	if n < 0 {
		return nil, d.fail("negative length %d", n)
	}
	if n > int64(len(d.data)-d.off) {
		return nil, d.fail("length %d runs past the end of the data", n)
	}
	b := d.data[d.off : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

func (d *refDecoder) bytes() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

func (d *refDecoder) str() (string, error) {
	b, err := d.bytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", d.fail("string is not valid UTF-8")
	}
	return string(b), nil
}

// blockCount reads the count of the next array or map block. A negative
// count is followed by the block's byte size, which is read and ignored.
func (d *refDecoder) blockCount(item *Type) (int64, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, d.fail("bad block count")
		}
		n = -n
		if _, err := d.long(); err != nil {
			return 0, err
		}
	}
	limit := int64(maxEmptyItems)
	if item.minSize > 0 {
		limit = int64(len(d.data)-d.off)/int64(item.minSize) + 1
	}
	if n > limit {
		return 0, d.fail("block count %d is larger than the data can hold", n)
	}
	return n, nil
}

// value appends v as an element named key.
func (d *refDecoder) value(dst []byte, key string, t *Type) ([]byte, error) {
	if t.Kind == Union {
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < 0 || i >= int64(len(t.Branches)) {
			return dst, d.fail("union branch %d out of range (%d branches)", i, len(t.Branches))
		}
		t = t.Branches[i]
	}
	if len(dst) > MaxDocumentSize {
		return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
	}
	if t.bsonKind != 0 {
		return d.helper(dst, key, t)
	}
	switch t.Kind {
	case Null:
		return bsoncore.AppendNullElement(dst, key), nil
	case Boolean:
		b, err := d.take(1)
		if err != nil {
			return dst, err
		}
		if b[0] > 1 {
			return dst, d.fail("boolean byte %d is not 0 or 1", b[0])
		}
		return bsoncore.AppendBooleanElement(dst, key, b[0] == 1), nil
	case Int:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return dst, d.fail("int %d out of 32-bit range", i)
		}
		return bsoncore.AppendInt32Element(dst, key, int32(i)), nil
	case Long:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		switch {
		case isTimestampMillis(t):
			return bsoncore.AppendDateTimeElement(dst, key, i), nil
		case isTimestampMicros(t):
			return bsoncore.AppendDateTimeElement(dst, key, floorDiv(i, 1000)), nil
		}
		return bsoncore.AppendInt64Element(dst, key, i), nil
	case Float:
		b, err := d.take(4)
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendDoubleElement(dst, key, float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))), nil
	case Double:
		b, err := d.take(8)
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendDoubleElement(dst, key, math.Float64frombits(binary.LittleEndian.Uint64(b))), nil
	case String:
		if t.Logical != "uuid" {
			// Copied from the Avro bytes straight into the BSON.
			b, err := d.bytes()
			if err != nil {
				return dst, err
			}
			if !utf8.Valid(b) {
				return dst, d.fail("string is not valid UTF-8")
			}
			dst = bsoncore.AppendHeader(dst, bson.TypeString, key)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)+1))
			return append(append(dst, b...), 0), nil
		}
		s, err := d.str()
		if err != nil {
			return dst, err
		}
		if t.Logical == "uuid" {
			u, ok := parseUUID(s)
			if !ok {
				return dst, d.fail("%q is not a UUID", s)
			}
			return bsoncore.AppendBinaryElement(dst, key, 4, u), nil
		}
		return bsoncore.AppendStringElement(dst, key, s), nil
	case Bytes:
		b, err := d.bytes()
		if err != nil {
			return dst, err
		}
		if t.Logical == "decimal" {
			return d.decimal(dst, key, b, t)
		}
		return bsoncore.AppendBinaryElement(dst, key, 0, b), nil
	case Fixed:
		b, err := d.take(int64(t.Size))
		if err != nil {
			return dst, err
		}
		switch t.Logical {
		case "decimal":
			return d.decimal(dst, key, b, t)
		case "uuid":
			return bsoncore.AppendBinaryElement(dst, key, 4, b), nil
		}
		return bsoncore.AppendBinaryElement(dst, key, 0, b), nil
	case Enum:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < 0 || i >= int64(len(t.Symbols)) {
			return dst, d.fail("enum index %d out of range for %q", i, t.Name)
		}
		return bsoncore.AppendStringElement(dst, key, t.Symbols[i]), nil
	case Array:
		return d.nested(dst, key, t, true)
	case Map:
		return d.nested(dst, key, t, false)
	case Record:
		if d.depth >= MaxDepth {
			return dst, d.fail("nesting deeper than %d", MaxDepth)
		}
		d.depth++
		idx, out := bsoncore.AppendDocumentElementStart(dst, key)
		out, err := d.recordBody(out, t)
		if err != nil {
			return dst, err
		}
		d.depth--
		return bsoncore.AppendDocumentEnd(out, idx)
	}
	return dst, d.fail("unsupported Avro type %s", t.Kind)
}

func (d *refDecoder) decimal(dst []byte, key string, b []byte, t *Type) ([]byte, error) {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 { // negative: subtract 2^(8n)
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	dec, ok := primitive.ParseDecimal128FromBigInt(u, -t.Scale)
	if !ok {
		return dst, d.fail("decimal does not fit a BSON Decimal128")
	}
	return bsoncore.AppendDecimal128Element(dst, key, dec), nil
}

// nested decodes an array (asArray) or a map into a BSON array or document.
func (d *refDecoder) nested(dst []byte, key string, t *Type, asArray bool) ([]byte, error) {
	if d.depth >= MaxDepth {
		return dst, d.fail("nesting deeper than %d", MaxDepth)
	}
	d.depth++
	var idx int32
	var out []byte
	item := t.Values
	if asArray {
		idx, out = bsoncore.AppendArrayElementStart(dst, key)
		item = t.Items
	} else {
		idx, out = bsoncore.AppendDocumentElementStart(dst, key)
	}
	i := 0
	var keyBuf []byte
	for {
		n, err := d.blockCount(item)
		if err != nil {
			return dst, err
		}
		if n == 0 {
			break
		}
		for ; n > 0; n-- {
			var k string
			if asArray {
				k = refIndexKey(i, &keyBuf)
			} else if k, err = d.cstring(); err != nil {
				return dst, err
			}
			if out, err = d.value(out, k, item); err != nil {
				if asArray {
					return dst, atIndex(err, i)
				}
				return dst, inField(err, k)
			}
			if len(out) > MaxDocumentSize {
				return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
			}
			i++
		}
	}
	d.depth--
	return bsoncore.AppendDocumentEnd(out, idx)
}

// refIndexKeys are the BSON keys of the first array elements, made once.
var refIndexKeys = func() (keys [1024]string) {
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	return keys
}()

// indexKey is the BSON key of array element i.
func refIndexKey(i int, buf *[]byte) string {
	if i < len(refIndexKeys) {
		return refIndexKeys[i]
	}
	*buf = strconv.AppendInt((*buf)[:0], int64(i), 10)
	return string(*buf)
}

// recordBody appends the fields of a record value to an open document.
func (d *refDecoder) recordBody(dst []byte, t *Type) ([]byte, error) {
	for _, f := range t.Fields {
		if f.OmitNull {
			// A null here stands for a missing field: skip it.
			if f.Type.Kind == Null {
				continue
			}
			if f.Type.Kind == Union {
				save := d.off
				i, err := d.long()
				if err != nil {
					return dst, inField(err, f.BSONName)
				}
				if i >= 0 && i < int64(len(f.Type.Branches)) && f.Type.Branches[i].Kind == Null {
					continue
				}
				d.off = save
			}
		}
		var err error
		if dst, err = d.value(dst, f.BSONName, f.Type); err != nil {
			return dst, inField(err, f.BSONName)
		}
	}
	return dst, nil
}

// helper decodes a schemaflow helper type back into its BSON type.
func (d *refDecoder) helper(dst []byte, key string, t *Type) ([]byte, error) {
	switch t.bsonKind {
	case schemas.KindUUID:
		b, err := d.take(16)
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendBinaryElement(dst, key, 4, b), nil
	case schemas.KindBinaryOther:
		sub, err := d.long()
		if err != nil {
			return dst, err
		}
		if sub < 0 || sub > 255 {
			return dst, d.fail("binary subtype %d out of range", sub)
		}
		b, err := d.bytes()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendBinaryElement(dst, key, byte(sub), b), nil
	case schemas.KindObjectID:
		oid, err := d.objectID()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendObjectIDElement(dst, key, oid), nil
	case schemas.KindRegex:
		pattern, err := d.cstring()
		if err != nil {
			return dst, err
		}
		options, err := d.cstring()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendRegexElement(dst, key, pattern, options), nil
	case schemas.KindJavaScript:
		s, err := d.str()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendJavaScriptElement(dst, key, s), nil
	case schemas.KindSymbol:
		s, err := d.str()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendSymbolElement(dst, key, s), nil
	case schemas.KindDecimal128:
		s, err := d.str()
		if err != nil {
			return dst, err
		}
		dec, perr := primitive.ParseDecimal128(s)
		if perr != nil {
			return dst, d.fail("%q is not a Decimal128", s)
		}
		return bsoncore.AppendDecimal128Element(dst, key, dec), nil
	case schemas.KindTimestamp:
		ts, err := d.long()
		if err != nil {
			return dst, err
		}
		inc, err := d.long()
		if err != nil {
			return dst, err
		}
		if ts < 0 || ts > math.MaxUint32 || inc < 0 || inc > math.MaxUint32 {
			return dst, d.fail("timestamp (%d, %d) out of the unsigned 32-bit range", ts, inc)
		}
		return bsoncore.AppendTimestampElement(dst, key, uint32(ts), uint32(inc)), nil
	case schemas.KindMinKey, schemas.KindMaxKey, schemas.KindUndefined:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i != 0 {
			return dst, d.fail("enum index %d out of range for %q", i, t.Name)
		}
		switch t.bsonKind {
		case schemas.KindMinKey:
			return bsoncore.AppendMinKeyElement(dst, key), nil
		case schemas.KindMaxKey:
			return bsoncore.AppendMaxKeyElement(dst, key), nil
		}
		return bsoncore.AppendUndefinedElement(dst, key), nil
	case schemas.KindDBPointer:
		ns, err := d.str()
		if err != nil {
			return dst, err
		}
		oid, err := d.objectID()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendDBPointerElement(dst, key, ns, oid), nil
	case schemas.KindCodeWithScope:
		code, err := d.str()
		if err != nil {
			return dst, err
		}
		scope, err := d.bytes()
		if err != nil {
			return dst, err
		}
		if err := rawbson.Validate(scope); err != nil {
			return dst, d.fail("code scope is not a BSON document: %v", err)
		}
		return bsoncore.AppendCodeWithScopeElement(dst, key, code, scope), nil
	case schemas.KindDate:
		ms, err := d.long()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendDateTimeElement(dst, key, ms), nil
	}
	return dst, d.fail("unsupported helper type %q", t.Name)
}

func (d *refDecoder) objectID() (primitive.ObjectID, error) {
	s, err := d.str()
	if err != nil {
		return primitive.ObjectID{}, err
	}
	var oid primitive.ObjectID
	if len(s) != 24 {
		return oid, d.fail("ObjectId %q is not 24 hex digits", s)
	}
	if _, err := hex.Decode(oid[:], []byte(s)); err != nil {
		return oid, d.fail("ObjectId %q is not 24 hex digits", s)
	}
	return oid, nil
}

// cstring reads a string that BSON stores NUL-terminated, so it may not
// contain NUL.
func (d *refDecoder) cstring() (string, error) {
	s, err := d.str()
	if err != nil {
		return "", err
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return "", d.fail("string holds a NUL byte, which BSON cannot store here")
		}
	}
	return s, nil
}

// RefDecode exports the reference decoder to the package's external tests.
var RefDecode = refDecode
