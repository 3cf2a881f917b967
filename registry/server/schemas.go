// Schemas: requests put in stored form and validated, compatibility
// levels and modes, registration and compatibility checks.

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
)

// parsedRequest is a register request checked and put in stored form.
type parsedRequest struct {
	schemaType string
	text       string
	refs       []registry.Reference
	metadata   json.RawMessage // compact JSON objects, or nil
	ruleSet    json.RawMessage
	schema     evolution.Schema
	subject    string // the subject it is for, which names its context
}

// canonical puts a request in stored form: its type, its text as stored
// (compact JSON for Avro and JSON Schema, normalized Avro with normalize),
// and its references. It does not validate the schema.
func (s *Server) canonical(req registry.RegisterRequest, subject string, normalize bool) (parsedRequest, error) {
	st, ok := registry.NormalizeType(req.SchemaType)
	if !ok {
		return parsedRequest{}, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema type %q", req.SchemaType)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return parsedRequest{}, registry.Errorf(registry.CodeInvalidSchema, "Empty schema")
	}
	p := parsedRequest{schemaType: st, refs: req.References, text: strings.TrimSpace(req.Schema)}
	for _, f := range []struct {
		name string
		in   json.RawMessage
		out  *json.RawMessage
	}{{"metadata", req.Metadata, &p.metadata}, {"ruleSet", req.RuleSet, &p.ruleSet}} {
		raw := bytes.TrimSpace(f.in)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid %s: want a JSON object: %v", f.name, err)
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, raw)
		*f.out = buf.Bytes()
	}
	if st == registry.TypeProtobuf {
		// A schema given as a base64 FileDescriptorProto, as Confluent
		// accepts it, is stored as the .proto text it prints to.
		printed, ok, err := serializedProto(p.text)
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		if ok {
			p.text = strings.TrimSpace(printed)
		}
	}
	if st == registry.TypeAvro || st == registry.TypeJSON {
		var buf strings.Builder
		if err := compactJSON(&buf, req.Schema); err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		p.text = buf.String()
	}
	if st == registry.TypeAvro && normalize {
		parsed, err := avro.Parse([]byte(p.text))
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		out, err := avro.Marshal(parsed.Root)
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		var buf strings.Builder
		_ = compactJSON(&buf, string(out))
		p.text = buf.String()
	}
	if st == registry.TypeJSON && normalize {
		// Confluent's normalized JSON Schema: compact, with every object's
		// keys sorted.
		text, err := sortedJSON(p.text)
		if err != nil {
			return p, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", st, err)
		}
		p.text = text
	}
	if st == registry.TypeProtobuf && normalize {
		// Confluent's normalization rules; a schema that does not compile
		// (validate says why) or uses custom options is kept as given.
		if text, err := normalizedProto(p.text, s.depsLocked(subject, p.refs)); err == nil {
			p.text = text
		}
	}
	if normalize {
		p.refs = sortedRefs(p.refs)
	}
	return p, nil
}

// sortedJSON re-encodes JSON text compactly with object keys sorted and
// non-ASCII text kept as written. Numbers are kept as written too, where
// Confluent's Jackson rewrites floating-point ones (1e3 becomes 1000.0).
func sortedJSON(text string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// sortedRefs orders references as Confluent's normalization does, by
// subject then version, without duplicates.
func sortedRefs(refs []registry.Reference) []registry.Reference {
	if len(refs) < 2 {
		return refs
	}
	out := slices.Clone(refs)
	slices.SortStableFunc(out, func(a, b registry.Reference) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return slices.Compact(out)
}

// validate resolves a request's references and checks its schema, filling
// p.schema for compatibility checks. Callers hold the lock.
func (s *Server) validate(p *parsedRequest) error {
	deps := map[string]string{}
	for _, ref := range p.refs {
		rsub := refSubject(p.subject, ref.Subject)
		sub := s.st.subjects[rsub]
		if sub == nil || sub.versions[ref.Version] == nil {
			return registry.Errorf(registry.CodeInvalidSchema, "Invalid schema: reference %q to subject %q version %d does not exist", ref.Name, ref.Subject, ref.Version)
		}
		deps[ref.Name] = s.st.schema(rsub, sub.versions[ref.Version].id).text
	}
	format := map[string]schemas.Format{registry.TypeAvro: schemas.Avro, registry.TypeProtobuf: schemas.Protobuf, registry.TypeJSON: schemas.JSON}[p.schemaType]
	p.schema = evolution.Schema{Format: format, Text: []byte(p.text), Dependencies: deps}
	if format == schemas.Protobuf {
		p.schema.Name = "schema.proto"
	}
	// Check with no history validates the schema.
	if _, err := evolution.Check(evolution.None, p.schema, nil); err != nil {
		return registry.Errorf(registry.CodeInvalidSchema, "Invalid schema of type %s, details: %v", p.schemaType, err)
	}
	return nil
}

// prepare is canonical followed by validate.
func (s *Server) prepare(req registry.RegisterRequest, subject string, normalize bool) (parsedRequest, error) {
	p, err := s.canonical(req, subject, normalize)
	p.subject = subject
	if err != nil {
		return p, err
	}
	return p, s.validate(&p)
}

func compactJSON(w io.StringWriter, text string) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return err
	}
	_, err := w.WriteString(buf.String())
	return err
}

