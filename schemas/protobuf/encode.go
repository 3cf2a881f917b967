package protobuf

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// Encode appends the Protobuf binary encoding of doc to dst.
//
// It reads the BSON bytes and writes the wire bytes directly, through the
// codec's compiled plan, with no message in between. The bytes are those
// of proto.MarshalOptions{Deterministic: true} marshalling the message the
// document stands for: fields outside oneofs by number, then the oneofs',
// map entries sorted by key.
func (c *Codec) Encode(dst []byte, doc bson.Raw) ([]byte, error) {
	if err := rawbson.Validate(doc); err != nil {
		return dst, &DataError{Msg: "invalid BSON document: " + err.Error()}
	}
	e := encoders.Get().(*encoder)
	e.c = c
	out, err := e.fields(dst, c.root, doc)
	if err == nil && e.reqErr != nil {
		err = e.reqErr
	}
	e.reset()
	encoders.Put(e)
	if err != nil {
		return dst, err
	}
	return out, nil
}

const (
	noFit    = 0
	coercion = 2
	exact    = 3
)

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// encoder holds the scratch state of one Encode.
type encoder struct {
	c       *Codec
	slots   []encSlot  // a stack of per-message field state
	entries []mapEntry // a stack of map entries being sorted
	scratch []byte     // for putting a message's fields in order
	depth   int
	// reqErr is the first required field found missing, at reqDepth;
	// proto.Marshal checks them after marshalling, parents first.
	reqErr   error
	reqDepth int
}

func (e *encoder) reset() {
	e.c = nil
	e.slots = e.slots[:0]
	e.entries = e.entries[:0]
	e.depth = 0
	e.reqErr = nil
	if cap(e.scratch) > 1<<20 {
		e.scratch = nil
	}
}

// encSlot is where one field's bytes went.
type encSlot struct {
	start, end int
	has        bool // bytes were written: the field is populated
}

type mapEntry struct {
	start, end int
	s          []byte // string and bool keys
	i          int64  // signed keys
	u          uint64 // unsigned keys
}

// fields appends the fields of the plain message mp that doc (BSON
// document bytes, validated) holds, in marshalling order.
func (e *encoder) fields(dst []byte, mp *msgPlan, doc []byte) ([]byte, error) {
	e.depth++
	defer func() { e.depth-- }()
	base := len(e.slots)
	for range mp.fields {
		e.slots = append(e.slots, encSlot{})
	}
	msgStart := len(dst)
	inOrder, lastRank, next := true, -1, 0
	for rem := doc[4 : len(doc)-1]; len(rem) > 0; {
		keyEnd := bytes.IndexByte(rem[1:], 0) + 1
		key := rem[1:keyEnd]
		t := bsontype.Type(rem[0])
		n, _ := rawbson.ValueLen(t, rem[keyEnd+1:])
		v := bsoncore.Value{Type: t, Data: rem[keyEnd+1 : keyEnd+1+n]}
		rem = rem[keyEnd+1+n:]

		// Documents mostly hold their fields in the schema's order: try
		// the field after the last one before looking the key up.
		var cands []*fieldPlan
		if next < len(mp.fields) && mp.fields[next].name == string(key) {
			cands = mp.fields[next].cands
		} else {
			cands = mp.byName[string(key)]
		}
		if len(cands) == 0 {
			return dst, under(fail("not in the schema (message %s)", mp.fullName), key)
		}
		var fd *fieldPlan
		direct := len(cands) == 1 && e.shaped(cands[0], v)
		if direct {
			// The one field takes the value or says what in it does not
			// fit, as choosing it by fit would.
			fd = cands[0]
		} else {
			best := noFit
			fd = cands[0]
			for _, cand := range cands {
				if s := e.fitField(cand, v); s > best {
					fd, best = cand, s
				}
			}
			if best == noFit {
				return dst, under(e.noFit(cands, v), key)
			}
		}
		if e.populated(base, mp, fd) {
			if direct && e.fitField(fd, v) == noFit {
				return dst, under(e.noFit(cands, v), key)
			}
			return dst, under(fail("appears twice in the document"), key)
		}
		next = fd.idx + 1
		start := len(dst)
		var err error
		if dst, err = e.field(dst, fd, v); err != nil {
			return dst, under(err, key)
		}
		if len(dst) > start {
			e.slots[base+fd.idx] = encSlot{start: start, end: len(dst), has: true}
			if fd.rank < lastRank {
				inOrder = false
			}
			lastRank = fd.rank
		}
	}
	for _, fd := range mp.required {
		if !e.slots[base+fd.idx].has && (e.reqErr == nil || e.depth < e.reqDepth) {
			e.reqErr, e.reqDepth = &DataError{Msg: "proto: required field " + string(fd.fd.FullName()) + " not set"}, e.depth
		}
	}
	if !inOrder {
		e.scratch = append(e.scratch[:0], dst[msgStart:]...)
		dst = dst[:msgStart]
		for _, fd := range mp.order {
			if s := e.slots[base+fd.idx]; s.has {
				dst = append(dst, e.scratch[s.start-msgStart:s.end-msgStart]...)
			}
		}
	}
	e.slots = e.slots[:base]
	return dst, nil
}

