package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// wireClient is an outside MongoDB client that schemaflow dev must serve:
// insert runs it as a child process to insert one document (Extended
// JSON text in the client's own syntax) into app.<coll> and read it back.
type wireClient struct {
	name   string
	coll   string
	lookup func(t *testing.T) (run func(uri, coll, doc string) *exec.Cmd, ok bool)
}

// nodeModules is the directory holding the npm packages mongodb and
// mongosh: $SCHEMAFLOW_TEST_NODE_MODULES, which .ci/run sets.
func nodeModules() string {
	return os.Getenv("SCHEMAFLOW_TEST_NODE_MODULES")
}

var wireClients = []wireClient{
	{name: "pymongo", coll: "python", lookup: func(t *testing.T) (func(uri, coll, doc string) *exec.Cmd, bool) {
		// Debian's python3-pymongo installs for /usr/bin/python3, which may
		// not be the python3 first on PATH.
		for _, py := range []string{"/usr/bin/python3", "python3"} {
			if exec.Command(py, "-c", "import pymongo").Run() == nil {
				return func(uri, coll, doc string) *exec.Cmd {
					return exec.Command(py, "-c", `
import sys, pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
coll = client.app[sys.argv[2]]
doc = eval(sys.argv[3])
coll.insert_one(doc)
back = coll.find_one({"_id": doc["_id"]})
assert back == doc, (back, doc)
print("pymongo", pymongo.version, "inserted and found", back)
`, uri, coll, doc)
				}, true
			}
		}
		return nil, false
	}},
	{name: "node", coll: "node", lookup: func(t *testing.T) (func(uri, coll, doc string) *exec.Cmd, bool) {
		dir := nodeModules()
		if _, err := exec.LookPath("node"); err != nil || dir == "" {
			return nil, false
		}
		if _, err := os.Stat(filepath.Join(dir, "mongodb", "package.json")); err != nil {
			return nil, false
		}
		return func(uri, coll, doc string) *exec.Cmd {
			cmd := exec.Command("node", "-e", `
const { MongoClient } = require("mongodb");
const assert = require("assert");
(async () => {
  const client = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 10000 });
  const coll = client.db("app").collection(process.argv[2]);
  const doc = JSON.parse(process.argv[3]);
  await coll.insertOne({ ...doc });
  const back = await coll.findOne({ _id: doc._id });
  assert.deepStrictEqual(back, doc);
  const v = require("mongodb/package.json").version;
  console.log("node mongodb", v, "inserted and found", JSON.stringify(back));
  await client.close();
})().catch((e) => { console.error(e); process.exit(1); });
`, uri, coll, doc)
			cmd.Env = append(os.Environ(), "NODE_PATH="+dir)
			return cmd
		}, true
	}},
	{name: "mongosh", coll: "mongosh", lookup: func(t *testing.T) (func(uri, coll, doc string) *exec.Cmd, bool) {
		bin, err := exec.LookPath("mongosh")
		if dir := nodeModules(); err != nil && dir != "" {
			bin = filepath.Join(dir, ".bin", "mongosh")
			_, err = os.Stat(bin)
		}
		if err != nil {
			return nil, false
		}
		return func(uri, coll, doc string) *exec.Cmd {
			// The URI names the database: mongosh's db is app.
			appURI := strings.Replace(uri, "/?", "/app?", 1)
			script := fmt.Sprintf(`const doc = %s;
const res = db.getCollection(%q).insertOne(doc);
if (!res.acknowledged) throw new Error("not acknowledged");
const back = db.getCollection(%q).find({_id: doc._id}).toArray();
if (back.length !== 1 || JSON.stringify(back[0]) !== JSON.stringify(doc)) throw new Error("found " + JSON.stringify(back));
print("mongosh inserted and found " + JSON.stringify(back[0]));`, doc, coll, coll)
			return exec.Command(bin, appURI, "--quiet", "--norc", "--eval", script)
		}, true
	}},
}

