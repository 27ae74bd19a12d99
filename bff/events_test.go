package bff

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/stageview"
	"github.com/staircase/staircase/stages/stage3"
)

// eventLogStage is a stage 3 whose change log is a fixed page; it checks
// queries as stage 3 does, and remembers the last one.
type eventLogStage struct {
	fakeStage
	page    stageview.EventPage
	asked   *stageview.EventQuery
	samples []stageview.LagSample
}

func (s eventLogStage) Events(_ context.Context, q stageview.EventQuery) (stageview.EventPage, error) {
	*s.asked = q
	var fields []order.FieldError
	if _, err := order.ParseID(q.OrderID); q.OrderID != "" && err != nil {
		fields = append(fields, order.FieldError{Field: "order", Message: "must be an order ID (a UUID)"})
	}
	if q.Type == "OrderLost" {
		fields = append(fields, order.FieldError{Field: "type", Message: "must be one of the event types"})
	}
	if len(fields) > 0 {
		return stageview.EventPage{}, &order.Error{Code: order.EINVALID, Message: "the event query is not valid", Fields: fields}
	}
	return s.page, nil
}

func (eventLogStage) EventCatalog() stageview.EventCatalog { return stage3.Catalog() }

func (s eventLogStage) LagSamples(context.Context) []stageview.LagSample { return s.samples }

const (
	testEventOrder = "0190a0e0-0000-7000-8000-0000000000a1"
	testOtherOrder = "0190a0e0-0000-7000-8000-0000000000b2"
)

func testEventPage() stageview.EventPage {
	at := time.Date(2026, 3, 1, 14, 5, 9, 0, time.UTC)
	return stageview.EventPage{
		Next: 7,
		Events: []stageview.EventRow{
			{Seq: 9, EventID: "e9", OrderID: testEventOrder, OrderVersion: 2, Type: "OrderShipped", Schema: 1, Current: 1, OccurredAt: at,
				Stored: `{}`, Published: false, Projection: stageview.EventPending, ReadVersion: 1},
			{Seq: 8, EventID: "e8", OrderID: testOtherOrder, OrderVersion: 1, Type: "OrderPlaced", Schema: 1, Current: 2, OccurredAt: at,
				Stored: `{"customer":"<b>Eve</b>","address":"2 Old Rd","lines":[]}`, Upcast: `{"customer":"<b>Eve</b>","address":"2 Old Rd","currency":"USD","lines":[]}`,
				Published: true, Projection: stageview.EventParked},
			{Seq: 7, EventID: "e7", OrderID: testEventOrder, OrderVersion: 1, Type: "OrderPlaced", Schema: 2, Current: 2, OccurredAt: at,
				Stored: `{"customer":"Ada","address":"1 Main St","currency":"EUR","lines":[]}`, Published: true, Projection: stageview.EventProjected, ReadVersion: 1},
		},
		State: stageview.EventLogState{Head: 9, RelaySeq: 8, Unpublished: 1, Streams: []stageview.BusStream{
			{Name: "ORDER-EVENTS", Topic: "order-events", Messages: 8, Bytes: 4096, FirstSeq: 1, LastSeq: 8,
				Consumers: []stageview.BusConsumer{{Name: "projector", Delivered: 8, AckFloor: 6, Pending: 0, AckPending: 2, Redelivered: 1}}},
			{Name: "ORDER-COMMANDS", Topic: "order-commands", Err: "the bus has no such stream yet: nothing was published to it"},
		}},
	}
}

func newEventServer(t *testing.T, active int) (*Server, *stageview.EventQuery) {
	t.Helper()
	asked := &stageview.EventQuery{}
	three := eventLogStage{page: testEventPage(), asked: asked}
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 1: fakeStage{}, 2: fakeStage{}, 3: three}, active)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	return s, asked
}

