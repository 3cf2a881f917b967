package mongosink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// benchDoc is a 1 KB-ish order.
func benchDoc(id int64) bson.D {
	items := bson.A{}
	for i := range 8 {
		items = append(items, bson.D{{Key: "sku", Value: fmt.Sprintf("SKU-%06d", i)}, {Key: "qty", Value: int64(i + 1)}, {Key: "price", Value: 9.99 * float64(i+1)}})
	}
	return bson.D{{Key: "_id", Value: id}, {Key: "status", Value: "paid"}, {Key: "version", Value: int64(1)},
		{Key: "customer", Value: bson.D{{Key: "name", Value: "Ada Lovelace"}, {Key: "email", Value: "ada@example.com"}, {Key: "city", Value: "London"}}},
		{Key: "items", Value: items}, {Key: "note", Value: "leave at the door, ring twice, the dog is friendly"}}
}

const benchSchema = `{"type": "record", "name": "Order", "fields": [
	{"name": "_id", "type": "long"}, {"name": "status", "type": "string"}, {"name": "version", "type": "long"},
	{"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
		{"name": "name", "type": "string"}, {"name": "email", "type": "string"}, {"name": "city", "type": "string"}]}},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
		{"name": "sku", "type": "string"}, {"name": "qty", "type": "long"}, {"name": "price", "type": "double"}]}}},
	{"name": "note", "type": "string"}
]}`

// benchEnd measures records/s from Kafka to the target: the records are
// produced first, then one pipeline consumes, decodes and writes them all.
func benchEnd(b *testing.B, e *env) {
	id, err := e.reg.Register(context.Background(), "bench-value", registry.RegisterRequest{Schema: benchSchema}, false)
	if err != nil {
		b.Fatal(err)
	}
	sd, err := serde.New([]byte(benchSchema), serde.Options{Format: schemas.Avro, ID: uint32(id)})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		raw, _ := bson.Marshal(benchDoc(int64(i)))
		v, err := sd.Encode(nil, raw)
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: "orders", Value: v}
	}
	e.produce(b, recs...)
	cfg := e.config(b)
	b.ResetTimer()
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for p.Stats().Written < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// benchLimit measures bulk writes of pre-built replace-one upserts alone:
// the ceiling the pipeline is held against.
func benchLimit(b *testing.B, coll Collection) {
	models := make([]mongo.WriteModel, b.N)
	for i := range models {
		d := benchDoc(int64(i))
		models[i] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: int64(i)}}).SetReplacement(d).SetUpsert(true)
	}
	b.ResetTimer()
	for i := 0; i < len(models); i += 1000 {
		if _, err := coll.BulkWrite(context.Background(), models[i:min(i+1000, len(models))], options.BulkWrite().SetOrdered(true)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkEndToEndLungo(b *testing.B) {
	benchEnd(b, newEnv(b, "orders"))
}

func BenchmarkBulkLimitLungo(b *testing.B) {
	e := newEnv(b, "orders")
	benchLimit(b, e.target("shop", "orders"))
}

func BenchmarkEndToEndFerretDB(b *testing.B) {
	benchEnd(b, newFerretEnv(b, "orders"))
}

func BenchmarkBulkLimitFerretDB(b *testing.B) {
	e := newFerretEnv(b, "orders")
	benchLimit(b, e.target("shop", "orders"))
}

// discard accepts every write: what the pipeline costs without a database.
type discard struct{}

func (discard) BulkWrite(context.Context, []mongo.WriteModel, ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	return &mongo.BulkWriteResult{}, nil
}

func BenchmarkEndToEndDiscard(b *testing.B) {
	e := newKafkaRegistry(b, "orders")
	e.target = func(string, string) Collection { return discard{} }
	benchEnd(b, e)
}
