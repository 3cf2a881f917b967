package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTimeout bounds each call a Kafka store makes to the brokers when
// KafkaOptions.Timeout is zero.
const DefaultTimeout = 10 * time.Second

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
	// Timeout bounds every call to the brokers that has no deadline of its
	// own: reading the log at start (per step without progress), finding
	// its end, and the store's own rollback writes. Default DefaultTimeout.
	Timeout time.Duration
	// ClientOptions are added to every Kafka client of the store: SASL,
	// TLS, a client id. Default none.
	ClientOptions []kgo.Opt
	// Logger receives the store's background errors. Default: discarded.
	Logger *slog.Logger
}

// Kafka is a Store kept in a Kafka topic, record for record as Confluent
// writes _schemas, so that Confluent registries and schemaflow can share
// one. Several servers can serve one topic: the consumer group on the
// topic assigns its one partition to a single member, the leader, which
// writes; the others follow the topic and forward writes to the leader,
// whose URL is its client id in the group.
//
// The log decides, not the writer: every instance applies every record in
// log order, its own included, through the function given to Follow, which
// may refuse a record (*Rejected). Append returns only once the tail has
// applied the records it wrote, and reports a refusal, so two instances
// that both believe they lead (a paused process, a slow rebalance) cannot
// give one id to two schemas: the second record loses, and its writer
// retries on the state the log now holds.
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
	position int64               // next offset the tail will deliver
	advanced chan struct{}       // closed and replaced when position moves
	rejected map[int64]*Rejected // refused records by offset, until their writer looks
}

