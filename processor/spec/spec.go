// Package spec reads pipeline spec files: versioned YAML documents that
// declare MongoDB → Kafka sources and Kafka → MongoDB sinks. Decoding is
// strict (unknown keys are errors), ${ENV} references are expanded in
// values, and every problem of a file is reported at once, each with its
// file:line.
//
// The package only reads and checks specs; processor/daemon runs them.
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// File is one spec file.
type File struct {
	// Version of the spec format; must be 1.
	Version int `yaml:"version"`
	// Kafka, Registry and MongoDB are defaults every pipeline inherits;
	// a pipeline's own blocks override them field by field.
	Kafka    Kafka    `yaml:"kafka"`
	Registry Registry `yaml:"registry"`
	MongoDB  MongoDB  `yaml:"mongodb"`
	// Pipelines lists the pipelines; at least one.
	Pipelines []Pipeline `yaml:"pipelines"`

	// Path is the file the spec was read from.
	Path string `yaml:"-"`
	root *yaml.Node
}

// Kafka is how to reach Kafka.
type Kafka struct {
	// Brokers are the seed brokers, "host:port".
	Brokers []string `yaml:"brokers"`
	// Compression of produced batches: none, gzip, snappy (default), lz4,
	// zstd.
	Compression string `yaml:"compression"`
	// ClientID names the client to the brokers. Default "schemaflow".
	ClientID string `yaml:"client_id"`
	// SASL authenticates to the brokers.
	SASL *SASL `yaml:"sasl"`
	// TLS encrypts the connections to the brokers.
	TLS *TLS `yaml:"tls"`
}

