package registry_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/registry"
	"github.com/staircase/staircase/internal/stageview"
)

func open(t *testing.T, ttl time.Duration) *registry.Registry {
	t.Helper()
	nc, namespace := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := registry.Open(ctx, nc, registry.Config{Bucket: registry.Bucket(namespace), TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids(t *testing.T, r *registry.Registry) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := r.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestAnnouncedProcessesAreListedUntilTheyStop(t *testing.T) {
	r := open(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Announce(ctx, 100*time.Millisecond, func() stageview.Process {
			return stageview.Process{ID: "host-1-127.0.0.1:8081", Roles: []string{"web"}, Stage: 3, Addr: "127.0.0.1:8081",
				Rates: map[string]float64{"requests": 12.5}}
		}, nil)
	}()
	if err := r.Put(context.Background(), stageview.Process{ID: "host-2-127.0.0.1:8181", Roles: []string{"commands", "relay"}, Stage: 3}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(ids(t, r), "host-1-127.0.0.1:8081") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	ps, err := r.Processes(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ID != "host-2-127.0.0.1:8181" || ps[1].ID != "host-1-127.0.0.1:8081" {
		t.Fatalf("listed %+v; want the commands,relay process then the web one", ps)
	}
	web := ps[1]
	if web.Stage != 3 || web.Addr != "127.0.0.1:8081" || web.Rates["requests"] != 12.5 || time.Since(web.Heartbeat) > 5*time.Second {
		t.Errorf("the web process is listed as %+v", web)
	}
	cancel() // a process that stops cleanly removes its entry
	<-done
	if got := ids(t, r); !slices.Equal(got, []string{"host-2-127.0.0.1:8181"}) {
		t.Errorf("after the web process stopped, listed %v", got)
	}
}

func TestAProcessThatStopsRenewingDisappears(t *testing.T) {
	r := open(t, time.Second)
	if err := r.Put(context.Background(), stageview.Process{ID: "killed", Roles: []string{"projector"}}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, r); !slices.Equal(got, []string{"killed"}) {
		t.Fatalf("listed %v, want [killed]", got)
	}
	// Nobody renews it: the entry expires (the list leaves out an entry
	// past its TTL even before the bus drops it).
	deadline := time.Now().Add(10 * time.Second)
	for len(ids(t, r)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("an entry with a 1 s TTL is still listed after 10 s: %v", ids(t, r))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
