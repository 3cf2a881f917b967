package server_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

type instance struct {
	ts    *httptest.Server
	store *store.Kafka
}

func (i *instance) close() {
	i.ts.Close()
	i.store.Close()
}

// startInstance runs a registry server over the Kafka log at brokers.
func startInstance(t *testing.T, brokers []string) *instance {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	st, err := store.OpenKafka(context.Background(), store.KafkaOptions{Brokers: brokers, URL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(st, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	return &instance{ts: ts, store: st}
}

func cluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitLeader(t *testing.T, insts ...*instance) *instance {
	t.Helper()
	var leader *instance
	eventually(t, "a leader", func() bool {
		for _, i := range insts {
			if self, _, err := i.store.Leader(context.Background()); err == nil && self {
				leader = i
				return true
			}
		}
		return false
	})
	return leader
}

// TestKafkaStoreRestart: a registry on the Kafka log comes back with every
// subject, version, id, deletion and level after a restart, and the log
// holds Confluent's records byte for byte.
func TestKafkaStoreRestart(t *testing.T) {
	t.Parallel()
	brokers := cluster(t)
	a := startInstance(t, brokers)
	waitLeader(t, a)
	c := client(a.ts)
	s1, err := c.CreateSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSchema("users-value", userV2, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeSubjectCompatibilityLevel("users-value", srclient.Full); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSubjectByVersion("users-value", 1, false); err != nil {
		t.Fatal(err)
	}
	a.close()

	b := startInstance(t, brokers)
	defer b.close()
	cb := client(b.ts)
	latest, err := cb.GetLatestSchema("users-value")
	if err != nil || latest.ID() != s2.ID() || latest.Version() != 2 {
		t.Fatalf("after restart: %+v %v", latest, err)
	}
	if got, err := cb.GetSchema(s1.ID()); err != nil || got.Schema() != userV1 {
		t.Fatalf("id after restart: %v %v", got, err)
	}
	if vs, err := cb.GetSchemaVersions("users-value"); err != nil || !slices.Equal(vs, []int{2}) {
		t.Fatalf("versions after restart: %v %v", vs, err)
	}
	if lvl, err := cb.GetCompatibilityLevel("users-value", false); err != nil || *lvl != srclient.Full {
		t.Fatalf("level after restart: %v %v", lvl, err)
	}

	// The first record is Confluent's SCHEMA key, byte for byte.
	raw, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"_schemas": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fetches := raw.PollRecords(ctx, 1)
	recs := fetches.Records()
	if len(recs) == 0 || string(recs[0].Key) != `{"keytype":"SCHEMA","subject":"users-value","version":1,"magic":1}` {
		t.Fatalf("first record: %v", recs)
	}
}

// TestKafkaStoreTwoInstances: two servers share one log. One is elected
// leader; writes to the other are forwarded; both see every write; when the
// leader goes, the other takes over.
func TestKafkaStoreTwoInstances(t *testing.T) {
	t.Parallel()
	brokers := cluster(t)
	a := startInstance(t, brokers)
	b := startInstance(t, brokers)
	defer b.close()
	// Wait until the two agree: one leads, the other sees it.
	var leader, follower *instance
	eventually(t, "one leader both instances agree on", func() bool {
		sa, ua, ea := a.store.Leader(context.Background())
		sb, ub, eb := b.store.Leader(context.Background())
		switch {
		case ea != nil || eb != nil || sa == sb:
			return false
		case sa && ub == a.ts.URL:
			leader, follower = a, b
		case sb && ua == b.ts.URL:
			leader, follower = b, a
		default:
			return false
		}
		return true
	})
	// A write through the follower is forwarded to the leader.
	cf, cl := client(follower.ts), client(leader.ts)
	s1, err := cf.CreateSchema("users-value", userV1, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := cl.CreateSchema("users-value", userV2, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID() == s2.ID() {
		t.Fatal("two schemas got one id")
	}
	for _, c := range []*srclient.SchemaRegistryClient{cf, cl} {
		eventually(t, "both versions on every instance", func() bool {
			vs, err := c.GetSchemaVersions("users-value")
			return err == nil && slices.Equal(vs, []int{1, 2})
		})
	}
	// An incompatible write is refused wherever it is sent.
	if _, err := cf.CreateSchema("users-value", userV3, srclient.Avro); err == nil || apiCode(t, err) != 409 {
		t.Fatalf("incompatible through the follower: %v", err)
	}
	// The leader goes; the follower takes over and writes.
	if leader == a {
		a.close()
	} else {
		b.close()
		defer a.close()
	}
	waitLeader(t, follower)
	s3, err := client(follower.ts).CreateSchema("orders-value", `{"type":"record","name":"O","fields":[{"name":"id","type":"long"}]}`, srclient.Avro)
	if err != nil {
		t.Fatal(err)
	}
	if s3.ID() <= s2.ID() {
		t.Fatalf("the new leader reused id %d", s3.ID())
	}
}