// SASL is a SASL login.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// TLS configures a TLS client. An empty block (tls: {}) means TLS with the
// system's roots.
type TLS struct {
	// CAFile is a PEM file of roots to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name the server's certificate is checked
	// against.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate checks off (for tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Registry is how to reach the schema registry.
type Registry struct {
	// URL of a Confluent-compatible registry.
	URL string `yaml:"url"`
	// Username and Password for basic auth.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Token for bearer auth.
	Token string `yaml:"token"`
	// TLS configures https URLs; default the system's roots.
	TLS *TLS `yaml:"tls"`
}

// MongoDB is a MongoDB deployment and namespace.
type MongoDB struct {
	// URI is a mongodb:// or mongodb+srv:// connection string, or an
	// embedded lungo engine: "lungo:memory" or "lungo:PATH" (file-backed).
	URI string `yaml:"uri"`
	// Database and Collection name the namespace.
	Database   string `yaml:"database"`
	Collection string `yaml:"collection"`
}

// Errors is what happens to a record that cannot be processed.
type Errors struct {
	// Tolerance none (default) stops the pipeline; all sends the record
	// to DeadLetterTopic and goes on.
	Tolerance string `yaml:"tolerance"`
	// DeadLetterTopic receives such records; required with tolerance all.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
}

// Pipeline is one source or sink.
type Pipeline struct {
	// Name identifies the pipeline in logs, metrics and resume tokens;
	// unique across every file run together. Required.
	Name string `yaml:"name"`
	// OnFailure is what happens when the pipeline fails: restart (default,
	// with backoff), stop (it stays stopped, the others go on) or exit
	// (the daemon stops, with an error).
	OnFailure string `yaml:"on_failure"`
	// Restart tunes the backoff between restarts.
	Restart Restart `yaml:"restart"`

	// Kafka, Registry and MongoDB override the file's defaults.
	Kafka    Kafka    `yaml:"kafka"`
	Registry Registry `yaml:"registry"`
	MongoDB  MongoDB  `yaml:"mongodb"`

	// Source, for a MongoDB → Kafka pipeline; Sink, for Kafka → MongoDB.
	// Exactly one is set.
	Source *Source `yaml:"source"`
	Sink   *Sink   `yaml:"sink"`

	// Errors is the pipeline's error tolerance.
	Errors Errors `yaml:"errors"`

	// MaxInflightBytes bounds the bytes the pipeline holds in flight: a
	// source's records encoded and not yet acknowledged by Kafka (dead
	// letters included), a sink's records fetched and not yet written.
	// Written as bytes or with a unit (64MiB, 512KiB, 1GB). Default
	// 4MiB (config.DefaultMaxInflightBytes).
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes"`
}

// Restart is a pipeline's restart backoff.
type Restart struct {
	// Backoff is the first delay. Default 1s.
	Backoff Duration `yaml:"backoff"`
	// MaxBackoff caps the doubling delay. Default 1m.
	MaxBackoff Duration `yaml:"max_backoff"`
}

// Source streams a MongoDB change stream to Kafka. The pipeline's mongodb
// block names what is watched: a collection, a database (no collection)
// or the whole deployment (neither).
type Source struct {
	// Filter is an aggregation pipeline applied to the change events.
	Filter yaml.Node `yaml:"filter" json:"-"`
	// FullDocument is the change stream's fullDocument option:
	// updateLookup (default when publishing documents), whenAvailable,
	// required, default.
	FullDocument string `yaml:"full_document"`
	// FullDocumentBeforeChange asks for pre-images: whenAvailable,
	// required, off.
	FullDocumentBeforeChange string `yaml:"full_document_before_change"`
	// Startup is where a source with no saved resume token starts:
	// latest (default), timestamp (StartAt) or copy_existing.
	Startup string `yaml:"startup"`
	// StartAt is the operation time of startup timestamp: RFC 3339, or
	// "SECONDS" / "SECONDS.INCREMENT" of a BSON timestamp.
	StartAt string `yaml:"start_at"`
	// OnLostResume is fail (default), latest or copy_existing.
	OnLostResume string `yaml:"on_lost_resume"`
	// Heartbeat saves an idle stream's resume token this often. Default off.
	Heartbeat Duration `yaml:"heartbeat"`
	// Publish is document (default: the full document) or envelope (the
	// change event).
	Publish string `yaml:"publish"`
	// Tombstones: a delete publishes a key with no value. Default true.
	Tombstones *bool `yaml:"tombstones"`
	// Topic sends every event to one topic; otherwise TopicMap, then
	// TopicRules, then "db.coll", wrapped in TopicPrefix and TopicSuffix.
	Topic       string            `yaml:"topic"`
	TopicPrefix string            `yaml:"topic_prefix"`
	TopicSuffix string            `yaml:"topic_suffix"`
	TopicMap    map[string]string `yaml:"topic_map"`
	TopicRules  []TopicRule       `yaml:"topic_rules"`
	// Format of the schemas: avro (default) or protobuf.
	Format string `yaml:"format"`
	// SubjectStrategy is topic (default), record or topic-record.
	SubjectStrategy string `yaml:"subject_strategy"`
	// Namespace of inferred records (Avro namespace, Protobuf package).
	Namespace string `yaml:"namespace"`
	// Compatibility of new versions; default each subject's level.
	Compatibility string `yaml:"compatibility"`
	// Numbers is how a field holding several BSON number types is typed:
	// widen (default: one number type) or exact (a union or oneof of the
	// types seen, so each value keeps its BSON type).
	Numbers string `yaml:"numbers"`
	// Offsets is where the resume token is kept: a compacted topic
	// (default "_schemaflow_offsets") or a local file.
	Offsets Offsets `yaml:"offsets"`
	// MaxBatch caps the events produced per saved resume token. Default 500.
	MaxBatch int `yaml:"max_batch"`
	// Copy tunes the copy of existing documents (startup copy_existing).
	Copy Copy `yaml:"copy"`
}

// Copy tunes a source's copy of existing documents.
type Copy struct {
	// Parallelism is how many _id ranges of a collection are read at
	// once. Default 4; 1 copies in _id order.
	Parallelism int `yaml:"parallelism"`
}

// TopicRule renames "db.coll" to a topic by regular expression.
type TopicRule struct {
	Pattern     string `yaml:"pattern"`
	Replacement string `yaml:"replacement"`
}

// Offsets is where a source keeps its resume token.
type Offsets struct {
	Topic string `yaml:"topic"`
	File  string `yaml:"file"`
}

// Sink writes Kafka records to MongoDB. The pipeline's mongodb block names
// the default namespace (collection: default the topic name).
type Sink struct {
	// Topics are consumed. Required.
	Topics []string `yaml:"topics"`
	// Group is the consumer group. Default "schemaflow-" + pipeline name.
	Group string `yaml:"group"`
	// TopicNamespaces maps a topic to "db.coll".
	TopicNamespaces map[string]string `yaml:"topic_namespaces"`
	// NamespaceField is a value field naming each record's namespace.
	NamespaceField string `yaml:"namespace_field"`
	// CDC reads values as change events: mongodb, debezium-rdbms,
	// debezium-mongodb or debezium-mongodb-oplog.
	CDC string `yaml:"cdc"`
	// Mapping, with cdc debezium-rdbms, maps tables to collections,
	// embedded arrays and embedded documents.
	Mapping *Mapping `yaml:"mapping"`
	// Key and Value say how record keys and values are read.
	Key   RecordFormat `yaml:"key"`
	Value RecordFormat `yaml:"value"`
	// PlainJSON is the older switch: true reads keys and values as auto,
	// false as registry (framed records only). Unset: Key and Value.
	PlainJSON *bool `yaml:"plain_json"`
	// IDStrategy is objectid (default), uuid, full-key, partial-key,
	// partial-value, key, value or kafka.
	IDStrategy string `yaml:"id_strategy"`
	// PartialKey and PartialValue are the fields of the partial id
	// strategies.
	PartialKey   Projection `yaml:"partial_key"`
	PartialValue Projection `yaml:"partial_value"`
	// OverwriteID replaces an _id the value has.
	OverwriteID bool `yaml:"overwrite_id"`
	// UUIDBinary writes uuid ids as binary subtype 4.
	UUIDBinary bool `yaml:"uuid_binary"`
	// WriteStrategy is replace (default), update, insert,
	// update-timestamps, replace-business-key or
	// update-business-key-timestamps.
	WriteStrategy string `yaml:"write_strategy"`
	// DeleteOnTombstone deletes by key on a record with no value.
	// Default true.
	DeleteOnTombstone *bool `yaml:"delete_on_tombstone"`
	// PostProcessors run on each value, in order.
	PostProcessors []PostProcessor `yaml:"post_processors"`
	// MaxBatch caps a bulk write. Default 1000.
	MaxBatch int `yaml:"max_batch"`
	// MaxWait is how long a batch waits to fill. Default 50ms.
	MaxWait Duration `yaml:"max_wait"`
	// AdaptiveBatch sizes batches by the target's write latency, up to
	// MaxBatch (default true); false fills every batch to MaxBatch.
	AdaptiveBatch *bool `yaml:"adaptive_batch"`
	// BatchLatency is the bulk write time the adaptive size aims under.
	// Default 500ms.
	BatchLatency Duration `yaml:"batch_latency"`
	// Ordered bulk writes (default true).
	Ordered *bool `yaml:"ordered"`
	// Retries of a transient failure before the pipeline stops. Default 10.
	Retries int `yaml:"retries"`
	// Backoff is the first retry delay. Default 100ms.
	Backoff Duration `yaml:"backoff"`
	// WriteTimeout bounds each write: a bulk write attempt (retried when
	// it runs out), an offset commit, a dead letter. Default 30s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// SlowWrite is how long a bulk write may run before a warning names
	// it (its namespace, records and time so far), while it still runs.
	// Default 5s.
	SlowWrite Duration `yaml:"slow_write"`
}

// RecordFormat is how a sink reads a record's key or value: auto
// (default), registry, json, string, bytes, or ignore (keys only).
type RecordFormat struct {
	Format string `yaml:"format"`
}

// Formats returns the key and value formats a sink reads, with
// plain_json applied where no format is set.
func (s *Sink) Formats() (key, value string) {
	key, value = s.Key.Format, s.Value.Format
	if s.PlainJSON != nil {
		alias := "auto"
		if !*s.PlainJSON {
			alias = "registry"
		}
		if key == "" {
			key = alias
		}
		if value == "" {
			value = alias
		}
	}
	if key == "" {
		key = "auto"
	}
	if value == "" {
		value = "auto"
	}
	return key, value
}

// Projection lists fields to keep (Allow) or drop (Block).
type Projection struct {
	Allow []string `yaml:"allow"`
	Block []string `yaml:"block"`
}

// PostProcessor is one step; exactly one field is set.
type PostProcessor struct {
	Allow         []string      `yaml:"allow"`
	Block         []string      `yaml:"block"`
	Rename        Renames       `yaml:"rename"`
	RenameRegex   []RegexRename `yaml:"rename_regex"`
	KafkaMetadata bool          `yaml:"kafka_metadata"`
	RemoveNulls   bool          `yaml:"remove_nulls"`
}

// FieldRename renames the field at the dotted path From to the name To, in
// the same document.
type FieldRename struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Renames is an ordered list of renames, applied in the order written, so
// that a chain (a → b, then b → c) gives the same document on every run.
// It is written as a list of {from, to}; the older mapping form
// ({a: b, b: c}) is read in the order its keys are written.
type Renames []FieldRename

// UnmarshalYAML reads the list form or, in document order, the mapping
// form.
func (r *Renames) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		var list []FieldRename
		if err := n.Decode(&list); err != nil {
			return err
		}
		*r = list
		return nil
	}
	out := make(Renames, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		var to string
		if err := n.Content[i+1].Decode(&to); err != nil {
			return err
		}
		out = append(out, FieldRename{From: n.Content[i].Value, To: to})
	}
	*r = out
	return nil
}

