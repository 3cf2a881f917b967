package mongowire

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/256dpi/lungo/bsonkit"
	"go.mongodb.org/mongo-driver/bson"
)

// maxBatchBytes bounds the documents of one reply, as MongoDB's 16 MiB.
const maxBatchBytes = maxBSONSize

// cursor is an open cursor: the rest of a query's result, or a change
// stream.
type cursor struct {
	id        int64
	ns        string
	noTimeout bool

	mu       sync.Mutex // one getMore at a time
	docs     []bson.Raw // the rest of a list
	stream   *changeStream
	lastUsed time.Time
}

func (c *cursor) close() {
	if c.stream != nil {
		c.stream.close()
	}
}

func newCursorID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		id := int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
		if id != 0 {
			return id
		}
	}
}

func (s *Server) register(c *cursor) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		c.id = newCursorID()
		if _, taken := s.cursors[c.id]; !taken {
			break
		}
	}
	s.cursors[c.id] = c
}

func (s *Server) unregister(id int64) *cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cursors[id]
	delete(s.cursors, id)
	return c
}

// reap closes cursors idle for longer than CursorTimeout.
func (s *Server) reap() {
	defer s.wg.Done()
	every := s.opts.CursorTimeout / 10
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			var idle []*cursor
			s.mu.Lock()
			for id, c := range s.cursors {
				if c.mu.TryLock() {
					if !c.noTimeout && now.Sub(c.lastUsed) > s.opts.CursorTimeout {
						idle = append(idle, c)
						delete(s.cursors, id)
					}
					c.mu.Unlock()
				}
			}
			s.mu.Unlock()
			for _, c := range idle {
				c.close()
			}
		}
	}
}

// takeBatch removes up to n documents (0: no count limit), and at most
// maxBytes of them, from docs; at least one when any is left.
func takeBatch(docs []bson.Raw, n, maxBytes int) (batch bson.A, rest []bson.Raw) {
	size := 0
	i := 0
	for ; i < len(docs); i++ {
		if n > 0 && i >= n {
			break
		}
		if i > 0 && size+len(docs[i]) > maxBytes {
			break
		}
		size += len(docs[i])
	}
	batch = make(bson.A, i)
	for j := range i {
		batch[j] = docs[j]
	}
	return batch, docs[i:]
}

func (s *Server) newListCursor(ns string, list bsonkit.List, batch int, single bool) (bson.D, error) {
	return s.newListCursorOpts(ns, list, batch, single, false)
}

// newListCursorOpts answers a cursor command: the first batch, and a
// cursor for the rest unless single or nothing is left.
func (s *Server) newListCursorOpts(ns string, list bsonkit.List, batch int, single, noTimeout bool) (bson.D, error) {
	docs := make([]bson.Raw, len(list))
	for i, d := range list {
		raw, err := bson.Marshal(d)
		if err != nil {
			return nil, err
		}
		docs[i] = raw
	}
	first, rest := takeBatch(docs, batch, s.batchBytes)
	if batch == 0 && len(docs) > 0 && len(first) == 0 {
		first = bson.A{}
	}
	var id int64
	if len(rest) > 0 && !single {
		c := &cursor{ns: ns, docs: rest, noTimeout: noTimeout}
		s.register(c)
		id = c.id
	}
	return cursorReply(id, ns, "firstBatch", first, nil), nil
}

func cursorReply(id int64, ns, key string, batch bson.A, token bson.Raw) bson.D {
	if batch == nil {
		batch = bson.A{}
	}
	cur := bson.D{{Key: key, Value: batch}}
	if token != nil {
		cur = append(cur, bson.E{Key: "postBatchResumeToken", Value: token})
	}
	cur = append(cur, bson.E{Key: "id", Value: id}, bson.E{Key: "ns", Value: ns})
	return bson.D{{Key: "cursor", Value: cur}}
}

// cursorBatchSize reads cursor: {batchSize: N} of aggregate and the list
// commands; 0 when absent (no count limit).
func (a *args) cursorBatchSize() (int, *CommandError) {
	d, err := a.docField("cursor")
	if err != nil || d == nil {
		return 0, err
	}
	if err := checkDoc(a.name+".cursor", *d, []string{"batchSize"}); err != nil {
		return 0, err
	}
	n, err := asInt(a.name+".cursor.batchSize", lookup(*d, "batchSize"), 0)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, cmdErr(codeBadValue, "%s.cursor.batchSize must not be negative", a.name)
	}
	return int(n), nil
}

func (s *Server) getMore(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"collection", "batchSize"}); err != nil {
		return nil, err
	}
	id, ok := a.value.(int64)
	if !ok {
		return nil, cmdErr(codeTypeMismatch, "getMore takes a long cursor id, not %s", typeName(a.value))
	}
	coll, cerr := a.stringField("collection")
	if cerr != nil {
		return nil, cerr
	}
	batch, cerr := a.intField("batchSize", 0)
	if cerr != nil {
		return nil, cerr
	}
	wait, cerr := a.intField("maxTimeMS", 0)
	if cerr != nil {
		return nil, cerr
	}
	s.mu.Lock()
	c := s.cursors[id]
	s.mu.Unlock()
	if c == nil {
		return nil, cmdErr(codeCursorNotFound, "cursor id %d not found", id)
	}
	if want := a.db + "." + coll; want != c.ns {
		return nil, cmdErr(codeCursorNotFound, "cursor id %d belongs to %s, not %s", id, c.ns, want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastUsed = time.Now()
	if c.stream != nil {
		d := s.opts.AwaitTime
		if wait > 0 {
			d = time.Duration(wait) * time.Millisecond
		}
		events, token, alive, err := c.stream.next(s.ctx, int(batch), d)
		if err != nil {
			s.unregister(id)
			c.close()
			return nil, err
		}
		if !alive {
			s.unregister(id)
			c.close()
			id = 0
		}
		return cursorReply(id, c.ns, "nextBatch", events, token), nil
	}
	var out bson.A
	out, c.docs = takeBatch(c.docs, int(batch), s.batchBytes)
	if len(c.docs) == 0 {
		s.unregister(id)
		id = 0
	}
	return cursorReply(id, c.ns, "nextBatch", out, nil), nil
}

func (s *Server) killCursors(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"cursors"}); err != nil {
		return nil, err
	}
	ids, cerr := a.arrayField("cursors")
	if cerr != nil {
		return nil, cerr
	}
	killed, notFound := bson.A{}, bson.A{}
	for _, v := range ids {
		id, ok := v.(int64)
		if !ok {
			return nil, cmdErr(codeTypeMismatch, "killCursors.cursors takes long cursor ids, not %s", typeName(v))
		}
		if c := s.unregister(id); c != nil {
			c.mu.Lock()
			c.close()
			c.mu.Unlock()
			killed = append(killed, id)
		} else {
			notFound = append(notFound, id)
		}
	}
	return bson.D{
		{Key: "cursorsKilled", Value: killed},
		{Key: "cursorsNotFound", Value: notFound},
		{Key: "cursorsAlive", Value: bson.A{}},
		{Key: "cursorsUnknown", Value: bson.A{}},
	}, nil
}
