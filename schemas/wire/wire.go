// Package wire reads and writes the Confluent Schema Registry wire format.
//
// A framed record is the magic byte 0, the schema id as a 4-byte big-endian
// integer, and the payload. For Protobuf the payload starts with the message
// indexes: a zig-zag varint count followed by that many zig-zag varint
// indexes, where the common case [0] is written as the single byte 0.
//
// The package depends on the standard library only, so that every layer can
// use it. Decoding never panics: every malformed frame is reported as a
// *FrameError whose Reason callers can branch on.
package wire

import (
	"encoding/binary"
	"fmt"
)

// MagicByte is the first byte of every Confluent-framed record.
const MagicByte byte = 0

// HeaderSize is the size of the magic byte plus the schema id.
const HeaderSize = 5

// MaxIndexes bounds the number of Protobuf message indexes a frame may carry.
// Message nesting deeper than this does not occur in real schemas, and the
// bound keeps a hostile count from making the decoder allocate without limit.
const MaxIndexes = 128

// Reason classifies why a frame was rejected.
type Reason int

// The reasons a frame can be rejected.
const (
	// ShortFrame means the record is shorter than the 5-byte header.
	ShortFrame Reason = iota + 1
	// BadMagic means the first byte is not MagicByte.
	BadMagic
	// BadVarint means a message-index varint is truncated or overflows.
	BadVarint
	// BadIndexCount means the message-index count is negative or too large.
	BadIndexCount
	// IndexOutOfRange means a message index is negative or does not name a
	// message of the schema.
	IndexOutOfRange
)

// String returns a short name for the reason.
func (r Reason) String() string {
	switch r {
	case ShortFrame:
		return "short frame"
	case BadMagic:
		return "wrong magic byte"
	case BadVarint:
		return "bad varint"
	case BadIndexCount:
		return "bad message-index count"
	case IndexOutOfRange:
		return "message index out of range"
	default:
		return fmt.Sprintf("reason(%d)", int(r))
	}
}

// FrameError reports a malformed frame.
type FrameError struct {
	Reason Reason
	// Offset is the byte offset in the frame where the problem was found.
	Offset int
	Detail string
}

// Error implements error.
func (e *FrameError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("wire: %s at byte %d", e.Reason, e.Offset)
	}
	return fmt.Sprintf("wire: %s at byte %d: %s", e.Reason, e.Offset, e.Detail)
}

// Is reports whether target is a *FrameError with the same Reason, so that
// callers can write errors.Is(err, &wire.FrameError{Reason: wire.BadMagic}).
func (e *FrameError) Is(target error) bool {
	t, ok := target.(*FrameError)
	return ok && t.Reason == e.Reason
}

// AppendHeader appends the magic byte and the schema id to dst.
func AppendHeader(dst []byte, id uint32) []byte {
	dst = append(dst, MagicByte)
	return binary.BigEndian.AppendUint32(dst, id)
}

// ParseHeader reads the magic byte and schema id and returns the id and the
// rest of the frame.
func ParseHeader(frame []byte) (id uint32, payload []byte, err error) {
	if len(frame) < HeaderSize {
		return 0, nil, &FrameError{Reason: ShortFrame, Offset: len(frame), Detail: fmt.Sprintf("got %d bytes, need at least %d", len(frame), HeaderSize)}
	}
	if frame[0] != MagicByte {
		return 0, nil, &FrameError{Reason: BadMagic, Offset: 0, Detail: fmt.Sprintf("got 0x%02x, want 0x00", frame[0])}
	}
	return binary.BigEndian.Uint32(frame[1:5]), frame[5:], nil
}

// AppendIndexes appends Protobuf message indexes. The indexes [0] (and an
// empty list, which means the same) are written as the single byte 0, as the
// Confluent serializers do.
func AppendIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 0 || (len(indexes) == 1 && indexes[0] == 0) {
		return append(dst, 0)
	}
	dst = appendZigZag(dst, int64(len(indexes)))
	for _, ix := range indexes {
		dst = appendZigZag(dst, int64(ix))
	}
	return dst
}

// ParseIndexes reads Protobuf message indexes from the start of payload and
// returns them with the rest of the payload. A count of 0 means [0].
func ParseIndexes(payload []byte) (indexes []int, rest []byte, err error) {
	n, off, err := readZigZag(payload, 0)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return []int{0}, payload[off:], nil
	}
	if n < 0 || n > MaxIndexes {
		return nil, nil, &FrameError{Reason: BadIndexCount, Offset: 0, Detail: fmt.Sprintf("count %d not in 0..%d", n, MaxIndexes)}
	}
	indexes = make([]int, n)
	for i := range indexes {
		start := off
		v, next, err := readZigZag(payload, off)
		if err != nil {
			return nil, nil, err
		}
		if v < 0 || v > int64(^uint32(0)>>1) {
			return nil, nil, &FrameError{Reason: IndexOutOfRange, Offset: start, Detail: fmt.Sprintf("index %d is negative or too large", v)}
		}
		indexes[i] = int(v)
		off = next
	}
	return indexes, payload[off:], nil
}

func appendZigZag(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64((v<<1)^(v>>63)))
}

// readZigZag reads a zig-zag varint of at most 32 bits, as Kafka's
// ByteUtils.readVarint does.
func readZigZag(b []byte, off int) (int64, int, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if off >= len(b) {
			return 0, off, &FrameError{Reason: BadVarint, Offset: off, Detail: "truncated"}
		}
		if shift > 28 {
			return 0, off, &FrameError{Reason: BadVarint, Offset: off, Detail: "longer than 5 bytes"}
		}
		c := b[off]
		off++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if u > 0xffffffff {
		return 0, off, &FrameError{Reason: BadVarint, Offset: off - 1, Detail: "overflows 32 bits"}
	}
	v := int64(int32(uint32(u>>1) ^ -uint32(u&1)))
	return v, off, nil
}
