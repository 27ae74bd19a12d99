package acceptance

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/messaging/natstest"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/order/ordertest"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3"
)

// logEntry is an entry of GET /api/admin/error-log.
type logEntry struct {
	ID           int64     `json:"id"`
	EventID      string    `json:"event_id"`
	OrderID      string    `json:"order_id"`
	OrderVersion int       `json:"order_version"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	Error        string    `json:"error"`
	Attempts     int       `json:"attempts"`
	FirstFailed  time.Time `json:"first_failed_at"`
	LastFailed   time.Time `json:"last_failed_at"`
}

type replayReport struct {
	DryRun  bool `json:"dry_run"`
	Applied int  `json:"applied"`
	Skipped int  `json:"skipped"`
	Failed  int  `json:"failed"`
	Waiting int  `json:"waiting"`
	Steps   []struct {
		EntryID      int64  `json:"entry_id"`
		OrderVersion int    `json:"order_version"`
		Result       string `json:"result"`
		Text         string `json:"text"`
	} `json:"steps"`
}

func (r replayReport) texts() []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Text)
	}
	return out
}

// errorLogOf lists the error log's entries of one order by version.
func errorLogOf(t *testing.T, e *env, orderID string) map[int]logEntry {
	t.Helper()
	r := e.json(http.MethodGet, "/api/admin/error-log", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/admin/error-log: %d %s", r.status, r.body)
	}
	out := map[int]logEntry{}
	for _, en := range decode[struct{ Entries []logEntry }](t, r).Entries {
		if en.OrderID == orderID {
			out[en.OrderVersion] = en
		}
	}
	return out
}

// TestAnEventWithAGapIsParkedItsOrderHeldAndHealedOnceTheGapIsFilled runs
// stage 3's real projector: order X's v2 and v3 arrive on the bus without
// v1, so v2 is parked after its retries and v3 held behind it, while order
// Y, placed through the API, is projected. A dry run changes nothing; once
// v1 arrives it fills the gap and the events behind it are replayed, so X
// ends at v3. An envelope of an unknown schema version is parked, not
// dropped.
func TestAnEventWithAGapIsParkedItsOrderHeldAndHealedOnceTheGapIsFilled(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			natsURL, ns := natstest.Shared(t)
			e := start(t, app.Config{Stage: 3, WriteDB: b.URL(t), ReadDB: b.URL(t), NATSURL: natsURL, BusNamespace: ns, ProjectorRetries: 2})
			e.api = cqrsAPI{e}
			pub, err := messaging.NewPublisher(e.app.NATS, messaging.PublisherConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pub.Close() })
			publish := func(ev order.Event, edit func(envelope map[string]any)) {
				t.Helper()
				m, err := stage3.EventMessage(ev)
				if err != nil {
					t.Fatal(err)
				}
				if edit != nil {
					var env map[string]any
					if err := json.Unmarshal(m.Payload, &env); err != nil {
						t.Fatal(err)
					}
					edit(env)
					if m.Payload, err = json.Marshal(env); err != nil {
						t.Fatal(err)
					}
				}
				if err := pub.Publish(stage3.EventsTopic(ns), m); err != nil {
					t.Fatal(err)
				}
			}

			x := ordertest.Life(t, "Xena")
			xid := x[0].OrderID.String()
			publish(x[1], nil) // v1 never came: a real gap
			publish(x[2], nil)
			y := placed(t, e, "Yves") // projected while X waits (placed waits for the read side)

			var log map[int]logEntry
			eventually(t, "X v2 parked and v3 held", func() bool {
				log = errorLogOf(t, e, xid)
				return log[2].Status == "parked" && log[3].Status == "held"
			})
			if v2 := log[2]; v2.Attempts != 3 || v2.Type != "OrderLinesChanged" || v2.EventID != x[1].ID.String() ||
				!strings.Contains(v2.Error, "missing") || v2.FirstFailed.IsZero() {
				t.Errorf("parked v2: %+v; want 3 attempts (2 retries) and the gap as its error", v2)
			}
			if _, found := e.api.get(xid); found {
				t.Error("X is in the read model with its v1 missing")
			}
			if o, found := e.api.get(y); !found || o.Version != 1 {
				t.Errorf("Y: found %v at v%d", found, o.Version)
			}
			if r := e.json(http.MethodGet, "/api/admin/error-log?status=held", nil); r.status != http.StatusOK ||
				len(decode[struct{ Entries []logEntry }](t, r).Entries) != 1 {
				t.Errorf("status=held: %d %s", r.status, r.body)
			}

			replay := func(body map[string]any) replayReport {
				t.Helper()
				r := e.json(http.MethodPost, "/api/admin/error-log/replay", body)
				if r.status != http.StatusOK {
					t.Fatalf("replay %v: %d %s", body, r.status, r.body)
				}
				return decode[replayReport](t, r)
			}
			dry := replay(map[string]any{"id": log[2].ID, "dry_run": true})
			if want := []string{"would still fail: gap at v1", "would stay held behind v2 OrderLinesChanged"}; !dry.DryRun || dry.Failed != 1 ||
				dry.Waiting != 1 || strings.Join(dry.texts(), "|") != strings.Join(want, "|") {
				t.Errorf("dry run with the gap: %+v, want %q", dry, want)
			}
			if after := errorLogOf(t, e, xid); after[2] != log[2] || after[3] != log[3] {
				t.Errorf("the dry run changed the log: %+v, was %+v", after, log)
			}

			// The missing v1, at last (as a message redelivered after its
			// consumer died would come): it fills the gap, and the events
			// parked and held behind it are replayed without an operator.
			publish(x[0], nil)
			eventually(t, "X healed to v3", func() bool {
				o, found := e.api.get(xid)
				return found && o.Version == 3
			})
			if o, _ := e.api.get(xid); o.Status != "shipped" {
				t.Fatalf("X after the gap was filled: %s, want shipped", o.Status)
			}
			for v, en := range errorLogOf(t, e, xid) {
				if en.Status != "replayed" {
					t.Errorf("v%d is %s after the gap was filled", v, en.Status)
				}
			}
			if done := replay(map[string]any{"all": true}); done.DryRun || done.Applied != 0 || done.Failed != 0 {
				t.Errorf("replay of an error log with nothing waiting: %+v", done)
			}

			// An envelope no version of this code can read is parked at
			// once, with what its metadata says, not dropped.
			z := ordertest.Life(t, "Xena")
			publish(z[0], func(env map[string]any) { env["schema_version"] = 99 })
			zid := z[0].OrderID.String()
			var parked logEntry
			eventually(t, "Z's unreadable v1 parked", func() bool {
				parked = errorLogOf(t, e, zid)[1]
				return parked.Status == "parked"
			})
			if parked.Type != "OrderPlaced" || parked.Attempts != 1 || parked.EventID != z[0].ID.String() {
				t.Errorf("unreadable entry: %+v", parked)
			}
			r := e.json(http.MethodGet, "/api/admin/error-log/"+strconv.FormatInt(parked.ID, 10), nil)
			detail := decode[struct {
				Readable bool           `json:"readable"`
				Envelope map[string]any `json:"envelope"`
			}](t, r)
			if r.status != http.StatusOK || detail.Readable || detail.Envelope["schema_version"] != float64(99) {
				t.Errorf("unreadable entry's detail: %d %s", r.status, r.body)
			}
			if r := e.json(http.MethodGet, "/api/admin/error-log/999999", nil); r.status != http.StatusNotFound {
				t.Errorf("unknown entry: %d", r.status)
			}
		})
	}
}
