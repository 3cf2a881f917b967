package protobuf

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
)

// A msgPlan is what the codec needs of one message type, compiled once so
// that encoding and decoding look nothing up in descriptors: its fields
// with their numbers, wire types, BSON names and kinds, the order the
// deterministic marshaller writes them in, and the special shape
// classify() recognises.
type msgPlan struct {
	md       protoreflect.MessageDescriptor
	fullName protoreflect.FullName
	special  special
	kind     schemas.Kind // helperMsg
	fields   []*fieldPlan // declaration order, which decoding writes BSON in
	// byName maps a BSON name to the fields that carry it; oneof members
	// that share a json_name are several types of one BSON field.
	byName map[string][]*fieldPlan
	// order is the order proto.MarshalOptions{Deterministic: true} writes
	// a dynamic message's fields in (order.LegacyFieldOrder): fields
	// outside oneofs by number, then each oneof's in declaration order of
	// the oneofs, by number within one.
	order []*fieldPlan
	// byNum finds a field by number: dense when the numbers are small,
	// else the map numMap.
	byNum    []*fieldPlan
	numMap   map[protowire.Number]*fieldPlan
	required []*fieldPlan // proto2 required fields, in RequiredNumbers order
	oneofs   [][]*fieldPlan
	// sharedNames says two fields carry one BSON name (a oneof of kinds
	// beside its __more oneof, or json_names that collide), which decoding
	// must check.
	sharedNames bool
	nameGroups  int // number of distinct BSON names, when sharedNames
	// named finds the fields of the special shapes by name.
	named map[string]*fieldPlan
}

// A fieldPlan is one field of a msgPlan (or the key or value of a map
// entry).
type fieldPlan struct {
	fd        protoreflect.FieldDescriptor
	idx       int // declaration index in its message
	rank      int // position in its message's marshalling order
	num       protowire.Number
	kind      protoreflect.Kind
	wire      protowire.Type // of one value
	tag       []byte         // the tag of one value
	packedTag []byte         // the tag of a packed list
	name      string         // BSON name
	nameGroup int            // index of name among the message's names
	cands     []*fieldPlan   // the fields of its message that carry name
	list      bool
	isMap     bool
	packed    bool
	presence  bool // explicit presence: a zero value is still written
	oneof     int  // index of its (real) oneof, -1 outside one
	msg       *msgPlan
	enum      *enumPlan
	utf8      bool // strings must be valid UTF-8
	mapKey    *fieldPlan
	mapVal    *fieldPlan
	// def is the default value a missing singular field reads as.
	def protoreflect.Value
}

type enumPlan struct {
	fullName protoreflect.FullName
	null     bool // google.protobuf.NullValue: always BSON null
	byName   map[string]int32
	byNum    map[int32]string
}

var wireTypes = [...]protowire.Type{
	protoreflect.BoolKind: protowire.VarintType, protoreflect.EnumKind: protowire.VarintType,
	protoreflect.Int32Kind: protowire.VarintType, protoreflect.Sint32Kind: protowire.VarintType,
	protoreflect.Uint32Kind: protowire.VarintType, protoreflect.Int64Kind: protowire.VarintType,
	protoreflect.Sint64Kind: protowire.VarintType, protoreflect.Uint64Kind: protowire.VarintType,
	protoreflect.Sfixed32Kind: protowire.Fixed32Type, protoreflect.Fixed32Kind: protowire.Fixed32Type,
	protoreflect.FloatKind: protowire.Fixed32Type, protoreflect.Sfixed64Kind: protowire.Fixed64Type,
	protoreflect.Fixed64Kind: protowire.Fixed64Type, protoreflect.DoubleKind: protowire.Fixed64Type,
	protoreflect.StringKind: protowire.BytesType, protoreflect.BytesKind: protowire.BytesType,
	protoreflect.MessageKind: protowire.BytesType, protoreflect.GroupKind: protowire.StartGroupType,
}

// compilePlans returns the plan of md, with the plans of every message it
// reaches.
func compilePlans(md protoreflect.MessageDescriptor) *msgPlan {
	return (&planner{plans: map[protoreflect.FullName]*msgPlan{}, enums: map[protoreflect.FullName]*enumPlan{}}).message(md)
}

type planner struct {
	plans map[protoreflect.FullName]*msgPlan
	enums map[protoreflect.FullName]*enumPlan
}

