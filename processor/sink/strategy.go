package sink

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

// IDStrategy names where a document's _id comes from.
type IDStrategy string

// The id strategies, after the connector's (names in parentheses).
const (
	// IDObjectID is a new ObjectId (BsonOidStrategy), the default.
	IDObjectID IDStrategy = "objectid"
	// IDUUID is a random UUID (UuidStrategy), as a string or binary.
	IDUUID IDStrategy = "uuid"
	// IDFullKey is the whole key document (FullKeyStrategy).
	IDFullKey IDStrategy = "full-key"
	// IDPartialKey is the key after a projection (PartialKeyStrategy).
	IDPartialKey IDStrategy = "partial-key"
	// IDPartialValue is the value after a projection (PartialValueStrategy).
	IDPartialValue IDStrategy = "partial-value"
	// IDKey is key._id (ProvidedInKeyStrategy).
	IDKey IDStrategy = "key"
	// IDValue is value._id (ProvidedInValueStrategy).
	IDValue IDStrategy = "value"
	// IDKafka is "<topic>#<partition>#<offset>" (KafkaMetaDataStrategy).
	IDKafka IDStrategy = "kafka"
)

// WriteStrategy names the write model made of a record.
type WriteStrategy string

// The write strategies.
const (
	// WriteReplace is replaceOne({_id}, value, upsert), the default.
	WriteReplace WriteStrategy = "replace"
	// WriteUpdate is updateOne({_id}, {$set: value}, upsert).
	WriteUpdate WriteStrategy = "update"
	// WriteInsert is insertOne(value).
	WriteInsert WriteStrategy = "insert"
	// WriteUpdateTimestamps is WriteUpdate with _modifiedTS, and
	// _insertedTS set on insert.
	WriteUpdateTimestamps WriteStrategy = "update-timestamps"
	// WriteReplaceBusinessKey replaces by the business key that _id holds.
	WriteReplaceBusinessKey WriteStrategy = "replace-business-key"
	// WriteUpdateBusinessKeyTimestamps updates by the business key, with
	// the timestamps.
	WriteUpdateBusinessKeyTimestamps WriteStrategy = "update-business-key-timestamps"
)

// Options configure how records become write models.
type Options struct {
	// ID is the id strategy. Default IDObjectID.
	ID IDStrategy
	// OverwriteID replaces an _id the value already has; by default it is
	// kept.
	OverwriteID bool
	// UUIDBinary writes IDUUID ids as binary subtype 4; default a string.
	UUIDBinary bool
	// PartialKey and PartialValue are the projections of the partial id
	// strategies.
	PartialKey, PartialValue Projection
	// Write is the write strategy. Default WriteReplace.
	Write WriteStrategy
	// DeleteOnTombstone turns a record with a key and no value into
	// deleteOne by the key's id; otherwise such a record is a DataError.
	DeleteOnTombstone bool
	// PostProcess runs on each value before the write model is made.
	PostProcess []PostProcessor
	// Now returns the time for timestamp strategies. Default time.Now.
	Now func() time.Time
}

