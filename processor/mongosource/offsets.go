package mongosource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/bson"
)

// tokenStore keeps a source's resume token.
type tokenStore interface {
	// load returns the saved token, nil when there is none.
	load(ctx context.Context) (bson.Raw, error)
	// save stores the token durably before returning.
	save(ctx context.Context, token bson.Raw) error
}

// topicTokens keeps tokens in a compacted Kafka topic, keyed by the
// source's name: the last record of a key is its token.
type topicTokens struct {
	s  *Source
	cl *kgo.Client
}

func (t *topicTokens) save(ctx context.Context, token bson.Raw) error {
	rec := &kgo.Record{Topic: t.s.cfg.OffsetsTopic, Key: []byte(t.s.cfg.Name), Value: token}
	if err := t.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("mongosource: %s: save resume token to %s: %w", t.s.cfg.Name, t.s.cfg.OffsetsTopic, err)
	}
	return nil
}

func (t *topicTokens) load(ctx context.Context) (bson.Raw, error) {
	s := t.s
	rd, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumeTopics(s.cfg.OffsetsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, s.cfg.KafkaOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("mongosource: kafka client: %w", err)
	}
	defer rd.Close()
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Read up to the end offsets as they are now.
	ends, err := endOffsets(deadline, t.cl, s.cfg.OffsetsTopic)
	if err != nil {
		if deadline.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("mongosource: %s: end offsets of %s: no answer within 30s (check the brokers, the credentials and TLS): %w", s.cfg.Name, s.cfg.OffsetsTopic, err)
		}
		return nil, err
	}
	var token bson.Raw
	for !reached(ends) {
		f := rd.PollFetches(deadline)
		if deadline.Err() != nil {
			return nil, fmt.Errorf("mongosource: %s: reading resume tokens from %s: no answer within 30s (check the brokers, the credentials and TLS): %w", s.cfg.Name, s.cfg.OffsetsTopic, deadline.Err())
		}
		f.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == s.cfg.Name {
				token = append(bson.Raw(nil), r.Value...)
				if len(r.Value) == 0 {
					token = nil
				}
			}
			if r.Offset+1 >= ends[r.Partition] {
				ends[r.Partition] = -1
			}
		})
	}
	return token, nil
}

// fileTokens keeps the token in a local file, replaced atomically: a
// crash leaves the old token or the new one, never a torn one.
type fileTokens string

func (f fileTokens) load(context.Context) (bson.Raw, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mongosource: resume token: %w", err)
	}
	if err := bson.Raw(b).Validate(); err != nil {
		return nil, fmt.Errorf("mongosource: resume token %s: not a BSON document: %w", f, err)
	}
	return b, nil
}

func (f fileTokens) save(_ context.Context, token bson.Raw) error {
	path := string(f)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("mongosource: resume token: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("mongosource: resume token: %w", err)
	}
	_, err = tmp.Write(token)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mongosource: save resume token to %s: %w", path, err)
	}
	return nil
}

// endOffsets lists the end offset of each partition of topic; partitions
// already empty are left out.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("mongosource: end offsets of %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	return ends, nil
}

func reached(ends map[int32]int64) bool {
	for _, e := range ends {
		if e >= 0 {
			return false
		}
	}
	return true
}