// populated reports whether fd, or another member of its oneof, already
// holds a value.
func (e *encoder) populated(base int, mp *msgPlan, fd *fieldPlan) bool {
	if fd.oneof < 0 {
		return e.slots[base+fd.idx].has
	}
	for _, m := range mp.oneofs[fd.oneof] {
		if e.slots[base+m.idx].has {
			return true
		}
	}
	return false
}

// shaped reports whether v has the shape fd takes (an array for a list, a
// document for a message of fields): a value of its shape that does not
// fit is reported by what in it does not fit.
func (e *encoder) shaped(fd *fieldPlan, v bsoncore.Value) bool {
	var sp special = -1
	if fd.msg != nil && !fd.list && !fd.isMap {
		sp = fd.msg.special
	}
	return v.Type == bson.TypeArray && (fd.list || sp == listWrapper) ||
		v.Type == bson.TypeEmbeddedDocument && sp == plain
}

// noFit is the error for a value no candidate field takes: what does not
// fit in it when a field has its shape, else the types.
func (e *encoder) noFit(cands []*fieldPlan, v bsoncore.Value) error {
	for _, cand := range cands {
		if e.shaped(cand, v) {
			if _, err := e.field(nil, cand, v); err != nil {
				return err
			}
		}
	}
	fds := make([]protoreflect.FieldDescriptor, len(cands))
	for i, cand := range cands {
		fds[i] = cand.fd
	}
	return fail("cannot encode BSON %s as %s", bsonTypeName(v), describeField(fds))
}

func describeField(cands []protoreflect.FieldDescriptor) string {
	parts := make([]string, len(cands))
	for i, fd := range cands {
		parts[i] = describe(fd)
	}
	return strings.Join(parts, " or ")
}

// elemType names the type of one value of fd (an element, for a list).
func elemType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func describe(fd protoreflect.FieldDescriptor) string {
	t := elemType(fd)
	switch {
	case fd.IsMap():
		return "map field " + string(fd.Name())
	case fd.IsList():
		return "repeated " + t
	}
	return t
}

func bsonTypeName(v bsoncore.Value) string {
	if v.Type == bson.TypeEmbeddedDocument {
		return "document"
	}
	return v.Type.String()
}

// fitField says how well v fits field fd, counting repeated and map fields.
func (e *encoder) fitField(fd *fieldPlan, v bsoncore.Value) int {
	switch {
	case fd.list:
		if v.Type != bson.TypeArray {
			return noFit
		}
		if len(v.Data) == 5 {
			// A plain repeated field cannot keep [] apart from a missing
			// field, so an empty array prefers a _List member when there is
			// one.
			return coercion
		}
		return e.fitElements(fd, v)
	case fd.isMap:
		if v.Type == bson.TypeEmbeddedDocument {
			return exact
		}
		return noFit
	}
	return e.fit(fd, v)
}

