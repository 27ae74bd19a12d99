package browser

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/stages"
)

// The workshop tests run stage 3 with --workshop and drive it from the
// Architecture page's "Workshop controls" panel alone, as a workshop
// leader would, checking what attendees are told to watch.

// startWorkshopApp starts the app in the given stage with the workshop
// controls on (and the stages' source, for the tour). Errors the app logs
// fail the test, except those matching allowed (an event parked on purpose
// is logged as an error). The tests that use it reach stage 3, so they
// skip when it is not under test.
func startWorkshopApp(t *testing.T, stage int, allowed ...*regexp.Regexp) string {
	t.Helper()
	needBrowser(t)
	if !slices.Contains(stagesUnderTest(t), 3) {
		t.Skip("stage 3 is not under test")
	}
	return serveApp(t, app.Config{DataDir: filepath.Clean(t.TempDir()), Stage: stage, Workshop: true, Source: stages.Source()}, allowed...)
}

// control is the panel's form of a workshop control.
func control(key string) string { return `[data-testid="workshop-control-` + key + `"]` }

// setControl sets a workshop control from the Architecture page's panel:
// types a number or text into its field, or picks a choice, presses its
// Set button and waits until the panel says the new value.
func (tb *tab) setControl(key, value string) {
	tb.t.Helper()
	if !strings.HasPrefix(tb.location(), "/architecture") {
		tb.open("/architecture")
	}
	field := control(key) + ` [name=value]`
	if tb.property(field, "tagName") == "SELECT" {
		tb.do("choose "+value+" for "+key, chromedp.SetValue(chromedp.CSS(field), value))
	} else {
		tb.retype(field, value)
	}
	tb.click(control(key) + ` button[type=submit]`)
	shown := value
	if shown == "" {
		shown = "none"
	}
	tb.waitJS(key+" reads "+shown, `(document.querySelector(`+jsString(`[data-testid="workshop-now-`+key+`"] strong`)+`) || {}).textContent?.trim().startsWith(`+jsString(shown)+`)`)
}

// liveValue is a figure of the live panel, as a number.
func (tb *tab) liveValue(key string) int {
	tb.t.Helper()
	s := tb.text(`[data-testid=live-stat][data-key="` + key + `"] [data-testid=live-value]`)
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		tb.t.Fatalf("live figure %s reads %q", key, s)
	}
	return n
}

// waitLive waits until the live panel (it refreshes itself every 2 s)
// shows figure key meeting cond, written in JavaScript over n.
func (tb *tab) waitLive(key, cond string) {
	tb.t.Helper()
	tb.waitJS("the live figure "+key+" is "+cond, `(() => {
		const e = document.querySelector(`+jsString(`[data-testid=live-stat][data-key="`+key+`"] [data-testid=live-value]`)+`);
		if (!e) return false;
		const n = Number(e.textContent.trim().replaceAll(",", ""));
		return !Number.isNaN(n) && (`+cond+`);
	})()`)
}

// boxMark is the mark a workshop control put on a diagram box ("" none).
func (tb *tab) boxMark(component string) string {
	tb.t.Helper()
	return evalJS[string](tb, `(document.querySelector('[data-testid=diagram-box][data-component="`+component+`"]').dataset.mark || "")`)
}

// placeThroughForm places an order with the new-order form and answers its
// ID once the list shows it (pending or not).
func (tb *tab) placeThroughForm(customer string) string {
	tb.t.Helper()
	tb.open("/orders/new")
	id := tb.value(formID)
	tb.typeInto("#customer", customer)
	tb.typeInto("#address", "1 Workshop Lane")
	tb.fillLine(1, "TEA-01", "Green tea", "2", "12.50")
	tb.click(`[data-testid=submit]`)
	tb.waitLocation(`^/orders\?`)
	tb.waitJS("the new order's row is listed", `document.querySelector(`+jsString(rowSel(id))+`)`)
	return id
}

