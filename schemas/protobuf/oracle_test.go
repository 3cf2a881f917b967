package protobuf

// The codec as it was before the direct one: BSON into a dynamicpb message
// marshalled deterministically, and Protobuf unmarshalled into a dynamicpb
// message walked to BSON. The tests hold the direct codec to it (same
// bytes, same documents, same errors).

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/rawbson"
)

// oracle is the dynamicpb codec.
type oracle struct {
	md           protoreflect.MessageDescriptor
	infos        map[protoreflect.FullName]*oracleInfo
	exactNumbers bool
}

type oracleInfo struct {
	special special
	kind    schemas.Kind
	byName  map[string][]protoreflect.FieldDescriptor
}

func newOracle(md protoreflect.MessageDescriptor, exactNumbers bool) *oracle {
	c := &oracle{md: md, infos: map[protoreflect.FullName]*oracleInfo{}, exactNumbers: exactNumbers}
	c.index(md)
	return c
}

func (c *oracle) index(md protoreflect.MessageDescriptor) {
	if c.infos[md.FullName()] != nil {
		return
	}
	mi := &oracleInfo{byName: map[string][]protoreflect.FieldDescriptor{}}
	c.infos[md.FullName()] = mi
	mi.special, mi.kind = classify(md)
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := BSONName(fd)
		mi.byName[name] = append(mi.byName[name], fd)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil {
			c.index(fd.Message())
		}
	}
}

// Encode appends the Protobuf binary encoding of doc to dst.
func (c *oracle) encode(dst []byte, doc bson.Raw) ([]byte, error) {
	if err := rawbson.Validate(doc); err != nil {
		return dst, &DataError{Msg: "invalid BSON document: " + err.Error()}
	}
	m := dynamicpb.NewMessage(c.md)
	if err := c.encodeDocument(m, bsoncore.Document(doc), nil); err != nil {
		return dst, err
	}
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, m)
	if err != nil {
		return dst, &DataError{Msg: err.Error()}
	}
	return out, nil
}

func (c *oracle) encodeDocument(m protoreflect.Message, doc bsoncore.Document, p *path) error {
	mi := c.infos[m.Descriptor().FullName()]
	elems, err := doc.Elements()
	if err != nil {
		return dataErr(p, "invalid BSON document: %v", err)
	}
	for _, e := range elems {
		key, v := e.Key(), e.Value()
		fp := &path{parent: p, name: key}
		cands := mi.byName[key]
		if len(cands) == 0 {
			return dataErr(fp, "not in the schema (message %s)", m.Descriptor().FullName())
		}
		fd, best := cands[0], noFit
		for _, cand := range cands {
			if s := c.fitField(cand, v); s > best {
				fd, best = cand, s
			}
		}
		if best == noFit {
			// Encoding with a field of the right shape names the element
			// that does not fit, which is the more useful message.
			for _, cand := range cands {
				var special special = -1
				if cand.Message() != nil && !cand.IsList() && !cand.IsMap() {
					special = c.infos[cand.Message().FullName()].special
				}
				shaped := v.Type == bson.TypeArray && (cand.IsList() || special == listWrapper) ||
					v.Type == bson.TypeEmbeddedDocument && special == plain
				if shaped {
					if err := c.setField(m, cand, v, fp); err != nil {
						return err
					}
				}
			}
			return dataErr(fp, "cannot encode BSON %s as %s", bsonTypeName(v), describeField(cands))
		}
		if m.Has(fd) || (fd.ContainingOneof() != nil && m.WhichOneof(fd.ContainingOneof()) != nil) {
			return dataErr(fp, "appears twice in the document")
		}
		if err := c.setField(m, fd, v, fp); err != nil {
			return err
		}
	}
	return nil
}

