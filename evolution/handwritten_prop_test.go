package evolution

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/internal/protoctest"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

// propNames are the BSON field names of the property test: hand-written
// fields, reserved names and document fields are drawn from them.
var propNames = []string{"a", "b", "c", "total", "legacy", "old_total", "note", "d_e"}

// handWritten is a random hand-written first version, with what must
// survive evolution: its comments, options, reservations and service.
type handWritten struct {
	text     string
	fields   map[string]string // field name -> "string", "int32", ..., "Inner", "Status"
	reserved []string
	kept     []string // lines every version must hold verbatim
}

func randomHandWritten(r *rand.Rand) handWritten {
	h := handWritten{fields: map[string]string{}}
	var b strings.Builder
	line := func(s string, keep bool) {
		b.WriteString(s + "\n")
		if keep && strings.TrimSpace(s) != "" {
			h.kept = append(h.kept, s)
		}
	}
	line("// A hand-written schema.", true)
	line(`syntax = "proto3";`, true)
	line("", false)
	line("package shop.v1;", true)
	line("", false)
	if r.IntN(2) == 0 {
		line(`option go_package = "example.com/shop/gen/shopv1";`, true)
	}
	if r.IntN(2) == 0 {
		line(`option java_package = "com.example.shop.v1";`, true)
		line("option java_multiple_files = true;", true)
	}
	line("", false)
	line("// The document.", true)
	line("message Order {", true)
	if r.IntN(2) == 0 {
		line("  option deprecated = false;", true)
	}
	names := slices.Clone(propNames)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	nFields := 1 + r.IntN(4)
	fields, rest := names[:nFields], names[nFields:]
	// Reserved names: some names no field has (documents may still bring
	// them).
	nRes := r.IntN(3)
	h.reserved = rest[:nRes]
	number := 1
	var ranges []string
	var decls []string
	types := []string{"string", "int32", "int64", "double", "bool", "Inner", "Status"}
	for i, f := range fields {
		typ := types[r.IntN(len(types))]
		h.fields[f] = typ
		label := ""
		if r.IntN(3) == 0 && typ != "Inner" {
			label = "optional "
		}
		opts := ""
		if r.IntN(3) == 0 {
			opts = " [deprecated = true]"
		}
		comment := ""
		if r.IntN(2) == 0 {
			decls = append(decls, fmt.Sprintf("  // Field %s, written by hand (%d).", f, i))
		}
		if r.IntN(2) == 0 {
			comment = fmt.Sprintf(" // trailing %d", i)
		}
		decls = append(decls, fmt.Sprintf("  %s%s %s = %d%s;%s", label, typ, f, number, opts, comment))
		number++
		if r.IntN(2) == 0 { // a gap, reserved
			gap := 1 + r.IntN(3)
			if gap == 1 {
				ranges = append(ranges, fmt.Sprint(number))
			} else {
				ranges = append(ranges, fmt.Sprintf("%d to %d", number, number+gap-1))
			}
			number += gap
		}
	}
	if len(ranges) > 0 {
		line("  reserved "+strings.Join(ranges, ", ")+";", true)
	}
	if len(h.reserved) > 0 {
		quoted := make([]string, len(h.reserved))
		for i, n := range h.reserved {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		line("  reserved "+strings.Join(quoted, ", ")+";", true)
	}
	for _, d := range decls {
		// Declarations of a field may be edited (a wider type, a oneof):
		// their comments must stay.
		line(d, strings.HasPrefix(strings.TrimSpace(d), "//"))
	}
	line("", false)
	line("  // A nested message.", true)
	line("  message Inner {", true)
	line("    string k = 1; // inner", false)
	line("  }", false)
	line("", false)
	line("  enum Status {", true)
	line("    STATUS_UNSPECIFIED = 0;", true)
	line("    PLACED = 1;", true)
	line("  }", true)
	line("}", false)
	line("", false)
	line("// Looks orders up.", true)
	line("service Orders {", true)
	line("  rpc Get(Order) returns (Order); // the only call", true)
	line("}", true)
	h.text = b.String()
	return h
}

// randomHandDoc is a document over propNames: a hand-written field gets a
// value of its type most of the time, else of a random kind; an enum
// field gets a symbol.
func randomHandDoc(r *rand.Rand, h handWritten, id int) bson.D {
	d := bson.D{{Key: "_id", Value: int32(id)}}
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
		switch typ := h.fields[name]; {
		case typ == "Status":
			d = append(d, bson.E{Key: name, Value: "PLACED"})
		case typ != "" && r.IntN(3) > 0:
			v := map[string]any{"string": "s", "int32": int32(3), "int64": int64(1) << 40, "double": 2.5, "bool": false, "Inner": bson.D{{Key: "k", Value: "v"}}}[typ]
			d = append(d, bson.E{Key: name, Value: v})
		default:
			d = append(d, bson.E{Key: name, Value: kinds[r.IntN(len(kinds))]()})
		}
	}
	return d
}

