package mongowire

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// MongoDB error codes answered by the server.
const (
	codeInternalError                      = 1
	codeBadValue                           = 2
	codeFailedToParse                      = 9
	codeTypeMismatch                       = 14
	codeNamespaceNotFound                  = 26
	codeIndexNotFound                      = 27
	codeCursorNotFound                     = 43
	codeNamespaceExists                    = 48
	codeCommandNotFound                    = 59
	codeInvalidOptions                     = 72
	codeInvalidNamespace                   = 73
	codeOperationNotSupportedInTransaction = 263
	codeNotImplemented                     = 238
	codeChangeStreamHistoryLost            = 286
	codeDuplicateKey                       = 11000
	codeUnknownField                       = 40415
)

var codeNames = map[int32]string{
	codeInternalError:                      "InternalError",
	codeBadValue:                           "BadValue",
	codeFailedToParse:                      "FailedToParse",
	codeTypeMismatch:                       "TypeMismatch",
	codeNamespaceNotFound:                  "NamespaceNotFound",
	codeIndexNotFound:                      "IndexNotFound",
	codeCursorNotFound:                     "CursorNotFound",
	codeNamespaceExists:                    "NamespaceExists",
	codeCommandNotFound:                    "CommandNotFound",
	codeInvalidOptions:                     "InvalidOptions",
	codeInvalidNamespace:                   "InvalidNamespace",
	codeOperationNotSupportedInTransaction: "OperationNotSupportedInTransaction",
	codeNotImplemented:                     "NotImplemented",
	codeChangeStreamHistoryLost:            "ChangeStreamHistoryLost",
	codeDuplicateKey:                       "DuplicateKey",
	codeUnknownField:                       "Location40415",
}

// CommandError is a command's failure, answered to the client as
// {ok: 0, errmsg, code, codeName}.
type CommandError struct {
	Code    int32
	Message string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s (%d): %s", codeNames[e.Code], e.Code, e.Message)
}

func cmdErr(code int32, format string, args ...any) *CommandError {
	return &CommandError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// notSupported answers a command or option the embedded engine does not
// implement, naming it.
func notSupported(what string) *CommandError {
	return cmdErr(codeNotImplemented, "%s is not supported by schemaflow dev's embedded MongoDB (lungo)", what)
}

// fromEngine turns a lungo error into a command error: duplicate keys
// become DuplicateKey (11000), as drivers expect.
func fromEngine(err error) *CommandError {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "duplicate document for index"), strings.Contains(msg, "duplicate key error"):
		return cmdErr(codeDuplicateKey, "E11000 duplicate key error: %s", msg)
	case strings.Contains(msg, "unable to resume change stream"):
		return cmdErr(codeChangeStreamHistoryLost, "the resume point is not in the oplog any more: %s", msg)
	}
	return cmdErr(codeBadValue, "%s", msg)
}

func (e *CommandError) doc() bson.D {
	return bson.D{
		{Key: "ok", Value: 0.0},
		{Key: "errmsg", Value: e.Message},
		{Key: "code", Value: e.Code},
		{Key: "codeName", Value: codeNames[e.Code]},
	}
}