// fitElements says how well the elements of array v fit the repeated field
// fd: as well as the worst of them.
func (e *encoder) fitElements(fd *fieldPlan, v bsoncore.Value) int {
	score := exact
	for rem := v.Data[4 : len(v.Data)-1]; len(rem) > 0; {
		var ev bsoncore.Value
		ev, rem = nextValue(rem)
		if score = min(score, e.fit(fd, ev)); score == noFit {
			break
		}
	}
	return score
}

// nextValue reads the element at the start of validated BSON element
// bytes: its value, and the bytes after it.
func nextValue(rem []byte) (bsoncore.Value, []byte) {
	keyEnd := bytes.IndexByte(rem[1:], 0) + 1
	t := bsontype.Type(rem[0])
	n, _ := rawbson.ValueLen(t, rem[keyEnd+1:])
	return bsoncore.Value{Type: t, Data: rem[keyEnd+1 : keyEnd+1+n]}, rem[keyEnd+1+n:]
}

// fit says how well v fits one value of fd's type.
func (e *encoder) fit(fd *fieldPlan, v bsoncore.Value) int {
	if e.c.exactNumbers && !keepsNumberType(fd.kind, v.Type) {
		return noFit
	}
	switch fd.kind {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.fitMessage(fd.msg, v)
	case protoreflect.EnumKind:
		if fd.enum.null {
			if v.Type == bson.TypeNull {
				return exact
			}
			return noFit
		}
		switch v.Type {
		case bson.TypeString:
			if _, ok := fd.enum.byName[string(stringBytes(v))]; ok {
				return exact
			}
		case bson.TypeInt32:
			if _, ok := fd.enum.byNum[v.Int32()]; ok {
				return coercion
			}
		}
		return noFit
	case protoreflect.BoolKind:
		if v.Type == bson.TypeBoolean {
			return exact
		}
	case protoreflect.StringKind:
		if v.Type == bson.TypeString {
			return exact
		}
	case protoreflect.BytesKind:
		if v.Type == bson.TypeBinary && v.Data[4] == 0 {
			return exact
		}
	case protoreflect.DoubleKind:
		switch v.Type {
		case bson.TypeDouble:
			return exact
		case bson.TypeInt32:
			return coercion
		case bson.TypeInt64:
			if i := v.Int64(); i >= -(1<<53) && i <= 1<<53 {
				return coercion
			}
		}
	case protoreflect.FloatKind:
		switch v.Type {
		case bson.TypeDouble:
			if f := v.Double(); float64(float32(f)) == f || math.IsNaN(f) {
				return coercion
			}
		case bson.TypeInt32, bson.TypeInt64:
			if i, _ := v.AsInt64OK(); i >= -(1<<24) && i <= 1<<24 {
				return coercion
			}
		}
	default:
		return fitInt(fd.kind, v)
	}
	return noFit
}

// keepsNumberType reports whether a BSON value of type bt, when it is a
// number and written to a field of kind k, decodes to its own BSON type.
// Values that are not numbers, and message fields (wrappers that hold a
// number are checked through their value field), are not concerned.
func keepsNumberType(k protoreflect.Kind, bt bsontype.Type) bool {
	switch k {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return true
	}
	switch bt {
	case bson.TypeInt32:
		return k == protoreflect.Int32Kind || k == protoreflect.Sint32Kind || k == protoreflect.Sfixed32Kind
	case bson.TypeInt64:
		switch k {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
			protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return true
		}
		return false
	case bson.TypeDouble:
		return k == protoreflect.DoubleKind || k == protoreflect.FloatKind
	}
	return true
}

func fitInt(k protoreflect.Kind, v bsoncore.Value) int {
	var i int64
	switch v.Type {
	case bson.TypeInt32:
		i = int64(v.Int32())
	case bson.TypeInt64:
		i = v.Int64()
	default:
		return noFit
	}
	is32 := v.Type == bson.TypeInt32
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if is32 {
			return exact
		}
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return coercion
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if !is32 {
			return exact
		}
		return coercion
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if i >= 0 && i <= math.MaxUint32 {
			return coercion
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if i >= 0 {
			return coercion
		}
	}
	return noFit
}

