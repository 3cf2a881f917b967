package mongowire

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// Version is the MongoDB version the server reports: drivers pick the
// protocol features of a 6.0 replica set member.
const (
	Version        = "6.0.0"
	maxWireVersion = 17
)

type handler func(s *Server, c *conn, a *args) (bson.D, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"hello": (*Server).hello, "isMaster": (*Server).hello, "ismaster": (*Server).hello,
		"ping": (*Server).ping, "buildInfo": (*Server).buildInfo, "buildinfo": (*Server).buildInfo,
		"getParameter": (*Server).getParameter, "listDatabases": (*Server).listDatabases,
		"endSessions":     (*Server).endSessions,
		"listCollections": (*Server).listCollections, "create": (*Server).create, "drop": (*Server).drop,
		"dropDatabase": (*Server).dropDatabase, "createIndexes": (*Server).createIndexes,
		"listIndexes": (*Server).listIndexes, "dropIndexes": (*Server).dropIndexes,
		"insert": (*Server).insert, "update": (*Server).update, "delete": (*Server).delete,
		"findAndModify": (*Server).findAndModify, "findandmodify": (*Server).findAndModify,
		"find": (*Server).find, "getMore": (*Server).getMore, "killCursors": (*Server).killCursors,
		"count": (*Server).count, "distinct": (*Server).distinct, "aggregate": (*Server).aggregate,
	}
}

func (s *Server) dispatch(c *conn, a *args) (bson.D, error) {
	h, ok := handlers[a.name]
	if !ok {
		return nil, cmdErr(codeCommandNotFound, "no such command: '%s' (schemaflow dev's embedded MongoDB serves %s)", a.name, commandList())
	}
	return h(s, c, a)
}

func commandList() string {
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

func (s *Server) hello(c *conn, a *args) (bson.D, error) {
	// Like MongoDB's, hello takes any field: drivers describe themselves
	// with fields that servers of every version must accept (client,
	// compression, backpressure ...). The server offers no compression
	// and no authentication, so drivers use neither.
	if lb, err := a.boolField("loadBalanced", false); err != nil {
		return nil, err
	} else if lb {
		return nil, notSupported("loadBalanced mode")
	}
	var res bson.D
	if a.name == "hello" {
		res = bson.D{{Key: "isWritablePrimary", Value: true}}
	} else {
		res = bson.D{{Key: "ismaster", Value: true}}
	}
	if a.has("helloOk") {
		res = append(res, bson.E{Key: "helloOk", Value: true})
	}
	return append(res,
		bson.E{Key: "setName", Value: s.opts.ReplicaSet},
		bson.E{Key: "setVersion", Value: int32(1)},
		bson.E{Key: "secondary", Value: false},
		bson.E{Key: "hosts", Value: bson.A{c.local}},
		bson.E{Key: "primary", Value: c.local},
		bson.E{Key: "me", Value: c.local},
		bson.E{Key: "electionId", Value: primitive.ObjectID{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}},
		bson.E{Key: "maxBsonObjectSize", Value: int32(maxBSONSize)},
		bson.E{Key: "maxMessageSizeBytes", Value: s.opts.MaxMessageSize},
		bson.E{Key: "maxWriteBatchSize", Value: int32(100000)},
		bson.E{Key: "localTime", Value: primitive.NewDateTimeFromTime(time.Now())},
		bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
		bson.E{Key: "connectionId", Value: c.id},
		bson.E{Key: "minWireVersion", Value: int32(0)},
		bson.E{Key: "maxWireVersion", Value: int32(maxWireVersion)},
		bson.E{Key: "readOnly", Value: false},
	), nil
}

func (s *Server) ping(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil); err != nil {
		return nil, err
	}
	return bson.D{}, nil
}

func (s *Server) buildInfo(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil); err != nil {
		return nil, err
	}
	return bson.D{
		{Key: "version", Value: Version},
		{Key: "gitVersion", Value: "schemaflow-lungo"},
		{Key: "versionArray", Value: bson.A{int32(6), int32(0), int32(0), int32(0)}},
		{Key: "bits", Value: int32(64)},
		{Key: "debug", Value: false},
		{Key: "maxBsonObjectSize", Value: int32(maxBSONSize)},
		{Key: "storageEngines", Value: bson.A{"lungo"}},
		{Key: "javascriptEngine", Value: "none"},
		{Key: "modules", Value: bson.A{}},
	}, nil
}

// parameters are the server parameters getParameter answers.
var parameters = map[string]any{
	"featureCompatibilityVersion": bson.D{{Key: "version", Value: "6.0"}},
}

