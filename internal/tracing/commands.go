package tracing

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/order"
)

// CommandSide is a stage's command side: each call changes one order and
// acknowledges with its new version (bff.Commands, stage 3's Commands and
// its command bus's Handlers have this shape).
type CommandSide interface {
	PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error)
	ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error)
	ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error)
	DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error)
	CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error)
	DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error)
}

// Commands decorates a command side: each command run within a trace is
// a span named prefix + its type ("handler ShipOrder"), with the order it
// is for and, once handled, the version it made. A command run outside
// any trace starts none. With a nil tracer it returns c.
func Commands(t trace.Tracer, step, prefix string, c CommandSide) CommandSide {
	if t == nil {
		return c
	}
	return &commands{next: c, tracer: t, step: attribute.String(string(AttrStep), step), prefix: prefix}
}

type commands struct {
	next   CommandSide
	tracer trace.Tracer
	step   attribute.KeyValue
	prefix string
}

func (c *commands) PlaceOrder(ctx context.Context, cmd order.PlaceOrder) (order.Ack, error) {
	return traced(ctx, c, "PlaceOrder", cmd.ID, cmd, c.next.PlaceOrder)
}

func (c *commands) ChangeOrderLines(ctx context.Context, cmd order.ChangeOrderLines) (order.Ack, error) {
	return traced(ctx, c, "ChangeOrderLines", cmd.ID, cmd, c.next.ChangeOrderLines)
}

func (c *commands) ShipOrder(ctx context.Context, cmd order.ShipOrder) (order.Ack, error) {
	return traced(ctx, c, "ShipOrder", cmd.ID, cmd, c.next.ShipOrder)
}

func (c *commands) DeliverOrder(ctx context.Context, cmd order.DeliverOrder) (order.Ack, error) {
	return traced(ctx, c, "DeliverOrder", cmd.ID, cmd, c.next.DeliverOrder)
}

func (c *commands) CancelOrder(ctx context.Context, cmd order.CancelOrder) (order.Ack, error) {
	return traced(ctx, c, "CancelOrder", cmd.ID, cmd, c.next.CancelOrder)
}

func (c *commands) DeleteOrder(ctx context.Context, cmd order.DeleteOrder) (order.Ack, error) {
	return traced(ctx, c, "DeleteOrder", cmd.ID, cmd, c.next.DeleteOrder)
}

// traced runs one command in its span, when it runs within a trace.
func traced[C any](ctx context.Context, c *commands, typ string, id order.ID, cmd C, next func(context.Context, C) (order.Ack, error)) (order.Ack, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return next(ctx, cmd)
	}
	ctx, span := c.tracer.Start(ctx, c.prefix+typ, trace.WithAttributes(c.step, AttrOrderID.String(id.String()),
		attribute.String("staircase.command", typ)))
	defer span.End()
	ack, err := next(ctx, cmd)
	if err != nil {
		span.SetStatus(codes.Error, order.ErrorMessage(err))
		span.SetAttributes(attribute.String("staircase.error_code", order.ErrorCode(err)))
		return ack, err
	}
	if ack.Version > 0 {
		span.SetAttributes(AttrVersion.Int(ack.Version))
	}
	if ack.Accepted {
		span.SetAttributes(AttrAccepted.Bool(true), attribute.String("staircase.command_id", ack.CommandID))
	}
	return ack, nil
}

// Queries is a stage's query side (bff.Queries).
type Queries interface {
	OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error)
	OrderDetail(ctx context.Context, id order.ID) (order.Detail, error)
	Dashboard(ctx context.Context) (order.Dashboard, error)
}

// StagePort is a stage as the BFF sees it (bff.Stage): its command and
// query sides and its JSON API.
type StagePort interface {
	CommandSide
	Queries
	Routes(r fiber.Router)
}

