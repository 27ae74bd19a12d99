// Package tracing is Staircase's per-request tracing, on OpenTelemetry: the
// tracer provider (every span kept in an in-memory ring of recent traces,
// and exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set), and
// the seams that carry a trace along a request's path — a bun query hook,
// decorators of a stage's command side, Watermill middleware and publisher
// decorators that carry the trace context in message metadata.
//
// Nothing here knows a stage: the stages and the BFF plug these pieces in
// where they declare a seam, and a nil *Tracing (tracing off) gives them
// no-op tracers.
package tracing