// history returns a subject's live versions as schemas, oldest first.
func (s *Server) history(name string) []evolution.Schema {
	sub := s.st.subjects[name]
	if sub == nil {
		return nil
	}
	var out []evolution.Schema
	for _, v := range sub.sortedVersions(false) {
		out = append(out, s.versionSchema(name, v, sub.versions[v]))
	}
	return out
}

func (s *Server) versionSchema(name string, v int, ver *version) evolution.Schema {
	sc := s.st.schema(name, ver.id)
	format := map[string]schemas.Format{registry.TypeAvro: schemas.Avro, registry.TypeProtobuf: schemas.Protobuf, registry.TypeJSON: schemas.JSON}[sc.schemaType]
	deps := map[string]string{}
	refs := map[string]evolution.Reference{}
	for _, ref := range sc.refs {
		rsub := refSubject(name, ref.Subject)
		if rs := s.st.subjects[rsub]; rs != nil && rs.versions[ref.Version] != nil {
			deps[ref.Name] = s.st.schema(rsub, rs.versions[ref.Version].id).text
			refs[ref.Name] = evolution.Reference{Subject: ref.Subject, Version: ref.Version}
		}
	}
	es := evolution.Schema{Format: format, Text: []byte(sc.text), Name: fmt.Sprintf("version %d", v), Dependencies: deps, References: refs}
	if format == schemas.Protobuf {
		es.Name = fmt.Sprintf("%s-v%d.proto", strings.NewReplacer("/", "_", " ", "_").Replace(name), v)
	}
	return es
}

// contextSubject is the subject that holds a context's own config and
// mode (":.ctx:"), or "" for the default context.
func contextSubject(name string) string {
	if ctx := contextOf(name); ctx != DefaultContext {
		return ":" + ctx + ":"
	}
	return ""
}

// levelLocked is a subject's compatibility level: its own, else its
// context's, else the global one.
func (s *Server) levelLocked(name string) evolution.Level {
	cfg, ok := s.st.configs[name]
	if !ok || cfg.CompatibilityLevel == "" {
		cfg, ok = s.st.configs[contextSubject(name)]
	}
	if !ok || cfg.CompatibilityLevel == "" {
		cfg = s.st.global
	}
	l, err := evolution.ParseLevel(cfg.CompatibilityLevel)
	if err != nil {
		return evolution.Backward
	}
	return l
}

// configLocked is the config in force for a subject: its own, else its
// context's, else the global one, as Confluent's getConfigInScope.
func (s *Server) configLocked(name string) configValue {
	if cfg, ok := s.st.configs[name]; ok {
		return cfg
	}
	if cfg, ok := s.st.configs[contextSubject(name)]; ok {
		return cfg
	}
	return s.st.global
}

// modeLocked is a subject's mode: its own, else its context's, else the
// global one.
func (s *Server) modeLocked(name string) string {
	if m, ok := s.st.modes[name]; ok {
		return m
	}
	if m, ok := s.st.modes[contextSubject(name)]; ok {
		return m
	}
	return s.st.modeAll
}

func issuesText(res evolution.Result) []string {
	out := make([]string, 0, len(res.Issues))
	for _, is := range res.Issues {
		out = append(out, is.String())
	}
	return out
}

func (s *Server) register(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	if strings.TrimSpace(name) == "" {
		return nil, registry.Errorf(registry.CodeInvalidSubject, "The specified subject '%s' is not a valid.", name)
	}
	var req registry.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return s.write(r, func() ([]store.Record, any, error) { return s.registerLocked(r, name, req) })
}

