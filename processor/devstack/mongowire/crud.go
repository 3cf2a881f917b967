package mongowire

import (
	"context"
	"strconv"
	"strings"

	"github.com/256dpi/lungo"
	"github.com/256dpi/lungo/bsonkit"
	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
)

// unsupportedQueryOptions are options of reads and writes that the
// engine has no counterpart for.
var unsupportedQueryOptions = []string{"collation", "hint", "let"}

func (s *Server) bulk(h lungo.Handle, ops []lungo.Operation, ordered bool) ([]lungo.Result, error) {
	var results []lungo.Result
	err := s.write(func(txn *lungo.Transaction) error {
		var err error
		results, err = txn.Bulk(h, ops, ordered)
		return err
	})
	return results, err
}

func writeError(i int, err error) bson.D {
	ce := fromEngine(err)
	return bson.D{{Key: "index", Value: int32(i)}, {Key: "code", Value: ce.Code}, {Key: "codeName", Value: codeNames[ce.Code]}, {Key: "errmsg", Value: ce.Message}}
}

func (s *Server) insert(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"documents", "ordered", "bypassDocumentValidation"}, unsupportedQueryOptions...); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	docs, cerr := a.docList("documents", true)
	if cerr != nil {
		return nil, cerr
	}
	ordered, cerr := a.boolField("ordered", true)
	if cerr != nil {
		return nil, cerr
	}
	ops := make([]lungo.Operation, len(docs))
	for i := range docs {
		ops[i] = lungo.Operation{Opcode: lungo.Insert, Document: &docs[i]}
	}
	results, err := s.bulk(lungo.Handle{a.db, coll}, ops, ordered)
	if err != nil {
		return nil, err
	}
	n := 0
	var werrs bson.A
	for i, r := range results {
		if r.Error != nil {
			werrs = append(werrs, writeError(i, r.Error))
			continue
		}
		n += len(r.Modified)
	}
	res := bson.D{{Key: "n", Value: int32(n)}}
	if len(werrs) > 0 {
		res = append(res, bson.E{Key: "writeErrors", Value: werrs})
	}
	return res, nil
}

// isOperatorUpdate tells an update document ({$set: ...}) from a
// replacement; a mix of both is an error, as in MongoDB.
func isOperatorUpdate(field string, u bson.D) (bool, *CommandError) {
	if len(u) == 0 {
		return false, nil
	}
	ops := strings.HasPrefix(u[0].Key, "$")
	for _, e := range u[1:] {
		if strings.HasPrefix(e.Key, "$") != ops {
			return false, cmdErr(codeFailedToParse, "%s mixes update operators and fields (%q)", field, e.Key)
		}
	}
	return ops, nil
}

// updateDoc reads an update statement's u: operators or a replacement.
// Aggregation pipelines are refused: lungo implements none.
func updateDoc(field string, v any) (bson.D, bool, *CommandError) {
	switch u := v.(type) {
	case bson.D:
		ops, err := isOperatorUpdate(field, u)
		return u, ops, err
	case bson.A:
		return nil, false, notSupported("an aggregation pipeline as update (" + field + ")")
	case nil:
		return nil, false, cmdErr(codeFailedToParse, "BSON field '%s' is missing but a required field", field)
	default:
		return nil, false, cmdErr(codeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected type 'object'", field, typeName(v))
	}
}

func arrayFilters(field string, v any) (bsonkit.List, *CommandError) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.(bson.A)
	if !ok {
		return nil, cmdErr(codeTypeMismatch, "BSON field '%s' must be an array", field)
	}
	list := make(bsonkit.List, len(arr))
	for i, f := range arr {
		d, ok := f.(bson.D)
		if !ok {
			return nil, cmdErr(codeTypeMismatch, "BSON field '%s.%d' must be a document", field, i)
		}
		list[i] = &d
	}
	return list, nil
}

