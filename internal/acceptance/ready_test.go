package acceptance

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

type readyBody struct {
	Status     string   `json:"status"`
	Stage      int      `json:"stage"`
	Reasons    []string `json:"reasons"`
	Components []struct {
		Key   string `json:"key"`
		State string `json:"state"`
	} `json:"components"`
}

func TestReadyzTellsWhetherStage3CanServeAndHealthzThatTheProcessServes(t *testing.T) {
	for _, mode := range []string{"sync", "async"} {
		for _, b := range sqltest.Backends() {
			t.Run(mode+"/"+b.Name, func(t *testing.T) {
				e := start(t, app.Config{Stage: 3, WriteDB: b.URL(t), CommandBus: mode})
				r := e.do(http.MethodGet, "/readyz", "", nil)
				got := decode[readyBody](t, r)
				if r.status != http.StatusOK || got.Status == "unavailable" || got.Stage != 3 {
					t.Fatalf("/readyz of a fresh stage 3: %d %s", r.status, r.body)
				}
				keys := map[string]string{}
				for _, c := range got.Components {
					keys[c.Key] = c.State
				}
				for _, k := range []string{"write_db", "read_db", "bus", "relay", "projector"} {
					if keys[k] != "up" {
						t.Errorf("/readyz component %s is %q, want up: %s", k, keys[k], r.body)
					}
				}
				if h := e.do(http.MethodGet, "/healthz", "", nil); h.status != http.StatusOK {
					t.Fatalf("/healthz of a fresh stage 3 (%s mode): %d %s", mode, h.status, h.body)
				}

				// Drop the read database's orders: every read fails.
				if _, err := e.app.ReadDB.ExecContext(context.Background(), "DROP TABLE order_views"); err != nil {
					t.Fatal(err)
				}
				if q := e.do(http.MethodGet, "/api/queries/order-summaries", "", nil); q.status < 500 {
					t.Fatalf("a read with the read database dropped answered %d", q.status)
				}
				r = e.do(http.MethodGet, "/readyz", "", nil)
				got = decode[readyBody](t, r)
				if r.status != http.StatusServiceUnavailable || got.Status != "unavailable" || !strings.Contains(strings.Join(got.Reasons, " "), "read database") {
					t.Fatalf("/readyz with the read database dropped: %d %s, want 503 naming the read database", r.status, r.body)
				}
				if h := e.do(http.MethodGet, "/healthz", "", nil); h.status != http.StatusOK {
					t.Fatalf("/healthz with the read database dropped: %d, want 200: the process serves", h.status)
				}
			})
		}
	}
}
