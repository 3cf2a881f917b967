package mongowire

import (
	"math"
	"strings"

	"github.com/256dpi/lungo/bsonkit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// args is a command's document, read field by field.
type args struct {
	name  string // the command, as sent ("isMaster", "find" ...)
	value any    // the command field's value (collection name, 1 ...)
	db    string
	doc   bson.D
}

// genericFields are accepted on every command. They concern sessions,
// clusters and server selection, which a single in-process node has no
// use for, or limits that an in-memory engine never reaches (maxTimeMS).
var genericFields = map[string]bool{
	"$db": true, "lsid": true, "$clusterTime": true, "$readPreference": true, "comment": true,
	"maxTimeMS": true, "readConcern": true, "writeConcern": true, "apiVersion": true, "apiStrict": true,
	"apiDeprecationErrors": true, "txnNumber": true, "$client": true,
}

func parseArgs(req *request) (*args, *CommandError) {
	var doc bson.D
	if err := bson.Unmarshal(req.body, &doc); err != nil {
		return nil, cmdErr(codeFailedToParse, "command document: %v", err)
	}
	if len(doc) == 0 {
		return nil, cmdErr(codeFailedToParse, "empty command document")
	}
	a := &args{name: doc[0].Key, value: doc[0].Value, doc: doc}
	if req.opCode == opQuery {
		db, coll, _ := strings.Cut(req.ns, ".")
		if coll != "$cmd" {
			return nil, cmdErr(codeNotImplemented, "OP_QUERY on %q: only commands (a $cmd collection) are served; use OP_MSG", req.ns)
		}
		a.db = db
	} else {
		db, ok := a.get("$db").(string)
		if !ok {
			return nil, cmdErr(codeFailedToParse, "command %s has no $db string", a.name)
		}
		a.db = db
	}
	if a.has("startTransaction") || a.has("autocommit") {
		return nil, notSupported("transactions (startTransaction, autocommit)")
	}
	return a, nil
}

// check refuses fields other than the command, the generic ones and
// known. Fields in unsupported are named as not supported; any other as
// unknown.
func (a *args) check(known []string, unsupported ...string) *CommandError {
	for _, e := range a.doc[1:] {
		if genericFields[e.Key] || contains(known, e.Key) {
			continue
		}
		if contains(unsupported, e.Key) {
			return notSupported("option " + e.Key + " of " + a.name)
		}
		return cmdErr(codeUnknownField, "BSON field '%s.%s' is an unknown field", a.name, e.Key)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (a *args) has(key string) bool {
	for _, e := range a.doc {
		if e.Key == key {
			return true
		}
	}
	return false
}

func (a *args) get(key string) any {
	for _, e := range a.doc {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// collection is the command's value as a collection name.
func (a *args) collection() (string, *CommandError) {
	s, ok := a.value.(string)
	if !ok || s == "" {
		return "", cmdErr(codeInvalidNamespace, "collection name of %s must be a non-empty string, not %T", a.name, a.value)
	}
	return s, nil
}

// docField returns a document field, nil when absent.
func (a *args) docField(key string) (bsonkit.Doc, *CommandError) {
	return asDoc(a.name+"."+key, a.get(key))
}

func asDoc(field string, v any) (bsonkit.Doc, *CommandError) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case bson.D:
		return &v, nil
	default:
		return nil, cmdErr(codeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected type 'object'", field, typeName(v))
	}
}

func (a *args) arrayField(key string) (bson.A, *CommandError) {
	switch v := a.get(key).(type) {
	case nil:
		return nil, nil
	case bson.A:
		return v, nil
	default:
		return nil, cmdErr(codeTypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type 'array'", a.name, key, typeName(v))
	}
}

func (a *args) boolField(key string, def bool) (bool, *CommandError) {
	return asBool(a.name+"."+key, a.get(key), def)
}

func asBool(field string, v any, def bool) (bool, *CommandError) {
	switch v := v.(type) {
	case nil:
		return def, nil
	case bool:
		return v, nil
	case int32:
		return v != 0, nil
	case int64:
		return v != 0, nil
	case float64:
		return v != 0, nil
	default:
		return false, cmdErr(codeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected type 'bool'", field, typeName(v))
	}
}

func (a *args) intField(key string, def int64) (int64, *CommandError) {
	return asInt(a.name+"."+key, a.get(key), def)
}

func asInt(field string, v any, def int64) (int64, *CommandError) {
	switch v := v.(type) {
	case nil:
		return def, nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, cmdErr(codeBadValue, "BSON field '%s' must be an integer, not %v", field, v)
		}
		return int64(v), nil
	default:
		return 0, cmdErr(codeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected a number", field, typeName(v))
	}
}

func (a *args) stringField(key string) (string, *CommandError) {
	switch v := a.get(key).(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", cmdErr(codeTypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type 'string'", a.name, key, typeName(v))
	}
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bson.D, bson.M:
		return "object"
	case bson.A:
		return "array"
	case bool:
		return "bool"
	case int32:
		return "int"
	case int64:
		return "long"
	case float64:
		return "double"
	case primitive.ObjectID:
		return "objectId"
	case primitive.Binary:
		return "binData"
	default:
		return "other"
	}
}

// docList reads an array of documents (insert's documents, update's
// updates).
func (a *args) docList(key string, required bool) ([]bson.D, *CommandError) {
	arr, err := a.arrayField(key)
	if err != nil {
		return nil, err
	}
	if arr == nil && required {
		return nil, cmdErr(codeFailedToParse, "BSON field '%s.%s' is missing but a required field", a.name, key)
	}
	out := make([]bson.D, len(arr))
	for i, v := range arr {
		d, ok := v.(bson.D)
		if !ok {
			return nil, cmdErr(codeTypeMismatch, "BSON field '%s.%s.%d' is the wrong type '%s', expected type 'object'", a.name, key, i, typeName(v))
		}
		out[i] = d
	}
	return out, nil
}

// checkDoc refuses fields of a sub-document (an update statement, an
// index spec) other than known, naming them like check.
func checkDoc(field string, d bson.D, known []string, unsupported ...string) *CommandError {
	for _, e := range d {
		if contains(known, e.Key) {
			continue
		}
		if contains(unsupported, e.Key) {
			return notSupported("option " + e.Key + " of " + field)
		}
		return cmdErr(codeUnknownField, "BSON field '%s.%s' is an unknown field", field, e.Key)
	}
	return nil
}

func lookup(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}
