// Package config holds what the pipelines' configurations share: the
// enumerations defined once (error tolerance, Kafka compression, SASL
// mechanisms), the in-flight byte bound's default, and Problems, the
// typed list of every problem a Config's Validate finds.
//
// Each pipeline Config (mongosource, mongosink, the daemon's Options,
// graceful's drain) has EnsureDefaults, which fills in every default, and
// Validate, which reports every problem at once as Problems. The spec
// layer builds the Configs from spec files and calls both, so defaults and
// checks are written once, next to the fields they are about.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Problem is one problem of a Config: the field it is about (as the
// Config names it, e.g. "MaxBatch") and what is wrong with it.
type Problem struct {
	// Field is the Go name of the Config field, dotted for nested ones
	// ("CopyExisting.Parallelism"); "" for the Config as a whole.
	Field string
	// Message says what is wrong, without the field's name.
	Message string
}

// Error implements error: "Field: Message".
func (p *Problem) Error() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Problems is every problem a Validate found, in the order found.
type Problems []*Problem

// Add appends a problem of field.
func (ps *Problems) Add(field, format string, args ...any) {
	*ps = append(*ps, &Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err is ps as an error, nil when there is no problem.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Error implements error: one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As on one of them.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// Nest prefixes the fields of a nested Config's problems with its field
// name; an error that is not Problems becomes one problem of field.
func (ps *Problems) Nest(field string, err error) {
	if err == nil {
		return
	}
	var nested Problems
	if !errors.As(err, &nested) {
		ps.Add(field, "%v", err)
		return
	}
	for _, p := range nested {
		f := field
		if p.Field != "" {
			f += "." + p.Field
		}
		*ps = append(*ps, &Problem{Field: f, Message: p.Message})
	}
}

// Enum is a string enumeration with its values listed once.
type Enum interface {
	~string
}

// Valid reports whether v is one of values.
func Valid[T Enum](v T, values []T) bool {
	for _, a := range values {
		if v == a {
			return true
		}
	}
	return false
}

// Want lists values as a message's alternatives: "a, b or c".
func Want[T Enum](values []T) string {
	words := make([]string, len(values))
	for i, v := range values {
		words[i] = string(v)
	}
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// Strings returns values as strings.
func Strings[T Enum](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// CheckEnum adds a problem of field to ps when v is set and not one of
// values.
func CheckEnum[T Enum](ps *Problems, field string, v T, values []T) {
	if v != "" && !Valid(v, values) {
		ps.Add(field, "%q: want %s", v, Want(values))
	}
}

// Tolerance is what a pipeline does with a record that fails for good,
// named as in Kafka Connect's errors.tolerance. Sources and sinks share it.
type Tolerance string

// The tolerances.
const (
	// ToleranceNone stops the pipeline at the first such record (default).
	ToleranceNone Tolerance = "none"
	// ToleranceAll sends it to the dead-letter topic and goes on.
	ToleranceAll Tolerance = "all"
)

// Tolerances lists the tolerances.
var Tolerances = []Tolerance{ToleranceNone, ToleranceAll}

// Compression is the codec of produced Kafka batches.
type Compression string

// The compressions.
const (
	CompressionNone   Compression = "none"
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

// DefaultCompression is the compression of a Config that names none.
const DefaultCompression = CompressionSnappy

// Compressions lists the compressions.
var Compressions = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

// Codec is c's franz-go codec; nil for "" or an unknown name, which keeps
// franz-go's default (snappy).
func (c Compression) Codec() *kgo.CompressionCodec {
	var codec kgo.CompressionCodec
	switch c {
	case CompressionNone:
		codec = kgo.NoCompression()
	case CompressionGzip:
		codec = kgo.GzipCompression()
	case CompressionLZ4:
		codec = kgo.Lz4Compression()
	case CompressionZstd:
		codec = kgo.ZstdCompression()
	case CompressionSnappy:
		codec = kgo.SnappyCompression()
	default:
		return nil
	}
	return &codec
}

// SASLMechanism is a Kafka SASL login mechanism.
type SASLMechanism string

// The SASL mechanisms.
const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// SASLMechanisms lists the SASL mechanisms.
var SASLMechanisms = []SASLMechanism{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// DefaultMaxInflightBytes bounds the bytes a pipeline holds in flight
// (records encoded and not yet acknowledged, batches not yet written and
// the fetch buffer they come from, dead letters not yet produced) when its
// Config sets no bound: 4 MiB, room for thousands of 1 KB records, so that
// a daemon's memory stays small with many pipelines.
const DefaultMaxInflightBytes = 4 << 20

// OnFailure is what the daemon does when a pipeline fails.
type OnFailure string

// The failure policies.
const (
	// OnFailureRestart restarts the pipeline after a backoff (default).
	OnFailureRestart OnFailure = "restart"
	// OnFailureStop leaves it stopped; the other pipelines go on.
	OnFailureStop OnFailure = "stop"
	// OnFailureExit stops the daemon with an error.
	OnFailureExit OnFailure = "exit"
)

// OnFailures lists the failure policies.
var OnFailures = []OnFailure{OnFailureRestart, OnFailureStop, OnFailureExit}

// The defaults of Restart.
const (
	DefaultRestartBackoff    = time.Second
	DefaultRestartMaxBackoff = time.Minute
)

// Restart is how the daemon supervises a pipeline that fails.
type Restart struct {
	// OnFailure is the policy. Default OnFailureRestart.
	OnFailure OnFailure
	// Backoff is the first delay before a restart; it doubles up to
	// MaxBackoff. Default DefaultRestartBackoff (1s).
	Backoff time.Duration
	// MaxBackoff caps the delay. Default DefaultRestartMaxBackoff (1m),
	// or Backoff when that is longer.
	MaxBackoff time.Duration
}

// EnsureDefaults fills in the default of every field left unset.
func (r *Restart) EnsureDefaults() {
	if r.OnFailure == "" {
		r.OnFailure = OnFailureRestart
	}
	if r.Backoff == 0 {
		r.Backoff = DefaultRestartBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = max(DefaultRestartMaxBackoff, r.Backoff)
	}
}

// Validate reports every problem at once, as Problems.
func (r *Restart) Validate() error {
	var ps Problems
	CheckEnum(&ps, "OnFailure", r.OnFailure, OnFailures)
	if r.Backoff < 0 {
		ps.Add("Backoff", "must not be negative")
	}
	if r.MaxBackoff < 0 {
		ps.Add("MaxBackoff", "must not be negative")
	} else if r.MaxBackoff > 0 && r.MaxBackoff < r.Backoff {
		ps.Add("MaxBackoff", "is shorter than backoff")
	}
	return ps.Err()
}
