// Package panics turns a panic in a pipeline — ours or a library's — into
// an error that names the record being processed, so the pipeline fails
// like any other failure (logged, counted, handled by its on_failure)
// instead of crashing the process or hanging in a deferred cleanup.
package panics

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Error is a recovered panic.
type Error struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
	// Record names the record being processed, as slog key-value pairs
	// ("topic", t, "partition", p, "offset", o for sinks; "namespace",
	// ns, "key", k for sources); empty when unknown.
	Record []any
}

// New makes an Error of a recovered value; call it in the deferred
// function that recovered, so the stack is the panic's.
func New(v any, record ...any) *Error {
	return &Error{Value: v, Stack: debug.Stack(), Record: record}
}

// Error implements error: "panic: VALUE (topic orders, partition 0, offset 3)".
func (e *Error) Error() string {
	msg := fmt.Sprintf("panic: %v", e.Value)
	if len(e.Record) == 0 {
		return msg
	}
	parts := make([]string, 0, len(e.Record)/2)
	for i := 0; i+1 < len(e.Record); i += 2 {
		parts = append(parts, fmt.Sprintf("%v %v", e.Record[i], e.Record[i+1]))
	}
	return msg + " (" + strings.Join(parts, ", ") + ")"
}

// Unwrap returns the panic value when it is an error (a runtime error, or
// an error passed to panic).
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// LogArgs returns slog arguments describing the panic: the record's
// pairs, the value and the stack.
func (e *Error) LogArgs() []any {
	return append(append([]any(nil), e.Record...), "panic", fmt.Sprint(e.Value), "stack", string(e.Stack))
}

// WithRecord returns a copy of e naming the record, unless e names one.
func (e *Error) WithRecord(record ...any) *Error {
	if len(e.Record) > 0 {
		return e
	}
	c := *e
	c.Record = record
	return &c
}

// Recover, deferred directly (defer panics.Recover(&err, ...)), turns a
// panic of the deferring function into *errp, an *Error naming record.
// It must be the deferred call itself: recover works only there.
func Recover(errp *error, record ...any) {
	if v := recover(); v != nil {
		*errp = New(v, record...)
	}
}
