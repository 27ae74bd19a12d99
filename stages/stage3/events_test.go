package stage3_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3"
	"github.com/staircase/staircase/stages/stage3/changelog"
	"github.com/staircase/staircase/stages/stage3/projection"
	"github.com/staircase/staircase/stages/stage3/workshop"
)

// viewerWorld is a running stage 3 with the workshop controls on, on
// backend b.
func viewerWorld(t *testing.T, b sqltest.Backend) (*world, context.Context) {
	t.Helper()
	w := &world{versions: map[order.ID]int{}}
	w.write, w.read = databases(t, b)
	nc, ns := bus(t)
	s, err := stage3.New(stage3.Config{Write: w.write, Read: w.read, NATS: nc, Namespace: ns, Logger: quiet(), Workshop: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w.s3 = s
	return w, ctx
}

// eventsUntil lists the change log until ok says the page is as wanted,
// for up to 20 s; it fails with the last page.
func eventsUntil(t *testing.T, ctx context.Context, s *stage3.Stage, q stageview.EventQuery, what string, ok func(stageview.EventPage) bool) stageview.EventPage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := s.Events(ctx, q)
		if err != nil {
			t.Fatalf("Events(%+v): %v", q, err)
		}
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s; last page %+v", what, p)
		}
		time.Sleep(25 * time.Millisecond) // polling the read side, which the test cannot be told of
	}
}

func rowOf(p stageview.EventPage, id order.ID, version int) *stageview.EventRow {
	for i, e := range p.Events {
		if e.OrderID == id.String() && e.OrderVersion == version {
			return &p.Events[i]
		}
	}
	return nil
}

func TestTheEventViewer(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) { testEventViewer(t, b) })
	}
}

