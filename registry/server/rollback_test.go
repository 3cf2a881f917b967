package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// schemaKeyOf and schemaValueOf are the log's records as Confluent writes
// them (rollback set only on a leader's rollback).
func schemaKeyOf(subject string, version int) []byte {
	b, _ := json.Marshal(struct {
		KeyType string `json:"keytype"`
		Subject string `json:"subject"`
		Version int    `json:"version"`
		Magic   int    `json:"magic"`
	}{"SCHEMA", subject, version, 1})
	return b
}

func schemaValueOf(subject string, version, id int, schema string, deleted, rollback bool) []byte {
	b, _ := json.Marshal(struct {
		Subject  string `json:"subject"`
		Version  int    `json:"version"`
		ID       int    `json:"id"`
		Schema   string `json:"schema"`
		Deleted  bool   `json:"deleted"`
		Rollback bool   `json:"rollback,omitempty"`
	}{subject, version, id, schema, deleted, rollback})
	return b
}

// TestKafkaRollbackAfterHardDelete: a refused record's rollback and a hard
// delete of the same version interleave. The log order decides, the same
// way on every instance, on replay and after compaction: the rollback that
// lands after the hard delete is refused and followed by a tombstone, so
// the version stays deleted.
//
// Two instances each lead their own group (both believe they lead). s v1
// holds X (id 1) and is soft-deleted; then the log receives, in one batch,
// a stale leader's record giving s v1 to Y (refused: the version holds id
// 1), the hard delete of s v1, and the stale leader's rollback of s v1,
// which now lands after the hard delete. Both instances also roll back the
// refused record, after the hard delete too.
func TestKafkaRollbackAfterHardDelete(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	brokers := c.ListenAddrs()
	a := startWith(t, brokers, "group-a", 10*time.Second)
	b := startWith(t, brokers, "group-b", 10*time.Second)
	waitLeader(t, a)
	waitLeader(t, b)
	x, y := recordSchema("X"), recordSchema("Y")
	if got := register(t, a, "s", x); got.status != 200 || got.id() != 1 {
		t.Fatalf("register s: %s", got.raw)
	}
	if got := register(t, a, "t", y); got.status != 200 || got.id() != 2 {
		t.Fatalf("register t: %s", got.raw)
	}
	if got := httpCall(t, "DELETE", a.ts.URL+"/subjects/s/versions/1", nil); got.status != 200 {
		t.Fatalf("soft delete: %s", got.raw)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("_schemas"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	key := schemaKeyOf("s", 1)
	batch := []*kgo.Record{
		{Key: key, Value: schemaValueOf("s", 1, 2, y, false, false)}, // a stale leader's registration: refused
		{Key: key}, // the hard delete
		{Key: key, Value: schemaValueOf("s", 1, 1, x, true, true)}, // the stale leader's rollback, late
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	gone := func(i *instance) bool {
		got := httpCall(t, "GET", i.ts.URL+"/subjects/s/versions?deleted=true", nil)
		return got.status == 404 && got.code() == 40401
	}
	// Three rollbacks (the stale leader's, A's and B's) land after the hard
	// delete; each is refused and followed by a tombstone of its own.
	settled := func() bool {
		var rollbacks, tombsAfter int
		for _, r := range readLog(t, brokers) {
			if string(r.Key) != string(key) {
				continue
			}
			var v struct {
				Rollback bool `json:"rollback"`
			}
			switch {
			case r.Value == nil && rollbacks > 0:
				tombsAfter++
			case r.Value != nil && json.Unmarshal(r.Value, &v) == nil && v.Rollback:
				rollbacks++
			}
		}
		return rollbacks >= 3 && tombsAfter >= rollbacks-1
	}
	waitUntil(t, "the rollbacks and their tombstones", settled)
	recs := readLog(t, brokers)
	var lastOfKey *kgo.Record
	for _, r := range recs {
		if string(r.Key) == string(key) {
			lastOfKey = r
		}
	}
	if lastOfKey == nil || lastOfKey.Value != nil {
		t.Fatalf("the last record of s v1 is not a tombstone: %s", dump(recs))
	}
	want := view{ids: map[int]string{1: x, 2: y}, versions: map[string][]int{"t": {2}}}
	for name, i := range map[string]*instance{"A": a, "B": b} {
		waitUntil(t, name+" to drop s", func() bool { return gone(i) })
		sameView(t, name, viewOf(t, i, []string{"s", "t"}, 3), want)
	}
	fresh := startWith(t, brokers, "group-c", 10*time.Second)
	if !gone(fresh) {
		t.Fatalf("a fresh instance sees s: %s", dump(recs))
	}
	sameView(t, "a fresh instance", viewOf(t, fresh, []string{"s", "t"}, 3), want)
	c.Compact()
	compacted := startWith(t, brokers, "group-d", 10*time.Second)
	if !gone(compacted) {
		t.Fatalf("an instance after compaction sees s: %s", dump(readLog(t, brokers)))
	}
	// Compaction drops every record of s v1 but its tombstone, and with
	// them id 1, which no other version used (as in Confluent).
	sameView(t, "an instance after compaction", viewOf(t, compacted, []string{"s", "t"}, 3), view{ids: map[int]string{2: y}, versions: want.versions})
}
