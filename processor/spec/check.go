package spec

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"gopkg.in/yaml.v3"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/processor/config"
	"github.com/schemaflow/schemaflow/processor/decode"
	"github.com/schemaflow/schemaflow/schemas"
)

// Duration is a Go duration written as text ("250ms", "1m30s").
type Duration struct {
	time.Duration
}

// UnmarshalYAML parses the text; a bad one is reported with its line and
// decoding goes on, so every problem is reported.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		hint := "write e.g. 500ms, 10s, 1m"
		if _, isNumber := strconv.ParseFloat(n.Value, 64); isNumber == nil {
			hint = "add a unit, such as " + n.Value + "ms"
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration: %s", n.Line, n.Value, hint)}}
	}
	d.Duration = v
	return nil
}

// ByteSize is a number of bytes, written as a whole number or with a
// unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024),
// as in 64MiB.
type ByteSize int64

// byteUnits are ByteSize's units, longest first for matching.
var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseByteSize reads a size such as "64MiB", "500KB" or "1048576".
func ParseByteSize(text string) (ByteSize, error) {
	s := strings.TrimSpace(text)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size: write e.g. 64MiB, 512KiB or 1000000", text)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML parses the text; a bad one is reported with its line and
// decoding goes on, so every problem is reported.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a %s is not a size", n.Line, map[yaml.Kind]string{yaml.SequenceNode: "list"}[n.Kind]+map[yaml.Kind]string{yaml.MappingNode: "mapping"}[n.Kind])}}
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*b = v
	return nil
}

// Effective returns pipeline i with the file's defaults filled in.
func (f *File) Effective(i int) Pipeline {
	p := f.Pipelines[i]
	if len(p.Kafka.Brokers) == 0 {
		p.Kafka.Brokers = f.Kafka.Brokers
	}
	or(&p.Kafka.Compression, f.Kafka.Compression)
	or(&p.Kafka.ClientID, f.Kafka.ClientID)
	if p.Kafka.SASL == nil {
		p.Kafka.SASL = f.Kafka.SASL
	}
	if p.Kafka.TLS == nil {
		p.Kafka.TLS = f.Kafka.TLS
	}
	if p.Registry.TLS == nil {
		p.Registry.TLS = f.Registry.TLS
	}
	or(&p.Registry.URL, f.Registry.URL)
	or(&p.Registry.Username, f.Registry.Username)
	or(&p.Registry.Password, f.Registry.Password)
	or(&p.Registry.Token, f.Registry.Token)
	or(&p.MongoDB.URI, f.MongoDB.URI)
	or(&p.MongoDB.Database, f.MongoDB.Database)
	or(&p.MongoDB.Collection, f.MongoDB.Collection)
	return p
}

