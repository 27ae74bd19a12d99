package browser

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Selectors of the header's stage switcher and the architecture page.
const (
	stageBadge    = `[data-testid=stage-badge]`
	stageSelect   = `form[data-testid=stage-switcher] select[name=stage]`
	stageSubmit   = `form[data-testid=stage-switcher] button[type=submit]`
	diagram       = `svg[data-testid=diagram]`
	diagramBoxSel = diagram + ` [data-testid=diagram-box]`
)

// stageComponents are boxes a stage's diagram must draw, and boxes it must
// not: what tells the stage apart from the one before it. A stage missing
// here only needs some boxes.
var stageComponents = map[int]struct{ has, lacks []string }{
	0: {has: []string{"browser", "bff", "rest-api", "crud-service", "row-model", "write-db"}, lacks: []string{"modify-api"}},
	1: {has: []string{"modify-api", "retrieve-api", "row-model", "write-db"}, lacks: []string{"crud-service", "read-model"}},
	2: {has: []string{"modify-api", "retrieve-api", "write-model", "read-model", "write-db"}, lacks: []string{"row-model", "read-db"}},
	3: {has: []string{"write-model", "read-model", "write-db", "read-db", "event-bus", "projector"}, lacks: []string{"row-model"}},
}

// TestStageSwitcherChangesStageLive starts the app in stage 0 and, on the
// architecture page, switches through every other stage it serves and back
// to 0 with the header's switcher: each time the badge and the diagram
// follow without a reload, and an order placed through the form is listed.
// At the end, in stage 0, every order placed in every stage is listed.
func TestStageSwitcherChangesStageLive(t *testing.T) {
	needBrowser(t)
	stages := servedStages(t)
	if stages[0] != 0 || len(stages) < 2 {
		t.Fatalf("the app serves stages %v; this test needs 0 and at least one more", stages)
	}
	base := startApp(t, 0)
	tb := newTab(t, base, 0)

	tb.open("/architecture")
	tb.setMarker()
	tb.waitStage(0)
	var offered []string
	for _, n := range stages {
		offered = append(offered, strconv.Itoa(n))
	}
	if got := evalJS[string](tb, `Array.from(document.querySelectorAll(`+jsString(stageSelect+` option`)+`)).map(o => o.value).join(",")`); got != strings.Join(offered, ",") {
		t.Errorf("the switcher offers stages %q, want %q", got, strings.Join(offered, ","))
	}
	tb.checkDiagram(0)
	tb.shot("00-stage0")

	route := append(append([]int(nil), stages[1:]...), 0)
	placed := map[string]string{} // order ID → customer
	for i, n := range route {
		step := fmt.Sprintf("%02d-stage%d", i+1, n)

		tb.switchStage(n)
		tb.waitStage(n)
		tb.waitLocation(`^/architecture\?done=stage$`)
		tb.checkNoReload(fmt.Sprintf("after switching to stage %d", n))
		if got := tb.text(flash); !strings.HasPrefix(got, fmt.Sprintf("Switched to stage %d · ", n)) {
			t.Errorf("the flash after switching to stage %d reads %q; want it to name the stage", n, got)
		}
		if got := tb.value(stageSelect); got != strconv.Itoa(n) {
			t.Errorf("after switching to stage %d the switcher shows stage %s", n, got)
		}
		tb.checkDiagram(n)
		tb.shot(step + "-architecture")

		customer := fmt.Sprintf("Stage %d customer", n)
		id := tb.placeOrderViaForm(customer, fmt.Sprintf("%d Stage Street", n+1),
			fmt.Sprintf("STG-%d", n), fmt.Sprintf("Stage %d tea", n), "1", fmt.Sprintf("%d.25", n+1))
		placed[id] = customer
		if !stageBadgeSays(tb.text(stageBadge), n) {
			t.Errorf("after placing an order the badge reads %q, want stage %d", tb.text(stageBadge), n)
		}
		tb.checkNoReload(fmt.Sprintf("after placing an order in stage %d", n))
		tb.shot(step + "-placed")

		if i < len(route)-1 {
			tb.click(`[data-testid=nav-architecture]`)
			tb.waitLocation(`^/architecture$`)
			tb.waitStage(n)
		}
	}

	// In the last stage, every order placed in every stage is listed.
	var customers []string
	for _, c := range placed {
		customers = append(customers, c)
	}
	sort.Strings(customers)
	tb.click(`[data-testid=nav-orders]`)
	tb.waitLocation(`^/orders$`)
	tb.waitListed("every order placed in every stage is listed", customersListed+` === `+jsString(strings.Join(customers, "|")))
	for id, c := range placed {
		if tb.count(rowSel(id)) != 1 {
			t.Errorf("the order %s of %q is not listed once", id, c)
		}
	}
	tb.shot(fmt.Sprintf("%02d-all-orders", len(route)+1))

	tb.typeInto(`[data-testid=search]`, "stage")
	tb.waitLocation(`^/orders\?(.*&)?q=stage(&|$)`)
	tb.waitCustomers(customers...)
	tb.retype(`[data-testid=search]`, fmt.Sprintf("Stage %d", stages[1]))
	tb.waitCustomers(fmt.Sprintf("Stage %d customer", stages[1]))
	tb.checkNoReload("after searching the orders")
	tb.shot(fmt.Sprintf("%02d-search", len(route)+2))
}

