package metrics_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/staircase/staircase/internal/metrics"
)

func text(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	var b strings.Builder
	if err := r.WriteText(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTheTextFormatListsEveryFamilySortedWithHelpAndType(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("b_total", "Things.\nOn two lines \\ with a backslash.").Add(3)
	codes := r.CounterVec("a_requests_total", "Requests by code.", "code")
	codes.With("500").Inc()
	codes.With("200").Add(2)
	codes.With("200").Inc()
	r.Gauge("c_lag_seconds", "Lag.").Set(0.25)
	r.GaugeVecFunc("d_pending", "Pending.", []string{"topic"}, func(context.Context) []metrics.Sample {
		return []metrics.Sample{{Labels: []string{`quo"te`}, Value: 7}, {Labels: []string{"a"}, Value: 1}}
	})
	r.GaugeFunc("e_stage", "Stage.", func() float64 { return 3 })

	want := `# HELP a_requests_total Requests by code.
# TYPE a_requests_total counter
a_requests_total{code="200"} 3
a_requests_total{code="500"} 1
# HELP b_total Things.\nOn two lines \\ with a backslash.
# TYPE b_total counter
b_total 3
# HELP c_lag_seconds Lag.
# TYPE c_lag_seconds gauge
c_lag_seconds 0.25
# HELP d_pending Pending.
# TYPE d_pending gauge
d_pending{topic="a"} 1
d_pending{topic="quo\"te"} 7
# HELP e_stage Stage.
# TYPE e_stage gauge
e_stage 3
`
	if got := text(t, r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseReadsBackWhatWriteTextWrote(t *testing.T) {
	r := metrics.NewRegistry()
	r.CounterVec("x_total", "X.", "code").With("404").Add(5)
	r.Gauge("y", "Y.").Set(math.Inf(1))
	got, err := metrics.Parse(strings.NewReader(text(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	if got[`x_total{code="404"}`] != 5 || !math.IsInf(got["y"], 1) || len(got) != 2 {
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
	if got := text(t, r); got != "" {
		t.Fatalf("nil registry wrote %q", got)
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
	codes := r.CounterVec("b_total", "B.", "code")
	codes.With("200").Add(2)
	codes.With("500").Inc()
	calls := 0
	r.GaugeVecFunc("c_pending", "C.", []string{"topic"}, func(context.Context) []metrics.Sample {
		calls++
		return []metrics.Sample{{Labels: []string{"events"}, Value: float64(10 * calls)}}
	})
	ctx := context.Background()

	if v, ok := r.Value(ctx, "a_total"); !ok || v != 4 {
		t.Errorf("a_total = %v, %v; want 4, true", v, ok)
	}
	if v, ok := r.Value(ctx, "b_total", "500"); !ok || v != 1 {
		t.Errorf(`b_total{code="500"} = %v, %v; want 1, true`, v, ok)
	}
	if _, ok := r.Value(ctx, "b_total", "404"); ok {
		t.Error(`b_total{code="404"} exists; want no such series`)
	}
	if _, ok := r.Value(ctx, "nothing_total"); ok {
		t.Error("an unknown metric has a value")
	}
	if got := r.Samples(ctx, "b_total"); len(got) != 2 || got[0].Labels[0] != "200" || got[0].Value != 2 {
		t.Errorf("b_total samples = %v; want 200 (2) first, then 500", got)
	}
	// A value computed on scrape is computed again on each read.
	first, _ := r.Value(ctx, "c_pending", "events")
	second, _ := r.Value(ctx, "c_pending", "events")
	if first != 10 || second != 20 {
		t.Errorf("c_pending read twice = %v, %v; want 10, 20", first, second)
	}
	var nilReg *metrics.Registry
	if s := nilReg.Samples(ctx, "a_total"); s != nil {
		t.Errorf("a nil registry has samples %v", s)
	}
}