func TestTheEventsPageOfAStageWithoutAChangeLogSaysSo(t *testing.T) {
	for _, n := range []int{0, 1, 2} {
		s, _ := newEventServer(t, n)
		status, doc := get(t, s, "/events")
		if status != http.StatusOK {
			t.Fatalf("stage %d: /events answers %d", n, status)
		}
		notice := doc.Find(`[data-testid="no-change-log"]`)
		if !strings.Contains(notice.Text(), "Stage "+string(rune('0'+n))+" writes no change log") {
			t.Errorf("stage %d: notice %q", n, strings.TrimSpace(notice.Text()))
		}
		form := notice.Find(`form[data-testid="switch-to-log-stage"]`)
		if form.AttrOr("action", "") != "/stage" || form.Find(`input[name="stage"]`).AttrOr("value", "") != "3" || form.Find(`input[name="_csrf"]`).Length() != 1 {
			t.Errorf("stage %d: no form switching to stage 3 in %q", n, notice.Text())
		}
		if doc.Find(`[data-testid="events-table"]`).Length() != 0 || doc.Find(`[data-testid="error-page"]`).Length() != 0 {
			t.Errorf("stage %d: the page shows a table or an error", n)
		}
		if doc.Find(`[data-testid="nav-events"][aria-current="page"]`).Length() != 1 {
			t.Errorf("stage %d: the Events nav link is not the current one", n)
		}
		a := call(t, s, http.MethodGet, "/api/events", "", "")
		if a.status != http.StatusNotFound || !strings.HasPrefix(a.ctype, "application/problem+json") || !strings.Contains(string(a.body), "writes no change log") {
			t.Errorf("stage %d: GET /api/events = %d %s %s", n, a.status, a.ctype, a.body)
		}
	}
}

func eventRows(doc *goquery.Document) []*goquery.Selection {
	var out []*goquery.Selection
	doc.Find(`[data-testid="event-row"]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s) })
	return out
}

func TestTheEventsPageShowsTheChangeLogWithWhereEachEventIs(t *testing.T) {
	s, asked := newEventServer(t, 3)
	status, doc := get(t, s, "/events?order="+testEventOrder+"&type=OrderPlaced")
	if status != http.StatusOK {
		t.Fatalf("/events answers %d", status)
	}
	assertNoInlineStyleOrScript(t, doc)
	if asked.OrderID != testEventOrder || asked.Type != "OrderPlaced" {
		t.Errorf("the stage was asked %+v", *asked)
	}
	if v := doc.Find(`[data-testid="event-order-filter"]`).AttrOr("value", ""); v != testEventOrder {
		t.Errorf("order filter holds %q", v)
	}
	if doc.Find(`[data-testid="event-type-filter"] option[selected]`).AttrOr("value", "") != "OrderPlaced" {
		t.Error("the type filter does not keep OrderPlaced")
	}
	rows := eventRows(doc)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	want := []struct{ seq, typ, projection, published, schema string }{
		{"9", "OrderShipped", "pending", "false", "schema v1"},
		{"8", "OrderPlaced", "parked", "true", "schema v1 → v2"},
		{"7", "OrderPlaced", "projected", "true", "schema v2"},
	}
	for i, w := range want {
		r := rows[i]
		got := []string{r.AttrOr("data-seq", ""), r.AttrOr("data-type", ""), r.AttrOr("data-projection", ""), r.AttrOr("data-published", ""),
			strings.Join(strings.Fields(r.Find(`[data-testid="event-schema"]`).Text()), " ")}
		if strings.Join(got, "|") != strings.Join([]string{w.seq, w.typ, w.projection, w.published, w.schema}, "|") {
			t.Errorf("row %d: %v, want %+v", i, got, w)
		}
	}
	if txt := rows[0].Find(`[data-testid="event-published"]`).Text(); !strings.Contains(txt, "in the change log") {
		t.Errorf("the unpublished event says %q", txt)
	}
	if txt := rows[1].Find(`[data-testid="event-projection"]`).Text(); !strings.Contains(txt, "parked") {
		t.Errorf("the parked event says %q", txt)
	}
	if href := rows[0].Find(`[data-testid="event-order-link"]`).AttrOr("href", ""); href != "/orders/"+testEventOrder {
		t.Errorf("order link %q", href)
	}
	// The schema 1 event: stored and upcast side by side, open; the
	// customer's markup is text.
	upcast := rows[1].Find(`[data-testid="event-payload"]`)
	if _, open := upcast.Attr("open"); !open || upcast.Find(`[data-testid="payload-stored"]`).Length() != 1 {
		t.Fatal("the schema 1 event's payloads are not shown open")
	}
	if u := upcast.Find(`[data-testid="payload-upcast"]`).Text(); !strings.Contains(u, `"currency": "USD"`) || !strings.Contains(u, "<b>Eve</b>") {
		t.Errorf("upcast payload %q", u)
	}
	if strings.Contains(upcast.Find(`[data-testid="payload-stored"]`).Text(), "currency") {
		t.Error("the stored schema 1 payload shows a currency")
	}
	if _, open := rows[2].Find(`[data-testid="event-payload"]`).Attr("open"); open {
		t.Error("a current event's payload is open")
	}
	// The log's and the bus's state.
	if h, r := doc.Find(`[data-testid="state-head"]`).Text(), doc.Find(`[data-testid="state-relay"]`).Text(); h != "seq 9" || r != "seq 8" {
		t.Errorf("head %q, relay %q", h, r)
	}
	if u := doc.Find(`[data-testid="state-unpublished"]`).Text(); u != "1 not published yet" {
		t.Errorf("unpublished %q", u)
	}
	consumer := doc.Find(`[data-stream="ORDER-EVENTS"] [data-testid="bus-consumer"]`)
	if consumer.AttrOr("data-consumer", "") != "projector" || consumer.Find(`[data-testid="consumer-ack-floor"]`).Text() != "6" {
		t.Errorf("projector's consumer %q", consumer.Text())
	}
	if !consumer.HasClass("bus-consumer-waiting") {
		t.Error("a consumer with unacknowledged messages is not marked as waiting")
	}
	if e := doc.Find(`[data-stream="ORDER-COMMANDS"] [data-testid="bus-stream-error"]`).Text(); !strings.Contains(e, "no such stream") {
		t.Errorf("commands stream says %q", e)
	}
	next := doc.Find(`[data-testid="events-next"]`).AttrOr("href", "")
	if !strings.Contains(next, "before=7") || !strings.Contains(next, "type=OrderPlaced") || !strings.Contains(next, "order="+testEventOrder) {
		t.Errorf("next page %q", next)
	}
	if doc.Find(`[data-testid="events-first"]`).Length() != 0 {
		t.Error("the first page links to the first page")
	}
	_, doc = get(t, s, "/events?before=7")
	if asked.Before != 7 || doc.Find(`[data-testid="events-first"]`).AttrOr("href", "") != "/events" {
		t.Errorf("the second page asked %+v and links the first as %q", *asked, doc.Find(`[data-testid="events-first"]`).AttrOr("href", ""))
	}
}

func TestBadEventFiltersAreShownBesideTheirField(t *testing.T) {
	s, _ := newEventServer(t, 3)
	for _, tc := range []struct{ target, field string }{
		{"/events?order=nope", "order"},
		{"/events?type=OrderLost", "type"},
		{"/events?before=x", "before"},
		{"/events?limit=-3", "before"},
	} {
		status, doc := get(t, s, tc.target)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%s answers %d, want 422", tc.target, status)
		}
		if doc.Find(`[data-testid="field-error-`+tc.field+`"]`).Text() == "" {
			t.Errorf("%s shows no error beside %s", tc.target, tc.field)
		}
		if doc.Find(`[data-testid="event-row"]`).Length() != 0 || doc.Find(`[data-testid="event-state"]`).Length() != 1 {
			t.Errorf("%s: want the state and no list", tc.target)
		}
		if tc.field == "order" {
			if doc.Find(`#events-order[aria-invalid="true"]`).Length() != 1 {
				t.Error("the order field is not marked invalid")
			}
		}
	}
}

