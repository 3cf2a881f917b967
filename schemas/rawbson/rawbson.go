// Package rawbson reads BSON bytes that may be malformed without ever
// panicking. The driver's bsoncore readers panic on some malformed lengths
// (a negative length inside a nested value, for instance), and
// bsoncore.Document.Validate does not catch every such case, so every
// schemaflow path that reads BSON from outside goes through this package
// first.
package rawbson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// MaxDepth bounds the nesting of documents and arrays accepted, the same
// limit MongoDB applies.
const MaxDepth = 100

// WellFramed reports whether b has the frame of a BSON document or array:
// at least 5 bytes, a length prefix equal to its size, and a closing NUL.
func WellFramed(b []byte) bool {
	return len(b) >= 5 && int64(int32(binary.LittleEndian.Uint32(b))) == int64(len(b)) && b[len(b)-1] == 0
}

func i32(b []byte) int {
	return int(int32(binary.LittleEndian.Uint32(b)))
}

// ValueLen returns the size of the value of type t at the start of b, or
// false when b does not hold a whole value of that type.
func ValueLen(t bsontype.Type, b []byte) (int, bool) {
	n := 0
	switch t {
	case bson.TypeDouble, bson.TypeDateTime, bson.TypeInt64, bson.TypeTimestamp:
		n = 8
	case bson.TypeInt32:
		n = 4
	case bson.TypeBoolean:
		n = 1
	case bson.TypeNull, bson.TypeUndefined, bson.TypeMinKey, bson.TypeMaxKey:
		n = 0
	case bson.TypeObjectID:
		n = 12
	case bson.TypeDecimal128:
		n = 16
	case bson.TypeString, bson.TypeJavaScript, bson.TypeSymbol:
		if len(b) < 4 || i32(b) < 1 {
			return 0, false
		}
		n = 4 + i32(b)
	case bson.TypeEmbeddedDocument, bson.TypeArray, bson.TypeCodeWithScope:
		if len(b) < 4 || i32(b) < 5 {
			return 0, false
		}
		n = i32(b)
	case bson.TypeBinary:
		if len(b) < 4 || i32(b) < 0 {
			return 0, false
		}
		n = 5 + i32(b)
	case bson.TypeRegex:
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return 0, false
		}
		j := bytes.IndexByte(b[i+1:], 0)
		if j < 0 {
			return 0, false
		}
		n = i + j + 2
	case bson.TypeDBPointer:
		if len(b) < 4 || i32(b) < 1 {
			return 0, false
		}
		n = 4 + i32(b) + 12
	default:
		return 0, false
	}
	return n, n <= len(b)
}

// Next reads the element at the start of b: its key, its value, and the
// bytes after it.
func Next(b []byte) (key []byte, v bsoncore.Value, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, v, nil, false
	}
	end := bytes.IndexByte(b[1:], 0)
	if end < 0 {
		return nil, v, nil, false
	}
	t := bsontype.Type(b[0])
	n, ok := ValueLen(t, b[2+end:])
	if !ok {
		return nil, v, nil, false
	}
	start := 2 + end
	return b[1 : 1+end], bsoncore.Value{Type: t, Data: b[start : start+n]}, b[start+n:], true
}

// NextKeyed reads the element at the start of b if its key is key, without
// scanning for the end of the key: the common case when a document's fields
// come in the expected order.
func NextKeyed(b []byte, key string) (bsoncore.Value, []byte, bool) {
	if len(b) < len(key)+2 || b[1+len(key)] != 0 || string(b[1:1+len(key)]) != key {
		return bsoncore.Value{}, nil, false
	}
	t := bsontype.Type(b[0])
	start := 2 + len(key)
	n, ok := ValueLen(t, b[start:])
	if !ok {
		return bsoncore.Value{}, nil, false
	}
	return bsoncore.Value{Type: t, Data: b[start : start+n]}, b[start+n:], true
}

// Key is an element key prepared for NextKey: a key of up to seven bytes
// is compared, with its terminating NUL, as one 8-byte word.
type Key struct {
	name       string
	word, mask uint64
	short      bool
}

