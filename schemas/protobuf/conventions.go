package protobuf

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
)

// The naming conventions by which a Protobuf schema carries what Protobuf
// has no type for: arrays that must keep [] apart from a missing field,
// array elements of several kinds, and the BSON types without a Protobuf
// counterpart. schemas/infer writes schemas by them; evolution (which
// reads a registered schema's BSON kinds back) and this package's codec
// read them. This file is their one definition.
const (
	// ListSuffix ends the name of a message standing for an array: its
	// one field, ListField, is repeated ("Tags_List { repeated string
	// values = 1; }").
	ListSuffix = "_List"
	// ListField is the one field of a _List message.
	ListField = "values"
	// ItemSuffix ends the name of a message standing for one element of
	// an array whose elements have several kinds: its one oneof,
	// ItemOneof, has a member per kind.
	ItemSuffix = "_Item"
	// ItemOneof is the oneof of an _Item message.
	ItemOneof = "value"
	// HelperPrefix starts the names of the top-level helper messages
	// (BsonObjectId, BsonDecimal128, ...) that carry BSON types; see
	// HelperName.
	HelperPrefix = "Bson"
)

// IsListName reports whether a message name follows the _List convention.
func IsListName(name string) bool { return strings.HasSuffix(name, ListSuffix) }

// IsItemName reports whether a message name follows the _Item convention.
func IsItemName(name string) bool { return strings.HasSuffix(name, ItemSuffix) }

// HelperName is the name of the top-level helper message for BSON kind k
// ("BsonObjectId"), or "" when k maps to a scalar or a well-known type.
// KindUUID and KindBinaryOther share BsonBinary.
func HelperName(k schemas.Kind) string { return schemas.ProtoHelperName(k) }

// HelperField is a field of a helper message.
type HelperField struct {
	Name string
	Kind protoreflect.Kind
}

// HelperFields are the fields of the helper message for k, numbered from
// 1 in order; nil for the kinds that carry no data (MinKey, MaxKey,
// Undefined) or have no helper.
func HelperFields(k schemas.Kind) []HelperField {
	u32, str, byt := protoreflect.Uint32Kind, protoreflect.StringKind, protoreflect.BytesKind
	switch k {
	case schemas.KindUUID, schemas.KindBinaryOther:
		return []HelperField{{"subtype", u32}, {"data", byt}}
	case schemas.KindObjectID:
		return []HelperField{{"oid", byt}}
	case schemas.KindRegex:
		return []HelperField{{"pattern", str}, {"options", str}}
	case schemas.KindJavaScript:
		return []HelperField{{"code", str}}
	case schemas.KindDecimal128:
		return []HelperField{{"value", str}}
	case schemas.KindTimestamp:
		return []HelperField{{"t", u32}, {"i", u32}}
	case schemas.KindDBPointer:
		return []HelperField{{"ref", str}, {"id", byt}}
	case schemas.KindSymbol:
		return []HelperField{{"symbol", str}}
	case schemas.KindCodeWithScope:
		return []HelperField{{"code", str}, {"scope", byt}}
	}
	return nil
}

// HelperKind returns the BSON kind a message stands for when it is a
// helper message: declared at the top of its file, named HelperName(k)
// and holding HelperFields(k). BsonBinary gives KindBinaryOther (it
// carries UUIDs too). A nested message of a helper's name is a document's.
func HelperKind(md protoreflect.MessageDescriptor) (schemas.Kind, bool) {
	name := string(md.Name())
	if _, top := md.Parent().(protoreflect.FileDescriptor); !top || !strings.HasPrefix(name, HelperPrefix) {
		return 0, false
	}
	for _, k := range schemas.AllKinds() {
		if k == schemas.KindUUID || HelperName(k) != name {
			continue
		}
		want, fields := HelperFields(k), md.Fields()
		if fields.Len() != len(want) {
			return 0, false
		}
		for i, f := range want {
			if fd := fields.Get(i); string(fd.Name()) != f.Name || fd.Kind() != f.Kind {
				return 0, false
			}
		}
		return k, true
	}
	return 0, false
}