func TestTheEventsAPI(t *testing.T) {
	s, asked := newEventServer(t, 3)
	a := call(t, s, http.MethodGet, "/api/events?type=OrderPlaced&limit=3", "", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET /api/events: %d %s", a.status, a.body)
	}
	if asked.Limit != 3 || asked.Type != "OrderPlaced" {
		t.Errorf("asked %+v", *asked)
	}
	var got struct {
		Stage  int `json:"stage"`
		Events []struct {
			Seq           int64          `json:"seq"`
			SchemaVersion int            `json:"schema_version"`
			Current       int            `json:"current_schema_version"`
			Payload       map[string]any `json:"payload"`
			Upcast        map[string]any `json:"upcast_payload"`
			Published     bool           `json:"published"`
			Projection    string         `json:"projection"`
		} `json:"events"`
		Next      string `json:"next"`
		ChangeLog struct {
			Head, RelaySeq, Unpublished int64
		} `json:"change_log"`
		Bus []struct {
			Name      string `json:"name"`
			Error     string `json:"error"`
			Consumers []struct {
				Name        string `json:"name"`
				AckFloor    uint64 `json:"ack_floor"`
				AckPending  int    `json:"ack_pending"`
				Redelivered int    `json:"redelivered"`
			} `json:"consumers"`
		} `json:"bus"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Stage != 3 || len(got.Events) != 3 || got.Next != "/api/events?before=7&limit=3&type=OrderPlaced" {
		t.Fatalf("stage %d, %d events, next %q", got.Stage, len(got.Events), got.Next)
	}
	e := got.Events[1]
	if e.SchemaVersion != 1 || e.Current != 2 || e.Payload["customer"] != "<b>Eve</b>" || e.Upcast["currency"] != "USD" || e.Projection != "parked" {
		t.Errorf("the schema 1 event: %+v", e)
	}
	if got.Events[0].Upcast != nil || got.Events[0].Published {
		t.Errorf("the newest event: %+v", got.Events[0])
	}
	if !strings.Contains(string(a.body), `"relay_seq":8`) || !strings.Contains(string(a.body), `"unpublished":1`) {
		t.Errorf("change log state in %s", a.body)
	}
	if len(got.Bus) != 2 || got.Bus[0].Consumers[0].AckFloor != 6 || got.Bus[0].Consumers[0].Redelivered != 1 || got.Bus[1].Error == "" {
		t.Errorf("bus %+v", got.Bus)
	}

	for _, target := range []string{"/api/events?order=nope", "/api/events?limit=zero", "/api/events?before=-2"} {
		a := call(t, s, http.MethodGet, target, "", "")
		if a.status != http.StatusUnprocessableEntity || !strings.HasPrefix(a.ctype, "application/problem+json") {
			t.Errorf("GET %s = %d %s %s, want a 422 problem", target, a.status, a.ctype, a.body)
		}
	}
}

func TestTheEventCatalog(t *testing.T) {
	// Any stage: the events are the domain's.
	s, _ := newEventServer(t, 0)
	status, doc := get(t, s, "/events/catalog")
	if status != http.StatusOK {
		t.Fatalf("/events/catalog answers %d", status)
	}
	cat := stage3.Catalog()
	types := doc.Find(`[data-testid="catalog-type"]`)
	if types.Length() != len(cat.Types) {
		t.Fatalf("%d types on the page, the catalog has %d", types.Length(), len(cat.Types))
	}
	for _, ty := range cat.Types {
		sec := doc.Find(`[data-testid="catalog-type"][data-type="` + ty.Name + `"]`)
		for _, sc := range ty.Schemas {
			ver := sec.Find(`[data-testid="catalog-schema"][data-version="` + string(rune('0'+sc.Version)) + `"]`)
			var fields []string
			ver.Find(`[data-testid="catalog-field"]`).Each(func(_ int, f *goquery.Selection) { fields = append(fields, f.AttrOr("data-field", "")) })
			var want []string
			for _, f := range sc.Fields {
				want = append(want, f.Name)
			}
			if strings.Join(fields, " ") != strings.Join(want, " ") {
				t.Errorf("%s v%d fields %v, want %v", ty.Name, sc.Version, fields, want)
			}
			if ver.Find(`[data-testid="catalog-example"]`).Text() != sc.Example {
				t.Errorf("%s v%d example differs", ty.Name, sc.Version)
			}
		}
	}
	placed := doc.Find(`[data-type="OrderPlaced"] [data-version="1"]`)
	if u := placed.Find(`[data-testid="catalog-upcast"]`).Text(); !strings.Contains(u, `"currency"`) || strings.Contains(placed.Find(`[data-testid="catalog-example"]`).Text(), "currency") {
		t.Errorf("OrderPlaced v1 is not shown stored and upcast: %q", u)
	}
	if doc.Find(`[data-testid="catalog-envelope"] [data-field="schema_version"]`).Length() != 1 {
		t.Error("the envelope has no schema_version")
	}

	a := call(t, s, http.MethodGet, "/api/events/catalog", "", "")
	var got struct {
		Envelope []struct{ Name string } `json:"envelope"`
		Types    []struct {
			Name    string `json:"name"`
			Schemas []struct {
				Version int            `json:"version"`
				Example map[string]any `json:"example"`
				Upcast  map[string]any `json:"upcast"`
			} `json:"schemas"`
		} `json:"types"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &got) != nil {
		t.Fatalf("GET /api/events/catalog: %d %s", a.status, a.body)
	}
	if len(got.Types) != len(cat.Types) || len(got.Envelope) != len(cat.Envelope) || got.Types[0].Schemas[0].Upcast["currency"] != order.DefaultCurrency {
		t.Errorf("catalog JSON %s", a.body)
	}
}

