package check

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/schemaflow/schemaflow/schemas"
)

// Explanation documents one rule for `check --explain`: what it means, a
// change that breaks it (Before → Broken, checked BACKWARD) and a safe way
// to make the same kind of change (Before → Safe). The examples are
// checked by the tests.
type Explanation struct {
	Rule   string
	Format schemas.Format
	// Means says what the rule protects.
	Means string
	// Before, Broken and Safe are schemas; empty for rules that are not
	// about two versions of a schema.
	Before, Broken, Safe string
	// How says how to evolve safely instead.
	How string
}

// Explanations are the rules check reports, by format. A rule name may
// exist in two formats (ENUM_ADDED).
var Explanations = []Explanation{
	// Avro, as Apache Avro's SchemaCompatibility names them.
	{
		Rule: "TYPE_MISMATCH", Format: schemas.Avro,
		Means:  "A field's new type cannot read values written with its old type: Avro only promotes int to long, float or double, long to float or double, float to double, and string and bytes to each other.",
		Before: `{"type":"record","name":"Order","fields":[{"name":"qty","type":"long"}]}`,
		Broken: `{"type":"record","name":"Order","fields":[{"name":"qty","type":"int"}]}`,
		Safe:   `{"type":"record","name":"Order","fields":[{"name":"qty","type":"long"},{"name":"qty_small","type":["null","int"],"default":null}]}`,
		How:    "Keep the old type, or widen it (int to long, float to double). To change a field's type, add a new optional field with a default next to it, write both for a while, then deprecate the old one.",
	},
	{
		Rule: "READER_FIELD_MISSING_DEFAULT_VALUE", Format: schemas.Avro,
		Means:  "The new schema has a field that old records do not have, and no default to fill it in, so old records cannot be read.",
		Before: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`,
		Broken: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"channel","type":"string"}]}`,
		Safe:   `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"channel","type":["null","string"],"default":null}]}`,
		How:    "Give the new field a default: make it optional ([\"null\", T] with \"default\": null) or give a value of its type (\"default\": \"web\").",
	},
	{
		Rule: "NAME_MISMATCH", Format: schemas.Avro,
		Means:  "A named type (record, enum, fixed) was renamed, and Avro resolves named types by their full name.",
		Before: `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`,
		Broken: `{"type":"record","name":"Purchase","fields":[{"name":"id","type":"string"}]}`,
		Safe:   `{"type":"record","name":"Purchase","aliases":["Order"],"fields":[{"name":"id","type":"string"}]}`,
		How:    "Keep the name, or list the old full name in \"aliases\" so that readers still match it.",
	},
	{
		Rule: "FIXED_SIZE_MISMATCH", Format: schemas.Avro,
		Means:  "A fixed type changed its size, so old values do not fit.",
		Before: `{"type":"record","name":"Key","fields":[{"name":"hash","type":{"type":"fixed","name":"Hash","size":16}}]}`,
		Broken: `{"type":"record","name":"Key","fields":[{"name":"hash","type":{"type":"fixed","name":"Hash","size":32}}]}`,
		Safe:   `{"type":"record","name":"Key","fields":[{"name":"hash","type":{"type":"fixed","name":"Hash","size":16}},{"name":"hash256","type":["null",{"type":"fixed","name":"Hash256","size":32}],"default":null}]}`,
		How:    "Keep the size; add a new optional field of a new fixed type with the new size instead.",
	},
	{
		Rule: "MISSING_ENUM_SYMBOLS", Format: schemas.Avro,
		Means:  "The new enum lacks symbols that old data may hold, and has no default symbol to read them as.",
		Before: `{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}`,
		Broken: `{"type":"enum","name":"Status","symbols":["NEW","PAID"]}`,
		Safe:   `{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED","UNKNOWN"],"default":"UNKNOWN"}`,
		How:    "Do not remove symbols; add new ones at the end, and give the enum a \"default\" symbol so that readers can read symbols they do not know.",
	},
	{
		Rule: "MISSING_UNION_BRANCH", Format: schemas.Avro,
		Means:  "A union lost a branch that old data may use.",
		Before: `{"type":"record","name":"Event","fields":[{"name":"v","type":["null","string","long"],"default":null}]}`,
		Broken: `{"type":"record","name":"Event","fields":[{"name":"v","type":["null","string"],"default":null}]}`,
		Safe:   `{"type":"record","name":"Event","fields":[{"name":"v","type":["null","string","long","double"],"default":null}]}`,
		How:    "Keep every branch; add new branches at the end.",
	},

	// JSON Schema.
	{
		Rule: "TYPE_CHANGED", Format: schemas.JSON,
		Means:  "A property's new type does not accept values of its old type (only integer to number widens).",
		Before: `{"type":"object","properties":{"qty":{"type":"integer"}}}`,
		Broken: `{"type":"object","properties":{"qty":{"type":"string"}}}`,
		Safe:   `{"type":"object","properties":{"qty":{"type":"number"}}}`,
		How:    "Widen types only (integer to number, or a list of types that includes the old one); for a new representation add a new property.",
	},
	{
		Rule: "TYPE_NARROWED", Format: schemas.JSON,
		Means:  "A schema that accepted any type now accepts only some, so old documents may be rejected.",
		Before: `{"type":"object","properties":{"note":{}}}`,
		Broken: `{"type":"object","properties":{"note":{"type":"string"}}}`,
		Safe:   `{"type":"object","properties":{"note":{"description":"free text, usually a string"}}}`,
		How:    "Keep the open schema and document what is expected; to constrain the values, start a new subject.",
	},
	{
		Rule: "REQUIRED_ATTRIBUTE_ADDED", Format: schemas.JSON,
		Means:  "The new schema requires a property that old documents need not have.",
		Before: `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}},"required":["id"]}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}},"required":["id","channel"]}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string","default":"web"}},"required":["id","channel"]}`,
		How:    "Give the property a \"default\" that readers apply before requiring it.",
	},
	{
		Rule: "ENUM_ADDED", Format: schemas.JSON,
		Means:  "A property that accepted any value of its type is now restricted to an enum, so old values may be rejected.",
		Before: `{"type":"object","properties":{"status":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"status":{"type":"string","enum":["NEW","PAID"]}}}`,
		Safe:   `{"type":"object","properties":{"status":{"type":"string","description":"NEW or PAID"}}}`,
		How:    "Keep the property open and document the values; to enforce them, start a new subject.",
	},
	{
		Rule: "ENUM_ARRAY_NARROWED", Format: schemas.JSON,
		Means:  "An enum lost values that old documents may hold.",
		Before: `{"type":"object","properties":{"status":{"enum":["NEW","PAID","SHIPPED"]}}}`,
		Broken: `{"type":"object","properties":{"status":{"enum":["NEW","PAID"]}}}`,
		Safe:   `{"type":"object","properties":{"status":{"enum":["NEW","PAID","SHIPPED","CANCELLED"]}}}`,
		How:    "Never remove enum values; add new ones, and mark old ones deprecated in their description.",
	},
	{
		Rule: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A property was removed from a schema that allows no additional properties, so old documents that have it are rejected.",
		Before: `{"type":"object","properties":{"id":{"type":"string"},"legacy":{"type":"string"}},"additionalProperties":false}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"},"legacy":{"type":"string","deprecated":true}},"additionalProperties":false}`,
		How:    "Deprecate the property (\"deprecated\": true) instead of removing it, or open the content model first.",
	},
	{
		Rule: "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A required property was added to a schema that allows any other property, so old documents may lack it or hold anything under its name.",
		Before: `{"type":"object","properties":{"id":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}},"required":["channel"]}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"},"channel":{}}}`,
		How:    "In an open schema a new property can only be added with an empty schema ({}); close the schema (additionalProperties false) in a new subject to add typed properties.",
	},
	{
		Rule: "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A typed property was added to a schema that allows any other property: old documents may hold anything under that name (Confluent refuses this at its default, strict policy).",
		Before: `{"type":"object","properties":{"id":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}}}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"},"channel":{}}}`,
		How:    "Add the property with an empty schema ({}), or design the schema closed (additionalProperties false), where new optional properties are safe.",
	},
	{
		Rule: "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A required property without a default was added to a closed schema, so old documents lack it.",
		Before: `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}},"required":["channel"],"additionalProperties":false}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"},"channel":{"type":"string"}},"additionalProperties":false}`,
		How:    "Add it as optional, or required with a \"default\".",
	},
	{
		Rule: "CONST_CHANGED", Format: schemas.JSON,
		Means:  "A value fixed by const changed or was added, so old documents hold another value.",
		Before: `{"type":"object","properties":{"v":{"const":1}}}`,
		Broken: `{"type":"object","properties":{"v":{"const":2}}}`,
		Safe:   `{"type":"object","properties":{"v":{"const":1,"description":"the format version"}}}`,
		How:    "Keep const values; use a new property for a new fixed value.",
	},
	{
		Rule: "ADDITIONAL_PROPERTIES_REMOVED", Format: schemas.JSON,
		Means:  "The schema no longer allows properties it does not declare, so old documents with other properties are rejected.",
		Before: `{"type":"object","properties":{"id":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":true}`,
		How:    "Keep the schema open; a closed schema is a new subject.",
	},
	{
		Rule: "ADDITIONAL_PROPERTIES_NARROWED", Format: schemas.JSON,
		Means:  "Undeclared properties, which could hold anything, are now restricted to a schema.",
		Before: `{"type":"object","properties":{"id":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":{"type":"string"}}`,
		Safe:   `{"type":"object","properties":{"id":{"type":"string"}}}`,
		How:    "Keep additional properties unrestricted.",
	},
	{
		Rule: "UNDECIDED_CHANGE", Format: schemas.JSON,
		Means:  "The change touches a keyword whose compatibility rules schemaflow does not implement yet (if/then/else, contains, propertyNames, format, unevaluated*, a combinator beside other keywords, a tuple turned into one item schema); rather than guess, it is refused.",
		Before: `{"type":"string","format":"date"}`,
		Broken: `{"type":"string","format":"email"}`,
		Safe:   `{"type":"string","format":"date","description":"ISO 8601 date"}`,
		How:    "Leave those keywords as they are, or check the change against a Confluent registry and register it with force if you are sure.",
	},
	{
		Rule: "COMBINED_TYPE_CHANGED", Format: schemas.JSON,
		Means:  "The combination changed in a way that narrows it (for example anyOf to allOf or oneOf), so values that matched before may not match now.",
		Before: `{"anyOf":[{"type":"string"},{"type":"number"}]}`,
		Broken: `{"allOf":[{"type":"string"},{"type":"number"}]}`,
		Safe:   `{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"}]}`,
		How:    "Only widen a combination: to anyOf, or by adding branches to anyOf/oneOf.",
	},
	{
		Rule: "PRODUCT_TYPE_EXTENDED", Format: schemas.JSON,
		Means:  "allOf gained a branch, so values must now match one more schema.",
		Before: `{"allOf":[{"type":"string"},{"maxLength":9}]}`,
		Broken: `{"allOf":[{"type":"string"},{"maxLength":9},{"minLength":2}]}`,
		Safe:   `{"allOf":[{"type":"string"}]}`,
		How:    "Do not add constraints to allOf; drop or relax them instead.",
	},
	{
		Rule: "SUM_TYPE_NARROWED", Format: schemas.JSON,
		Means:  "anyOf or oneOf lost a branch, so values that matched only that branch are rejected.",
		Before: `{"oneOf":[{"type":"string"},{"type":"number"}]}`,
		Broken: `{"oneOf":[{"type":"string"}]}`,
		Safe:   `{"oneOf":[{"type":"string"},{"type":"number"},{"type":"boolean"}]}`,
		How:    "Never remove branches; add new ones.",
	},
	{
		Rule: "COMBINED_TYPE_SUBSCHEMAS_CHANGED", Format: schemas.JSON,
		Means:  "The branches of a combination changed so that some old branch is read by no new one.",
		Before: `{"oneOf":[{"type":"string"},{"type":"integer"}]}`,
		Broken: `{"oneOf":[{"type":"string"},{"type":"boolean"}]}`,
		Safe:   `{"oneOf":[{"type":"string"},{"type":"number"}]}`,
		How:    "Keep every old branch, or widen it (integer to number).",
	},
	{
		Rule: "ITEMS_NARROWED", Format: schemas.JSON,
		Means:  "Array items, which could be anything, are now restricted to a schema.",
		Before: `{"type":"array"}`,
		Broken: `{"type":"array","items":{"type":"string"}}`,
		Safe:   `{"type":"array","items":{}}`,
		How:    "Keep the items unrestricted.",
	},
	{
		Rule: "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A tuple position was removed from a tuple that allows no further items, so old arrays that have it are rejected.",
		Before: `{"type":"array","items":[{"type":"string"},{"type":"number"}],"additionalItems":false}`,
		Broken: `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`,
		Safe:   `{"type":"array","items":[{"type":"string"},{"type":"number"}],"additionalItems":false}`,
		How:    "Keep tuple positions; deprecate them in their description.",
	},
	{
		Rule: "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", Format: schemas.JSON,
		Means:  "A typed tuple position was added where old arrays could hold anything.",
		Before: `{"type":"array","items":[{"type":"string"}]}`,
		Broken: `{"type":"array","items":[{"type":"string"},{"type":"number"}]}`,
		Safe:   `{"type":"array","items":[{"type":"string"},{}]}`,
		How:    "Add the position with an empty schema ({}), or use a closed tuple (additionalItems false).",
	},
	{
		Rule: "ADDITIONAL_ITEMS_REMOVED", Format: schemas.JSON,
		Means:  "A tuple no longer allows items after its positions, so old longer arrays are rejected.",
		Before: `{"type":"array","items":[{"type":"string"}]}`,
		Broken: `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`,
		Safe:   `{"type":"array","items":[{"type":"string"}],"additionalItems":true}`,
		How:    "Keep the tuple open.",
	},
	{
		Rule: "ADDITIONAL_ITEMS_NARROWED", Format: schemas.JSON,
		Means:  "The items after a tuple, which could be anything, are now restricted to a schema.",
		Before: `{"type":"array","items":[{"type":"string"}]}`,
		Broken: `{"type":"array","items":[{"type":"string"}],"additionalItems":{"type":"number"}}`,
		Safe:   `{"type":"array","items":[{"type":"string"}]}`,
		How:    "Keep the items after the tuple unrestricted.",
	},
	{
		Rule: "PATTERN_CHANGED", Format: schemas.JSON,
		Means:  "A string pattern was added or changed, so old strings may not match it.",
		Before: `{"type":"string"}`,
		Broken: `{"type":"string","pattern":"^[A-Z]+$"}`,
		Safe:   `{"type":"string","description":"upper-case letters"}`,
		How:    "Never add or change a pattern; remove one to relax it.",
	},
	{
		Rule: "MULTIPLE_OF_CHANGED", Format: schemas.JSON,
		Means:  "multipleOf was added or changed to a value that does not divide the old one, so old numbers may not be multiples of it.",
		Before: `{"type":"number","multipleOf":4}`,
		Broken: `{"type":"number","multipleOf":3}`,
		Safe:   `{"type":"number","multipleOf":2}`,
		How:    "Only change multipleOf to a divisor of the old value, or remove it.",
	},
	{
		Rule: "UNIQUE_ITEMS_ADDED", Format: schemas.JSON,
		Means:  "Arrays must now hold unique items, which old arrays may not.",
		Before: `{"type":"array","items":{"type":"string"}}`,
		Broken: `{"type":"array","items":{"type":"string"},"uniqueItems":true}`,
		Safe:   `{"type":"array","items":{"type":"string"},"uniqueItems":false}`,
		How:    "Do not add uniqueItems to an existing array.",
	},
	{
		Rule: "DEPENDENCY_ARRAY_ADDED", Format: schemas.JSON,
		Means:  "A property dependency was added: when one property is present, others must now be too.",
		Before: `{"type":"object","properties":{"card":{"type":"string"},"cvc":{"type":"string"}}}`,
		Broken: `{"type":"object","properties":{"card":{"type":"string"},"cvc":{"type":"string"}},"dependencies":{"card":["cvc"]}}`,
		Safe:   `{"type":"object","properties":{"card":{"type":"string"},"cvc":{"type":"string"}}}`,
		How:    "Do not add dependencies; remove or shorten them instead.",
	},
	{
		Rule: "DEPENDENCY_ARRAY_EXTENDED", Format: schemas.JSON,
		Means:  "A property dependency now asks for more properties than before.",
		Before: `{"type":"object","dependencies":{"card":["cvc"]}}`,
		Broken: `{"type":"object","dependencies":{"card":["cvc","zip"]}}`,
		Safe:   `{"type":"object","dependencies":{"card":[]}}`,
		How:    "Only shorten dependency lists.",
	},
	{
		Rule: "DEPENDENCY_SCHEMA_ADDED", Format: schemas.JSON,
		Means:  "A schema dependency was added: when a property is present, the document must now match another schema.",
		Before: `{"type":"object"}`,
		Broken: `{"type":"object","dependencies":{"card":{"required":["cvc"]}}}`,
		Safe:   `{"type":"object","description":"a payment"}`,
		How:    "Do not add schema dependencies to an existing schema.",
	},

	// Protobuf, as Confluent's SchemaDiff names the differences.
	{
		Rule: "FIELD_SCALAR_KIND_CHANGED", Format: schemas.Protobuf,
		Means:  "A field's scalar type changed to one with another wire encoding (for example int64 to string), so old bytes decode wrongly.",
		Before: "syntax = \"proto3\";\nmessage Payment {\n  int64 amount = 1;\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Payment {\n  string amount = 1;\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Payment {\n  int64 amount = 1 [deprecated = true];\n  string amount_text = 2;\n}\n",
		How:    "Keep the field's type, or change it only within a wire-compatible group (int32, int64, uint32, uint64, bool). Add a new field with a new number, and deprecate the old one.",
	},
	{
		Rule: "FIELD_KIND_CHANGED", Format: schemas.Protobuf,
		Means:  "A field changed between scalar, message and map, which are encoded differently.",
		Before: "syntax = \"proto3\";\nmessage Order {\n  string total = 1;\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Money { int64 units = 1; }\nmessage Order {\n  Money total = 1;\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Money { int64 units = 1; }\nmessage Order {\n  string total = 1 [deprecated = true];\n  Money total_money = 2;\n}\n",
		How:    "Add a new field with a new number for the new kind, and deprecate the old one.",
	},
	{
		Rule: "FIELD_NAMED_TYPE_CHANGED", Format: schemas.Protobuf,
		Means:  "A message field now has another message type, or its type changed incompatibly.",
		Before: "syntax = \"proto3\";\nmessage A { string x = 1; }\nmessage B { int64 y = 1; }\nmessage Order {\n  A item = 1;\n}\n",
		Broken: "syntax = \"proto3\";\nmessage A { string x = 1; }\nmessage B { int64 y = 1; }\nmessage Order {\n  B item = 1;\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage A { string x = 1; }\nmessage B { int64 y = 1; }\nmessage Order {\n  A item = 1 [deprecated = true];\n  B item_b = 2;\n}\n",
		How:    "Keep the field's type; add a new field with a new number for the new type.",
	},
	{
		Rule: "FIELD_NUMERIC_LABEL_CHANGED", Format: schemas.Protobuf,
		Means:  "A numeric field with a label changed it (optional, required, repeated); packed repeated numbers do not read as one value.",
		Before: "syntax = \"proto3\";\nmessage Order {\n  optional int64 qty = 1;\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Order {\n  repeated int64 qty = 1;\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Order {\n  optional int64 qty = 1;\n  repeated int64 quantities = 2;\n}\n",
		How:    "Add a new repeated field with a new number.",
	},
	{
		Rule: "MESSAGE_REMOVED", Format: schemas.Protobuf,
		Means:  "A message was removed (or renamed), so types that refer to it are gone.",
		Before: "syntax = \"proto3\";\nmessage Order { string id = 1; }\nmessage Refund { string id = 1; }\n",
		Broken: "syntax = \"proto3\";\nmessage Order { string id = 1; }\n",
		Safe:   "syntax = \"proto3\";\nmessage Order { string id = 1; }\nmessage Refund {\n  option deprecated = true;\n  string id = 1;\n}\n",
		How:    "Keep the message and mark it deprecated; add new messages instead of renaming.",
	},
	{
		Rule: "PACKAGE_CHANGED", Format: schemas.Protobuf,
		Means:  "The package changed, so every type has a new full name.",
		Before: "syntax = \"proto3\";\npackage shop.v1;\nmessage Order { string id = 1; }\n",
		Broken: "syntax = \"proto3\";\npackage shop.v2;\nmessage Order { string id = 1; }\n",
		Safe:   "syntax = \"proto3\";\npackage shop.v1;\nmessage Order {\n  string id = 1;\n  string note = 2;\n}\n",
		How:    "Keep the package; put a new major version in a new file under a new subject.",
	},
	{
		Rule: "REQUIRED_FIELD_ADDED", Format: schemas.Protobuf,
		Means:  "A proto2 required field was added; old messages do not have it and fail to parse.",
		Before: "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n}\n",
		Broken: "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n  required string channel = 2;\n}\n",
		Safe:   "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n  optional string channel = 2 [default = \"web\"];\n}\n",
		How:    "Add the field as optional, with a default.",
	},
	{
		Rule: "REQUIRED_FIELD_REMOVED", Format: schemas.Protobuf,
		Means:  "A proto2 required field was removed; old readers require it.",
		Before: "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n  required string channel = 2;\n}\n",
		Broken: "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n}\n",
		Safe:   "syntax = \"proto2\";\nmessage Order {\n  required string id = 1;\n  required string channel = 2 [deprecated = true];\n}\n",
		How:    "Keep required fields; deprecate them and keep writing a value.",
	},
	{
		Rule: "ONEOF_FIELD_REMOVED", Format: schemas.Protobuf,
		Means:  "A field was removed from a oneof, so old messages that set it lose the whole choice.",
		Before: "syntax = \"proto3\";\nmessage Pay {\n  oneof method {\n    string card = 1;\n    string iban = 2;\n  }\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Pay {\n  oneof method {\n    string card = 1;\n  }\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Pay {\n  oneof method {\n    string card = 1;\n    string iban = 2 [deprecated = true];\n  }\n}\n",
		How:    "Keep the field in the oneof and mark it deprecated.",
	},
	{
		Rule: "MULTIPLE_FIELDS_MOVED_TO_ONEOF", Format: schemas.Protobuf,
		Means:  "Several existing fields were moved into a new oneof; old messages may set more than one of them.",
		Before: "syntax = \"proto3\";\nmessage Pay {\n  string card = 1;\n  string iban = 2;\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Pay {\n  oneof method {\n    string card = 1;\n    string iban = 2;\n  }\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Pay {\n  string card = 1;\n  string iban = 2;\n  oneof method {\n    string card_token = 3;\n    string iban_token = 4;\n  }\n}\n",
		How:    "Move at most one existing field into a new oneof; add new fields for the other choices.",
	},
	{
		Rule: "FIELD_MOVED_TO_EXISTING_ONEOF", Format: schemas.Protobuf,
		Means:  "An existing field was moved into a oneof that already exists; old messages may set it together with another choice.",
		Before: "syntax = \"proto3\";\nmessage Pay {\n  string note = 3;\n  oneof method {\n    string card = 1;\n    string iban = 2;\n  }\n}\n",
		Broken: "syntax = \"proto3\";\nmessage Pay {\n  oneof method {\n    string card = 1;\n    string iban = 2;\n    string note = 3;\n  }\n}\n",
		Safe:   "syntax = \"proto3\";\nmessage Pay {\n  string note = 3;\n  oneof method {\n    string card = 1;\n    string iban = 2;\n    string voucher = 4;\n  }\n}\n",
		How:    "Leave existing fields where they are; add new fields to the oneof.",
	},

	// The check itself.
	{
		Rule:  RuleSchemaFileDeleted,
		Means: "A schema file that was checked in the other tree is gone, so its subject would get no new versions while producers may still use it. A file that moved (same content, or a rename git detects) keeps its subject and is not reported.",
		How:   "Keep the file until no producer writes the subject; then delete it and pass --allow-deleted once. To move a file, move it without changing its content in the same commit.",
	},
}

