package evolution

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// randomHandWrittenAvro writes a random first version over propNames,
// with docs, aliases, custom properties, orders, defaults and logical
// types, and returns it with the type of each field.
func randomHandWrittenAvro(r *rand.Rand) (string, map[string]string) {
	types := map[string]string{}
	names := slices.Clone(propNames)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	var fields []string
	for i, name := range names[:1+r.IntN(4)] {
		kinds := []string{"string", "int", "long", "double", "boolean", "Inner", "Status", "date"}
		kind := kinds[r.IntN(len(kinds))]
		if kind == "Inner" || kind == "Status" {
			if slices.Contains(slices.Collect(maps.Values(types)), kind) {
				kind = "string" // a named type is defined once
			}
		}
		types[name] = kind
		var typ string
		def := ""
		switch kind {
		case "Inner":
			typ = `{"type": "record", "name": "Inner", "doc": "a nested record", "aliases": ["OldInner"], "fields": [{"name": "k", "type": "string", "doc": "the key", "maxLength": 9}]}`
		case "Status":
			typ = `{"type": "enum", "name": "Status", "symbols": ["PLACED", "SHIPPED"], "default": "PLACED", "doc": "where"}`
			def = `, "default": "PLACED"`
		case "date":
			typ = `{"type": "long", "logicalType": "timestamp-millis"}`
		default:
			typ = fmt.Sprintf("%q", kind)
			if r.IntN(2) == 0 {
				def = map[string]string{"string": `, "default": ""`, "int": `, "default": 0`, "long": `, "default": 7`, "double": `, "default": 1.5`, "boolean": `, "default": false`}[kind]
			}
		}
		if r.IntN(3) == 0 && kind != "Status" {
			typ = `["null", ` + typ + `]`
			def = `, "default": null`
		}
		extra := ""
		if r.IntN(2) == 0 {
			extra += fmt.Sprintf(`, "doc": "field %d, by hand"`, i)
		}
		if r.IntN(3) == 0 {
			extra += fmt.Sprintf(`, "aliases": ["was_%s"]`, name)
		}
		if r.IntN(3) == 0 {
			extra += `, "pii": true, "tags": ["a", "b"]`
		}
		if r.IntN(4) == 0 {
			extra += `, "order": "descending"`
		}
		fields = append(fields, fmt.Sprintf(`{"name": %q, "type": %s%s%s}`, name, typ, def, extra))
	}
	return fmt.Sprintf(`{"type": "record", "name": "Order", "namespace": "shop", "doc": "An order, by hand.", "aliases": ["shop.OldOrder"], "owner": {"team": "shop"}, "fields": [%s]}`, strings.Join(fields, ", ")), types
}

func randomAvroDoc(r *rand.Rand, types map[string]string, id int) bson.D {
	d := bson.D{}
	kinds := []func() any{
		func() any { return "s" },
		func() any { return int32(r.IntN(100)) },
		func() any { return int64(1) << 40 },
		func() any { return 1.5 },
		func() any { return true },
		func() any { return bson.D{{Key: "k", Value: "v"}} },
	}
	for _, name := range propNames {
		if r.IntN(2) == 0 {
			continue
		}
		switch typ := types[name]; {
		case typ == "Status":
			d = append(d, bson.E{Key: name, Value: "SHIPPED"})
		case typ != "" && r.IntN(3) > 0:
			v := map[string]any{"string": "s", "int": int32(3), "long": int64(1) << 40, "double": 2.5, "boolean": false, "Inner": bson.D{{Key: "k", Value: "v"}, {Key: "extra", Value: int32(id)}}, "date": primitive.DateTime(1767323045000)}[typ]
			d = append(d, bson.E{Key: name, Value: v})
		default:
			d = append(d, bson.E{Key: name, Value: kinds[r.IntN(len(kinds))]()})
		}
	}
	return d
}

