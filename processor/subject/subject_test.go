package subject

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/testenv"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
)

func newRegistry(t *testing.T) *registry.Client {
	t.Helper()
	c, _ := testenv.Registry(t, registry.ClientOptions{})
	return c
}

func raw(t *testing.T, ext string) bson.Raw {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(ext), true, &d); err != nil {
		t.Fatal(err)
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func canonical(t *testing.T, d any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, true, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roundTrip decodes a frame through the registry, as a sink would.
func roundTrip(t *testing.T, c *registry.Client, frame []byte) string {
	t.Helper()
	d, err := decode.New(decode.Options{Registry: c}).Decode(context.Background(), frame)
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, d)
}

// Documents whose shape changes make one new version per change, each
// registered (and so accepted by the registry's own check) and each able to
// decode what was written with it.
func TestEvolvingShapes(t *testing.T) {
	t.Parallel()
	for _, format := range []schemas.Format{schemas.Avro, schemas.Protobuf} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			c := newRegistry(t)
			ctx := context.Background()
			enc, err := New(ctx, Options{Registry: c, Subject: "orders-value", Format: format, Infer: inferOpts()})
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				doc        string
				registered int64
			}{
				{`{"_id": {"$numberInt": "1"}, "status": "new"}`, 1},
				{`{"_id": {"$numberInt": "2"}, "status": "paid"}`, 1},
				{`{"_id": {"$numberInt": "3"}, "status": "paid", "total": {"$numberInt": "7"}}`, 2},
				{`{"_id": {"$numberInt": "4"}, "status": "paid", "total": {"$numberLong": "9000000000"}}`, 3},
				{`{"_id": {"$numberInt": "5"}, "status": "paid", "total": {"$numberInt": "8"}}`, 3},
				{`{"_id": {"$numberInt": "6"}, "status": "paid", "address": {"city": "Oslo"}}`, 4},
			}
			for i, s := range steps {
				doc := raw(t, s.doc)
				frame, err := enc.Encode(ctx, nil, doc)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := enc.Stats().Registered; got != s.registered {
					t.Fatalf("step %d: %d versions registered, want %d", i, got, s.registered)
				}
				back := roundTrip(t, c, frame)
				want := canonical(t, doc)
				if i == 4 {
					// total is a long from version 3 on.
					want = canonical(t, raw(t, `{"_id": {"$numberInt": "5"}, "status": "paid", "total": {"$numberLong": "8"}}`))
				}
				if back != want {
					t.Fatalf("step %d: round trip\n got %s\nwant %s", i, back, want)
				}
			}
			versions, err := c.Versions(ctx, "orders-value", false)
			if err != nil || len(versions) != 4 {
				t.Fatalf("versions %v, %v; want 4", versions, err)
			}
			// A new Encoder starts from the latest version and needs no
			// registration for a shape it already covers.
			again, err := New(ctx, Options{Registry: c, Subject: "orders-value", Format: format, Infer: inferOpts()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := again.Encode(ctx, nil, raw(t, steps[3].doc)); err != nil || again.Stats().Registered != 0 {
				t.Fatalf("restart: err %v, registered %d", err, again.Stats().Registered)
			}
		})
	}
}

// At FORWARD, a change old readers cannot take is an EvolveError naming
// the field, and nothing is registered.
func TestForwardRefuses(t *testing.T) {
	t.Parallel()
	c := newRegistry(t)
	ctx := context.Background()
	if err := c.SetConfig(ctx, "orders-value", "FORWARD"); err != nil {
		t.Fatal(err)
	}
	enc, err := New(ctx, Options{Registry: c, Subject: "orders-value", Infer: inferOpts()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(ctx, nil, raw(t, `{"_id": 1, "n": {"$numberInt": "1"}}`)); err != nil {
		t.Fatal(err)
	}
	_, err = enc.Encode(ctx, nil, raw(t, `{"_id": 2, "n": "one"}`))
	var ee *evolution.EvolveError
	if !errors.As(err, &ee) || ee.Field != "n" || ee.Level != evolution.Forward {
		t.Fatalf("err = %v, want an EvolveError on n at FORWARD", err)
	}
	if enc.Stats().Registered != 1 {
		t.Fatalf("registered %d, want 1", enc.Stats().Registered)
	}
}

// Two daemons on one subject: the one with a stale view meets a conflict,
// reloads, and evolves from the other's version.
func TestTwoWriters(t *testing.T) {
	t.Parallel()
	c := newRegistry(t)
	ctx := context.Background()
	if err := c.SetConfig(ctx, "orders-value", "BACKWARD_TRANSITIVE"); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Registry: c, Subject: "orders-value", Infer: inferOpts()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, Options{Registry: c, Subject: "orders-value", Infer: inferOpts()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Encode(ctx, nil, raw(t, `{"_id": 1, "status": "new"}`)); err != nil {
		t.Fatal(err)
	}
	// b has not seen a's version; its document lacks status, which a's
	// version requires, so registering b's inferred schema alone would
	// break BACKWARD for a's readers... and is refused.
	frame, err := b.Encode(ctx, nil, raw(t, `{"_id": 2, "note": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, frame); got != `{"_id":{"$numberInt":"2"},"note":"x"}` {
		t.Fatalf("round trip %s", got)
	}
	versions, _ := c.Versions(ctx, "orders-value", false)
	if len(versions) != 2 {
		t.Fatalf("versions %v, want 2", versions)
	}
	// Version 2 was evolved from version 1 after the reload: it keeps
	// status, which b's own document never had.
	v2, err := c.Version(ctx, "orders-value", 2, false)
	if err != nil || !strings.Contains(v2.Schema, `"status"`) || !strings.Contains(v2.Schema, `"note"`) {
		t.Fatalf("version 2 = %s (%v), want status and note", v2.Schema, err)
	}
}

// Concurrent writers with different shapes: every frame decodes to its
// document, and the subject ends with a version covering them all.
func TestConcurrentEncode(t *testing.T) {
	t.Parallel()
	c := newRegistry(t)
	ctx := context.Background()
	enc, err := New(ctx, Options{Registry: c, Subject: "s", Infer: inferOpts()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				doc := raw(t, fmt.Sprintf(`{"_id": %d, "f%d": "v"}`, g*100+i, (g+i)%5))
				frame, err := enc.Encode(ctx, nil, doc)
				if err != nil {
					errs <- err
					return
				}
				d, err := decode.New(decode.Options{Registry: c}).Decode(ctx, frame)
				if err != nil {
					errs <- err
					return
				}
				if got, want := canonical(t, d), canonical(t, doc); got != want {
					errs <- fmt.Errorf("got %s, want %s", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := enc.Stats(); s.Encoded != 64 || s.Registered > 5 {
		t.Fatalf("stats %+v: want 64 encoded and at most one version per new field", s)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	_, err := New(context.Background(), Options{Format: schemas.Format(99)})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"registry: required", "subject: required", "format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not mention %q", err, want)
		}
	}
}

func inferOpts() infer.Options { return infer.Options{Name: "Order", Namespace: "shop"} }