func (e *encoder) fitMessage(mp *msgPlan, v bsoncore.Value) int {
	switch mp.special {
	case listWrapper:
		if v.Type == bson.TypeArray {
			if len(v.Data) == 5 {
				return exact
			}
			return e.fitElements(mp.fields[0], v)
		}
	case itemWrapper:
		best := noFit
		for _, fd := range mp.fields {
			best = max(best, e.fitField(fd, v))
		}
		return best
	case helperMsg:
		// BsonBinary keeps the subtype, so it carries any binary value.
		isBinary := mp.kind == schemas.KindUUID || mp.kind == schemas.KindBinaryOther
		if schemas.KindOf(v) == mp.kind || (isBinary && v.Type == bson.TypeBinary) {
			return exact
		}
	case timestampMsg:
		if v.Type == bson.TypeDateTime {
			return exact
		}
	case valueWrapper:
		return e.fit(mp.named["value"], v)
	default:
		if v.Type != bson.TypeEmbeddedDocument {
			return noFit
		}
		// A document fits a message that declares every key it holds, so
		// that of several document members the one that can take it wins.
		for rem := v.Data[4 : len(v.Data)-1]; len(rem) > 0; {
			keyEnd := bytes.IndexByte(rem[1:], 0) + 1
			if len(mp.byName[string(rem[1:keyEnd])]) == 0 {
				return noFit
			}
			_, rem = nextValue(rem)
		}
		return exact
	}
	return noFit
}

// field appends field fd holding v (which fits it, or has its shape): its
// tag and value, each element's or entry's for repeated and map fields,
// nothing when the field reads as unpopulated (a zero without presence, an
// empty list or map).
func (e *encoder) field(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	switch {
	case fd.list:
		return e.list(dst, fd, v)
	case fd.isMap:
		return e.mapField(dst, fd, v)
	}
	return e.singular(dst, fd, v)
}

func (e *encoder) list(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	if len(v.Data) == 5 {
		return dst, nil
	}
	pos := -1
	if fd.packed {
		dst = append(dst, fd.packedTag...)
		pos = len(dst)
		dst = append(dst, 0)
	}
	i := 0
	for rem := v.Data[4 : len(v.Data)-1]; len(rem) > 0; i++ {
		var ev bsoncore.Value
		ev, rem = nextValue(rem)
		if pos < 0 {
			dst = append(dst, fd.tag...)
		}
		var err error
		if dst, err = e.element(dst, fd, ev); err != nil {
			return dst, underIndex(err, i)
		}
	}
	if pos >= 0 {
		dst = finishLength(dst, pos)
	}
	return dst, nil
}

// element appends one value of fd, after checking that it fits: a list
// element or a map value.
func (e *encoder) element(dst []byte, fd *fieldPlan, ev bsoncore.Value) ([]byte, error) {
	if fd.msg != nil && fd.msg.special == plain && ev.Type == bson.TypeEmbeddedDocument {
		// A document fits when the message declares its keys, which
		// encoding it finds out: check the fit only when it fails.
		out, err := e.value(dst, fd, ev)
		if err != nil && e.fit(fd, ev) == noFit {
			return dst, fail("cannot encode BSON %s as %s", bsonTypeName(ev), fd.describeElem())
		}
		return out, err
	}
	if e.fit(fd, ev) == noFit {
		return dst, fail("cannot encode BSON %s as %s", bsonTypeName(ev), fd.describeElem())
	}
	return e.value(dst, fd, ev)
}

// describeElem names the type of one value of fd in errors: a list's
// element type, a map value's type.
func (fd *fieldPlan) describeElem() string {
	if fd.list {
		return elemType(fd.fd)
	}
	return describe(fd.fd)
}