// Stage decorates a stage that has nothing to instrument of its own
// (stages 0–2: one database, no bus): its command side, its queries and
// its JSON API each make a span named after stage n, within the trace of
// the request that calls them (the live streams' reads start none). With
// t nil it returns st.
func Stage(t *Tracing, n int, st StagePort) StagePort {
	if t == nil {
		return st
	}
	prefix := "stage " + strconv.Itoa(n) + " · "
	tr := t.Tracer()
	return &stage{CommandSide: Commands(tr, StepStage, prefix, st), queries: st, routes: st, tracer: tr, prefix: prefix,
		step: trace.WithAttributes(AttrStep.String(StepStage))}
}

type stage struct {
	CommandSide
	queries Queries
	routes  interface{ Routes(fiber.Router) }
	tracer  trace.Tracer
	prefix  string
	step    trace.SpanStartOption
}

func (s *stage) OrderSummaries(ctx context.Context, q order.SummaryQuery) (order.SummaryPage, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return s.queries.OrderSummaries(ctx, q)
	}
	ctx, span := s.tracer.Start(ctx, s.prefix+"OrderSummaries", s.step)
	defer span.End()
	p, err := s.queries.OrderSummaries(ctx, q)
	failed(span, err)
	return p, err
}

func (s *stage) OrderDetail(ctx context.Context, id order.ID) (order.Detail, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return s.queries.OrderDetail(ctx, id)
	}
	ctx, span := s.tracer.Start(ctx, s.prefix+"OrderDetail", s.step, trace.WithAttributes(AttrOrderID.String(id.String())))
	defer span.End()
	d, err := s.queries.OrderDetail(ctx, id)
	failed(span, err)
	return d, err
}

func (s *stage) Dashboard(ctx context.Context) (order.Dashboard, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return s.queries.Dashboard(ctx)
	}
	ctx, span := s.tracer.Start(ctx, s.prefix+"Dashboard", s.step)
	defer span.End()
	d, err := s.queries.Dashboard(ctx)
	failed(span, err)
	return d, err
}

// Routes mounts the stage's API behind a middleware that makes a span of
// each of its requests, named after the command ("stage 2 · ship-order")
// or the route ("stage 0 · PUT /api/orders/:id").
func (s *stage) Routes(r fiber.Router) {
	r.Use(func(c *fiber.Ctx) error {
		if !trace.SpanFromContext(c.UserContext()).IsRecording() {
			return c.Next()
		}
		ctx, span := s.tracer.Start(c.UserContext(), s.prefix+"API", s.step)
		defer span.End()
		outer := c.UserContext()
		c.SetUserContext(ctx)
		err := c.Next()
		c.SetUserContext(outer)
		if name := c.Params("name"); name != "" {
			span.SetName(s.prefix + name)
		} else {
			span.SetName(s.prefix + c.Method() + " " + c.Route().Path)
		}
		if id := c.Params("id"); id != "" {
			if oid, perr := order.ParseID(id); perr == nil {
				span.SetAttributes(AttrOrderID.String(oid.String()))
			}
		}
		if v := answeredVersion(c); v > 0 {
			span.SetAttributes(AttrVersion.Int(v))
		}
		if err != nil {
			span.SetStatus(codes.Error, order.ErrorMessage(err))
		}
		return err
	})
	s.routes.Routes(r)
}

// answeredVersion is the order version a stage's API answered: its ETag
// (the modify APIs), or the "version" of the order it sent back (stage
// 0's CRUD API); 0 if neither.
func answeredVersion(c *fiber.Ctx) int {
	if v, err := strconv.Atoi(strings.Trim(c.GetRespHeader(fiber.HeaderETag), `"`)); err == nil {
		return v
	}
	if c.Method() == fiber.MethodGet || !strings.HasPrefix(c.GetRespHeader(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return 0
	}
	var o struct {
		Version int `json:"version"`
	}
	if json.Unmarshal(c.Response().Body(), &o) != nil {
		return 0
	}
	return o.Version
}

// failed marks span as failed with err, if any.
func failed(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, order.ErrorMessage(err))
	}
}
