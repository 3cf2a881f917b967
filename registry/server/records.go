package server

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/registry/store"
)

// Keys and values of the log, byte for byte as Confluent writes them to
// _schemas, so that a Kafka-backed log can be shared with Confluent.
// Property order matters: compaction compares key bytes.

type schemaKey struct {
	KeyType string `json:"keytype"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
	Magic   int    `json:"magic"`
}

type subjectKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Magic   int     `json:"magic"`
}

type schemaValue struct {
	Subject    string               `json:"subject"`
	Version    int                  `json:"version"`
	ID         int                  `json:"id"`
	MD5        []byte               `json:"md5,omitempty"`
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType,omitempty"`
	References []registry.Reference `json:"references,omitempty"`
	Metadata   json.RawMessage      `json:"metadata,omitempty"`
	RuleSet    json.RawMessage      `json:"ruleSet,omitempty"`
	Deleted    bool                 `json:"deleted"`
	// Rollback marks a record a leader wrote to restate what the log held
	// for the key of a refused record (see state.admit). Confluent never
	// writes it and ignores it.
	Rollback bool `json:"rollback,omitempty"`
}

type configValue struct {
	Subject            *string         `json:"subject,omitempty"`
	CompatibilityLevel string          `json:"compatibilityLevel,omitempty"`
	Normalize          bool            `json:"normalize,omitempty"`
	DefaultMetadata    json.RawMessage `json:"defaultMetadata,omitempty"`
	OverrideMetadata   json.RawMessage `json:"overrideMetadata,omitempty"`
	DefaultRuleSet     json.RawMessage `json:"defaultRuleSet,omitempty"`
	OverrideRuleSet    json.RawMessage `json:"overrideRuleSet,omitempty"`
}

// contract is the config's data-contract part.
func (c configValue) contract() contractConfig {
	return contractConfig{defaultMetadata: c.DefaultMetadata, overrideMetadata: c.OverrideMetadata, defaultRuleSet: c.DefaultRuleSet, overrideRuleSet: c.OverrideRuleSet}
}

// public is the config as GET /config answers it.
func (c configValue) public() registry.Config {
	return registry.Config{CompatibilityLevel: c.CompatibilityLevel, Normalize: c.Normalize,
		DefaultMetadata: c.DefaultMetadata, OverrideMetadata: c.OverrideMetadata, DefaultRuleSet: c.DefaultRuleSet, OverrideRuleSet: c.OverrideRuleSet}
}

type modeValue struct {
	Subject *string `json:"subject,omitempty"`
	Mode    string  `json:"mode"`
}

// contextKey and contextValue are Confluent's CONTEXT record: a context
// other than the default one exists from its first registration until
// DELETE /contexts/{ctx} writes its tombstone.
type contextKey struct {
	KeyType string `json:"keytype"`
	Tenant  string `json:"tenant"`
	Context string `json:"context"`
	Magic   int    `json:"magic"`
}

type contextValue struct {
	Tenant  string `json:"tenant"`
	Context string `json:"context"`
}

// defaultTenant is the tenant of Confluent's records outside multi-tenant
// deployments.
const defaultTenant = "default"

func contextRecord(ctx string) store.Record {
	return store.Record{Key: contextRecordKey(ctx), Value: mustJSON(contextValue{Tenant: defaultTenant, Context: ctx})}
}

func contextRecordKey(ctx string) json.RawMessage {
	return mustJSON(contextKey{KeyType: "CONTEXT", Tenant: defaultTenant, Context: ctx})
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings and numbers are marshalled
	}
	return b
}

func schemaRecord(v schemaValue) store.Record {
	return store.Record{
		Key:   mustJSON(schemaKey{KeyType: "SCHEMA", Subject: v.Subject, Version: v.Version, Magic: 1}),
		Value: mustJSON(v),
	}
}

func schemaTombstone(subject string, version int) store.Record {
	return store.Record{Key: mustJSON(schemaKey{KeyType: "SCHEMA", Subject: subject, Version: version, Magic: 1})}
}

