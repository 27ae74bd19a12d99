package stage1

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// Queries is the query side the retrieve API reads. OrderDetail returns an
// ENOTFOUND error for an unknown order; OrderSummaries an EINVALID one for
// a bad query.
type Queries interface {
	OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error)
	OrderDetail(ctx context.Context, id order.ID) (order.Detail, error)
	Dashboard(ctx context.Context) (order.Dashboard, error)
}

// queryRoutes mounts the retrieve API: GET /api/queries/order-summaries
// (filters status, q, limit, after), /api/queries/orders/{id} (with the
// version it saw as ETag) and /api/queries/dashboard. Each answer says the
// version of every order it shows and the side it read from.
func queryRoutes(r fiber.Router, qs Queries) {
	r.Get("/api/queries/order-summaries", func(c *fiber.Ctx) error {
		q, err := httpapi.SummaryQueryFrom(c)
		if err != nil {
			return err
		}
		page, err := qs.OrderSummaries(c.UserContext(), q)
		if err != nil {
			return err
		}
		return c.JSON(httpapi.FromSummaryPage(page))
	})
	r.Get("/api/queries/orders/:id", func(c *fiber.Ctx) error {
		id, err := httpapi.ParseIDParam(c.Params("id"))
		if err != nil {
			return err
		}
		d, err := qs.OrderDetail(c.UserContext(), id)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderETag, httpapi.ETag(d.Version))
		return c.JSON(httpapi.FromDetail(d))
	})
	r.Get("/api/queries/dashboard", func(c *fiber.Ctx) error {
		d, err := qs.Dashboard(c.UserContext())
		if err != nil {
			return err
		}
		return c.JSON(httpapi.FromDashboard(d))
	})
}
