package avro

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"sync"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// Limits that keep hostile input from exhausting memory or the stack.
const (
	// MaxDocumentSize bounds a decoded document at MongoDB's own limit: a
	// larger document could not be stored, and the bound keeps a few bytes
	// of hostile input (an array of a million nulls per block) from
	// decoding into gigabytes.
	MaxDocumentSize = 16 << 20
	// MaxDepth bounds the nesting of decoded values.
	MaxDepth = 128
	// maxEmptyItems bounds the count of an array or map block whose items
	// can take no bytes (nulls, empty records).
	maxEmptyItems = 1 << 20
)

// The decoder is compiled once per codec: every type of the schema becomes
// a node that knows its BSON element type, its field keys with their NUL
// terminators and what to read, so decoding a value is one switch on the
// node's op that appends BSON bytes straight into the output buffer;
// documents and arrays reserve their length and backpatch it at the end.

// op is what a node reads and writes.
type op uint8

const (
	opUnsupported op = iota
	opNull
	opBoolean
	opInt
	opLong // also timestamp-millis, written as a BSON date
	opTimestampMicros
	opFloat
	opDouble
	opString
	opStringUUID
	opBytes
	opDecimal // bytes or fixed with the decimal logical type
	opFixed
	opFixedUUID
	opEnum
	opArray
	opMap
	opRecord
	// schemaflow helper types (schemas.Kind*)
	opHelperUUID
	opHelperBinary
	opHelperObjectID
	opHelperRegex
	opHelperJavaScript
	opHelperSymbol
	opHelperDecimal128
	opHelperTimestamp
	opHelperUnit // MinKey, MaxKey, Undefined: no value bytes
	opHelperDBPointer
	opHelperCodeWithScope
	opHelperDate
	opHelperUnsupported
)

// node is a type compiled for decoding.
type node struct {
	t  *Type
	op op
	// bsonType is the element type the node writes; unused for a union.
	bsonType byte
	// branches are a union's branches; nil for any other type.
	branches []*node
	// item is an array's items or a map's values.
	item *node
	// fields are a record's fields.
	fields []field
	// symbols are an enum's symbols.
	symbols []string
}

// field is a compiled record field.
type field struct {
	// key is the BSON name with its NUL terminator, ready to append.
	key string
	// name is the BSON name, for error paths.
	name     string
	omitNull bool
	n        *node
}

// compiled is a codec's decoder, compiled on first use.
type compiled struct {
	once sync.Once
	root *node
	// scratch holds reusable output buffers for Decode.
	scratch sync.Pool
}

// program returns the codec's compiled decoder.
func (c *Codec) program() *node {
	c.dec.once.Do(func() { c.dec.root = compile(c.schema.Root, map[*Type]*node{}) })
	return c.dec.root
}

// compile compiles t; seen holds the nodes made so far, so a recursive
// type compiles once and points at itself.
func compile(t *Type, seen map[*Type]*node) *node {
	if n, ok := seen[t]; ok {
		return n
	}
	n := &node{t: t}
	seen[t] = n
	if t.Kind == Union {
		n.branches = make([]*node, len(t.Branches))
		for i, b := range t.Branches {
			n.branches[i] = compile(b, seen)
		}
		return n
	}
	if t.bsonKind != 0 {
		n.op, n.bsonType = helperOp(t.bsonKind)
		return n
	}
	switch t.Kind {
	case Null:
		n.op, n.bsonType = opNull, byte(bson.TypeNull)
	case Boolean:
		n.op, n.bsonType = opBoolean, byte(bson.TypeBoolean)
	case Int:
		n.op, n.bsonType = opInt, byte(bson.TypeInt32)
	case Long:
		switch {
		case isTimestampMillis(t):
			n.op, n.bsonType = opLong, byte(bson.TypeDateTime)
		case isTimestampMicros(t):
			n.op, n.bsonType = opTimestampMicros, byte(bson.TypeDateTime)
		default:
			n.op, n.bsonType = opLong, byte(bson.TypeInt64)
		}
	case Float:
		n.op, n.bsonType = opFloat, byte(bson.TypeDouble)
	case Double:
		n.op, n.bsonType = opDouble, byte(bson.TypeDouble)
	case String:
		if t.Logical == "uuid" {
			n.op, n.bsonType = opStringUUID, byte(bson.TypeBinary)
		} else {
			n.op, n.bsonType = opString, byte(bson.TypeString)
		}
	case Bytes:
		if t.Logical == "decimal" {
			n.op, n.bsonType = opDecimal, byte(bson.TypeDecimal128)
		} else {
			n.op, n.bsonType = opBytes, byte(bson.TypeBinary)
		}
	case Fixed:
		switch t.Logical {
		case "decimal":
			n.op, n.bsonType = opDecimal, byte(bson.TypeDecimal128)
		case "uuid":
			n.op, n.bsonType = opFixedUUID, byte(bson.TypeBinary)
		default:
			n.op, n.bsonType = opFixed, byte(bson.TypeBinary)
		}
	case Enum:
		n.op, n.bsonType, n.symbols = opEnum, byte(bson.TypeString), t.Symbols
	case Array:
		n.op, n.bsonType = opArray, byte(bson.TypeArray)
		n.item = compile(t.Items, seen)
	case Map:
		n.op, n.bsonType = opMap, byte(bson.TypeEmbeddedDocument)
		n.item = compile(t.Values, seen)
	case Record:
		n.op, n.bsonType = opRecord, byte(bson.TypeEmbeddedDocument)
		n.fields = make([]field, len(t.Fields))
		for i, f := range t.Fields {
			n.fields[i] = field{key: f.BSONName + "\x00", name: f.BSONName, omitNull: f.OmitNull, n: compile(f.Type, seen)}
		}
	default:
		n.op = opUnsupported
	}
	return n
}

