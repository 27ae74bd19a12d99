package bench

import (
	"strings"
	"testing"
	"time"
)

const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/staircase/staircase/internal/bench
BenchmarkPlaceOrder/stage0/sqlite-2         	    1000	   2000000 ns/op	   12000 B/op	     150 allocs/op
BenchmarkPlaceOrder/stage0/sqlite-2         	    1000	   2200000 ns/op	   12000 B/op	     150 allocs/op
BenchmarkPlaceOrder/stage0/sqlite-2         	    1000	   1800000 ns/op	   12000 B/op	     150 allocs/op
BenchmarkPlaceOrder/stage3/sqlite-2         	     500	   3000000 ns/op	   20000 B/op	     300 allocs/op
BenchmarkProjectionLag/rate50/sqlite-2      	       1	10000000000 ns/op	         4.200 p50-ms	        12.50 p99-ms	        50.00 orders/s
BenchmarkRebuild100k/sqlite                 	       1	20000000000 ns/op	      5000 events/s
PASS
ok  	github.com/staircase/staircase/internal/bench	60.000s
`

func TestTheReportPutsStagesSideBySideAsRatiosToStageZero(t *testing.T) {
	lines, failed, err := ParseBenchOutput(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	if failed {
		t.Error("a passing run was read as failed")
	}
	if len(lines) != 6 {
		t.Fatalf("read %d result lines, want 6: %+v", len(lines), lines)
	}
	if lines[0].Name != "PlaceOrder/stage0/sqlite" || lines[0].Values["ns/op"] != 2e6 {
		t.Errorf("first line read as %+v", lines[0])
	}
	var out strings.Builder
	WriteReport(&out, lines)
	report := out.String()
	// Stage 0's median is 2 ms; stage 3's 3 ms is 1.50 times it.
	for _, want := range []string{"PlaceOrder/sqlite ms/op", "2.00", "3.00 (1.50×)", "4.20 p50-ms", "12.5 p99-ms", "5000 events/s"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}

func TestTheReportNoticesAFailedRun(t *testing.T) {
	_, failed, err := ParseBenchOutput(strings.NewReader("--- FAIL: BenchmarkPlaceOrder/stage1/sqlite\n    bench_test.go:40: boom\nFAIL\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failed run was read as passing")
	}
}

func TestAMixIsReadStrictly(t *testing.T) {
	m, err := ParseMix("place=1, ship=2,list=4,get=0")
	if err != nil {
		t.Fatal(err)
	}
	if m[OpPlace] != 1 || m[OpShip] != 2 || m[OpList] != 4 || m.String() != "place=1,ship=2,list=4,get=0" {
		t.Errorf("read %v (%s)", m, m)
	}
	for _, bad := range []string{"", "place", "place=x", "delete=1", "place=-1", "place=1,place=2", "place=0,list=0", "place=100000"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("mix %q was accepted", bad)
		}
	}
}

func TestOptionsRefuseUnboundedOrUnclearRuns(t *testing.T) {
	good := Options{Base: "http://127.0.0.1:8080", Duration: time.Second, Concurrency: 1, Mix: Mix{OpList: 1}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(o *Options){
		"no scheme":          func(o *Options) { o.Base = "127.0.0.1:8080" },
		"a path":             func(o *Options) { o.Base = "http://127.0.0.1:8080/api" },
		"no duration":        func(o *Options) { o.Duration = 0 },
		"too long":           func(o *Options) { o.Duration = MaxDuration + time.Second },
		"no clients":         func(o *Options) { o.Concurrency = 0 },
		"too many clients":   func(o *Options) { o.Concurrency = MaxConcurrency + 1 },
		"negative op budget": func(o *Options) { o.MaxOps = -1 },
	} {
		o := good
		change(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var s Sample
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 0: time.Millisecond} {
		if got := s.Percentile(p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if (Sample{}).Percentile(50) != 0 {
		t.Error("an empty sample has a percentile")
	}
}
