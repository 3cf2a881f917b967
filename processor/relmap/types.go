package relmap

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
)

// FieldType is the BSON type a column is written as.
type FieldType string

// The field types. A null stays null; a value that does not convert is
// an invalid record naming the column.
const (
	TypeString     FieldType = "string"      // any scalar, as text
	TypeInt        FieldType = "int"         // int32, from numbers and numeric text
	TypeLong       FieldType = "long"        // int64, likewise
	TypeDouble     FieldType = "double"      // float64, likewise
	TypeDecimal    FieldType = "decimal"     // Decimal128, from numbers and numeric text
	TypeBool       FieldType = "bool"        // from booleans, 0/1 and "true"/"false"
	TypeDate       FieldType = "date"        // from epoch milliseconds (Debezium Timestamp) or RFC 3339 text (ZonedTimestamp)
	TypeDateMicros FieldType = "date-micros" // from epoch microseconds (Debezium MicroTimestamp)
	TypeDateDays   FieldType = "date-days"   // from days since the epoch (Debezium Date)
	TypeObjectID   FieldType = "objectId"    // from 24 hex digits
)

// FieldTypes are the valid field types.
var FieldTypes = []FieldType{TypeString, TypeInt, TypeLong, TypeDouble, TypeDecimal, TypeBool, TypeDate, TypeDateMicros, TypeDateDays, TypeObjectID}

func validType(t FieldType) bool {
	for _, f := range FieldTypes {
		if f == t {
			return true
		}
	}
	return false
}

// convert makes v a value of type to.
func convert(v any, to FieldType) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch to {
	case TypeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case primitive.Decimal128:
			return x.String(), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		case int32, int64, bool:
			return fmt.Sprint(x), nil
		case primitive.DateTime:
			return x.Time().UTC().Format(time.RFC3339Nano), nil
		case primitive.ObjectID:
			return x.Hex(), nil
		}
	case TypeInt, TypeLong:
		n, ok := integer(v)
		if ok && to == TypeInt && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, fmt.Errorf("%d does not fit an int", n)
		}
		if ok && to == TypeInt {
			return int32(n), nil
		}
		if ok {
			return n, nil
		}
	case TypeDouble:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		case primitive.Decimal128:
			if f, err := strconv.ParseFloat(x.String(), 64); err == nil {
				return f, nil
			}
		}
	case TypeDecimal:
		var text string
		switch x := v.(type) {
		case primitive.Decimal128:
			return x, nil
		case string:
			text = strings.TrimSpace(x)
		case int32, int64:
			text = fmt.Sprint(x)
		case float64:
			text = strconv.FormatFloat(x, 'g', -1, 64)
		}
		if d, err := primitive.ParseDecimal128(text); text != "" && err == nil {
			return d, nil
		}
	case TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int32, int64:
			if n, _ := integer(x); n == 0 || n == 1 {
				return n == 1, nil
			}
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, nil
			}
		}
	case TypeDate, TypeDateMicros, TypeDateDays:
		if d, ok := v.(primitive.DateTime); ok {
			return d, nil
		}
		if s, ok := v.(string); ok && to == TypeDate {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
				return primitive.NewDateTimeFromTime(t), nil
			}
			break
		}
		n, ok := integer(v)
		if !ok {
			break
		}
		switch to {
		case TypeDateMicros:
			return primitive.DateTime(n / 1000), nil
		case TypeDateDays:
			return primitive.DateTime(n * 86400000), nil
		}
		return primitive.DateTime(n), nil
	case TypeObjectID:
		if id, ok := v.(primitive.ObjectID); ok {
			return id, nil
		}
		if s, ok := v.(string); ok {
			if id, err := primitive.ObjectIDFromHex(s); err == nil {
				return id, nil
			}
		}
	}
	return nil, fmt.Errorf("%v (%T) is not convertible to %s", v, v, to)
}

func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case primitive.Decimal128:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		return n, err == nil
	}
	return 0, false
}
