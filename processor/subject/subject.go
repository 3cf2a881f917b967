// Package subject keeps a registry subject's schema in step with the
// documents written under it: a document that fits the current version is
// encoded at once; one that does not makes a new version, inferred from the
// document, evolved to stay compatible at the subject's level, and
// registered. This is the source path's answer to the connector's one
// schema per document shape.
package subject

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/schemaflow/schemaflow/evolution"
	"github.com/schemaflow/schemaflow/registry"
	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/infer"
	"github.com/schemaflow/schemaflow/schemas/serde"
)

// Registry is the part of the registry client an Encoder uses.
type Registry interface {
	Versions(ctx context.Context, subject string, deleted bool) ([]int, error)
	Version(ctx context.Context, subject string, version int, deleted bool) (registry.Schema, error)
	Register(ctx context.Context, subject string, req registry.RegisterRequest, normalize bool) (int, error)
	Config(ctx context.Context, subject string, defaultToGlobal bool) (registry.Config, error)
}

// Options configure an Encoder.
type Options struct {
	// Registry holds the subject. Required.
	Registry Registry
	// Subject is the registry subject, e.g. "orders-value". Required.
	Subject string
	// Format of new schemas: schemas.Avro (default) or schemas.Protobuf.
	Format schemas.Format
	// Level is the compatibility level new versions keep; 0 means the
	// subject's level in the registry (its own, else the global one).
	Level evolution.Level
	// Infer names inferred schemas (record or message name, namespace).
	Infer infer.Options
	// Numbers says how a field holding several BSON number types is typed:
	// schemas.NumbersWiden (the default) widens it to one number type, and
	// a document whose numbers the current version carries by a lossless
	// conversion needs no new version; schemas.NumbersExact keeps each
	// value's BSON number type, so a number the current version cannot
	// write as its own type makes a version that adds it (a union branch
	// or a oneof member), as the level allows.
	Numbers schemas.Numbers
}

// Stats counts an Encoder's work.
type Stats struct {
	Encoded    int64 // documents encoded
	Registered int64 // versions registered
	// Evolutions counts documents the current version did not fit, which
	// sent the encoder to the registry: its cache misses.
	Evolutions int64
}

// Encoder encodes documents under one subject. It is safe for concurrent
// use.
type Encoder struct {
	opts Options

	evolving sync.Mutex // one evolution at a time: they are rare and must not race

	mu      sync.RWMutex
	current *serde.Serde // nil until the first version exists
	// fast mirrors current for Encode's fast path, which then touches no
	// lock shared between the goroutines encoding.
	fast    atomic.Pointer[serde.Serde]
	history []evolution.Schema // the subject's versions, oldest first
	// latestVersion is the version number of the latest version loaded.
	latestVersion int
	// The counters are atomics: Encode's fast path takes no write lock.
	encoded, registered, evolutions atomic.Int64
}

