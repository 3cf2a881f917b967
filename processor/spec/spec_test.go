package spec

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testEnv is the environment the golden specs are read with.
var testEnv = map[string]string{
	"REGISTRY_PASSWORD": "pw",
	"MONGO_URI":         "mongodb://mongo:27017/?replicaSet=rs0",
	"BATCH":             "250",
}

// TestGolden reads every spec in testdata/spec: a valid one renders its
// effective pipelines, an invalid one its exact problems.
func TestGolden(t *testing.T) {
	// From the specs' directory, so the files they name resolve and the
	// messages name the specs as a user in that directory would see them.
	t.Chdir("../../testdata/spec")
	paths, err := filepath.Glob("*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no specs: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(name+".yaml", data, func(k string) string { return testEnv[k] })
			var got string
			switch {
			case strings.HasPrefix(name, "valid") && err != nil:
				t.Fatalf("a valid spec failed:\n%v", err)
			case strings.HasPrefix(name, "invalid") && err == nil:
				t.Fatal("an invalid spec passed")
			case err != nil:
				if _, ok := err.(Problems); !ok {
					t.Fatalf("error %T, want Problems", err)
				}
				got = err.Error() + "\n"
			default:
				got = render(t, f)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// render shows the effective pipelines of a file as JSON, each with its
// filter as YAML.
func render(t *testing.T, f *File) string {
	var b strings.Builder
	for i := range f.Pipelines {
		p := f.Effective(i)
		j, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(f.Line(i) + "\n" + string(j) + "\n")
		if p.Source != nil && p.Source.Filter.Kind != 0 {
			y, err := yaml.Marshal(&p.Source.Filter)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("filter:\n" + string(y))
		}
	}
	return b.String()
}

// Pipeline names must be unique across the files run together.
func TestReadFilesDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	spec := "version: 1\nkafka: {brokers: [k:9092]}\nregistry: {url: http://r:8081}\nmongodb: {uri: lungo:memory, database: d}\npipelines:\n  - name: p\n    sink: {topics: [t]}\n"
	for _, n := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := ReadFiles([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "missing.yaml")}, nil)
	msg := err.Error()
	for _, want := range []string{"b.yaml:6: pipelines[0]: name \"p\" is also used at " + filepath.Join(dir, "a.yaml") + ":6", "missing.yaml: no such file"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// Plain scalars that came from the environment are typed after expansion.
func TestEnvTyped(t *testing.T) {
	spec := "version: ${V}\nkafka: {brokers: [k:9092]}\nregistry: {url: http://r:8081}\nmongodb: {uri: lungo:memory, database: d}\npipelines:\n  - name: p\n    sink:\n      topics: [t]\n      max_batch: ${N}\n      plain_json: ${J}\n      group: '$$literal'\n"
	f, err := Parse("s.yaml", []byte(spec), func(k string) string { return map[string]string{"V": "1", "N": "42", "J": "true"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Pipelines[0].Sink; s.MaxBatch != 42 || s.PlainJSON == nil || !*s.PlainJSON || s.Group != "$literal" {
		t.Fatalf("sink %+v", s)
	}
}

// Every problem in the golden files names the field it is about, after
// its file:line — except an empty file's, which has none, and a syntax
// error's, which names the key written on its line (the path is unknown
// when the YAML does not parse).
func TestProblemsNameTheirField(t *testing.T) {
	paths, err := filepath.Glob("../../testdata/spec/invalid-*.golden")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no goldens: %v", err)
	}
	field := regexp.MustCompile(`^[^:]+\.yaml:\d+: (version|kafka|registry|mongodb|pipelines\[\d+\]( \([^)]*\))?)[:.\[ ]`)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !field.MatchString(line) && !strings.HasSuffix(line, ":1: the file is empty") && line != "invalid-syntax.yaml:4: sink: did not find expected node content" {
				t.Errorf("%s: a problem without its field: %s", filepath.Base(path), line)
			}
		}
	}
}

// Problems are values: a file name and keys containing ':' keep their
// lines, the order by line and the one-problem-per-line rule (parsing
// "file:line" strings broke on both).
func TestProblemPathsWithColons(t *testing.T) {
	spec := "version: 1\nkafka: {brokers: [k:9092]}\nregistry: {url: http://r:8081}\nmongodb: {uri: lungo:memory, database: d}\npipelines:\n" +
		"  - name: p\n    sink:\n      topics: [t]\n      topic_namespaces: {\"a:b\": nodot}\n      max_batch: -1\n" +
		"  - name: q\n    sink: {topics: [u], max_batch: many}\n"
	name := "C:/specs/my:spec.yaml"
	_, err := Parse(name, []byte(spec), nil)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error %v, want Problems", err)
	}
	want := []Problem{
		{File: name, Line: 9, Path: "pipelines[0].sink.topic_namespaces.a:b", Pipeline: "p", Message: `"nodot": want db.coll`},
		{File: name, Line: 10, Path: "pipelines[0].sink.max_batch", Pipeline: "p", Message: "must not be negative"},
		{File: name, Line: 12, Path: "pipelines[1].sink.max_batch", Pipeline: "q", Message: `"many" is not a whole number`},
	}
	if !reflect.DeepEqual([]Problem(probs), want) {
		t.Fatalf("problems:\n%#v\nwant:\n%#v", probs, want)
	}
	if got, want := probs[0].Error(), name+`:9: pipelines[0] (p): sink.topic_namespaces.a:b: "nodot": want db.coll`; got != want {
		t.Fatalf("rendered %q, want %q", got, want)
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"1048576", 1 << 20, false},
		{"64MiB", 64 << 20, false},
		{"512 KiB", 512 << 10, false},
		{"1GB", 1e9, false},
		{"10B", 10, false},
		{"0", 0, false},
		{"-1", 0, true},
		{"lots", 0, true},
		{"1.5MiB", 0, true},
		{"MiB", 0, true},
		{"9999999999GiB", 0, true}, // overflows int64
	} {
		got, err := ParseByteSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// ParseByteSize never panics and never returns a negative size.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"64MiB", "1", "-1", "9223372036854775807", "8589934592GiB", " 3 KB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseByteSize(s); err == nil && n < 0 {
			t.Fatalf("%q: negative size %d", s, n)
		}
	})
}