// fitField says how well v fits field fd, counting repeated and map fields.
func (c *oracle) fitField(fd protoreflect.FieldDescriptor, v bsoncore.Value) int {
	switch {
	case fd.IsList():
		if v.Type != bson.TypeArray {
			return noFit
		}
		if len(v.Data) == 5 {
			// A plain repeated field cannot keep [] apart from a missing
			// field, so an empty array prefers a _List member when there is
			// one.
			return coercion
		}
		return c.fitElements(fd, v)
	case fd.IsMap():
		if v.Type == bson.TypeEmbeddedDocument {
			return exact
		}
		return noFit
	}
	return c.fit(fd, v)
}

// fitElements says how well the elements of array v fit the repeated field
// fd: as well as the worst of them.
func (c *oracle) fitElements(fd protoreflect.FieldDescriptor, v bsoncore.Value) int {
	vals, err := bsoncore.Array(v.Data).Values()
	if err != nil {
		return noFit
	}
	score := exact
	for _, ev := range vals {
		if score = min(score, c.fit(fd, ev)); score == noFit {
			break
		}
	}
	return score
}

// fit says how well v fits one value of fd's type.
func (c *oracle) fit(fd protoreflect.FieldDescriptor, v bsoncore.Value) int {
	if c.exactNumbers && !keepsNumberType(fd.Kind(), v.Type) {
		return noFit
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.fitMessage(fd.Message(), v)
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			if v.Type == bson.TypeNull {
				return exact
			}
			return noFit
		}
		switch v.Type {
		case bson.TypeString:
			if fd.Enum().Values().ByName(protoreflect.Name(v.StringValue())) != nil {
				return exact
			}
		case bson.TypeInt32:
			if fd.Enum().Values().ByNumber(protoreflect.EnumNumber(v.Int32())) != nil {
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
		if v.Type == bson.TypeBinary {
			if sub, _ := v.Binary(); sub == 0 {
				return exact
			}
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
		return oracleFitInt(fd.Kind(), v)
	}
	return noFit
}

func oracleFitInt(k protoreflect.Kind, v bsoncore.Value) int {
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

func (c *oracle) fitMessage(md protoreflect.MessageDescriptor, v bsoncore.Value) int {
	mi := c.infos[md.FullName()]
	switch mi.special {
	case listWrapper:
		if v.Type == bson.TypeArray {
			if len(v.Data) == 5 {
				return exact
			}
			return c.fitElements(md.Fields().Get(0), v)
		}
	case itemWrapper:
		best := noFit
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			best = max(best, c.fitField(fields.Get(i), v))
		}
		return best
	case helperMsg:
		// BsonBinary keeps the subtype, so it carries any binary value.
		isBinary := mi.kind == schemas.KindUUID || mi.kind == schemas.KindBinaryOther
		if schemas.KindOf(v) == mi.kind || (isBinary && v.Type == bson.TypeBinary) {
			return exact
		}
	case timestampMsg:
		if v.Type == bson.TypeDateTime {
			return exact
		}
	case valueWrapper:
		return c.fit(md.Fields().ByName("value"), v)
	default:
		if v.Type != bson.TypeEmbeddedDocument {
			return noFit
		}
		// A document fits a message that declares every key it holds, so
		// that of several document members the one that can take it wins.
		elems, err := bsoncore.Document(v.Data).Elements()
		if err != nil {
			return noFit
		}
		for _, e := range elems {
			if len(mi.byName[e.Key()]) == 0 {
				return noFit
			}
		}
		return exact
	}
	return noFit
}

func (c *oracle) setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v bsoncore.Value, p *path) error {
	switch {
	case fd.IsList():
		list := m.Mutable(fd).List()
		vals, err := v.Array().Values()
		if err != nil {
			return dataErr(p, "invalid BSON array: %v", err)
		}
		for i, ev := range vals {
			ep := &path{parent: p, index: i}
			if c.fit(fd, ev) == noFit {
				return dataErr(ep, "cannot encode BSON %s as %s", bsonTypeName(ev), elemType(fd))
			}
			var pv protoreflect.Value
			if fd.Message() != nil {
				pv = list.NewElement()
			}
			pv, err := c.value(fd, ev, pv, ep)
			if err != nil {
				return err
			}
			list.Append(pv)
		}
		return nil
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		elems, err := v.Document().Elements()
		if err != nil {
			return dataErr(p, "invalid BSON document: %v", err)
		}
		for _, e := range elems {
			ep := &path{parent: p, name: e.Key()}
			key, err := oracleMapKey(fd.MapKey(), e.Key())
			if err != nil {
				return dataErr(ep, "%v", err)
			}
			vd := fd.MapValue()
			if c.fit(vd, e.Value()) == noFit {
				return dataErr(ep, "cannot encode BSON %s as %s", bsonTypeName(e.Value()), describe(vd))
			}
			var pv protoreflect.Value
			if vd.Message() != nil {
				pv = mp.NewValue()
			}
			pv, err = c.value(vd, e.Value(), pv, ep)
			if err != nil {
				return err
			}
			mp.Set(key, pv)
		}
		return nil
	}
	var pv protoreflect.Value
	if fd.Message() != nil {
		pv = m.NewField(fd)
	}
	pv, err := c.value(fd, v, pv, p)
	if err != nil {
		return err
	}
	m.Set(fd, pv)
	return nil
}

func oracleMapKey(fd protoreflect.FieldDescriptor, s string) (protoreflect.MapKey, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s).MapKey(), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("map key %q is not a bool", s)
		}
		return protoreflect.ValueOfBool(b).MapKey(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		i, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("map key %q is not an int32", s)
		}
		return protoreflect.ValueOfInt32(int32(i)).MapKey(), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("map key %q is not an int64", s)
		}
		return protoreflect.ValueOfInt64(i).MapKey(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		i, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("map key %q is not a uint32", s)
		}
		return protoreflect.ValueOfUint32(uint32(i)).MapKey(), nil
	default:
		i, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.MapKey{}, fmt.Errorf("map key %q is not a uint64", s)
		}
		return protoreflect.ValueOfUint64(i).MapKey(), nil
	}
}

