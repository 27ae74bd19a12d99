package stage0

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// API is stage 0's REST API: /api/orders, one resource, read and written
// through the same model.
type API struct {
	svc *Service
}

// NewAPI returns the API over a service.
func NewAPI(svc *Service) *API { return &API{svc: svc} }

// Routes mounts the API. Handlers return errors; the router's error handler
// turns them into problem JSON.
func (a *API) Routes(r fiber.Router) {
	r.Get("/api/orders", a.list)
	r.Post("/api/orders", a.create)
	r.Get("/api/orders/:id", a.get)
	r.Put("/api/orders/:id", a.update)
	r.Delete("/api/orders/:id", a.delete)
}

func (a *API) list(c *fiber.Ctx) error {
	q, err := httpapi.SummaryQueryFrom(c)
	if err != nil {
		return err
	}
	orders, next, err := a.svc.List(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := httpapi.OrderList{Orders: make([]httpapi.Order, len(orders)), Next: next}
	for i, o := range orders {
		out.Orders[i] = httpapi.FromOrder(o)
	}
	return c.JSON(out)
}

func (a *API) create(c *fiber.Ctx) error {
	var req httpapi.OrderRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	cmd, err := req.PlaceOrder()
	if err != nil {
		return err
	}
	o, _, err := a.svc.Create(c.UserContext(), cmd)
	if err != nil {
		return err
	}
	// A repeated create answers as the first one did: the same order, 201.
	c.Location("/api/orders/" + o.ID.String())
	return c.Status(http.StatusCreated).JSON(httpapi.FromOrder(o))
}

func (a *API) get(c *fiber.Ctx) error {
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	o, err := a.svc.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(httpapi.FromOrder(o))
}

// updateRequest is the body of PUT: an order as GET returns it, changed.
// The read-only fields may be sent back as they were; version, when given,
// is the version the client read (a stale one is a conflict).
type updateRequest struct {
	ID         *string        `json:"id"`
	Customer   *string        `json:"customer"`
	Address    *string        `json:"address"`
	Currency   *string        `json:"currency"`
	Lines      []httpapi.Line `json:"lines"`
	Status     string         `json:"status"`
	Reason     string         `json:"reason"`
	Version    int            `json:"version"`
	TotalCents *int64         `json:"total_cents"`
	CreatedAt  *time.Time     `json:"created_at"`
	UpdatedAt  *time.Time     `json:"updated_at"`
}

func (a *API) update(c *fiber.Ctx) error {
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	var req updateRequest
	if err := httpapi.Decode(c.Body(), &req); err != nil {
		return err
	}
	if req.ID != nil && !strings.EqualFold(strings.TrimSpace(*req.ID), id.String()) {
		return fieldError("id", "must be the ID in the URL")
	}
	if req.Status != "" && !order.Status(req.Status).Valid() {
		return fieldError("status", "must be one of placed, shipped, delivered, cancelled")
	}
	o, err := a.svc.Update(c.UserContext(), id, func(o *order.Order, now time.Time) error {
		return applyUpdate(o, req, now)
	})
	if err != nil {
		return err
	}
	return c.JSON(httpapi.FromOrder(o))
}

// applyUpdate turns a PUT of the whole order into the changes the rules know.
func applyUpdate(o *order.Order, req updateRequest, now time.Time) error {
	if req.Version != 0 && req.Version != o.Version {
		return order.VersionConflict(o, req.Version)
	}
	fixed := map[string]*string{"customer": req.Customer, "address": req.Address, "currency": req.Currency}
	current := map[string]string{"customer": o.Customer, "address": o.Address, "currency": o.Currency}
	for _, f := range []string{"customer", "address", "currency"} {
		if v := fixed[f]; v != nil && !strings.EqualFold(strings.TrimSpace(*v), current[f]) {
			return fieldError(f, "cannot change once the order is placed")
		}
	}
	if req.Lines != nil {
		lines := httpapi.ToLines(req.Lines)
		if !order.SameLines(o.Lines, lines) {
			if _, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: lines}, now); err != nil {
				return err
			}
		}
	}
	target := order.Status(req.Status)
	var err error
	switch {
	case target == "" || target == o.Status:
	case target == order.Shipped:
		_, err = o.Ship(order.ShipOrder{ID: o.ID}, now)
	case target == order.Delivered:
		_, err = o.Deliver(order.DeliverOrder{ID: o.ID}, now)
	case target == order.Cancelled:
		_, err = o.Cancel(order.CancelOrder{ID: o.ID, Reason: req.Reason}, now)
	default:
		e := order.Errorf(order.ECONFLICT, "cannot move an order from %s back to %s", o.Status, target)
		e.Current = o
		err = e
	}
	return err
}

func (a *API) delete(c *fiber.Ctx) error {
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	expected := 0
	if v := c.Query("expected_version"); v != "" {
		if expected, err = strconv.Atoi(v); err != nil || expected < 1 {
			return fieldError("expected_version", "must be a positive whole number")
		}
	}
	if _, err := a.svc.Delete(c.UserContext(), id, expected); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func fieldError(field, msg string) error {
	return &order.Error{Code: order.EINVALID, Message: "the request is not valid",
		Fields: []order.FieldError{{Field: field, Message: msg}}}
}