// TestWorkshopProjectorDelayShowsAPendingRowTurningReal: with the
// projector delayed, an order placed through the form shows as pending,
// then turns into the projected row without a reload.
func TestWorkshopProjectorDelayShowsAPendingRowTurningReal(t *testing.T) {
	base := startWorkshopApp(t, 3)
	tb := newTab(t, base, 3)
	tb.open("/architecture")
	tb.setControl("projector_delay_ms", "3000")
	if got := tb.boxMark("projector"); got != "slow" {
		t.Errorf("the projector box is marked %q, want slow", got)
	}
	tb.expectText(`[data-testid=diagram-box][data-component=projector] [data-testid=box-mark]`, "+3000 ms")
	tb.shot("01-delay-set")

	id := tb.placeThroughForm("Delayed Dora")
	tb.setMarker()
	if tb.count(rowSel(id)+` [data-testid=pending-badge]`) != 1 {
		t.Fatalf("the new order is not pending while the projector waits: %s", tb.pageState())
	}
	tb.shot("02-pending")
	tb.waitJS("the pending row turned into the projected one",
		`(() => { const r = document.querySelector(`+jsString(rowSel(id))+`);
			return r && !r.querySelector("[data-testid=pending-badge]") && r.querySelector("a[data-testid=order-link]"); })()`)
	tb.checkNoReload("after the projector applied the order")
	tb.expectText(rowSel(id)+` [data-testid=customer]`, "Delayed Dora")
	tb.shot("03-projected")

	tb.open("/architecture")
	tb.setControl("projector_delay_ms", "0")
	if got := tb.boxMark("projector"); got != "" {
		t.Errorf("with the delay at 0 the projector box is marked %q", got)
	}
}

// TestWorkshopCommandsQueueWhileTheWriteDBIsDown: switched to async live,
// commands sent while the write database is "down" are accepted and queue
// on the command bus, then drain when it is up again; the diagram draws
// the command bus's path and the write database down.
func TestWorkshopCommandsQueueWhileTheWriteDBIsDown(t *testing.T) {
	// The command handler's router logs each command it nacks, to come
	// again, as an error.
	base := startWorkshopApp(t, 3, regexp.MustCompile(`^Handler returned error$`))
	tb := newTab(t, base, 3)
	tb.open("/architecture")
	if got := tb.boxMark("command-bus"); got != "idle" {
		t.Errorf("in sync mode the command bus is marked %q, want idle", got)
	}
	tb.setControl("command_bus", "async")
	if got := tb.boxMark("command-bus"); got != "" {
		t.Errorf("in async mode the command bus is marked %q", got)
	}
	if n := tb.count(`[data-testid=diagram-arrow][data-flow=command-sync][data-mark=idle]`); n != 1 {
		t.Errorf("in async mode %d sync command arrows are drawn idle, want 1", n)
	}
	tb.setControl("write_db", "down")
	if got := tb.boxMark("write-db"); got != "fault" {
		t.Errorf("the write DB box is marked %q, want fault", got)
	}
	tb.shot("01-async-write-db-down")

	var ids []string
	for i := range 3 {
		id := tb.placeThroughForm(fmt.Sprintf("Queued Quinn %d", i+1))
		if got := tb.text(flash); !strings.Contains(got, "Accepted") {
			t.Errorf("the flash after placing an order with the write database down reads %q, want it accepted", got)
		}
		if tb.count(rowSel(id)+` [data-testid=pending-badge]`) != 1 {
			t.Errorf("queued order %s is not pending", id)
		}
		ids = append(ids, id)
	}
	tb.shot("02-orders-queued")
	tb.open("/architecture")
	// One command is in the handler's hands, being retried; the others
	// wait on the bus.
	tb.waitLive("commands-accepted", "n >= 3")
	tb.waitLive("commands-backlog", "n >= 2")
	if applied := tb.liveValue("commands-applied"); applied != 0 {
		t.Errorf("%d commands applied while the write database is down", applied)
	}
	tb.shot("03-commands-queued")

	tb.setControl("write_db", "up")
	tb.waitLive("commands-backlog", "n === 0")
	tb.waitLive("commands-applied", "n >= 3")
	tb.shot("04-drained")
	tb.open("/orders")
	for _, id := range ids {
		tb.waitJS("queued order "+id+" is a projected row", `document.querySelector(`+jsString(rowSel(id)+` a[data-testid=order-link]`)+`)`)
	}
	tb.shot("05-orders-applied")
}

