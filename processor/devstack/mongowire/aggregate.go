package mongowire

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
)

func (s *Server) aggregate(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"pipeline", "cursor", "allowDiskUse", "bypassDocumentValidation"},
		"explain", "collation", "hint", "let"); err != nil {
		return nil, err
	}
	pipeline, cerr := a.arrayField("pipeline")
	if cerr != nil {
		return nil, cerr
	}
	if !a.has("cursor") {
		return nil, cmdErr(codeFailedToParse, "The 'cursor' option is required for aggregate")
	}
	batch, cerr := a.cursorBatchSize()
	if cerr != nil {
		return nil, cerr
	}
	stages := make([]bson.D, len(pipeline))
	for i, st := range pipeline {
		d, ok := st.(bson.D)
		if !ok || len(d) != 1 {
			return nil, cmdErr(codeFailedToParse, "aggregate.pipeline.%d must be a document with one field, the stage", i)
		}
		stages[i] = d
	}
	coll, isColl := a.value.(string)
	if len(stages) > 0 && stages[0][0].Key == "$changeStream" {
		return s.watch(a, coll, isColl, stages)
	}
	if !isColl {
		return nil, notSupported("aggregate on a database (aggregate: 1) other than a $changeStream")
	}
	h := lungo.Handle{a.db, coll}
	// A leading $match is the query.
	var query bsonkit.Doc
	if len(stages) > 0 && stages[0][0].Key == "$match" {
		q, err := asDoc("aggregate.pipeline.0.$match", stages[0][0].Value)
		if err != nil {
			return nil, err
		}
		query, stages = q, stages[1:]
	}
	list, err := s.read(h, query, nil, 0, 0)
	if err != nil {
		return nil, err
	}
	for _, st := range stages {
		if list, err = applyStage(list, st[0]); err != nil {
			return nil, err
		}
	}
	return s.newListCursor(h.String(), list, batch, false)
}

// applyStage runs one stage of the subset of aggregation the server
// implements over list: $match, $sort, $skip, $limit, $project, $count,
// and $group by a constant with $sum of a constant (countDocuments).
func applyStage(list bsonkit.List, st bson.E) (bsonkit.List, error) {
	field := "aggregate stage " + st.Key
	switch st.Key {
	case "$match":
		q, err := asDoc(field, st.Value)
		if err != nil {
			return nil, err
		}
		return mongokit.Filter(list, q, 0)
	case "$sort":
		d, err := asDoc(field, st.Value)
		if err != nil {
			return nil, err
		}
		return mongokit.Sort(list, d)
	case "$skip", "$limit":
		n, err := asInt(field, st.Value, 0)
		if err != nil {
			return nil, err
		}
		if n < 0 || (st.Key == "$limit" && n == 0) {
			return nil, cmdErr(codeBadValue, "%s must be positive", st.Key)
		}
		if st.Key == "$skip" {
			if int(n) >= len(list) {
				return bsonkit.List{}, nil
			}
			return list[n:], nil
		}
		if int(n) < len(list) {
			return list[:n], nil
		}
		return list, nil
	case "$project":
		d, err := asDoc(field, st.Value)
		if err != nil {
			return nil, err
		}
		return mongokit.ProjectList(list, d)
	case "$count":
		name, ok := st.Value.(string)
		if !ok || name == "" {
			return nil, cmdErr(codeFailedToParse, "$count takes a non-empty field name")
		}
		if len(list) == 0 {
			return bsonkit.List{}, nil
		}
		return bsonkit.List{&bson.D{{Key: name, Value: int32(len(list))}}}, nil
	case "$group":
		return groupConstant(list, st.Value)
	}
	return nil, notSupported("aggregation stage " + st.Key + " (served: $match, $sort, $skip, $limit, $project, $count, $group by a constant with $sum)")
}

// groupConstant runs {$group: {_id: <constant>, f: {$sum: <number>}, ...}},
// the form drivers' countDocuments sends.
func groupConstant(list bsonkit.List, v any) (bsonkit.List, error) {
	spec, ok := v.(bson.D)
	if !ok {
		return nil, cmdErr(codeFailedToParse, "$group takes a document")
	}
	out := bson.D{}
	for _, e := range spec {
		if e.Key == "_id" {
			switch id := e.Value.(type) {
			case bson.D, bson.A:
				return nil, notSupported("$group by an expression (only a constant _id)")
			case string:
				if len(id) > 0 && id[0] == '$' {
					return nil, notSupported("$group by a field path (only a constant _id)")
				}
			}
			out = append(out, e)
			continue
		}
		acc, ok := e.Value.(bson.D)
		if !ok || len(acc) != 1 || acc[0].Key != "$sum" {
			return nil, notSupported("$group accumulator of " + e.Key + " (only {$sum: <number>})")
		}
		switch n := acc[0].Value.(type) {
		case int32:
			out = append(out, bson.E{Key: e.Key, Value: int32(len(list)) * n})
		case int64:
			out = append(out, bson.E{Key: e.Key, Value: int64(len(list)) * n})
		case float64:
			out = append(out, bson.E{Key: e.Key, Value: float64(len(list)) * n})
		default:
			return nil, notSupported("$sum of " + typeName(n) + " in $group (only a constant number)")
		}
	}
	if len(list) == 0 {
		return bsonkit.List{}, nil
	}
	return bsonkit.List{&out}, nil
}