// OpenKafka connects to the brokers, creates the topic when it is missing
// (one partition, compacted) and checks it when it exists. Any number of
// instances may open one topic at once.
func OpenKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if opts.Topic == "" {
		opts.Topic = "_schemas"
	}
	if opts.Group == "" {
		opts.Group = "schemaflow-registry"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.URL == "" {
		return nil, errors.New("store: a kafka store needs the URL this instance serves on")
	}
	prod, err := kgo.NewClient(clientOpts(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		// A record that cannot be delivered fails instead of being retried
		// for ever; its writer answered long before.
		kgo.RecordDeliveryTimeout(2*opts.Timeout))...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	k := &Kafka{opts: opts, prod: prod, adm: kadm.NewClient(prod), done: make(chan struct{}),
		advanced: make(chan struct{}), rejected: map[int64]*Rejected{}}
	if err := k.ensureTopic(ctx); err != nil {
		prod.Close()
		return nil, err
	}
	k.tail, err = kgo.NewClient(clientOpts(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{opts.Topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	return k, nil
}

// k0 returns a client's options: the brokers, the caller's options, then
// the store's own.
func clientOpts(opts KafkaOptions, own ...kgo.Opt) []kgo.Opt {
	out := []kgo.Opt{kgo.SeedBrokers(opts.Brokers...)}
	out = append(out, opts.ClientOptions...)
	return append(out, own...)
}

func (k *Kafka) ensureTopic(ctx context.Context) error {
	details, err := k.adm.ListTopics(ctx, k.opts.Topic)
	if err != nil {
		return fmt.Errorf("store: listing topics: %w", err)
	}
	if d, ok := details[k.opts.Topic]; !ok || d.Err != nil {
		policy := "compact"
		resp, err := k.adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &policy}, k.opts.Topic)
		if err == nil {
			err = resp.Err
		}
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			// Another instance created it first: check it like any other.
		case err != nil:
			return fmt.Errorf("store: creating topic %s: %w", k.opts.Topic, err)
		default:
			return nil
		}
	}
	return k.checkTopic(ctx)
}

// checkTopic checks an existing topic: one partition, compacted. A topic
// another instance just created may take a moment to show its partition.
func (k *Kafka) checkTopic(ctx context.Context) error {
	for {
		details, err := k.adm.ListTopics(ctx, k.opts.Topic)
		if err != nil {
			return fmt.Errorf("store: listing topics: %w", err)
		}
		d, ok := details[k.opts.Topic]
		if ok && d.Err == nil && len(d.Partitions) > 0 {
			if n := len(d.Partitions); n != 1 {
				return fmt.Errorf("store: topic %s has %d partitions; the registry log needs exactly 1", k.opts.Topic, n)
			}
			break
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("store: topic %s did not appear: %w", k.opts.Topic, err)
		}
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

// pause waits d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endOffset returns the topic's end offset. A topic just created takes a
// moment to be visible, so a missing partition is retried until ctx ends.
func (k *Kafka) endOffset(ctx context.Context) (int64, error) {
	for {
		ends, err := k.adm.ListEndOffsets(ctx, k.opts.Topic)
		if err != nil {
			return 0, fmt.Errorf("store: finding the end of %s: %w", k.opts.Topic, err)
		}
		o, ok := ends.Lookup(k.opts.Topic, 0)
		if ok && o.Err == nil {
			return o.Offset, nil
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return 0, fmt.Errorf("store: no end offset for %s (%v): %w", k.opts.Topic, o.Err, err)
		}
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
// Each step (finding the end, each fetch) must progress within the
// timeout.
func (k *Kafka) Load(fn func(Record) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.Timeout)
	end, err := k.endOffset(ctx)
	cancel()
	if err != nil {
		return err
	}
	for k.position < end {
		ctx, cancel := context.WithTimeout(context.Background(), k.opts.Timeout)
		fetches := k.tail.PollFetches(ctx)
		cancel()
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("store: reading %s at offset %d: %w", k.opts.Topic, k.position, errs[0].Err)
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			if ferr != nil {
				return
			}
			var rj *Rejected
			if err := fn(toRecord(r)); err != nil && !errors.As(err, &rj) {
				ferr = fmt.Errorf("store: %s offset %d: %w", k.opts.Topic, r.Offset, err)
				return
			}
			k.position = r.Offset + 1
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// Append implements Store. The records are written to the topic,
// acknowledged by every in-sync replica, and applied by this instance's
// tail through the function given to Follow, before it returns. When the
// log refused one of them (another writer got there first), it returns the
// *Rejected. When ctx ends first it returns ctx's error; the records may
// still reach the log, and are then applied like any other.
func (k *Kafka) Append(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	type result struct {
		offset int64
		err    error
	}
	results := make(chan result, len(recs))
	for _, r := range recs {
		kr := &kgo.Record{Topic: k.opts.Topic, Partition: 0, Key: r.Key, Value: r.Value}
		k.prod.Produce(ctx, kr, func(kr *kgo.Record, err error) { results <- result{kr.Offset, err} })
	}
	var offsets []int64
	for range recs {
		select {
		case res := <-results:
			if res.err != nil {
				return fmt.Errorf("store: writing %s: %w", k.opts.Topic, res.err)
			}
			offsets = append(offsets, res.offset)
		case <-ctx.Done():
			return fmt.Errorf("store: writing %s: %w", k.opts.Topic, ctx.Err())
		}
	}
	last := slices.Max(offsets)
	if err := k.waitPosition(ctx, last+1); err != nil {
		return fmt.Errorf("store: applying what was written to %s: %w", k.opts.Topic, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var first *Rejected
	for _, o := range offsets {
		if rj := k.rejected[o]; rj != nil && first == nil {
			first = rj
		}
		delete(k.rejected, o)
	}
	if first != nil {
		return first
	}
	return nil
}

// waitPosition waits until the tail delivered every offset below end.
func (k *Kafka) waitPosition(ctx context.Context, end int64) error {
	for {
		k.mu.Lock()
		pos, ch := k.position, k.advanced
		k.mu.Unlock()
		if pos >= end {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keepRejected bounds the refusals kept for writers that never look (their
// Append gave up).
const keepRejected = 1024

// Follow delivers every record after those Load read, in order, its own
// included, until Close. It starts the consumer-group membership that
// elects the leader. When apply refuses a record and this instance leads,
// the refusal's rollback is written before the next record is delivered,
// so that it lands ahead of any write that waits for that delivery.
func (k *Kafka) Follow(apply func(Record) error) error {
	group, err := kgo.NewClient(clientOpts(k.opts,
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
	)...)
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
				var rj *Rejected
				if err := apply(toRecord(r)); err != nil && !errors.As(err, &rj) {
					k.opts.Logger.Error("applying a record of the registry log", "topic", k.opts.Topic, "offset", r.Offset, "err", err)
				}
				if rj != nil && rj.Rollback != nil && k.leader.Load() {
					k.rollback(*rj.Rollback)
				}
				k.mu.Lock()
				if rj != nil {
					k.rejected[r.Offset] = rj
					for o := range k.rejected {
						if o < r.Offset-keepRejected {
							delete(k.rejected, o)
						}
					}
				}
				k.position = r.Offset + 1
				close(k.advanced)
				k.advanced = make(chan struct{})
				k.mu.Unlock()
			})
		}
	}()
	return nil
}

// rollback queues a record restating what the log holds for a refused
// record's key. It does not wait: the producer keeps the order of what it
// is given, so any later write lands after it.
func (k *Kafka) rollback(r Record) {
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.Timeout)
	k.prod.Produce(ctx, &kgo.Record{Topic: k.opts.Topic, Partition: 0, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
		cancel()
		if err != nil {
			k.opts.Logger.Error("writing a rollback to the registry log", "topic", k.opts.Topic, "key", string(r.Key), "err", err)
		}
	})
}

// CatchUp waits until every record written before the call was delivered,
// so that a leader writes on a complete state. It ends with ctx.
func (k *Kafka) CatchUp(ctx context.Context) error {
	end, err := k.endOffset(ctx)
	if err != nil {
		return err
	}
	if err := k.waitPosition(ctx, end); err != nil {
		return fmt.Errorf("store: catching up with %s: %w", k.opts.Topic, err)
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