// New loads the subject's versions and level and returns an Encoder.
func New(ctx context.Context, opts Options) (*Encoder, error) {
	var errs []error
	if opts.Registry == nil {
		errs = append(errs, errors.New("registry: required"))
	}
	if opts.Subject == "" {
		errs = append(errs, errors.New("subject: required"))
	}
	switch opts.Format {
	case 0:
		opts.Format = schemas.Avro
	case schemas.Avro, schemas.Protobuf:
	default:
		errs = append(errs, fmt.Errorf("format %s: want avro or protobuf", opts.Format))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	e := &Encoder{opts: opts}
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// load reads the subject's level and versions, and compiles the latest.
func (e *Encoder) load(ctx context.Context) error {
	if e.opts.Level == 0 {
		cfg, err := e.opts.Registry.Config(ctx, e.opts.Subject, true)
		if err != nil {
			return fmt.Errorf("subject %s: compatibility level: %w", e.opts.Subject, err)
		}
		if e.opts.Level, err = evolution.ParseLevel(cfg.CompatibilityLevel); err != nil {
			return fmt.Errorf("subject %s: %w", e.opts.Subject, err)
		}
	}
	versions, err := e.opts.Registry.Versions(ctx, e.opts.Subject, false)
	var re *registry.Error
	if errors.As(err, &re) && re.Code == registry.CodeSubjectNotFound {
		versions, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("subject %s: versions: %w", e.opts.Subject, err)
	}
	history := make([]evolution.Schema, 0, len(versions))
	var latest registry.Schema
	for _, v := range versions {
		s, err := e.opts.Registry.Version(ctx, e.opts.Subject, v, false)
		if err != nil {
			return fmt.Errorf("subject %s: version %d: %w", e.opts.Subject, v, err)
		}
		if len(s.References) > 0 {
			return fmt.Errorf("subject %s: version %d has references, which inferred schemas never have; evolve it by hand", e.opts.Subject, v)
		}
		f, err := format(s.SchemaType)
		if err != nil {
			return fmt.Errorf("subject %s: version %d: %w", e.opts.Subject, v, err)
		}
		history = append(history, evolution.Schema{Format: f, Text: []byte(s.Schema), Name: "version " + strconv.Itoa(v)})
		latest = s
	}
	var current *serde.Serde
	if len(history) > 0 {
		if current, err = e.compile(history[len(history)-1], latest.ID); err != nil {
			return fmt.Errorf("subject %s: version %d: %w", e.opts.Subject, latest.Version, err)
		}
	}
	e.mu.Lock()
	e.history, e.current, e.latestVersion = history, current, latest.Version
	e.fast.Store(current)
	e.mu.Unlock()
	return nil
}

func format(schemaType string) (schemas.Format, error) {
	switch schemaType {
	case "", registry.TypeAvro:
		return schemas.Avro, nil
	case registry.TypeProtobuf:
		return schemas.Protobuf, nil
	}
	return 0, fmt.Errorf("schema type %s cannot be evolved from documents", schemaType)
}

func (e *Encoder) compile(s evolution.Schema, id int) (*serde.Serde, error) {
	return serde.New(s.Text, serde.Options{Format: s.Format, ID: uint32(id), Name: e.protoName(), Numbers: e.opts.Numbers})
}

func (e *Encoder) protoName() string {
	if e.opts.Format == schemas.Protobuf {
		return e.opts.Subject + ".proto"
	}
	return ""
}

// Stats returns the counters so far.
func (e *Encoder) Stats() Stats {
	return Stats{Encoded: e.encoded.Load(), Registered: e.registered.Load(), Evolutions: e.evolutions.Load()}
}

// ID returns the schema id documents are encoded with now, or 0 before
// the first version.
func (e *Encoder) ID() uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.current == nil {
		return 0
	}
	return e.current.ID()
}

// Encode appends doc's framed record to dst. A document the current version
// cannot carry makes a new version first. A document no compatible version
// can carry is an *evolution.EvolveError, for the dead-letter topic.
func (e *Encoder) Encode(ctx context.Context, dst []byte, doc bson.Raw) ([]byte, error) {
	cur := e.fast.Load()
	if cur != nil {
		if out, err := cur.Encode(dst, doc); err == nil {
			e.encoded.Add(1)
			return out, nil
		}
	}
	return e.evolve(ctx, dst, doc, cur)
}

// evolve makes and registers the version that covers doc, then encodes.
// Another writer may have registered versions since load; a conflict
// reloads the subject and tries once more.
func (e *Encoder) evolve(ctx context.Context, dst []byte, doc bson.Raw, seen *serde.Serde) ([]byte, error) {
	e.evolutions.Add(1)
	e.evolving.Lock()
	defer e.evolving.Unlock()
	for attempt := 0; ; attempt++ {
		e.mu.Lock()
		if e.current != seen && e.current != nil {
			// Someone else evolved meanwhile: the new version may fit.
			cur := e.current
			e.mu.Unlock()
			if out, err := cur.Encode(dst, doc); err == nil {
				e.encoded.Add(1)
				return out, nil
			}
			e.mu.Lock()
		}
		seen = e.current
		next, changed, err := e.next(e.history, []bson.Raw{doc})
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		if !changed {
			// The latest version should have fit; the codec says why not.
			cur := e.current
			e.mu.Unlock()
			if cur == nil {
				return nil, fmt.Errorf("subject %s: no version and nothing to register", e.opts.Subject)
			}
			out, err := cur.Encode(dst, doc)
			if err != nil {
				return nil, fmt.Errorf("subject %s: schema id %d: %w", e.opts.Subject, cur.ID(), err)
			}
			e.encoded.Add(1)
			return out, nil
		}
		e.mu.Unlock()

		id, err := e.opts.Registry.Register(ctx, e.opts.Subject, registerRequest(next), false)
		var re *registry.Error
		if errors.As(err, &re) && re.Code == registry.CodeIncompatible && attempt == 0 {
			if err := e.load(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("subject %s: register: %w", e.opts.Subject, err)
		}
		sd, err := e.compile(next, id)
		if err != nil {
			return nil, fmt.Errorf("subject %s: schema id %d: %w", e.opts.Subject, id, err)
		}
		out, err := sd.Encode(dst, doc)
		if err != nil {
			return nil, fmt.Errorf("subject %s: schema id %d: %w", e.opts.Subject, id, err)
		}
		e.mu.Lock()
		next.Name = "version " + strconv.Itoa(len(e.history)+1)
		e.history = append(e.history, next)
		e.current = sd
		e.fast.Store(sd)
		e.encoded.Add(1)
		e.registered.Add(1)
		e.mu.Unlock()
		return out, nil
	}
}

// next is the one step the source path and Plan share: it infers a schema
// from docs, under the names of the subject's latest version (so that it
// matches a hand-written one) or else the configured ones, and evolves
// the history with it at the subject's level.
func (e *Encoder) next(history []evolution.Schema, docs []bson.Raw) (evolution.Schema, bool, error) {
	in := infer.NewWith(infer.Config{Numbers: e.opts.Numbers})
	for _, doc := range docs {
		if err := in.Add(doc); err != nil {
			return evolution.Schema{}, false, fmt.Errorf("subject %s: %w", e.opts.Subject, err)
		}
	}
	names := e.opts.Infer
	if len(history) > 0 {
		name, namespace, err := evolution.DocumentName(history[len(history)-1])
		if err != nil {
			return evolution.Schema{}, false, fmt.Errorf("subject %s: latest version: %w", e.opts.Subject, err)
		}
		names = infer.Options{Name: name, Namespace: namespace}
	}
	var text []byte
	var err error
	if e.opts.Format == schemas.Protobuf {
		text, err = in.Proto(names)
	} else {
		text, err = in.Avro(names)
	}
	if err != nil {
		return evolution.Schema{}, false, fmt.Errorf("subject %s: infer: %w", e.opts.Subject, err)
	}
	inferred := evolution.Schema{Format: e.opts.Format, Text: text, Name: "inferred"}
	next, changed, err := evolution.EvolveWith(e.opts.Level, history, inferred, evolution.EvolveOptions{Numbers: e.opts.Numbers})
	if err != nil {
		return evolution.Schema{}, false, fmt.Errorf("subject %s: %w", e.opts.Subject, err)
	}
	return next, changed, nil
}

// registerRequest is the request that registers a version.
func registerRequest(s evolution.Schema) registry.RegisterRequest {
	req := registry.RegisterRequest{Schema: string(s.Text)}
	if s.Format == schemas.Protobuf {
		req.SchemaType = registry.TypeProtobuf
	}
	return req
}

// Plan is what documents would make of a subject, worked out as the
// source path does it but without registering anything.
type Plan struct {
	Subject string
	Level   evolution.Level
	Format  schemas.Format
	// LatestVersion and LatestID identify the subject's latest version as
	// loaded from the registry; 0 when the subject has none.
	LatestVersion, LatestID int
	// Latest is the latest version's schema; empty Text when none.
	Latest evolution.Schema
	// History holds the subject's versions, oldest first, as loaded.
	History []evolution.Schema
	// Next is the schema the documents need: the latest version when
	// Changed is false, version 1 when the subject has none.
	Next    evolution.Schema
	Changed bool
	// Changes lists the field-level changes from Latest to Next (none for
	// a first version).
	Changes []evolution.Change
	// Fitting counts the documents the latest version already carries.
	Fitting int
}

// UnfitError reports a document that no version makes fit: the latest
// version cannot encode it, and evolution found nothing to change (a
// hand-written enum lacks its string, say).
type UnfitError struct {
	Index int // the document's index in the Plan call
	Err   error
}

// Error implements error.
func (e *UnfitError) Error() string {
	return fmt.Sprintf("document %d does not fit the planned version: %v", e.Index+1, e.Err)
}

// Unwrap returns the codec's error.
func (e *UnfitError) Unwrap() error { return e.Err }

// Plan works out the version docs would make the source register: the
// documents the current version encodes need nothing; the others are
// inferred together and evolved against the subject's history at its
// level, by the step the source path takes for each such document. A
// document no version the level allows can carry is an
// *evolution.EvolveError (wrapped); one the planned version still cannot
// encode, an *UnfitError. Nothing is registered: see Apply.
func (e *Encoder) Plan(ctx context.Context, docs []bson.Raw) (*Plan, error) {
	e.evolving.Lock()
	defer e.evolving.Unlock()
	e.mu.RLock()
	cur, history := e.current, e.history
	e.mu.RUnlock()
	p := &Plan{Subject: e.opts.Subject, Level: e.opts.Level, Format: e.opts.Format, History: history}
	if len(history) > 0 {
		p.Latest = history[len(history)-1]
		p.LatestID = int(cur.ID())
		p.LatestVersion = e.latestVersion
		p.Format = p.Latest.Format
	}
	var misfits []bson.Raw
	var index []int
	for i, doc := range docs {
		if cur != nil {
			if _, err := cur.Encode(nil, doc); err == nil {
				p.Fitting++
				continue
			}
		}
		misfits = append(misfits, doc)
		index = append(index, i)
	}
	p.Next = p.Latest
	if len(misfits) == 0 {
		if cur == nil {
			return nil, fmt.Errorf("subject %s: no version and no documents", e.opts.Subject)
		}
		return p, nil
	}
	next, changed, err := e.next(history, misfits)
	if err != nil {
		return nil, err
	}
	p.Next, p.Changed = next, changed
	if changed && len(history) > 0 {
		if p.Changes, err = evolution.Changes(p.Latest, next); err != nil {
			return nil, fmt.Errorf("subject %s: %w", e.opts.Subject, err)
		}
	}
	sd, err := e.compile(next, p.LatestID)
	if err != nil {
		return nil, fmt.Errorf("subject %s: planned version: %w", e.opts.Subject, err)
	}
	for i, doc := range misfits {
		if _, err := sd.Encode(nil, doc); err != nil {
			return nil, &UnfitError{Index: index[i], Err: err}
		}
	}
	return p, nil
}

// Apply registers a plan's next version, as the source path would, and
// returns its id and version. A plan without a change registers nothing
// and returns the latest version's.
func (e *Encoder) Apply(ctx context.Context, p *Plan) (id, version int, err error) {
	if !p.Changed {
		return p.LatestID, p.LatestVersion, nil
	}
	id, err = e.opts.Registry.Register(ctx, e.opts.Subject, registerRequest(p.Next), false)
	if err != nil {
		return 0, 0, fmt.Errorf("subject %s: register: %w", e.opts.Subject, err)
	}
	if err := e.load(ctx); err != nil {
		return id, 0, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return id, e.latestVersion, nil
}
