// Reads: subjects, versions, schemas by id, and lookups.

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
)

func (s *Server) listSubjects(r *http.Request) (any, error) {
	deleted := boolParam(r, "deleted")
	prefix := r.URL.Query().Get("subjectPrefix")
	if prefix == ":*:" {
		prefix = ""
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// A context qualifier (":.ctx:", or ":.:" for the default context)
	// selects that context's subjects.
	ctxOnly := ""
	if rest, ok := strings.CutPrefix(prefix, ":."); ok && strings.Index(rest, ":") == len(rest)-1 {
		ctxOnly = contextOf(prefix)
	}
	out := []string{}
	for name, sub := range s.st.subjects {
		match := strings.HasPrefix(name, prefix)
		if ctxOnly != "" {
			match = contextOf(name) == ctxOnly
		}
		if match && (deleted || sub.live()) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// listContexts answers GET /contexts: the default context, every context
// a CONTEXT record created, and every context a subject (soft-deleted
// ones too) is qualified with, sorted. The last covers logs written before
// CONTEXT records were.
func (s *Server) listContexts(*http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]bool{DefaultContext: true}
	for ctx := range s.st.contexts {
		seen[ctx] = true
	}
	for name := range s.st.subjects {
		seen[contextOf(name)] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

func (s *Server) subjectLocked(name string) (*subject, error) {
	sub := s.st.subjects[name]
	if sub == nil {
		return nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
	}
	return sub, nil
}

func (s *Server) listVersions(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	deleted := boolParam(r, "deleted")
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub, err := s.subjectLocked(name)
	if err != nil {
		return nil, err
	}
	versions := sub.sortedVersions(deleted)
	if len(versions) == 0 {
		return nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
	}
	return versions, nil
}

// resolveVersion finds a version; -1 is the latest live one.
func (s *Server) resolveVersion(name string, v int, deleted bool) (int, *version, error) {
	sub, err := s.subjectLocked(name)
	if err != nil {
		return 0, nil, err
	}
	if v == -1 {
		live := sub.sortedVersions(deleted)
		if len(live) == 0 {
			return 0, nil, registry.Errorf(registry.CodeSubjectNotFound, "Subject '%s' not found.", name)
		}
		v = live[len(live)-1]
	}
	ver := sub.versions[v]
	if ver == nil || (ver.deleted && !deleted) {
		return 0, nil, registry.Errorf(registry.CodeVersionNotFound, "Version %d not found.", v)
	}
	return v, ver, nil
}

func (s *Server) schemaOf(name string, v int, ver *version) registry.Schema {
	sc := s.st.schema(name, ver.id)
	out := registry.Schema{Subject: name, Version: v, ID: ver.id, Schema: sc.text, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet, Deleted: ver.deleted}
	if sc.schemaType != registry.TypeAvro {
		out.SchemaType = sc.schemaType
	}
	return out
}

func (s *Server) getVersion(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ver, err := s.resolveVersion(r.PathValue("subject"), v, boolParam(r, "deleted"))
	if err != nil {
		return nil, err
	}
	out := s.schemaOf(r.PathValue("subject"), n, ver)
	if out.Schema, err = s.formatted(r, r.PathValue("subject"), s.st.schema(r.PathValue("subject"), ver.id)); err != nil {
		return nil, err
	}
	return out, nil
}

// formatted is a stored schema's text in the form the request's format
// parameter asks for, as Confluent answers:
//   - Avro, format=resolved: the schema with the named types of its
//     references (and theirs) defined inline where first used, as Avro's
//     Schema.toString() writes the parsed schema. Names are written in
//     full rather than with a namespace attribute: the same schema, not
//     the same bytes as Confluent's;
//   - Protobuf, format=serialized: its FileDescriptorProto in base64;
//   - Protobuf, format=ignore_extensions: Confluent's text of the schema
//     without extend blocks, extension ranges and custom options other
//     than confluent.* ones, byte for byte.
//
// Other values answer the schema as stored, as Confluent does for formats
// it does not know.
// subject names the schema's context. Callers hold the read lock.
func (s *Server) formatted(r *http.Request, subject string, sc *storedSchema) (string, error) {
	format := r.URL.Query().Get("format")
	switch {
	case format == "resolved" && sc.schemaType == registry.TypeAvro:
		return s.resolvedAvro(subject, sc)
	case format == "ignore_extensions" && sc.schemaType == registry.TypeProtobuf:
		text, err := withoutExtensions(sc.text, s.depsLocked(subject, sc.refs))
		if err != nil {
			return "", registry.Errorf(registry.CodeInvalidSchema, "Invalid schema %d: %v", sc.id, err)
		}
		return text, nil
	case format == "serialized" && sc.schemaType == registry.TypeProtobuf:
	default:
		return sc.text, nil
	}
	compiled, err := protobuf.Compile("schema.proto", []byte(sc.text), protobuf.Options{Sources: s.depsLocked(subject, sc.refs)})
	if err != nil {
		return "", registry.Errorf(registry.CodeInvalidSchema, "Invalid schema %d: %v", sc.id, err)
	}
	b, err := proto.Marshal(protodesc.ToFileDescriptorProto(compiled.File))
	if err != nil {
		return "", fmt.Errorf("serializing schema %d: %w", sc.id, err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// depsLocked returns the texts of the schemas refs name, and of those they
// name in turn, by reference name. subject is the referrer, which names
// the context references are resolved in.
func (s *Server) depsLocked(subject string, refs []registry.Reference) map[string]string {
	deps := map[string]string{}
	var walk func(refs []registry.Reference, depth int)
	walk = func(refs []registry.Reference, depth int) {
		for _, ref := range refs {
			if _, seen := deps[ref.Name]; seen || depth > 64 {
				continue
			}
			rsub := refSubject(subject, ref.Subject)
			if rs := s.st.subjects[rsub]; rs != nil && rs.versions[ref.Version] != nil {
				dep := s.st.schema(rsub, rs.versions[ref.Version].id)
				deps[ref.Name] = dep.text
				walk(dep.refs, depth+1)
			}
		}
	}
	walk(refs, 0)
	return deps
}

// resolvedAvro is an Avro schema with its references' named types inline.
func (s *Server) resolvedAvro(subject string, sc *storedSchema) (string, error) {
	deps := s.depsLocked(subject, sc.refs)
	var known []*avro.Schema
	// References may use each other: parse them in as many passes as it
	// takes.
	pending := slices.Sorted(maps.Keys(deps))
	for len(pending) > 0 {
		var left []string
		for _, name := range pending {
			dep, err := avro.ParseWith([]byte(deps[name]), known...)
			if err != nil {
				left = append(left, name)
				continue
			}
			known = append(known, dep)
		}
		if len(left) == len(pending) {
			return "", registry.Errorf(registry.CodeInvalidSchema, "Invalid schema %d: references %v do not parse", sc.id, left)
		}
		pending = left
	}
	parsed, err := avro.ParseWith([]byte(sc.text), known...)
	if err != nil {
		return "", registry.Errorf(registry.CodeInvalidSchema, "Invalid schema %d: %v", sc.id, err)
	}
	out, err := avro.Marshal(parsed.Root)
	if err != nil {
		return "", fmt.Errorf("writing schema %d resolved: %w", sc.id, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return "", fmt.Errorf("writing schema %d resolved: %w", sc.id, err)
	}
	return buf.String(), nil
}

func (s *Server) getVersionSchema(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ver, err := s.resolveVersion(r.PathValue("subject"), v, boolParam(r, "deleted"))
	if err != nil {
		return nil, err
	}
	text, err := s.formatted(r, r.PathValue("subject"), s.st.schema(r.PathValue("subject"), ver.id))
	return rawText(text), err
}

func (s *Server) referencedBy(r *http.Request) (any, error) {
	v, err := versionParam(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ver, err := s.resolveVersion(r.PathValue("subject"), v, true)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for id := range s.st.refersTos[idKey{contextOf(r.PathValue("subject")), ver.id}] {
		out = append(out, id)
	}
	sort.Ints(out)
	return out, nil
}

func (s *Server) schemaByIDLocked(r *http.Request) (*storedSchema, error) {
	id, err := idParam(r)
	if err != nil {
		return nil, err
	}
	// The subject parameter names the context, as in Confluent.
	sc := s.st.schema(r.URL.Query().Get("subject"), id)
	if sc == nil {
		return nil, registry.Errorf(registry.CodeSchemaNotFound, "Schema %d not found", id)
	}
	return sc, nil
}

// formattedByID is the schema the request's id names and its text in the
// requested format, read under the read lock.
func (s *Server) formattedByID(r *http.Request) (*storedSchema, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, "", err
	}
	text, err := s.formatted(r, r.URL.Query().Get("subject"), sc)
	return sc, text, err
}

func (s *Server) schemaByID(r *http.Request) (any, error) {
	sc, text, err := s.formattedByID(r)
	if err != nil {
		return nil, err
	}
	out := registry.SchemaString{Schema: text, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet}
	if sc.schemaType != registry.TypeAvro {
		out.SchemaType = sc.schemaType
	}
	return out, nil
}

func (s *Server) rawSchemaByID(r *http.Request) (any, error) {
	_, text, err := s.formattedByID(r)
	return rawText(text), err
}

// usesOfID returns the subject versions, in the context ctx, that use id.
func (s *Server) usesOfID(ctx string, id int, deleted bool) []registry.SubjectVersion {
	var out []registry.SubjectVersion
	for name, sub := range s.st.subjects {
		if contextOf(name) != ctx {
			continue
		}
		for v, ver := range sub.versions {
			if ver.id == id && (deleted || !ver.deleted) {
				out = append(out, registry.SubjectVersion{Subject: name, Version: v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func (s *Server) subjectsByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, sv := range s.usesOfID(contextOf(r.URL.Query().Get("subject")), sc.id, boolParam(r, "deleted")) {
		if !slices.Contains(out, sv.Subject) {
			out = append(out, sv.Subject)
		}
	}
	return out, nil
}

func (s *Server) versionsByID(r *http.Request) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, err := s.schemaByIDLocked(r)
	if err != nil {
		return nil, err
	}
	out := s.usesOfID(contextOf(r.URL.Query().Get("subject")), sc.id, boolParam(r, "deleted"))
	if out == nil {
		out = []registry.SubjectVersion{}
	}
	return out, nil
}

// lookup answers POST /subjects/{subject}: is this schema registered
// under the subject? Its answers are kept with the other reads' (see
// answers.go).
func (s *Server) lookup(r *http.Request) (any, error) {
	name := r.PathValue("subject")
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookupLocked(r, name, body)
}

// readBody reads a request body of an accepted content type, as bytes; the
// JSON is checked when it is decoded.
func readBody(r *http.Request) ([]byte, error) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(mbe.Limit)
		}
		return nil, errBadBody(err)
	}
	return body, nil
}

func (s *Server) lookupLocked(r *http.Request, name string, body []byte) (any, error) {
	var req registry.RegisterRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &registry.Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "malformed JSON body: " + err.Error()}
	}
	sub, err := s.subjectLocked(name)
	if err != nil {
		return nil, err
	}
	p, err := s.canonical(req, name, boolParam(r, "normalize"))
	if err != nil {
		return nil, err
	}
	p.subject = name
	deleted := boolParam(r, "deleted")
	find := func(metadata, ruleSet json.RawMessage) (registry.Schema, bool) {
		id, known := s.st.byPrint[printKey(contextOf(name), fingerprint(p.schemaType, p.text, p.refs, metadata, ruleSet))]
		if !known {
			return registry.Schema{}, false
		}
		versions := sub.sortedVersions(deleted)
		for i := len(versions) - 1; i >= 0; i-- {
			if ver := sub.versions[versions[i]]; ver.id == id {
				return s.schemaOf(name, versions[i], ver), true
			}
		}
		return registry.Schema{}, false
	}
	if found, ok := find(p.metadata, p.ruleSet); ok {
		return found, nil
	}
	// As Confluent, look again with the metadata and rule set a
	// registration would give it: merged with the latest version's and
	// the config's.
	if live := sub.sortedVersions(false); len(live) > 0 {
		prev := s.st.schema(name, sub.versions[live[len(live)-1]].id)
		m, rs, err := mergeContract(s.configLocked(name).contract(), p.metadata, p.ruleSet, prev.metadata, prev.ruleSet, 0, false)
		if err == nil && (!bytes.Equal(m, p.metadata) || !bytes.Equal(rs, p.ruleSet)) {
			if found, ok := find(m, rs); ok {
				return found, nil
			}
		}
	}
	// An unknown schema is validated only to tell an invalid one apart.
	if err := s.validate(&p); err != nil {
		return nil, err
	}
	return nil, registry.Errorf(registry.CodeSchemaNotFound, "Schema not found")
}
