package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// controlValues are the workshop controls' values, by key, as the admin
// API lists them.
func controlValues(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/api/admin/workshop")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Controls []struct{ Key, Value string }
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		t.Fatalf("GET /api/admin/workshop: %s", resp.Status)
	}
	out := map[string]string{}
	for _, c := range list.Controls {
		out[c.Key] = c.Value
	}
	return out
}

// oneRowHeader fails unless the header's brand, links and stage switcher
// sit on one row.
func (tb *tab) oneRowHeader(when string) {
	tb.t.Helper()
	rows := evalJS[int](tb, `(() => {
		const tops = new Set();
		for (const sel of [".brand", ".nav a", ".stage-badge", ".stage-switcher button"]) {
			for (const e of document.querySelectorAll(".site-header " + sel)) {
				const r = e.getBoundingClientRect();
				tops.add(Math.round((r.top + r.bottom) / 2 / 8));
			}
		}
		return tops.size;
	})()`)
	if rows != 1 {
		tb.shot("header-wraps")
		tb.t.Errorf("%s: the header at %d px spreads over %d rows, want 1", when, evalJS[int](tb, `window.innerWidth`), rows)
	}
}

// TestTheTourWalksTheStaircase follows /tour from stage 0 to stage 3 at
// 1366×768, pressing each page's first button (which switches the stage)
// and, in stage 3, the one that slows the projector: a new order then
// shows as pending until the projector applies it. The header stays on
// one row in every stage.
func TestTheTourWalksTheStaircase(t *testing.T) {
	needBrowser(t)
	base := startWorkshopApp(t, 0)
	tb := newTab(t, base, 0)
	tb.do("a laptop's screen", chromedp.EmulateViewport(1366, 768))

	tb.open("/orders")
	tb.click(`[data-testid=nav-tour]`)
	tb.waitLocation(`^/tour/0$`)
	for n := 0; n <= 3; n++ {
		tb.waitJS(fmt.Sprintf("stage %d's tour page shows", n), `document.querySelector("[data-testid=tour-title]") && location.pathname === "/tour/`+fmt.Sprint(n)+`"`)
		tb.waitJS("the diagram shows", `document.querySelector("svg[data-testid=diagram]")`)
		if n > 0 && tb.count(`[data-testid=tour-diff]`) == 0 {
			t.Errorf("stage %d's tour page shows no diff", n)
		}
		tb.shot(fmt.Sprintf("%02d-tour-stage%d", 2*n, n))
		tb.click(`[data-testid=tour-button-enter]`)
		tb.waitLocation(fmt.Sprintf(`^/tour/%d\?tried=enter$`, n))
		tb.waitStage(n)
		if got := tb.text(`[data-testid=tour-done]`); got == "" {
			t.Errorf("stage %d: no word after the button", n)
		}
		tb.oneRowHeader(fmt.Sprintf("stage %d's tour page", n))
		tb.shot(fmt.Sprintf("%02d-tour-stage%d-entered", 2*n+1, n))
		if n < 3 {
			tb.click(`[data-testid=tour-next]`)
		}
	}

	// Stage 3: the buttons the server's controls allow, and no others.
	for _, key := range []string{"slow-projector", "pause-projector", "pause-relay", "write-db-down", "restore"} {
		if tb.count(`[data-testid=tour-button-`+key+`]`) != 1 {
			t.Errorf("stage 3's tour has no button %q", key)
		}
	}
	controls := controlValues(t, base)
	for step, ctl := range map[string]string{"command-bus": "command_bus", "duplicates": "duplicate_deliveries_pct", "reorder": "reorder_deliveries", "legacy-events": "legacy_events"} {
		_, has := controls[ctl]
		if got := tb.count(`[data-testid=tour-button-`+step+`]`) == 1; got != has {
			t.Errorf("the button of step %q shows: %v; the server has its control %s: %v", step, got, ctl, has)
		}
	}

	tb.click(`[data-testid=tour-button-slow-projector]`)
	tb.waitLocation(`^/tour/3\?tried=slow-projector$`)
	if got := controlValues(t, base)["projector_delay_ms"]; got != "3000" {
		t.Fatalf("after the step the projector delay is %q, want 3000", got)
	}
	tb.shot("08-tour-stage3-slow-projector")
	id := tb.placeOrderViaForm("Tour Taker", "3 Stair Street", "TEA-01", "Green tea", "1", "4.50")
	if tb.count(rowSel(id)+` [data-testid=pending-badge]`) != 1 {
		t.Errorf("with the projector slowed the new order is not pending: %s", tb.pageState())
	}
	tb.shot("09-tour-stage3-pending")
	tb.waitJS("the pending row turned into the projected one",
		`(() => { const r = document.querySelector(`+jsString(rowSel(id))+`); return r && !r.querySelector("[data-testid=pending-badge]"); })()`)

	// The order's page shows its whole ID, and copies it.
	tb.open("/orders/" + id)
	tb.expectText(`[data-testid=order-id]`, id)
	tb.click(`[data-testid=copy-id]`)
	tb.waitJS("the copy button says it copied", `document.querySelector("[data-testid=copy-id]").textContent === "Copied"`)
	tb.shot("10-order-whole-id")

	tb.open("/tour/3")
	tb.click(`[data-testid=tour-button-restore]`)
	tb.waitLocation(`^/tour/3\?tried=restore$`)
	if got := controlValues(t, base)["projector_delay_ms"]; got != "0" {
		t.Errorf("after putting the controls back the projector delay is %q", got)
	}
	tb.oneRowHeader("stage 3, the architecture page")
}

