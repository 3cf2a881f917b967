package evolution

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// handWrittenAvro is a first version written by hand: docs, aliases and
// custom properties on the record, its fields and its named types;
// defaults; logical types.
const handWrittenAvro = `{
  "type": "record", "name": "Order", "namespace": "shop.v1",
  "doc": "An order placed in the shop.",
  "aliases": ["shop.LegacyOrder"],
  "owner": "team-shop",
  "fields": [
    {"name": "_id", "type": "string", "doc": "the order number"},
    {"name": "customer", "type": "string", "aliases": ["client"], "doc": "who placed it", "pii": true},
    {"name": "quantity", "type": "int", "default": 1, "order": "descending"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PLACED", "SHIPPED"], "default": "PLACED", "doc": "where the order is"}, "default": "PLACED"},
    {"name": "gift", "type": ["null", {"type": "record", "name": "Gift", "doc": "a gift wrapping", "aliases": ["Wrapping"], "fields": [
      {"name": "message", "type": "string", "doc": "printed on the card", "maxLength": 140}
    ]}], "default": null},
    {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "when"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}, "doc": "the total"}
  ]
}`

// avroPython returns a Python interpreter that imports Apache Avro's
// reference implementation (Debian: python3-avro). CI installs it
// (.ci/run); elsewhere its absence skips the test.
func avroPython(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import avro.compatibility").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Apache Avro for Python is not installed; .ci/run installs python3-avro")
	}
	t.Skip("Apache Avro for Python not installed (apt-get install python3-avro); CI runs this test")
	return ""
}

// apacheAvroReads reports whether Apache Avro's reader/writer check lets
// reader read data written with writer, and its messages otherwise.
func apacheAvroReads(t testing.TB, python string, reader, writer []byte) (bool, string) {
	t.Helper()
	res := apacheAvroReadsAll(t, python, [][2][]byte{{reader, writer}})
	return res[0].ok, res[0].msg
}

type readsResult struct {
	ok  bool
	msg string
}