func (s *Server) update(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"updates", "ordered", "bypassDocumentValidation"}, unsupportedQueryOptions...); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	stmts, cerr := a.docList("updates", true)
	if cerr != nil {
		return nil, cerr
	}
	ordered, cerr := a.boolField("ordered", true)
	if cerr != nil {
		return nil, cerr
	}
	ops := make([]lungo.Operation, len(stmts))
	for i, st := range stmts {
		field := "update.updates." + strconv.Itoa(i)
		if err := checkDoc(field, st, []string{"q", "u", "upsert", "multi", "arrayFilters"}, "collation", "hint", "c", "sort"); err != nil {
			return nil, err
		}
		q, err := asDoc(field+".q", lookup(st, "q"))
		if err != nil {
			return nil, err
		}
		if q == nil {
			return nil, cmdErr(codeFailedToParse, "BSON field '%s.q' is missing but a required field", field)
		}
		u, operators, err := updateDoc(field+".u", lookup(st, "u"))
		if err != nil {
			return nil, err
		}
		upsert, err := asBool(field+".upsert", lookup(st, "upsert"), false)
		if err != nil {
			return nil, err
		}
		multi, err := asBool(field+".multi", lookup(st, "multi"), false)
		if err != nil {
			return nil, err
		}
		filters, err := arrayFilters(field+".arrayFilters", lookup(st, "arrayFilters"))
		if err != nil {
			return nil, err
		}
		op := lungo.Operation{Filter: q, Document: &u, Upsert: upsert, ArrayFilters: filters}
		switch {
		case operators:
			op.Opcode = lungo.Update
			if !multi {
				op.Limit = 1
			}
		case multi:
			return nil, cmdErr(codeFailedToParse, "%s: multi update is not supported for replacement-style update", field)
		default:
			op.Opcode = lungo.Replace
		}
		ops[i] = op
	}
	results, err := s.bulk(lungo.Handle{a.db, coll}, ops, ordered)
	if err != nil {
		return nil, err
	}
	var n, modified int
	var werrs, upserted bson.A
	for i, r := range results {
		switch {
		case r.Error != nil:
			werrs = append(werrs, writeError(i, r.Error))
		case r.Upserted != nil:
			n++
			upserted = append(upserted, bson.D{{Key: "index", Value: int32(i)}, {Key: "_id", Value: bsonkit.Get(r.Upserted, "_id")}})
		default:
			n += len(r.Matched)
			modified += len(r.Modified)
		}
	}
	res := bson.D{{Key: "n", Value: int32(n)}, {Key: "nModified", Value: int32(modified)}}
	if len(upserted) > 0 {
		res = append(res, bson.E{Key: "upserted", Value: upserted})
	}
	if len(werrs) > 0 {
		res = append(res, bson.E{Key: "writeErrors", Value: werrs})
	}
	return res, nil
}

func (s *Server) delete(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"deletes", "ordered"}, unsupportedQueryOptions...); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	stmts, cerr := a.docList("deletes", true)
	if cerr != nil {
		return nil, cerr
	}
	ordered, cerr := a.boolField("ordered", true)
	if cerr != nil {
		return nil, cerr
	}
	ops := make([]lungo.Operation, len(stmts))
	for i, st := range stmts {
		field := "delete.deletes." + strconv.Itoa(i)
		if err := checkDoc(field, st, []string{"q", "limit"}, "collation", "hint"); err != nil {
			return nil, err
		}
		q, err := asDoc(field+".q", lookup(st, "q"))
		if err != nil {
			return nil, err
		}
		if q == nil {
			return nil, cmdErr(codeFailedToParse, "BSON field '%s.q' is missing but a required field", field)
		}
		limit, err := asInt(field+".limit", lookup(st, "limit"), -1)
		if err != nil {
			return nil, err
		}
		if limit != 0 && limit != 1 {
			return nil, cmdErr(codeFailedToParse, "%s.limit must be 0 (all) or 1", field)
		}
		ops[i] = lungo.Operation{Opcode: lungo.Delete, Filter: q, Limit: int(limit)}
	}
	results, err := s.bulk(lungo.Handle{a.db, coll}, ops, ordered)
	if err != nil {
		return nil, err
	}
	n := 0
	var werrs bson.A
	for i, r := range results {
		if r.Error != nil {
			werrs = append(werrs, writeError(i, r.Error))
			continue
		}
		n += len(r.Matched)
	}
	res := bson.D{{Key: "n", Value: int32(n)}}
	if len(werrs) > 0 {
		res = append(res, bson.E{Key: "writeErrors", Value: werrs})
	}
	return res, nil
}