func (e *encoder) mapField(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	if len(v.Data) == 5 {
		return dst, nil
	}
	base := len(e.entries)
	sorted := true
	regionStart := len(dst)
	kf, vf := fd.mapKey, fd.mapVal
	for rem := v.Data[4 : len(v.Data)-1]; len(rem) > 0; {
		keyEnd := bytes.IndexByte(rem[1:], 0) + 1
		key := rem[1:keyEnd]
		var ev bsoncore.Value
		ev, rem = nextValue(rem)
		ent, bits, err := mapKey(kf, key)
		if err != nil {
			return dst, under(fail("%v", err), key)
		}
		ent.start = len(dst)
		dst = append(dst, fd.tag...)
		pos := len(dst)
		dst = append(dst, 0)
		dst = append(dst, kf.tag...)
		if kf.kind == protoreflect.StringKind {
			dst = protowire.AppendBytes(dst, key)
		} else {
			dst = appendBits(dst, kf.wire, bits)
		}
		dst = append(dst, vf.tag...)
		if dst, err = e.element(dst, vf, ev); err != nil {
			return dst, under(err, key)
		}
		dst = finishLength(dst, pos)
		ent.end = len(dst)
		if len(e.entries) > base && compareKeys(kf.kind, e.entries[len(e.entries)-1], ent) >= 0 {
			sorted = false
		}
		e.entries = append(e.entries, ent)
	}
	if !sorted {
		// Sort by key, the last of equal keys winning, as a map keeps it.
		ents := e.entries[base:]
		slices.SortStableFunc(ents, func(a, b mapEntry) int { return compareKeys(kf.kind, a, b) })
		e.scratch = append(e.scratch[:0], dst[regionStart:]...)
		dst = dst[:regionStart]
		for i, ent := range ents {
			if i+1 < len(ents) && compareKeys(kf.kind, ent, ents[i+1]) == 0 {
				continue
			}
			dst = append(dst, e.scratch[ent.start-regionStart:ent.end-regionStart]...)
		}
	}
	e.entries = e.entries[:base]
	return dst, nil
}

// compareKeys orders map keys as the deterministic marshaller does.
func compareKeys(k protoreflect.Kind, a, b mapEntry) int {
	switch k {
	case protoreflect.StringKind, protoreflect.BoolKind:
		return bytes.Compare(a.s, b.s)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return cmp.Compare(a.u, b.u)
	}
	return cmp.Compare(a.i, b.i)
}

var falseTrue = [2][]byte{{0}, {1}}

// mapKey parses a BSON key as a key of field kf: the entry's sort key, and
// the wire bits of the key for kinds other than string.
func mapKey(kf *fieldPlan, key []byte) (mapEntry, uint64, error) {
	s := string(key)
	switch kf.kind {
	case protoreflect.StringKind:
		return mapEntry{s: key}, 0, nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return mapEntry{}, 0, fmt.Errorf("map key %q is not a bool", s)
		}
		if b {
			return mapEntry{s: falseTrue[1]}, 1, nil
		}
		return mapEntry{s: falseTrue[0]}, 0, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return mapEntry{}, 0, fmt.Errorf("map key %q is not an int32", s)
		}
		return mapEntry{i: i}, intBits(kf.kind, i), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return mapEntry{}, 0, fmt.Errorf("map key %q is not an int64", s)
		}
		return mapEntry{i: i}, intBits(kf.kind, i), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return mapEntry{}, 0, fmt.Errorf("map key %q is not a uint32", s)
		}
		return mapEntry{u: u}, u, nil
	default:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return mapEntry{}, 0, fmt.Errorf("map key %q is not a uint64", s)
		}
		return mapEntry{u: u}, u, nil
	}
}

// singular appends a field that is neither repeated nor a map: its tag and
// value, or nothing for a zero value without presence.
func (e *encoder) singular(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	switch fd.kind {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		dst = append(dst, fd.tag...)
		return e.message(dst, fd, v)
	case protoreflect.StringKind:
		s := stringBytes(v)
		if len(s) == 0 && !fd.presence {
			return dst, nil
		}
		dst = append(dst, fd.tag...)
		return protowire.AppendBytes(dst, s), nil
	case protoreflect.BytesKind:
		_, data := v.Binary()
		if len(data) == 0 && !fd.presence {
			return dst, nil
		}
		dst = append(dst, fd.tag...)
		return protowire.AppendBytes(dst, data), nil
	}
	bits := scalarBits(fd, v)
	if bits == 0 && !fd.presence {
		return dst, nil
	}
	dst = append(dst, fd.tag...)
	return appendBits(dst, fd.wire, bits), nil
}

