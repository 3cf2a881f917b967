// Package mongowire serves a lungo engine over the MongoDB wire protocol,
// so mongosh and the MongoDB drivers can use schemaflow dev's embedded
// database.
//
// The framing (OP_MSG, OP_QUERY for the first handshake, OP_REPLY) is read
// and written with the Go driver's wiremessage package (maintained with the
// driver, already a dependency, BSON-agnostic: documents stay the driver's
// bson, which lungo uses). FerretDB's github.com/FerretDB/wire was the other
// candidate: v0.0.7 asks not to be used yet, decodes every document into
// its own BSON types and panics on a crafted OP_MSG (see checksumInBody in
// the tests). Storage, queries and updates are lungo's. This package is the thin command layer between them:
// it reads a command, checks every field it was given, calls the engine and
// answers the reply a MongoDB 6.0 replica set member would. A command or an
// option it does not implement is answered with a MongoDB error naming it
// (CommandNotFound, NotImplemented or an unknown-field error), never
// ignored. A message that cannot be read (malformed, larger than the
// limit, an op code other than OP_MSG and OP_QUERY) closes its connection
// with a log line; the server and the other connections go on.
package mongowire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
)

// DefaultReplicaSet is the replica set name the server reports, so that
// drivers treat it as a replica set member and allow change streams.
const DefaultReplicaSet = "schemaflow"

// Options configure a Server.
type Options struct {
	// Logger logs closed connections and failed commands. Default
	// slog.Default().
	Logger *slog.Logger
	// ReplicaSet is the replica set name in hello replies. Default
	// DefaultReplicaSet.
	ReplicaSet string
	// MaxMessageSize bounds a client's messages. Default
	// DefaultMaxMessageSize (48 MB, MongoDB's).
	MaxMessageSize int32
	// CursorTimeout closes cursors not used for this long. Default 10
	// minutes, as MongoDB.
	CursorTimeout time.Duration
	// AwaitTime is how long a getMore on a change stream waits for an
	// event when the client gives no maxTimeMS. Default 1s, as MongoDB.
	AwaitTime time.Duration
}

// Server serves one lungo engine to any number of connections.
type Server struct {
	engine *lungo.Engine
	opts   Options
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[net.Conn]struct{}
	cursors map[int64]*cursor
	closed  bool

	connID atomic.Int32
	// batchBytes bounds the documents of one reply: maxBatchBytes, lower
	// in tests.
	batchBytes int
}

// New returns a server of engine. Serve starts it on a listener.
func New(engine *lungo.Engine, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReplicaSet == "" {
		opts.ReplicaSet = DefaultReplicaSet
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.CursorTimeout <= 0 {
		opts.CursorTimeout = 10 * time.Minute
	}
	if opts.AwaitTime <= 0 {
		opts.AwaitTime = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		engine: engine, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		lns: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}, cursors: map[int64]*cursor{},
		batchBytes: maxBatchBytes,
	}
	s.wg.Add(1)
	go s.reap()
	return s
}

// URI returns the connection string drivers use for a server listening on
// addr: a direct connection to the member of replicaSet.
func URI(addr, replicaSet string) string {
	q := url.Values{}
	q.Set("directConnection", "true")
	q.Set("replicaSet", replicaSet)
	return (&url.URL{Scheme: "mongodb", Host: addr, Path: "/", RawQuery: q.Encode()}).String()
}

// Serve accepts connections on ln until Close. It returns nil after
// Close, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.lns, ln)
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("mongowire: accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, closes every connection and cursor and waits for
// their goroutines. The engine stays open.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	cursors := s.cursors
	s.cursors = map[int64]*cursor{}
	s.mu.Unlock()
	s.cancel()
	for _, c := range cursors {
		c.close()
	}
	s.wg.Wait()
	return nil
}

// conn is one client connection.
type conn struct {
	id    int32
	local string
}

func (s *Server) serveConn(nc net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	c := &conn{id: s.connID.Add(1), local: nc.LocalAddr().String()}
	r := bufio.NewReader(nc)
	var out []byte
	for {
		req, err := readRequest(r, s.opts.MaxMessageSize)
		if err != nil {
			var pe *ProtocolError
			switch {
			case errors.As(err, &pe):
				s.log.Warn("mongowire: closing connection", "remote", nc.RemoteAddr().String(), "conn", c.id, "err", err)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				s.log.Debug("mongowire: connection ended", "remote", nc.RemoteAddr().String(), "conn", c.id, "err", err)
			}
			return
		}
		reply := s.handle(c, req)
		if req.moreToCome {
			continue
		}
		raw, err := bson.Marshal(reply)
		if err != nil {
			raw, _ = bson.Marshal(cmdErr(codeInternalError, "reply cannot be encoded: %v", err).doc())
		}
		if req.opCode == opQuery {
			out = appendQueryReply(out[:0], req.requestID, raw)
		} else {
			out = appendMsgReply(out[:0], req.requestID, raw)
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// handle runs one command and returns its reply. A panic in the command
// is answered as an InternalError and logged; the connection goes on.
func (s *Server) handle(c *conn, req *request) (reply bson.D) {
	var a *args
	defer func() {
		if p := recover(); p != nil {
			name := "?"
			if a != nil {
				name = a.name
			}
			s.log.Error("mongowire: command panicked", "command", name, "panic", p, "stack", string(debug.Stack()))
			reply = cmdErr(codeInternalError, "command %s failed: %v", name, p).doc()
		}
	}()
	a, cerr := parseArgs(req)
	if cerr != nil {
		return cerr.doc()
	}
	res, err := s.dispatch(c, a)
	if err != nil {
		ce := fromEngine(err)
		s.log.Debug("mongowire: command failed", "command", a.name, "db", a.db, "err", ce)
		return ce.doc()
	}
	return append(res, bson.E{Key: "ok", Value: 1.0})
}
