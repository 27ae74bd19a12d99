package tracing

import (
	"context"
	"errors"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config configures tracing.
type Config struct {
	// Traces is how many recent traces the ring keeps (default 200);
	// SpansPerTrace bounds each one (default 500): a trace past it keeps
	// its first spans and its root, and counts the others as dropped.
	Traces, SpansPerTrace int
	// Service names this process in exported spans (default "staircase",
	// unless OTEL_SERVICE_NAME says otherwise).
	Service string
	// Exporter, if set, receives every span besides the ring. Nil: an
	// OTLP/HTTP exporter when the environment names an endpoint
	// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
	// with the exporter's other OTEL_EXPORTER_OTLP_* variables), else none.
	Exporter sdktrace.SpanExporter
}

func (c *Config) setDefaults() {
	if c.Traces <= 0 {
		c.Traces = 200
	}
	if c.SpansPerTrace <= 0 {
		c.SpansPerTrace = 500
	}
	if c.Service == "" {
		c.Service = "staircase"
	}
}

// Tracing is a process's tracer provider with its ring of recent traces.
// A nil *Tracing is tracing off: its tracers record nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
	ring     *Ring
	// exporting says whether spans also leave the process.
	exporting bool
}

// Tracer names the instrumentation scope of Staircase's spans.
const Tracer = "github.com/staircase/staircase"

// OTLPEndpointSet tells whether the environment asks for OTLP export.
func OTLPEndpointSet() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// New starts tracing: every span is sampled and kept in the ring, and
// exported when cfg or the environment says so. Shutdown flushes the
// exporter.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	cfg.setDefaults()
	t := &Tracing{ring: NewRing(cfg.Traces, cfg.SpansPerTrace)}
	exp := cfg.Exporter
	if exp == nil && OTLPEndpointSet() {
		var err error
		if exp, err = otlptracehttp.New(ctx); err != nil {
			return nil, err
		}
	}
	// The environment's OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// (resource.Default) win over the default name.
	res := resource.Default()
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		var err error
		if res, err = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", cfg.Service))); err != nil {
			return nil, err
		}
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(t.ring),
	}
	if exp != nil {
		opts = append(opts, sdktrace.WithBatcher(exp))
		t.exporting = true
	}
	t.provider = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// Provider is the tracer provider; a no-op one when t is nil.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Tracer is Staircase's tracer, or nil when t is nil: the seams plug
// nothing in then.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.provider.Tracer(Tracer)
}

// Ring is the ring of recent traces; nil when t is nil.
func (t *Tracing) Ring() *Ring {
	if t == nil {
		return nil
	}
	return t.ring
}

// Exporting tells whether spans are exported besides the ring.
func (t *Tracing) Exporting() bool { return t != nil && t.exporting }

// Shutdown ends the spans' export, flushing what is queued.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// ForceFlush exports what is queued now.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return errors.New("tracing is off")
	}
	return t.provider.ForceFlush(ctx)
}

// The span kinds as start options, made once: an option made per span is
// an allocation on the request's path.
var (
	clientKind   = trace.WithSpanKind(trace.SpanKindClient)
	producerKind = trace.WithSpanKind(trace.SpanKindProducer)
	consumerKind = trace.WithSpanKind(trace.SpanKindConsumer)
	// ServerKind starts a server span (an HTTP request's).
	ServerKind = trace.WithSpanKind(trace.SpanKindServer)
)

// propagator carries a span context across processes: the W3C trace
// context (traceparent, tracestate), in HTTP headers and message metadata.
var propagator = propagation.TraceContext{}

// Attribute keys Staircase sets on its spans, besides OpenTelemetry's
// semantic conventions. The ring finds traces by the first two.
const (
	// AttrRequestID is the request's X-Request-Id.
	AttrRequestID = attribute.Key("staircase.request_id")
	// AttrOrderID is the order a span worked on.
	AttrOrderID = attribute.Key("staircase.order_id")
	// AttrStage is the stage that served the request.
	AttrStage = attribute.Key("staircase.stage")
	// AttrVersion is the order version a command made or an event carries.
	AttrVersion = attribute.Key("staircase.order_version")
	// AttrAccepted marks a command that was only queued.
	AttrAccepted = attribute.Key("staircase.accepted")
	// AttrStep names the step of the path a span is (the Step* values).
	AttrStep = attribute.Key("staircase.step")
)

// The steps of a request's path, as AttrStep says them.
const (
	StepHTTP      = "http"       // the request
	StepStage     = "stage"      // a stage's command, query or API (stages 0–2)
	StepHandler   = "handler"    // a command handler
	StepQueue     = "queue"      // a command queued on the command bus
	StepDequeue   = "dequeue"    // a command taken off the command bus
	StepChangeLog = "changelog"  // events appended to the change log
	StepCommit    = "commit"     // a transaction committed
	StepDB        = "db"         // another statement
	StepPublish   = "publish"    // an event published to the bus
	StepProject   = "projection" // an event applied to the read side
)
