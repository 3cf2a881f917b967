package protobuf

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// Decode decodes Protobuf binary of the codec's message type into a BSON
// document. Unknown fields are an error: the data was written with another
// schema than the one it is read with, and dropping them would lose data.
//
// It parses the wire bytes and writes the BSON bytes directly, through the
// codec's compiled plan, with the semantics of proto.Unmarshal: the last of
// a repeated scalar wins, a message that appears twice is merged, packed and
// unpacked lists are both read, a oneof holds its last member, and proto2
// required fields must be present. Fields come out in declaration order;
// map entries sorted by key. Bytes that do not parse are a *DataError
// naming the field.
func (c *Codec) Decode(data []byte) (bson.Raw, error) {
	d := decoders.Get().(*decoder)
	dst := make([]byte, 0, 2*len(data)+64)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := d.plain(dst, c.root, data, recursionLimit)
	d.reset()
	decoders.Put(d)
	if err != nil {
		return nil, err
	}
	dst = append(dst, 0)
	if len(dst) > math.MaxInt32 {
		return nil, &DataError{Msg: "the document exceeds the BSON size limit"}
	}
	binary.LittleEndian.PutUint32(dst, uint32(len(dst)))
	return bson.Raw(dst), nil
}

// recursionLimit bounds the nesting of messages (and map entries), as
// proto.Unmarshal's default does.
const recursionLimit = protowire.DefaultRecursionLimit

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// decoder holds the scratch state of one Decode: stacks of the field
// occurrences of the messages being decoded.
type decoder struct {
	occs   []occ
	slots  []decSlot
	oneofs []oneofState
}

func (d *decoder) reset() {
	d.occs, d.slots, d.oneofs = d.occs[:0], d.slots[:0], d.oneofs[:0]
}

// occ is one occurrence of a known field in a message's bytes.
type occ struct {
	start, end int32 // the value: a scalar's bytes, a message's or packed list's content
	next       int32 // the next occurrence of the same field, or -1
	packed     bool
}

// decSlot links the occurrences of one field.
type decSlot struct {
	first, last int32
	elems       bool // a list has elements (a packed occurrence may have none)
}

// oneofState says which member of a oneof holds it: the last one seen,
// from occurrence start on (earlier ones were cleared).
type oneofState struct {
	member   int32
	start    int32
	switched bool // an earlier member was cleared
}

// frame is the scan of one message: where its slots and oneof states
// start on the decoder's stacks, and the bytes of fields it does not
// declare.
type frame struct {
	mp      *msgPlan
	b       []byte
	slots   int
	oneofs  int
	occs    int
	unknown int
}

func (d *decoder) pop(f *frame) {
	d.occs, d.slots, d.oneofs = d.occs[:f.occs], d.slots[:f.slots], d.oneofs[:f.oneofs]
}

func malformed(num protowire.Number, n int) error {
	return fail("malformed wire data in field %d: %v", num, protowire.ParseError(n))
}

// scan reads the fields of message mp in b, checking every value the
// way proto.Unmarshal does, and links the occurrences of each field.
func (d *decoder) scan(mp *msgPlan, b []byte) (frame, error) {
	f := frame{mp: mp, b: b, slots: len(d.slots), oneofs: len(d.oneofs), occs: len(d.occs)}
	for range mp.fields {
		d.slots = append(d.slots, decSlot{first: -1, last: -1})
	}
	for range mp.oneofs {
		d.oneofs = append(d.oneofs, oneofState{member: -1})
	}
	for i := 0; i < len(b); {
		num, wt, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return f, fail("malformed wire data: field tag: %v", protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return f, fail("malformed wire data: field number %d out of range", num)
		}
		vstart := i + n
		fd := mp.field(num)
		if fd != nil {
			start, end, next, packed, err := consumeKnown(fd, wt, b, vstart)
			if err != nil {
				return f, under(err, fd.name)
			}
			if next >= 0 {
				d.link(&f, fd, occ{start: int32(start), end: int32(end), next: -1, packed: packed})
				i = next
				continue
			}
		}
		m := protowire.ConsumeFieldValue(num, wt, b[vstart:])
		if m < 0 {
			return f, malformed(num, m)
		}
		f.unknown += n + m
		i = vstart + m
	}
	return f, nil
}

