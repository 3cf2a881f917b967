// Package demo writes realistic, evolving order documents into a MongoDB
// collection, for schemaflow dev: new orders, status updates, shipping
// details, cancellations; and, as time goes on, fields that did not exist
// before (coupons, gift messages, loyalty tiers), so the schema evolves
// while the stream runs.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Collection is a collection: lungo's, or the driver's through lungo's
// adapter.
type Collection = lungo.ICollection

// Options configure a Generator.
type Options struct {
	// Rate is writes per second. Default 20.
	Rate float64
	// Seed makes the documents reproducible. Default 1.
	Seed uint64
	// Live is how many recent orders receive updates. Default 200.
	Live int
	// Keep is how many recent orders stay in the collection; older ones
	// are archived (deleted), which keeps an embedded engine small.
	// Default 500.
	Keep int
	// Max stops the generator after this many writes; 0 never stops.
	Max int64
	// Now returns the time written into documents. Default time.Now.
	Now func() time.Time
}

// Generator writes orders.
type Generator struct {
	coll   Collection
	opts   Options
	rng    *rand.Rand
	next   int64   // the next order number
	live   []int64 // recent orders, which get updates
	writes atomic.Int64
}

// New returns a Generator writing to coll.
func New(coll Collection, opts Options) *Generator {
	if opts.Rate <= 0 {
		opts.Rate = 20
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Live <= 0 {
		opts.Live = 200
	}
	if opts.Keep <= 0 {
		opts.Keep = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Generator{coll: coll, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 7))}
}

// Writes returns the writes made so far.
func (g *Generator) Writes() int64 { return g.writes.Load() }

// Run writes until ctx is done (nil) or a write fails. It continues the
// order numbers of a collection it wrote before.
func (g *Generator) Run(ctx context.Context) error {
	var last struct {
		ID int64 `bson:"_id"`
	}
	err := g.coll.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&last)
	switch {
	case err == nil:
		g.next = last.ID + 1
		// Numbering continues, and so does the rng stream, from elsewhere.
		g.rng = rand.New(rand.NewPCG(g.opts.Seed, uint64(last.ID)))
	case errors.Is(err, mongo.ErrNoDocuments):
		g.next = 1000
	case ctx.Err() != nil:
		return nil
	default:
		return fmt.Errorf("demo: read the last order: %w", err)
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / g.opts.Rate))
	defer tick.Stop()
	for g.opts.Max == 0 || g.writes.Load() < g.opts.Max {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := g.Step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "John"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Backus"}
	cities     = []string{"London", "Oslo", "Lisbon", "Berlin", "Austin", "Osaka", "Lagos", "Lima", "Pune", "Quebec"}
	products   = []struct {
		sku   string
		name  string
		price float64
	}{
		{"KB-001", "mechanical keyboard", 129.00}, {"MS-014", "wireless mouse", 39.50}, {"MN-270", "27in monitor", 289.99},
		{"HD-003", "usb-c hub", 24.90}, {"CB-100", "cable pack", 9.99}, {"LT-777", "desk lamp", 45.00}, {"CH-900", "office chair", 349.00},
	}
	carriers = []string{"DHL", "UPS", "PostNord", "FedEx"}
	statuses = []string{"new", "paid", "shipped", "delivered"}
)

// Step makes one write: mostly new orders at first, then a mix of new
// orders, status updates and cancellations. The documents grow new fields
// as the order numbers grow, so the inferred schema evolves.
func (g *Generator) Step(ctx context.Context) error {
	r := g.rng.Float64()
	var err error
	switch {
	case len(g.live) < 10 || r < 0.45:
		err = g.insert(ctx)
	case r < 0.93:
		err = g.advance(ctx)
	default:
		err = g.cancel(ctx)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	g.writes.Add(1)
	return nil
}

func (g *Generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// Seed preloads n new orders into an empty collection, in bulk inserts of
// 1000 (an embedded file-backed engine rewrites its file per write), so a
// source's copy has something to copy. It returns the orders inserted: 0
// when the collection already holds documents.
func (g *Generator) Seed(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	has, err := g.coll.CountDocuments(ctx, bson.D{}, options.Count().SetLimit(1))
	if err != nil {
		return 0, fmt.Errorf("demo: seed: count the orders: %w", err)
	}
	if has > 0 {
		return 0, nil
	}
	g.next = 1000
	for done := 0; done < n; {
		docs := make([]any, min(1000, n-done))
		for i := range docs {
			docs[i] = g.order()
		}
		if _, err := g.coll.InsertMany(ctx, docs); err != nil {
			return done, fmt.Errorf("demo: seed orders %d to %d: %w", 1000+done, 1000+done+len(docs)-1, err)
		}
		done += len(docs)
	}
	return n, nil
}

func (g *Generator) insert(ctx context.Context) error {
	doc := g.order()
	id := doc[0].Value.(int64)
	if _, err := g.coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("insert order %d: %w", id, err)
	}
	g.live = append(g.live, id)
	if len(g.live) > g.opts.Live {
		g.live = g.live[1:]
	}
	if old := id - int64(g.opts.Keep); old >= 1000 {
		if _, err := g.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: old}}); err != nil {
			return fmt.Errorf("archive order %d: %w", old, err)
		}
	}
	return nil
}