// RegexRename renames fields whose dotted path matches Match by replacing
// Pattern with Replace in the name.
type RegexRename struct {
	Match   string `yaml:"match"`
	Pattern string `yaml:"pattern"`
	Replace string `yaml:"replace"`
}

// Problem is one problem of a spec file: where it is and what is wrong.
type Problem struct {
	// File is the spec file, as named to Parse or ReadFiles.
	File string
	// Line is the 1-based line of the problem; 0 when the file could not
	// be read at all.
	Line int
	// Path is the field the problem is about, dotted with indexes
	// ("pipelines[0].sink.max_wait"); "" for the file as a whole.
	Path string
	// Pipeline is the name of the pipeline Path is in, shown after its
	// index; "" when it has none or is not shown.
	Pipeline string
	// Message says what is wrong.
	Message string
}

// Error renders the problem as "file:line: where: message", where is the
// path with the pipeline's name after its index:
// "pipelines[0] (orders): sink.max_wait".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if w := p.where(); w != "" {
		b.WriteString(w + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// where is the path as shown: a pipeline's index, its name in
// parentheses, then the rest of the path after ": ".
func (p Problem) where() string {
	const pl = "pipelines["
	end := strings.IndexByte(p.Path, ']')
	if !strings.HasPrefix(p.Path, pl) || end < 0 {
		return p.Path
	}
	w := p.Path[:end+1]
	if p.Pipeline != "" {
		w += " (" + p.Pipeline + ")"
	}
	if rest := strings.TrimPrefix(p.Path[end+1:], "."); rest != "" {
		w += ": " + rest
	}
	return w
}

// Problems is every problem found in spec files.
type Problems []Problem

// Error implements error: one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// ReadFiles reads and checks spec files; pipeline names must be unique
// across them. getenv expands ${VAR} references (nil: os.Getenv). All
// problems of all files come back at once as Problems.
func ReadFiles(paths []string, getenv func(string) string) ([]*File, error) {
	var files []*File
	var probs Problems
	seen := map[string]string{} // pipeline name → where
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			probs = append(probs, Problem{File: p, Message: err.Error()})
			continue
		}
		f, err := Parse(p, data, getenv)
		var more Problems
		if errors.As(err, &more) {
			probs = append(probs, more...)
			continue
		}
		if err != nil {
			probs = append(probs, Problem{File: p, Message: err.Error()})
			continue
		}
		for i, pl := range f.Pipelines {
			line := f.line("pipelines", i, "name")
			if first, dup := seen[pl.Name]; dup {
				probs = append(probs, Problem{File: p, Line: line, Path: fmt.Sprintf("pipelines[%d]", i),
					Message: fmt.Sprintf("name %q is also used at %s", pl.Name, first)})
				continue
			}
			seen[pl.Name] = fmt.Sprintf("%s:%d", p, line)
		}
		files = append(files, f)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return files, nil
}

