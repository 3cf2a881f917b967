package protobuf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
)

// Codec converts BSON documents to and from one Protobuf message type,
// with no message in between: Encode walks the BSON bytes and appends wire
// bytes, Decode parses wire bytes and appends BSON, both through plans
// compiled once per message type by NewCodecWith. It is safe for
// concurrent use.
type Codec struct {
	md   protoreflect.MessageDescriptor
	root *msgPlan // the plan of md and, through it, of every message it holds
	// exactNumbers refuses number conversions that decode to another BSON
	// type (schemas.NumbersExact).
	exactNumbers bool
}

// CodecOptions configure a Codec. The zero value is the default.
type CodecOptions struct {
	// Numbers says which field types the encoder writes a BSON number to.
	// schemas.NumbersWiden (the default) also converts without loss: an
	// int32 into an int64 or a double field, an int64 into an int32 field
	// when it fits, or into a double when exact. schemas.NumbersExact
	// writes a number only to a field that decodes to its own BSON type
	// (int32: int32, sint32, sfixed32; int64: the 64-bit and unsigned
	// integers; double: double, float that holds it), so decoding restores
	// each BSON number type; a number with no such field or oneof member
	// is an error.
	Numbers schemas.Numbers
}

// DataError reports a value that does not fit the message, or bytes that do
// not decode.
type DataError struct {
	Path string // field path, like "address.zip" or "items[2]"
	Msg  string
}

// Error implements error.
func (e *DataError) Error() string {
	if e.Path == "" {
		return "protobuf: " + e.Msg
	}
	return fmt.Sprintf("protobuf: field %q: %s", e.Path, e.Msg)
}

type special int

const (
	plain special = iota
	listWrapper
	itemWrapper
	helperMsg
	timestampMsg
	valueWrapper // google.protobuf.*Value
)

// NewCodec returns a codec for md with the default options.
func NewCodec(md protoreflect.MessageDescriptor) *Codec { return NewCodecWith(md, CodecOptions{}) }

// NewCodecWith returns a codec for md configured by opts.
func NewCodecWith(md protoreflect.MessageDescriptor, opts CodecOptions) *Codec {
	return &Codec{md: md, root: compilePlans(md), exactNumbers: opts.Numbers == schemas.NumbersExact}
}

// Message returns the codec's message descriptor.
func (c *Codec) Message() protoreflect.MessageDescriptor { return c.md }

// BSONName is the BSON field name a field carries. For a member of a oneof
// that infer wrote for a field of several kinds, it is the oneof's BSON
// name. Otherwise it is the json_name when one was written explicitly (it
// differs from the default protoc derives), unescaped (UnescapeJSONName),
// else the field name.
func BSONName(fd protoreflect.FieldDescriptor) string {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && IsKindOneof(od) {
		// A oneof <field>__more carries more kinds of the field <field>,
		// which a repeated field, unable to join a oneof, needs.
		if base, ok := strings.CutSuffix(string(od.Name()), MoreSuffix); ok {
			if sib := fd.ContainingMessage().Fields().ByName(protoreflect.Name(base)); sib != nil {
				return BSONName(sib)
			}
			return base
		}
		members := od.Fields()
		for i := 0; i < members.Len(); i++ {
			if m := members.Get(i); m.JSONName() != DefaultJSONName(string(m.Name())) {
				return UnescapeJSONName(m.JSONName())
			}
		}
		return string(od.Name())
	}
	if fd.JSONName() != DefaultJSONName(string(fd.Name())) {
		return UnescapeJSONName(fd.JSONName())
	}
	return string(fd.Name())
}

// MoreSuffix ends the name of a oneof that carries further kinds of the
// field named by the rest of the oneof's name.
const MoreSuffix = "__more"

// IsKindOneof reports whether every member is named <oneof>_<kind>, with an
// optional _N suffix, as infer names the kinds of one BSON field.
func IsKindOneof(od protoreflect.OneofDescriptor) bool {
	members := od.Fields()
	for i := 0; i < members.Len(); i++ {
		if !IsKindMember(string(od.Name()), string(members.Get(i).Name())) {
			return false
		}
	}
	return true
}

