package order

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. The HTTP layer maps each code to a status in exactly one place.
const (
	EINVALID  = "invalid"   // the request breaks a rule of its own shape (field errors say where)
	ENOTFOUND = "not_found" // no order with that ID
	ECONFLICT = "conflict"  // the order's state or version does not allow the change
	EINTERNAL = "internal"  // anything the caller cannot fix
)

// FieldError names one field of a request and what is wrong with it. Field
// uses the JSON names: "customer", "lines", "lines[2].quantity".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a domain error with a code, a human message and, for EINVALID,
// the field errors.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// Current is the order as it is now, set on ECONFLICT when it is known so
	// that a caller can show the fresh state.
	Current *Order
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return e.Message + " (" + strings.Join(parts, "; ") + ")"
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a
// generic message for other errors (their text may hold internals).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// FieldErrors returns the field errors of err, if it is an EINVALID *Error.
func FieldErrors(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// NotFound is the error for a missing order.
func NotFound(id ID) *Error {
	return Errorf(ENOTFOUND, "order %s not found", id)
}

// VersionConflict is the error for a write based on a stale version.
func VersionConflict(current *Order, expected int) *Error {
	e := Errorf(ECONFLICT, "order changed meanwhile: expected version %d, it is at version %d", expected, current.Version)
	e.Current = current
	return e
}

// fieldErrors collects field errors while a request is checked.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "the order is not valid", Fields: fe}
}