// UnknownRuleError is the error of Explain for a rule it has no
// explanation of.
type UnknownRuleError struct {
	Rule  string
	Known []string // every rule explained, sorted
}

func (e *UnknownRuleError) Error() string {
	return fmt.Sprintf("unknown rule %q; known rules: %s", e.Rule, strings.Join(e.Known, ", "))
}

// Explain writes to w what a rule (in any case) means, an example that
// breaks it and how to evolve safely, for every format that has the rule.
// A rule without an explanation is an *UnknownRuleError.
func Explain(w io.Writer, rule string) error {
	rule = strings.ToUpper(strings.TrimSpace(rule))
	var b strings.Builder
	found := false
	for _, e := range Explanations {
		if e.Rule != rule {
			continue
		}
		if found {
			b.WriteString("\n")
		}
		found = true
		b.WriteString(e.Rule)
		if e.Before != "" {
			fmt.Fprintf(&b, " (%s)", e.Format)
		}
		fmt.Fprintf(&b, "\n\nWhat it means:\n%s\n", indent(e.Means))
		if e.Before != "" {
			fmt.Fprintf(&b, "\nExample that breaks it (checked BACKWARD):\n  before:\n%s\n  after:\n%s\n", indent(indent(e.Before)), indent(indent(e.Broken)))
		}
		fmt.Fprintf(&b, "\nHow to evolve safely:\n%s\n", indent(e.How))
		if e.Safe != "" {
			fmt.Fprintf(&b, "  for example:\n%s\n", indent(indent(e.Safe)))
		}
	}
	if !found {
		var names []string
		seen := map[string]bool{}
		for _, e := range Explanations {
			if !seen[e.Rule] {
				seen[e.Rule] = true
				names = append(names, e.Rule)
			}
		}
		sort.Strings(names)
		return &UnknownRuleError{Rule: rule, Known: names}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
