package browser

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboardRevenueFitsAPhone shows a revenue past a million on a phone:
// the amount keeps its cents, stays inside its card and the page does not
// scroll sideways.
func TestDashboardRevenueFitsAPhone(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		big := []apiLine{{SKU: "CAR-1", Name: "Car", Quantity: 1000, UnitPriceCents: 9999999}}
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Big Spender", Lines: big})
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Small Spender", Lines: []apiLine{{SKU: "INK-07", Name: "Ink", Quantity: 1, UnitPriceCents: 87}}})
		for _, width := range []int64{375, 320} {
			tb.do("emulate a phone", chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile, chromedp.EmulateTouch))
			tb.open("/dashboard")
			// Stage 3 reads the dashboard projection: it may take a moment.
			for range 50 {
				if strings.Contains(tb.text(`[data-testid=revenue]`), "$99,999,990.87") {
					break
				}
				tb.open("/dashboard")
			}
			tb.expectText(`[data-testid=revenue]`, "$99,999,990.87")
			if !evalJS[bool](tb, `document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Errorf("at %d px the dashboard is wider than the phone: scrollWidth %d", width, evalJS[int](tb, `document.documentElement.scrollWidth`))
			}
			inside := `(() => { const v = document.querySelector("[data-testid=revenue]"), c = document.querySelector("[data-testid=revenue-card]");
				const a = v.getBoundingClientRect(), b = c.getBoundingClientRect();
				return a.left >= b.left && a.right <= b.right + 0.5 && v.scrollWidth <= v.clientWidth + 1; })()`
			if !evalJS[bool](tb, inside) {
				t.Errorf("at %d px the revenue runs out of its card", width)
			}
			if got := tb.text(`[data-testid=top-customers-ranked-by]`); !strings.Contains(got, "orders") {
				t.Errorf("the top customers do not say what ranks them: %q", got)
			}
			tb.shot("dashboard-phone-" + map[int64]string{375: "375", 320: "320"}[width])
		}
	})
}