func or(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

var pipelineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// file checks a decoded file.
func (c *checker) file(f *File) {
	at := func(path ...any) int { return NodeLine(c.root, path...) }
	if f.Version != 1 {
		c.add(at("version"), "version", "must be 1, not %d", f.Version)
	}
	if len(f.Pipelines) == 0 {
		c.add(at("pipelines"), "pipelines", "at least one pipeline is required")
	}
	// The file's defaults are checked once, where they are written; each
	// pipeline checks the values it sets itself.
	c.connections(nil, func(path []any, format string, args ...any) {
		c.add(at(path...), dotted(path), format, args...)
	}, f.Kafka, f.Registry, f.MongoDB)
	names := map[string]int{}
	for i := range f.Pipelines {
		p := f.Effective(i)
		pc := &pipelineChecker{c: c, i: i, p: p}
		c.connections(nil, pc.bad, f.Pipelines[i].Kafka, f.Pipelines[i].Registry, f.Pipelines[i].MongoDB)
		pc.check()
		if first, dup := names[p.Name]; dup && p.Name != "" {
			c.problems = append(c.problems, Problem{File: c.name, Line: at("pipelines", i, "name"), Path: fmt.Sprintf("pipelines[%d]", i),
				Message: fmt.Sprintf("name %q is also used by pipelines[%d]", p.Name, first)})
		} else {
			names[p.Name] = i
		}
	}
}

// connections checks the form of the kafka, registry and mongodb values
// that are set; bad reports at a path.
func (c *checker) connections(_ []any, bad func(path []any, format string, args ...any), k Kafka, r Registry, m MongoDB) {
	for j, b := range k.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			bad(p("kafka", "brokers", j), "%q: want host:port", b)
		}
	}
	if c := config.Compression(k.Compression); c != "" && !config.Valid(c, config.Compressions) {
		bad(p("kafka", "compression"), "%q: want %s", k.Compression, config.Want(config.Compressions))
	}
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(p("registry", "url"), "%q: want an http:// or https:// URL", r.URL)
		}
	}
	if r.Token != "" && (r.Username != "" || r.Password != "") {
		bad(p("registry", "token"), "use a token or a username and password, not both")
	}
	if s := k.SASL; s != nil {
		if !config.Valid(config.SASLMechanism(s.Mechanism), config.SASLMechanisms) {
			bad(p("kafka", "sasl", "mechanism"), "%q: want %s", s.Mechanism, config.Want(config.SASLMechanisms))
		}
		if s.Username == "" || s.Password == "" {
			bad(p("kafka", "sasl"), "username and password are required")
		}
	}
	c.tls(bad, p("kafka", "tls"), k.TLS)
	c.tls(bad, p("registry", "tls"), r.TLS)
	if r.TLS != nil && strings.HasPrefix(r.URL, "http://") {
		bad(p("registry", "tls"), "the registry URL is http://: use https:// with tls")
	}
	switch u := m.URI; {
	case u == "", strings.HasPrefix(u, "mongodb://"), strings.HasPrefix(u, "mongodb+srv://"):
	case strings.HasPrefix(u, "lungo:") && u != "lungo:":
	default:
		bad(p("mongodb", "uri"), "%q: want mongodb://, mongodb+srv://, lungo:memory or lungo:PATH", u)
	}
}

// tls checks a TLS block: the key pair goes together and the files exist.
func (c *checker) tls(bad func(path []any, format string, args ...any), at []any, t *TLS) {
	if t == nil {
		return
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad(at, "cert_file and key_file go together")
	}
	for _, f := range []struct{ key, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(c.resolve(f.path)); err != nil {
			bad(append(append([]any(nil), at...), f.key), "%v", err)
		}
	}
}