// Parse decodes and checks one spec file named name. The error, if any,
// is Problems.
func Parse(name string, data []byte, getenv func(string) string) (*File, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{syntaxProblem(name, data, err)}
	}
	if len(root.Content) == 0 {
		return nil, Problems{{File: name, Line: 1, Message: "the file is empty"}}
	}
	f := &File{Path: name, root: &root}
	c := &checker{name: name, root: &root}
	c.unknownKeys(data)
	expand(&root, getenv, c, "")
	c.shape(root.Content[0], reflect.TypeOf(*f), "")
	if err := root.Content[0].Decode(f); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if len(c.typed) > 0 { // already reported with its field
				sortProblems(c.problems)
				return nil, Problems(c.problems)
			}
			return nil, Problems{yamlProblem(name, err)}
		}
		// Values of the wrong type were reported with their fields;
		// anything else decoding found is reported as it says.
		for _, m := range te.Errors {
			if pr := yamlProblem(name, errors.New(friendlyType(m))); !c.typed[pr.Line] {
				c.problems = append(c.problems, pr)
			}
		}
	}
	// The checks run even after decoding problems, so every problem is
	// reported at once; a line that has one already gets no more, since a
	// value that failed to decode looks unset.
	early := map[int]bool{}
	for _, pr := range c.problems {
		early[pr.Line] = true
	}
	n := len(c.problems)
	c.file(f)
	kept := c.problems[:n]
	for _, pr := range c.problems[n:] {
		if !early[pr.Line] {
			kept = append(kept, pr)
		}
	}
	c.problems = kept
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, Problems(c.problems)
	}
	return f, nil
}

