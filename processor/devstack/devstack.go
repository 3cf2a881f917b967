// Package devstack starts the embedded development stack in one process:
// a Kafka broker (kfake), the schema registry over HTTP, and a
// file-backed MongoDB engine (lungo) served over the MongoDB wire protocol
// (package mongowire), all keeping their data in one directory, so a
// second start continues where the first stopped.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/256dpi/lungo"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaflow/schemaflow/processor/devstack/mongowire"
	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

// Options configure the stack.
type Options struct {
	// KafkaAddr is where Kafka listens. Default 127.0.0.1:9092.
	KafkaAddr string
	// RegistryAddr is where the registry listens. Default 127.0.0.1:8081.
	RegistryAddr string
	// MongoDBAddr is where the engine is served over the MongoDB wire
	// protocol. Default 127.0.0.1:27017; "-" serves it to this process
	// only.
	MongoDBAddr string
	// DataDir holds kafka/, registry/ and mongodb.lungo. Default
	// .schemaflow.
	DataDir string
	// Logger logs the registry's requests. Default slog.Default().
	Logger *slog.Logger
}

// Stack is the running stack.
type Stack struct {
	// Brokers is the Kafka address to give clients.
	Brokers string
	// RegistryURL is the registry's base URL.
	RegistryURL string
	// MongoURI names the embedded engine in specs ("lungo:PATH"); Mongo
	// is its client.
	MongoURI string
	Mongo    lungo.IClient
	// MongoWireURI is the mongodb:// URI of the engine over the wire
	// protocol (directConnection, replicaSet mongowire.DefaultReplicaSet);
	// empty when MongoDBAddr is "-".
	MongoWireURI string

	kafka    *kfake.Cluster
	http     *http.Server
	served   chan error
	regStore store.Store
	engine   *lungo.Engine
	wire     *mongowire.Server
	wireDone chan error
}

// Start starts the stack. Close stops it.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.KafkaAddr == "" {
		opts.KafkaAddr = "127.0.0.1:9092"
	}
	if opts.RegistryAddr == "" {
		opts.RegistryAddr = "127.0.0.1:8081"
	}
	if opts.MongoDBAddr == "" {
		opts.MongoDBAddr = "127.0.0.1:27017"
	}
	if opts.DataDir == "" {
		opts.DataDir = ".schemaflow"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: data directory: %w", err)
	}
	s = &Stack{served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()

	// Kafka first: if its address is taken, nothing else was started.
	kafkaLn, err := net.Listen("tcp", opts.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: kafka: %w (another broker running? use --kafka-addr)", err)
	}
	used := false
	s.kafka, err = kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			if used {
				return nil, errors.New("devstack: one broker only")
			}
			used = true
			return kafkaLn, nil
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(3),
		kfake.DataDir(filepath.Join(opts.DataDir, "kafka")),
	)
	if err != nil {
		kafkaLn.Close()
		return nil, fmt.Errorf("devstack: kafka: %w", err)
	}
	s.Brokers = s.kafka.ListenAddrs()[0]

	regLn, err := net.Listen("tcp", opts.RegistryAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: registry: %w (another registry running? use --registry-addr)", err)
	}
	s.regStore, err = store.OpenFile(filepath.Join(opts.DataDir, "registry"))
	if err != nil {
		regLn.Close()
		return nil, fmt.Errorf("devstack: registry: %w", err)
	}
	srv, err := server.New(s.regStore, server.Options{Logger: opts.Logger})
	if err != nil {
		regLn.Close()
		return nil, fmt.Errorf("devstack: registry: %w", err)
	}
	s.http = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.http.Serve(regLn) }()
	s.RegistryURL = "http://" + regLn.Addr().String()

	path := filepath.Join(opts.DataDir, "mongodb.lungo")
	s.Mongo, s.engine, err = lungo.Open(ctx, lungo.Options{Store: lungo.NewFileStore(path, 0o644)})
	if err != nil {
		return nil, fmt.Errorf("devstack: mongodb: %w", err)
	}
	s.MongoURI = "lungo:" + path
	if opts.MongoDBAddr != "-" {
		ln, err := net.Listen("tcp", opts.MongoDBAddr)
		if err != nil {
			return nil, fmt.Errorf("devstack: mongodb: %w (a MongoDB running? use --mongodb-addr)", err)
		}
		s.wire = mongowire.New(s.engine, mongowire.Options{Logger: opts.Logger})
		s.wireDone = make(chan error, 1)
		go func() { s.wireDone <- s.wire.Serve(ln) }()
		s.MongoWireURI = mongowire.URI(ln.Addr().String(), mongowire.DefaultReplicaSet)
	}
	return s, nil
}

// Close stops the stack, saving its data.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	if s.http != nil {
		shutdown, cancel := context.WithTimeout(ctx, 5*time.Second)
		errs = append(errs, s.http.Shutdown(shutdown))
		cancel()
	}
	if s.regStore != nil {
		errs = append(errs, s.regStore.Close())
	}
	if s.wire != nil {
		errs = append(errs, s.wire.Close(), <-s.wireDone)
	}
	if s.engine != nil {
		s.engine.Close()
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	return errors.Join(errs...)
}
