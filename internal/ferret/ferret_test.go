package ferret

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
)

// FerretDB built from internal/ferrettest serves the wire protocol: a
// document written is read back.
func TestClient(t *testing.T) {
	if testing.Short() {
		t.Skip("FerretDB in -short")
	}
	client := Client(t)
	coll := client.Database("ferret").Collection("docs")
	ctx := context.Background()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "ferret"}}); err != nil {
		t.Fatal(err)
	}
	var got bson.D
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Value != "ferret" {
		t.Fatalf("read back %v", got)
	}
}