// TestEvolveHandWrittenAvroProperties evolves random hand-written Avro
// first versions through random documents at random levels. Every version
// keeps the record's doc, aliases and properties, and each first-version
// field's doc, aliases, properties (bsonOmitNull aside), order and
// logical types; Check passes at the level; Apache Avro's reader/writer
// check agrees that the version reads the one before (and, at FULL, the
// other way); the documents it was made for encode and decode.
func TestEvolveHandWrittenAvroProperties(t *testing.T) {
	t.Parallel()
	python := avroPython(t)
	levels := []Level{Backward, BackwardTransitive, None, Full, ForwardTransitive}
	var versions, refused int
	// The pairs (reader, writer) Apache Avro must accept, checked at the end
	// in one Python process.
	var pairs [][2][]byte
	var labels []string
	for seed := range uint64(16) {
		r := rand.New(rand.NewPCG(seed, 29))
		text, types := randomHandWrittenAvro(r)
		v1 := Schema{Format: schemas.Avro, Text: []byte(text)}
		first, err := avro.Parse(v1.Text)
		if err != nil {
			t.Fatalf("seed %d: the generator wrote a bad v1: %v\n%s", seed, err, text)
		}
		level := levels[r.IntN(len(levels))]
		history := []Schema{v1}
		for round := range 3 {
			in := infer.New()
			var batch []bson.Raw
			for i := range 1 + r.IntN(3) {
				raw, err := bson.Marshal(randomAvroDoc(r, types, round*10+i))
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, raw)
				if err := in.Add(raw); err != nil {
					t.Fatal(err)
				}
			}
			inf, err := in.Avro(infer.Options{Name: "Order", Namespace: "shop"})
			if err != nil {
				t.Fatal(err)
			}
			prev := history[len(history)-1]
			next, changed, err := Evolve(level, history, Schema{Format: schemas.Avro, Text: inf})
			var ee *EvolveError
			if errors.As(err, &ee) && level.Forward() {
				refused++
				continue
			}
			if err != nil {
				t.Fatalf("seed %d round %d level %s: %v\nlatest:\n%s\ninferred:\n%s", seed, round, level, err, prev.Text, inf)
			}
			if !changed {
				continue
			}
			versions++
			now, err := avro.Parse(next.Text)
			if err != nil {
				t.Fatal(err)
			}
			if now.Root.Doc != first.Root.Doc || !reflect.DeepEqual(now.Root.Aliases, first.Root.Aliases) || !reflect.DeepEqual(now.Root.Props, first.Root.Props) {
				t.Fatalf("seed %d round %d: the record lost its doc, aliases or properties\n%s", seed, round, next.Text)
			}
			for _, of := range first.Root.Fields {
				i := slices.IndexFunc(now.Root.Fields, func(f *avro.Field) bool { return f.Name == of.Name })
				if i < 0 {
					t.Fatalf("seed %d: field %s is gone", seed, of.Name)
				}
				nf := now.Root.Fields[i]
				props := maps.Clone(nf.Props)
				delete(props, schemas.PropOmitNull)
				if nf.Doc != of.Doc || !reflect.DeepEqual(nf.Aliases, of.Aliases) || !(len(props) == 0 && len(of.Props) == 0 || reflect.DeepEqual(props, of.Props)) || nf.Order != of.Order {
					t.Fatalf("seed %d round %d: field %s lost its doc, aliases, properties or order\nv1:\n%s\nnow:\n%s", seed, round, of.Name, text, next.Text)
				}
				for _, ob := range nonNull(of.Type) {
					if ob.Logical == "" && ob.Doc == "" {
						continue
					}
					kept := slices.ContainsFunc(nonNull(nf.Type), func(nb *avro.Type) bool {
						return nb.Kind == ob.Kind && nb.Logical == ob.Logical && nb.Doc == ob.Doc
					}) || ob.Logical == "timestamp-millis" && slices.ContainsFunc(nonNull(nf.Type), func(nb *avro.Type) bool { return nb.Name == "bson.Date" })
					if !kept {
						t.Fatalf("seed %d round %d: field %s lost its %s %s\nnow:\n%s", seed, round, of.Name, ob.Kind, ob.Logical, next.Text)
					}
				}
			}
			res, err := Check(level, next, history)
			if err != nil || !res.Compatible {
				t.Fatalf("seed %d round %d: Check %s: %v %v\n%s", seed, round, level, res.Issues, err, next.Text)
			}
			what := fmt.Sprintf("seed %d round %d (%s)", seed, round, level)
			if level != None {
				pairs = append(pairs, [2][]byte{next.Text, prev.Text})
				labels = append(labels, what+": the version cannot read the one before")
			}
			if level.Forward() {
				pairs = append(pairs, [2][]byte{prev.Text, next.Text})
				labels = append(labels, what+": the version before cannot read this one")
			}
			sd, err := serde.New(next.Text, serde.Options{Format: schemas.Avro, ID: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range batch {
				frame, err := sd.Encode(nil, d)
				if err != nil {
					t.Fatalf("seed %d round %d: encode %s: %v\n%s", seed, round, d, err, next.Text)
				}
				if _, _, err := sd.Decode(frame); err != nil {
					t.Fatalf("seed %d round %d: decode: %v", seed, round, err)
				}
			}
			history = append(history, next)
		}
	}
	for i, res := range apacheAvroReadsAll(t, python, pairs) {
		if !res.ok {
			t.Errorf("Apache Avro: %s: %s\nreader:\n%s\nwriter:\n%s", labels[i], res.msg, pairs[i][0], pairs[i][1])
		}
	}
	t.Logf("%d versions, %d refusals, %d pairs checked by Apache Avro", versions, refused, len(pairs))
	if versions < 16 {
		t.Errorf("only %d versions made", versions)
	}
}
