// Package serde turns BSON documents into Confluent-framed records and back,
// for one schema with a known registry id, in Avro or Protobuf.
package serde

import (
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/schemaflow/schemaflow/schemas"
	"github.com/schemaflow/schemaflow/schemas/avro"
	"github.com/schemaflow/schemaflow/schemas/protobuf"
	"github.com/schemaflow/schemaflow/schemas/wire"
)

// Serde encodes and decodes framed records for one schema. It is safe for
// concurrent use.
type Serde struct {
	id      uint32
	format  schemas.Format
	numbers schemas.Numbers

	avro *avro.Codec

	proto   *protobuf.Schema
	message *protobuf.Codec // the message Encode writes
	indexes []int

	mu     sync.Mutex
	byName map[protoreflect.FullName]*protobuf.Codec // decoders by message
}

// Options configure New.
type Options struct {
	// Format of the schema text. Required.
	Format schemas.Format
	// ID is the registry id written into frames.
	ID uint32
	// Name is the schema's file name, used in Protobuf error messages and
	// imports. Default "schema.proto".
	Name string
	// Message names the Protobuf message that Encode writes; default the
	// first message of the file.
	Message string
	// Proto configures Protobuf compilation (imports).
	Proto protobuf.Options
	// Numbers says which schema types Encode writes BSON numbers to:
	// schemas.NumbersWiden (the default) converts without loss (an int32
	// into a long); schemas.NumbersExact only to types that decode to the
	// number's own BSON type, and fails otherwise. Decoding is the same in
	// both modes.
	Numbers schemas.Numbers
}

// New compiles schema text into a Serde.
func New(text []byte, opts Options) (*Serde, error) {
	s := &Serde{id: opts.ID, format: opts.Format, numbers: opts.Numbers}
	switch opts.Format {
	case schemas.Avro:
		if opts.Message != "" {
			return nil, errors.New("a message name applies to Protobuf schemas only")
		}
		parsed, err := avro.Parse(text)
		if err != nil {
			return nil, err
		}
		if s.avro, err = avro.NewCodecWith(parsed, avro.CodecOptions{Numbers: opts.Numbers}); err != nil {
			return nil, err
		}
	case schemas.Protobuf:
		name := opts.Name
		if name == "" {
			name = "schema.proto"
		}
		ps, err := protobuf.Compile(name, text, opts.Proto)
		if err != nil {
			return nil, err
		}
		md, err := ps.Message(opts.Message)
		if err != nil {
			return nil, err
		}
		s.proto = ps
		s.message = protobuf.NewCodecWith(md, protobuf.CodecOptions{Numbers: opts.Numbers})
		s.indexes = protobuf.Indexes(md)
		s.byName = map[protoreflect.FullName]*protobuf.Codec{md.FullName(): s.message}
	default:
		return nil, fmt.Errorf("format %s is not supported for encoding documents", opts.Format)
	}
	return s, nil
}

// ID returns the schema id written into frames.
func (s *Serde) ID() uint32 { return s.id }

// Format returns the schema format.
func (s *Serde) Format() schemas.Format { return s.format }

// Nesting returns how deeply the documents Decode returns can nest
// documents and arrays (avro.Codec.MaxNesting), and false when the schema
// does not bound it or the format is not Avro.
func (s *Serde) Nesting() (depth int, bounded bool) {
	if s.avro == nil {
		return 0, false
	}
	return s.avro.MaxNesting()
}

// Encode appends a framed record for doc to dst.
func (s *Serde) Encode(dst []byte, doc bson.Raw) ([]byte, error) {
	dst = wire.AppendHeader(dst, s.id)
	if s.avro != nil {
		return s.avro.Encode(dst, doc)
	}
	dst = wire.AppendIndexes(dst, s.indexes)
	return s.message.Encode(dst, doc)
}

// Decode decodes a framed record. It returns the schema id found in the
// frame; a frame whose id is not the Serde's is decoded all the same, since
// the caller chose the schema. Bad frames are *wire.FrameError values.
func (s *Serde) Decode(frame []byte) (bson.Raw, uint32, error) {
	id, payload, err := wire.ParseHeader(frame)
	if err != nil {
		return nil, 0, err
	}
	if s.avro != nil {
		doc, err := s.avro.Decode(payload)
		return doc, id, err
	}
	indexes, rest, err := wire.ParseIndexes(payload)
	if err != nil {
		return nil, id, offsetBy(err, wire.HeaderSize)
	}
	codec, err := s.codecAt(indexes)
	if err != nil {
		return nil, id, err
	}
	doc, err := codec.Decode(rest)
	return doc, id, err
}

// offsetBy makes a FrameError's offset count from the start of the frame.
func offsetBy(err error, n int) error {
	var fe *wire.FrameError
	if errors.As(err, &fe) {
		c := *fe
		c.Offset += n
		return &c
	}
	return err
}

func (s *Serde) codecAt(indexes []int) (*protobuf.Codec, error) {
	md, err := s.proto.MessageAt(indexes)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byName[md.FullName()]
	if c == nil {
		c = protobuf.NewCodecWith(md, protobuf.CodecOptions{Numbers: s.numbers})
		s.byName[md.FullName()] = c
	}
	return c, nil
}
