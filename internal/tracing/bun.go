package tracing

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// QueryHook is a bun query hook that makes a span of each query run on
// behalf of a traced request: only when the query's context holds a span
// that records, so that the background work of the relay and the
// projector's polls start no traces of their own. A transaction's COMMIT
// is a span too (StepCommit): where a change became durable.
type QueryHook struct {
	tracer trace.Tracer
	db     attribute.KeyValue
	system attribute.KeyValue
	// commit is the step of a COMMIT: StepCommit in the database of
	// record, where a change becomes durable; StepDB elsewhere.
	commit string
}

// NewQueryHook returns the hook for the database name ("write", "read");
// ofRecord marks the database of record, whose commits are the path's
// "committed" step. Nil when t is nil.
func NewQueryHook(t *Tracing, name string, db *bun.DB, ofRecord bool) *QueryHook {
	if t == nil {
		return nil
	}
	system := "sqlite"
	if db.Dialect().Name().String() == "pg" {
		system = "postgresql"
	}
	h := &QueryHook{tracer: t.Tracer(), db: attribute.String("db.namespace", name), system: attribute.String("db.system.name", system), commit: StepDB}
	if ofRecord {
		h.commit = StepCommit
	}
	return h
}

var _ bun.QueryHook = (*QueryHook)(nil)

// BeforeQuery starts the query's span, named after its operation and
// table ("db INSERT orders"). The statement's text is not kept: it holds
// the values, customers' names and addresses among them, and spans may
// leave the process.
//
// A transaction is a span from its BEGIN to its COMMIT or ROLLBACK, with
// its statements inside: bun runs them in the context BEGIN returns.
func (h *QueryHook) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op := e.Operation()
	step, name := StepDB, ""
	switch op {
	case "BEGIN":
		name = "db transaction"
	case "COMMIT", "ROLLBACK":
		name = "rollback"
		if op == "COMMIT" {
			step, name = h.commit, "commit"
		}
		ctx = context.WithValue(ctx, txSpanKey{}, trace.SpanFromContext(ctx))
	}
	table := tableOf(e.Query)
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, AttrStep.String(step), h.db, h.system, attribute.String("db.operation.name", op))
	if table != "" {
		attrs = append(attrs, attribute.String("db.collection.name", table))
	}
	if name == "" {
		name = "db " + op
		if table != "" {
			name = "db " + op + " " + table
		}
	}
	ctx, _ = h.tracer.Start(ctx, name, clientKind, trace.WithAttributes(attrs...))
	return ctx
}

// txSpanKey holds the span of the transaction a COMMIT or ROLLBACK ends.
type txSpanKey struct{}

// tableOf finds the table a statement works on: the name after its first
// INTO, UPDATE or FROM, unquoted; "" if none.
func tableOf(q string) string {
	best := -1
	for _, kw := range []string{"INTO ", "UPDATE ", "FROM "} {
		if i := strings.Index(q, kw); i >= 0 && (best < 0 || i < best) {
			best = i + len(kw)
		}
	}
	if best < 0 {
		return ""
	}
	rest := strings.TrimLeft(q[best:], " ")
	end := strings.IndexAny(rest, " (,\n;")
	if end < 0 {
		end = len(rest)
	}
	t := strings.Trim(rest[:end], `"`+"`")
	if t == "" || strings.ContainsAny(t, "'$?") || len(t) > 64 {
		return ""
	}
	return t
}

// AfterQuery ends the query's span; a COMMIT or ROLLBACK ends its
// transaction's too, a BEGIN only if it failed.
func (h *QueryHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	// BeforeQuery started a span whenever the parent recorded: this is it.
	if e.Err != nil && !errors.Is(e.Err, sql.ErrNoRows) {
		span.RecordError(e.Err)
		span.SetStatus(codes.Error, e.Err.Error())
	}
	if e.Operation() == "BEGIN" && e.Err == nil {
		return
	}
	span.End()
	if tx, ok := ctx.Value(txSpanKey{}).(trace.Span); ok {
		if e.Err != nil {
			tx.SetStatus(codes.Error, e.Err.Error())
		}
		tx.End()
	}
}