// Model makes the write model for a record that is not CDC. A nil model
// with a nil error means there is nothing to write.
func Model(r Record, o Options) (mongo.WriteModel, error) {
	if o.ID == "" {
		o.ID = IDObjectID
	}
	if o.Write == "" {
		o.Write = WriteReplace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if !r.hasValue() {
		if !r.hasKey() {
			return nil, nil // nothing at all
		}
		if !o.DeleteOnTombstone {
			return nil, dataErr(r, "a record with a key and no value cannot be written; enable delete on tombstones to delete by key")
		}
		id, err := keyID(r, o)
		if err != nil {
			return nil, err
		}
		return mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}), nil
	}
	if r.Value == nil {
		if m, ok, err := rawModel(r, o); ok {
			return m, err
		}
		var err error
		if r, err = asD(r); err != nil {
			return nil, err
		}
	}
	value := append(bson.D(nil), r.Value...)
	if _, has := get(value, "_id"); !has || o.OverwriteID {
		id, err := newID(r, value, o)
		if err != nil {
			return nil, err
		}
		value = append(bson.D{{Key: "_id", Value: id}}, without(value, "_id")...)
	}
	for _, pp := range o.PostProcess {
		var err error
		if value, err = pp(r, value); err != nil {
			return nil, dataErr(r, "%v", err)
		}
	}
	id, _ := get(value, "_id")
	upsert := true
	switch o.Write {
	case WriteReplace:
		return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetReplacement(value).SetUpsert(upsert), nil
	case WriteInsert:
		return mongo.NewInsertOneModel().SetDocument(value), nil
	case WriteUpdate:
		return mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$set", Value: without(value, "_id")}}).SetUpsert(upsert), nil
	case WriteUpdateTimestamps:
		now := primitive.NewDateTimeFromTime(o.Now())
		return mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(bson.D{
			{Key: "$set", Value: append(without(value, "_id", "_modifiedTS", "_insertedTS"), bson.E{Key: "_modifiedTS", Value: now})},
			{Key: "$setOnInsert", Value: bson.D{{Key: "_insertedTS", Value: now}}},
		}).SetUpsert(upsert), nil
	case WriteReplaceBusinessKey, WriteUpdateBusinessKeyTimestamps:
		key, ok := id.(bson.D)
		if !ok || len(key) == 0 {
			return nil, dataErr(r, "a business-key strategy needs _id to be a document of the key fields (use the partial-value id strategy with overwrite)")
		}
		filter := flatten(key, "")
		body := without(value, "_id")
		if o.Write == WriteReplaceBusinessKey {
			return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(body).SetUpsert(upsert), nil
		}
		now := primitive.NewDateTimeFromTime(o.Now())
		return mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(bson.D{
			{Key: "$set", Value: append(without(body, "_modifiedTS", "_insertedTS"), bson.E{Key: "_modifiedTS", Value: now})},
			{Key: "$setOnInsert", Value: bson.D{{Key: "_insertedTS", Value: now}}},
		}).SetUpsert(upsert), nil
	}
	return nil, fmt.Errorf("sink: unknown write strategy %q", o.Write)
}

// flatten turns a nested key document into dotted-path equality filters.
func flatten(d bson.D, prefix string) bson.D {
	var out bson.D
	for _, e := range d {
		name := prefix + e.Key
		if sub, ok := e.Value.(bson.D); ok && len(sub) > 0 {
			out = append(out, flatten(sub, name+".")...)
			continue
		}
		out = append(out, bson.E{Key: name, Value: e.Value})
	}
	return out
}

// newID makes the _id of a value by the id strategy.
func newID(r Record, value bson.D, o Options) (any, error) {
	switch o.ID {
	case IDObjectID:
		return primitive.NewObjectID(), nil
	case IDUUID:
		return newUUID(o.UUIDBinary), nil
	case IDKafka:
		return fmt.Sprintf("%s#%d#%d", r.Topic, r.Partition, r.Offset), nil
	case IDValue:
		id, ok := get(r.Value, "_id")
		if !ok || id == nil {
			return nil, dataErr(r, "the value has no _id")
		}
		return id, nil
	case IDPartialValue:
		return o.PartialValue.Apply(value), nil
	}
	return keyID(r, o)
}

// keyID makes an id from the key, for the key strategies and for deletes.
func keyID(r Record, o Options) (any, error) {
	switch o.ID {
	case IDFullKey:
		if r.KeyScalar != nil {
			return r.KeyScalar, nil
		}
		if r.Key == nil {
			return bson.D{}, nil
		}
		return r.Key, nil
	case IDPartialKey:
		if r.KeyScalar != nil {
			return nil, dataErr(r, "the partial-key id strategy picks fields of a document key, and this key is %s: use id_strategy key or full-key to take it as the _id", r.keyKind())
		}
		if r.Key == nil {
			return nil, dataErr(r, "the record has no key for the partial-key id strategy")
		}
		return o.PartialKey.Apply(r.Key), nil
	case IDKey:
		// A key that is not a document is the _id as it is.
		if r.KeyScalar != nil {
			return r.KeyScalar, nil
		}
		id, ok := get(r.Key, "_id")
		if !ok || id == nil {
			return nil, dataErr(r, "the key has no _id")
		}
		return id, nil
	}
	return nil, dataErr(r, "the %s id strategy cannot make an id from a key; use full-key, partial-key or key to delete on tombstones", o.ID)
}

func newUUID(binary bool) any {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	if binary {
		return primitive.Binary{Subtype: 4, Data: b[:]}
	}
	h := hex.EncodeToString(b[:])
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
