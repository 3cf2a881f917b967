package mongowire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

func mustDoc(t testing.TB, d bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frame puts a header in front of body.
func frame(reqID int32, op int32, body []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(headerLen+len(body)))
	out = binary.LittleEndian.AppendUint32(out, uint32(reqID))
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(op))
	return append(out, body...)
}

// opMsg is an OP_MSG of one body section and optional document sequences.
func opMsg(flags uint32, body []byte, seqID string, seq ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, flags)
	b = append(b, 0)
	b = append(b, body...)
	if seqID != "" {
		var docs []byte
		for _, d := range seq {
			docs = append(docs, d...)
		}
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(4+len(seqID)+1+len(docs)))
		b = append(b, seqID...)
		b = append(b, 0)
		b = append(b, docs...)
	}
	return frame(7, 2013, b)
}

// withChecksum sets the checksum flag of an OP_MSG and appends its CRC-32C
// (corrupted when bad).
func withChecksum(msg []byte, bad bool) []byte {
	m := append([]byte(nil), msg...)
	binary.LittleEndian.PutUint32(m[16:], binary.LittleEndian.Uint32(m[16:])|1)
	binary.LittleEndian.PutUint32(m[0:], uint32(len(m)+4))
	sum := crc32.Checksum(m, crc32.MakeTable(crc32.Castagnoli))
	if bad {
		sum++
	}
	return binary.LittleEndian.AppendUint32(m, sum)
}

// checksumInBody is an OP_MSG with the checksum flag whose checksum is
// right but is also the last 4 bytes of its one document: read as a
// checksum, the document is cut short. (FerretDB's wire v0.0.7 ReadMessage
// panics on it with an index out of range.)
func checksumInBody(t testing.TB) []byte {
	for q := int32(0); ; q++ {
		// The int32 v comes last: its upper 3 bytes and the terminator are
		// the checksum, so the sum's top byte must be 0.
		doc := mustDoc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}, {Key: "q", Value: q}, {Key: "v", Value: int32(0)}})
		msg := frame(1, 2013, append([]byte{1, 0, 0, 0, 0}, doc...))
		sum := crc32.Checksum(msg[:len(msg)-4], crc32.MakeTable(crc32.Castagnoli))
		if sum>>24 != 0 {
			continue
		}
		binary.LittleEndian.PutUint32(msg[len(msg)-4:], sum)
		return msg
	}
}

func queryMsg(t testing.TB, ns string, q bson.D) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0)
	b = append(b, ns...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(0xffffffff))
	b = append(b, mustDoc(t, q)...)
	return frame(9, 2004, b)
}

// roundTrip writes msg on a new connection and reads one reply's
// document.
func roundTrip(t *testing.T, addr string, msg []byte) (op int32, doc bson.Raw) {
	t.Helper()
	return roundTripTo(t, addr, msg, int32(binary.LittleEndian.Uint32(msg[4:])))
}

// roundTripTo is roundTrip where the reply answers request id want.
func roundTripTo(t *testing.T, addr string, msg []byte, want int32) (op int32, doc bson.Raw) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	var hdr [16]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	body := make([]byte, n-16)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	op = int32(binary.LittleEndian.Uint32(hdr[12:]))
	if got := int32(binary.LittleEndian.Uint32(hdr[8:])); got != want {
		t.Fatalf("responseTo %d, want %d", got, want)
	}
	switch op {
	case 2013:
		doc = bson.Raw(body[5:])
	case 1:
		doc = bson.Raw(body[20:])
	default:
		t.Fatalf("reply op code %d", op)
	}
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	return op, doc
}

func TestRawMessages(t *testing.T) {
	f := serve(t, Options{})
	cases := []struct {
		name   string
		msg    []byte
		op     int32
		expect string
	}{
		{"OP_QUERY isMaster", queryMsg(t, "admin.$cmd", bson.D{{Key: "isMaster", Value: 1}, {Key: "helloOk", Value: true}}), 1, `"ismaster": true`},
		{"OP_QUERY wrapped in $query", queryMsg(t, "admin.$cmd", bson.D{{Key: "$query", Value: bson.D{{Key: "ping", Value: 1}}}}), 1, `"ok": {"$numberDouble":"1.0"}`},
		{"OP_QUERY on a collection", queryMsg(t, "d.c", bson.D{{Key: "x", Value: 1}}), 1, "only commands"},
		{"OP_MSG ping", opMsg(0, mustDoc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}), ""), 2013, `"ok": {"$numberDouble":"1.0"}`},
		{"OP_MSG with checksum", withChecksum(opMsg(0, mustDoc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}), ""), false), 2013, `"ok": {"$numberDouble":"1.0"}`},
		{"OP_MSG document sequence", opMsg(0, mustDoc(t, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "d"}}), "documents",
			mustDoc(t, bson.D{{Key: "_id", Value: 1}}), mustDoc(t, bson.D{{Key: "_id", Value: 2}})), 2013, `"n": {"$numberInt":"2"}`},
		{"no $db", opMsg(0, mustDoc(t, bson.D{{Key: "ping", Value: 1}}), ""), 2013, "no $db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op, doc := roundTrip(t, f.addr, tc.msg)
			if op != tc.op || !strings.Contains(doc.String(), tc.expect) {
				t.Fatalf("op %d, reply %s; want op %d containing %s", op, doc, tc.op, tc.expect)
			}
		})
	}
}