// value converts v (already known to fit) to a value of fd's type. For
// message types, msg is a fresh message value to fill.
func (c *oracle) value(fd protoreflect.FieldDescriptor, v bsoncore.Value, msg protoreflect.Value, p *path) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if err := c.fillMessage(msg.Message(), v, p); err != nil {
			return protoreflect.Value{}, err
		}
		return msg, nil
	case protoreflect.EnumKind:
		switch v.Type {
		case bson.TypeNull:
			return protoreflect.ValueOfEnum(0), nil
		case bson.TypeString:
			return protoreflect.ValueOfEnum(fd.Enum().Values().ByName(protoreflect.Name(v.StringValue())).Number()), nil
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(v.Int32())), nil
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(v.Boolean()), nil
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.StringValue()), nil
	case protoreflect.BytesKind:
		_, data := v.Binary()
		return protoreflect.ValueOfBytes(data), nil
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(oracleAsFloat(v)), nil
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(oracleAsFloat(v))), nil
	}
	i, _ := v.AsInt64OK()
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(i)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(i)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(i)), nil
	}
	return protoreflect.ValueOfInt64(i), nil
}

func oracleAsFloat(v bsoncore.Value) float64 {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32())
	case bson.TypeInt64:
		return float64(v.Int64())
	}
	return v.Double()
}