// Unknown keys are found by yaml.v3's KnownFields, and inside types that
// decode themselves (rename lists), which it does not reach, by the
// spec's own walk: both with their path and the keys their place knows.
func TestUnknownKeys(t *testing.T) {
	spec := "version: 1\nkafka: {brokers: [k:9092]}\nregistry: {url: http://r:8081}\nmongodb: {uri: lungo:memory, database: d}\npipelines:\n" +
		"  - name: p\n    sink:\n      topics: [t]\n      post_processors:\n        - rename: [{from: a, too: b}]\n" +
		"      mapping:\n        tables:\n          public.t: {collection: c, colection: x}\n    restart: {backof: 1s}\n"
	_, err := Parse("u.yaml", []byte(spec), nil)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error %v, want Problems", err)
	}
	var got []string
	for _, p := range probs {
		if strings.Contains(p.Message, "unknown key") {
			got = append(got, p.Error())
		}
	}
	want := []string{
		`u.yaml:10: pipelines[0] (p): sink.post_processors[0].rename[0]: unknown key "too" (known: from, to)`,
		`u.yaml:13: pipelines[0] (p): sink.mapping.tables.public.t: unknown key "colection" (known: collection, rename, include, exclude, nulls, types, filter, embed_array, embed_document)`,
		`u.yaml:14: pipelines[0] (p): restart: unknown key "backof" (known: backoff, max_backoff)`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("unknown keys:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The sink's batch keys reach its Config: the adaptive size is on unless
// adaptive_batch is false, batch_latency sets its bound, and a bound that
// is not a duration is a problem at its key.
func TestSinkBatchKeys(t *testing.T) {
	head := "version: 1\nkafka: {brokers: [k:9092]}\nregistry: {url: http://r:8081}\nmongodb: {uri: lungo:memory, database: d}\npipelines:\n" +
		"  - name: p\n    sink:\n      topics: [t]\n"
	for _, tt := range []struct {
		keys    string
		fixed   bool
		latency time.Duration
	}{
		{"", false, 0},
		{"      adaptive_batch: false\n", true, 0},
		{"      adaptive_batch: true\n      batch_latency: 2s\n", false, 2 * time.Second},
	} {
		f, err := Parse("b.yaml", []byte(head+tt.keys), nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.keys, err)
		}
		cfg, err := f.SinkConfig(f.Pipelines[0])
		if err != nil {
			t.Fatal(err)
		}
		if cfg.FixedBatch != tt.fixed || cfg.BatchLatency != tt.latency {
			t.Errorf("%q: FixedBatch %v, BatchLatency %s; want %v, %s", tt.keys, cfg.FixedBatch, cfg.BatchLatency, tt.fixed, tt.latency)
		}
	}
	_, err := Parse("b.yaml", []byte(head+"      batch_latency: -1s\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "b.yaml:9: pipelines[0] (p): sink.batch_latency: ") {
		t.Fatalf("negative batch_latency: %v", err)
	}
}