// registerLocked builds a registration's record. Callers hold the read lock.
func (s *Server) registerLocked(r *http.Request, name string, req registry.RegisterRequest) ([]store.Record, any, error) {
	mode := s.modeLocked(name)
	switch {
	case mode == registry.ModeReadOnly:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in read-only mode", name)
	case req.ID > 0 && mode != registry.ModeImport:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is not in import mode", name)
	case req.ID <= 0 && mode == registry.ModeImport:
		return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Subject %s is in import mode; a schema id is required", name)
	}
	normalize := boolParam(r, "normalize")
	if cfg, ok := s.st.configs[name]; ok && cfg.Normalize || !ok && s.st.global.Normalize {
		normalize = true
	}
	p, err := s.canonical(req, name, normalize)
	if err != nil {
		return nil, nil, err
	}
	p.subject = name
	sub := s.st.subjects[name]
	next := 1
	if sub != nil {
		for v := range sub.versions {
			next = max(next, v+1)
		}
	}
	if mode != registry.ModeImport {
		// Metadata and rule set: the request's or the previous version's,
		// between the config's defaults and overrides, as in Confluent.
		var prevMeta, prevRules json.RawMessage
		if sub != nil {
			if live := sub.sortedVersions(false); len(live) > 0 {
				prev := s.st.schema(name, sub.versions[live[len(live)-1]].id)
				prevMeta, prevRules = prev.metadata, prev.ruleSet
			}
		}
		version := next
		if req.Version > 0 {
			version = req.Version
		}
		m, rs, err := mergeContract(s.configLocked(name).contract(), p.metadata, p.ruleSet, prevMeta, prevRules, version, req.Version > 0)
		if err != nil {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid metadata or ruleSet: %v", err)
		}
		p.metadata, p.ruleSet = m, rs
	}
	print := fingerprint(p.schemaType, p.text, p.refs, p.metadata, p.ruleSet)
	ctx := contextOf(name)
	id, known := s.st.byPrint[printKey(ctx, print)]
	if known && sub != nil && req.Version == 0 {
		for _, v := range sub.sortedVersions(false) {
			if sub.versions[v].id == id {
				return nil, registry.RegisterResponse{ID: id}, nil
			}
		}
	}
	if err := s.validate(&p); err != nil {
		return nil, nil, err
	}
	if mode != registry.ModeImport && !boolParam(r, "force") {
		res, err := evolution.Check(s.levelLocked(name), p.schema, s.history(name))
		if err != nil {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema, details: %v", err)
		}
		if !res.Compatible {
			return nil, nil, registry.Errorf(registry.CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", name, strings.Join(issuesText(res), ", "))
		}
	}
	if req.Version > 0 {
		if mode != registry.ModeImport && req.Version != next {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Version is not one more than previous version")
		}
		if sub != nil && sub.versions[req.Version] != nil {
			return nil, nil, registry.Errorf(registry.CodeInvalidSchema, "Version %d already exists in subject %s", req.Version, name)
		}
		next = req.Version
	}
	switch {
	case req.ID > 0:
		if existing := s.st.schemas[idKey{ctx, req.ID}]; existing != nil && existing.print() != print {
			return nil, nil, registry.Errorf(registry.CodeOperationNotPermitted, "Overwrite new schema with id %d in context %s is not permitted.", req.ID, ctx)
		}
		if known && id != req.ID {
			return nil, nil, registry.Errorf(registry.CodeImportIDMismatch, "The ID of an imported schema does not match the existing ID %d", id)
		}
		id = req.ID
	case !known:
		id = s.st.maxID[ctx] + 1
	}
	rec := schemaRecord(schemaValue{Subject: name, Version: next, ID: id, Schema: p.text, SchemaType: p.schemaType, References: p.refs, Metadata: p.metadata, RuleSet: p.ruleSet})
	if ctx != DefaultContext && !s.st.contexts[ctx] {
		// As Confluent, a context's record comes before its first schema.
		return []store.Record{contextRecord(ctx), rec}, registry.RegisterResponse{ID: id}, nil
	}
	return []store.Record{rec}, registry.RegisterResponse{ID: id}, nil
}

func (s *Server) compatibility(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	var req registry.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	verbose := boolParam(r, "verbose")
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prepare(req, name, boolParam(r, "normalize"))
	if err != nil {
		if verbose {
			var re *registry.Error
			if errors.As(err, &re) {
				return registry.CompatibilityResponse{IsCompatible: false, Messages: []string{re.Message}}, nil
			}
		}
		return nil, err
	}
	level := s.levelLocked(name)
	var against []evolution.Schema
	if raw := r.PathValue("version"); raw != "" {
		v, err := versionParam(r)
		if err != nil {
			return nil, err
		}
		sub := s.st.subjects[name]
		switch {
		case v == -1 && (sub == nil || !sub.live()):
			// Nothing to be incompatible with.
		default:
			n, ver, err := s.resolveVersion(name, v, false)
			if err != nil {
				return nil, err
			}
			against = []evolution.Schema{s.versionSchema(name, n, ver)}
			// A single version is checked alone, even at a transitive level.
			level = plain(level)
		}
	} else {
		against = s.history(name)
	}
	res, err := evolution.Check(level, p.schema, against)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidSchema, "Invalid schema, details: %v", err)
	}
	out := registry.CompatibilityResponse{IsCompatible: res.Compatible}
	if verbose {
		out.Messages = issuesText(res)
		if out.Messages == nil {
			out.Messages = []string{}
		}
	}
	return out, nil
}

// plain returns the non-transitive form of a level.
func plain(l evolution.Level) evolution.Level {
	switch l {
	case evolution.BackwardTransitive:
		return evolution.Backward
	case evolution.ForwardTransitive:
		return evolution.Forward
	case evolution.FullTransitive:
		return evolution.Full
	}
	return l
}
