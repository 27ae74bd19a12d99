package bench

import (
	"testing"
	"time"
)

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
