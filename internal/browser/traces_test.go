package browser

import (
	"slices"
	"strings"
	"testing"
)

// TestTraceOfAPlacedOrderFromItsPage places an order through the form,
// opens the order's traces from its page and the trace of the place-order
// from there: the waterfall shows the spans of the path the request took
// in the stage — down to the commit, and in stage 3 on to the relay's
// publish and the projector's apply, which join the request's trace.
func TestTraceOfAPlacedOrderFromItsPage(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.open("/orders/new")
		id := tb.value(formID)
		tb.typeInto("#customer", "Tracy Lovelace")
		tb.typeInto("#address", "4 Span Street")
		tb.fillLine(1, "TEA-01", "Green tea", "2", "12.50")
		tb.click(`[data-testid=submit]`)
		tb.waitLocation(`^/orders\?`)

		tb.open("/orders/" + id)
		tb.waitJS("the order's page shows", `document.querySelector("[data-testid=order-detail]") !== null`)
		tb.click(`[data-testid=order-traces]`)
		tb.waitLocation(`^/traces\?order=` + id + `$`)
		tb.waitJS("the order's traces list the place-order", `Array.from(document.querySelectorAll("[data-testid=trace-link]"))
			.some(a => a.textContent.trim() === "POST /orders")`)
		tb.shot("order-traces")
		if !evalJS[bool](tb, `(() => { const a = Array.from(document.querySelectorAll("[data-testid=trace-link]"))
			.find(a => a.textContent.trim() === "POST /orders"); a.click(); return true; })()`) {
			t.Fatal("no link to the place-order's trace")
		}
		tb.waitLocation(`^/traces/[0-9a-f]{32}$`)
		traceURL := tb.location()

		want := []string{"http", "stage", "commit"}
		if tb.stage == 3 {
			want = []string{"http", "handler", "changelog", "commit", "publish", "projection"}
		}
		// The projector's span ends after the request answered: look again
		// until it is in.
		for i := 0; ; i++ {
			steps := evalJS[string](tb, `Array.from(document.querySelectorAll("[data-testid=span-row]")).map(r => r.dataset.step).join(" ")`)
			if hasAll(strings.Fields(steps), want) {
				break
			}
			if i == 50 {
				t.Fatalf("the waterfall's steps are %q, want all of %v", steps, want)
			}
			tb.open(traceURL)
		}
		title := tb.text(`[data-testid=trace-title]`)
		if title != "POST /orders" {
			t.Errorf("the trace is titled %q", title)
		}
		path := evalJS[string](tb, `Array.from(document.querySelectorAll("[data-testid=trace-step]")).map(s => s.textContent.trim()).join(" → ")`)
		if !strings.HasPrefix(path, "POST /orders → ") || !strings.Contains(path, "committed v1") {
			t.Errorf("the path reads %q", path)
		}
		if tb.stage == 3 && !strings.Contains(path, "published → projected (lag ") {
			t.Errorf("stage 3's path reads %q, want it published and projected with its lag", path)
		}
		if n := tb.count(`[data-testid=waterfall] svg rect`); n != tb.count(`[data-testid=span-row]`) {
			t.Errorf("%d bars for %d spans", n, tb.count(`[data-testid=span-row]`))
		}
		tb.expectText(`[data-testid=trace-order]`, id)
		tb.shot("waterfall")
	})
}

// hasAll tells whether got holds every item of want.
func hasAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
