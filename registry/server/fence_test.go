package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaflow/schemaflow/registry/server"
	"github.com/schemaflow/schemaflow/registry/store"
)

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startWith runs a registry server over the Kafka log at brokers, in
// consumer group group, with a store timeout.
func startWith(t *testing.T, brokers []string, group string, timeout time.Duration) *instance {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	st, err := store.OpenKafka(context.Background(), store.KafkaOptions{Brokers: brokers, URL: ts.URL, Group: group, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(st, server.Options{StoreTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	inst := &instance{ts: ts, store: st}
	t.Cleanup(inst.close)
	return inst
}

// waitUntil polls cond until it holds, failing the test after 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// answer is an HTTP answer of the registry.
type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) code() int {
	if c, ok := a.body["error_code"].(float64); ok {
		return int(c)
	}
	return 0
}

func (a answer) id() int {
	if c, ok := a.body["id"].(float64); ok {
		return int(c)
	}
	return 0
}

func httpCall(t *testing.T, method, url string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func register(t *testing.T, i *instance, subject, schema string) answer {
	t.Helper()
	return httpCall(t, "POST", i.ts.URL+"/subjects/"+subject+"/versions", map[string]string{"schema": schema})
}

func recordSchema(name string) string {
	return fmt.Sprintf(`{"type":"record","name":%q,"fields":[{"name":"id","type":"long"}]}`, name)
}

// view is what an instance says about ids and subjects.
type view struct {
	ids      map[int]string   // id -> schema
	versions map[string][]int // subject -> ids of versions 1..n
}

func viewOf(t *testing.T, i *instance, subjects []string, maxID int) view {
	t.Helper()
	v := view{ids: map[int]string{}, versions: map[string][]int{}}
	for id := 1; id <= maxID; id++ {
		if a := httpCall(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", i.ts.URL, id), nil); a.status == 200 {
			v.ids[id] = a.body["schema"].(string)
		}
	}
	for _, s := range subjects {
		a := httpCall(t, "GET", i.ts.URL+"/subjects/"+s+"/versions", nil)
		var ns []int
		_ = json.Unmarshal([]byte(a.raw), &ns)
		for _, n := range ns {
			va := httpCall(t, "GET", fmt.Sprintf("%s/subjects/%s/versions/%d", i.ts.URL, s, n), nil)
			v.versions[s] = append(v.versions[s], va.id())
		}
	}
	return v
}

// checkOneToOne fails unless every id names one schema and every schema
// has one id.
func checkOneToOne(t *testing.T, v view) {
	t.Helper()
	seen := map[string]int{}
	for id, s := range v.ids {
		if other, ok := seen[s]; ok {
			t.Fatalf("schema %s has ids %d and %d", s, other, id)
		}
		seen[s] = id
	}
}

func sameView(t *testing.T, name string, got, want view) {
	t.Helper()
	if fmt.Sprint(got.ids) != fmt.Sprint(want.ids) || fmt.Sprint(got.versions) != fmt.Sprint(want.versions) {
		t.Fatalf("%s sees %v %v, want %v %v", name, got.ids, got.versions, want.ids, want.versions)
	}
}

// TestKafkaFencedWrites: two instances both believe they lead (each is
// alone in its own consumer group, as after a paused process or a split
// rebalance) and write one log. A's produce is held inside the broker while
// B registers another schema on the same subject, so both were built on
// the same state and claim id 1 and version 1. The log decides: B's record
// came first, A's is refused everywhere and rolled back, and A, seeing its
// record refused, builds it again and answers id 2. Every instance, a
// fresh one replaying the log, and a fresh one after compaction agree.
func TestKafkaFencedWrites(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	brokers := c.ListenAddrs()
	a := startWith(t, brokers, "group-a", 10*time.Second)
	b := startWith(t, brokers, "group-b", 10*time.Second)
	waitLeader(t, a)
	waitLeader(t, b)
	if got := httpCall(t, "PUT", a.ts.URL+"/config", map[string]string{"compatibility": "NONE"}); got.status != 200 {
		t.Fatalf("config: %s", got.raw)
	}
	x, y := recordSchema("X"), recordSchema("Y")

	var produces atomic.Int32
	held, release := make(chan struct{}), make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if produces.Add(1) == 1 {
			close(held)
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	fromA := make(chan answer, 1)
	go func() { fromA <- register(t, a, "s", x) }()
	<-held // A built its record on the state before B's and is producing it

	gotY := register(t, b, "s", y)
	if gotY.status != 200 || gotY.id() != 1 {
		t.Fatalf("B: %s", gotY.raw)
	}
	close(release)
	gotX := <-fromA
	if gotX.status != 200 || gotX.id() != 2 {
		t.Fatalf("A after losing the race: %d %s", gotX.status, gotX.raw)
	}

	want := view{ids: map[int]string{1: y, 2: x}, versions: map[string][]int{"s": {1, 2}}}
	for name, i := range map[string]*instance{"A": a, "B": b} {
		waitUntil(t, name+" to see both", func() bool {
			return len(viewOf(t, i, []string{"s"}, 3).versions["s"]) == 2
		})
		sameView(t, name, viewOf(t, i, []string{"s"}, 3), want)
	}
	// The log holds A's refused record, and after it a rollback of its key.
	recs := readLog(t, brokers)
	refused := slices.IndexFunc(recs, func(r *kgo.Record) bool {
		return bytes.Contains(r.Value, []byte(`"id":1,`)) && bytes.Contains(r.Value, []byte(`\"X\"`))
	})
	if refused < 0 {
		t.Fatalf("no refused record in the log: %s", dump(recs))
	}
	if !slices.ContainsFunc(recs[refused+1:], func(r *kgo.Record) bool {
		return string(r.Key) == string(recs[refused].Key) && bytes.Contains(r.Value, []byte(`\"Y\"`))
	}) {
		t.Fatalf("no rollback after the refused record: %s", dump(recs))
	}
	fresh := startWith(t, brokers, "group-c", 10*time.Second)
	sameView(t, "a fresh instance", viewOf(t, fresh, []string{"s"}, 3), want)
	c.Compact()
	compacted := startWith(t, brokers, "group-d", 10*time.Second)
	sameView(t, "an instance after compaction", viewOf(t, compacted, []string{"s"}, 3), want)
}

// TestKafkaConcurrentLeaders: two instances that both believe they lead
// take registrations of overlapping schemas and subjects at once. Every
// registration succeeds, each schema gets one id whichever instance
// answered, each id names one schema, and both instances and a replay of
// the log agree.
func TestKafkaConcurrentLeaders(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	brokers := c.ListenAddrs()
	a := startWith(t, brokers, "group-a", 10*time.Second)
	b := startWith(t, brokers, "group-b", 10*time.Second)
	waitLeader(t, a)
	waitLeader(t, b)
	if got := httpCall(t, "PUT", a.ts.URL+"/config", map[string]string{"compatibility": "NONE"}); got.status != 200 {
		t.Fatalf("config: %s", got.raw)
	}
	subjects := []string{"s0", "s1", "s2"}
	var mu sync.Mutex
	idOf := map[string]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		inst := []*instance{a, b}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 8 {
				schema := recordSchema(fmt.Sprintf("S%d", (w+n)%7))
				got := register(t, inst, subjects[(w*3+n)%3], schema)
				if got.status != 200 {
					t.Errorf("register: %d %s", got.status, got.raw)
					return
				}
				mu.Lock()
				if prev, ok := idOf[schema]; ok && prev != got.id() {
					t.Errorf("schema %s answered ids %d and %d", schema, prev, got.id())
				}
				idOf[schema] = got.id()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Both catch up with the log (a write catches up first).
	for _, i := range []*instance{a, b} {
		if got := httpCall(t, "PUT", i.ts.URL+"/config/sync", map[string]string{"compatibility": "NONE"}); got.status != 200 {
			t.Fatalf("config: %s", got.raw)
		}
	}
	va := viewOf(t, a, subjects, 30)
	checkOneToOne(t, va)
	for schema, id := range idOf {
		if va.ids[id] != schema {
			t.Fatalf("id %d answered for %s names %s", id, schema, va.ids[id])
		}
	}
	waitUntil(t, "B to see A's last write", func() bool {
		return fmt.Sprint(viewOf(t, b, subjects, 30)) == fmt.Sprint(viewOf(t, a, subjects, 30))
	})
	sameView(t, "a fresh instance", viewOf(t, startWith(t, brokers, "group-c", 10*time.Second), subjects, 30), va)
}

// TestKafkaStoreOutage: while the brokers hang (every request, or only
// produce requests, held inside the broker), reads keep answering from
// memory even with a write in flight, and writes answer 50002 (operation
// timed out) within the store timeout instead of hanging. When the brokers
// return, writes work again on their own, and a write that timed out after
// its record was sent is not registered twice.
func TestKafkaStoreOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  int16 // requests held: -1 all
		sign int16 // the request that shows the write is in flight
	}{
		{"brokers hang", -1, int16(kmsg.ListOffsets)},
		{"produce hangs", int16(kmsg.Produce), int16(kmsg.Produce)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t)
			const timeout = 2 * time.Second
			a := startWith(t, c.ListenAddrs(), "", timeout)
			waitLeader(t, a)
			if got := httpCall(t, "PUT", a.ts.URL+"/config", map[string]string{"compatibility": "NONE"}); got.status != 200 {
				t.Fatalf("config: %s", got.raw)
			}
			x, z := recordSchema("X"), recordSchema("Z")
			gotX := register(t, a, "s", x)
			if gotX.status != 200 {
				t.Fatalf("register: %s", gotX.raw)
			}

			restore := make(chan struct{})
			inFlight := make(chan struct{})
			var once sync.Once
			c.ControlKey(tc.key, func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				select {
				case <-restore:
					c.DropControl()
					return nil, nil, false
				default:
				}
				if req.Key() == tc.sign {
					once.Do(func() { close(inFlight) })
				}
				c.SleepControl(func() { <-restore })
				return nil, nil, false
			})
			start := time.Now()
			write := make(chan answer, 1)
			go func() { write <- register(t, a, "s", z) }()
			select {
			case <-inFlight:
			case got := <-write:
				t.Fatalf("the write answered before reaching the brokers: %s", got.raw)
			}

			// Reads answer while the write waits on the brokers.
			if got := httpCall(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", a.ts.URL, gotX.id()), nil); got.status != 200 || got.body["schema"] != x {
				t.Fatalf("schema by id during the outage: %s", got.raw)
			}
			if got := httpCall(t, "POST", a.ts.URL+"/subjects/s", map[string]string{"schema": x}); got.status != 200 || got.id() != gotX.id() {
				t.Fatalf("lookup during the outage: %s", got.raw)
			}
			if got := httpCall(t, "GET", a.ts.URL+"/subjects/s/versions", nil); got.status != 200 || got.raw != "[1]\n" {
				t.Fatalf("versions during the outage: %s", got.raw)
			}
			select {
			case <-write:
				t.Fatal("the write finished while its request was held in the broker")
			default:
			}
			got := <-write
			if got.status != 500 || got.code() != server.CodeOperationTimedOut {
				t.Fatalf("write during the outage: %d %s", got.status, got.raw)
			}
			if elapsed := time.Since(start); elapsed > 3*timeout {
				t.Fatalf("the write answered after %v; the store timeout is %v", elapsed, timeout)
			}
			// A second write waits no longer than its own timeout either.
			if got := register(t, a, "t", z); got.code() != server.CodeOperationTimedOut {
				t.Fatalf("second write during the outage: %d %s", got.status, got.raw)
			}

			close(restore)
			var again answer
			waitUntil(t, "writes to come back", func() bool {
				again = register(t, a, "s", z)
				return again.status == 200
			})
			if again.id() == gotX.id() {
				t.Fatalf("Z got X's id %d", again.id())
			}
			if got := httpCall(t, "GET", a.ts.URL+"/subjects/s/versions", nil); got.raw != "[1,2]\n" {
				t.Fatalf("versions after the outage: %s", got.raw)
			}
		})
	}
}

// TestKafkaConcurrentStart: instances started together on a new cluster
// all start (none fails on the topic another created), elect one leader,
// and take writes through any of them.
func TestKafkaConcurrentStart(t *testing.T) {
	t.Parallel()
	brokers := newCluster(t).ListenAddrs()
	const n = 5
	insts := make([]*instance, n)
	var wg sync.WaitGroup
	for i := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			insts[i] = startWith(t, brokers, "", 10*time.Second)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitLeader(t, insts...)
	for i, inst := range insts {
		if got := register(t, inst, fmt.Sprintf("s%d", i), recordSchema(fmt.Sprintf("R%d", i))); got.status != 200 || got.id() != i+1 {
			t.Fatalf("instance %d: %s", i, got.raw)
		}
	}
	for _, inst := range insts {
		waitUntil(t, "every instance to see every write", func() bool {
			got := httpCall(t, "GET", inst.ts.URL+"/subjects", nil)
			var subjects []string
			_ = json.Unmarshal([]byte(got.raw), &subjects)
			return len(subjects) == n
		})
	}
}

func readLog(t *testing.T, brokers []string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"_schemas": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("_schemas", 0)
	var out []*kgo.Record
	for (len(out) == 0 || out[len(out)-1].Offset+1 < end.Offset) && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}

func dump(recs []*kgo.Record) string {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "\n%d %s %s", r.Offset, r.Key, r.Value)
	}
	return b.String()
}
