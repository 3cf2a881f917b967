package mongosink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// TestNoteCommitted: the next offset of each partition of committed
// batches, whatever the order of partitions and offsets in a batch, and
// never moving back.
func TestNoteCommitted(t *testing.T) {
	r := func(topic string, partition int32, offset int64) *kgo.Record {
		return &kgo.Record{Topic: topic, Partition: partition, Offset: offset}
	}
	for _, tc := range []struct {
		name    string
		batches [][]*kgo.Record
		want    string
	}{
		{"none", nil, "none"},
		{"one partition", [][]*kgo.Record{{r("a", 0, 4), r("a", 0, 5), r("a", 0, 6)}}, "a/0=7"},
		{"runs of partitions", [][]*kgo.Record{{r("a", 0, 1), r("a", 0, 2), r("a", 1, 9), r("b", 0, 3), r("b", 0, 4)}}, "a/0=3, a/1=10, b/0=5"},
		{"a partition twice in a batch", [][]*kgo.Record{{r("a", 0, 1), r("a", 1, 5), r("a", 0, 2)}}, "a/0=3, a/1=6"},
		{"same partition number, other topic", [][]*kgo.Record{{r("a", 0, 8), r("b", 0, 2)}}, "a/0=9, b/0=3"},
		{"across batches", [][]*kgo.Record{{r("a", 0, 1)}, {r("a", 0, 2), r("a", 2, 0)}}, "a/0=3, a/2=1"},
		{"never back", [][]*kgo.Record{{r("a", 0, 9)}, {r("a", 0, 3)}}, "a/0=10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pipeline{committed: map[string]int64{}}
			for _, b := range tc.batches {
				p.noteCommitted(b)
			}
			if got := offsetList(p.committed); got != tc.want {
				t.Fatalf("committed %s, want %s", got, tc.want)
			}
		})
	}
}

// flakyRegistry fails its first fail lookups as a registry that cannot
// answer, then answers with schema; unknown ids are a 404.
type flakyRegistry struct {
	fail   int
	calls  atomic.Int64
	id     int
	schema string
}

func (f *flakyRegistry) SchemaByID(_ context.Context, id int) (registry.SchemaString, error) {
	if int(f.calls.Add(1)) <= f.fail {
		return registry.SchemaString{}, errors.New("connection refused")
	}
	if id != f.id {
		return registry.SchemaString{}, &registry.Error{Status: 404, Code: 40403, Message: "Schema not found"}
	}
	return registry.SchemaString{Schema: f.schema}, nil
}

func (f *flakyRegistry) Version(context.Context, string, int, bool) (registry.Schema, error) {
	return registry.Schema{}, errors.New("no versions here")
}

// TestDecodeRetries: a decode is read once when it succeeds or fails for
// good (the record's fault), and retried with waits, as many times as
// Retries allows, while the registry cannot answer.
func TestDecodeRetries(t *testing.T) {
	const text = `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`
	sd, err := serde.New([]byte(text), serde.Options{Format: schemas.Avro, ID: 5})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := bson.Marshal(bson.D{{Key: "a", Value: int64(1)}})
	frame, err := sd.Encode(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	unknown := append([]byte{0, 0, 0, 0, 6}, frame[5:]...)
	for _, tc := range []struct {
		name          string
		fail          int
		data          []byte
		calls         int64
		retries       int64
		class, errHas string
	}{
		{"answers", 0, frame, 1, 0, "", ""},
		{"answers after two failures", 2, frame, 3, 2, "", ""},
		{"unknown schema: the record's fault", 0, unknown, 1, 0, decode.ClassUnknownSchema, "schema id 6"},
		{"never answers", 100, frame, 4, 3, "", "giving up after 3 retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := &flakyRegistry{fail: tc.fail, id: 5, schema: text}
			p := &Pipeline{cfg: Config{Decoder: decode.New(decode.Options{Registry: reg, ValueFormat: decode.FormatRegistry, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
				Retries: 3, Backoff: time.Millisecond}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			v, err := p.decode(context.Background(), "t", decode.PartValue, tc.data)
			if got := reg.calls.Load(); got != tc.calls || p.retries.Load() != tc.retries {
				t.Fatalf("%d registry calls, %d retries; want %d, %d", got, p.retries.Load(), tc.calls, tc.retries)
			}
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || classOf(err) != tc.class {
					t.Fatalf("error %v (class %q), want one containing %q of class %q", err, classOf(err), tc.errHas, tc.class)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !v.Checked || v.Doc.Lookup("a").Int64() != 1 {
				t.Fatalf("decoded %v (checked %v), want {a: 1} checked", v.Doc, v.Checked)
			}
		})
	}
}
