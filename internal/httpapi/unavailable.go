package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Unavailable is the error of a request the server cannot serve now but
// may shortly, because a part it needs (the bus, a database) does not
// answer. Nothing was changed. It answers 503 with Retry-After.
type Unavailable struct {
	// Message is what the caller reads: what is down and what to do.
	Message string
	// RetryAfter is when to try again; at least a second.
	RetryAfter time.Duration
	// Err is the cause, logged and never shown.
	Err error
}

func (u *Unavailable) Error() string {
	if u.Err == nil {
		return u.Message
	}
	return u.Message + ": " + u.Err.Error()
}

// Unwrap returns the cause.
func (u *Unavailable) Unwrap() error { return u.Err }

// CodeUnavailable is the problem code of an Unavailable error.
const CodeUnavailable = "unavailable"

// retryAfter is the Retry-After of err, in whole seconds, if it is (or
// wraps) an Unavailable error.
func retryAfter(err error) (string, bool) {
	var u *Unavailable
	if !errors.As(err, &u) {
		return "", false
	}
	return strconv.Itoa(max(1, int((u.RetryAfter+time.Second-1)/time.Second))), true
}

// unavailableProblem is the problem of an Unavailable error.
func unavailableProblem(u *Unavailable) Problem {
	return Problem{Type: "/problems/" + CodeUnavailable, Title: http.StatusText(http.StatusServiceUnavailable),
		Status: http.StatusServiceUnavailable, Detail: u.Message, Code: CodeUnavailable}
}

// SetRetryAfter sets the Retry-After header of an Unavailable error's
// answer; it does nothing for other errors.
func SetRetryAfter(c *fiber.Ctx, err error) {
	if s, ok := retryAfter(err); ok {
		c.Set(fiber.HeaderRetryAfter, s)
	}
}
