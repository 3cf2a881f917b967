package protobuf

import (
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

// Decode decodes Protobuf binary of the codec's message type into a BSON
// document. Unknown fields are an error: the data was written with another
// schema than the one it is read with, and dropping them would lose data.
func (c *Codec) Decode(data []byte) (bson.Raw, error) {
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

func (c *Codec) decodeFields(dst []byte, m protoreflect.Message, p *path) ([]byte, error) {
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

func (c *Codec) appendField(dst []byte, key string, fd protoreflect.FieldDescriptor, v protoreflect.Value, p *path) ([]byte, error) {
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

func (c *Codec) appendValue(dst []byte, key string, fd protoreflect.FieldDescriptor, v protoreflect.Value, p *path) ([]byte, error) {
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

func (c *Codec) appendMessage(dst []byte, key string, m protoreflect.Message, p *path) ([]byte, error) {
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
		return appendHelper(dst, key, m, mi.kind, p)
	}
	idx, out := bsoncore.AppendDocumentElementStart(dst, key)
	out, err := c.decodeFields(out, m, p)
	if err != nil {
		return dst, err
	}
	return bsoncore.AppendDocumentEnd(out, idx)
}

func appendHelper(dst []byte, key string, m protoreflect.Message, k schemas.Kind, p *path) ([]byte, error) {
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
