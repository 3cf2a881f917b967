// Package extjson reads MongoDB Extended JSON documents, canonical or
// relaxed, from a stream that holds either one document per line or one
// JSON array of documents. Every document comes with its line number, and
// every error names the input and the line.
package extjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/bson"
)

// MaxLine is the longest line accepted in line-per-document input. It is
// larger than MongoDB's 16 MiB document limit because Extended JSON is
// bigger than BSON.
const MaxLine = 64 << 20

// Error reports a bad document and where it is.
type Error struct {
	Name string // input name, for example a file path or "<stdin>"
	Line int
	Err  error
}

// Error implements error as "NAME:LINE: reason".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Read calls fn for each document in r, in order, with its 1-based line
// number. name is used in errors. Reading stops at the first error, which is
// an *Error unless fn returned it (fn's errors are returned unchanged).
func Read(r io.Reader, name string, fn func(doc bson.Raw, line int) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	// Skip leading white space to see whether the input is an array.
	line := 1
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &Error{Name: name, Line: line, Err: err}
		}
		if c == '\n' {
			line++
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if err := br.UnreadByte(); err != nil {
			return &Error{Name: name, Line: line, Err: err}
		}
		if c == '[' {
			return readArray(br, name, line, fn)
		}
		return readLines(br, name, line, fn)
	}
}

func readLines(br *bufio.Reader, name string, line int, fn func(bson.Raw, int) error) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	for ; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		doc, err := Parse(text)
		if err != nil {
			return &Error{Name: name, Line: line, Err: err}
		}
		if err := fn(doc, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		return &Error{Name: name, Line: line, Err: err}
	}
	return nil
}

func readArray(br *bufio.Reader, name string, firstLine int, fn func(bson.Raw, int) error) error {
	// The whole array is read so that element offsets can be turned into
	// line numbers; an array input is a file a person wrote, not a stream.
	data, err := io.ReadAll(br)
	if err != nil {
		return &Error{Name: name, Line: firstLine, Err: err}
	}
	lineAt := func(off int64) int {
		return firstLine + bytes.Count(data[:min(int(off), len(data))], []byte{'\n'})
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return &Error{Name: name, Line: firstLine, Err: err}
	}
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return &Error{Name: name, Line: lineAt(start), Err: jsonError(err)}
		}
		// The element starts after any white space and comma that follow start.
		elemLine := lineAt(start + int64(leadingSpace(data[start:])))
		doc, err := Parse(raw)
		if err != nil {
			return &Error{Name: name, Line: elemLine, Err: err}
		}
		if err := fn(doc, elemLine); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return &Error{Name: name, Line: lineAt(dec.InputOffset()), Err: jsonError(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Name: name, Line: lineAt(dec.InputOffset()), Err: errors.New("unexpected data after the closing ]")}
	}
	return nil
}

func leadingSpace(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == ' ' || b[n] == '\t' || b[n] == '\r' || b[n] == '\n' || b[n] == ',') {
		n++
	}
	return n
}

func jsonError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("unexpected end of input: unterminated JSON array")
	}
	return err
}

// Parse parses one Extended JSON document, canonical or relaxed.
func Parse(text []byte) (bson.Raw, error) {
	if t := bytes.TrimSpace(text); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object: each document must be a {...} object")
	}
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON(text, false, &doc); err != nil {
		return nil, fmt.Errorf("invalid Extended JSON: %w", err)
	}
	return doc, nil
}

// Canonical returns the canonical Extended JSON text of doc.
func Canonical(doc bson.Raw) ([]byte, error) {
	return bson.MarshalExtJSON(doc, true, false)
}