// Messages the server cannot read close their connection with a log line;
// the server goes on serving.
func TestBadMessages(t *testing.T) {
	f := serve(t, Options{MaxMessageSize: 1 << 16})
	ping := mustDoc(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	okMsg := opMsg(0, ping, "")
	lengthOf := func(m []byte, n uint32) []byte {
		m = append([]byte(nil), m...)
		binary.LittleEndian.PutUint32(m, n)
		return m
	}
	cases := []struct {
		name string
		msg  []byte
		log  string
	}{
		{"length below the header", lengthOf(okMsg, 8), "message length 8 outside"},
		{"negative length", lengthOf(okMsg, 0xfffffff0), "message length -16 outside"},
		{"oversized", lengthOf(okMsg, 1<<16+1), "message length 65537 outside [16, 65536]"},
		{"OP_COMPRESSED", frame(1, 2012, []byte{1, 2, 3, 4}), "unsupported op code 2012"},
		{"unknown op code", frame(1, 4242, nil), "unsupported op code 4242"},
		{"legacy OP_INSERT", frame(1, 2002, []byte{0, 0, 0, 0}), "unsupported op code 2002"},
		{"OP_MSG body not BSON", opMsg(0, []byte{50, 0, 0, 0, 1, 2, 3, 4, 5}, ""), "not a BSON document"},
		{"OP_MSG body invalid BSON", opMsg(0, []byte{12, 0, 0, 0, 0x42, 'a', 0, 1, 2, 3, 4, 0}, ""), "OP_MSG body"},
		{"OP_MSG unknown section kind", frame(1, 2013, append([]byte{0, 0, 0, 0, 7}, ping...)), "section kind 7"},
		{"OP_MSG without body", frame(1, 2013, []byte{0, 0, 0, 0}), "no body section"},
		{"OP_MSG two bodies", frame(1, 2013, append(append([]byte{0, 0, 0, 0, 0}, ping...), append([]byte{0}, ping...)...)), "more than one body"},
		{"OP_MSG bad checksum", withChecksum(okMsg, true), "checksum"},
		{"OP_MSG checksum inside the body", checksumInBody(t), "body section is not a BSON document"},
		{"OP_MSG unknown required flag", opMsg(1<<4, ping, ""), "unknown required flag bits 0x10"},
		{"OP_MSG bad sequence length", frame(1, 2013, append(append([]byte{0, 0, 0, 0, 0}, ping...), 1, 0xff, 0, 0, 0, 'x', 0)), "document sequence is malformed"},
		{"cut short", okMsg[:len(okMsg)-3], "cut short"},
		{"header cut short", okMsg[:10], "inside a message header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(tc.msg); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.name, "cut short") {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			n, err := c.Read(make([]byte, 64))
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
			}
			// The server logs before it closes the connection.
			if logs := f.logs.String(); !strings.Contains(logs, tc.log) || !strings.Contains(logs, "mongowire: closing connection") {
				t.Fatalf("no closing line with %q in the log:\n%s", tc.log, logs)
			}
			// The server goes on.
			if err := f.client.Ping(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	ping := mustDoc(f, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	f.Add(opMsg(0, ping, ""))
	f.Add(withChecksum(opMsg(0, ping, ""), false))
	f.Add(opMsg(2, mustDoc(f, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "d"}}), "documents", mustDoc(f, bson.D{{Key: "_id", Value: 1}})))
	f.Add(opMsg(0, mustDoc(f, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: 1}}}}}, {Key: "$db", Value: "d"}}), ""))
	f.Add(opMsg(0, mustDoc(f, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "d"}}), ""))
	f.Add(queryMsg(f, "admin.$cmd", bson.D{{Key: "isMaster", Value: 1}}))
	f.Add(frame(1, 2012, []byte{1, 2, 3}))
	f.Add(checksumInBody(f))
	_, engine, err := lungo.Open(context.Background(), lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		f.Fatal(err)
	}
	defer engine.Close()
	srv := New(engine, Options{AwaitTime: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer srv.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := readRequest(bufio.NewReader(bytes.NewReader(data)), 1<<20)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) && !errors.Is(err, io.EOF) {
				t.Fatalf("error %v (%T) is neither a *ProtocolError nor io.EOF", err, err)
			}
			return
		}
		if err := req.body.Validate(); err != nil {
			t.Fatalf("accepted a body that is not BSON: %v", err)
		}
		reply := srv.handle(&conn{id: 1, local: "127.0.0.1:1"}, req)
		if _, err := bson.Marshal(reply); err != nil {
			t.Fatalf("reply %v cannot be encoded: %v", reply, err)
		}
		if lookup(reply, "code") == int32(codeInternalError) {
			t.Fatalf("a command panicked: %v", reply)
		}
		if len(reply) == 0 || (lookup(reply, "ok") != 1.0 && lookup(reply, "ok") != 0.0) {
			t.Fatalf("reply without ok: %v", reply)
		}
	})
}

// An OP_MSG with moreToCome (an unacknowledged write) gets no reply: the
// next reply on the connection answers the next request.
func TestMoreToCome(t *testing.T) {
	f := serve(t, Options{})
	insert := opMsg(2, mustDoc(t, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "d"}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: 0}}}}), "documents",
		mustDoc(t, bson.D{{Key: "_id", Value: "fire-and-forget"}}))
	count := opMsg(0, mustDoc(t, bson.D{{Key: "count", Value: "c"}, {Key: "$db", Value: "d"}}), "")
	binary.LittleEndian.PutUint32(count[4:], 8) // request id 8
	_, doc := roundTripTo(t, f.addr, append(insert, count...), 8)
	if n, ok := doc.Lookup("n").Int32OK(); !ok || n != 1 {
		t.Fatalf("count after an unacknowledged insert: %s", doc)
	}
}
