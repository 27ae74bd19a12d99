package acceptance

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
)

// An order placed in stage 3 whose events the projector has not applied
// yet, then deleted in stage 1 (which writes no change log): entering
// stage 3 again must leave it deleted on the read side, even though its
// OrderPlaced reaches the projector only after the switch.
func TestAnOrderDeletedBeforeItsEventsWereProjectedStaysDeleted(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := start(t, app.Config{Stage: 3, WriteDB: b.URL(t), Workshop: true})
			setControl := func(key string, value any) {
				if r := e.json(http.MethodPut, "/api/admin/workshop/"+key, map[string]any{"value": value}); r.status != http.StatusOK {
					t.Fatalf("set %s: %d %s", key, r.status, r.body)
				}
			}
			switchTo := func(n int) {
				if r := e.json(http.MethodPut, "/api/admin/stage", map[string]any{"stage": n}); r.status != http.StatusOK && r.status != http.StatusAccepted {
					t.Fatalf("switch to %d: %d %s", n, r.status, r.body)
				}
				waitActive(t, e, n)
				e.api = adapterFor(e, n)
			}

			e.api = adapterFor(e, 3)
			kept := placed(t, e, "Kept Customer")
			setControl("projector_delay_ms", 1500)
			id := newID()
			r := e.api.place(request(id, "Deleted Customer"))
			if !r.ok() {
				t.Fatalf("place: %d %s", r.status, r.body)
			}
			switchTo(1)
			if d := e.api.remove(id, r.version); !d.ok() {
				t.Fatalf("delete in stage 1: %d %s", d.status, d.body)
			}
			switchTo(3)
			setControl("projector_delay_ms", 0)

			var why string
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				var ok bool
				if ok, why = sameRows(context.Background(), e.app.WriteDB, e.app.ReadDB); ok {
					break
				}
			}
			if why != "" {
				if ok, w := sameRows(context.Background(), e.app.WriteDB, e.app.ReadDB); !ok {
					t.Fatalf("the read side differs from the database of record: %s", w)
				}
			}
			// And stays so once the delayed event has certainly arrived.
			time.Sleep(2 * time.Second)
			if ok, w := sameRows(context.Background(), e.app.WriteDB, e.app.ReadDB); !ok {
				t.Fatalf("the read side differs from the database of record: %s", w)
			}
			if _, found := e.api.get(id); found {
				t.Fatalf("stage 3 shows order %s, deleted in stage 1", id)
			}
			if _, found := e.api.get(kept); !found {
				t.Fatalf("stage 3 lost order %s", kept)
			}
		})
	}
}
