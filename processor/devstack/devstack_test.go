package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// A document written over the wire is the in-process client's, and the
// other way round; the data outlives a restart of the stack.
func TestStackServesMongoDB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	opts := Options{KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", MongoDBAddr: "127.0.0.1:0", DataDir: dir}
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.MongoWireURI, "mongodb://127.0.0.1:") || !strings.HasSuffix(s.MongoWireURI, "/?directConnection=true&replicaSet=schemaflow") {
		t.Fatalf("MongoWireURI = %q", s.MongoWireURI)
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.MongoWireURI))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Database("shop").Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: "wire"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mongo.Database("shop").Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: "in-process"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("over the wire: %d documents, %v", n, err)
	}
	if n, err := s.Mongo.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{{Key: "_id", Value: "wire"}}); err != nil || n != 1 {
		t.Fatalf("in process: %d documents written over the wire, %v", n, err)
	}
	_ = client.Disconnect(ctx)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Served to this process only, on the same data.
	opts.MongoDBAddr = "-"
	s, err = Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if s.MongoWireURI != "" {
		t.Fatalf("MongoWireURI = %q with MongoDBAddr -", s.MongoWireURI)
	}
	if n, err := s.Mongo.Database("shop").Collection("orders").CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("after a restart: %d documents, %v", n, err)
	}
}