// helperOp is the op and BSON type of a schemaflow helper type.
func helperOp(k schemas.Kind) (op, byte) {
	switch k {
	case schemas.KindUUID:
		return opHelperUUID, byte(bson.TypeBinary)
	case schemas.KindBinaryOther:
		return opHelperBinary, byte(bson.TypeBinary)
	case schemas.KindObjectID:
		return opHelperObjectID, byte(bson.TypeObjectID)
	case schemas.KindRegex:
		return opHelperRegex, byte(bson.TypeRegex)
	case schemas.KindJavaScript:
		return opHelperJavaScript, byte(bson.TypeJavaScript)
	case schemas.KindSymbol:
		return opHelperSymbol, byte(bson.TypeSymbol)
	case schemas.KindDecimal128:
		return opHelperDecimal128, byte(bson.TypeDecimal128)
	case schemas.KindTimestamp:
		return opHelperTimestamp, byte(bson.TypeTimestamp)
	case schemas.KindMinKey:
		return opHelperUnit, byte(bson.TypeMinKey)
	case schemas.KindMaxKey:
		return opHelperUnit, byte(bson.TypeMaxKey)
	case schemas.KindUndefined:
		return opHelperUnit, byte(bson.TypeUndefined)
	case schemas.KindDBPointer:
		return opHelperDBPointer, byte(bson.TypeDBPointer)
	case schemas.KindCodeWithScope:
		return opHelperCodeWithScope, byte(bson.TypeCodeWithScope)
	case schemas.KindDate:
		return opHelperDate, byte(bson.TypeDateTime)
	}
	return opHelperUnsupported, 0
}

type decoder struct {
	data  []byte
	off   int
	depth int
	// base is where the document starts in the output buffer: sizes are
	// counted from there.
	base int
}

