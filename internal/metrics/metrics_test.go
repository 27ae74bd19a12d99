package metrics_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/staircase/staircase/internal/metrics"
)

// scrape is what GET /metrics answers with the registry, in the text format.
func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q, want the text format", ct)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestTheTextFormatListsEveryFamilyWithHelpAndType(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("b_total", "Things.\nOn two lines \\ with a backslash.").Add(3)
	codes := r.CounterVec("a_requests_total", "Requests by code.", "code")
	codes.With("500").Inc()
	codes.With("200").Add(2)
	codes.With("200").Inc()
	r.Gauge("c_lag_seconds", "Lag.").Set(0.25)
	r.GaugeVecFunc("d_pending", "Pending.", []string{"topic"}, func(context.Context) []metrics.Sample {
		return []metrics.Sample{{Labels: []string{`quo"te`}, Value: 7}, {Labels: []string{"a"}, Value: 1}, {Labels: nil, Value: 9}}
	})
	r.GaugeFunc("e_stage", "Stage.", func() float64 { return 3 })
	h := r.HistogramVec("f_duration_seconds", "Durations.", []float64{0.1, 1}, "route")
	h.With("/orders/:id").Observe(0.05)
	h.With("/orders/:id").Observe(0.5)
	h.With("/orders/:id").Observe(5)

	got := scrape(t, r)
	for _, want := range []string{
		"# HELP a_requests_total Requests by code.\n# TYPE a_requests_total counter\n" +
			"a_requests_total{code=\"200\"} 3\na_requests_total{code=\"500\"} 1\n",
		"# HELP b_total Things.\\nOn two lines \\\\ with a backslash.\n# TYPE b_total counter\nb_total 3\n",
		"# TYPE c_lag_seconds gauge\nc_lag_seconds 0.25\n",
		"# TYPE d_pending gauge\nd_pending{topic=\"a\"} 1\nd_pending{topic=\"quo\\\"te\"} 7\n",
		"# TYPE e_stage gauge\ne_stage 3\n",
		"# TYPE f_duration_seconds histogram\n" +
			"f_duration_seconds_bucket{route=\"/orders/:id\",le=\"0.1\"} 1\n" +
			"f_duration_seconds_bucket{route=\"/orders/:id\",le=\"1\"} 2\n" +
			"f_duration_seconds_bucket{route=\"/orders/:id\",le=\"+Inf\"} 3\n" +
			"f_duration_seconds_sum{route=\"/orders/:id\"} 5.55\n" +
			"f_duration_seconds_count{route=\"/orders/:id\"} 3\n",
		// The Go runtime's and the process's own.
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the scrape lacks\n%s\ngot\n%s", want, got)
		}
	}
	if strings.Contains(got, "d_pending 9") {
		t.Error("a sample with the wrong number of label values was exposed")
	}
}

func TestParseReadsBackWhatTheRegistryServes(t *testing.T) {
	r := metrics.NewRegistry()
	r.CounterVec("x_total", "X.", "code").With("404").Add(5)
	r.Gauge("y", "Y.").Set(math.Inf(1))
	r.Histogram("z_seconds", "Z.", []float64{1}).Observe(0.5)
	got, err := metrics.Parse(strings.NewReader(scrape(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	if got[`x_total{code="404"}`] != 5 || !math.IsInf(got["y"], 1) || got[`z_seconds_bucket{le="1"}`] != 1 || got["z_seconds_count"] != 1 {
		t.Fatalf("parsed %v", got)
	}
	if _, err := metrics.Parse(strings.NewReader("novalue\n")); err == nil {
		t.Fatal("a line without a value parsed")
	}
}

func TestCountersCountConcurrentIncrementsAndNeverGoDown(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("n_total", "N.")
	g := r.Gauge("g", "G.")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				g.Add(0.5)
			}
		})
	}
	wg.Wait()
	c.Add(-5)
	if c.Value() != 8000 || g.Value() != 4000 {
		t.Fatalf("counter %v, gauge %v; want 8000 and 4000", c.Value(), g.Value())
	}
}

func TestRegisteringANameAgainSharesItUnlessItsKindDiffers(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("shared_total", "S.").Inc()
	r.Counter("shared_total", "S.").Inc()
	if got := r.Counter("shared_total", "S.").Value(); got != 2 {
		t.Fatalf("shared counter %v, want 2", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a counter registered again as a gauge did not panic")
		}
	}()
	r.Gauge("shared_total", "S.")
}

func TestANilRegistryAndItsMetricsDoNothing(t *testing.T) {
	var r *metrics.Registry
	r.Counter("a_total", "A.").Inc()
	r.CounterVec("b_total", "B.", "code").With("200").Add(2)
	r.Gauge("c", "C.").Set(1)
	r.GaugeFunc("d", "D.", func() float64 { return 1 })
	r.Histogram("e_seconds", "E.", nil).Observe(1)
	r.HistogramVec("f_seconds", "F.", nil, "route").With("/").Observe(1)
	if r.Registerer() != nil {
		t.Error("a nil registry has a registerer")
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Body.Len() != 0 {
		t.Fatalf("nil registry served %q", rec.Body.String())
	}
}

func TestInvalidNamesAreRefused(t *testing.T) {
	for _, name := range []string{"", "9lives", "has-dash", "space here"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("name %q accepted", name)
				}
			}()
			metrics.NewRegistry().Counter(name, "bad")
		}()
	}
}

func TestValuesCanBeReadInProcessByNameAndLabels(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("a_total", "A.").Add(4)
	codes := r.CounterVec("b_total", "B.", "code", "method")
	codes.With("200", "GET").Add(2)
	codes.With("500", "GET").Inc()
	calls := 0
	r.GaugeVecFunc("c_pending", "C.", []string{"topic"}, func(context.Context) []metrics.Sample {
		calls++
		return []metrics.Sample{{Labels: []string{"events"}, Value: float64(10 * calls)}}
	})
	ctx := context.Background()

	if v, ok := r.Value(ctx, "a_total"); !ok || v != 4 {
		t.Errorf("a_total = %v, %v; want 4, true", v, ok)
	}
	if v, ok := r.Value(ctx, "b_total", "500", "GET"); !ok || v != 1 {
		t.Errorf(`b_total{code="500"} = %v, %v; want 1, true`, v, ok)
	}
	if _, ok := r.Value(ctx, "b_total", "404", "GET"); ok {
		t.Error(`b_total{code="404"} exists; want no such series`)
	}
	if _, ok := r.Value(ctx, "nothing_total"); ok {
		t.Error("an unknown metric has a value")
	}
	if got := r.Samples(ctx, "b_total"); len(got) != 2 || got[0].Labels[0] != "200" || got[0].Value != 2 {
		t.Errorf("b_total samples = %v; want 200 (2) first, then 500", got)
	}
	first, _ := r.Value(ctx, "c_pending", "events")
	second, _ := r.Value(ctx, "c_pending", "events")
	if first != 10 || second != 20 {
		t.Errorf("c_pending read twice = %v, %v; want 10, 20", first, second)
	}
}