// apacheAvroReadsAll runs Apache Avro's reader/writer check on each pair
// (reader, writer) in one Python process.
func apacheAvroReadsAll(t testing.TB, python string, pairs [][2][]byte) []readsResult {
	t.Helper()
	var in []map[string]string
	for _, p := range pairs {
		in = append(in, map[string]string{"reader": string(p[0]), "writer": string(p[1])})
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pairs.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Python Avro 1.11's schema_name_equals compares names as written, so
	// "shop.v1.Order" differs from "Order" in namespace "shop.v1"; Java's
	// SchemaCompatibility, which Confluent runs, compares unqualified names.
	// The script compares them as Java does.
	const script = `
import sys, json, avro.schema, avro.compatibility
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
def schema_name_equals(reader, writer):
    aliases = reader.props.get("aliases")
    return reader.fullname.split(".")[-1] == writer.fullname.split(".")[-1] or (isinstance(aliases, list) and writer.fullname in aliases)
avro.compatibility.schema_name_equals = schema_name_equals
out = []
for p in json.load(open(sys.argv[1])):
    r = avro.schema.parse(p["reader"])
    w = avro.schema.parse(p["writer"])
    res = ReaderWriterCompatibilityChecker().get_compatibility(r, w)
    out.append([res.compatibility is SchemaCompatibilityType.compatible, "; ".join(sorted(res.messages))])
print(json.dumps(out))
`
	out, err := exec.Command(python, "-c", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("Apache Avro: %v\n%s", err, stderr)
	}
	var got [][2]any
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(pairs) {
		t.Fatalf("Apache Avro: %v: %s", err, out)
	}
	res := make([]readsResult, len(got))
	for i, g := range got {
		ok, _ := g[0].(bool)
		msg, _ := g[1].(string)
		res[i] = readsResult{ok, msg}
	}
	return res
}

// TestEvolveHandWrittenAvro evolves the hand-written v1 with documents
// that add coupon and gift.note and lack amount: v2 keeps every doc, alias, custom property, default, order and
// logical type of v1 (compared on the parsed schemas), the status enum
// carries the documents' strings, and Apache Avro's reader/writer check
// (the reference) says v2 reads v1's data, as our Check does at BACKWARD,
// and both refuse the other way.
// The documents encode with v2 and decode back.
func TestEvolveHandWrittenAvro(t *testing.T) {
	t.Parallel()
	python := avroPython(t)
	v1 := Schema{Format: schemas.Avro, Text: []byte(handWrittenAvro)}
	ds := docs(t, `{"_id": "o1", "customer": "ann", "quantity": 2, "status": "SHIPPED", "gift": {"message": "hi", "note": "wrap it"}, "placed_at": {"$date": "2026-01-02T03:04:05Z"}, "coupon": "SAVE10"}`)
	in := infer.New()
	for _, d := range ds {
		if err := in.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	text, err := in.Avro(infer.Options{Name: "Order", Namespace: "shop.v1"})
	if err != nil {
		t.Fatal(err)
	}
	v2, changed, err := Evolve(Backward, []Schema{v1}, Schema{Format: schemas.Avro, Text: text})
	if err != nil || !changed {
		t.Fatalf("Evolve: changed %v, %v", changed, err)
	}
	old, err := avro.Parse(v1.Text)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := avro.Parse(v2.Text)
	if err != nil {
		t.Fatalf("%v\n%s", err, v2.Text)
	}
	o, n := old.Root, nw.Root
	if n.Doc != o.Doc || !reflect.DeepEqual(n.Aliases, o.Aliases) || !reflect.DeepEqual(n.Props, o.Props) {
		t.Errorf("record doc %q aliases %v props %v, want %q %v %v", n.Doc, n.Aliases, n.Props, o.Doc, o.Aliases, o.Props)
	}
	byName := map[string]*avro.Field{}
	for _, f := range n.Fields {
		byName[f.Name] = f
	}
	for _, of := range o.Fields {
		nf := byName[of.Name]
		if nf == nil {
			t.Fatalf("field %s is gone\n%s", of.Name, v2.Text)
		}
		props := maps.Clone(nf.Props)
		if of.Name == "amount" {
			delete(props, schemas.PropOmitNull) // made optional: missing decodes as missing
		}
		if nf.Doc != of.Doc || !reflect.DeepEqual(nf.Aliases, of.Aliases) || !(len(props) == 0 && len(of.Props) == 0 || reflect.DeepEqual(props, of.Props)) || nf.Order != of.Order {
			t.Errorf("field %s: doc %q aliases %v props %v order %s, want %q %v %v %s", of.Name, nf.Doc, nf.Aliases, nf.Props, nf.Order, of.Doc, of.Aliases, of.Props, of.Order)
		}
		if of.Name == "amount" {
			continue // the documents lack it: it becomes optional, below
		}
		if nf.HasDefault != of.HasDefault || !reflect.DeepEqual(nf.Default, of.Default) {
			t.Errorf("field %s: default %v (%v), want %v (%v)", of.Name, nf.Default, nf.HasDefault, of.Default, of.HasDefault)
		}
	}
	if got := describeAvro(byName["status"].Type); got != `enum "shop.v1.Status"` {
		t.Errorf("status is %s, want the enum kept", got)
	}
	if st := byName["status"].Type; st.Doc != "where the order is" || st.EnumDefault != "PLACED" {
		t.Errorf("status enum doc %q default %q", st.Doc, st.EnumDefault)
	}
	if got := byName["placed_at"].Type; got.Kind != avro.Long || got.Logical != "timestamp-millis" {
		t.Errorf("placed_at is %s", describeAvro(got))
	}
	amount := byName["amount"]
	if !amount.HasDefault || amount.Default != nil || len(amount.Type.Branches) != 2 || amount.Type.Branches[1].Logical != "decimal" || amount.Type.Branches[1].Precision != 10 || amount.Type.Branches[1].Scale != 2 {
		t.Errorf("amount, which the documents lack, should be [null, decimal bytes] with a null default: %s", describeAvro(amount.Type))
	}
	gift := byName["gift"].Type.Branches[1]
	if gift.Doc != "a gift wrapping" || !reflect.DeepEqual(gift.Aliases, []string{"shop.v1.Wrapping"}) || len(gift.Fields) != 2 || gift.Fields[0].Doc != "printed on the card" || gift.Fields[0].Props["maxLength"] == nil || gift.Fields[1].Name != "note" {
		t.Errorf("gift record not kept and extended:\n%s", v2.Text)
	}
	if c := byName["coupon"]; c == nil || !c.HasDefault || c.Default != nil {
		t.Errorf("coupon not added as optional:\n%s", v2.Text)
	}

	ok, msg := apacheAvroReads(t, python, v2.Text, v1.Text)
	if !ok {
		t.Fatalf("Apache Avro: v2 cannot read v1's data: %s\n%s", msg, v2.Text)
	}
	res, err := Check(Backward, v2, []Schema{v1})
	if err != nil || !res.Compatible {
		t.Fatalf("Check BACKWARD: %v %v", res.Issues, err)
	}
	// The other way the two agree too: amount, now nullable, cannot be
	// read by v1, so neither the reference nor Check accepts FORWARD.
	if ok, _ := apacheAvroReads(t, python, v1.Text, v2.Text); ok {
		t.Error("Apache Avro: v1 reads v2's data, though amount became nullable")
	}
	if res, err := Check(Forward, v2, []Schema{v1}); err != nil || res.Compatible {
		t.Errorf("Check FORWARD: compatible %v, %v; want incompatible", res.Compatible, err)
	}

	sd, err := serde.New(v2.Text, serde.Options{Format: schemas.Avro, ID: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		frame, err := sd.Encode(nil, d)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		back, _, err := sd.Decode(frame)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got, want := unordered(t, back), unordered(t, d); got != want {
			t.Errorf("round trip\n got %s\nwant %s", got, want)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(v2.Text, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["owner"] != "team-shop" {
		t.Errorf("record property owner lost: %s", v2.Text)
	}
}
