package subject

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

// TestPlanIsWhatTheSourceRegisters plans against our registry over HTTP:
// an empty subject plans version 1 (what infer gives) and registers
// nothing until Apply; documents that fit plan no change; documents with
// a new field plan a version whose text is the one the source path then
// registers for the same document, with the change listed; at FORWARD a
// wider type is an *evolution.EvolveError naming the field.
func TestPlanIsWhatTheSourceRegisters(t *testing.T) {
	t.Parallel()
	for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			c := newRegistry(t)
			ctx := context.Background()
			enc, err := New(ctx, Options{Registry: c, Subject: "orders-value", Format: format, Level: evolution.Backward, Infer: inferOpts()})
			if err != nil {
				t.Fatal(err)
			}
			first := []bson.Raw{raw(t, `{"_id": 1, "status": "new"}`), raw(t, `{"_id": 2, "status": "paid"}`)}
			p, err := enc.Plan(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			in := infer.New()
			for _, d := range first {
				if err := in.Add(d); err != nil {
					t.Fatal(err)
				}
			}
			var want []byte
			if format == schemas.Avro {
				want, err = in.Avro(inferOpts())
			} else {
				want, err = in.Proto(inferOpts())
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.Changed || p.LatestVersion != 0 || string(p.Next.Text) != string(want) || len(p.Changes) != 0 {
				t.Fatalf("plan of an empty subject: changed %v latest %d changes %v\n%s\nwant\n%s", p.Changed, p.LatestVersion, p.Changes, p.Next.Text, want)
			}
			if _, err := c.Versions(ctx, "orders-value", false); !isNotFound(err) {
				t.Fatalf("Plan registered something: %v", err)
			}
			id, version, err := enc.Apply(ctx, p)
			if err != nil || version != 1 || id == 0 {
				t.Fatalf("Apply: id %d version %d, %v", id, version, err)
			}

			p, err = enc.Plan(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			if p.Changed || p.Fitting != 2 || p.LatestVersion != 1 || p.LatestID != id || string(p.Next.Text) != string(p.Latest.Text) {
				t.Fatalf("plan of fitting documents: changed %v fitting %d latest %d/%d", p.Changed, p.Fitting, p.LatestVersion, p.LatestID)
			}

			if v1, err := c.Version(ctx, "orders-value", 1, false); err != nil || v1.Schema != string(p.Next.Text) {
				t.Fatalf("plan of fitting documents: next is not version 1: %v\n%s", err, p.Next.Text)
			}

			coupon := raw(t, `{"_id": 3, "status": "paid", "coupon": "SAVE10"}`)
			p, err = enc.Plan(ctx, append(first, coupon))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Changed || p.Fitting != 2 || len(p.Changes) != 1 || p.Changes[0].Kind != evolution.ChangeAdded || p.Changes[0].Field != "coupon" {
				t.Fatalf("plan with coupon: changed %v fitting %d changes %v", p.Changed, p.Fitting, p.Changes)
			}
			if vs, err := c.Versions(ctx, "orders-value", false); err != nil || len(vs) != 1 {
				t.Fatalf("Plan registered something: %v %v", vs, err)
			}
			// The source path, given the same document, registers the
			// planned version.
			if _, err := enc.Encode(ctx, nil, coupon); err != nil {
				t.Fatal(err)
			}
			got, err := c.Version(ctx, "orders-value", 2, false)
			if err != nil {
				t.Fatal(err)
			}
			if trim([]byte(got.Schema)) != trim(p.Next.Text) {
				t.Errorf("the source registered\n%s\nthe plan said\n%s", got.Schema, p.Next.Text)
			}

			fwd, err := New(ctx, Options{Registry: c, Subject: "orders-value", Format: format, Level: evolution.Forward, Infer: inferOpts()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = fwd.Plan(ctx, []bson.Raw{raw(t, `{"_id": 4, "status": 5}`)})
			var ee *evolution.EvolveError
			if !errors.As(err, &ee) || ee.Field != "status" || ee.Rule != evolution.RuleLevelForbidsChange {
				t.Fatalf("FORWARD plan of a new kind: %v", err)
			}
		})
	}
}

// trim drops the blanks around a schema's text, and within JSON, as the
// registry does.
func trim(b []byte) string {
	var c bytes.Buffer
	if json.Compact(&c, b) == nil {
		return c.String()
	}
	return strings.TrimSpace(string(b))
}

func isNotFound(err error) bool {
	var re *registry.Error
	return errors.As(err, &re) && re.Code == registry.CodeSubjectNotFound
}

// TestHandWrittenSubject: a subject whose first version was written by
// hand, under other names than the source's, evolves under its own names,
// keeping its comments and options, through the source path itself.
func TestHandWrittenSubject(t *testing.T) {
	t.Parallel()
	c := newRegistry(t)
	ctx := context.Background()
	const v1 = `syntax = "proto3";

package shop.v1;

option go_package = "example.com/shop/gen/shopv1";

// An order.
message Order {
  reserved 3;
  reserved "legacy";
  string _id = 1; // the order number
  string status = 2;
}
`
	if _, err := c.Register(ctx, "orders-value", registry.RegisterRequest{Schema: v1, SchemaType: registry.TypeProtobuf}, false); err != nil {
		t.Fatal(err)
	}
	enc, err := New(ctx, Options{Registry: c, Subject: "orders-value", Format: schemas.Protobuf, Level: evolution.Backward, Infer: infer.Options{Name: "orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(ctx, nil, raw(t, `{"_id": "o1", "status": "paid", "legacy": true}`)); err != nil {
		t.Fatal(err)
	}
	v2, err := c.Version(ctx, "orders-value", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(v1, "  string status = 2;\n", "  string status = 2;\n  optional bool legacy_2 = 4 [json_name = \"legacy\"];\n", 1)
	if trim([]byte(v2.Schema)) != trim([]byte(want)) {
		t.Errorf("version 2\n%q\nwant\n%q", v2.Schema, want)
	}
}
