package mongowire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

// DefaultMaxMessageSize is the largest message a client may send, as
// MongoDB's maxMessageSizeBytes.
const DefaultMaxMessageSize = 48_000_000

// maxBSONSize is maxBsonObjectSize: the largest document accepted.
const maxBSONSize = 16 * 1024 * 1024

const headerLen = 16

// opQuery is OP_QUERY, which drivers still send for their first hello
// (the driver package marks it deprecated for clients).
const opQuery wiremessage.OpCode = 2004

// ProtocolError is a message the server cannot read: the connection it
// came on is closed.
type ProtocolError struct {
	// Reason says what is wrong with the message.
	Reason string
}

func (e *ProtocolError) Error() string { return "mongodb wire protocol: " + e.Reason }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}

// request is one command read from a client.
type request struct {
	requestID int32
	opCode    wiremessage.OpCode
	// moreToCome is OP_MSG's flag: the client wants no reply.
	moreToCome bool
	// body is the command document, with OP_MSG document sequences
	// merged in as arrays (insert's "documents", update's "updates" ...).
	body bson.Raw
	// ns is OP_QUERY's full collection name ("admin.$cmd").
	ns string
}

// readRequest reads one message. It returns io.EOF when the client closed
// the connection between messages and a *ProtocolError for a message that
// is malformed, larger than maxSize, or of an op code other than OP_MSG
// and OP_QUERY.
func readRequest(r io.Reader, maxSize int32) (*request, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, protoErr("connection closed inside a message header")
		}
		return nil, err
	}
	length, reqID, _, op, _, _ := wiremessage.ReadHeader(hdr[:])
	if length < headerLen || length > maxSize {
		return nil, protoErr("message length %d outside [%d, %d]", length, headerLen, maxSize)
	}
	if op != wiremessage.OpMsg && op != opQuery {
		return nil, protoErr("unsupported op code %d (%s): only OP_MSG and OP_QUERY are served", int32(op), op)
	}
	body := make([]byte, length-headerLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, protoErr("message of %d bytes cut short: %v", length, err)
	}
	req := &request{requestID: reqID, opCode: op}
	var err error
	if op == wiremessage.OpMsg {
		err = req.parseMsg(hdr[:], body)
	} else {
		err = req.parseQuery(body)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

// parseMsg reads an OP_MSG body: flags, one kind-0 section, any number of
// kind-1 document sequences, and an optional CRC-32C checksum.
func (req *request) parseMsg(hdr, body []byte) error {
	flags, rem, ok := wiremessage.ReadMsgFlags(body)
	if !ok {
		return protoErr("OP_MSG without flags")
	}
	// Bits 0-15 are required: a server must refuse ones it does not know.
	if unknown := flags & 0xffff &^ (wiremessage.ChecksumPresent | wiremessage.MoreToCome); unknown != 0 {
		return protoErr("OP_MSG has unknown required flag bits %#x", uint32(unknown))
	}
	req.moreToCome = flags&wiremessage.MoreToCome != 0
	if flags&wiremessage.ChecksumPresent != 0 {
		if len(rem) < 4 {
			return protoErr("OP_MSG checksum flag set but no checksum")
		}
		want := binary.LittleEndian.Uint32(rem[len(rem)-4:])
		h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		h.Write(hdr)
		h.Write(body[:len(body)-4])
		if got := h.Sum32(); got != want {
			return protoErr("OP_MSG checksum %#08x does not match its contents (%#08x)", want, got)
		}
		rem = rem[:len(rem)-4]
	}
	var cmd bsoncore.Document
	type sequence struct {
		id   string
		docs []bsoncore.Document
	}
	var seqs []sequence
	for len(rem) > 0 {
		var kind wiremessage.SectionType
		kind, rem, _ = wiremessage.ReadMsgSectionType(rem)
		switch kind {
		case wiremessage.SingleDocument:
			if cmd != nil {
				return protoErr("OP_MSG has more than one body section")
			}
			cmd, rem, ok = wiremessage.ReadMsgSectionSingleDocument(rem)
			if !ok {
				return protoErr("OP_MSG body section is not a BSON document")
			}
			if err := cmd.Validate(); err != nil {
				return protoErr("OP_MSG body: %v", err)
			}
		case wiremessage.DocumentSequence:
			var s sequence
			s.id, s.docs, rem, ok = wiremessage.ReadMsgSectionDocumentSequence(rem)
			if !ok {
				return protoErr("OP_MSG document sequence is malformed")
			}
			for i, d := range s.docs {
				if err := d.Validate(); err != nil {
					return protoErr("OP_MSG document sequence %q, document %d: %v", s.id, i, err)
				}
			}
			seqs = append(seqs, s)
		default:
			return protoErr("OP_MSG section kind %d is unknown", kind)
		}
	}
	if cmd == nil {
		return protoErr("OP_MSG has no body section")
	}
	if len(cmd) > maxBSONSize+16*1024 {
		return protoErr("OP_MSG body of %d bytes exceeds maxBsonObjectSize", len(cmd))
	}
	if len(seqs) == 0 {
		req.body = bson.Raw(cmd)
		return nil
	}
	// Merge the sequences into the command as arrays.
	idx, doc := bsoncore.AppendDocumentStart(nil)
	elems, err := cmd.Elements()
	if err != nil {
		return protoErr("OP_MSG body: %v", err)
	}
	seen := map[string]bool{}
	for _, s := range seqs {
		if seen[s.id] {
			return protoErr("OP_MSG has two document sequences named %q", s.id)
		}
		seen[s.id] = true
	}
	for _, e := range elems {
		if seen[e.Key()] {
			return protoErr("OP_MSG field %q is both in the body and a document sequence", e.Key())
		}
		doc = append(doc, e...)
	}
	for _, s := range seqs {
		var aidx int32
		aidx, doc = bsoncore.AppendArrayElementStart(doc, s.id)
		for i, d := range s.docs {
			doc = bsoncore.AppendDocumentElement(doc, fmt.Sprint(i), d)
		}
		doc, _ = bsoncore.AppendArrayEnd(doc, aidx)
	}
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	req.body = bson.Raw(doc)
	return nil
}

// parseQuery reads an OP_QUERY body. Drivers send their first hello this
// way; only commands (a collection named "$cmd") are served.
func (req *request) parseQuery(body []byte) error {
	if len(body) < 4 {
		return protoErr("OP_QUERY without flags")
	}
	rem := body[4:]
	i := bytes.IndexByte(rem, 0)
	if i < 0 {
		return protoErr("OP_QUERY collection name is not terminated")
	}
	req.ns = string(rem[:i])
	rem = rem[i+1:]
	if len(rem) < 8 {
		return protoErr("OP_QUERY without numberToSkip and numberToReturn")
	}
	rem = rem[8:]
	query, rest, ok := bsoncore.ReadDocument(rem)
	if !ok {
		return protoErr("OP_QUERY query is not a BSON document")
	}
	if err := query.Validate(); err != nil {
		return protoErr("OP_QUERY query: %v", err)
	}
	if len(rest) > 0 {
		fields, rest2, ok := bsoncore.ReadDocument(rest)
		if !ok || len(rest2) > 0 || fields.Validate() != nil {
			return protoErr("OP_QUERY returnFieldsSelector is not a BSON document")
		}
	}
	// A command may be wrapped: {$query: {...}, $readPreference: ...}.
	if inner, err := query.LookupErr("$query"); err == nil {
		d, ok := inner.DocumentOK()
		if !ok {
			return protoErr("OP_QUERY $query is not a document")
		}
		query = d
	}
	req.body = bson.Raw(query)
	return nil
}

// appendMsgReply frames doc as an OP_MSG reply to requestID.
func appendMsgReply(dst []byte, requestID int32, doc []byte) []byte {
	idx, dst := wiremessage.AppendHeaderStart(dst, wiremessage.NextRequestID(), requestID, wiremessage.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, 0)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = append(dst, doc...)
	return bsoncore.UpdateLength(dst, idx, int32(len(dst[idx:])))
}

// appendQueryReply frames doc as an OP_REPLY to an OP_QUERY command:
// no flags, cursor 0, starting from 0, one document.
func appendQueryReply(dst []byte, requestID int32, doc []byte) []byte {
	idx, dst := wiremessage.AppendHeaderStart(dst, wiremessage.NextRequestID(), requestID, wiremessage.OpReply)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // responseFlags
	dst = binary.LittleEndian.AppendUint64(dst, 0) // cursorID
	dst = binary.LittleEndian.AppendUint32(dst, 0) // startingFrom
	dst = binary.LittleEndian.AppendUint32(dst, 1) // numberReturned
	dst = append(dst, doc...)
	return bsoncore.UpdateLength(dst, idx, int32(len(dst[idx:])))
}