func (c *oracle) fillMessage(m protoreflect.Message, v bsoncore.Value, p *path) error {
	md := m.Descriptor()
	mi := c.infos[md.FullName()]
	fields := md.Fields()
	switch mi.special {
	case listWrapper:
		return c.setField(m, fields.Get(0), v, p)
	case itemWrapper:
		var fd protoreflect.FieldDescriptor
		best := noFit
		for i := 0; i < fields.Len(); i++ {
			if s := c.fitField(fields.Get(i), v); s > best {
				fd, best = fields.Get(i), s
			}
		}
		return c.setField(m, fd, v, p)
	case timestampMsg:
		ms := v.DateTime()
		sec, rem := ms/1000, ms%1000
		if rem < 0 {
			sec, rem = sec-1, rem+1000
		}
		m.Set(fields.ByName("seconds"), protoreflect.ValueOfInt64(sec))
		m.Set(fields.ByName("nanos"), protoreflect.ValueOfInt32(int32(rem*1e6)))
		return nil
	case valueWrapper:
		fd := fields.ByName("value")
		pv, err := c.value(fd, v, protoreflect.Value{}, p)
		if err != nil {
			return err
		}
		m.Set(fd, pv)
		return nil
	case helperMsg:
		return oracleFillHelper(m, v)
	}
	return c.encodeDocument(m, v.Document(), p)
}

// fillHelper writes a BSON value into its Bson* helper message. Fields are
// set only when non-zero: they have implicit presence.
func oracleFillHelper(m protoreflect.Message, v bsoncore.Value) error {
	fields := m.Descriptor().Fields()
	set := func(name string, pv protoreflect.Value) {
		fd := fields.ByName(protoreflect.Name(name))
		if pv.IsValid() && !oracleIsZero(pv) {
			m.Set(fd, pv)
		}
	}
	str := protoreflect.ValueOfString
	switch v.Type {
	case bson.TypeBinary:
		sub, data := v.Binary()
		set("subtype", protoreflect.ValueOfUint32(uint32(sub)))
		set("data", protoreflect.ValueOfBytes(data))
	case bson.TypeObjectID:
		oid := v.ObjectID()
		set("oid", protoreflect.ValueOfBytes(oid[:]))
	case bson.TypeRegex:
		pattern, options := v.Regex()
		set("pattern", str(pattern))
		set("options", str(options))
	case bson.TypeJavaScript:
		set("code", str(v.JavaScript()))
	case bson.TypeSymbol:
		set("symbol", str(v.Symbol()))
	case bson.TypeDecimal128:
		set("value", str(schemas.Decimal128String(v.Decimal128())))
	case bson.TypeTimestamp:
		t, i := v.Timestamp()
		set("t", protoreflect.ValueOfUint32(t))
		set("i", protoreflect.ValueOfUint32(i))
	case bson.TypeDBPointer:
		ns, oid := v.DBPointer()
		set("ref", str(ns))
		set("id", protoreflect.ValueOfBytes(oid[:]))
	case bson.TypeCodeWithScope:
		code, scope := v.CodeWithScope()
		set("code", str(code))
		set("scope", protoreflect.ValueOfBytes(scope))
	}
	return nil // MinKey, MaxKey, Undefined carry no data
}

func oracleIsZero(v protoreflect.Value) bool {
	switch x := v.Interface().(type) {
	case string:
		return x == ""
	case []byte:
		return len(x) == 0
	case uint32:
		return x == 0
	}
	return false
}

