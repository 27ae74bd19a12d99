package bff

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/tracing"
	"github.com/staircase/staircase/web"
)

// Request traces: every click and API call (not the assets, probes and
// live streams) is the root span of a trace that the stages carry on
// through their seams; /traces lists the recent ones, /traces/{id} shows
// one as a waterfall, and ?request= and ?order= find the trace of a
// response's X-Request-Id and the traces that touched an order.

// untraced are the paths whose GETs make no trace: assets, probes, the
// metrics scrape, live streams and polls, and the traces pages themselves,
// which would push the requests worth seeing out of the ring.
var untraced = []string{"/static/", "/metrics", "/healthz", "/readyz", "/traces", "/live/", "/architecture/live",
	"/admin/error-log/badge", "/rebuild/events", "/orders/new/line", "/favicon.ico"}

func traced(c *fiber.Ctx) bool {
	if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
		return true
	}
	p := c.Path()
	for _, u := range untraced {
		if strings.HasPrefix(p, u) {
			return false
		}
	}
	return true
}

// traceRequests makes each traced request the server span its work joins
// (through the request's context). A request that carries a W3C
// traceparent continues the caller's trace.
func (s *Server) traceRequests(c *fiber.Ctx) error {
	if s.tracer == nil || !traced(c) {
		return c.Next()
	}
	ctx := c.UserContext()
	if len(c.Request().Header.Peek("traceparent")) > 0 {
		ctx = tracing.Extract(ctx, map[string]string{
			"traceparent": string(c.Request().Header.Peek("traceparent")),
			"tracestate":  string(c.Request().Header.Peek("tracestate")),
		})
	}
	// Fiber's strings point into buffers it reuses: the span keeps a copy
	// (the name), and the path is part of it.
	method := methodName(c.Method())
	name := method + " " + c.Path()
	path := name[len(method)+1:]
	ctx, span := s.tracer.Start(ctx, name, tracing.ServerKind)
	defer span.End()
	c.SetUserContext(ctx)
	err := c.Next()
	status := c.Response().StatusCode()
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		tracing.AttrStep.String(tracing.StepHTTP), attribute.String("http.request.method", method), attribute.String("url.path", path),
		attribute.Int("http.response.status_code", status),
		attribute.String("http.route", routeOf(c)), // a route's pattern: not the request's buffer
		tracing.AttrRequestID.String(strings.Clone(c.GetRespHeader(fiber.HeaderXRequestID))))
	if n, ok := c.Locals(localStage).(int); ok {
		attrs = append(attrs, tracing.AttrStage.Int(n))
	}
	if id, ok := requestOrder(c); ok {
		attrs = append(attrs, tracing.AttrOrderID.String(id.String()))
	}
	span.SetAttributes(attrs...)
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	return err
}

// methodName is the request's method as a constant string (Fiber's
// points into the request's buffer).
func methodName(m string) string {
	for _, k := range []string{fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete, fiber.MethodHead, fiber.MethodPatch} {
		if m == k {
			return k
		}
	}
	return strings.Clone(m)
}

// requestOrder finds the order a request is about: in its path
// (/orders/{id}…, /api/…/orders/{id}), or the "id" of its form or JSON
// body (a command, a new order).
func requestOrder(c *fiber.Ctx) (order.ID, bool) {
	p := c.Path()
	if i := strings.Index(p, "/orders/"); i >= 0 {
		seg, _, _ := strings.Cut(p[i+len("/orders/"):], "/")
		if id, err := order.ParseID(seg); err == nil {
			return id, true
		}
	}
	if c.Method() != fiber.MethodPost && c.Method() != fiber.MethodPut {
		return order.ID{}, false
	}
	var raw string
	switch ct := string(c.Request().Header.ContentType()); {
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		var body struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(c.Body(), &body) != nil {
			return order.ID{}, false
		}
		raw = body.ID
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		raw = string(c.Request().PostArgs().Peek("id"))
	}
	id, err := order.ParseID(raw)
	return id, err == nil
}

// traceRoutes mounts the traces pages.
func (s *Server) traceRoutes(r fiber.Router) {
	r.Get("/traces", s.tracesPage)
	r.Get("/traces/:id", s.tracePage)
}