func subjectRecordKey(keyType string, subject *string) json.RawMessage {
	return mustJSON(subjectKey{KeyType: keyType, Subject: subject, Magic: 0})
}

func strptr(s string) *string { return &s }

// fingerprint identifies a schema: the same type, text, references,
// metadata and rule set get the same id, as in Confluent. Metadata and
// rule set are compared as JSON values (key order does not matter).
func fingerprint(schemaType, text string, refs []registry.Reference, contract ...json.RawMessage) string {
	h := md5.New()
	fmt.Fprintf(h, "%s\x00%s\x00", schemaType, text)
	for _, r := range refs {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", r.Name, r.Subject, r.Version)
	}
	for _, c := range contract {
		if len(c) > 0 {
			fmt.Fprintf(h, "\x01%s", canonicalJSON(c))
		}
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// canonicalJSON re-encodes a JSON value with sorted keys; text that does
// not parse is kept as it is.
func canonicalJSON(raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// printOf is a stored schema's fingerprint.
func (sc *storedSchema) print() string {
	return fingerprint(sc.schemaType, sc.text, sc.refs, sc.metadata, sc.ruleSet)
}

// version is one version of a subject.
type version struct {
	id      int
	deleted bool
}

type subject struct {
	versions map[int]*version
}

func (s *subject) sortedVersions(withDeleted bool) []int {
	var out []int
	for v, ver := range s.versions {
		if withDeleted || !ver.deleted {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

func (s *subject) live() bool {
	for _, v := range s.versions {
		if !v.deleted {
			return true
		}
	}
	return false
}

// storedSchema is a schema by id.
type storedSchema struct {
	id         int
	schemaType string
	text       string
	refs       []registry.Reference
	metadata   json.RawMessage // Confluent data-contract fields, as stored
	ruleSet    json.RawMessage
}

// idKey names a schema: ids are per context, as in Confluent.
type idKey struct {
	ctx string
	id  int
}

// DefaultContext is the context of unqualified subjects.
const DefaultContext = "."

// contextOf returns the context a subject is qualified with: ".ctx" for
// ":.ctx:name", the default context "." otherwise (":.:name" too).
func contextOf(subject string) string {
	if rest, ok := strings.CutPrefix(subject, ":."); ok {
		if name, _, ok := strings.Cut(rest, ":"); ok && name != "" {
			return "." + name
		}
	}
	return DefaultContext
}

// refSubject is the subject a reference names: an unqualified subject is
// in the referrer's context.
func refSubject(referrer, ref string) string {
	ctx := contextOf(referrer)
	if ctx == DefaultContext || strings.HasPrefix(ref, ":.") {
		return ref
	}
	return ":" + ctx + ":" + ref
}

// schema returns the schema with an id in a subject's context.
func (st *state) schema(subject string, id int) *storedSchema {
	return st.schemas[idKey{contextOf(subject), id}]
}

// state is what the log replays into. Callers hold the server's lock.
type state struct {
	schemas   map[idKey]*storedSchema
	byPrint   map[string]int // context, fingerprint -> id
	subjects  map[string]*subject
	maxID     map[string]int // context -> largest id
	global    configValue
	configs   map[string]configValue
	modeAll   string
	modes     map[string]string
	refersTos map[idKey]map[int]bool // id -> ids (in its context) of schemas that reference it
	uses      map[idKey]int          // id -> versions (deleted ones too) that name it
	// contexts holds the contexts a CONTEXT record created and no
	// tombstone deleted.
	contexts map[string]bool
	// gone holds the subject versions whose last record was a tombstone (a
	// hard delete), so that a rollback landing after it is refused.
	gone map[versionKey]bool
}

// versionKey names a subject version.
type versionKey struct {
	subject string
	version int
}

// printKey is a fingerprint's key in byPrint: per context.
func printKey(ctx, print string) string { return ctx + "\x00" + print }

func newState() *state {
	return &state{
		schemas:   map[idKey]*storedSchema{},
		maxID:     map[string]int{},
		byPrint:   map[string]int{},
		subjects:  map[string]*subject{},
		global:    configValue{CompatibilityLevel: "BACKWARD"},
		configs:   map[string]configValue{},
		modeAll:   registry.ModeReadWrite,
		modes:     map[string]string{},
		refersTos: map[idKey]map[int]bool{},
		uses:      map[idKey]int{},
		gone:      map[versionKey]bool{},
		contexts:  map[string]bool{},
	}
}

// admit applies the log's rules to a schema record, so that whatever
// several writers race to append, the log order decides: the first record
// wins, and a later one that contradicts it is refused, on every instance
// and on every replay. A record is refused when
//   - its id already names another schema,
//   - its schema already has another id that some version still uses,
//   - its subject and version already hold another id, or
//   - it would bring a soft-deleted version back (Confluent never does).
//
// A record that restates what the log holds (a soft delete, a rollback, the
// same registration written twice) is admitted.
//
// A rollback (v.Rollback) restates the key as the log held it when the
// refused record landed; by the time it lands itself another writer may
// have changed the key (a soft or a hard delete from an instance that also
// believed it led). The log order decides: a rollback that no longer
// restates what the log holds is refused too, and its own rollback restates
// the key as it now is: the later value, or a tombstone after a hard
// delete. So a hard delete that lands between a refused record and its
// rollback stays deleted, on every instance, on replay, and after
// compaction (the last record of the key is that tombstone).
func (st *state) admit(v schemaValue) error {
	print := fingerprint(v.SchemaType, v.Schema, v.References, v.Metadata, v.RuleSet)
	var old *version
	if sub := st.subjects[v.Subject]; sub != nil {
		old = sub.versions[v.Version]
	}
	// Ids are per context.
	ctx := contextOf(v.Subject)
	if v.Rollback {
		switch {
		case old == nil && st.gone[versionKey{v.Subject, v.Version}]:
			tomb := schemaTombstone(v.Subject, v.Version)
			return &store.Rejected{Reason: fmt.Sprintf("rollback of subject %q version %d, hard-deleted since", v.Subject, v.Version), Rollback: &tomb}
		case old != nil && old.deleted != v.Deleted && old.id == v.ID:
			return st.refuse(ctx, v, old, fmt.Sprintf("rollback of subject %q version %d, changed since", v.Subject, v.Version))
		}
	}
	var reason string
	switch existing, other := st.schemas[idKey{ctx, v.ID}], st.byPrint[printKey(ctx, print)]; {
	case existing != nil && existing.print() != print:
		reason = fmt.Sprintf("id %d already names another schema in context %s", v.ID, ctx)
	case other != 0 && other != v.ID && st.uses[idKey{ctx, other}] > 0:
		reason = fmt.Sprintf("the schema already has id %d", other)
	case old != nil && old.id != v.ID:
		reason = fmt.Sprintf("subject %q version %d already holds id %d", v.Subject, v.Version, old.id)
	case old != nil && old.deleted && !v.Deleted:
		reason = fmt.Sprintf("subject %q version %d was deleted", v.Subject, v.Version)
	default:
		return nil
	}
	return st.refuse(ctx, v, old, reason)
}

// refuse is the refusal of v, with a rollback restating old, what the log
// holds for v's key (none when it holds nothing).
func (st *state) refuse(ctx string, v schemaValue, old *version, reason string) *store.Rejected {
	rj := &store.Rejected{Reason: reason}
	if old != nil {
		sc := st.schemas[idKey{ctx, old.id}]
		rec := schemaRecord(schemaValue{Subject: v.Subject, Version: v.Version, ID: old.id, Schema: sc.text, SchemaType: sc.schemaType, References: sc.refs, Metadata: sc.metadata, RuleSet: sc.ruleSet, Deleted: old.deleted, Rollback: true})
		rj.Rollback = &rec
	}
	return rj
}

// apply replays one record.
func (st *state) apply(r store.Record) error {
	var kt struct {
		KeyType string  `json:"keytype"`
		Subject *string `json:"subject"`
		Version int     `json:"version"`
		Context string  `json:"context"`
	}
	if err := json.Unmarshal(r.Key, &kt); err != nil {
		return fmt.Errorf("bad key %s: %w", r.Key, err)
	}
	switch kt.KeyType {
	case "SCHEMA":
		if kt.Subject == nil {
			return fmt.Errorf("schema key without subject: %s", r.Key)
		}
		sub := st.subjects[*kt.Subject]
		if r.Value == nil {
			st.gone[versionKey{*kt.Subject, kt.Version}] = true
			if sub != nil {
				if old := sub.versions[kt.Version]; old != nil {
					st.uses[idKey{contextOf(*kt.Subject), old.id}]--
				}
				delete(sub.versions, kt.Version)
				if len(sub.versions) == 0 {
					delete(st.subjects, *kt.Subject)
				}
			}
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return fmt.Errorf("bad schema value: %w", err)
		}
		if v.SchemaType == "" {
			v.SchemaType = registry.TypeAvro
		}
		if err := st.admit(v); err != nil {
			return err
		}
		delete(st.gone, versionKey{v.Subject, v.Version})
		print := fingerprint(v.SchemaType, v.Schema, v.References, v.Metadata, v.RuleSet)
		ctx := contextOf(v.Subject)
		key := idKey{ctx, v.ID}
		if st.schemas[key] == nil {
			st.schemas[key] = &storedSchema{id: v.ID, schemaType: v.SchemaType, text: v.Schema, refs: v.References, metadata: v.Metadata, ruleSet: v.RuleSet}
			for _, ref := range v.References {
				if rs := st.subjects[refSubject(v.Subject, ref.Subject)]; rs != nil && rs.versions[ref.Version] != nil {
					target := idKey{ctx, rs.versions[ref.Version].id}
					if st.refersTos[target] == nil {
						st.refersTos[target] = map[int]bool{}
					}
					st.refersTos[target][v.ID] = true
				}
			}
		}
		st.byPrint[printKey(ctx, print)] = v.ID
		st.maxID[ctx] = max(st.maxID[ctx], v.ID)
		if sub == nil {
			sub = &subject{versions: map[int]*version{}}
			st.subjects[v.Subject] = sub
		}
		if sub.versions[v.Version] == nil {
			st.uses[key]++
		}
		sub.versions[v.Version] = &version{id: v.ID, deleted: v.Deleted}
	case "CONFIG":
		if r.Value == nil {
			if kt.Subject == nil {
				st.global = configValue{CompatibilityLevel: "BACKWARD"}
			} else {
				delete(st.configs, *kt.Subject)
			}
			return nil
		}
		var v configValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return fmt.Errorf("bad config value: %w", err)
		}
		if kt.Subject == nil {
			st.global = v
		} else {
			st.configs[*kt.Subject] = v
		}
	case "MODE":
		if r.Value == nil {
			if kt.Subject == nil {
				st.modeAll = registry.ModeReadWrite
			} else {
				delete(st.modes, *kt.Subject)
			}
			return nil
		}
		var v modeValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return fmt.Errorf("bad mode value: %w", err)
		}
		if kt.Subject == nil {
			st.modeAll = v.Mode
		} else {
			st.modes[*kt.Subject] = v.Mode
		}
	case "DELETE_SUBJECT":
		if r.Value == nil || kt.Subject == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return fmt.Errorf("bad delete-subject value: %w", err)
		}
		if sub := st.subjects[v.Subject]; sub != nil {
			for n, ver := range sub.versions {
				if n <= v.Version {
					ver.deleted = true
				}
			}
		}
	case "CLEAR_SUBJECT":
		if r.Value == nil || kt.Subject == nil {
			return nil
		}
		if sub := st.subjects[*kt.Subject]; sub != nil {
			for n, ver := range sub.versions {
				if ver.deleted {
					delete(sub.versions, n)
				}
			}
		}
	case "CONTEXT":
		if kt.Context == "" {
			return fmt.Errorf("context key without context: %s", r.Key)
		}
		if r.Value == nil {
			delete(st.contexts, kt.Context)
		} else {
			st.contexts[kt.Context] = true
		}
	case "NOOP":
	default:
		// Newer key types (associations) are not used here; skip them so
		// that a log written by a newer Confluent still loads.
	}
	return nil
}