// Outside clients insert documents through the wire protocol; the
// source pipelines of a user's spec (on ${SCHEMAFLOW_MONGODB}) stream them
// to Kafka and register a new schema version when a new field appears.
func TestDevWireClients(t *testing.T) {
	type found struct {
		client wireClient
		run    func(uri, coll, doc string) *exec.Cmd
	}
	var clients []found
	for _, c := range wireClients {
		run, ok := c.lookup(t)
		if !ok {
			if os.Getenv("CI") != "" {
				t.Errorf("%s is not installed (.ci/run installs it; SCHEMAFLOW_TEST_NODE_MODULES=%q)", c.name, nodeModules())
			} else {
				t.Logf("%s is not installed: skipped", c.name)
			}
			continue
		}
		clients = append(clients, found{c, run})
	}
	if len(clients) == 0 {
		t.Skip("no MongoDB client installed (python3-pymongo, npm mongodb, mongosh)")
	}
	dir := t.TempDir()
	var pipelines strings.Builder
	for _, c := range wireClients {
		fmt.Fprintf(&pipelines, "  - name: %s-out\n    mongodb: {collection: %s}\n    source: {topic: app.%s, format: avro}\n", c.coll, c.coll, c.coll)
	}
	spec := writeFile(t, dir, "wire.yaml", `version: 1
kafka: {brokers: ["${SCHEMAFLOW_KAFKA}"]}
registry: {url: "${SCHEMAFLOW_REGISTRY}"}
mongodb: {uri: "${SCHEMAFLOW_MONGODB}", database: app}
pipelines:
`+pipelines.String())
	mongoAddr := freeAddr(t)
	p := startDev(t, filepath.Join(dir, "data"), "--mongodb-addr", mongoAddr, "-f", spec)
	p.waitFor(t, "the pipelines to start", func(map[string]int64) bool { return p.ready() })
	uri := p.endpoint(t, "MongoDB:")
	if want := "mongodb://" + mongoAddr + "/?directConnection=true&replicaSet=schemaflow"; uri != want {
		t.Fatalf("printed MongoDB URI %q, want %q", uri, want)
	}
	regURL, brokers := p.endpoint(t, "Registry:"), p.endpoint(t, "Kafka:")

	docs := []string{`{"_id": "order-1", "item": "tea", "qty": 2}`, `{"_id": "order-2", "item": "cake", "qty": 1, "coupon": "SPRING"}`}
	for _, c := range clients {
		t.Run(c.client.name, func(t *testing.T) {
			pipeline := c.client.coll + "-out"
			subject := "app." + c.client.coll + "-value"
			for i, doc := range docs {
				cmd := c.run(uri, c.client.coll, doc)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", c.client.name, err, out)
				}
				t.Logf("%s", strings.TrimSpace(string(out)))
				p.waitFor(t, fmt.Sprintf("%s to deliver %d records", pipeline, i+1), func(m map[string]int64) bool { return m[pipeline] >= int64(i+1) })
				waitVersions(t, regURL, subject, i+1)
			}
			// The records on the topic: the second one framed with the
			// second version's schema id, whose schema has the new field.
			recs := consumeTopic(t, brokers, "app."+c.client.coll, 2)
			// Partitions interleave: the second document is the cake.
			if bytes.Contains(recs[0].Value, []byte("cake")) {
				recs[0], recs[1] = recs[1], recs[0]
			}
			var ids []uint32
			for _, r := range recs {
				if len(r.Value) < 5 || r.Value[0] != 0 {
					t.Fatalf("record value %x is not Confluent-framed", r.Value)
				}
				ids = append(ids, binary.BigEndian.Uint32(r.Value[1:5]))
			}
			schema := registryGet(t, fmt.Sprintf("%s/schemas/ids/%d", regURL, ids[1]))
			if ids[0] == ids[1] || !strings.Contains(schema, "coupon") {
				t.Fatalf("schema ids %v; the second record's schema lacks the new field coupon: %s", ids, schema)
			}
		})
	}
	p.term(t)
}

func registryGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	s, _ := v["schema"].(string)
	return s
}

// waitVersions waits until subject has n versions.
func waitVersions(t *testing.T, regURL, subject string, n int) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	var versions []int
	for {
		resp, err := http.Get(regURL + "/subjects/" + subject + "/versions")
		if err == nil {
			versions = nil
			_ = json.NewDecoder(resp.Body).Decode(&versions)
			resp.Body.Close()
			if len(versions) >= n {
				if len(versions) != n {
					t.Fatalf("%s has versions %v, want %d", subject, versions, n)
				}
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s has versions %v, want %d", subject, versions, n)
		}
	}
}

func consumeTopic(t *testing.T, brokers, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of %d records on %s: %v", len(recs), n, topic, err)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}