// tracesPage lists the recent traces, or those of one request or order.
// A request ID that names one trace goes to it.
func (s *Server) tracesPage(c *fiber.Ctx) error {
	ring := s.cfg.Tracing.Ring()
	v := web.TracesView{Off: ring == nil, Held: ring.Len(), Capacity: ring.Cap(), Exporting: s.cfg.Tracing.Exporting(), ClearURL: "/traces"}
	f := tracing.Filter{Limit: 100}
	if q := strings.TrimSpace(c.Query("request")); q != "" {
		if !goodRequestID(q) {
			return fiber.NewError(http.StatusBadRequest, "A request ID is a word of letters, digits, '.', '_' and '-' of at most 64 characters.")
		}
		f.Request = q
		v.Filter = "Request " + q
	}
	if q := strings.TrimSpace(c.Query("order")); q != "" {
		id, err := order.ParseID(q)
		if err != nil {
			return fiber.NewError(http.StatusBadRequest, "The order is not an order ID: "+strconv.Quote(q)+".")
		}
		f.Order = id.String()
		v.Filter = joinFilter(v.Filter, "Order "+id.String())
	}
	traces := ring.Traces(f)
	if f.Request != "" && len(traces) == 1 {
		return c.Redirect(traceURL(traces[0].ID), http.StatusSeeOther)
	}
	for _, t := range traces {
		v.Rows = append(v.Rows, traceRow(t))
	}
	return s.render(c, http.StatusOK, web.TracesPage(s.chrome(c, "Request traces", "traces"), v))
}

func joinFilter(a, b string) string {
	if a == "" {
		return b
	}
	return a + " · " + b
}

func traceURL(id trace.TraceID) string { return "/traces/" + id.String() }

func (s *Server) tracePage(c *fiber.Ctx) error {
	id, err := trace.TraceIDFromHex(c.Params("id"))
	if err != nil {
		return fiber.NewError(http.StatusNotFound, "There is no trace with this ID: a trace ID is 32 hexadecimal digits.")
	}
	t, ok := s.cfg.Tracing.Ring().Trace(id)
	if !ok {
		return fiber.NewError(http.StatusNotFound, "This trace is not kept any more: the server keeps only the most recent ones.")
	}
	v := traceView(t)
	return s.render(c, http.StatusOK, web.TracePage(s.chrome(c, "Trace · "+v.Name, "traces"), v))
}

// traceRow is a trace as a row of the list.
func traceRow(t tracing.Trace) web.TraceRow {
	root := t.Root()
	r := web.TraceRow{ID: t.ID.String(), URL: traceURL(t.ID), Spans: len(t.Spans), Request: t.Request,
		Started: t.Start().UTC().Format("15:04:05.000"), Duration: ms(t.End().Sub(t.Start()))}
	if root != nil {
		r.Name = root.Name()
	}
	labels := make([]string, 0, 8)
	for _, p := range tracePath(t) {
		labels = append(labels, p.Label)
	}
	r.Path = strings.Join(labels, " → ")
	for _, s := range t.Spans {
		r.Failed = r.Failed || s.Status().Code == codes.Error
	}
	return r
}

// traceView is a trace as a waterfall: the spans in tree order (children
// after their parent, by start), each placed on the trace's time line.
func traceView(t tracing.Trace) web.TraceView {
	start, end := t.Start(), t.End()
	total := end.Sub(start)
	v := web.TraceView{ID: t.ID.String(), Path: tracePath(t), Started: start.UTC().Format("2 Jan 2006, 15:04:05.000 UTC"),
		Duration: ms(total), Request: t.Request, Dropped: t.Dropped}
	if root := t.Root(); root != nil {
		v.Name = root.Name()
	}
	for _, o := range t.Orders {
		if id, err := order.ParseID(o); err == nil {
			v.Orders = append(v.Orders, web.Link{Label: o, URL: orderURL(id)})
		}
	}
	for _, n := range spanTree(t.Spans) {
		sp := n.span
		row := web.SpanRow{Name: sp.Name(), Step: stepOf(sp), Depth: n.depth,
			Start: "+" + ms(sp.StartTime().Sub(start)), Length: ms(sp.EndTime().Sub(sp.StartTime())),
			Details: spanDetails(sp), Failed: sp.Status().Code == codes.Error, Status: sp.Status().Description}
		if total > 0 {
			row.Offset = int(1000 * sp.StartTime().Sub(start) / total)
			row.Width = int(1000 * sp.EndTime().Sub(sp.StartTime()) / total)
		}
		v.Spans = append(v.Spans, row)
	}
	return v
}

type spanNode struct {
	span  sdktrace.ReadOnlySpan
	depth int
}