// line finds the line of a value in the file by map keys and sequence
// indexes; the closest line found, at least 1.
func (f *File) line(path ...any) int { return NodeLine(f.root, path...) }

// Line returns the file:line of a pipeline's field, for errors found
// when a pipeline is built or run.
func (f *File) Line(pipeline int, path ...any) string {
	return fmt.Sprintf("%s:%d", f.Path, f.line(append([]any{"pipelines", pipeline}, path...)...))
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlProblem reads yaml.v3's "yaml: line N: msg" as a problem of file
// name at line N (1 when it names none).
func yamlProblem(name string, err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: name, Line: line, Message: strings.TrimSpace(msg[len(m[0]):])}
	}
	return Problem{File: name, Line: 1, Message: strings.TrimPrefix(msg, "yaml: ")}
}

var lineKey = regexp.MustCompile(`^\s*(?:-\s+)?([A-Za-z_][A-Za-z0-9_.-]*):`)

// syntaxProblem is yamlProblem naming the key written on the line of the
// error, when there is one.
func syntaxProblem(name string, data []byte, err error) Problem {
	pr := yamlProblem(name, err)
	lines := strings.Split(string(data), "\n")
	if n := pr.Line; n >= 1 && n <= len(lines) {
		if m := lineKey.FindStringSubmatch(lines[n-1]); m != nil {
			pr.Path = m[1]
		}
	}
	return pr
}

// sortProblems orders problems by line, keeping the order of each line's.
func sortProblems(p []Problem) {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Line < p[j].Line })
}

var typeMismatch = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")