// Decode decodes Protobuf binary of the codec's message type into a BSON
// document. Unknown fields are an error: the data was written with another
// schema than the one it is read with, and dropping them would lose data.
func (c *oracle) decode(data []byte) (bson.Raw, error) {
	m := dynamicpb.NewMessage(c.md)
	if err := (proto.UnmarshalOptions{}).Unmarshal(data, m); err != nil {
		return nil, &DataError{Msg: err.Error()}
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst, err := c.decodeFields(dst, m, nil)
	if err != nil {
		return nil, err
	}
	dst, err = bsoncore.AppendDocumentEnd(dst, idx)
	if err != nil {
		return nil, &DataError{Msg: err.Error()}
	}
	return bson.Raw(dst), nil
}

func (c *oracle) decodeFields(dst []byte, m protoreflect.Message, p *path) ([]byte, error) {
	if len(m.GetUnknown()) > 0 {
		return dst, dataErr(p, "%d bytes of fields that message %s does not declare", len(m.GetUnknown()), m.Descriptor().FullName())
	}
	fields := m.Descriptor().Fields()
	var emitted map[string]bool
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			if m.Get(fd).List().Len() == 0 {
				continue
			}
		case fd.IsMap():
			if m.Get(fd).Map().Len() == 0 {
				continue
			}
		default:
			if !m.Has(fd) {
				continue
			}
		}
		name := BSONName(fd)
		if emitted == nil {
			emitted = map[string]bool{}
		}
		if emitted[name] {
			return dst, dataErr(&path{parent: p, name: name}, "set by two fields of message %s", m.Descriptor().FullName())
		}
		emitted[name] = true
		var err error
		if dst, err = c.appendField(dst, name, fd, m.Get(fd), &path{parent: p, name: name}); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (c *oracle) appendField(dst []byte, key string, fd protoreflect.FieldDescriptor, v protoreflect.Value, p *path) ([]byte, error) {
	switch {
	case fd.IsList():
		idx, out := bsoncore.AppendArrayElementStart(dst, key)
		list := v.List()
		var err error
		for i := 0; i < list.Len(); i++ {
			if out, err = c.appendValue(out, strconv.Itoa(i), fd, list.Get(i), &path{parent: p, index: i}); err != nil {
				return dst, err
			}
		}
		return bsoncore.AppendArrayEnd(out, idx)
	case fd.IsMap():
		type entry struct {
			k string
			v protoreflect.Value
		}
		var entries []entry
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			entries = append(entries, entry{k.String(), mv})
			return true
		})
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		idx, out := bsoncore.AppendDocumentElementStart(dst, key)
		var err error
		for _, e := range entries {
			if out, err = c.appendValue(out, e.k, fd.MapValue(), e.v, &path{parent: p, name: e.k}); err != nil {
				return dst, err
			}
		}
		return bsoncore.AppendDocumentEnd(out, idx)
	}
	return c.appendValue(dst, key, fd, v, p)
}

func (c *oracle) appendValue(dst []byte, key string, fd protoreflect.FieldDescriptor, v protoreflect.Value, p *path) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return c.appendMessage(dst, key, v.Message(), p)
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return bsoncore.AppendNullElement(dst, key), nil
		}
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return bsoncore.AppendStringElement(dst, key, string(ev.Name())), nil
		}
		return bsoncore.AppendInt32Element(dst, key, int32(v.Enum())), nil
	case protoreflect.BoolKind:
		return bsoncore.AppendBooleanElement(dst, key, v.Bool()), nil
	case protoreflect.StringKind:
		return bsoncore.AppendStringElement(dst, key, v.String()), nil
	case protoreflect.BytesKind:
		return bsoncore.AppendBinaryElement(dst, key, 0, v.Bytes()), nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return bsoncore.AppendDoubleElement(dst, key, v.Float()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return bsoncore.AppendInt32Element(dst, key, int32(v.Int())), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return bsoncore.AppendInt64Element(dst, key, v.Int()), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return bsoncore.AppendInt64Element(dst, key, int64(v.Uint())), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u := v.Uint()
		if u <= math.MaxInt64 {
			return bsoncore.AppendInt64Element(dst, key, int64(u)), nil
		}
		// Too large for int64: keep the exact value as a Decimal128.
		d, err := primitive.ParseDecimal128(strconv.FormatUint(u, 10))
		if err != nil {
			return dst, dataErr(p, "%v", err)
		}
		return bsoncore.AppendDecimal128Element(dst, key, d), nil
	}
	return dst, dataErr(p, "unsupported field kind %s", fd.Kind())
}