// spanTree gives each span (sorted by start) its depth in the tree of
// spans, keeping them in the order they started: a waterfall reads as the
// path in time, and the depth shows what ran inside what. A span whose
// parent is not in the trace is a root.
func spanTree(spans []sdktrace.ReadOnlySpan) []spanNode {
	parent := make(map[trace.SpanID]trace.SpanID, len(spans))
	for _, s := range spans {
		parent[s.SpanContext().SpanID()] = s.Parent().SpanID()
	}
	out := make([]spanNode, len(spans))
	for i, s := range spans {
		depth := 0
		for p, ok := parent[s.SpanContext().SpanID()]; ok && depth < len(spans); p, ok = parent[p] {
			if _, in := parent[p]; !in {
				break
			}
			depth++
		}
		out[i] = spanNode{span: s, depth: depth}
	}
	return out
}

// attr returns a span's attribute, if it has it.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func stepOf(s sdktrace.ReadOnlySpan) string {
	v, _ := attr(s, tracing.AttrStep)
	return v.AsString()
}

// spanDetails is what a span's attributes say to a reader.
func spanDetails(s sdktrace.ReadOnlySpan) string {
	var parts []string
	if v, ok := attr(s, "http.response.status_code"); ok {
		parts = append(parts, "status "+v.Emit())
	}
	if v, ok := attr(s, tracing.AttrStage); ok {
		parts = append(parts, "stage "+v.Emit())
	}
	if v, ok := attr(s, tracing.AttrVersion); ok {
		parts = append(parts, "v"+v.Emit())
	}
	if v, ok := attr(s, tracing.AttrAccepted); ok && v.AsBool() {
		parts = append(parts, "queued")
	}
	if v, ok := attr(s, "staircase.error_code"); ok {
		parts = append(parts, v.Emit())
	}
	if v, ok := attr(s, "db.namespace"); ok {
		parts = append(parts, v.Emit()+" database")
	}
	if d := s.Status().Description; d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, " · ")
}

// tracePath is the steps a traced request took, in the order they
// started, e.g. POST /api/commands/ship-order → command bus (queued 0.4 ms)
// → handler → change log → committed v4 → published → projected (lag 12 ms).
// The statements other than commits are left out: the waterfall has them.
func tracePath(t tracing.Trace) []web.PathStep {
	var (
		out        []web.PathStep
		committed  time.Time
		lastStep   string
		spans      = t.Spans
		versionFor = func(s sdktrace.ReadOnlySpan) string { return ancestorVersion(spans, s) }
	)
	for i, s := range spans {
		step := stepOf(s)
		label := ""
		switch step {
		case tracing.StepHTTP:
			if i == 0 || lastStep == "" {
				label = s.Name()
			}
		case tracing.StepStage:
			label = s.Name()
		case tracing.StepQueue:
			label = "command bus (queued)"
			if next := firstAfter(spans, i, tracing.StepDequeue); next != nil {
				label = "command bus (queued " + ms(next.StartTime().Sub(s.EndTime())) + ")"
			}
		case tracing.StepHandler:
			label = "handler"
		case tracing.StepChangeLog:
			label = "change log"
		case tracing.StepCommit:
			label = "committed"
			if v := versionFor(s); v != "" {
				label += " v" + v
			}
			if committed.IsZero() {
				committed = s.EndTime()
			}
		case tracing.StepPublish:
			label = "published"
		case tracing.StepProject:
			label = "projected"
			if !committed.IsZero() {
				label += " (lag " + ms(s.EndTime().Sub(committed)) + ")"
			}
			if s.Status().Code == codes.Error {
				label = "projection failed"
			}
		}
		if label == "" || (step == lastStep && step != tracing.StepProject && step != tracing.StepPublish) {
			continue
		}
		out = append(out, web.PathStep{Label: label, Step: step})
		lastStep = step
	}
	return out
}

// firstAfter is the first span after spans[i] of the step, or nil.
func firstAfter(spans []sdktrace.ReadOnlySpan, i int, step string) sdktrace.ReadOnlySpan {
	for _, s := range spans[i+1:] {
		if stepOf(s) == step {
			return s
		}
	}
	return nil
}

// ancestorVersion is the order version that s's nearest ancestor with
// one says (a handler's: the version its commit made).
func ancestorVersion(spans []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) string {
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(spans))
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
	}
	for p, ok := byID[s.Parent().SpanID()]; ok; p, ok = byID[p.Parent().SpanID()] {
		if v, has := attr(p, tracing.AttrVersion); has {
			return v.Emit()
		}
	}
	return ""
}

// ms says a duration in milliseconds: "0.4 ms", "12 ms", "1,204 ms".
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return strconv.FormatFloat(f, 'f', 1, 64) + " ms"
	case f < 1000:
		return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(f/1000, 'f', 2, 64) + " s"
}