// IsKindMember reports whether member is named <oneof>_<kind>, with an
// optional _N suffix, as infer names the members of a oneof of kinds.
func IsKindMember(oneof, member string) bool {
	rest, ok := strings.CutPrefix(member, oneof+"_")
	if !ok {
		return false
	}
	if j := strings.LastIndexByte(rest, '_'); j >= 0 {
		if _, err := strconv.Atoi(rest[j+1:]); err == nil {
			rest = rest[:j]
		}
	}
	return rest == "null" || slices.ContainsFunc(schemas.AllKinds(), func(k schemas.Kind) bool { return k.String() == rest })
}

// DefaultJSONName is the JSON name protoc derives from a field name:
// underscores dropped, the letter after each upper-cased.
func DefaultJSONName(s string) string {
	var b strings.Builder
	up := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

var valueWrappers = map[protoreflect.FullName]bool{
	"google.protobuf.DoubleValue": true, "google.protobuf.FloatValue": true,
	"google.protobuf.Int64Value": true, "google.protobuf.UInt64Value": true,
	"google.protobuf.Int32Value": true, "google.protobuf.UInt32Value": true,
	"google.protobuf.BoolValue": true, "google.protobuf.StringValue": true,
	"google.protobuf.BytesValue": true,
}

func classify(md protoreflect.MessageDescriptor) (special, schemas.Kind) {
	name := string(md.Name())
	fields := md.Fields()
	switch {
	case md.FullName() == "google.protobuf.Timestamp":
		return timestampMsg, 0
	case valueWrappers[md.FullName()]:
		return valueWrapper, 0
	case strings.HasSuffix(name, "_List") && fields.Len() == 1 && fields.Get(0).Name() == "values" && fields.Get(0).IsList():
		return listWrapper, 0
	case strings.HasSuffix(name, "_Item") && md.Oneofs().Len() == 1 && md.Oneofs().Get(0).Name() == "value" && md.Oneofs().Get(0).Fields().Len() == fields.Len():
		return itemWrapper, 0
	}
	if _, top := md.Parent().(protoreflect.FileDescriptor); top && strings.HasPrefix(name, "Bson") {
		for _, k := range schemas.AllKinds() {
			if schemas.ProtoHelperName(k) == name && helperShapeOK(md, k) {
				return helperMsg, k
			}
		}
	}
	return plain, 0
}

func helperShapeOK(md protoreflect.MessageDescriptor, k schemas.Kind) bool {
	want := map[schemas.Kind]string{
		schemas.KindBinaryOther: "subtype:uint32,data:bytes", schemas.KindUUID: "subtype:uint32,data:bytes",
		schemas.KindObjectID: "oid:bytes", schemas.KindRegex: "pattern:string,options:string",
		schemas.KindJavaScript: "code:string", schemas.KindDecimal128: "value:string",
		schemas.KindTimestamp: "t:uint32,i:uint32", schemas.KindDBPointer: "ref:string,id:bytes",
		schemas.KindSymbol: "symbol:string", schemas.KindCodeWithScope: "code:string,scope:bytes",
	}[k]
	var got []string
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		got = append(got, string(fields.Get(i).Name())+":"+fields.Get(i).Kind().String())
	}
	return strings.Join(got, ",") == want
}

// fail returns a DataError whose path the frames it returns through fill
// in (under, underIndex): the codec builds no path unless it fails.
func fail(format string, args ...any) error {
	return &DataError{Msg: fmt.Sprintf(format, args...)}
}

// under puts the path of err under field name. An empty name reads as
// "[0]", as paths have always written it.
func under[T string | []byte](err error, name T) error {
	if len(name) == 0 {
		return underIndex(err, 0)
	}
	if de, ok := err.(*DataError); ok {
		switch {
		case de.Path == "":
			de.Path = string(name)
		case de.Path[0] == '[':
			de.Path = string(name) + de.Path
		default:
			de.Path = string(name) + "." + de.Path
		}
	}
	return err
}

// underIndex puts the path of err under array index i.
func underIndex(err error, i int) error {
	if de, ok := err.(*DataError); ok {
		switch {
		case de.Path == "" || de.Path[0] == '[':
			de.Path = "[" + strconv.Itoa(i) + "]" + de.Path
		default:
			de.Path = "[" + strconv.Itoa(i) + "]." + de.Path
		}
	}
	return err
}