// switchStage picks stage n in the header's switcher and submits it.
func (tb *tab) switchStage(n int) {
	tb.t.Helper()
	// A click on a form htmx has not processed yet (the content just
	// swapped in) would submit it natively and reload the page: wait until
	// htmx knows the form and nothing is in flight or settling.
	tb.waitJS("htmx has taken over the stage switcher", `(() => {
		const s = document.querySelector(`+jsString(stageSelect)+`);
		return !!s && !!s.form && !!s.form["htmx-internal-data"] &&
			!document.querySelector(".htmx-request, .htmx-settling, .htmx-swapping");
	})()`)
	ok := evalJS[bool](tb, `(() => {
		const s = document.querySelector(`+jsString(stageSelect)+`);
		if (!s || !Array.from(s.options).some(o => o.value === `+jsString(strconv.Itoa(n))+`)) return false;
		s.value = `+jsString(strconv.Itoa(n))+`;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`)
	if !ok {
		tb.shot("no-stage-option")
		tb.t.Fatalf("the stage switcher offers no stage %d: %s", n, tb.pageState())
	}
	tb.click(stageSubmit)
}

// stageBadgeSays answers whether the badge's text names stage n: "Stage n"
// or "Stage n · name".
func stageBadgeSays(text string, n int) bool {
	return regexp.MustCompile(`^Stage ` + strconv.Itoa(n) + `( ·|$)`).MatchString(text)
}

// waitStage waits until the badge says stage n and the architecture page's
// diagram is stage n's.
func (tb *tab) waitStage(n int) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("the badge and the diagram show stage %d", n), `(() => {
		const b = document.querySelector(`+jsString(stageBadge)+`);
		const d = document.querySelector(`+jsString(diagram)+`);
		return !!b && /^Stage `+strconv.Itoa(n)+`( ·|$)/.test(b.textContent.trim()) &&
			!!d && d.getAttribute("data-stage") === `+jsString(strconv.Itoa(n))+`;
	})()`)
}

// checkDiagram checks the diagram on the page is stage n's: one diagram,
// drawn with the boxes stage n has.
func (tb *tab) checkDiagram(n int) {
	tb.t.Helper()
	if c := tb.count(diagram); c != 1 {
		tb.t.Errorf("stage %d: the page has %d diagrams, want 1", n, c)
	}
	if c := tb.count(diagramBoxSel); c == 0 {
		tb.t.Errorf("stage %d: the diagram has no boxes", n)
	}
	want := stageComponents[n]
	for _, comp := range want.has {
		if tb.count(diagramBoxSel+`[data-component="`+comp+`"]`) != 1 {
			tb.t.Errorf("stage %d: the diagram lacks the box %s", n, comp)
		}
	}
	for _, comp := range want.lacks {
		if tb.count(diagramBoxSel+`[data-component="`+comp+`"]`) != 0 {
			tb.t.Errorf("stage %d: the diagram has a box %s, which belongs to another stage", n, comp)
		}
	}
	if got := tb.text(`[data-testid=arch-stage-name]`); !stageBadgeSays(got, n) {
		tb.t.Errorf("stage %d: the architecture page is about %q", n, got)
	}
}

// placeOrderViaForm opens the new-order form from the nav, places an order
// with one line and waits until the list shows it; it returns its ID.
func (tb *tab) placeOrderViaForm(customer, address, sku, name, qty, price string) string {
	tb.t.Helper()
	tb.click(`[data-testid=nav-new]`)
	tb.waitLocation(`^/orders/new$`)
	tb.waitJS("the new-order form shows", `document.querySelector(`+jsString(formID)+`)`)
	id := tb.value(formID)
	tb.typeInto("#customer", customer)
	tb.typeInto("#address", address)
	tb.fillLine(1, sku, name, qty, price)
	tb.click(`[data-testid=submit]`)
	tb.waitLocation(`^/orders\?`)
	tb.waitListed("the order of "+customer+" is listed", `document.querySelector(`+jsString(rowSel(id))+`)`)
	tb.expectText(flash, "Order placed.")
	tb.expectText(rowSel(id)+` [data-testid=customer]`, customer)
	return id
}

// waitListed waits until the orders list satisfies the JavaScript
// condition. A read side that catches up later (stage 3) may not list an
// order at once: after a while without it, the list's results are fetched
// again in place (no reload), and the test logs that it had to.
func (tb *tab) waitListed(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(time.Second)
	refreshes := 0
	for {
		ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			if refreshes == 0 {
				tb.t.Logf("%s: not at once, fetching the list again", what)
			}
			refreshes++
			tb.do("fetch the list again", chromedp.Evaluate[chromedp.Void](
				`htmx.ajax("GET", location.pathname + location.search, {target: "#orders-results", swap: "outerHTML"})`))
			deadline = time.Now().Add(time.Second)
		}
		select {
		case <-tb.ctx.Done():
			tb.shot("timeout")
			tb.t.Fatalf("waiting until %s (%s): %v after %d refreshes; page: %s", what, cond, tb.ctx.Err(), refreshes, tb.pageState())
		case <-time.After(40 * time.Millisecond):
		}
	}
}