func (s *Server) findAndModify(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"query", "sort", "remove", "update", "new", "fields", "upsert", "arrayFilters", "bypassDocumentValidation"}, unsupportedQueryOptions...); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	query, cerr := a.docField("query")
	if cerr != nil {
		return nil, cerr
	}
	if query == nil {
		query = &bson.D{}
	}
	sort, cerr := a.docField("sort")
	if cerr != nil {
		return nil, cerr
	}
	fields, cerr := a.docField("fields")
	if cerr != nil {
		return nil, cerr
	}
	remove, cerr := a.boolField("remove", false)
	if cerr != nil {
		return nil, cerr
	}
	returnNew, cerr := a.boolField("new", false)
	if cerr != nil {
		return nil, cerr
	}
	upsert, cerr := a.boolField("upsert", false)
	if cerr != nil {
		return nil, cerr
	}
	filters, cerr := arrayFilters("findAndModify.arrayFilters", a.get("arrayFilters"))
	if cerr != nil {
		return nil, cerr
	}
	var u bson.D
	var operators bool
	switch {
	case remove && a.has("update"):
		return nil, cmdErr(codeFailedToParse, "findAndModify: remove and update are mutually exclusive")
	case remove && (returnNew || upsert):
		return nil, cmdErr(codeFailedToParse, "findAndModify: remove cannot be combined with new or upsert")
	case !remove:
		if u, operators, cerr = updateDoc("findAndModify.update", a.get("update")); cerr != nil {
			return nil, cerr
		}
	}
	h := lungo.Handle{a.db, coll}
	var value bsonkit.Doc
	lastErr := bson.D{}
	err := s.write(func(txn *lungo.Transaction) error {
		var res *lungo.Result
		var err error
		switch {
		case remove:
			res, err = txn.Delete(h, query, sort, 0, 1)
		case operators:
			res, err = txn.Update(h, query, sort, &u, 0, 1, upsert, filters)
		default:
			res, err = txn.Replace(h, query, sort, &u, upsert)
		}
		if err != nil {
			return err
		}
		switch {
		case res.Upserted != nil:
			lastErr = bson.D{{Key: "n", Value: int32(1)}, {Key: "updatedExisting", Value: false}, {Key: "upserted", Value: bsonkit.Get(res.Upserted, "_id")}}
			if returnNew {
				value = res.Upserted
			}
		case len(res.Matched) > 0:
			lastErr = bson.D{{Key: "n", Value: int32(1)}}
			value = res.Matched[0]
			if !remove {
				lastErr = append(lastErr, bson.E{Key: "updatedExisting", Value: true})
				if returnNew && len(res.Modified) > 0 {
					value = res.Modified[0]
				}
			}
		default:
			lastErr = bson.D{{Key: "n", Value: int32(0)}}
			if !remove {
				lastErr = append(lastErr, bson.E{Key: "updatedExisting", Value: false})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out any
	if value != nil {
		if fields != nil {
			if value, err = mongokit.Project(value, fields); err != nil {
				return nil, err
			}
		}
		out = *value
	}
	return bson.D{{Key: "lastErrorObject", Value: lastErr}, {Key: "value", Value: out}}, nil
}

// read finds the documents of h matching query, sorted, skipped and
// limited, in a snapshot.
func (s *Server) read(h lungo.Handle, query, sort bsonkit.Doc, skip, limit int) (bsonkit.List, error) {
	if query == nil {
		query = &bson.D{}
	}
	txn, err := s.engine.Begin(context.Background(), false)
	if err != nil {
		return nil, err
	}
	res, err := txn.Find(h, query, sort, skip, limit)
	if err != nil {
		return nil, err
	}
	return res.Matched, nil
}

func (s *Server) find(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"filter", "sort", "projection", "skip", "limit", "batchSize", "singleBatch",
		"noCursorTimeout", "allowDiskUse", "allowPartialResults"},
		"collation", "hint", "let", "min", "max", "returnKey", "showRecordId", "tailable", "awaitData", "oplogReplay", "readOnce"); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	filter, cerr := a.docField("filter")
	if cerr != nil {
		return nil, cerr
	}
	sort, cerr := a.docField("sort")
	if cerr != nil {
		return nil, cerr
	}
	projection, cerr := a.docField("projection")
	if cerr != nil {
		return nil, cerr
	}
	skip, cerr := a.intField("skip", 0)
	if cerr != nil {
		return nil, cerr
	}
	limit, cerr := a.intField("limit", 0)
	if cerr != nil {
		return nil, cerr
	}
	if skip < 0 || limit < 0 {
		return nil, cmdErr(codeBadValue, "find: skip and limit must not be negative")
	}
	batch, cerr := a.intField("batchSize", 101)
	if cerr != nil {
		return nil, cerr
	}
	if batch < 0 {
		return nil, cmdErr(codeBadValue, "find: batchSize must not be negative")
	}
	single, cerr := a.boolField("singleBatch", false)
	if cerr != nil {
		return nil, cerr
	}
	noTimeout, cerr := a.boolField("noCursorTimeout", false)
	if cerr != nil {
		return nil, cerr
	}
	h := lungo.Handle{a.db, coll}
	list, err := s.read(h, filter, sort, int(skip), int(limit))
	if err != nil {
		return nil, err
	}
	if projection != nil && len(*projection) > 0 {
		if list, err = mongokit.ProjectList(list, projection); err != nil {
			return nil, err
		}
	}
	return s.newListCursorOpts(h.String(), list, int(batch), single, noTimeout)
}

func (s *Server) count(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"query", "limit", "skip"}, "collation", "hint"); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	query, cerr := a.docField("query")
	if cerr != nil {
		return nil, cerr
	}
	skip, cerr := a.intField("skip", 0)
	if cerr != nil {
		return nil, cerr
	}
	limit, cerr := a.intField("limit", 0)
	if cerr != nil {
		return nil, cerr
	}
	if limit < 0 {
		limit = -limit
	}
	if skip < 0 {
		return nil, cmdErr(codeBadValue, "count: skip must not be negative")
	}
	list, err := s.read(lungo.Handle{a.db, coll}, query, nil, int(skip), int(limit))
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: "n", Value: int32(len(list))}}, nil
}

func (s *Server) distinct(_ *conn, a *args) (bson.D, error) {
	if err := a.check([]string{"key", "query"}, "collation", "hint"); err != nil {
		return nil, err
	}
	coll, cerr := a.collection()
	if cerr != nil {
		return nil, cerr
	}
	key, cerr := a.stringField("key")
	if cerr != nil {
		return nil, cerr
	}
	if key == "" {
		return nil, cmdErr(codeFailedToParse, "BSON field 'distinct.key' is missing but a required field")
	}
	query, cerr := a.docField("query")
	if cerr != nil {
		return nil, cerr
	}
	list, err := s.read(lungo.Handle{a.db, coll}, query, nil, 0, 0)
	if err != nil {
		return nil, err
	}
	values := mongokit.Distinct(list, key)
	if values == nil {
		values = bson.A{}
	}
	return bson.D{{Key: "values", Value: values}}, nil
}
