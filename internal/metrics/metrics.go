// Package metrics is Staircase's thin layer over the Prometheus client
// library (client_golang): one registry per process, served at /metrics
// with promhttp, and counters, gauges and histograms that do nothing when
// there is no registry.
//
// Every method works on a nil *Registry, *Counter, *CounterVec, *Gauge,
// *Histogram or *HistogramVec and then does nothing, so that code taking an
// optional registry needs no checks. Metrics are per process: several
// instances of the app each expose their own, and Prometheus sums them.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
)

// Registry holds the metrics of one process: Staircase's own, the Go
// runtime's and the process's (CPU, memory, open files), and any a library
// registers through Registerer (Watermill's router metrics).
type Registry struct {
	prom *prometheus.Registry

	mu sync.Mutex
	// ours are the metrics registered through this package, by name, so
	// that two components asking for the same metric share it.
	ours map[string]registered
}

type registered struct {
	kind      string
	labels    []string
	collector prometheus.Collector
}

// NewRegistry returns a registry holding the Go and process collectors.
func NewRegistry() *Registry {
	r := &Registry{prom: prometheus.NewRegistry(), ours: map[string]registered{}}
	r.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registerer is where a library registers its own metrics; nil for a nil
// registry.
func (r *Registry) Registerer() prometheus.Registerer {
	if r == nil {
		return nil
	}
	return r.prom
}

// Handler serves the registry in the format the scraper asks for (the text
// format by default).
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	}
	return promhttp.HandlerFor(r.prom, promhttp.HandlerOpts{})
}

// register returns the metric name, made by make on first use. Registering
// a name again with the same kind and labels returns the same metric (so
// that two components may share one); anything else is a programming error.
func (r *Registry) register(name, kind string, labels []string, make func() prometheus.Collector) prometheus.Collector {
	// Names every scraper reads: client_golang would take any UTF-8.
	if !model.LegacyValidation.IsValidMetricName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: invalid label name %q of %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.ours[name]; ok {
		if m.kind != kind || !slices.Equal(m.labels, labels) {
			panic(fmt.Sprintf("metrics: %s registered again as a %s with labels %v (was a %s with %v)", name, kind, labels, m.kind, m.labels))
		}
		return m.collector
	}
	c := make()
	r.prom.MustRegister(c)
	r.ours[name] = registered{kind: kind, labels: slices.Clone(labels), collector: c}
	return c
}

// Counter is a value that only goes up.
type Counter struct{ c prometheus.Counter }

// Counter returns the counter name (conventionally ending in _total).
func (r *Registry) Counter(name, help string) *Counter {
	if r == nil {
		return nil
	}
	c := r.register(name, "counter", nil, func() prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	})
	return &Counter{c: c.(prometheus.Counter)}
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds n; a negative n is ignored, since a counter never goes down.
func (c *Counter) Add(n int) {
	if c == nil || n <= 0 {
		return
	}
	c.c.Add(float64(n))
}

// Value returns the count so far.
func (c *Counter) Value() float64 {
	if c == nil {
		return 0
	}
	var m dto.Metric
	if err := c.c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// CounterVec is a counter with labels: one count per set of label values.
type CounterVec struct{ v *prometheus.CounterVec }

// CounterVec returns the labelled counter name.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	if r == nil {
		return nil
	}
	c := r.register(name, "counter", labels, func() prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	})
	return &CounterVec{v: c.(*prometheus.CounterVec)}
}

// With returns the counter of the label values, given in the order of the
// label names.
func (v *CounterVec) With(values ...string) *Counter {
	if v == nil {
		return nil
	}
	return &Counter{c: v.v.WithLabelValues(values...)}
}

// Gauge is a value that goes up and down.
type Gauge struct{ g prometheus.Gauge }

// Gauge returns the gauge name.
func (r *Registry) Gauge(name, help string) *Gauge {
	if r == nil {
		return nil
	}
	c := r.register(name, "gauge", nil, func() prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	})
	return &Gauge{g: c.(prometheus.Gauge)}
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) {
	if g == nil {
		return
	}
	g.g.Set(v)
}

// Add adds d (which may be negative).
func (g *Gauge) Add(d float64) {
	if g == nil {
		return
	}
	g.g.Add(d)
}

