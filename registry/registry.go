// Package registry holds what the Confluent-compatible schema registry and
// its clients share: the REST API's JSON shapes and its error codes, and
// [Client], the client every part of schemaflow calls a registry with.
//
// The server is in registry/server; storage backends in registry/store.
//
// # Why our own client
//
// The design named github.com/riferrei/srclient (v0.7.4) as the client.
// Client replaced it for two reasons found in srclient's code:
//
//   - No context: srclient's calls take none (its requests are built
//     with http.NewRequest), so a pipeline that stops, or a stuck
//     registry, cannot cancel a call in flight; a graceful shutdown would
//     wait for the HTTP timeout. Every Client call takes a
//     context.Context.
//   - "latest" cached forever: with caching on, srclient keys its
//     subject cache by subject and version string, so GetLatestSchema
//     answers the first "latest" it saw for the life of the process,
//     after other writers registered newer versions. Client caches only
//     what never changes (a schema by id).
//
// Client also retries network errors and 5xx answers with jittered
// backoff (internal/retry), returns the registry's errors as *Error with
// their code, and supports references and schema types. srclient
// stays in the tests as the reference client: the server's tests check
// that a real third-party client works against it.
package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Reference names a schema another schema imports.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// RegisterRequest is the body of register, lookup and compatibility calls.
type RegisterRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Version    int         `json:"version,omitempty"`
	ID         int         `json:"id,omitempty"`
	// Metadata and RuleSet are Confluent's data-contract fields (a JSON
	// object each), stored and returned as given; part of the schema's
	// identity. Rules are not enforced.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	RuleSet  json.RawMessage `json:"ruleSet,omitempty"`
}

// Schema is a registered schema version.
type Schema struct {
	Subject    string          `json:"subject,omitempty"`
	Version    int             `json:"version,omitempty"`
	ID         int             `json:"id"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Schema     string          `json:"schema"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	Deleted    bool            `json:"deleted,omitempty"`
}

// RegisterResponse answers a register call.
type RegisterResponse struct {
	ID int `json:"id"`
}

// SchemaString answers GET /schemas/ids/{id}.
type SchemaString struct {
	Schema     string          `json:"schema"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Config is a compatibility configuration as GET /config returns it.
// The data-contract fields are merged into the metadata and rule set of
// each new version: defaults under what the registration gives (or the
// previous version had), overrides over it.
type Config struct {
	CompatibilityLevel string          `json:"compatibilityLevel"`
	Normalize          bool            `json:"normalize,omitempty"`
	DefaultMetadata    json.RawMessage `json:"defaultMetadata,omitempty"`
	OverrideMetadata   json.RawMessage `json:"overrideMetadata,omitempty"`
	DefaultRuleSet     json.RawMessage `json:"defaultRuleSet,omitempty"`
	OverrideRuleSet    json.RawMessage `json:"overrideRuleSet,omitempty"`
}

// ConfigUpdate is the body of PUT /config; note the key "compatibility".
// Fields left out keep their value.
type ConfigUpdate struct {
	Compatibility    string          `json:"compatibility,omitempty"`
	Normalize        *bool           `json:"normalize,omitempty"`
	DefaultMetadata  json.RawMessage `json:"defaultMetadata,omitempty"`
	OverrideMetadata json.RawMessage `json:"overrideMetadata,omitempty"`
	DefaultRuleSet   json.RawMessage `json:"defaultRuleSet,omitempty"`
	OverrideRuleSet  json.RawMessage `json:"overrideRuleSet,omitempty"`
}

// Mode is a registry or subject mode.
type Mode struct {
	Mode string `json:"mode"`
}

// The modes.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

// CompatibilityResponse answers a compatibility check.
type CompatibilityResponse struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// Schema types as the registry names them.
const (
	TypeAvro     = "AVRO"
	TypeProtobuf = "PROTOBUF"
	TypeJSON     = "JSON"
)

// NormalizeType returns the registry name of a schema type, "" meaning
// AVRO, and false for an unknown type.
func NormalizeType(t string) (string, bool) {
	switch strings.ToUpper(t) {
	case "", TypeAvro:
		return TypeAvro, true
	case TypeProtobuf:
		return TypeProtobuf, true
	case TypeJSON:
		return TypeJSON, true
	}
	return "", false
}

// Error codes of the Confluent REST API.
const (
	CodeSubjectNotFound          = 40401
	CodeVersionNotFound          = 40402
	CodeSchemaNotFound           = 40403
	CodeSubjectSoftDeleted       = 40404
	CodeSubjectNotSoftDeleted    = 40405
	CodeVersionSoftDeleted       = 40406
	CodeVersionNotSoftDeleted    = 40407
	CodeSubjectConfigNotFound    = 40408
	CodeSubjectModeNotFound      = 40409
	CodeIncompatible             = 409
	CodeInvalidSchema            = 42201
	CodeInvalidVersion           = 42202
	CodeInvalidCompatibility     = 42203
	CodeInvalidMode              = 42204
	CodeOperationNotPermitted    = 42205
	CodeReferenceExists          = 42206
	CodeImportIDMismatch         = 42207
	CodeInvalidSubject           = 42208
	CodeSchemaTooLarge           = 42209
	CodeContextNotEmpty          = 42211
	CodeStoreError               = 50001
	CodeUnprocessableEntityError = 422
)

// Error is an API error: an HTTP status and Confluent's error body.
type Error struct {
	Status  int    `json:"-"`
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("registry: %s (error %d)", e.Message, e.Code) }

// Errorf returns an *Error whose HTTP status follows from its code, as in
// Confluent: 404 for 404xx, 409 for 409xx, 422 for 422xx, 500 for 500xx.
func Errorf(code int, format string, args ...any) *Error {
	status := http.StatusInternalServerError
	switch {
	case code == 409 || code/100 == 409:
		status = http.StatusConflict
	case code/100 == 404:
		status = http.StatusNotFound
	case code/100 == 422 || code == 422:
		status = http.StatusUnprocessableEntity
	case code/100 == 400:
		status = http.StatusBadRequest
	}
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}
