package mongosink

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/processor/internal/panics"
	"github.com/schemaflow/schemaflow/processor/sink"
)

// The records of a batch are decoded and made into write models by up to
// maxDecoders goroutines (GOMAXPROCS at most, one per minPerDecoder
// records; the polling goroutine is one of them), each taking the next
// prepareChunk records in turn; what follows — dead letters, grouping,
// writes — goes in record order as before. Nothing is done per record that
// can be done per batch: no goroutine, channel send, lock or log line per
// record, and the retry machinery only once a decode fails.
const (
	maxDecoders   = 4
	minPerDecoder = 64
	prepareChunk  = 32
)

// prepared is what prepare made of one record.
type prepared struct {
	ns    Namespace
	model mongo.WriteModel
	class string
	err   error
}

// prepareAll prepares the records of a batch, in parallel when the batch
// is large enough. A failure that is not a record's (class "") cancels
// the records not yet prepared: the batch stops there.
func (p *Pipeline) prepareAll(ctx context.Context, batch []*kgo.Record) []prepared {
	out := make([]prepared, len(batch))
	workers := min(runtime.GOMAXPROCS(0), maxDecoders, len(batch)/minPerDecoder)
	if workers <= 1 {
		for i, rec := range batch {
			r := &out[i]
			if r.ns, r.model, r.class, r.err = p.prepare(ctx, rec); r.err != nil && r.class == "" {
				return out[:i+1]
			}
		}
		return out
	}
	ctx, cancel := context.WithCancel(ctx)
	// The batch is done when every chunk is: the poller waits for the
	// chunks other goroutines took, not for goroutines that never got to
	// run (a busy machine), which then find no chunk left and return.
	var next atomic.Int64
	var inFlight sync.WaitGroup
	var mu sync.Mutex
	closed := false
	claim := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		from := int(next.Add(prepareChunk)) - prepareChunk
		if closed || from >= len(batch) {
			return 0, false
		}
		inFlight.Add(1)
		return from, true
	}
	work := func() {
		for {
			from, ok := claim()
			if !ok {
				return
			}
			for i := from; i < min(from+prepareChunk, len(batch)); i++ {
				r := &out[i]
				if r.ns, r.model, r.class, r.err = p.prepare(ctx, batch[i]); r.err != nil && r.class == "" {
					cancel()
				}
			}
			inFlight.Done()
		}
	}
	for range workers - 1 {
		go work()
	}
	work()
	mu.Lock()
	closed = true // a goroutine starting now takes nothing
	mu.Unlock()
	inFlight.Wait()
	cancel()
	return out
}

// rootCause is the failure that stopped a batch's preparation: the first,
// in record order, that is not the cancellation it caused in the others.
func rootCause(ps []prepared) error {
	var first error
	for _, r := range ps {
		if r.err == nil || r.class != "" {
			continue
		}
		if !errors.Is(r.err, context.Canceled) {
			return r.err
		}
		if first == nil {
			first = r.err
		}
	}
	return first
}

// prepare decodes a record and makes its write model. A failure with a
// class is the record's; one without is the pipeline's, a panic included.
func (p *Pipeline) prepare(ctx context.Context, rec *kgo.Record) (_ Namespace, _ mongo.WriteModel, _ string, err error) {
	defer func() {
		// As panics.Recover, naming the record only when there is a panic.
		if v := recover(); v != nil {
			err = panics.New(v, recordArgs(rec)...)
		}
	}()
	key, err := p.decode(ctx, rec.Topic, decode.PartKey, rec.Key)
	if err != nil {
		return Namespace{}, nil, classOf(err), fmt.Errorf("key: %w", err)
	}
	value, err := p.decode(ctx, rec.Topic, decode.PartValue, rec.Value)
	if err != nil {
		return Namespace{}, nil, classOf(err), fmt.Errorf("value: %w", err)
	}
	r, err := record(rec, key, value)
	if err != nil {
		return Namespace{}, nil, classOf(err), err
	}
	ns, err := p.namespace(r)
	if err != nil {
		return Namespace{}, nil, ClassInvalidRecord, err
	}
	var model mongo.WriteModel
	if p.cfg.Handler != "" {
		model, err = sink.CDCModel(r, p.cfg.Handler, false)
	} else {
		model, err = sink.Model(r, p.cfg.Sink)
	}
	if err != nil {
		return Namespace{}, nil, ClassInvalidRecord, err
	}
	return ns, model, "", nil
}

// record makes the sink record of a Kafka record's decoded key and value.
// The value stays the BSON bytes the decoder wrote; the key, small and
// looked into by the id strategies, is unmarshalled.
func record(rec *kgo.Record, key, value decode.Value) (sink.Record, error) {
	var keyDoc bson.D
	if key.Doc != nil { // a scalar key stays in KeyScalar
		var err error
		if keyDoc, err = key.D(); err != nil {
			return sink.Record{}, fmt.Errorf("key: %w", err)
		}
	}
	raw, err := value.Document()
	if err != nil {
		return sink.Record{}, fmt.Errorf("value: %w", err)
	}
	return sink.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		Key: keyDoc, KeyScalar: key.Scalar, RawValue: raw, RawValueChecked: value.Checked}, nil
}

// decode reads a key or value in the decoder's format for that part,
// retrying failures that are not the record's. The first read is made
// directly; the retry loop, its backoff and closure, only after a failure.
func (p *Pipeline) decode(ctx context.Context, topic string, part decode.Part, b []byte) (decode.Value, error) {
	v, err := p.cfg.Decoder.Read(ctx, topic, part, b)
	var de *decode.DataError
	if err == nil || errors.As(err, &de) {
		return v, err
	}
	first := true
	err = p.retry(ctx, "registry", func() (bool, error) {
		if !first {
			v, err = p.cfg.Decoder.Read(ctx, topic, part, b)
		}
		first = false
		return err != nil && !errors.As(err, &de), err
	})
	return v, err
}

func classOf(err error) string {
	var de *decode.DataError
	if errors.As(err, &de) {
		return de.Class
	}
	return ""
}

// noteCommitted records the next offset of each partition of a committed
// batch. A batch holds each partition's records in one run, so the
// partition's key is made, and the map written, once per run.
func (p *Pipeline) noteCommitted(batch []*kgo.Record) {
	flush := func(r *kgo.Record, next int64) {
		k := r.Topic + "/" + strconv.Itoa(int(r.Partition))
		p.committed[k] = max(p.committed[k], next)
	}
	for i := 0; i < len(batch); {
		r, next := batch[i], batch[i].Offset+1
		j := i + 1
		for ; j < len(batch) && batch[j].Partition == r.Partition && batch[j].Topic == r.Topic; j++ {
			next = max(next, batch[j].Offset+1)
		}
		flush(r, next)
		i = j
	}
}