// friendlyType rewrites yaml.v3's "cannot unmarshal !!str `x` into int".
func friendlyType(msg string) string {
	m := typeMismatch.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	want := msg[m[6]:m[7]]
	switch {
	case strings.HasPrefix(want, "int"):
		want = "a whole number"
	case want == "bool" || want == "*bool":
		want = "true or false"
	case want == "string":
		want = "a string"
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case strings.HasPrefix(want, "map"), strings.HasPrefix(want, "spec."), strings.HasPrefix(want, "*spec."):
		want = "a mapping"
	}
	var got string
	if msg[m[2]:m[3]] == "seq" || msg[m[2]:m[3]] == "map" {
		got = "a " + map[string]string{"seq": "list", "map": "mapping"}[msg[m[2]:m[3]]]
	} else if m[4] >= 0 {
		got = strconv.Quote(msg[m[4]:m[5]])
	} else {
		return msg
	}
	return msg[:m[0]] + got + " is not " + want
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$\$`)

// expand replaces ${VAR} and ${VAR:-default} in scalar values ("$$" is a
// literal "$"). Plain scalars are re-resolved, so "${PORT}" can be an int.
// Problems name the field at path.
func expand(n *yaml.Node, getenv func(string) string, c *checker, path string) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		// A value that is one reference takes the type of what it expands
		// to, quoted or not: max_batch: "${BATCH}" is a number.
		whole := envRef.FindString(n.Value) == n.Value && n.Value != "$$"
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			if ref == "$$" {
				return "$"
			}
			m := envRef.FindStringSubmatch(ref)
			v := getenv(m[1])
			if v == "" {
				if m[2] != "" {
					return m[3]
				}
				c.add(n.Line, path, "environment variable %s is not set (write ${%s:-default} for a default)", m[1], m[1])
			}
			return v
		})
		if n.Style == 0 || (whole && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0) {
			n.Tag, n.Style = "", 0
		}
	}
	for i, child := range n.Content {
		switch {
		case n.Kind == yaml.MappingNode && i%2 == 1:
			expand(child, getenv, c, join(path, n.Content[i-1].Value))
		case n.Kind == yaml.SequenceNode:
			expand(child, getenv, c, fmt.Sprintf("%s[%d]", path, i))
		default:
			expand(child, getenv, c, path)
		}
	}
}

// checker collects problems with their lines.
type checker struct {
	name     string
	root     *yaml.Node
	problems []Problem
	typed    map[int]bool // lines whose values have the wrong type
	inCustom int          // depth of shape within types that decode themselves
}

// resolve makes a path in the spec relative to the spec's directory.
func (c *checker) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(c.name), path)
}

// add reports a problem at line about the field at path (dotted, as
// join and dotted write it); a pipeline's path shows its name.
func (c *checker) add(line int, path string, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.name, Line: line, Path: path, Pipeline: c.pipelineName(path),
		Message: fmt.Sprintf(format, args...)})
}

var unknownField = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)

// unknownKeys reports the mapping keys that name no field, as yaml.v3's
// KnownFields(true) finds them in the file as written, each at its path
// and with the keys its place knows, as "unknown key "x" (known: a, b)".
func (c *checker) unknownKeys(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var probe File
	var te *yaml.TypeError
	if err := dec.Decode(&probe); !errors.As(err, &te) {
		return // no unknown key; syntax errors are reported by Parse
	}
	for _, m := range te.Errors {
		u := unknownField.FindStringSubmatch(m)
		if u == nil {
			continue // values of the wrong type: shape reports them, after ${ENV} expansion
		}
		line, _ := strconv.Atoi(u[1])
		path, _ := keyPath(c.root, line, u[2], "")
		c.add(line, path, "unknown key %q (known: %s)", u[2], strings.Join(knownKeys()[u[3]], ", "))
	}
}

// keyPath finds the mapping holding key at line, and returns its path.
func keyPath(n *yaml.Node, line int, key, path string) (string, bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, child := range n.Content {
			if p, ok := keyPath(child, line, key, path); ok {
				return p, true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Line == line && k.Value == key {
				return path, true
			}
			if p, ok := keyPath(n.Content[i+1], line, key, join(path, k.Value)); ok {
				return p, true
			}
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			if p, ok := keyPath(e, line, key, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// knownKeys maps each struct type a spec decodes into (named as yaml.v3
// names it, "spec.Source") to its keys, in field order.
var knownKeys = sync.OnceValue(func() map[string][]string {
	known := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == nodeType {
			return
		}
		if _, seen := known[t.String()]; seen {
			return
		}
		known[t.String()] = nil
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			names = append(names, tag)
			walk(t.Field(i).Type)
		}
		known[t.String()] = names
	}
	walk(reflect.TypeOf(File{}))
	return known
})

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// shape reports mapping keys that name no field of t, with the keys that
// are known, and values of the wrong type (a word where a number goes, a
// duration without a unit), each with the field it is in.
func (c *checker) shape(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || n.Kind == yaml.AliasNode || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return
	}
	// Types that read themselves (durations, renames) say what is wrong;
	// their contents are checked below as well.
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	if custom {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.typeProblem(n, path, typeMessage(err))
			return
		}
		c.inCustom++
		defer func() { c.inCustom-- }()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if !custom {
				c.wrongType(n, path, "a mapping")
			}
			return
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = t.Field(i).Type
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				// yaml.v3 reports unknown keys (unknownKeys), but not inside
				// types that decode themselves: those are reported here.
				if c.inCustom > 0 {
					c.add(k.Line, path, "unknown key %q (known: %s)", k.Value, strings.Join(names, ", "))
				}
				continue
			}
			c.shape(n.Content[i+1], ft, join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if !custom {
				c.wrongType(n, path, "a list")
			}
			return
		}
		for i, e := range n.Content {
			c.shape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.wrongType(n, path, "a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.shape(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case reflect.Interface:
	default:
		if !custom && (n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil) {
			c.wrongType(n, path, leafWant(t))
		}
	}
}

// leafWant says what a scalar field takes.
func leafWant(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a whole number"
}

// wrongType reports a value of the wrong kind at path.
func (c *checker) wrongType(n *yaml.Node, path, want string) {
	got := map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}[n.Kind]
	if got == "" {
		v := n.Value
		if len(v) > 20 {
			v = v[:17] + "..."
		}
		got = strconv.Quote(v)
	}
	c.typeProblem(n, path, got+" is not "+want)
}

// typeProblem reports msg at path, and remembers its line, so decoding
// does not report the value again.
func (c *checker) typeProblem(n *yaml.Node, path, msg string) {
	if c.typed == nil {
		c.typed = map[int]bool{}
	}
	c.typed[n.Line] = true
	c.add(n.Line, path, "%s", msg)
}

// typeMessage is the message of a decoding error, without its line.
func typeMessage(err error) string {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = msg[len(m[0]):]
	}
	return friendlyType(msg)
}

var pipelinePath = regexp.MustCompile(`^pipelines\[(\d+)\]`)

// pipelineName is the name of the pipeline path is in, as written in the
// document; "" outside pipelines, or when the name is still a reference.
func (c *checker) pipelineName(path string) string {
	m := pipelinePath.FindStringSubmatch(path)
	if m == nil {
		return ""
	}
	i, _ := strconv.Atoi(m[1])
	if name := nameOf(c.root, i); !strings.Contains(name, "${") {
		return name
	}
	return ""
}

// nameOf reads the name of pipeline i from the document, "" when it
// has none.
func nameOf(root *yaml.Node, i int) string {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value != "pipelines" || n.Content[j+1].Kind != yaml.SequenceNode || i >= len(n.Content[j+1].Content) {
			continue
		}
		p := n.Content[j+1].Content[i]
		for k := 0; p.Kind == yaml.MappingNode && k+1 < len(p.Content); k += 2 {
			if p.Content[k].Value == "name" && p.Content[k+1].Kind == yaml.ScalarNode {
				return p.Content[k+1].Value
			}
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// NodeLine finds the line of a value in a parsed YAML document by map
// keys (strings) and sequence indexes (ints); the closest line found is
// returned, at least 1.
func NodeLine(n *yaml.Node, keys ...any) int {
	line := 1
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		line = max(line, n.Line)
		var next *yaml.Node
		switch key := k.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == key {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && key < len(n.Content) {
				next = n.Content[key]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return max(line, n.Line)
}

// Resolve returns path relative to the spec file's directory, unless it
// is absolute.
func (f *File) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(f.Path), path)
}