func (s *Server) getParameter(_ *conn, a *args) (bson.D, error) {
	res := bson.D{}
	all := false
	switch v := a.value.(type) {
	case string:
		all = v == "*" // any other value names the parameters, as 1 does
	case bson.D:
		if err := checkDoc("getParameter", v, []string{"showDetails", "allParameters"}); err != nil {
			return nil, err
		}
		all, _ = asBool("getParameter.allParameters", lookup(v, "allParameters"), false)
	}
	if all {
		for k, v := range parameters {
			res = append(res, bson.E{Key: k, Value: v})
		}
		return res, nil
	}
	for _, e := range a.doc[1:] {
		if genericFields[e.Key] {
			continue
		}
		v, ok := parameters[e.Key]
		if !ok {
			return nil, cmdErr(codeInvalidOptions, "no option found to get: parameter %q is not known to schemaflow dev's embedded MongoDB", e.Key)
		}
		res = append(res, bson.E{Key: e.Key, Value: v})
	}
	if len(res) == 0 {
		return nil, cmdErr(codeInvalidOptions, "no option found to get")
	}
	return res, nil
}

func (s *Server) listDatabases(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"filter", "nameOnly", "authorizedDatabases"}); err != nil {
		return nil, err
	}
	filter, cerr := a.docField("filter")
	if cerr != nil {
		return nil, cerr
	}
	nameOnly, cerr := a.boolField("nameOnly", false)
	if cerr != nil {
		return nil, cerr
	}
	if filter == nil {
		filter = &bson.D{}
	}
	txn, err := s.engine.Begin(context.Background(), false)
	if err != nil {
		return nil, err
	}
	list, err := txn.ListDatabases(filter)
	if err != nil {
		return nil, err
	}
	bsonkit.Sort(list, []bsonkit.Column{{Path: "name"}}, false)
	dbs := bson.A{}
	for _, d := range list {
		if nameOnly {
			dbs = append(dbs, bson.D{{Key: "name", Value: bsonkit.Get(d, "name")}})
		} else {
			dbs = append(dbs, *d)
		}
	}
	res := bson.D{{Key: "databases", Value: dbs}}
	if !nameOnly {
		res = append(res, bson.E{Key: "totalSize", Value: int64(0)}, bson.E{Key: "totalSizeMb", Value: int64(0)})
	}
	return res, nil
}

func (s *Server) endSessions(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil); err != nil {
		return nil, err
	}
	if _, ok := a.value.(bson.A); !ok {
		return nil, cmdErr(codeTypeMismatch, "endSessions takes an array of session ids")
	}
	// Sessions hold nothing here: no transactions, no retryable-write
	// records. Ending one has nothing to release.
	return bson.D{}, nil
}

func (s *Server) listCollections(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"filter", "nameOnly", "authorizedCollections", "cursor"}); err != nil {
		return nil, err
	}
	filter, cerr := a.docField("filter")
	if cerr != nil {
		return nil, cerr
	}
	nameOnly, cerr := a.boolField("nameOnly", false)
	if cerr != nil {
		return nil, cerr
	}
	batch, cerr := a.cursorBatchSize()
	if cerr != nil {
		return nil, cerr
	}
	if filter == nil {
		filter = &bson.D{}
	}
	txn, err := s.engine.Begin(context.Background(), false)
	if err != nil {
		return nil, err
	}
	list, err := txn.ListCollections(lungo.Handle{a.db, ""}, filter)
	if err != nil {
		return nil, err
	}
	bsonkit.Sort(list, []bsonkit.Column{{Path: "name"}}, false)
	if nameOnly {
		for i, d := range list {
			list[i] = &bson.D{{Key: "name", Value: bsonkit.Get(d, "name")}, {Key: "type", Value: "collection"}}
		}
	}
	return s.newListCursor(a.db+".$cmd.listCollections", list, batch, false)
}

func (s *Server) create(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil, "capped", "size", "max", "validator", "validationLevel", "validationAction", "viewOn",
		"pipeline", "collation", "timeseries", "expireAfterSeconds", "clusteredIndex", "changeStreamPreAndPostImages",
		"storageEngine", "indexOptionDefaults", "encryptedFields"); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	h := lungo.Handle{a.db, coll}
	return nil, s.write(func(txn *lungo.Transaction) error {
		if exists, err := namespaceExists(txn, h); err != nil {
			return err
		} else if exists {
			return cmdErr(codeNamespaceExists, "Collection %s already exists.", h)
		}
		return txn.Create(h)
	})
}

func namespaceExists(txn *lungo.Transaction, h lungo.Handle) (bool, error) {
	list, err := txn.ListCollections(lungo.Handle{h[0], ""}, &bson.D{{Key: "name", Value: h[1]}})
	return len(list) > 0, err
}

func (s *Server) drop(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	h := lungo.Handle{a.db, coll}
	return bson.D{{Key: "ns", Value: h.String()}}, s.write(func(txn *lungo.Transaction) error { return txn.Drop(h) })
}

func (s *Server) dropDatabase(_ *conn, a *args) (bson.D, error) {
	if err := a.check(nil); err != nil {
		return nil, err
	}
	return bson.D{{Key: "dropped", Value: a.db}}, s.write(func(txn *lungo.Transaction) error { return txn.Drop(lungo.Handle{a.db, ""}) })
}