// order makes the next new order; its _id comes first.
func (g *Generator) order() bson.D {
	id := g.next
	g.next++
	first, last := g.pick(firstNames), g.pick(lastNames)
	items := bson.A{}
	total := 0.0
	for range 1 + g.rng.IntN(4) {
		p := products[g.rng.IntN(len(products))]
		qty := int64(1 + g.rng.IntN(3))
		items = append(items, bson.D{{Key: "sku", Value: p.sku}, {Key: "name", Value: p.name}, {Key: "qty", Value: qty}, {Key: "price", Value: p.price}})
		total += p.price * float64(qty)
	}
	customer := bson.D{
		{Key: "name", Value: first + " " + last},
		{Key: "email", Value: fmt.Sprintf("%s.%s@example.com", lower(first), lower(last))},
		{Key: "city", Value: g.pick(cities)},
	}
	// The shape grows with time: later orders carry fields earlier ones
	// lack, so the registry sees new, compatible versions.
	if id >= 1040 {
		customer = append(customer, bson.E{Key: "loyalty", Value: g.pick([]string{"bronze", "silver", "gold"})})
	}
	doc := bson.D{
		{Key: "_id", Value: id},
		{Key: "status", Value: "new"},
		{Key: "customer", Value: customer},
		{Key: "items", Value: items},
		{Key: "total", Value: float64(int(total*100)) / 100},
		{Key: "createdAt", Value: g.opts.Now().UTC().Truncate(time.Millisecond)},
	}
	if id >= 1020 && g.rng.IntN(3) == 0 {
		doc = append(doc, bson.E{Key: "coupon", Value: fmt.Sprintf("SAVE%d", 5*(1+g.rng.IntN(4)))})
	}
	if id >= 1080 && g.rng.IntN(5) == 0 {
		doc = append(doc, bson.E{Key: "giftMessage", Value: "Happy birthday, " + first + "!"})
	}
	return doc
}

// advance moves a live order to its next status; shipping adds a
// shipment document.
func (g *Generator) advance(ctx context.Context) error {
	i := g.rng.IntN(len(g.live))
	id := g.live[i]
	var cur struct {
		Status string `bson:"status"`
	}
	if err := g.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			g.live = append(g.live[:i], g.live[i+1:]...)
			return nil
		}
		return fmt.Errorf("read order %d: %w", id, err)
	}
	next := ""
	for j, s := range statuses[:len(statuses)-1] {
		if s == cur.Status {
			next = statuses[j+1]
		}
	}
	if next == "" {
		g.live = append(g.live[:i], g.live[i+1:]...) // delivered: done
		return nil
	}
	set := bson.D{{Key: "status", Value: next}, {Key: "updatedAt", Value: g.opts.Now().UTC().Truncate(time.Millisecond)}}
	if next == "shipped" {
		set = append(set, bson.E{Key: "shipment", Value: bson.D{
			{Key: "carrier", Value: g.pick(carriers)},
			{Key: "tracking", Value: fmt.Sprintf("TRK%08d", g.rng.IntN(100_000_000))},
		}})
	}
	if _, err := g.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}}); err != nil {
		return fmt.Errorf("update order %d: %w", id, err)
	}
	return nil
}

// cancel deletes a live order that has not shipped.
func (g *Generator) cancel(ctx context.Context) error {
	i := g.rng.IntN(len(g.live))
	id := g.live[i]
	g.live = append(g.live[:i], g.live[i+1:]...)
	filter := bson.D{{Key: "_id", Value: id}, {Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{"new", "paid"}}}}}
	if _, err := g.coll.DeleteOne(ctx, filter); err != nil {
		return fmt.Errorf("delete order %d: %w", id, err)
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
