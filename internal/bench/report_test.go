package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

// benchOutput is a go test -bench run as make bench prints it: results on
// SQLite and PostgreSQL, log lines between them, one benchmark run twice.
const benchOutput = `goos: linux
goarch: amd64
pkg: github.com/staircase/staircase/internal/bench
BenchmarkWriteHeadroom/db=sqlite-2         	       1	8883957815 ns/op	         0.3 accepted/bare	       3000 accepted/s	      10000 bare-req/s	       600 handled/s	         1.2 handled/sync	       500 sync-writes/s
BenchmarkReadIsolation/stage=0/db=sqlite-2 	       1	5198283498 ns/op	        16 idle-p99-ms	       128 loaded-p99-ms	         8 loaded/idle
BenchmarkReadIsolation/stage=3/db=sqlite-2 	       1	7842960394 ns/op	         7 idle-p99-ms	        63 loaded-p99-ms	         9 loaded/idle
    scale_test.go:99: BenchmarkAtScale is seeding
BenchmarkProjectionLag/db=sqlite-2         	       1	12789516546 ns/op	      2104 drain-ms	      10 full-p50-ms	      40 full-p99-ms	       5 half-p50-ms	      20 half-p99-ms	       456.4 max-writes/s
BenchmarkRebuild/db=sqlite-2                  	       1	1143756122 ns/op	      40000 events/s	     100000 raw-rows/s	         25 rebuild-s	         0.5 rebuild/raw
BenchmarkRebuild/db=postgres-2                	       1	1143756122 ns/op	      20000 events/s	     100000 raw-rows/s	         50 rebuild-s	         0.2 rebuild/raw
BenchmarkRebuild/db=postgres-2                	       1	1143756122 ns/op	      20000 events/s	     100000 raw-rows/s	         50 rebuild-s	         0.4 rebuild/raw
BenchmarkAtScale/db=sqlite-2 	       1	98000000000 ns/op	   1000000 orders	        16 enter-s	         3.5 s3-list-p50-ms	         2.5 s0-list-p50-ms	       120 rss-MB
BenchmarkDashboard/stage=0/db=sqlite-2 	       3	5100000000 ns/op
BenchmarkDashboard/stage=3/db=sqlite-2 	    1000	   2000000 ns/op
PASS
ok  	github.com/staircase/staircase/internal/bench	120.5s
`

func TestParseBenchOutput(t *testing.T) {
	rs, err := ParseBenchOutput(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(rs); got != 9 {
		t.Errorf("parsed %d benchmarks, want 9: %v", got, rs)
	}
	if v := rs["BenchmarkWriteHeadroom/db=sqlite"]["accepted/s"]; v != 3000 {
		t.Errorf("accepted/s = %v, want 3000 (the -2 suffix dropped)", v)
	}
	if v := rs["BenchmarkRebuild/db=postgres"]["rebuild/raw"]; v < 0.2999 || v > 0.3001 {
		t.Errorf("a benchmark run twice averages its figures: rebuild/raw = %v, want 0.3", v)
	}
	if got := rs.Backends(); strings.Join(got, ",") != "sqlite,postgres" {
		t.Errorf("backends %v, want sqlite then postgres", got)
	}
}

func TestTable(t *testing.T) {
	rs, err := ParseBenchOutput(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	tab := NewTable(rs)
	find := func(t *testing.T, figure, db string) Row {
		t.Helper()
		for _, r := range tab.Rows {
			if strings.HasPrefix(r.Figure, figure) && r.Backend == db {
				return r
			}
		}
		t.Fatalf("no row %q for %s", figure, db)
		return Row{}
	}
	cases := []struct {
		name, figure, db string
		value            float64
		verdict          string
	}{
		{"headroom_is_accepted_over_bare", "write headroom", "sqlite", 0.3, "met"},
		{"handler_over_sync", "async command handler", "sqlite", 1.2, "met"},
		{"stage_0_isolation_has_no_target", "read isolation, stage 0", "sqlite", 8, "—"},
		{"stage_3_isolation_is_held_to_stage_0", "read isolation, stage 3", "sqlite", 9, "MISSED"},
		{"lag_at_half_rate", "projection lag p99 at 50%", "sqlite", 20, "met"},
		{"drain_after_burst", "read side catches up", "sqlite", 2104, "MISSED"},
		{"rebuild_ratio_at_bound_is_met", "rebuild ÷ raw", "sqlite", 0.5, "met"},
		{"rebuild_time_scaled_to_1M_events", "rebuild time per 1M", "sqlite", 25, "met"},
		{"postgres_rebuild", "rebuild ÷ raw", "postgres", 0.3, "MISSED"},
		{"enter_scaled_to_500k", "enter stage 3", "sqlite", 8, "met"},
		{"dashboard_from_ns_per_op", "dashboard, stage 3", "sqlite", 2, "met"},
		{"rss", "resident memory", "sqlite", 120, "met"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := find(t, c.figure, c.db)
			if r.Value == nil || *r.Value < c.value*0.999 || *r.Value > c.value*1.001 {
				t.Errorf("value %v, want %v", r.Value, c.value)
			}
			if r.Verdict() != c.verdict {
				t.Errorf("verdict %q, want %q", r.Verdict(), c.verdict)
			}
		})
	}
	t.Run("benchmarks_not_run_are_not_measured", func(t *testing.T) {
		for _, f := range []string{"search with no match", "write headroom"} {
			r := find(t, f, "postgres")
			if r.Value != nil || r.Verdict() != "not measured" || r.Met != nil {
				t.Errorf("%s on postgres: %+v, want not measured", f, r)
			}
		}
	})

	var text bytes.Buffer
	if err := tab.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != len(tab.Rows)+1 {
		t.Errorf("the table has %d lines, want a header and %d rows", len(lines), len(tab.Rows))
	}
	if !strings.Contains(text.String(), "not measured") || !strings.Contains(text.String(), "MISSED") {
		t.Errorf("the table says neither what was not measured nor what was missed:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := tab.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not read back: %v", err)
	}
	if len(back.Rows) != len(tab.Rows) || back.Results["BenchmarkRebuild/db=sqlite"]["events/s"] != 40000 {
		t.Errorf("the JSON lost rows or figures: %d rows", len(back.Rows))
	}

	var svg bytes.Buffer
	if err := tab.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	drawn := svg.String()
	dec := xml.NewDecoder(strings.NewReader(drawn))
	bars, texts := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("the SVG is not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				bars++
			case "text":
				texts++
			}
		}
	}
	if bars < len(tab.Rows) || texts < 2*len(tab.Rows) {
		t.Errorf("the SVG has %d rects and %d texts for %d rows: a bar and two labels each", bars, texts, len(tab.Rows))
	}
	if !strings.Contains(drawn, "#d64545") || !strings.Contains(drawn, "#2e9e5b") {
		t.Error("the SVG colours neither the missed figures red nor the met ones green")
	}
}
