package demo

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/internal/testenv"
)

// Seed fills an empty collection with numbered orders in one insert, and
// leaves a collection with documents alone; the generator then continues
// the numbering.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	coll := testenv.Lungo(t).Database("shop").Collection("orders")
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	g := New(coll, Options{Now: now})
	n, err := g.Seed(ctx, 300)
	if err != nil || n != 300 {
		t.Fatalf("seed: %d, %v; want 300", n, err)
	}
	if got, _ := coll.CountDocuments(ctx, bson.D{}); got != 300 {
		t.Fatalf("%d orders after the seed, want 300", got)
	}
	var first, last bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: int64(1000)}}).Decode(&first); err != nil {
		t.Fatalf("order 1000: %v", err)
	}
	if first["status"] != "new" || first["customer"] == nil || first["items"] == nil {
		t.Fatalf("order 1000 = %v, want a new order with a customer and items", first)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: int64(1299)}}).Decode(&last); err != nil {
		t.Fatalf("order 1299: %v", err)
	}
	if n, err := New(coll, Options{Now: now}).Seed(ctx, 50); err != nil || n != 0 {
		t.Fatalf("seeding a collection with orders: %d, %v; want nothing done", n, err)
	}
	if got, _ := coll.CountDocuments(ctx, bson.D{}); got != 300 {
		t.Fatalf("%d orders after the second seed, want 300", got)
	}
	run := New(coll, Options{Rate: 1000, Max: 1, Now: now})
	if err := run.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: int64(1300)}}).Err(); err != nil {
		t.Fatalf("the generator did not continue at order 1300: %v", err)
	}
}
