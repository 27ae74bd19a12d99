package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

// Line is an order line in JSON.
type Line struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// OrderRequest is the body that places an order.
type OrderRequest struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Address  string `json:"address"`
	Currency string `json:"currency,omitempty"`
	Lines    []Line `json:"lines"`
}

// Order is an order in JSON: the request's fields plus what the shop adds.
type Order struct {
	ID         string    `json:"id"`
	Customer   string    `json:"customer"`
	Address    string    `json:"address"`
	Currency   string    `json:"currency"`
	Lines      []Line    `json:"lines"`
	Status     string    `json:"status"`
	Version    int       `json:"version"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// OrderList is a page of orders.
type OrderList struct {
	Orders []Order `json:"orders"`
	Next   string  `json:"next"`
}

// FromOrder renders an order.
func FromOrder(o *order.Order) Order {
	return Order{
		ID: o.ID.String(), Customer: o.Customer, Address: o.Address, Currency: o.Currency,
		Lines: FromLines(o.Lines), Status: string(o.Status), Version: o.Version,
		TotalCents: o.TotalCents(), CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(),
	}
}

// FromLines renders lines, never as null.
func FromLines(ls []order.Line) []Line {
	out := make([]Line, len(ls))
	for i, l := range ls {
		out[i] = Line(l)
	}
	return out
}

// ToLines reads lines.
func ToLines(ls []Line) []order.Line {
	out := make([]order.Line, len(ls))
	for i, l := range ls {
		out[i] = order.Line(l)
	}
	return out
}

// PlaceOrder reads the command a request asks for.
func (r OrderRequest) PlaceOrder() (order.PlaceOrder, error) {
	id, err := order.ParseID(r.ID)
	if err != nil {
		return order.PlaceOrder{}, err
	}
	return order.PlaceOrder{ID: id, Customer: r.Customer, Address: r.Address, Currency: r.Currency, Lines: ToLines(r.Lines)}, nil
}

// MaxBody is the largest JSON body the APIs read; the server refuses larger
// ones with 413 before a handler runs.
const MaxBody = 256 << 10

// Decode reads one JSON value from body into v strictly. A body that is
// not one JSON object (empty, malformed, cut short, trailing data) is a
// Malformed error (400); unknown fields, wrong types and numbers out of
// range in a well-formed object are EINVALID errors (422) that name the
// field when they can.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("the request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("the request body must hold one JSON object and nothing after it")
	}
	return nil
}

// Malformed is the error of a request that cannot be read at all, as
// opposed to one that reads but breaks a rule: it answers 400, not 422.
// Its code is still EINVALID (order.ErrorCode sees through it).
type Malformed struct{ Err *order.Error }

func (m Malformed) Error() string { return m.Err.Error() }

// Unwrap returns the domain error inside.
func (m Malformed) Unwrap() error { return m.Err }

func malformed(msg string) error {
	return Malformed{&order.Error{Code: order.EINVALID, Message: msg}}
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return malformed(fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field // e.g. "lines.quantity": the decoder does not know the index
		if field == "" {
			return malformed("the request body must be a JSON object")
		}
		msg := "must be " + jsonKind(typ.Type.Kind().String())
		if typ.Value == "number" || strings.HasPrefix(typ.Value, "number ") {
			msg = "must be a whole number in range"
		}
		return invalid(field, msg)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("malformed JSON: the body ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(name, "is not a field of this request")
	}
	return malformed("malformed JSON")
}

func invalid(field, msg string) error {
	return &order.Error{Code: order.EINVALID, Message: "the request body is not valid",
		Fields: []order.FieldError{{Field: field, Message: msg}}}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "a whole number"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

// ParseIDParam reads an order ID from a path parameter; a malformed one is
// reported as not found, since no order can have it.
func ParseIDParam(s string) (order.ID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, order.Errorf(order.ENOTFOUND, "no order has the ID %q", s)
	}
	return id, nil
}

// SummaryQueryFrom reads the list filters from the query string: status, q,
// limit and after.
func SummaryQueryFrom(c *fiber.Ctx) (order.SummaryQuery, error) {
	q := order.SummaryQuery{Status: order.Status(c.Query("status")), Q: c.Query("q"), After: c.Query("after")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			n = -1 // out of range: Normalize says so, beside the other filters' errors
		}
		q.Limit = n
	}
	return q.Normalize()
}
