package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/order"
)

// Problem is an RFC 9457 problem detail, with the field errors of an
// invalid request and the current version of an order on a conflict.
type Problem struct {
	Type           string             `json:"type"`
	Title          string             `json:"title"`
	Status         int                `json:"status"`
	Detail         string             `json:"detail,omitempty"`
	Instance       string             `json:"instance,omitempty"`
	Code           string             `json:"code,omitempty"`
	Errors         []order.FieldError `json:"errors,omitempty"`
	CurrentVersion int                `json:"current_version,omitempty"`
}

// ProblemContentType is the media type of problem responses.
const ProblemContentType = "application/problem+json"

// StatusOf maps a domain error code to an HTTP status. It is the only such
// mapping in Staircase.
func StatusOf(code string) int {
	switch code {
	case order.EINVALID:
		return http.StatusUnprocessableEntity
	case order.ENOTFOUND:
		return http.StatusNotFound
	case order.ECONFLICT:
		return http.StatusConflict
	case "":
		return http.StatusOK
	}
	return http.StatusInternalServerError
}

// ProblemFor builds the problem for any error: domain errors keep their
// message and fields, *fiber.Error keeps its status and message, anything
// else is an internal error whose text is logged, never shown.
func ProblemFor(err error) Problem {
	var u *Unavailable
	if errors.As(err, &u) {
		return unavailableProblem(u)
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return Problem{Type: "about:blank", Title: http.StatusText(fe.Code), Status: fe.Code, Detail: fe.Message, Code: codeForStatus(fe.Code)}
	}
	var de *order.Error
	if errors.As(err, &de) {
		status := StatusOf(de.Code)
		if m := (Malformed{}); errors.As(err, &m) {
			status = http.StatusBadRequest
		}
		p := Problem{
			Type: "/problems/" + de.Code, Title: titleFor(de.Code), Status: status,
			Detail: de.Message, Code: de.Code, Errors: de.Fields,
		}
		if de.Current != nil {
			p.CurrentVersion = de.Current.Version
		}
		if status == http.StatusInternalServerError {
			p.Detail = "internal error"
		}
		return p
	}
	return Problem{Type: "/problems/internal", Title: titleFor(order.EINTERNAL), Status: http.StatusInternalServerError,
		Detail: "internal error", Code: order.EINTERNAL}
}

func titleFor(code string) string {
	switch code {
	case order.EINVALID:
		return "Invalid request"
	case order.ENOTFOUND:
		return "Not found"
	case order.ECONFLICT:
		return "Conflict"
	}
	return "Internal error"
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return order.ENOTFOUND
	case http.StatusConflict:
		return order.ECONFLICT
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge,
		http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		return order.EINVALID
	}
	if status >= 500 {
		return order.EINTERNAL
	}
	return ""
}

// WriteProblem answers c with the problem for err, logging internal errors.
func WriteProblem(c *fiber.Ctx, err error) error {
	p := ProblemFor(err)
	if p.Status >= 500 {
		slog.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	p.Instance = c.Path()
	SetRetryAfter(c, err)
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, ProblemContentType)
	return c.JSON(p, ProblemContentType)
}