func (d *decoder) link(f *frame, fd *fieldPlan, o occ) {
	at := int32(len(d.occs))
	d.occs = append(d.occs, o)
	s := &d.slots[f.slots+fd.idx]
	if s.first < 0 {
		s.first = at
	} else {
		d.occs[s.last].next = at
	}
	s.last = at
	if !o.packed || o.end > o.start {
		s.elems = true
	}
	if fd.oneof >= 0 {
		st := &d.oneofs[f.oneofs+fd.oneof]
		if st.member != int32(fd.idx) {
			st.switched = st.switched || st.member >= 0
			st.member, st.start = int32(fd.idx), at
		}
	}
}

func packable(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

// consumeKnown reads the value of field fd at b[at:] with wire type wt:
// the value's bounds and where the next field starts, or next -1 when the
// wire type is not the field's (the field is then unknown, as
// proto.Unmarshal keeps it).
func consumeKnown(fd *fieldPlan, wt protowire.Type, b []byte, at int) (start, end, next int, packed bool, err error) {
	if fd.isMap {
		if wt != protowire.BytesType {
			return 0, 0, -1, false, nil
		}
		v, n := protowire.ConsumeBytes(b[at:])
		if n < 0 {
			return 0, 0, 0, false, malformed(fd.num, n)
		}
		return at + n - len(v), at + n, at + n, false, nil
	}
	if fd.list && wt == protowire.BytesType && packable(fd.kind) {
		v, n := protowire.ConsumeBytes(b[at:])
		if n < 0 {
			return 0, 0, 0, false, malformed(fd.num, n)
		}
		for rest := v; len(rest) > 0; {
			m := consumeScalar(fd.wire, rest)
			if m < 0 {
				return 0, 0, 0, false, malformed(fd.num, m)
			}
			rest = rest[m:]
		}
		return at + n - len(v), at + n, at + n, true, nil
	}
	if wt != fd.wire {
		return 0, 0, -1, false, nil
	}
	switch wt {
	case protowire.BytesType:
		v, n := protowire.ConsumeBytes(b[at:])
		if n < 0 {
			return 0, 0, 0, false, malformed(fd.num, n)
		}
		if fd.kind == protoreflect.StringKind && fd.utf8 && !utf8.Valid(v) {
			return 0, 0, 0, false, fail("string field %s holds invalid UTF-8", fd.fd.FullName())
		}
		return at + n - len(v), at + n, at + n, false, nil
	case protowire.StartGroupType:
		v, n := protowire.ConsumeGroup(fd.num, b[at:])
		if n < 0 {
			return 0, 0, 0, false, malformed(fd.num, n)
		}
		return at, at + len(v), at + n, false, nil
	}
	n := consumeScalar(wt, b[at:])
	if n < 0 {
		return 0, 0, 0, false, malformed(fd.num, n)
	}
	return at, at + n, at + n, false, nil
}

func consumeScalar(wt protowire.Type, b []byte) int {
	switch wt {
	case protowire.Fixed32Type:
		_, n := protowire.ConsumeFixed32(b)
		return n
	case protowire.Fixed64Type:
		_, n := protowire.ConsumeFixed64(b)
		return n
	}
	_, n := protowire.ConsumeVarint(b)
	return n
}

// bits reads a scalar of wire type wt (already checked).
func bits(wt protowire.Type, b []byte) (uint64, int) {
	switch wt {
	case protowire.Fixed32Type:
		return uint64(binary.LittleEndian.Uint32(b)), 4
	case protowire.Fixed64Type:
		return binary.LittleEndian.Uint64(b), 8
	}
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// plain appends the fields of message mp in b as BSON elements, in
// declaration order: the walk of a message that stands for a document.
func (d *decoder) plain(dst []byte, mp *msgPlan, b []byte, limit int) ([]byte, error) {
	if limit--; limit < 0 {
		return dst, fail("messages nested deeper than %d levels", recursionLimit)
	}
	f, err := d.scan(mp, b)
	if err != nil {
		return dst, err
	}
	defer d.pop(&f)
	if f.unknown > 0 {
		return dst, fail("%d bytes of fields that message %s does not declare", f.unknown, mp.fullName)
	}
	if err := d.checkCleared(&f, limit); err != nil {
		return dst, err
	}
	var emitted []bool
	if mp.sharedNames {
		emitted = make([]bool, mp.nameGroups)
	}
	for _, fd := range mp.fields {
		s := d.slots[f.slots+fd.idx]
		if s.first < 0 {
			continue
		}
		if fd.oneof >= 0 && d.oneofs[f.oneofs+fd.oneof].member != int32(fd.idx) {
			continue
		}
		switch {
		case fd.list:
			if !s.elems {
				continue
			}
		case fd.isMap, fd.kind == protoreflect.MessageKind, fd.kind == protoreflect.GroupKind:
		default:
			if !fd.presence && isZero(fd, b[d.occs[s.last].start:d.occs[s.last].end]) {
				continue
			}
		}
		if emitted != nil {
			if emitted[fd.nameGroup] {
				return dst, under(fail("set by two fields of message %s", mp.fullName), fd.name)
			}
			emitted[fd.nameGroup] = true
		}
		if dst, err = d.field(dst, fd.name, &f, fd, limit); err != nil {
			return dst, under(err, fd.name)
		}
	}
	return dst, d.checkRequired(&f)
}

func (d *decoder) checkRequired(f *frame) error {
	for _, fd := range f.mp.required {
		if d.slots[f.slots+fd.idx].first < 0 {
			return fail("required field %s not set", fd.fd.FullName())
		}
	}
	return nil
}

// checkCleared checks the message values of oneof members that a later
// member cleared: proto.Unmarshal parsed them before clearing them.
func (d *decoder) checkCleared(f *frame, limit int) error {
	for i, members := range f.mp.oneofs {
		st := d.oneofs[f.oneofs+i]
		if !st.switched {
			continue
		}
		for _, fd := range members {
			if fd.msg == nil {
				continue
			}
			for o := d.slots[f.slots+fd.idx].first; o >= 0; o = d.occs[o].next {
				if int32(fd.idx) == st.member && o >= st.start {
					break
				}
				oc := d.occs[o]
				if err := d.check(fd.msg, f.b[oc.start:oc.end], limit); err != nil {
					return under(err, fd.name)
				}
			}
		}
	}
	return nil
}

// check parses message mp in b, as proto.Unmarshal does, for bytes whose
// value is discarded: it reports the bytes that do not parse.
func (d *decoder) check(mp *msgPlan, b []byte, limit int) error {
	if limit--; limit < 0 {
		return fail("messages nested deeper than %d levels", recursionLimit)
	}
	f, err := d.scan(mp, b)
	if err != nil {
		return err
	}
	defer d.pop(&f)
	for _, fd := range mp.fields {
		if fd.msg == nil && !fd.isMap {
			continue
		}
		for o := d.slots[f.slots+fd.idx].first; o >= 0; o = d.occs[o].next {
			oc := d.occs[o]
			if fd.isMap {
				if _, err := d.entry(fd, b[oc.start:oc.end], limit); err != nil {
					return under(err, fd.name)
				}
			} else if err := d.check(fd.msg, b[oc.start:oc.end], limit); err != nil {
				return under(err, fd.name)
			}
		}
	}
	return nil
}

// isZero reports whether the scalar of fd in b reads as its kind's zero,
// which a field without presence does not hold.
func isZero(fd *fieldPlan, b []byte) bool {
	switch fd.kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return len(b) == 0
	}
	u, _ := bits(fd.wire, b)
	switch fd.kind {
	case protoreflect.BoolKind, protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.Sint64Kind,
		protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return u == 0
	}
	return uint32(u) == 0 // 32-bit kinds (and enums) keep the low 32 bits
}

// field appends field fd of frame f as the element key.
func (d *decoder) field(dst []byte, key string, f *frame, fd *fieldPlan, limit int) ([]byte, error) {
	s := d.slots[f.slots+fd.idx]
	switch {
	case fd.list:
		return d.list(dst, key, f, fd, s, limit)
	case fd.isMap:
		return d.mapField(dst, key, f, fd, s, limit)
	case fd.msg != nil:
		first := s.first
		if fd.oneof >= 0 {
			first = d.oneofs[f.oneofs+fd.oneof].start
		}
		o := d.occs[first]
		if o.next < 0 {
			return d.message(dst, key, fd.msg, f.b[o.start:o.end], limit)
		}
		// A message that appears more than once is their merge, which is
		// the message their concatenation holds; each was parsed on its
		// own, so each must parse (a cut varint may end one and the next
		// begin with what completes it).
		var merged []byte
		for i := first; i >= 0; i = d.occs[i].next {
			chunk := f.b[d.occs[i].start:d.occs[i].end]
			if err := d.check(fd.msg, chunk, limit); err != nil {
				return dst, err
			}
			merged = append(merged, chunk...)
		}
		return d.message(dst, key, fd.msg, merged, limit)
	}
	o := d.occs[s.last]
	return d.scalar(dst, key, fd, f.b[o.start:o.end])
}

var indexKeys = func() (keys [256]string) {
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	return keys
}()

func indexKey(i int) string {
	if i < len(indexKeys) {
		return indexKeys[i]
	}
	return strconv.Itoa(i)
}

func appendHeader(dst []byte, t bsontype.Type, key string) []byte {
	dst = append(dst, byte(t))
	dst = append(dst, key...)
	return append(dst, 0)
}

func (d *decoder) list(dst []byte, key string, f *frame, fd *fieldPlan, s decSlot, limit int) ([]byte, error) {
	dst = appendHeader(dst, bson.TypeArray, key)
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	i := 0
	var err error
	for o := s.first; o >= 0; o = d.occs[o].next {
		oc := d.occs[o]
		v := f.b[oc.start:oc.end]
		if !oc.packed {
			if fd.msg != nil {
				dst, err = d.message(dst, indexKey(i), fd.msg, v, limit)
			} else {
				dst, err = d.scalar(dst, indexKey(i), fd, v)
			}
			if err != nil {
				return dst, underIndex(err, i)
			}
			i++
			continue
		}
		for len(v) > 0 {
			n := consumeScalar(fd.wire, v)
			if dst, err = d.scalar(dst, indexKey(i), fd, v[:n]); err != nil {
				return dst, underIndex(err, i)
			}
			v = v[n:]
			i++
		}
	}
	return endDocument(dst, start), nil
}

func endDocument(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// mapEntryVal is one entry of a map field being decoded.
type mapEntryVal struct {
	key    string
	scalar []byte   // a scalar value's bytes, nil for the default
	chunks [][]byte // a message value's occurrences, merged
}

func (d *decoder) mapField(dst []byte, key string, f *frame, fd *fieldPlan, s decSlot, limit int) ([]byte, error) {
	var entries []mapEntryVal
	for o := s.first; o >= 0; o = d.occs[o].next {
		oc := d.occs[o]
		ent, err := d.entry(fd, f.b[oc.start:oc.end], limit)
		if err != nil {
			return dst, err
		}
		entries = append(entries, ent)
	}
	// The last entry of a key wins; the others were parsed all the same.
	slices.SortStableFunc(entries, func(a, b mapEntryVal) int { return strings.Compare(a.key, b.key) })
	dst = appendHeader(dst, bson.TypeEmbeddedDocument, key)
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	vf := fd.mapVal
	for i, ent := range entries {
		if i+1 < len(entries) && entries[i+1].key == ent.key {
			for _, c := range ent.chunks {
				if err := d.check(vf.msg, c, limit-1); err != nil {
					return dst, under(err, ent.key)
				}
			}
			continue
		}
		if strings.IndexByte(ent.key, 0) >= 0 {
			return dst, under(fail("map key holds a NUL byte, which a BSON field name cannot"), ent.key)
		}
		var err error
		switch {
		case vf.msg != nil:
			v := []byte(nil)
			if len(ent.chunks) == 1 {
				v = ent.chunks[0]
			} else {
				for _, c := range ent.chunks {
					v = append(v, c...)
				}
			}
			dst, err = d.message(dst, ent.key, vf.msg, v, limit-1)
		case ent.scalar != nil:
			dst, err = d.scalar(dst, ent.key, vf, ent.scalar)
		default:
			dst, err = d.defaultValue(dst, ent.key, vf)
		}
		if err != nil {
			return dst, under(err, ent.key)
		}
	}
	return endDocument(dst, start), nil
}

// entry parses one map entry of field fd: its key, as text, and its
// value. Fields other than the key and the value are skipped, as
// proto.Unmarshal skips them.
func (d *decoder) entry(fd *fieldPlan, b []byte, limit int) (mapEntryVal, error) {
	var ent mapEntryVal
	if limit--; limit < 0 {
		return ent, fail("messages nested deeper than %d levels", recursionLimit)
	}
	kf, vf := fd.mapKey, fd.mapVal
	var keyBytes []byte
	for i := 0; i < len(b); {
		num, wt, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return ent, fail("malformed map entry: %v", protowire.ParseError(n))
		}
		if num > protowire.MaxValidNumber {
			return ent, fail("malformed map entry: field number %d out of range", num)
		}
		at := i + n
		var next int
		var err error
		var start, end int
		switch num {
		case 1:
			start, end, next, _, err = consumeKnown(kf, wt, b, at)
			if next >= 0 && err == nil {
				keyBytes = b[start:end]
			}
		case 2:
			start, end, next, _, err = consumeKnown(vf, wt, b, at)
			if next >= 0 && err == nil {
				if vf.msg != nil {
					ent.chunks = append(ent.chunks, b[start:end])
				} else {
					ent.scalar = b[start:end]
				}
			}
		default:
			next = -1
		}
		if err != nil {
			return ent, err
		}
		if next < 0 {
			m := protowire.ConsumeFieldValue(num, wt, b[at:])
			if m < 0 {
				return ent, fail("malformed map entry: %v", protowire.ParseError(m))
			}
			next = at + m
		}
		i = next
	}
	if vf.msg != nil {
		// Each value occurrence was unmarshalled on its own: one that
		// does not parse is an error even where merging would hide it.
		if len(ent.chunks) > 1 {
			for _, c := range ent.chunks {
				if err := d.check(vf.msg, c, limit); err != nil {
					return ent, err
				}
			}
		}
		if ent.chunks == nil {
			ent.chunks = [][]byte{nil}
		}
	}
	ent.key = mapKeyString(kf, keyBytes)
	return ent, nil
}

// mapKeyString is the text of a map key, as protoreflect formats it; the
// kind's zero when the entry has no key.
func mapKeyString(kf *fieldPlan, b []byte) string {
	if b == nil {
		return kf.def.String()
	}
	if kf.kind == protoreflect.StringKind {
		return string(b)
	}
	u, _ := bits(kf.wire, b)
	switch kf.kind {
	case protoreflect.BoolKind:
		return strconv.FormatBool(u != 0)
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return strconv.FormatInt(int64(int32(u)), 10)
	case protoreflect.Sint32Kind:
		return strconv.FormatInt(int64(int32(protowire.DecodeZigZag(u&math.MaxUint32))), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(int64(u), 10)
	case protoreflect.Sint64Kind:
		return strconv.FormatInt(protowire.DecodeZigZag(u), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.FormatUint(uint64(uint32(u)), 10)
	}
	return strconv.FormatUint(u, 10)
}

// message appends the value of a message of plan mp, in b, as the element
// key: a document, or what a special shape stands for.
func (d *decoder) message(dst []byte, key string, mp *msgPlan, b []byte, limit int) ([]byte, error) {
	if mp.special == plain {
		dst = appendHeader(dst, bson.TypeEmbeddedDocument, key)
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst, err := d.plain(dst, mp, b, limit)
		if err != nil {
			return dst, err
		}
		return endDocument(dst, start), nil
	}
	if limit--; limit < 0 {
		return dst, fail("messages nested deeper than %d levels", recursionLimit)
	}
	f, err := d.scan(mp, b)
	if err != nil {
		return dst, err
	}
	defer d.pop(&f)
	if err := d.checkCleared(&f, limit); err != nil {
		return dst, err
	}
	// Fields a special shape does not declare are dropped, except in
	// helpers, as the walk of the unmarshalled message did.
	switch mp.special {
	case listWrapper:
		dst, err = d.list(dst, key, &f, mp.fields[0], d.slots[f.slots], limit)
	case itemWrapper:
		if len(mp.oneofs) == 0 || d.oneofs[f.oneofs].member < 0 {
			dst = appendHeader(dst, bson.TypeNull, key)
		} else {
			dst, err = d.field(dst, key, &f, mp.fields[d.oneofs[f.oneofs].member], limit)
		}
	case timestampMsg:
		sec := d.int(&f, mp.named["seconds"])
		nanos := d.int(&f, mp.named["nanos"])
		if sec > math.MaxInt64/1000-1 || sec < math.MinInt64/1000+1 || nanos < 0 || nanos > 999_999_999 {
			return dst, fail("timestamp %ds %dns is out of the BSON date range", sec, nanos)
		}
		dst = bsoncore.AppendDateTimeElement(dst, key, sec*1000+nanos/1_000_000)
	case valueWrapper:
		fd := mp.named["value"]
		if s := d.slots[f.slots+fd.idx]; s.last >= 0 {
			o := d.occs[s.last]
			dst, err = d.scalar(dst, key, fd, b[o.start:o.end])
		} else {
			dst, err = d.defaultValue(dst, key, fd)
		}
	case helperMsg:
		if f.unknown > 0 {
			return dst, fail("unknown fields in %s", mp.fullName)
		}
		dst, err = d.helper(dst, key, &f)
	}
	if err != nil {
		return dst, err
	}
	return dst, d.checkRequired(&f)
}

// int reads integer field fd of a frame: its last value, else its default.
func (d *decoder) int(f *frame, fd *fieldPlan) int64 {
	s := d.slots[f.slots+fd.idx]
	if s.last < 0 {
		return fd.def.Int()
	}
	o := d.occs[s.last]
	u, _ := bits(fd.wire, f.b[o.start:o.end])
	switch fd.kind {
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return int64(int32(u))
	case protoreflect.Sint32Kind:
		return int64(int32(protowire.DecodeZigZag(u & math.MaxUint32)))
	case protoreflect.Sint64Kind:
		return protowire.DecodeZigZag(u)
	}
	return int64(u)
}

// get reads field name of a helper: its last value's bytes (strings and
// bytes) or number (uint32), else the default.
func (d *decoder) get(f *frame, name string) ([]byte, uint64) {
	fd := f.mp.named[name]
	s := d.slots[f.slots+fd.idx]
	if s.last < 0 {
		if fd.kind == protoreflect.Uint32Kind {
			return nil, fd.def.Uint()
		}
		if fd.kind == protoreflect.StringKind {
			return []byte(fd.def.String()), 0
		}
		return fd.def.Bytes(), 0
	}
	o := d.occs[s.last]
	v := f.b[o.start:o.end]
	if fd.kind == protoreflect.Uint32Kind {
		u, _ := bits(fd.wire, v)
		return nil, uint64(uint32(u))
	}
	return v, 0
}

func (d *decoder) helper(dst []byte, key string, f *frame) ([]byte, error) {
	oid := func(name string) (primitive.ObjectID, error) {
		var o primitive.ObjectID
		b, _ := d.get(f, name)
		if len(b) != 12 {
			return o, fail("ObjectId of %d bytes, want 12", len(b))
		}
		copy(o[:], b)
		return o, nil
	}
	cstr := func(name string) (string, error) {
		b, _ := d.get(f, name)
		if slices.Contains(b, 0) {
			return "", fail("%s holds a NUL byte, which BSON cannot store here", name)
		}
		return string(b), nil
	}
	str := func(name string) string {
		b, _ := d.get(f, name)
		return string(b)
	}
	switch f.mp.kind {
	case schemas.KindUUID, schemas.KindBinaryOther:
		_, sub := d.get(f, "subtype")
		if sub > 255 {
			return dst, fail("binary subtype %d out of range", sub)
		}
		data, _ := d.get(f, "data")
		return bsoncore.AppendBinaryElement(dst, key, byte(sub), data), nil
	case schemas.KindObjectID:
		o, err := oid("oid")
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendObjectIDElement(dst, key, o), nil
	case schemas.KindRegex:
		pattern, err := cstr("pattern")
		if err != nil {
			return dst, err
		}
		options, err := cstr("options")
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendRegexElement(dst, key, pattern, options), nil
	case schemas.KindJavaScript:
		return bsoncore.AppendJavaScriptElement(dst, key, str("code")), nil
	case schemas.KindSymbol:
		return bsoncore.AppendSymbolElement(dst, key, str("symbol")), nil
	case schemas.KindDecimal128:
		s, _ := d.get(f, "value")
		dec, ok := rawbson.ParseDecimal128(s)
		if !ok {
			return dst, fail("%q is not a Decimal128", s)
		}
		return bsoncore.AppendDecimal128Element(dst, key, dec), nil
	case schemas.KindTimestamp:
		_, t := d.get(f, "t")
		_, i := d.get(f, "i")
		return bsoncore.AppendTimestampElement(dst, key, uint32(t), uint32(i)), nil
	case schemas.KindMinKey:
		return bsoncore.AppendMinKeyElement(dst, key), nil
	case schemas.KindMaxKey:
		return bsoncore.AppendMaxKeyElement(dst, key), nil
	case schemas.KindUndefined:
		return bsoncore.AppendUndefinedElement(dst, key), nil
	case schemas.KindDBPointer:
		o, err := oid("id")
		if err != nil {
			return dst, err
		}
		return bsoncore.AppendDBPointerElement(dst, key, str("ref"), o), nil
	case schemas.KindCodeWithScope:
		scope, _ := d.get(f, "scope")
		if err := rawbson.Validate(scope); err != nil {
			return dst, fail("code scope is not a BSON document: %v", err)
		}
		return bsoncore.AppendCodeWithScopeElement(dst, key, str("code"), scope), nil
	}
	return dst, fail("unsupported helper kind %s", f.mp.kind)
}

// scalar appends the value of fd in b (checked by scan) as the element
// key.
func (d *decoder) scalar(dst []byte, key string, fd *fieldPlan, b []byte) ([]byte, error) {
	switch fd.kind {
	case protoreflect.StringKind:
		dst = appendHeader(dst, bson.TypeString, key)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)+1))
		dst = append(dst, b...)
		return append(dst, 0), nil
	case protoreflect.BytesKind:
		dst = appendHeader(dst, bson.TypeBinary, key)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b)))
		dst = append(dst, 0)
		return append(dst, b...), nil
	}
	u, _ := bits(fd.wire, b)
	return d.number(dst, key, fd, u)
}