// TestEvolveHandWrittenProperties evolves random hand-written first
// versions (options, comments, reserved ranges and names, deprecated
// fields, an enum, a nested message, a service) through random documents
// at random levels. Every version protoc compiles; it holds every comment,
// option, reservation and service line of the first version verbatim;
// no field takes a reserved number or name; Check passes at the level
// against the history; and it encodes the documents it was made for. A
// refusal is an *EvolveError, and only at levels that forbid widening.
func TestEvolveHandWrittenProperties(t *testing.T) {
	t.Parallel()
	bin := protoctest.Path(t)
	levels := []Level{Backward, BackwardTransitive, None, Full, ForwardTransitive}
	// What the run exercised: versions made, reserved names a document
	// brought, hand-written fields moved into a oneof, refusals.
	var versions, reservedHits, moved, refused int
	for seed := range uint64(24) {
		r := rand.New(rand.NewPCG(seed, 13))
		h := randomHandWritten(r)
		level := levels[r.IntN(len(levels))]
		v1 := Schema{Format: schemas.Protobuf, Text: []byte(h.text)}
		if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": v1.Text}); err != nil {
			t.Fatalf("seed %d: the generator wrote a bad v1: %v\n%s", seed, err, h.text)
		}
		history := []Schema{v1}
		for round := range 3 {
			in := infer.New()
			var batch []bson.Raw
			for i := range 1 + r.IntN(3) {
				raw, err := bson.Marshal(randomHandDoc(r, h, round*10+i))
				if err != nil {
					t.Fatal(err)
				}
				batch = append(batch, raw)
				if err := in.Add(raw); err != nil {
					t.Fatal(err)
				}
			}
			text, err := in.Proto(infer.Options{Name: "Order", Namespace: "shop.v1"})
			if err != nil {
				t.Fatal(err)
			}
			next, changed, err := Evolve(level, history, Schema{Format: schemas.Protobuf, Text: text})
			var ee *EvolveError
			if errors.As(err, &ee) && level.Forward() {
				refused++
				continue // FULL forbids the change: a typed refusal
			}
			if err != nil {
				t.Fatalf("seed %d round %d level %s: %v\n%s", seed, round, level, err, history[len(history)-1].Text)
			}
			if !changed {
				continue
			}
			if err := protoctest.Compile(t, bin, map[string][]byte{"doc.proto": next.Text}); err != nil {
				t.Fatalf("seed %d round %d: %v\n%s", seed, round, err, next.Text)
			}
			lines := strings.Split(string(next.Text), "\n")
			for _, k := range h.kept {
				if !slices.Contains(lines, k) {
					t.Fatalf("seed %d round %d: the line %q of v1 is gone\nv1:\n%s\nnow:\n%s", seed, round, k, h.text, next.Text)
				}
			}
			checkReserved(t, v1, next)
			res, err := Check(level, next, history)
			if err != nil || !res.Compatible {
				t.Fatalf("seed %d round %d: Check %s: %v %v\n%s", seed, round, level, res.Issues, err, next.Text)
			}
			pf, err := parseProto(next)
			if err != nil {
				t.Fatal(err)
			}
			codec := protobuf.NewCodec(pf.fd.Messages().Get(0))
			for _, d := range batch {
				if _, err := codec.Encode(nil, d); err != nil {
					t.Fatalf("seed %d round %d: encode %s: %v\n%s", seed, round, d, err, next.Text)
				}
			}
			history = append(history, next)
			versions++
			for _, n := range h.reserved {
				if strings.Contains(string(next.Text), fmt.Sprintf("[json_name = %q]", n)) {
					reservedHits++
				}
			}
			for f := range h.fields {
				if strings.Contains(string(next.Text), "oneof "+f+" {") {
					moved++
				}
			}
		}
	}
	t.Logf("%d versions, %d reserved names carried in json_name, %d hand-written fields in oneofs, %d refusals", versions, reservedHits, moved, refused)
	if versions < 24 || reservedHits == 0 || moved == 0 || refused == 0 {
		t.Errorf("the run exercised too little: %d versions, %d reserved names, %d moves, %d refusals", versions, reservedHits, moved, refused)
	}
}