// TestWorkshopDuplicateDeliveryIsIgnored: with every event delivered
// twice, the live panel's Duplicates rises while the order reads as it
// should.
func TestWorkshopDuplicateDeliveryIsIgnored(t *testing.T) {
	base := startWorkshopApp(t, 3)
	tb := newTab(t, base, 3)
	id := placeViaAPI(t, base, 3, apiOrder{Customer: "Twice Tess", Lines: []apiLine{{SKU: "D-1", Name: "Dice", Quantity: 2, UnitPriceCents: 450}}})
	tb.open("/architecture")
	tb.waitLive("events-applied", "n >= 1")
	before := tb.liveValue("events-duplicate")
	tb.setControl("duplicate_deliveries_pct", "100")
	if got := tb.boxMark("event-bus"); got != "altered" {
		t.Errorf("the event bus box is marked %q, want altered", got)
	}

	tb.open("/orders/" + id)
	tb.click(`[data-testid=action-ship]`)
	tb.waitText(detailBadge, "Shipped")
	tb.open("/architecture")
	tb.waitLive("events-duplicate", fmt.Sprintf("n >= %d", before+1))
	tb.waitLive("workshop-sent-twice", "n >= 1")
	tb.shot("01-duplicate-ignored")

	tb.open("/orders/" + id)
	tb.expectText(detailBadge, "Shipped")
	tb.expectText(`[data-testid=order-detail] [data-testid=source]`, "read model · stage 3 · v2")
	if n := tb.count(`[data-testid=history-entry]`); n != 2 {
		t.Errorf("the order's history has %d entries after duplicates, want 2", n)
	}
	tb.shot("02-order-unchanged")
	tb.setControl("duplicate_deliveries_pct", "0")
}