// TestTheHeaderAndTheDiagramFit: at 1366 px the header is one row on
// every page of every stage; on a phone the diagram is drawn large enough
// to read and scrolls sideways, without the page overflowing.
func TestTheHeaderAndTheDiagramFit(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.do("a laptop's screen", chromedp.EmulateViewport(1366, 768))
		for _, p := range []string{"/orders", "/architecture", "/tour/3"} {
			tb.open(p)
			tb.oneRowHeader(p)
			// The header has room for one more link, the event viewer's.
			tb.do("add an Events link", chromedp.Evaluate[chromedp.Void](`(() => {
				if (document.querySelector("[data-testid=nav-events]")) return;
				const a = document.querySelector(".nav a:last-child").cloneNode(false);
				a.textContent = "Events"; a.setAttribute("data-testid", "nav-events"); a.removeAttribute("aria-current");
				document.querySelector(".nav").insertBefore(a, document.querySelector("[data-testid=nav-tour]"));
			})()`))
			tb.oneRowHeader(p + " with an Events link")
		}
		tb.shot("1366-header")

		tb.do("emulate a phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateTouch))
		tb.open("/architecture")
		tb.waitJS("the diagram shows", `document.querySelector("svg[data-testid=diagram]")`)
		// The size a box's text is drawn at: its font size times the
		// drawing's scale.
		px := evalJS[float64](tb, `(() => {
			const svg = document.querySelector("svg[data-testid=diagram]");
			const t = svg.querySelector(".box-text");
			return parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
		})()`)
		if px < 9 {
			t.Errorf("on a phone the diagram's text is %.1f px, want at least 9", px)
		}
		if !evalJS[bool](tb, `(() => { const f = document.querySelector(".arch-figure"); return f.scrollWidth > f.clientWidth; })()`) {
			t.Error("on a phone the diagram does not scroll sideways")
		}
		if !evalJS[bool](tb, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Error("on a phone the architecture page is wider than the screen")
		}
		tb.shot("phone-diagram")
		tb.open("/tour/3")
		tb.waitJS("the tour's diagram shows", `document.querySelector("svg[data-testid=diagram]")`)
		if !evalJS[bool](tb, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Errorf("on a phone the tour is %d px wide, wider than the screen", evalJS[int](tb, `document.documentElement.scrollWidth`))
		}
		tb.shot("phone-tour")
	})
}
