package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaOptions configure a Kafka store.
type KafkaOptions struct {
	// Brokers are the seed brokers.
	Brokers []string
	// Topic is the log topic. Default "_schemas", Confluent's.
	Topic string
	// Group is the consumer group that elects the writer. Default
	// "schemaflow-registry".
	Group string
	// URL is where this instance serves the API; followers forward writes
	// to the leader's. Required.
	URL string
}

// Kafka is a Store kept in a Kafka topic, record for record as Confluent
// writes _schemas, so that Confluent registries and schemaflow can share
// one. Several servers can serve one topic: the consumer group on the
// topic assigns its one partition to a single member, the leader, which
// writes; the others follow the topic and forward writes to the leader,
// whose URL is its client id in the group.
type Kafka struct {
	opts  KafkaOptions
	prod  *kgo.Client
	tail  *kgo.Client
	group *kgo.Client
	adm   *kadm.Client

	leader atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	own      map[int64]bool // offsets this instance wrote
	position int64          // next offset the tail will deliver
}

// OpenKafka connects to the brokers, creates the topic when it is missing
// (one partition, compacted) and checks it when it exists.
func OpenKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if opts.Topic == "" {
		opts.Topic = "_schemas"
	}
	if opts.Group == "" {
		opts.Group = "schemaflow-registry"
	}
	if opts.URL == "" {
		return nil, errors.New("store: a kafka store needs the URL this instance serves on")
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(opts.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	k := &Kafka{opts: opts, prod: prod, adm: kadm.NewClient(prod), own: map[int64]bool{}, done: make(chan struct{})}
	k.cond = sync.NewCond(&k.mu)
	if err := k.ensureTopic(ctx); err != nil {
		prod.Close()
		return nil, err
	}
	k.tail, err = kgo.NewClient(kgo.SeedBrokers(opts.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{opts.Topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return k, nil
}

func (k *Kafka) ensureTopic(ctx context.Context) error {
	details, err := k.adm.ListTopics(ctx, k.opts.Topic)
	if err != nil {
		return fmt.Errorf("store: listing topics: %w", err)
	}
	if d, ok := details[k.opts.Topic]; ok && d.Err == nil {
		if n := len(d.Partitions); n != 1 {
			return fmt.Errorf("store: topic %s has %d partitions; the registry log needs exactly 1", k.opts.Topic, n)
		}
		cfgs, err := k.adm.DescribeTopicConfigs(ctx, k.opts.Topic)
		if err == nil {
			if rc, err := cfgs.On(k.opts.Topic, nil); err == nil {
				for _, c := range rc.Configs {
					if c.Key == "cleanup.policy" && c.Value != nil && !strings.Contains(*c.Value, "compact") {
						return fmt.Errorf("store: topic %s has cleanup.policy=%s; the registry log needs compact", k.opts.Topic, *c.Value)
					}
				}
			}
		}
		return nil
	}
	policy := "compact"
	resp, err := k.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &policy}, k.opts.Topic)
	if err != nil {
		return fmt.Errorf("store: creating topic %s: %w", k.opts.Topic, err)
	}
	if resp.Err != nil && !strings.Contains(resp.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		return fmt.Errorf("store: creating topic %s: %w", k.opts.Topic, resp.Err)
	}
	return nil
}

// endOffset returns the topic's end offset. A topic just created takes a
// moment to be visible, so a missing partition is retried for a while.
func (k *Kafka) endOffset(ctx context.Context) (int64, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ends, err := k.adm.ListEndOffsets(ctx, k.opts.Topic)
		if err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		o, ok := ends.Lookup(k.opts.Topic, 0)
		if ok && o.Err == nil {
			return o.Offset, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("store: no end offset for %s: %v", k.opts.Topic, o.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func toRecord(r *kgo.Record) Record {
	var value []byte
	if r.Value != nil {
		value = r.Value
	}
	return Record{Key: r.Key, Value: value}
}

// Load implements Store: it reads the topic from the start to its end.
func (k *Kafka) Load(fn func(Record) error) error {
	ctx := context.Background()
	end, err := k.endOffset(ctx)
	if err != nil {
		return err
	}
	for k.position < end {
		fetches := k.tail.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("store: reading %s: %w", k.opts.Topic, errs[0].Err)
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			if ferr == nil {
				ferr = fn(toRecord(r))
			}
			k.position = r.Offset + 1
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// Append implements Store. The records are written to the topic and
// acknowledged by every in-sync replica before it returns.
func (k *Kafka) Append(recs ...Record) error {
	krecs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krecs[i] = &kgo.Record{Topic: k.opts.Topic, Partition: 0, Key: r.Key, Value: r.Value}
	}
	results := k.prod.ProduceSync(context.Background(), krecs...)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, res := range results {
		if res.Err != nil {
			return fmt.Errorf("store: writing %s: %w", k.opts.Topic, res.Err)
		}
		k.own[res.Record.Offset] = true
	}
	return nil
}

// Follow delivers the records other instances write, in order, until
// Close. Records this instance wrote were applied when written and are
// skipped. It starts the consumer-group membership that elects the leader.
func (k *Kafka) Follow(apply func(Record)) error {
	group, err := kgo.NewClient(kgo.SeedBrokers(k.opts.Brokers...),
		kgo.ConsumerGroup(k.opts.Group), kgo.ConsumeTopics(k.opts.Topic), kgo.ClientID(k.opts.URL),
		kgo.DisableAutoCommit(),
		// The leader is the member holding the log's one partition. The
		// callbacks can carry empty maps in cooperative rebalances, so each
		// looks at the partition itself.
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[k.opts.Topic]) > 0 {
				k.leader.Store(true)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[k.opts.Topic]) > 0 {
				k.leader.Store(false)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[k.opts.Topic]) > 0 {
				k.leader.Store(false)
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	k.group = group
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() {
		// The group client only takes part in the election; its records are
		// not used.
		for ctx.Err() == nil {
			group.PollFetches(ctx)
		}
	}()
	go func() {
		defer close(k.done)
		for ctx.Err() == nil {
			fetches := k.tail.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) {
				k.mu.Lock()
				mine := k.own[r.Offset]
				delete(k.own, r.Offset)
				k.mu.Unlock()
				if !mine {
					apply(toRecord(r))
				}
				k.mu.Lock()
				k.position = r.Offset + 1
				k.cond.Broadcast()
				k.mu.Unlock()
			})
		}
	}()
	return nil
}

// CatchUp waits until every record written before the call was delivered,
// so that a new leader writes on a complete state.
func (k *Kafka) CatchUp(ctx context.Context) error {
	end, err := k.endOffset(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	k.mu.Lock()
	defer k.mu.Unlock()
	for k.position < end {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("store: timed out catching up with %s", k.opts.Topic)
		}
		k.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		k.mu.Lock()
	}
	return nil
}

// Leader reports whether this instance is the writer, and the leader's
// URL.
func (k *Kafka) Leader(ctx context.Context) (self bool, url string, err error) {
	if k.leader.Load() {
		return true, k.opts.URL, nil
	}
	groups, err := k.adm.DescribeGroups(ctx, k.opts.Group)
	if err != nil {
		return false, "", fmt.Errorf("store: %w", err)
	}
	g, ok := groups[k.opts.Group]
	if !ok || g.Err != nil {
		return false, "", fmt.Errorf("store: no group %s", k.opts.Group)
	}
	for _, m := range g.Members {
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				if t.Topic == k.opts.Topic && len(t.Partitions) > 0 {
					return m.ClientID == k.opts.URL, m.ClientID, nil
				}
			}
		}
	}
	return false, "", errors.New("store: no leader elected yet")
}

// Close implements Store.
func (k *Kafka) Close() error {
	if k.cancel != nil {
		k.cancel()
		<-k.done
	}
	if k.group != nil {
		k.group.Close()
	}
	k.tail.Close()
	k.prod.Close()
	return nil
}