func (pl *planner) message(md protoreflect.MessageDescriptor) *msgPlan {
	if mp := pl.plans[md.FullName()]; mp != nil {
		return mp
	}
	mp := &msgPlan{md: md, fullName: md.FullName(), byName: map[string][]*fieldPlan{}, named: map[string]*fieldPlan{}}
	pl.plans[md.FullName()] = mp
	mp.special, mp.kind = classify(md)
	fields := md.Fields()
	maxNum := protowire.Number(0)
	groups := map[string]int{}
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		fp := pl.field(fd)
		fp.idx = i
		fp.name = BSONName(fd)
		g, ok := groups[fp.name]
		if !ok {
			g = len(groups)
			groups[fp.name] = g
		} else {
			mp.sharedNames = true
		}
		fp.nameGroup = g
		mp.fields = append(mp.fields, fp)
		mp.byName[fp.name] = append(mp.byName[fp.name], fp)
		mp.named[string(fd.Name())] = fp
		maxNum = max(maxNum, fp.num)
	}
	mp.nameGroups = len(groups)
	for _, fp := range mp.fields {
		fp.cands = mp.byName[fp.name]
	}
	if maxNum <= 1024 {
		mp.byNum = make([]*fieldPlan, maxNum+1)
		for _, fp := range mp.fields {
			mp.byNum[fp.num] = fp
		}
	} else {
		mp.numMap = map[protowire.Number]*fieldPlan{}
		for _, fp := range mp.fields {
			mp.numMap[fp.num] = fp
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		var members []*fieldPlan
		for j := 0; j < od.Fields().Len(); j++ {
			fp := mp.fields[od.Fields().Get(j).Index()]
			fp.oneof = len(mp.oneofs)
			members = append(members, fp)
		}
		mp.oneofs = append(mp.oneofs, members)
	}
	mp.order = slices.Clone(mp.fields)
	slices.SortStableFunc(mp.order, func(x, y *fieldPlan) int {
		ox, oy := x.fd.ContainingOneof(), y.fd.ContainingOneof()
		inX, inY := ox != nil && !ox.IsSynthetic(), oy != nil && !oy.IsSynthetic()
		switch {
		case inX != inY:
			if !inX {
				return -1
			}
			return 1
		case inX && ox != oy:
			return ox.Index() - oy.Index()
		}
		return int(x.num) - int(y.num)
	})
	for i, fp := range mp.order {
		fp.rank = i
	}
	req := md.RequiredNumbers()
	for i := 0; i < req.Len(); i++ {
		mp.required = append(mp.required, mp.field(req.Get(i)))
	}
	return mp
}

func (pl *planner) field(fd protoreflect.FieldDescriptor) *fieldPlan {
	fp := &fieldPlan{
		fd:       fd,
		num:      fd.Number(),
		kind:     fd.Kind(),
		wire:     wireTypes[fd.Kind()],
		list:     fd.IsList(),
		isMap:    fd.IsMap(),
		packed:   fd.IsPacked(),
		presence: fd.HasPresence(),
		oneof:    -1,
		utf8:     enforceUTF8(fd),
	}
	fp.tag = protowire.AppendTag(nil, fp.num, fp.wire)
	fp.packedTag = protowire.AppendTag(nil, fp.num, protowire.BytesType)
	if fp.isMap {
		fp.mapKey = pl.field(fd.MapKey())
		fp.mapVal = pl.field(fd.MapValue())
		fp.wire = protowire.BytesType
		fp.tag = fp.packedTag
		return fp
	}
	if !fp.list && fd.Message() == nil {
		fp.def = fd.Default()
	}
	if md := fd.Message(); md != nil {
		fp.msg = pl.message(md)
	}
	if ed := fd.Enum(); ed != nil {
		fp.enum = pl.enum(ed)
	}
	return fp
}

func (pl *planner) enum(ed protoreflect.EnumDescriptor) *enumPlan {
	if ep := pl.enums[ed.FullName()]; ep != nil {
		return ep
	}
	ep := &enumPlan{fullName: ed.FullName(), null: ed.FullName() == "google.protobuf.NullValue", byName: map[string]int32{}, byNum: map[int32]string{}}
	values := ed.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		ep.byName[string(v.Name())] = int32(v.Number())
		ep.byNum[int32(v.Number())] = string(values.ByNumber(v.Number()).Name())
	}
	pl.enums[ed.FullName()] = ep
	return ep
}

// enforceUTF8 says whether a string field must hold valid UTF-8, as the
// protobuf runtime decides it: proto3 always, editions by the field's
// utf8_validation feature when the descriptor reports it, proto2 never.
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() == protoreflect.Editions {
		if e, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return e.EnforceUTF8()
		}
	}
	return fd.Syntax() == protoreflect.Proto3
}

// field returns the field numbered num, or nil.
func (mp *msgPlan) field(num protowire.Number) *fieldPlan {
	if mp.byNum != nil {
		if num >= 0 && int(num) < len(mp.byNum) {
			return mp.byNum[num]
		}
		return nil
	}
	return mp.numMap[num]
}
