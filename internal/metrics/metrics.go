// Package metrics is a tiny registry of counters and gauges that writes the
// Prometheus text exposition format (version 0.0.4), so that the app can
// serve /metrics without a client library.
//
// Every method works on a nil *Registry, *Counter, *CounterVec or *Gauge and
// then does nothing, so that code taking an optional registry needs no
// checks. Counters and gauges are per process: several instances of the app
// each expose their own, and Prometheus sums them.
package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The metric types of the text format.
const (
	typeCounter = "counter"
	typeGauge   = "gauge"
)

var validName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
var validLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Registry holds the metrics of one process.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

// Sample is one value of a metric computed on scrape, with its label
// values in the order of the metric's label names.
type Sample struct {
	Labels []string
	Value  float64
}

// family is one metric name: its help, type, labels and series.
type family struct {
	name, help, typ string
	labels          []string

	mu      sync.Mutex
	series  map[string]*series // by joined label values
	collect func(ctx context.Context) []Sample
}

type series struct {
	labels []string
	bits   atomic.Uint64 // a float64; counters hold whole numbers
}

func (s *series) value() float64 { return math.Float64frombits(s.bits.Load()) }

func (s *series) add(d float64) {
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// register returns the family name, made on first use. Registering a name
// again with the same type and labels returns the same family (so that two
// components may share a metric); anything else is a programming error.
func (r *Registry) register(name, help, typ string, labels []string) *family {
	if !validName.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !validLabel.MatchString(l) || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("metrics: invalid label name %q of %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.typ != typ || !slices.Equal(f.labels, labels) {
			panic(fmt.Sprintf("metrics: %s registered again as a %s with labels %v (was a %s with %v)", name, typ, labels, f.typ, f.labels))
		}
		return f
	}
	f := &family{name: name, help: help, typ: typ, labels: slices.Clone(labels), series: map[string]*series{}}
	r.families[name] = f
	return f
}

// with returns the series of the label values, made on first use.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.series[key]
	if !ok {
		s = &series{labels: slices.Clone(values)}
		f.series[key] = s
	}
	return s
}

// Counter is a value that only goes up.
type Counter struct{ s *series }

// Counter returns the counter name (conventionally ending in _total).
func (r *Registry) Counter(name, help string) *Counter {
	if r == nil {
		return nil
	}
	return &Counter{s: r.register(name, help, typeCounter, nil).with(nil)}
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds n; a negative n is ignored, since a counter never goes down.
func (c *Counter) Add(n int) {
	if c == nil || n <= 0 {
		return
	}
	c.s.add(float64(n))
}

// Value returns the count so far.
func (c *Counter) Value() float64 {
	if c == nil {
		return 0
	}
	return c.s.value()
}

// CounterVec is a counter with labels: one count per set of label values.
type CounterVec struct{ f *family }

// CounterVec returns the labelled counter name.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	if r == nil {
		return nil
	}
	return &CounterVec{f: r.register(name, help, typeCounter, labels)}
}

// With returns the counter of the label values, given in the order of the
// label names.
func (v *CounterVec) With(values ...string) *Counter {
	if v == nil {
		return nil
	}
	return &Counter{s: v.f.with(values)}
}

// Gauge is a value that goes up and down.
type Gauge struct{ s *series }

// Gauge returns the gauge name.
func (r *Registry) Gauge(name, help string) *Gauge {
	if r == nil {
		return nil
	}
	return &Gauge{s: r.register(name, help, typeGauge, nil).with(nil)}
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) {
	if g == nil {
		return
	}
	g.s.bits.Store(math.Float64bits(v))
}

// Add adds d (which may be negative).
func (g *Gauge) Add(d float64) {
	if g == nil {
		return
	}
	g.s.add(d)
}

// Value returns the gauge's value.
func (g *Gauge) Value() float64 {
	if g == nil {
		return 0
	}
	return g.s.value()
}

// GaugeFunc registers the gauge name whose value fn computes on each
// scrape. Registering the name again replaces fn.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.GaugeVecFunc(name, help, nil, func(context.Context) []Sample {
		return []Sample{{Value: fn()}}
	})
}

// GaugeVecFunc registers the labelled gauge name whose samples fn computes
// on each scrape, for values that live elsewhere (a bus's backlog). fn gets
// the scrape's context and should bound its own wait; a sample it leaves
// out is not exposed (Prometheus then sees the series as absent rather than
// wrong). Registering the name again replaces fn.
func (r *Registry) GaugeVecFunc(name, help string, labels []string, fn func(ctx context.Context) []Sample) {
	if r == nil {
		return
	}
	f := r.register(name, help, typeGauge, labels)
	f.mu.Lock()
	f.collect = fn
	f.mu.Unlock()
}

// WriteText writes every metric in the text exposition format, families
// sorted by name and series by label values, so that the output is stable.
func (r *Registry) WriteText(ctx context.Context, w io.Writer) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		samples := f.samples(ctx)
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range samples {
			bw.WriteString(f.name)
			writeLabels(bw, f.labels, s.Labels)
			bw.WriteByte(' ')
			bw.WriteString(formatValue(s.Value))
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// Samples returns the current values of the metric name, sorted by label
// values, for code in this process that shows them (the architecture
// page's live numbers) without parsing the text format. Values computed
// on scrape (GaugeVecFunc) are computed now, with ctx. An unknown name
// gives none.
func (r *Registry) Samples(ctx context.Context, name string) []Sample {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	f := r.families[name]
	r.mu.Unlock()
	if f == nil {
		return nil
	}
	out := f.samples(ctx)
	for i := range out {
		out[i].Labels = slices.Clone(out[i].Labels) // the caller's to keep
	}
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

// samples returns the family's current values, sorted by label values.
func (f *family) samples(ctx context.Context) []Sample {
	f.mu.Lock()
	collect := f.collect
	out := make([]Sample, 0, len(f.series))
	for _, s := range f.series {
		out = append(out, Sample{Labels: s.labels, Value: s.value()})
	}
	f.mu.Unlock()
	if collect != nil {
		// Called outside the lock: it may wait on the network.
		for _, s := range collect(ctx) {
			if len(s.Labels) == len(f.labels) {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b Sample) int { return slices.Compare(a.Labels, b.Labels) })
	return out
}

func writeLabels(w *bufio.Writer, names, values []string) {
	if len(names) == 0 {
		return
	}
	w.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(n)
		w.WriteString(`="`)
		w.WriteString(escapeLabel(values[i]))
		w.WriteByte('"')
	}
	w.WriteByte('}')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Parse reads the text format as WriteText writes it (comments, then one
// "name{labels} value" line per series; no timestamps) into a map from the
// series as written, e.g. `staircase_http_requests_total{code="200"}`, to
// its value: enough for tests and tools that read a process's metrics.
func Parse(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line %d: no value in %q", n, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}
