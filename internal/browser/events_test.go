package browser

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staircase/staircase/internal/order"
)

// lagKey reads the lag graph's lag: "last" or "peak", in seconds; -1
// while the panel has no graph or the lag is not known.
const lagKey = `(k => { const e = document.querySelector('[data-testid="chart-lag"] [data-testid="chart-key"][data-key="lag"]'); return e ? Number(e.dataset[k]) : -1; })`

// TestTheLagGraphShowsTheLagRiseAndFall slows the projector down from the
// workshop panel, places orders, and watches the lag graph: the lag rises
// while events wait on the bus (the live panel says so), and falls back to
// nothing once the delay is off, its peak still on the graph. Then the
// event viewer shows the events, and the catalog their types.
func TestTheLagGraphShowsTheLagRiseAndFall(t *testing.T) {
	needBrowser(t)
	base := startWorkshopApp(t, 3)
	tb := newTab(t, base, 3)

	tb.open("/architecture")
	tb.waitJS("the live panel has the lag graph", `document.querySelector('[data-testid="live-panel"] [data-testid="lag-graph"]')`)
	tb.setControl("projector_delay_ms", "2000")

	var ids []string
	for i := range 5 {
		o := apiOrder{ID: order.NewID().String(), Customer: "Lag " + strconv.Itoa(i+1), Address: "1 Slow Lane",
			Lines: []apiLine{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 450}}}
		apiCall(t, http.MethodPost, base+"/api/commands/place-order", o)
		ids = append(ids, o.ID)
	}
	tb.waitJS("the graph shows a lag of 2 s or more", lagKey+`("last") >= 2`)
	tb.waitJS("the live panel says events wait for a slowed projector",
		`/Waiting: .*events? on the bus, projector delayed 2000 ms each/.test(document.querySelector('[data-testid="live-flow-text"]').textContent)`)
	tb.shot("lag-rising")

	tb.setControl("projector_delay_ms", "0")
	tb.waitJS("the lag fell back to nothing", lagKey+`("last") === 0`)
	if peak := evalJS[float64](tb, lagKey+`("peak")`); peak < 2 {
		t.Errorf("the graph's peak lag is %v s after the fall; want the 2 s or more it showed", peak)
	}
	if n := tb.count(`[data-testid="chart-lag"] polyline`); n < 1 {
		t.Errorf("the lag chart draws %d lines", n)
	}
	tb.waitJS("nothing waits any more", `!/Waiting/.test(document.querySelector('[data-testid="live-flow-text"]').textContent)`)
	tb.shot("lag-fell")

	// The event viewer: the five OrderPlaced events, published and
	// projected, and the bus's consumer with nothing pending.
	tb.open("/events")
	if n := tb.count(`[data-testid="event-row"][data-type="OrderPlaced"][data-projection="projected"][data-published="true"]`); n != len(ids) {
		t.Errorf("%d projected OrderPlaced events on /events, want %d: %s", n, len(ids), tb.pageState())
	}
	if got := tb.text(`[data-stream="ORDER-EVENTS"] [data-testid="bus-consumer"] [data-testid="consumer-pending"]`); got != "0" {
		t.Errorf("the projector's consumer has %q pending", got)
	}
	tb.shot("events")
	tb.click(`[data-testid="event-row"] [data-testid="event-order-filter-link"]`)
	tb.waitLocation(`^/events\?order=`)
	tb.waitJS("one order's events", `document.querySelectorAll('[data-testid="event-row"]').length === 1`)

	tb.open("/events/catalog")
	if n := tb.count(`[data-testid="catalog-type"]`); n != 6 {
		t.Errorf("%d event types in the catalog, want 6", n)
	}
	if tb.count(`[data-type="OrderPlaced"] [data-version="1"] [data-testid="catalog-upcast"]`) != 1 {
		t.Error("the catalog does not show OrderPlaced v1 upcast")
	}
	tb.shot("catalog")

	// At 1366 px the nav keeps to one row.
	tb.do("a 1366 px window", chromedp.EmulateViewport(1366, 900))
	tb.open("/events")
	if rows := evalJS[float64](tb, `(() => { const n = document.querySelector('.nav'); const a = n.querySelector('a'); return n.getBoundingClientRect().height / a.getBoundingClientRect().height; })()`); rows >= 1.5 {
		t.Errorf("the nav wraps at 1366 px: %.1f link heights tall", rows)
	}
}

// TestTheEventsPageOfStageZeroSaysItWritesNoChangeLog: no error, a plain
// notice and a way to switch to the stage that keeps one.
func TestTheEventsPageOfStageZeroSaysItWritesNoChangeLog(t *testing.T) {
	needBrowser(t)
	tb := newTab(t, startApp(t, 0), 0)
	tb.open("/orders")
	tb.click(`[data-testid="nav-events"]`)
	tb.waitLocation(`^/events$`)
	tb.waitJS("the notice", `document.querySelector('[data-testid="no-change-log"]')`)
	if got := tb.text(`[data-testid="no-change-log"] strong`); got != "Stage 0 writes no change log." {
		t.Errorf("the notice says %q", got)
	}
	if tb.count(`[data-testid="switch-to-log-stage"] button`) != 1 {
		t.Error("no button switching to stage 3")
	}
	tb.shot("no-change-log")
}