func contains(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// dotted writes a path as "a.b[2].c".
func dotted(path []any) string {
	var parts []string
	for _, k := range path {
		if n, ok := k.(int); ok && len(parts) > 0 {
			parts[len(parts)-1] += fmt.Sprintf("[%d]", n)
			continue
		}
		parts = append(parts, fmt.Sprint(k))
	}
	return strings.Join(parts, ".")
}

// pipelineChecker checks one pipeline, reporting under "pipelines[i]".
type pipelineChecker struct {
	c *checker
	i int
	p Pipeline
}

// bad reports a problem at the pipeline's field path (e.g. "source",
// "startup"); a default inherited from the file is reported at the
// pipeline.
func (pc *pipelineChecker) bad(path []any, format string, args ...any) {
	full := append([]any{"pipelines", pc.i}, path...)
	pc.c.problems = append(pc.c.problems, Problem{File: pc.c.name, Line: NodeLine(pc.c.root, full...), Path: dotted(full),
		Pipeline: pc.p.Name, Message: fmt.Sprintf(format, args...)})
}

func p(path ...any) []any { return path }

// oneOf reports v when it is set and not among the allowed values.
func (pc *pipelineChecker) oneOf(path []any, v string, allowed ...string) {
	if v != "" && !contains(v, allowed...) {
		pc.bad(path, "%q: want %s", v, list(allowed))
	}
}

func list(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func (pc *pipelineChecker) check() {
	pl := pc.p
	switch {
	case pl.Name == "":
		pc.bad(p("name"), "required")
	case !pipelineName.MatchString(pl.Name):
		pc.bad(p("name"), "%q: use letters, digits, '.', '_' and '-'", pl.Name)
	}
	restart := pl.RestartConfig()
	restart.EnsureDefaults()
	pc.configProblems(restart.Validate(), restartFields)
	if len(pl.Kafka.Brokers) == 0 {
		pc.bad(p("kafka", "brokers"), "at least one broker is required (here or in the file's kafka block)")
	}
	if pl.MongoDB.URI == "" {
		pc.bad(p("mongodb", "uri"), "required (here or in the file's mongodb block)")
	}
	needRegistry := true
	switch {
	case pl.Source == nil && pl.Sink == nil:
		pc.bad(nil, "set source (MongoDB → Kafka) or sink (Kafka → MongoDB)")
	case pl.Source != nil && pl.Sink != nil:
		pc.bad(p("sink"), "a pipeline is a source or a sink, not both: split it in two")
	case pl.Source != nil:
		pc.source(pl.Source)
	default:
		pc.sink(pl.Sink)
		// auto needs the registry to tell a frame, unless plain_json
		// said frames are not expected.
		key, value := pl.Sink.Formats()
		plain := pl.Sink.PlainJSON != nil && *pl.Sink.PlainJSON
		needRegistry = key == "registry" || value == "registry" || (!plain && (key == "auto" || value == "auto"))
	}
	if pl.Registry.URL == "" && needRegistry {
		pc.bad(p("registry", "url"), "required (here or in the file's registry block)")
	}
}

func (pc *pipelineChecker) source(s *Source) {
	pl := pc.p
	// What the source's Config checks is checked there, and placed here.
	cfg, _ := sourceConfig(pc.c.resolve, pl)
	cfg.EnsureDefaults()
	pc.configProblems(cfg.Validate(), sourceFields)
	if pl.MongoDB.Collection != "" && pl.MongoDB.Database == "" {
		pc.bad(p("mongodb", "database"), "required with a collection")
	}
	if s.Filter.Kind != 0 && s.Filter.Kind != yaml.SequenceNode {
		pc.bad(p("source", "filter"), "want a list of aggregation stages")
	}
	for j, st := range s.Filter.Content {
		if st.Kind != yaml.MappingNode {
			pc.bad(p("source", "filter", j), "want a stage such as {$match: {...}}")
		}
	}
	pc.oneOf(p("source", "full_document"), s.FullDocument, "default", "updateLookup", "whenAvailable", "required")
	pc.oneOf(p("source", "full_document_before_change"), s.FullDocumentBeforeChange, "off", "whenAvailable", "required")
	pc.oneOf(p("source", "startup"), s.Startup, "latest", "timestamp", "copy_existing")
	if (s.Startup == "copy_existing" || s.OnLostResume == "copy_existing") && pl.MongoDB.Database == "" {
		pc.bad(p("source"), "copy_existing needs mongodb.database: a collection or every collection of a database is copied, not a whole deployment")
	}
	switch {
	case s.Startup == "timestamp" && s.StartAt == "":
		pc.bad(p("source", "start_at"), "required with startup timestamp")
	case s.StartAt != "" && s.Startup != "timestamp":
		pc.bad(p("source", "start_at"), "only read with startup timestamp")
	case s.StartAt != "":
		if _, err := ParseTimestamp(s.StartAt); err != nil {
			pc.bad(p("source", "start_at"), "%v", err)
		}
	}
	pc.oneOf(p("source", "publish"), s.Publish, "document", "envelope")
	if s.Format != "" {
		if f, err := schemas.ParseFormat(s.Format); err != nil || (f != schemas.Avro && f != schemas.Protobuf) {
			pc.bad(p("source", "format"), "%q: want avro or protobuf", s.Format)
		}
	}
	pc.oneOf(p("source", "numbers"), s.Numbers, "widen", "exact")
	if s.Compatibility != "" {
		if _, err := evolution.ParseLevel(s.Compatibility); err != nil {
			pc.bad(p("source", "compatibility"), "%v", err)
		}
	}
	if s.Offsets.Topic != "" && s.Offsets.File != "" {
		pc.bad(p("source", "offsets"), "set topic or file, not both")
	}
	if s.Topic != "" && (len(s.TopicMap) > 0 || len(s.TopicRules) > 0) {
		pc.bad(p("source", "topic"), "one topic for every event leaves topic_map and topic_rules unused: set one or the others")
	}
	for j, r := range s.TopicRules {
		if r.Pattern == "" || r.Replacement == "" {
			pc.bad(p("source", "topic_rules", j), "pattern and replacement are required")
		} else if _, err := regexp.Compile(r.Pattern); err != nil {
			pc.bad(p("source", "topic_rules", j, "pattern"), "%v", err)
		}
	}
}

func (pc *pipelineChecker) sink(s *Sink) {
	pl := pc.p
	// What the sink's Config checks is checked there, and placed here.
	cfg, _ := sinkConfig(pl)
	cfg.EnsureDefaults()
	pc.configProblems(cfg.Validate(), sinkFields)
	// The formats are decode's, defined there once.
	if _, err := decode.ParseFormat(s.Key.Format, true); err != nil {
		pc.bad(p("sink", "key", "format"), "%v", err)
	}
	if _, err := decode.ParseFormat(s.Value.Format, false); err != nil {
		pc.bad(p("sink", "value", "format"), "%v", err)
	}
	if pl.MongoDB.Database == "" {
		pc.bad(p("mongodb", "database"), "required: the sink's default database")
	}
	for t, ns := range s.TopicNamespaces {
		if db, coll, ok := strings.Cut(ns, "."); !ok || db == "" || coll == "" {
			pc.bad(p("sink", "topic_namespaces", t), "%q: want db.coll", ns)
		}
	}
	pc.mapping(s)
	if s.CDC != "" && (s.IDStrategy != "" || s.WriteStrategy != "" || len(s.PostProcessors) > 0) {
		pc.bad(p("sink", "cdc"), "a CDC handler makes its own write models: id_strategy, write_strategy and post_processors are not used with it")
	}
	for _, pr := range []struct {
		name string
		p    Projection
	}{{"partial_key", s.PartialKey}, {"partial_value", s.PartialValue}} {
		if len(pr.p.Allow) > 0 && len(pr.p.Block) > 0 {
			pc.bad(p("sink", pr.name), "set allow or block, not both")
		}
	}
	if s.IDStrategy == "partial-key" && len(s.PartialKey.Allow)+len(s.PartialKey.Block) == 0 {
		pc.bad(p("sink", "partial_key"), "required with id_strategy partial-key")
	}
	if s.IDStrategy == "partial-value" && len(s.PartialValue.Allow)+len(s.PartialValue.Block) == 0 {
		pc.bad(p("sink", "partial_value"), "required with id_strategy partial-value")
	}
	for j, pp := range s.PostProcessors {
		set := 0
		for _, on := range []bool{len(pp.Allow) > 0, len(pp.Block) > 0, len(pp.Rename) > 0, len(pp.RenameRegex) > 0, pp.KafkaMetadata, pp.RemoveNulls} {
			if on {
				set++
			}
		}
		if set != 1 {
			pc.bad(p("sink", "post_processors", j), "set exactly one of allow, block, rename, rename_regex, kafka_metadata, remove_nulls")
		}
		for k, r := range pp.Rename {
			switch {
			case r.From == "" || r.To == "":
				pc.bad(p("sink", "post_processors", j, "rename", k), "from and to are required")
			case strings.Contains(r.To, "."):
				pc.bad(p("sink", "post_processors", j, "rename", k, "to"), "%q is a new name in the same document, not a path: it must not contain '.'", r.To)
			case strings.HasPrefix(r.To, "$"):
				pc.bad(p("sink", "post_processors", j, "rename", k, "to"), "%q: MongoDB field names must not start with '$'", r.To)
			}
		}
		for k, r := range pp.RenameRegex {
			for _, re := range []struct{ name, v string }{{"match", r.Match}, {"pattern", r.Pattern}} {
				if re.v == "" {
					pc.bad(p("sink", "post_processors", j, "rename_regex", k), "%s is required", re.name)
				} else if _, err := regexp.Compile(re.v); err != nil {
					pc.bad(p("sink", "post_processors", j, "rename_regex", k, re.name), "%v", err)
				}
			}
		}
	}
}

// ParseTimestamp reads a start time: RFC 3339, or the seconds (and
// optional ".increment") of a BSON timestamp.
func ParseTimestamp(s string) (primitive.Timestamp, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return primitive.Timestamp{T: uint32(t.Unix())}, nil
	}
	sec, inc, _ := strings.Cut(s, ".")
	t, err1 := strconv.ParseUint(sec, 10, 32)
	i, err2 := uint64(0), error(nil)
	if inc != "" {
		i, err2 = strconv.ParseUint(inc, 10, 32)
	}
	if err1 != nil || err2 != nil {
		return primitive.Timestamp{}, fmt.Errorf("%q: want an RFC 3339 time (2026-01-02T15:04:05Z) or SECONDS[.INCREMENT]", s)
	}
	return primitive.Timestamp{T: uint32(t), I: uint32(i)}, nil
}