// changeStream is a change stream cursor: a goroutine reads the lungo
// stream into events, so a getMore can wait for one with a deadline (a
// lungo stream cannot be read again after a canceled Next).
type changeStream struct {
	s            *Server
	fullDocument string
	match        []bsonkit.Doc
	events       chan bson.D
	err          error // set before events is closed
	token        bson.Raw
	held         bson.Raw // an event read but not yet delivered
	heldToken    bson.Raw
	cancel       context.CancelFunc
	done         chan struct{}
	once         sync.Once
}

func (s *Server) watch(a *args, coll string, isColl bool, stages []bson.D) (bson.D, error) {
	opts, cerr := asDoc("$changeStream", stages[0][0].Value)
	if cerr != nil {
		return nil, cerr
	}
	if err := checkDoc("$changeStream", *opts, []string{"fullDocument", "fullDocumentBeforeChange", "resumeAfter", "startAfter", "allChangesForCluster", "showExpandedEvents"},
		"startAtOperationTime"); err != nil {
		return nil, err
	}
	cs := &changeStream{s: s, fullDocument: "default", events: make(chan bson.D, 16), done: make(chan struct{})}
	if v := lookup(*opts, "fullDocument"); v != nil {
		fd, _ := v.(string)
		switch fd {
		case "default", "updateLookup":
			cs.fullDocument = fd
		default:
			return nil, notSupported("$changeStream fullDocument: " + strconv.Quote(fd) + " (served: \"default\", \"updateLookup\")")
		}
	}
	if v := lookup(*opts, "fullDocumentBeforeChange"); v != nil && v != "off" {
		return nil, notSupported("$changeStream fullDocumentBeforeChange (pre-images)")
	}
	if expanded, err := asBool("$changeStream.showExpandedEvents", lookup(*opts, "showExpandedEvents"), false); err != nil {
		return nil, err
	} else if expanded {
		return nil, notSupported("$changeStream showExpandedEvents")
	}
	resumeAfter, cerr := asDoc("$changeStream.resumeAfter", lookup(*opts, "resumeAfter"))
	if cerr != nil {
		return nil, cerr
	}
	startAfter, cerr := asDoc("$changeStream.startAfter", lookup(*opts, "startAfter"))
	if cerr != nil {
		return nil, cerr
	}
	cluster, cerr := asBool("$changeStream.allChangesForCluster", lookup(*opts, "allChangesForCluster"), false)
	if cerr != nil {
		return nil, cerr
	}
	var h lungo.Handle
	var ns string
	switch {
	case isColl:
		h, ns = lungo.Handle{a.db, coll}, a.db+"."+coll
	case cluster:
		if a.db != "admin" {
			return nil, cmdErr(codeInvalidOptions, "allChangesForCluster is only valid on the admin database")
		}
		h, ns = lungo.Handle{"", ""}, "admin.$cmd.aggregate"
	default:
		if a.db == "admin" {
			return nil, cmdErr(codeInvalidOptions, "a change stream on the admin database needs allChangesForCluster: true")
		}
		h, ns = lungo.Handle{a.db, ""}, a.db+".$cmd.aggregate"
	}
	for i, st := range stages[1:] {
		if st[0].Key != "$match" {
			return nil, notSupported("stage " + st[0].Key + " in a change stream (served: $match)")
		}
		q, err := asDoc("aggregate.pipeline."+strconv.Itoa(i+1)+".$match", st[0].Value)
		if err != nil {
			return nil, err
		}
		cs.match = append(cs.match, q)
	}
	switch {
	case startAfter != nil:
		cs.token, _ = bson.Marshal(startAfter)
	case resumeAfter != nil:
		cs.token, _ = bson.Marshal(resumeAfter)
	default:
		cs.token = s.oplogHead()
	}
	stream, err := s.engine.Watch(h, nil, resumeAfter, startAfter, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	cs.cancel = cancel
	go cs.pump(ctx, stream)
	c := &cursor{ns: ns, stream: cs}
	s.register(c)
	return cursorReply(c.id, ns, "firstBatch", bson.A{}, cs.token), nil
}

// oplogHead is the resume token of the latest event, nil when none.
func (s *Server) oplogHead() bson.Raw {
	oplog := s.engine.Catalog().Namespaces[lungo.Oplog]
	if oplog == nil || len(oplog.Documents.List) == 0 {
		return nil
	}
	raw, err := bson.Marshal(bsonkit.Get(oplog.Documents.List[len(oplog.Documents.List)-1], "_id"))
	if err != nil {
		return nil
	}
	return raw
}

func (cs *changeStream) pump(ctx context.Context, stream *lungo.Stream) {
	defer close(cs.done)
	defer stream.Close(context.Background())
	defer close(cs.events)
	for stream.Next(ctx) {
		var ev bson.D
		if err := stream.Decode(&ev); err != nil {
			cs.err = err
			return
		}
		select {
		case cs.events <- ev:
		case <-ctx.Done():
			return
		}
	}
	if ctx.Err() == nil {
		if err := stream.Err(); err != nil {
			if err == lungo.ErrLostOplogPosition {
				cs.err = cmdErr(codeChangeStreamHistoryLost, "change stream fell behind the oplog: %v", err)
			} else {
				cs.err = err
			}
		}
	}
}

func (cs *changeStream) close() {
	cs.once.Do(func() {
		cs.cancel()
		<-cs.done
	})
}

// next returns up to n (0: no limit) events, waiting up to wait for the
// first; alive is false once the stream ended (invalidated or closed).
// The token is the resume token after the last event returned.
func (cs *changeStream) next(ctx context.Context, n int, wait time.Duration) (out bson.A, token bson.Raw, alive bool, err error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	size := 0
	if cs.held != nil {
		out = append(out, cs.held)
		size += len(cs.held)
		cs.token, cs.held = cs.heldToken, nil
	}
	for n == 0 || len(out) < n {
		var ev bson.D
		var ok bool
		if len(out) == 0 {
			select {
			case ev, ok = <-cs.events:
			case <-timer.C:
				return out, cs.token, true, nil
			case <-ctx.Done():
				return out, cs.token, false, nil
			}
		} else {
			select {
			case ev, ok = <-cs.events:
			default:
				return out, cs.token, true, nil
			}
		}
		if !ok {
			if cs.err != nil {
				return nil, nil, false, cs.err
			}
			return out, cs.token, false, nil
		}
		evToken, err := bson.Marshal(lookup(ev, "_id"))
		if err != nil {
			return nil, nil, false, err
		}
		doc, keep, err := cs.shape(ev)
		if err != nil {
			return nil, nil, false, err
		}
		if !keep {
			cs.token = evToken
			continue
		}
		raw, err := bson.Marshal(doc)
		if err != nil {
			return nil, nil, false, err
		}
		if len(out) > 0 && size+len(raw) > cs.s.batchBytes {
			cs.held, cs.heldToken = raw, evToken // first of the next batch
			return out, cs.token, true, nil
		}
		size += len(raw)
		out = append(out, bson.Raw(raw))
		cs.token = evToken
	}
	return out, cs.token, true, nil
}

// shape turns a lungo event into the one MongoDB sends: fields in
// MongoDB's order, fullDocument only for inserts and replaces unless
// updateLookup, which reads the document as it is now. It applies the
// stream's $match stages.
func (cs *changeStream) shape(ev bson.D) (bson.D, bool, error) {
	op, _ := lookup(ev, "operationType").(string)
	out := bson.D{}
	for _, k := range []string{"_id", "operationType", "clusterTime", "ns", "documentKey", "updateDescription"} {
		if v := lookup(ev, k); v != nil {
			out = append(out, bson.E{Key: k, Value: v})
		}
	}
	switch op {
	case "insert", "replace":
		out = append(out, bson.E{Key: "fullDocument", Value: lookup(ev, "fullDocument")})
	case "update":
		if cs.fullDocument == "updateLookup" {
			doc, err := cs.lookupDocument(ev)
			if err != nil {
				return nil, false, err
			}
			out = append(out, bson.E{Key: "fullDocument", Value: doc})
		}
	}
	for _, m := range cs.match {
		ok, err := mongokit.Match(&out, m)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, nil
		}
	}
	return out, true, nil
}

func (cs *changeStream) lookupDocument(ev bson.D) (any, error) {
	ns, _ := lookup(ev, "ns").(bson.D)
	db, _ := lookup(ns, "db").(string)
	coll, _ := lookup(ns, "coll").(string)
	key, _ := lookup(ev, "documentKey").(bson.D)
	list, err := cs.s.read(lungo.Handle{db, coll}, &bson.D{{Key: "_id", Value: lookup(key, "_id")}}, nil, 0, 1)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return *list[0], nil
}