func testEventViewer(t *testing.T, b sqltest.Backend) {
	w, ctx := viewerWorld(t, b)
	s := w.s3
	a := w.place(t, s, "Ada")
	ack, err := s.ShipOrder(ctx, order.ShipOrder{ID: a})
	w.ack(t, a, ack, err)
	bo := w.place(t, s, "Bob")
	w.waitProjected(t)

	all := func(p stageview.EventPage) bool {
		for _, e := range p.Events {
			if !e.Published || e.Projection != stageview.EventProjected {
				return false
			}
		}
		return len(p.Events) == 3
	}
	p := eventsUntil(t, ctx, s, stageview.EventQuery{}, "three events published and projected", all)
	t.Run("newest_first_with_what_each_is", func(t *testing.T) {
		var got []string
		for _, e := range p.Events {
			got = append(got, e.Type)
		}
		if strings.Join(got, " ") != "OrderPlaced OrderShipped OrderPlaced" || p.Events[0].OrderID != bo.String() {
			t.Fatalf("events %v, the first of order %s; want Bob's OrderPlaced, then Ada's OrderShipped and OrderPlaced", got, p.Events[0].OrderID)
		}
		if p.Events[0].Seq <= p.Events[1].Seq || p.Events[1].Seq <= p.Events[2].Seq {
			t.Errorf("seqs %d %d %d are not newest first", p.Events[0].Seq, p.Events[1].Seq, p.Events[2].Seq)
		}
		e := p.Events[1]
		if e.OrderVersion != 2 || e.Schema != 1 || e.Current != 1 || e.Upcast != "" || e.ReadVersion != 2 || e.EventID == "" {
			t.Errorf("Ada's OrderShipped: %+v", e)
		}
		var placed map[string]any
		if err := json.Unmarshal([]byte(p.Events[2].Stored), &placed); err != nil || placed["customer"] != "Ada" || placed["currency"] != "EUR" {
			t.Errorf("Ada's OrderPlaced payload %q: %v", p.Events[2].Stored, err)
		}
		st := p.State
		if st.Head != p.Events[0].Seq || st.RelaySeq != st.Head || st.Unpublished != 0 {
			t.Errorf("state %+v: want head and relay at seq %d, none unpublished", st, p.Events[0].Seq)
		}
		if len(st.Streams) != 2 {
			t.Fatalf("streams %+v, want the events' and the commands'", st.Streams)
		}
		ev := st.Streams[0]
		if ev.Err != "" || ev.Messages != 3 || ev.LastSeq != 3 || len(ev.Consumers) != 1 || !strings.HasSuffix(ev.Consumers[0].Name, "projector") {
			t.Fatalf("events stream %+v", ev)
		}
		if c := ev.Consumers[0]; c.Err != "" || c.AckFloor != 3 || c.Delivered != 3 || c.Pending != 0 || c.AckPending != 0 {
			t.Errorf("projector's consumer %+v: want everything delivered and acknowledged", c)
		}
		if cmd := st.Streams[1]; len(cmd.Consumers) != 1 && cmd.Err == "" {
			t.Errorf("commands stream %+v: want its consumer, or why the bus has none", cmd)
		}
	})

	t.Run("filters_and_pages", func(t *testing.T) {
		p, err := s.Events(ctx, stageview.EventQuery{OrderID: a.String()})
		if err != nil || len(p.Events) != 2 || p.Events[0].OrderVersion != 2 || p.Next != 0 {
			t.Fatalf("Ada's events: %+v, %v", p.Events, err)
		}
		p, err = s.Events(ctx, stageview.EventQuery{Type: "OrderShipped"})
		if err != nil || len(p.Events) != 1 || p.Events[0].OrderID != a.String() {
			t.Fatalf("the OrderShipped events: %+v, %v", p.Events, err)
		}
		p, err = s.Events(ctx, stageview.EventQuery{OrderID: bo.String(), Type: "OrderShipped"})
		if err != nil || len(p.Events) != 0 {
			t.Fatalf("Bob's OrderShipped events: %+v, %v", p.Events, err)
		}
		first, err := s.Events(ctx, stageview.EventQuery{Limit: 2})
		if err != nil || len(first.Events) != 2 || first.Next != first.Events[1].Seq {
			t.Fatalf("the first page of 2: %+v next %d, %v", first.Events, first.Next, err)
		}
		second, err := s.Events(ctx, stageview.EventQuery{Limit: 2, Before: first.Next})
		if err != nil || len(second.Events) != 1 || second.Next != 0 || second.Events[0].Seq >= first.Events[1].Seq {
			t.Fatalf("the second page: %+v next %d, %v", second.Events, second.Next, err)
		}
	})

	t.Run("bad_queries_say_which_field", func(t *testing.T) {
		for _, tc := range []struct {
			q     stageview.EventQuery
			field string
		}{
			{stageview.EventQuery{OrderID: "not-an-id"}, "order"},
			{stageview.EventQuery{Type: "OrderLost"}, "type"},
			{stageview.EventQuery{Limit: stage3.MaxEventPage + 1}, "limit"},
			{stageview.EventQuery{Before: -1}, "before"},
		} {
			_, err := s.Events(ctx, tc.q)
			if order.ErrorCode(err) != order.EINVALID {
				t.Errorf("Events(%+v) = %v, want EINVALID", tc.q, err)
				continue
			}
			if f := order.FieldErrors(err); len(f) != 1 || f[0].Field != tc.field {
				t.Errorf("Events(%+v) field errors %+v, want one on %s", tc.q, f, tc.field)
			}
		}
	})

	t.Run("a_change_the_relay_holds_is_not_published", func(t *testing.T) {
		setControl(t, ctx, s, workshop.Relay, workshop.Paused)
		c := w.place(t, s, "Cy")
		p, err := s.Events(ctx, stageview.EventQuery{OrderID: c.String()})
		if err != nil || len(p.Events) != 1 {
			t.Fatalf("Cy's events %+v, %v", p.Events, err)
		}
		if e := p.Events[0]; e.Published || e.Projection != stageview.EventPending || e.ReadVersion != 0 {
			t.Errorf("Cy's OrderPlaced with the relay paused: %+v; want not published, pending", e)
		}
		if p.State.Unpublished != 1 || p.State.RelaySeq >= p.State.Head {
			t.Errorf("state %+v: want 1 unpublished, the relay behind the head", p.State)
		}
		setControl(t, ctx, s, workshop.Relay, workshop.Running)
		eventsUntil(t, ctx, s, stageview.EventQuery{OrderID: c.String()}, "Cy's event published and projected", func(p stageview.EventPage) bool {
			return len(p.Events) == 1 && p.Events[0].Published && p.Events[0].Projection == stageview.EventProjected && p.State.Unpublished == 0
		})
	})

	t.Run("an_event_the_projector_holds_is_published_and_waits_on_the_bus", func(t *testing.T) {
		setControl(t, ctx, s, workshop.Projector, workshop.Paused)
		d := w.place(t, s, "Di")
		p := eventsUntil(t, ctx, s, stageview.EventQuery{OrderID: d.String()}, "Di's event published", func(p stageview.EventPage) bool {
			return len(p.Events) == 1 && p.Events[0].Published
		})
		if e := p.Events[0]; e.Projection != stageview.EventPending {
			t.Errorf("Di's OrderPlaced with the projector paused: %+v; want pending", e)
		}
		c := p.State.Streams[0].Consumers[0]
		if c.Pending+uint64(c.AckPending) < 1 || c.AckFloor >= p.State.Streams[0].LastSeq {
			t.Errorf("projector's consumer %+v with the projector paused: want a message waiting", c)
		}
		// Parked while it waits: the viewer says so.
		rec, err := changelog.ForOrder(ctx, w.write, d)
		if err != nil || len(rec) != 1 {
			t.Fatalf("Di's history: %v, %v", rec, err)
		}
		env, err := changelog.Marshal(rec[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := projection.Park(ctx, w.read, rec[0], env, errTest, 8); err != nil {
			t.Fatal(err)
		}
		p, err = s.Events(ctx, stageview.EventQuery{OrderID: d.String()})
		if err != nil || p.Events[0].Projection != stageview.EventParked {
			t.Errorf("Di's parked OrderPlaced: %+v, %v; want parked", p.Events, err)
		}
		setControl(t, ctx, s, workshop.Projector, workshop.Running)
	})

	t.Run("a_schema_1_event_is_shown_stored_and_upcast", func(t *testing.T) {
		e := order.NewID()
		insertRaw(t, w.write, e, 1, "OrderPlaced", 1,
			`{"customer":"Eve","address":"2 Old Rd","lines":[{"sku":"A-1","name":"Widget","quantity":1,"unit_price_cents":100}]}`, time.Now().UTC())
		p, err := s.Events(ctx, stageview.EventQuery{OrderID: e.String()})
		if err != nil || len(p.Events) != 1 {
			t.Fatalf("Eve's events %+v, %v", p.Events, err)
		}
		r := p.Events[0]
		if r.Schema != 1 || r.Current != 2 || r.Unreadable != "" {
			t.Fatalf("Eve's OrderPlaced %+v: want schema 1 of 2, readable", r)
		}
		var stored, upcast map[string]any
		if json.Unmarshal([]byte(r.Stored), &stored) != nil || json.Unmarshal([]byte(r.Upcast), &upcast) != nil {
			t.Fatalf("payloads %q and %q are not JSON", r.Stored, r.Upcast)
		}
		if _, ok := stored["currency"]; ok || upcast["currency"] != order.DefaultCurrency || upcast["customer"] != "Eve" {
			t.Errorf("stored %v, upcast %v: want no currency stored and %s read", stored, upcast, order.DefaultCurrency)
		}
	})
}

var errTest = testError("made to fail by the test")

type testError string

func (e testError) Error() string { return string(e) }

// TestTheCatalogShowsTheFieldsTheCodeWrites holds the catalog to what the
// code puts on the wire: the envelope's keys are those Marshal writes, and
// each current schema's fields those of its payload's JSON. A field added
// to a payload type shows in the catalog without anyone listing it.
func TestTheCatalogShowsTheFieldsTheCodeWrites(t *testing.T) {
	cat := stage3.Catalog()
	keys := func(b []byte) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	names := func(fs []stageview.CatalogField, nested bool) []string {
		var out []string
		for _, f := range fs {
			if f.Meaning == "" {
				t.Errorf("field %s has no meaning", f.Name)
			}
			if nested || !strings.ContainsAny(f.Name, ".[") {
				out = append(out, f.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	env, err := changelog.Marshal(order.Event{ID: order.NewID(), OrderID: order.NewID(), OrderVersion: 1, OccurredAt: time.Now(),
		Payload: order.OrderCancelled{Reason: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(cat.Envelope, true), keys(env); !slices.Equal(got, want) {
		t.Errorf("envelope fields %v, Marshal writes %v", got, want)
	}

	// One payload of every type, filled in, as the code writes it.
	full := map[string]order.Payload{
		"OrderPlaced":       order.OrderPlaced{Customer: "c", Address: "a", Currency: "EUR", Lines: []order.Line{{SKU: "s", Name: "n", Quantity: 1, UnitPriceCents: 1}}},
		"OrderLinesChanged": order.OrderLinesChanged{Lines: []order.Line{{SKU: "s", Name: "n", Quantity: 1, UnitPriceCents: 1}}},
		"OrderShipped":      order.OrderShipped{},
		"OrderDelivered":    order.OrderDelivered{},
		"OrderCancelled":    order.OrderCancelled{Reason: "r"},
		"OrderDeleted":      order.OrderDeleted{},
	}
	if len(cat.Types) != len(full) {
		t.Errorf("the catalog has %d types, the code writes %d", len(cat.Types), len(full))
	}
	for _, typ := range cat.Types {
		p, ok := full[typ.Name]
		if !ok {
			t.Errorf("the catalog has a type %s the code does not write", typ.Name)
			continue
		}
		if typ.Meaning == "" || typ.Current != p.SchemaVersion() {
			t.Errorf("%s: meaning %q, current schema %d; want a meaning and %d", typ.Name, typ.Meaning, typ.Current, p.SchemaVersion())
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range typ.Schemas {
			if json.Valid([]byte(sc.Example)) != true {
				t.Errorf("%s v%d: example %q is not JSON", typ.Name, sc.Version, sc.Example)
			}
			if sc.Version != typ.Current {
				if sc.Upcast == "" || sc.UpcastNote == "" {
					t.Errorf("%s v%d is old and shows no upcast", typ.Name, sc.Version)
				}
				continue
			}
			if got, want := names(sc.Fields, false), keys(b); !slices.Equal(got, want) {
				t.Errorf("%s v%d fields %v, the code writes %v", typ.Name, sc.Version, got, want)
			}
		}
	}
}

// TestTheLagHistorySamplesWhatWaits: once looked at, the stage samples its
// lag and backlogs every second; events held by a paused projector show.
func TestTheLagHistorySamplesWhatWaits(t *testing.T) {
	w, ctx := viewerWorld(t, sqltest.Backends()[0])
	s := w.s3
	if got := s.LagSamples(ctx); len(got) != 0 {
		t.Fatalf("%d samples before anyone looked", len(got))
	}
	setControl(t, ctx, s, workshop.Projector, workshop.Paused)
	for range 3 {
		w.place(t, s, "Held")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.LagSamples(ctx)
		if n := len(got); n >= 2 {
			last := got[n-1]
			if last.EventsPending >= 3 && last.LagKnown && last.Lag > 0 && last.Unpublished == 0 && last.CommandsPending <= 0 {
				if !got[0].At.Before(last.At) {
					t.Errorf("samples not oldest first: %v then %v", got[0].At, last.At)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample shows 3 events waiting with a lag within 20 s: %+v", got)
		}
		time.Sleep(200 * time.Millisecond) // the samples come once a second
	}
	setControl(t, ctx, s, workshop.Projector, workshop.Running)
	w.waitProjected(t)
	deadline = time.Now().Add(20 * time.Second)
	for {
		got := s.LagSamples(ctx)
		if last := got[len(got)-1]; last.EventsPending == 0 && last.LagKnown && last.Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the samples do not show the backlog drained within 20 s: %+v", got[len(got)-1])
		}
		time.Sleep(200 * time.Millisecond)
	}
}