// number appends scalar bits u of fd's kind as the element key.
func (d *decoder) number(dst []byte, key string, fd *fieldPlan, u uint64) ([]byte, error) {
	switch fd.kind {
	case protoreflect.EnumKind:
		if fd.enum.null {
			return appendHeader(dst, bson.TypeNull, key), nil
		}
		n := int32(u)
		if name, ok := fd.enum.byNum[n]; ok {
			dst = appendHeader(dst, bson.TypeString, key)
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(name)+1))
			dst = append(dst, name...)
			return append(dst, 0), nil
		}
		return bsoncore.AppendInt32(appendHeader(dst, bson.TypeInt32, key), n), nil
	case protoreflect.BoolKind:
		b := byte(0)
		if u != 0 {
			b = 1
		}
		return append(appendHeader(dst, bson.TypeBoolean, key), b), nil
	case protoreflect.DoubleKind:
		return binary.LittleEndian.AppendUint64(appendHeader(dst, bson.TypeDouble, key), u), nil
	case protoreflect.FloatKind:
		f := float64(math.Float32frombits(uint32(u)))
		return binary.LittleEndian.AppendUint64(appendHeader(dst, bson.TypeDouble, key), math.Float64bits(f)), nil
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return bsoncore.AppendInt32(appendHeader(dst, bson.TypeInt32, key), int32(u)), nil
	case protoreflect.Sint32Kind:
		return bsoncore.AppendInt32(appendHeader(dst, bson.TypeInt32, key), int32(protowire.DecodeZigZag(u&math.MaxUint32))), nil
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return bsoncore.AppendInt64(appendHeader(dst, bson.TypeInt64, key), int64(u)), nil
	case protoreflect.Sint64Kind:
		return bsoncore.AppendInt64(appendHeader(dst, bson.TypeInt64, key), protowire.DecodeZigZag(u)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return bsoncore.AppendInt64(appendHeader(dst, bson.TypeInt64, key), int64(uint32(u))), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u <= math.MaxInt64 {
			return bsoncore.AppendInt64(appendHeader(dst, bson.TypeInt64, key), int64(u)), nil
		}
		// Too large for int64: keep the exact value as a Decimal128.
		dec, err := primitive.ParseDecimal128(strconv.FormatUint(u, 10))
		if err != nil {
			return dst, fail("%v", err)
		}
		return bsoncore.AppendDecimal128Element(dst, key, dec), nil
	}
	return dst, fail("unsupported field kind %s", fd.kind)
}