func (s *Server) createIndexes(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"indexes", "commitQuorum"}); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	specs, cerr := a.docList("indexes", true)
	if cerr != nil {
		return nil, cerr
	}
	type index struct {
		name string
		cfg  mongokit.IndexConfig
	}
	var indexes []index
	for i, spec := range specs {
		field := "createIndexes.indexes." + strconv.Itoa(i)
		if err := checkDoc(field, spec, []string{"key", "name", "unique", "partialFilterExpression", "expireAfterSeconds", "v", "background", "ns"},
			"sparse", "collation", "hidden", "wildcardProjection", "weights", "default_language", "language_override",
			"textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max", "storageEngine"); err != nil {
			return nil, err
		}
		key, err := asDoc(field+".key", lookup(spec, "key"))
		if err != nil {
			return nil, err
		}
		if key == nil || len(*key) == 0 {
			return nil, cmdErr(codeFailedToParse, "%s.key is missing or empty", field)
		}
		for _, k := range *key {
			if _, ok := k.Value.(string); ok {
				return nil, notSupported("index type " + k.Key + ": \"" + k.Value.(string) + "\"")
			}
		}
		name, _ := lookup(spec, "name").(string)
		unique, err := asBool(field+".unique", lookup(spec, "unique"), false)
		if err != nil {
			return nil, err
		}
		partial, err := asDoc(field+".partialFilterExpression", lookup(spec, "partialFilterExpression"))
		if err != nil {
			return nil, err
		}
		expiry, err := asInt(field+".expireAfterSeconds", lookup(spec, "expireAfterSeconds"), 0)
		if err != nil {
			return nil, err
		}
		indexes = append(indexes, index{name, mongokit.IndexConfig{Key: key, Unique: unique, Partial: partial, Expiry: time.Duration(expiry) * time.Second}})
	}
	h := lungo.Handle{a.db, coll}
	var before, after int
	var created bool
	err := s.write(func(txn *lungo.Transaction) error {
		exists, err := namespaceExists(txn, h)
		if err != nil {
			return err
		}
		created = !exists
		list, err := txn.ListIndexes(h)
		if err != nil {
			return err
		}
		before = len(list)
		if !exists {
			before = 1 // the _id index created with the collection
		}
		for _, ix := range indexes {
			if _, err := txn.CreateIndex(h, ix.name, ix.cfg); err != nil {
				return err
			}
		}
		list, err = txn.ListIndexes(h)
		after = len(list)
		return err
	})
	if err != nil {
		return nil, err
	}
	return bson.D{
		{Key: "numIndexesBefore", Value: int32(before)},
		{Key: "numIndexesAfter", Value: int32(after)},
		{Key: "createdCollectionAutomatically", Value: created},
	}, nil
}

func (s *Server) listIndexes(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"cursor"}); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	batch, cerr := a.cursorBatchSize()
	if cerr != nil {
		return nil, cerr
	}
	h := lungo.Handle{a.db, coll}
	txn, err := s.engine.Begin(context.Background(), false)
	if err != nil {
		return nil, err
	}
	if ok, err := namespaceExists(txn, h); err != nil {
		return nil, err
	} else if !ok {
		return nil, cmdErr(codeNamespaceNotFound, "ns does not exist: %s", h)
	}
	list, err := txn.ListIndexes(h)
	if err != nil {
		return nil, err
	}
	return s.newListCursor(h.String(), list, batch, false)
}

func (s *Server) dropIndexes(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"index"}); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	var names []string
	switch v := a.get("index").(type) {
	case string:
		names = []string{v}
	case bson.A:
		for _, n := range v {
			name, ok := n.(string)
			if !ok {
				return nil, cmdErr(codeTypeMismatch, "dropIndexes.index must name indexes")
			}
			names = append(names, name)
		}
	case bson.D:
		return nil, notSupported("dropIndexes by key pattern (give the index name)")
	default:
		return nil, cmdErr(codeFailedToParse, "BSON field 'dropIndexes.index' is missing but a required field")
	}
	h := lungo.Handle{a.db, coll}
	var before int
	err := s.write(func(txn *lungo.Transaction) error {
		list, err := txn.ListIndexes(h)
		if err != nil {
			return err
		}
		if list == nil {
			return cmdErr(codeNamespaceNotFound, "ns not found %s", h)
		}
		before = len(list)
		for _, n := range names {
			if n != "*" && !hasIndex(list, n) {
				return cmdErr(codeIndexNotFound, "index not found with name [%s]", n)
			}
			if n == "_id_" {
				return cmdErr(codeInvalidOptions, "cannot drop _id index")
			}
			if n == "*" {
				n = "" // lungo: every index but _id_
			}
			if err := txn.DropIndex(h, n); err != nil {
				return err
			}
		}
		return nil
	})
	return bson.D{{Key: "nIndexesWas", Value: int32(before)}}, err
}

func hasIndex(list bsonkit.List, name string) bool {
	for _, d := range list {
		if bsonkit.Get(d, "name") == name {
			return true
		}
	}
	return false
}

// write runs fn in a locked transaction and commits it.
func (s *Server) write(fn func(txn *lungo.Transaction) error) error {
	txn, err := s.engine.Begin(s.ctx, true)
	if err != nil {
		return err
	}
	defer s.engine.Abort(txn)
	if err := fn(txn); err != nil {
		return err
	}
	return s.engine.Commit(txn)
}