func TestTheLagGraphDrawsTheLastMinutes(t *testing.T) {
	now := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	var samples []stageview.LagSample
	// Ten minutes ago (out of the window), then a lag that rose to 8 s and
	// fell to 0, with one second not known.
	samples = append(samples, stageview.LagSample{At: now.Add(-10 * time.Minute), Lag: 99, LagKnown: true})
	for i := range 20 {
		lag := float64(min(i, 20-i)) * 0.8
		smp := stageview.LagSample{At: now.Add(time.Duration(i-20) * time.Second), Lag: lag, LagKnown: i != 5,
			Unpublished: 0, EventsPending: float64(min(i, 20-i)), CommandsPending: -1}
		samples = append(samples, smp)
	}
	samples[len(samples)-1].Lag = 0
	g := lagGraph(samples, now)
	if g.Samples != 20 || g.Window != "1 min" {
		t.Fatalf("samples %d, window %q", g.Samples, g.Window)
	}
	lag := g.Lag.Series[0]
	if len(lag.Lines) != 2 {
		t.Errorf("the lag line has %d stretches, want 2 (broken where the lag was not known)", len(lag.Lines))
	}
	if lag.Peak != 8 || lag.LastValue != 0 || lag.Last != "0 ms" || g.Lag.MaxValue != 10 || g.Lag.Max != "10.0 s" {
		t.Errorf("lag peak %v, last %v %q, axis up to %v %q", lag.Peak, lag.LastValue, lag.Last, g.Lag.MaxValue, g.Lag.Max)
	}
	for _, l := range lag.Lines {
		for _, pt := range strings.Fields(l) {
			x, y, _ := strings.Cut(pt, ",")
			if xi, yi := atoi(t, x), atoi(t, y); xi < plotX || xi > plotX+plotW || yi < plotY || yi > plotY+plotH {
				t.Errorf("point %s outside the plot", pt)
			}
		}
	}
	byKey := map[string]webSeries{}
	for _, s := range g.Backlog.Series {
		byKey[s.Key] = webSeries{s.LastValue, s.Last, len(s.Lines)}
	}
	if c := byKey["commands"]; c.last != -1 || c.text != "—" || c.lines != 0 {
		t.Errorf("commands never known: %+v", c)
	}
	if e := byKey["events"]; e.lines != 1 || e.last != 1 {
		t.Errorf("events %+v", e)
	}

	// A graph of the first samples spans a minute, in quarters.
	young := lagGraph(samples[len(samples)-3:], now)
	if young.Window != "1 min" || young.Samples != 3 || len(young.Lag.XTicks) != 5 || young.Lag.XTicks[0].Label != "−1 min" || young.Lag.XTicks[1].Label != "−45 s" || young.Lag.XTicks[4].Label != "now" {
		t.Errorf("a graph of 3 s of samples: window %q, %d samples, ticks %+v", young.Window, young.Samples, young.Lag.XTicks)
	}
	if g := lagGraph(samples[len(samples)-3:], now.Add(150*time.Second)); g.Window != "3 min" || len(g.Lag.XTicks) != 4 {
		t.Errorf("a graph of samples 2.5 min old: window %q, ticks %+v", g.Window, g.Lag.XTicks)
	}

	// In the live panel of the stage that has it, as of now.
	shift := time.Since(now)
	for i := range samples {
		samples[i].At = samples[i].At.Add(shift)
	}
	asked := &stageview.EventQuery{}
	sw, err := NewSwitch(map[int]Stage{0: fakeStage{}, 3: eventLogStage{asked: asked, samples: samples}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(testConfig(Config{Switch: sw, Descriptions: Infos, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	if err != nil {
		t.Fatal(err)
	}
	_, doc := get(t, s, "/architecture/live?stage=3")
	graph := doc.Find(`[data-testid="live-panel"] [data-testid="lag-graph"]`)
	if graph.Length() != 1 {
		t.Fatal("no lag graph in the live panel")
	}
	key := graph.Find(`[data-testid="chart-lag"] [data-testid="chart-key"][data-key="lag"]`)
	if key.AttrOr("data-peak", "") != "8" || key.AttrOr("data-last", "") != "0" {
		t.Errorf("lag key peak %q last %q", key.AttrOr("data-peak", ""), key.AttrOr("data-last", ""))
	}
	if n := graph.Find(`[data-testid="chart-backlog"] [data-testid="chart-series"]`).Length(); n != 3 {
		t.Errorf("%d backlog series, want 3", n)
	}
	// Stage 0 has no such graph.
	_, doc = get(t, s, "/architecture/live?stage=0")
	if doc.Find(`[data-testid="lag-graph"]`).Length() != 0 {
		t.Error("stage 0's panel has a lag graph")
	}
}

type webSeries struct {
	last  float64
	text  string
	lines int
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a number", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