// MakeKey prepares name, which must not contain NUL, for NextKey.
func MakeKey(name string) Key {
	k := Key{name: name}
	if len(name) <= 7 {
		var b [8]byte
		copy(b[:], name) // b[len(name)] is the NUL
		k.word = binary.LittleEndian.Uint64(b[:])
		k.mask = ^uint64(0) >> (8 * (7 - len(name)))
		k.short = true
	}
	return k
}

// Name returns the key.
func (k *Key) Name() string { return k.name }

// NextKey is NextKeyed with a prepared key.
func NextKey(b []byte, k *Key) (bsoncore.Value, []byte, bool) {
	n := len(k.name)
	if k.short && len(b) >= 9 {
		if binary.LittleEndian.Uint64(b[1:9])&k.mask != k.word {
			return bsoncore.Value{}, nil, false
		}
	} else if len(b) < n+2 || b[1+n] != 0 || string(b[1:1+n]) != k.name {
		return bsoncore.Value{}, nil, false
	}
	t := bsontype.Type(b[0])
	start := 2 + n
	size, ok := ValueLen(t, b[start:])
	if !ok {
		return bsoncore.Value{}, nil, false
	}
	return bsoncore.Value{Type: t, Data: b[start : start+size]}, b[start+size:], true
}

// Validate checks a whole document: framing, every element, nested
// documents and arrays (to MaxDepth), UTF-8 in keys and strings, and the
// inner structure of binary, regex, DBPointer and code-with-scope values.
// A document that passes can be read with bsoncore without panics.
func Validate(doc []byte) error {
	return validateDoc(doc, 0)
}

func validateDoc(doc []byte, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("nesting deeper than %d levels", MaxDepth)
	}
	if !WellFramed(doc) {
		return fmt.Errorf("malformed document frame")
	}
	for rem := doc[4 : len(doc)-1]; len(rem) > 0; {
		key, v, next, ok := Next(rem)
		if !ok {
			return fmt.Errorf("malformed element at byte %d", len(doc)-1-len(rem))
		}
		if !utf8.Valid(key) {
			return fmt.Errorf("key %q is not valid UTF-8", key)
		}
		if err := validateValue(v, depth); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		rem = next
	}
	return nil
}

// ValidateValue checks one value as Validate checks the values of a document.
func ValidateValue(v bsoncore.Value) error {
	n, ok := ValueLen(v.Type, v.Data)
	if !ok || n != len(v.Data) {
		return fmt.Errorf("malformed %s", v.Type)
	}
	return validateValue(v, 0)
}

func validString(b []byte) bool {
	return len(b) >= 5 && i32(b) == len(b)-4 && b[len(b)-1] == 0 && utf8.Valid(b[4:len(b)-1])
}

func validateValue(v bsoncore.Value, depth int) error {
	switch v.Type {
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		return validateDoc(v.Data, depth+1)
	case bson.TypeString, bson.TypeJavaScript, bson.TypeSymbol:
		if !validString(v.Data) {
			return fmt.Errorf("malformed or non-UTF-8 %s", v.Type)
		}
	case bson.TypeBinary:
		if v.Data[4] == 2 { // the old binary subtype repeats the length inside
			if len(v.Data) < 9 || i32(v.Data[5:]) != len(v.Data)-9 {
				return fmt.Errorf("malformed binary subtype 2")
			}
		}
	case bson.TypeRegex:
		i := bytes.IndexByte(v.Data, 0)
		if !utf8.Valid(v.Data[:i]) || !utf8.Valid(v.Data[i+1:len(v.Data)-1]) {
			return fmt.Errorf("regex is not valid UTF-8")
		}
	case bson.TypeDBPointer:
		if !validString(v.Data[:len(v.Data)-12]) {
			return fmt.Errorf("malformed DBPointer")
		}
	case bson.TypeCodeWithScope:
		d := v.Data
		if len(d) < 14 {
			return fmt.Errorf("malformed code with scope")
		}
		n, ok := ValueLen(bson.TypeString, d[4:])
		if !ok || 4+n >= len(d) || !validString(d[4:4+n]) {
			return fmt.Errorf("malformed code with scope")
		}
		return validateDoc(d[4+n:], depth+1)
	case bson.TypeBoolean:
		if v.Data[0] > 1 {
			return fmt.Errorf("boolean byte %d", v.Data[0])
		}
	}
	return nil
}