func (c *oracle) appendMessage(dst []byte, key string, m protoreflect.Message, p *path) ([]byte, error) {
	md := m.Descriptor()
	mi := c.infos[md.FullName()]
	fields := md.Fields()
	switch mi.special {
	case listWrapper:
		fd := fields.Get(0)
		return c.appendField(dst, key, fd, m.Get(fd), p)
	case itemWrapper:
		if fd := m.WhichOneof(md.Oneofs().Get(0)); fd != nil {
			return c.appendField(dst, key, fd, m.Get(fd), p)
		}
		return bsoncore.AppendNullElement(dst, key), nil
	case timestampMsg:
		sec := m.Get(fields.ByName("seconds")).Int()
		nanos := m.Get(fields.ByName("nanos")).Int()
		if sec > math.MaxInt64/1000-1 || sec < math.MinInt64/1000+1 || nanos < 0 || nanos > 999_999_999 {
			return dst, dataErr(p, "timestamp %ds %dns is out of the BSON date range", sec, nanos)
		}
		return bsoncore.AppendDateTimeElement(dst, key, sec*1000+nanos/1_000_000), nil
	case valueWrapper:
		fd := fields.ByName("value")
		return c.appendValue(dst, key, fd, m.Get(fd), p)
	case helperMsg:
		return oracleAppendHelper(dst, key, m, mi.kind, p)
	}
	idx, out := bsoncore.AppendDocumentElementStart(dst, key)
	out, err := c.decodeFields(out, m, p)
	if err != nil {
		return dst, err
	}
	return bsoncore.AppendDocumentEnd(out, idx)
}

func oracleAppendHelper(dst []byte, key string, m protoreflect.Message, k schemas.Kind, p *path) ([]byte, error) {
	if len(m.GetUnknown()) > 0 {
		return dst, dataErr(p, "unknown fields in %s", m.Descriptor().FullName())
	}
	get := func(name string) protoreflect.Value {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	oid := func(name string) (primitive.ObjectID, error) {
		var o primitive.ObjectID
		b := get(name).Bytes()
		if len(b) != 12 {
			return o, dataErr(p, "ObjectId of %d bytes, want 12", len(b))
		}
		copy(o[:], b)
		return o, nil
	}
	cstr := func(name string) (string, error) {
		s := get(name).String()
		if strings.IndexByte(s, 0) >= 0 {
			return "", dataErr(p, "%s holds a NUL byte, which BSON cannot store here", name)
		}
		return s, nil
	}
	switch k {
	case schemas.KindUUID, schemas.KindBinaryOther:
		sub := get("subtype").Uint()
		if sub > 255 {
			return dst, dataErr(p, "binary subtype %d out of range", sub)
		}
		return bsoncore.AppendBinaryElement(dst, key, byte(sub), get("data").Bytes()), nil
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
		return bsoncore.AppendJavaScriptElement(dst, key, get("code").String()), nil
	case schemas.KindSymbol:
		return bsoncore.AppendSymbolElement(dst, key, get("symbol").String()), nil
	case schemas.KindDecimal128:
		d, err := primitive.ParseDecimal128(get("value").String())
		if err != nil {
			return dst, dataErr(p, "%q is not a Decimal128", get("value").String())
		}
		return bsoncore.AppendDecimal128Element(dst, key, d), nil
	case schemas.KindTimestamp:
		return bsoncore.AppendTimestampElement(dst, key, uint32(get("t").Uint()), uint32(get("i").Uint())), nil
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
		return bsoncore.AppendDBPointerElement(dst, key, get("ref").String(), o), nil
	case schemas.KindCodeWithScope:
		scope := get("scope").Bytes()
		if err := rawbson.Validate(scope); err != nil {
			return dst, dataErr(p, "code scope is not a BSON document: %v", err)
		}
		return bsoncore.AppendCodeWithScopeElement(dst, key, get("code").String(), scope), nil
	}
	return dst, dataErr(p, "unsupported helper kind %s", k)
}

// path is a field path kept on the stack and formatted only for errors.
type path struct {
	parent *path
	name   string
	index  int
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

func dataErr(p *path, format string, args ...any) error {
	return &DataError{Path: p.String(), Msg: fmt.Sprintf(format, args...)}
}