func (d *decoder) fail(format string, args ...any) error {
	return &DataError{Offset: d.off, Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes one Avro binary value of the codec's record type into a
// BSON document. Trailing bytes are an error: a framed record holds exactly
// one value. The document is decoded into a reused buffer and returned in
// one allocation of its exact size.
func (c *Codec) Decode(data []byte) (bson.Raw, error) {
	bufp, _ := c.dec.scratch.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	out, err := c.AppendDecode((*bufp)[:0], data)
	if err != nil {
		c.putScratch(bufp, out)
		return nil, err
	}
	doc := make(bson.Raw, len(out))
	copy(doc, out)
	c.putScratch(bufp, out)
	return doc, nil
}

// putScratch returns a scratch buffer to the pool, unless it grew too
// large to keep.
func (c *Codec) putScratch(bufp *[]byte, out []byte) {
	if cap(out) > 1<<20 {
		return
	}
	*bufp = out[:0]
	c.dec.scratch.Put(bufp)
}

// AppendDecode is Decode appending the document to dst, which it returns
// extended: decoding many values into one buffer allocates only when the
// buffer grows. On error dst is returned with what was appended; callers
// drop it.
func (c *Codec) AppendDecode(dst, data []byte) ([]byte, error) {
	root := c.program()
	d := decoder{data: data, base: len(dst)}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := d.recordBody(dst, root)
	if err != nil {
		return dst, err
	}
	if d.off != len(data) {
		return dst, d.fail("%d bytes left after the record", len(data)-d.off)
	}
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst, nil
}

func (d *decoder) long() (int64, error) {
	// The common case, a varint of one byte, first.
	if d.off < len(d.data) {
		if c := d.data[d.off]; c < 0x80 {
			d.off++
			return int64(c>>1) ^ -int64(c&1), nil
		}
	}
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

func (d *decoder) take(n int64) ([]byte, error) {
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

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	return d.take(n)
}

// utf8Bytes reads an Avro string's bytes, which must be valid UTF-8.
func (d *decoder) utf8Bytes() ([]byte, error) {
	b, err := d.bytes()
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, d.fail("string is not valid UTF-8")
	}
	return b, nil
}

func (d *decoder) str() (string, error) {
	b, err := d.utf8Bytes()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// cstringBytes reads a string that BSON stores NUL-terminated, so it may
// not contain NUL.
func (d *decoder) cstringBytes() ([]byte, error) {
	b, err := d.utf8Bytes()
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, d.fail("string holds a NUL byte, which BSON cannot store here")
	}
	return b, nil
}

// blockCount reads the count of the next array or map block. A negative
// count is followed by the block's byte size, which is read and ignored.
func (d *decoder) blockCount(item *Type) (int64, error) {
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

// appendBSONString appends b as a BSON string value: length, bytes, NUL.
func appendBSONString(dst, b []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)+1))
	return append(append(dst, b...), 0)
}

// element appends a value of n as an element whose key (with its NUL) is
// key: a union's branch is read first, then the element's type and key
// are written, then its value.
func (d *decoder) element(dst []byte, key string, n *node) ([]byte, error) {
	if n.branches != nil {
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return dst, d.fail("union branch %d out of range (%d branches)", i, len(n.branches))
		}
		n = n.branches[i]
	}
	if len(dst)-d.base > MaxDocumentSize {
		return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
	}
	dst = append(dst, n.bsonType)
	dst = append(dst, key...)
	return d.value(dst, n)
}

// value appends the value of n (not a union), after its element header.
func (d *decoder) value(dst []byte, n *node) ([]byte, error) {
	switch n.op {
	case opNull, opHelperUnit:
		if n.op == opHelperUnit {
			i, err := d.long()
			if err != nil {
				return dst, err
			}
			if i != 0 {
				return dst, d.fail("enum index %d out of range for %q", i, n.t.Name)
			}
		}
		return dst, nil
	case opBoolean:
		if d.off >= len(d.data) {
			return dst, d.fail("length 1 runs past the end of the data")
		}
		b := d.data[d.off]
		d.off++
		if b > 1 {
			return dst, d.fail("boolean byte %d is not 0 or 1", b)
		}
		return append(dst, b), nil
	case opInt:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return dst, d.fail("int %d out of 32-bit range", i)
		}
		return binary.LittleEndian.AppendUint32(dst, uint32(int32(i))), nil
	case opLong, opHelperDate:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(i)), nil
	case opTimestampMicros:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(floorDiv(i, 1000))), nil
	case opFloat:
		b, err := d.take(4)
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))), nil
	case opDouble:
		// Avro and BSON both store a double as 8 little-endian bytes.
		b, err := d.take(8)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	case opString, opHelperJavaScript, opHelperSymbol:
		// Copied from the Avro bytes straight into the BSON.
		b, err := d.utf8Bytes()
		if err != nil {
			return dst, err
		}
		return appendBSONString(dst, b), nil
	case opStringUUID:
		s, err := d.str()
		if err != nil {
			return dst, err
		}
		u, ok := parseUUID(s)
		if !ok {
			return dst, d.fail("%q is not a UUID", s)
		}
		return bsoncore.AppendBinary(dst, 4, u), nil
	case opBytes:
		b, err := d.bytes()
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendBinary(dst, 0, b), nil
	case opDecimal:
		var b []byte
		var err error
		if n.t.Kind == Fixed {
			b, err = d.take(int64(n.t.Size))
		} else {
			b, err = d.bytes()
		}
		if err != nil {
			return dst, err
		}
		return d.decimal(dst, b, n.t)
	case opFixed, opFixedUUID:
		b, err := d.take(int64(n.t.Size))
		if err != nil {
			return dst, err
		}
		sub := byte(0)
		if n.op == opFixedUUID {
			sub = 4
		}
		return bsoncore.AppendBinary(dst, sub, b), nil
	case opEnum:
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < 0 || i >= int64(len(n.symbols)) {
			return dst, d.fail("enum index %d out of range for %q", i, n.t.Name)
		}
		return bsoncore.AppendString(dst, n.symbols[i]), nil
	case opArray:
		return d.array(dst, n)
	case opMap:
		return d.mapValue(dst, n)
	case opRecord:
		if d.depth >= MaxDepth {
			return dst, d.fail("nesting deeper than %d", MaxDepth)
		}
		d.depth++
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst, err := d.recordBody(dst, n)
		if err != nil {
			return dst, err
		}
		d.depth--
		return endDocument(dst, start), nil
	case opUnsupported:
		return dst, d.fail("unsupported Avro type %s", n.t.Kind)
	}
	return d.helper(dst, n)
}