// value appends one value of fd, without its tag.
func (e *encoder) value(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	switch fd.kind {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.message(dst, fd, v)
	case protoreflect.StringKind:
		return protowire.AppendBytes(dst, stringBytes(v)), nil
	case protoreflect.BytesKind:
		_, data := v.Binary()
		return protowire.AppendBytes(dst, data), nil
	}
	return appendBits(dst, fd.wire, scalarBits(fd, v)), nil
}

// message appends the value of message field fd holding v: length and
// fields, or the fields and the closing tag of a group.
func (e *encoder) message(dst []byte, fd *fieldPlan, v bsoncore.Value) ([]byte, error) {
	if fd.kind == protoreflect.GroupKind {
		dst, err := e.fill(dst, fd.msg, v)
		if err != nil {
			return dst, err
		}
		return protowire.AppendVarint(dst, protowire.EncodeTag(fd.num, protowire.EndGroupType)), nil
	}
	pos := len(dst)
	dst = append(dst, 0)
	dst, err := e.fill(dst, fd.msg, v)
	if err != nil {
		return dst, err
	}
	return finishLength(dst, pos), nil
}

// finishLength writes the length of what follows the one byte reserved at
// pos, moving it when the length takes more bytes.
func finishLength(b []byte, pos int) []byte {
	n := len(b) - pos - 1
	if n < 0x80 {
		b[pos] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	for range size - 1 {
		b = append(b, 0)
	}
	copy(b[pos+size:], b[pos+1:pos+1+n])
	protowire.AppendVarint(b[:pos], uint64(n))
	return b
}

// fill appends the fields of message mp standing for v.
func (e *encoder) fill(dst []byte, mp *msgPlan, v bsoncore.Value) ([]byte, error) {
	if mp.special != plain && len(mp.required) > 0 {
		// A special shape of a proto2 file may make a field required: see
		// which of its fields were written.
		start := len(dst)
		dst, err := e.fillSpecial(dst, mp, v)
		if err == nil {
			e.checkWritten(mp, dst[start:])
		}
		return dst, err
	}
	return e.fillSpecial(dst, mp, v)
}

// checkWritten notes the first required field of mp missing from its
// fields' bytes b, a level below the message being filled.
func (e *encoder) checkWritten(mp *msgPlan, b []byte) {
	for _, req := range mp.required {
		found := false
		for rest := b; len(rest) > 0; {
			num, wt, n := protowire.ConsumeTag(rest)
			m := protowire.ConsumeFieldValue(num, wt, rest[n:])
			if n < 0 || m < 0 {
				break
			}
			if num == req.num {
				found = true
				break
			}
			rest = rest[n+m:]
		}
		if !found && (e.reqErr == nil || e.depth+1 < e.reqDepth) {
			e.reqErr, e.reqDepth = &DataError{Msg: "proto: required field " + string(req.fd.FullName()) + " not set"}, e.depth+1
		}
	}
}

func (e *encoder) fillSpecial(dst []byte, mp *msgPlan, v bsoncore.Value) ([]byte, error) {
	switch mp.special {
	case listWrapper:
		return e.list(dst, mp.fields[0], v)
	case itemWrapper:
		var fd *fieldPlan
		best := noFit
		for _, f := range mp.fields {
			if s := e.fitField(f, v); s > best {
				fd, best = f, s
			}
		}
		if fd == nil {
			return dst, fail("cannot encode BSON %s as %s", bsonTypeName(v), mp.fullName)
		}
		return e.field(dst, fd, v)
	case timestampMsg:
		ms := v.DateTime()
		sec, rem := ms/1000, ms%1000
		if rem < 0 {
			sec, rem = sec-1, rem+1000
		}
		vals := [2]int64{sec, rem * 1e6}
		for _, fd := range mp.order {
			i := 0
			if fd.fd.Name() == "nanos" {
				i = 1
			}
			if bits := intBits(fd.kind, vals[i]); bits != 0 {
				dst = append(dst, fd.tag...)
				dst = appendBits(dst, fd.wire, bits)
			}
		}
		return dst, nil
	case valueWrapper:
		return e.singular(dst, mp.named["value"], v)
	case helperMsg:
		return fillHelper(dst, mp, v), nil
	}
	return e.fields(dst, mp, v.Data)
}

// fillHelper appends the fields of the Bson* helper message mp standing
// for v. Fields are written only when non-zero: they have implicit
// presence.
func fillHelper(dst []byte, mp *msgPlan, v bsoncore.Value) []byte {
	var vals [2][]byte // bytes and strings, by declaration index
	var nums [2]uint64 // uint32 fields
	switch v.Type {
	case bson.TypeBinary:
		sub, data := v.Binary()
		nums[0], vals[1] = uint64(sub), data
	case bson.TypeObjectID:
		vals[0] = v.Data[:12]
	case bson.TypeRegex:
		i := bytes.IndexByte(v.Data, 0)
		vals[0], vals[1] = v.Data[:i], v.Data[i+1:len(v.Data)-1]
	case bson.TypeJavaScript, bson.TypeSymbol:
		vals[0] = stringBytes(v)
	case bson.TypeDecimal128:
		vals[0] = []byte(schemas.Decimal128String(v.Decimal128()))
	case bson.TypeTimestamp:
		t, i := v.Timestamp()
		nums[0], nums[1] = uint64(t), uint64(i)
	case bson.TypeDBPointer:
		n := len(v.Data) - 12
		vals[0], vals[1] = v.Data[4:n-1], v.Data[n:]
	case bson.TypeCodeWithScope:
		code, scope := v.CodeWithScope()
		vals[0], vals[1] = []byte(code), scope
	}
	for _, fd := range mp.order { // MinKey, MaxKey, Undefined carry no data
		if fd.kind == protoreflect.Uint32Kind {
			if nums[fd.idx] != 0 {
				dst = append(dst, fd.tag...)
				dst = protowire.AppendVarint(dst, nums[fd.idx])
			}
		} else if len(vals[fd.idx]) > 0 {
			dst = append(dst, fd.tag...)
			dst = protowire.AppendBytes(dst, vals[fd.idx])
		}
	}
	return dst
}

// stringBytes returns the bytes of a validated BSON string (or JavaScript,
// or symbol) value.
func stringBytes(v bsoncore.Value) []byte { return v.Data[4 : len(v.Data)-1] }

// scalarBits converts v, which fits fd, to the wire bits of fd's kind (a
// varint's value or a fixed field's bits); zero exactly when the value is
// the kind's zero.
func scalarBits(fd *fieldPlan, v bsoncore.Value) uint64 {
	switch fd.kind {
	case protoreflect.EnumKind:
		switch v.Type {
		case bson.TypeNull:
			return 0
		case bson.TypeString:
			return uint64(int64(fd.enum.byName[string(stringBytes(v))]))
		}
		return uint64(int64(v.Int32()))
	case protoreflect.BoolKind:
		if v.Boolean() {
			return 1
		}
		return 0
	case protoreflect.DoubleKind:
		return math.Float64bits(asFloat(v))
	case protoreflect.FloatKind:
		return uint64(math.Float32bits(float32(asFloat(v))))
	}
	i, _ := v.AsInt64OK()
	return intBits(fd.kind, i)
}

// intBits is the wire bits of integer i in a field of kind k, as the
// protobuf runtime writes the value after converting it to k's Go type.
func intBits(k protoreflect.Kind, i int64) uint64 {
	switch k {
	case protoreflect.Int32Kind:
		return uint64(int64(int32(i)))
	case protoreflect.Sint32Kind:
		return protowire.EncodeZigZag(int64(int32(i)))
	case protoreflect.Sfixed32Kind:
		return uint64(uint32(int32(i)))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return uint64(uint32(i))
	case protoreflect.Sint64Kind:
		return protowire.EncodeZigZag(i)
	}
	return uint64(i) // int64, sfixed64, uint64, fixed64
}

func appendBits(dst []byte, wt protowire.Type, bits uint64) []byte {
	switch wt {
	case protowire.Fixed32Type:
		return protowire.AppendFixed32(dst, uint32(bits))
	case protowire.Fixed64Type:
		return protowire.AppendFixed64(dst, bits)
	}
	return protowire.AppendVarint(dst, bits)
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