// TestWorkshopPoisonedEventIsParkedThenReplayed: the poisoned order's
// next event is parked in the error log while other orders go on; a
// replay fails until the control is cleared, then applies it.
func TestWorkshopPoisonedEventIsParkedThenReplayed(t *testing.T) {
	// The router logs each failed attempt as an error; the projector the
	// parking.
	base := startWorkshopApp(t, 3, regexp.MustCompile(`^(Error occurred, retrying|Handler returned error|projector: event parked in the error log)$`))
	tb := newTab(t, base, 3)
	victim := placeViaAPI(t, base, 3, apiOrder{Customer: "Poisoned Pia", Lines: []apiLine{{SKU: "P-1", Name: "Pill", Quantity: 1, UnitPriceCents: 999}}})
	tb.open("/architecture")
	field := control("poison_order") + ` [name=value]`
	tb.retype(field, "not an order")
	tb.click(control("poison_order") + ` button[type=submit]`)
	tb.waitJS("the bad order ID is refused beside the field", `document.querySelector(`+jsString(control("poison_order")+` [data-testid=workshop-message]`)+`)`)
	if got := tb.text(control("poison_order") + ` [data-testid=workshop-message]`); !strings.Contains(got, "order ID") {
		t.Errorf("the message beside the field reads %q", got)
	}
	tb.expectText(`[data-testid="workshop-now-poison_order"] strong`, "none")
	tb.setControl("poison_order", victim)
	if got := tb.boxMark("projector"); got != "fault" {
		t.Errorf("the projector box is marked %q, want fault", got)
	}
	tb.shot("01-poison-set")

	tb.open("/orders/" + victim)
	tb.click(`[data-testid=action-ship]`)
	tb.waitJS("the syncing banner shows", `document.querySelector("[data-testid=syncing-banner]")`)
	other := placeViaAPI(t, base, 3, apiOrder{Customer: "Healthy Hal", Lines: []apiLine{{SKU: "H-1", Name: "Apple", Quantity: 3, UnitPriceCents: 80}}})
	tb.open("/architecture")
	tb.waitLive("events-parked", "n >= 1")
	tb.shot("02-parked")
	tb.open("/orders")
	tb.waitJS("the other order is projected", `document.querySelector(`+jsString(rowSel(other)+` a[data-testid=order-link]`)+`)`)

	tb.open("/admin/error-log")
	row := `[data-testid=error-log-row][data-status=parked]`
	tb.waitJS("the parked event is listed", `document.querySelector(`+jsString(row)+`)`)
	if got := tb.text(row + ` [data-testid=error-text]`); !strings.Contains(got, "poison") {
		t.Errorf("the parked entry's error reads %q", got)
	}
	tb.click(row + ` [data-testid=error-entry-link]`)
	tb.waitJS("the entry's page shows", `document.querySelector("[data-testid=error-entry]")`)
	entry := tb.location()
	tb.click(`[data-testid=replay]`)
	tb.waitJS("the replay's report shows", `document.querySelector("[data-testid=replay-report]")`)
	if n := tb.count(`[data-testid=replay-step][data-result=failed]`); n != 1 {
		t.Errorf("a replay while the order is poisoned: %d failed steps, want 1: %s", n, tb.pageState())
	}
	tb.shot("03-replay-still-fails")

	tb.open("/architecture")
	tb.setControl("poison_order", "")
	if got := tb.boxMark("projector"); got != "" {
		t.Errorf("with the control cleared the projector box is marked %q", got)
	}
	tb.open(entry)
	tb.click(`[data-testid=replay]`)
	tb.waitJS("the replay's report shows", `document.querySelector("[data-testid=replay-report]")`)
	if n := tb.count(`[data-testid=replay-step][data-result=applied]`); n != 1 {
		t.Errorf("the replay after clearing: %d applied steps, want 1: %s", n, tb.pageState())
	}
	tb.shot("04-replayed")
	tb.open("/orders/" + victim)
	tb.waitText(detailBadge, "Shipped")
	tb.shot("05-order-shipped")
}

// TestWorkshopLegacyEventIsUpcast: with legacy events on, an order placed
// through the form is recorded as OrderPlaced schema 1, and its history
// says it was read through the upcaster.
func TestWorkshopLegacyEventIsUpcast(t *testing.T) {
	base := startWorkshopApp(t, 3)
	tb := newTab(t, base, 3)
	tb.open("/architecture")
	tb.setControl("legacy_events", "true")
	if got := tb.boxMark("write-db"); got != "altered" {
		t.Errorf("the write DB box is marked %q, want altered", got)
	}
	tb.shot("01-legacy-on")
	id := tb.placeThroughForm("Legacy Lena")
	tb.waitJS("the order is projected", `document.querySelector(`+jsString(rowSel(id)+` a[data-testid=order-link]`)+`)`)
	tb.open("/orders/" + id)
	tb.waitJS("the order's page shows", `document.querySelector('[data-testid=order-detail][data-order-id="`+id+`"]')`)
	text := tb.text(`[data-testid=history-entry] .history-text`)
	if !strings.Contains(text, "stored as OrderPlaced schema 1") || !strings.Contains(text, "upcaster as schema 2") {
		t.Errorf("the history of a legacy order reads %q", text)
	}
	tb.shot("02-history-upcast")
	tb.open("/architecture")
	tb.waitLive("workshop-legacy-written", "n >= 1")
	tb.setControl("legacy_events", "false")
}
