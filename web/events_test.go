package web

import (
	"strings"
	"testing"
)

func TestEventsPage(t *testing.T) {
	t.Run("an_empty_log_says_how_to_fill_it", func(t *testing.T) {
		doc := render(t, EventsPage(testChrome(), EventsView{Stage: 3, HasLog: true, CatalogURL: "/events/catalog", APIURL: "/api/events",
			State: EventLogStateView{Head: "0", RelayPosition: "seq 0", Unpublished: "0"}}))
		assertCSPSafe(t, doc)
		if !strings.Contains(byTestID(doc, "events-empty").Text(), "place an order") {
			t.Errorf("empty state %q", byTestID(doc, "events-empty").Text())
		}
		assertTestIDCount(t, doc, "events-table", 0)
		assertAttr(t, byTestID(doc, "catalog-link"), "href", "/events/catalog")
		assertAttr(t, byTestID(doc, "events-json-link"), "href", "/api/events")
	})

	t.Run("a_filtered_empty_page_says_nothing_matches", func(t *testing.T) {
		doc := render(t, EventsPage(testChrome(), EventsView{Stage: 3, HasLog: true, Type: "OrderShipped"}))
		if !strings.Contains(byTestID(doc, "events-empty").Text(), "No event matches") {
			t.Errorf("empty state %q", byTestID(doc, "events-empty").Text())
		}
		assertTestIDCount(t, doc, "clear-filters", 1)
	})

	t.Run("payloads_are_text", func(t *testing.T) {
		doc := render(t, EventsPage(testChrome(), EventsView{Stage: 3, HasLog: true, Events: []EventItem{{
			Seq: "1", Type: "OrderPlaced", OrderURL: "/orders/x", FilterURL: "/events?order=x", Version: 1, Schema: 1, Current: 2,
			Stored: hostileName, Upcast: hostileName, Projection: "held", ProjectionText: "held behind a parked event",
		}}}))
		assertCSPSafe(t, doc)
		assertText(t, byTestID(doc, "payload-stored"), hostileName)
		assertText(t, byTestID(doc, "payload-upcast"), hostileName)
		if !doc.Find(`[data-testid="event-projection"] .badge`).HasClass("badge-event-parked") {
			t.Error("a held event is not marked like a parked one")
		}
	})
}

func TestLagGraphView(t *testing.T) {
	g := LagGraph{Window: "5 min", Samples: 2,
		Lag: Chart{Key: "lag", Title: "Projection lag", Desc: "d", Width: 460, Height: 150, MaxValue: 10, Max: "10 s",
			YTicks: []ChartTick{{Pos: 126, Label: "0 ms"}, {Pos: 8, Label: "10 s"}},
			Series: []ChartSeries{{Key: "lag", Label: "Projection lag", Lines: []string{"40,100 44,90", "50,120 52,120"}, Last: "2.0 s", LastValue: 2, Peak: 3}}},
		Backlog: Chart{Key: "backlog", Title: "Waiting", Series: []ChartSeries{{Key: "events", Label: hostileName, Last: "—", LastValue: -1}}},
	}
	doc := render(t, LagGraphView(g))
	assertCSPSafe(t, doc)
	assertAttr(t, byTestID(doc, "lag-graph"), "data-samples", "2")
	assertTestIDCount(t, doc, "lag-graph-empty", 0)
	assertCount(t, doc, `[data-testid="chart-lag"] polyline`, 2)
	assertAttr(t, doc.Find(`[data-testid="chart-lag"] polyline`).First(), "points", "40,100 44,90")
	key := doc.Find(`[data-testid="chart-lag"] [data-testid="chart-key"]`)
	assertAttr(t, key, "data-last", "2")
	assertAttr(t, key, "data-peak", "3")
	if !strings.Contains(key.Text(), "2.0 s") {
		t.Errorf("lag key %q", key.Text())
	}
	if doc.Find(`[data-testid="chart-lag"] svg title`).Text() != "Projection lag" {
		t.Error("the chart has no title")
	}
	assertText(t, doc.Find(`[data-testid="chart-backlog"] [data-testid="chart-key"] .chart-last`), "—")

	g.Samples = 0
	doc = render(t, LagGraphView(g))
	assertTestIDCount(t, doc, "lag-graph-empty", 1)
}

func TestTheNavLinksTheEvents(t *testing.T) {
	ch := testChrome()
	ch.ActiveNav = "events"
	doc := render(t, EventCatalogPage(ch, EventCatalogView{}))
	assertTestIDCount(t, doc, "nav-events", 1)
	assertAttr(t, byTestID(doc, "nav-events"), "href", "/events")
	assertAttr(t, byTestID(doc, "nav-events"), "aria-current", "page")
}
