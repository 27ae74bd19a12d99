package stage0

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/order"
)

// Stage is stage 0 behind the BFF's ports: every command is a CRUD call on
// the service and every query reads the rows the writes go to.
type Stage struct {
	svc *Service
	api *API
}

// New returns stage 0 on the write database.
func New(db *bun.DB) *Stage {
	svc := NewService(db)
	return &Stage{svc: svc, api: NewAPI(svc)}
}

// Routes mounts /api/orders.
func (s *Stage) Routes(r fiber.Router) { s.api.Routes(r) }

// PlaceOrder creates the order.
func (s *Stage) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	o, _, err := s.svc.Create(ctx, cmd)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

func (s *Stage) update(ctx context.Context, id order.ID, change func(o *order.Order, now time.Time) error) (order.Ack, error) {
	o, err := s.svc.Update(ctx, id, change)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

// ChangeOrderLines updates the order's lines.
func (s *Stage) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return s.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.ChangeLines(cmd, now)
		return err
	})
}

// ShipOrder updates the order's status to shipped.
func (s *Stage) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return s.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Ship(cmd, now)
		return err
	})
}

// DeliverOrder updates the order's status to delivered.
func (s *Stage) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return s.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Deliver(cmd, now)
		return err
	})
}

// CancelOrder updates the order's status to cancelled.
func (s *Stage) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return s.update(ctx, cmd.ID, func(o *order.Order, now time.Time) error {
		_, err := o.Cancel(cmd, now)
		return err
	})
}

// DeleteOrder deletes the order.
func (s *Stage) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	o, err := s.svc.Delete(ctx, cmd.ID, cmd.ExpectedVersion)
	if err != nil {
		return order.Ack{}, err
	}
	return order.Ack{ID: o.ID, Version: o.Version}, nil
}

// OrderSummaries lists the rows, lines and all, and sums them up.
func (s *Stage) OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	orders, next, err := s.svc.List(ctx, q)
	if err != nil {
		return order.SummaryPage{}, err
	}
	page := order.SummaryPage{Orders: make([]order.Summary, len(orders)), Next: next, Source: order.WriteModel}
	for i, o := range orders {
		page.Orders[i] = order.Summary{
			ID: o.ID, Customer: o.Customer, Status: o.Status, Currency: o.Currency, LineCount: len(o.Lines),
			TotalCents: o.TotalCents(), Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		}
	}
	return page, nil
}

// OrderDetail reads the row.
func (s *Stage) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	o, err := s.svc.Get(ctx, id)
	if err != nil {
		return order.Detail{}, err
	}
	return order.Detail{Order: *o, TotalCents: o.TotalCents(), Source: order.WriteModel}, nil
}

// Dashboard aggregates the rows.
func (s *Stage) Dashboard(ctx context.Context) (order.Dashboard, error) {
	return s.svc.Dashboard(ctx)
}