// Value returns the gauge's value.
func (g *Gauge) Value() float64 {
	if g == nil {
		return 0
	}
	var m dto.Metric
	if err := g.g.Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

// Histogram counts observations (durations, lags) in buckets.
type Histogram struct{ h prometheus.Observer }

// Observe records one observation.
func (h *Histogram) Observe(v float64) {
	if h == nil {
		return
	}
	h.h.Observe(v)
}

// Histogram returns the histogram name (conventionally ending in the unit,
// _seconds) with the bucket upper bounds given; nil buckets give
// Prometheus's default ones (5 ms to 10 s).
func (r *Registry) Histogram(name, help string, buckets []float64) *Histogram {
	if r == nil {
		return nil
	}
	c := r.register(name, "histogram", nil, func() prometheus.Collector {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	})
	return &Histogram{h: c.(prometheus.Histogram)}
}

// HistogramVec is a histogram with labels.
type HistogramVec struct{ v *prometheus.HistogramVec }

// HistogramVec returns the labelled histogram name; buckets as Histogram.
func (r *Registry) HistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if r == nil {
		return nil
	}
	c := r.register(name, "histogram", labels, func() prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	})
	return &HistogramVec{v: c.(*prometheus.HistogramVec)}
}

// With returns the histogram of the label values, in the order of the
// label names.
func (v *HistogramVec) With(values ...string) *Histogram {
	if v == nil {
		return nil
	}
	return &Histogram{h: v.v.WithLabelValues(values...)}
}

// Sample is one value of a gauge computed on scrape, with its label values
// in the order of the gauge's label names.
type Sample struct {
	Labels []string
	Value  float64
}

// GaugeFunc registers the gauge name whose value fn computes on each
// scrape. Registering the name again replaces fn.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.GaugeVecFunc(name, help, nil, func(context.Context) []Sample {
		return []Sample{{Value: fn()}}
	})
}

// GaugeVecFunc registers the labelled gauge name whose samples fn computes
// on each scrape, for values that live elsewhere (a bus's backlog). fn
// should bound its own wait; a sample it leaves out is not exposed
// (Prometheus then sees the series as absent rather than wrong), and so is
// one with the wrong number of label values. Registering the name again
// replaces fn.
func (r *Registry) GaugeVecFunc(name, help string, labels []string, fn func(ctx context.Context) []Sample) {
	if r == nil {
		return
	}
	c := r.register(name, "gauge func", labels, func() prometheus.Collector {
		return &funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), labels: len(labels)}
	}).(*funcCollector)
	c.mu.Lock()
	c.fn = fn
	c.mu.Unlock()
}

// funcCollector is a gauge whose samples a function computes on scrape.
type funcCollector struct {
	desc   *prometheus.Desc
	labels int

	mu sync.Mutex
	fn func(ctx context.Context) []Sample
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	fn := c.fn
	c.mu.Unlock()
	if fn == nil {
		return
	}
	// promhttp gives collectors no context: fn bounds its own wait.
	for _, s := range fn(context.Background()) {
		if len(s.Labels) != c.labels {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, s.Value, s.Labels...)
	}
}

// Samples returns the current values of the counter or gauge name
// registered through this package, sorted by label values, for code in
// this process that shows them. Values computed on scrape (GaugeVecFunc)
// are computed now, with ctx. An unknown name gives none.
func (r *Registry) Samples(ctx context.Context, name string) []Sample {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	m, ok := r.ours[name]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	var out []Sample
	if f, ok := m.collector.(*funcCollector); ok {
		f.mu.Lock()
		fn := f.fn
		f.mu.Unlock()
		for _, s := range fn(ctx) {
			if len(s.Labels) == f.labels {
				out = append(out, Sample{Labels: slices.Clone(s.Labels), Value: s.Value})
			}
		}
	} else {
		ch := make(chan prometheus.Metric, 16)
		go func() {
			m.collector.Collect(ch)
			close(ch)
		}()
		for pm := range ch {
			var d dto.Metric
			if pm.Write(&d) != nil {
				continue
			}
			s := Sample{Value: d.GetCounter().GetValue() + d.GetGauge().GetValue()}
			// Label pairs come sorted by name; the caller gives values in
			// the order the metric was registered with.
			byName := map[string]string{}
			for _, l := range d.GetLabel() {
				byName[l.GetName()] = l.GetValue()
			}
			for _, n := range m.labels {
				s.Labels = append(s.Labels, byName[n])
			}
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Sample) int { return slices.Compare(a.Labels, b.Labels) })
	return out
}

// Value returns the value of the series of name with the label values
// (none for a metric without labels), and whether there is such a series.
func (r *Registry) Value(ctx context.Context, name string, labels ...string) (float64, bool) {
	for _, s := range r.Samples(ctx, name) {
		if slices.Equal(s.Labels, labels) {
			return s.Value, true
		}
	}
	return 0, false
}
