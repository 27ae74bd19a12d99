package bff

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/metrics"
)

func TestMetricsCountAndTimeRequestsByRouteAndStage(t *testing.T) {
	sw, err := NewSwitch(map[int]Stage{1: slowStage{name: "one"}, 2: fakeStage{}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/api/which", "/api/which", "/healthz", "/nothing-here", "/api/nothing-here", "/architecture/source?path=x"} {
		resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, target, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, "/metrics", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	m, err := metrics.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for series, want := range map[string]float64{
		`staircase_http_requests_total{code="200"}`: 3,
		`staircase_http_requests_total{code="404"}`: 3,
		`staircase_stage_active`:                    1,
		// The stage's own route, not /api/*.
		`staircase_http_request_duration_seconds_count{method="GET",route="/api/which",stage="1"}`: 2,
		`staircase_http_request_duration_seconds_count{method="GET",route="/healthz",stage="1"}`:   1,
		// The pattern, not the path; and what no route answered (here or
		// in the stage's API) as one series.
		`staircase_http_request_duration_seconds_count{method="GET",route="/architecture/source",stage="1"}`: 1,
		`staircase_http_request_duration_seconds_count{method="GET",route="other",stage="1"}`:                2,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", series, got, ok, want)
		}
	}
	if _, ok := m[`staircase_http_request_duration_seconds_bucket{method="GET",route="/healthz",stage="1",le="+Inf"}`]; !ok {
		t.Error("the request duration is not a histogram")
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}