// defaultValue appends the default of scalar field fd, the value an
// absent field reads as.
func (d *decoder) defaultValue(dst []byte, key string, fd *fieldPlan) ([]byte, error) {
	v := fd.def
	switch fd.kind {
	case protoreflect.StringKind:
		s := v.String()
		dst = appendHeader(dst, bson.TypeString, key)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)+1))
		dst = append(dst, s...)
		return append(dst, 0), nil
	case protoreflect.BytesKind:
		return bsoncore.AppendBinaryElement(dst, key, 0, v.Bytes()), nil
	case protoreflect.EnumKind:
		return d.number(dst, key, fd, uint64(v.Enum()))
	case protoreflect.BoolKind:
		if v.Bool() {
			return d.number(dst, key, fd, 1)
		}
		return d.number(dst, key, fd, 0)
	case protoreflect.DoubleKind:
		return d.number(dst, key, fd, math.Float64bits(v.Float()))
	case protoreflect.FloatKind:
		return d.number(dst, key, fd, uint64(math.Float32bits(float32(v.Float()))))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return d.number(dst, key, fd, protowire.EncodeZigZag(v.Int()))
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind, protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return d.number(dst, key, fd, uint64(v.Int()))
	}
	return d.number(dst, key, fd, v.Uint())
}