// endDocument ends the document or array that starts at start: its NUL,
// and its length written into the four bytes reserved there.
func endDocument(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (d *decoder) decimal(dst []byte, b []byte, t *Type) ([]byte, error) {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 { // negative: subtract 2^(8n)
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	dec, ok := primitive.ParseDecimal128FromBigInt(u, -t.Scale)
	if !ok {
		return dst, d.fail("decimal does not fit a BSON Decimal128")
	}
	return bsoncore.AppendDecimal128(dst, dec), nil
}

// arrayKeys are the BSON keys of the first array elements with their NUL
// terminators, made once.
var arrayKeys = func() (keys [1024]string) {
	for i := range keys {
		keys[i] = strconv.Itoa(i) + "\x00"
	}
	return keys
}()

// array decodes an Avro array into a BSON array.
func (d *decoder) array(dst []byte, n *node) ([]byte, error) {
	if d.depth >= MaxDepth {
		return dst, d.fail("nesting deeper than %d", MaxDepth)
	}
	d.depth++
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	item := n.item
	var keyBuf []byte
	i := 0
	for {
		count, err := d.blockCount(item.t)
		if err != nil {
			return dst, err
		}
		if count == 0 {
			break
		}
		for ; count > 0; count-- {
			key := ""
			if i < len(arrayKeys) {
				key = arrayKeys[i]
			} else {
				keyBuf = append(strconv.AppendInt(keyBuf[:0], int64(i), 10), 0)
				key = string(keyBuf)
			}
			if dst, err = d.element(dst, key, item); err != nil {
				return dst, atIndex(err, i)
			}
			if len(dst)-d.base > MaxDocumentSize {
				return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
			}
			i++
		}
	}
	d.depth--
	return endDocument(dst, start), nil
}

// mapValue decodes an Avro map into a BSON document.
func (d *decoder) mapValue(dst []byte, n *node) ([]byte, error) {
	if d.depth >= MaxDepth {
		return dst, d.fail("nesting deeper than %d", MaxDepth)
	}
	d.depth++
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	item := n.item
	for {
		count, err := d.blockCount(item.t)
		if err != nil {
			return dst, err
		}
		if count == 0 {
			break
		}
		for ; count > 0; count-- {
			k, err := d.cstringBytes()
			if err != nil {
				return dst, err
			}
			if dst, err = d.mapElement(dst, k, item); err != nil {
				return dst, inField(err, string(k))
			}
			if len(dst)-d.base > MaxDocumentSize {
				return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
			}
		}
	}
	d.depth--
	return endDocument(dst, start), nil
}

// mapElement is element for a map entry, whose key comes from the data.
func (d *decoder) mapElement(dst []byte, key []byte, n *node) ([]byte, error) {
	if n.branches != nil {
		i, err := d.long()
		if err != nil {
			return dst, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return dst, d.fail("union branch %d out of range (%d branches)", i, len(n.branches))
		}
		n = n.branches[i]
	}
	if len(dst)-d.base > MaxDocumentSize {
		return dst, d.fail("decoded document larger than %d bytes", MaxDocumentSize)
	}
	dst = append(dst, n.bsonType)
	dst = append(append(dst, key...), 0)
	return d.value(dst, n)
}

// recordBody appends the fields of a record value to an open document.
func (d *decoder) recordBody(dst []byte, n *node) ([]byte, error) {
	for i := range n.fields {
		f := &n.fields[i]
		if f.omitNull {
			// A null here stands for a missing field: skip it.
			if f.n.t.Kind == Null {
				continue
			}
			if f.n.t.Kind == Union {
				save := d.off
				i, err := d.long()
				if err != nil {
					return dst, inField(err, f.name)
				}
				if i >= 0 && i < int64(len(f.n.branches)) && f.n.branches[i].t.Kind == Null {
					continue
				}
				d.off = save
			}
		}
		var err error
		if dst, err = d.element(dst, f.key, f.n); err != nil {
			return dst, inField(err, f.name)
		}
	}
	return dst, nil
}

// helper decodes the value of a schemaflow helper type back into its BSON
// type.
func (d *decoder) helper(dst []byte, n *node) ([]byte, error) {
	switch n.op {
	case opHelperUUID:
		b, err := d.take(16)
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendBinary(dst, 4, b), nil
	case opHelperBinary:
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
		return bsoncore.AppendBinary(dst, byte(sub), b), nil
	case opHelperObjectID:
		oid, err := d.objectID()
		if err != nil {
			return dst, err
		}
		return append(dst, oid[:]...), nil
	case opHelperRegex:
		pattern, err := d.cstringBytes()
		if err != nil {
			return dst, err
		}
		options, err := d.cstringBytes()
		if err != nil {
			return dst, err
		}
		dst = append(append(dst, pattern...), 0)
		return append(append(dst, options...), 0), nil
	case opHelperDecimal128:
		b, err := d.utf8Bytes()
		if err != nil {
			return dst, err
		}
		dec, ok := rawbson.ParseDecimal128(b)
		if !ok {
			return dst, d.fail("%q is not a Decimal128", b)
		}
		return bsoncore.AppendDecimal128(dst, dec), nil
	case opHelperTimestamp:
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
		return bsoncore.AppendTimestamp(dst, uint32(ts), uint32(inc)), nil
	case opHelperDBPointer:
		ns, err := d.utf8Bytes()
		if err != nil {
			return dst, err
		}
		oid, err := d.objectID()
		if err != nil {
			return dst, err
		}
		return append(appendBSONString(dst, ns), oid[:]...), nil
	case opHelperCodeWithScope:
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
		return bsoncore.AppendCodeWithScope(dst, code, scope), nil
	}
	return dst, d.fail("unsupported helper type %q", n.t.Name)
}

func (d *decoder) objectID() (primitive.ObjectID, error) {
	b, err := d.utf8Bytes()
	if err != nil {
		return primitive.ObjectID{}, err
	}
	var oid primitive.ObjectID
	if len(b) != 24 {
		return oid, d.fail("ObjectId %q is not 24 hex digits", b)
	}
	if _, err := hex.Decode(oid[:], b); err != nil {
		return oid, d.fail("ObjectId %q is not 24 hex digits", b)
	}
	return oid, nil
}

// MaxNesting returns how deeply the documents Decode returns can nest
// documents and arrays, counting the top-level document's fields as depth
// 0 (rawbson.Validate's count), and whether the schema bounds it at all:
// a recursive type, or a code-with-scope helper whose scope document is
// free, leaves it unbounded.
func (c *Codec) MaxNesting() (depth int, bounded bool) {
	return nesting(c.program(), map[*node]bool{})
}

// nesting is MaxNesting of the fields of a record node; onPath holds the
// records and collections being walked, to tell recursion.
func nesting(n *node, onPath map[*node]bool) (int, bool) {
	if onPath[n] {
		return 0, false
	}
	onPath[n] = true
	defer delete(onPath, n)
	depth := 0
	child := func(c *node) bool {
		for _, b := range append([]*node{c}, c.branches...) {
			switch b.op {
			case opRecord, opArray, opMap:
				d, ok := nesting(b, onPath)
				if !ok {
					return false
				}
				depth = max(depth, d+1)
			case opHelperCodeWithScope:
				return false
			}
		}
		return true
	}
	for _, f := range n.fields {
		if !child(f.n) {
			return 0, false
		}
	}
	if n.item != nil && !child(n.item) {
		return 0, false
	}
	return depth, true
}
