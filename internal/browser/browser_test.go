package browser

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staircase/staircase/internal/order"
)

// Selectors shared by the tests.
const (
	formID      = `form[data-testid=order-form] input[name=id]`
	detailBadge = `[data-testid=order-detail] > header [data-testid=status-badge]`
	flash       = `[data-testid=flash]`
)

// lineField is the input of a field ("sku", "name", "quantity",
// "unit_price") in row n (from 1) of the order form.
func lineField(n int, field string) string {
	return fmt.Sprintf(`#lines > .line:nth-child(%d) [data-testid=line-%s]`, n, field)
}

func rowSel(id string) string {
	return `[data-testid=order-row][data-order-id="` + id + `"]`
}

// fillLine types one line into row n of the order form.
func (tb *tab) fillLine(n int, sku, name, qty, price string) {
	tb.t.Helper()
	tb.typeInto(lineField(n, "sku"), sku)
	tb.typeInto(lineField(n, "name"), name)
	tb.typeInto(lineField(n, "quantity"), qty)
	tb.typeInto(lineField(n, "unit_price"), price)
}

// expectText fails unless the element's text is want.
func (tb *tab) expectText(sel, want string) {
	tb.t.Helper()
	if got := tb.text(sel); got != want {
		tb.t.Errorf("%s reads %q, want %q", sel, got, want)
	}
}

// expectValue fails unless the input's value is want.
func (tb *tab) expectValue(sel, want string) {
	tb.t.Helper()
	if got := tb.value(sel); got != want {
		tb.t.Errorf("%s holds %q, want %q", sel, got, want)
	}
}

// waitText waits until the element exists and its text is want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf("%s reads %q", sel, want),
		`(document.querySelector(`+jsString(sel)+`) || {}).textContent?.trim() === `+jsString(want))
}

// customersListed is the customers of the listed rows, sorted, joined by |.
const customersListed = `Array.from(document.querySelectorAll("[data-testid=order-row] [data-testid=customer]"))
	.map(e => e.textContent.trim()).sort().join("|")`

func (tb *tab) waitCustomers(want ...string) {
	tb.t.Helper()
	tb.waitJS("the list shows "+strings.Join(want, ", "), customersListed+` === `+jsString(strings.Join(want, "|")))
}

// TestPlaceOrderWithTwoLinesShowsInListWithoutReload places an order with
// two lines through the form, finds it in the list, ships and delivers it
// and goes back, all in one document (hx-boost).
func TestPlaceOrderWithTwoLinesShowsInListWithoutReload(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.open("/orders/new")
		tb.setMarker()
		id := tb.value(formID)
		if _, err := order.ParseID(id); err != nil {
			t.Fatalf("the form's hidden id %q is not an order ID: %v", id, err)
		}
		if n := tb.count(`#lines > .line`); n != 1 {
			t.Fatalf("the new form has %d lines, want 1", n)
		}
		tb.shot("01-new-order")

		tb.typeInto("#customer", "Ada Lovelace")
		tb.typeInto("#address", "12 Analytical Row\nLondon")
		tb.fillLine(1, "TEA-01", "Green tea", "2", "12.50")

		tb.click(`[data-testid=add-line]`)
		tb.waitJS("a second line appears", `document.querySelectorAll("#lines > .line").length === 2`)
		tb.waitJS("the new line's SKU has the focus",
			`document.activeElement === document.querySelector(`+jsString(lineField(2, "sku"))+`)`)
		tb.checkNoReload("after Add line")
		tb.expectValue(lineField(1, "name"), "Green tea")
		tb.fillLine(2, "MUG-02", "Tea mug", "1", "8")

		// A third line, removed again with its × button.
		tb.click(`[data-testid=add-line]`)
		tb.waitJS("a third line appears", `document.querySelectorAll("#lines > .line").length === 3`)
		tb.typeInto(lineField(3, "sku"), "GONE-03")
		tb.click(`#lines > .line:nth-child(3) [data-remove-line]`)
		tb.waitJS("the third line is gone", `document.querySelectorAll("#lines > .line").length === 2`)
		tb.expectValue(lineField(2, "sku"), "MUG-02")
		tb.checkNoReload("after removing a line")
		tb.shot("02-two-lines")

		tb.click(`[data-testid=submit]`)
		tb.waitLocation(`^/orders\?`)
		tb.waitJS("the new order's row is listed", `document.querySelector(`+jsString(rowSel(id))+`)`)
		tb.checkNoReload("after placing the order")
		if loc := tb.location(); !strings.Contains(loc, "placed="+id) {
			t.Errorf("after placing, the location is %s, want it to name the order", loc)
		}
		tb.expectText(flash, "Order placed.")
		tb.expectText(rowSel(id)+` [data-testid=customer]`, "Ada Lovelace")
		tb.expectText(rowSel(id)+` [data-testid=status-badge]`, "Placed")
		if !evalJS[bool](tb, `document.querySelector(`+jsString(rowSel(id))+`).classList.contains("highlight")`) {
			t.Error("the new order's row is not highlighted")
		}
		if got := tb.text(rowSel(id)); !strings.Contains(got, "$33.00") {
			t.Errorf("the row %q does not show the total $33.00", got)
		}
		tb.shot("03-listed")

		tb.click(rowSel(id) + ` [data-testid=order-link]`)
		tb.waitLocation(`^/orders/` + id + `$`)
		tb.waitJS("the order's page shows", `document.querySelector('[data-testid=order-detail][data-order-id="`+id+`"]')`)
		tb.checkNoReload("after opening the order")
		if n := tb.count(`[data-testid=line-row]`); n != 2 {
			t.Errorf("the order shows %d lines, want 2", n)
		}
		first, second := tb.text(`[data-testid=line-row]:nth-child(1)`), tb.text(`[data-testid=line-row]:nth-child(2)`)
		for _, want := range []string{"TEA-01", "Green tea", "$12.50", "$25.00"} {
			if !strings.Contains(first, want) {
				t.Errorf("line 1 %q lacks %q", first, want)
			}
		}
		for _, want := range []string{"MUG-02", "Tea mug", "$8.00"} {
			if !strings.Contains(second, want) {
				t.Errorf("line 2 %q lacks %q", second, want)
			}
		}
		tb.expectText(`[data-testid=order-total]`, "$33.00")
		tb.expectText(`[data-testid=order-detail] [data-testid=customer]`, "Ada Lovelace")
		tb.expectText(`[data-testid=order-detail] [data-testid=address]`, "12 Analytical Row\nLondon")
		tb.expectText(detailBadge, "Placed")
		tb.shot("04-detail")

		tb.click(`[data-testid=action-ship]`)
		tb.waitText(detailBadge, "Shipped")
		tb.waitLocation(`^/orders/` + id + `\?done=ship&v=2$`)
		tb.expectText(flash, "Order shipped.")
		if tb.count(`[data-testid=action-ship]`) != 0 {
			t.Error("a shipped order still offers Ship")
		}
		tb.checkNoReload("after Ship")
		tb.shot("05-shipped")

		tb.click(`[data-testid=action-deliver]`)
		tb.waitText(detailBadge, "Delivered")
		tb.waitLocation(`^/orders/` + id + `\?done=deliver&v=3$`)
		tb.expectText(flash, "Order marked delivered.")
		if tb.count(`[data-testid=actions]`) != 0 {
			t.Error("a delivered order still offers actions")
		}
		tb.checkNoReload("after Deliver")
		tb.shot("06-delivered")

		tb.back()
		tb.waitLocation(`^/orders/` + id + `\?done=ship&v=2$`)
		tb.waitText(detailBadge, "Shipped")
		tb.expectText(flash, "Order shipped.")
		tb.checkNoReload("after Back")
		tb.shot("07-back")
	})
}

// TestInvalidFormShowsMessagesBesideFieldsAndKeepsInput submits a form with
// mistakes, sees each message beside its field with the input kept, then
// corrects it and places the order under the same ID.
func TestInvalidFormShowsMessagesBesideFieldsAndKeepsInput(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.open("/orders/new")
		tb.setMarker()
		id := tb.value(formID)

		tb.typeInto("#address", "7 Error Lane")
		tb.fillLine(1, "TEA-01", "Green tea", "abc", "-1")
		tb.click(`[data-testid=submit]`)

		tb.waitJS("the customer's message shows", `document.querySelector("[data-testid=error-customer]")`)
		tb.checkNoReload("after the rejected submit")
		if loc := tb.location(); loc != "/orders/new" {
			t.Errorf("after a rejected submit the location is %s, want /orders/new", loc)
		}
		if tb.text(`[data-testid=error-customer]`) == "" {
			t.Error("the customer's message is empty")
		}
		tb.expectText(`[data-testid=error-lines-0-quantity]`, "must be a whole number")
		tb.expectText(`[data-testid=error-lines-0-unit_price]`, "must be a price like 12.50")
		if tb.count(`[data-testid=form-error]`) != 1 {
			t.Error("no message on top of the form")
		}
		// Each message sits beside its own field and is tied to it.
		for _, c := range []struct{ input, errID string }{
			{"#customer", "err-customer"},
			{lineField(1, "quantity"), "err-lines-0-quantity"},
			{lineField(1, "unit_price"), "err-lines-0-unit_price"},
		} {
			js := `(() => { const i = document.querySelector(` + jsString(c.input) + `);
				const e = document.getElementById(` + jsString(c.errID) + `);
				return !!i && !!e && i.getAttribute("aria-invalid") === "true" &&
					i.getAttribute("aria-describedby") === e.id &&
					(i.closest(".field, .line-field") || {}).contains(e); })()`
			if !evalJS[bool](tb, js) {
				t.Errorf("the message %s is not beside %s, or not tied to it", c.errID, c.input)
			}
		}
		if tb.count(`[data-testid=error-address]`) != 0 {
			t.Error("the address has a message, but it was right")
		}
		tb.expectValue("#customer", "")
		tb.expectValue("#address", "7 Error Lane")
		tb.expectValue(lineField(1, "sku"), "TEA-01")
		tb.expectValue(lineField(1, "name"), "Green tea")
		tb.expectValue(lineField(1, "quantity"), "abc")
		tb.expectValue(lineField(1, "unit_price"), "-1")
		if got := tb.value(formID); got != id {
			t.Fatalf("the re-rendered form carries id %s, want the same %s", got, id)
		}
		tb.waitJS("the first invalid field has the focus", `document.activeElement && document.activeElement.id === "customer"`)
		tb.shot("01-messages")

		tb.typeInto("#customer", "Grace Hopper")
		tb.retype(lineField(1, "quantity"), "3")
		tb.retype(lineField(1, "unit_price"), "4.50")
		tb.click(`[data-testid=submit]`)
		tb.waitLocation(`^/orders\?`)
		tb.waitJS("the corrected order is listed under the form's ID", `document.querySelector(`+jsString(rowSel(id))+`)`)
		tb.checkNoReload("after the corrected submit")
		tb.expectText(flash, "Order placed.")
		tb.expectText(rowSel(id)+` [data-testid=customer]`, "Grace Hopper")
		if got := tb.text(rowSel(id)); !strings.Contains(got, "$13.50") {
			t.Errorf("the row %q does not show the total $13.50", got)
		}
		if n := tb.count(`[data-testid=order-row]`); n != 1 {
			t.Errorf("the list has %d orders, want 1", n)
		}
		tb.shot("02-placed")
	})
}

// TestHTMLInCustomerNameRendersAsText places an order whose customer is
// markup and checks that every page shows it as text.
func TestHTMLInCustomerNameRendersAsText(t *testing.T) {
	const evil = `<img src=x onerror=alert(1)>`
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.open("/orders/new")
		id := tb.value(formID)
		tb.typeInto("#customer", evil)
		tb.typeInto("#address", `<b>bold</b> street`)
		tb.fillLine(1, "TEA-01", `<script>alert(2)</script>`, "1", "1")
		tb.click(`[data-testid=submit]`)
		tb.waitJS("the order is listed", `document.querySelector(`+jsString(rowSel(id))+`)`)

		tb.expectText(rowSel(id)+` [data-testid=customer]`, evil)
		if n := tb.count(rowSel(id) + ` img`); n != 0 {
			t.Errorf("the row holds %d img elements", n)
		}
		if n := tb.count(`main img, main script, main b`); n != 0 {
			t.Errorf("the list page holds %d elements made from the customer's text", n)
		}
		tb.shot("01-list")

		tb.click(rowSel(id) + ` [data-testid=order-link]`)
		tb.waitJS("the order's page shows", `document.querySelector('[data-testid=order-detail][data-order-id="`+id+`"]')`)
		tb.expectText(`[data-testid=order-detail] [data-testid=customer]`, evil)
		tb.expectText(`[data-testid=order-detail] [data-testid=address]`, `<b>bold</b> street`)
		if got := tb.text(`[data-testid=line-row]`); !strings.Contains(got, `<script>alert(2)</script>`) {
			t.Errorf("the line %q does not show its name as text", got)
		}
		if n := tb.count(`[data-testid=order-title] img, [data-testid=order-title] *:not(span)`); n != 0 {
			t.Errorf("the title holds %d unexpected elements", n)
		}
		if n := tb.count(`main img, main script, main b`); n != 0 {
			t.Errorf("the order page holds %d elements made from the order's text", n)
		}
		tb.shot("02-detail")

		tb.click(`[data-testid=nav-dashboard]`)
		tb.waitJS("the dashboard lists the customer", `document.querySelector("[data-testid=customer-row]")`)
		if got := tb.text(`[data-testid=customer-row]`); !strings.Contains(got, evil) {
			t.Errorf("the dashboard's customer row %q does not show the name as text", got)
		}
		if n := tb.count(`main img`); n != 0 {
			t.Errorf("the dashboard holds %d img elements", n)
		}
		tb.shot("03-dashboard")

		if d := tb.dialogMessages(); len(d) != 0 {
			t.Errorf("dialogs opened: %q", d)
		}
	})
}

// TestFiltersAndSearchUpdateTheList types in the search box and picks a
// status: the rows change in place, the URL follows, and Back restores the
// previous list.
func TestFiltersAndSearchUpdateTheList(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tea := []apiLine{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}}
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Alice Adams", Lines: tea})
		alicia := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Alicia Keys", Lines: tea})
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Bob Brown", Lines: tea})
		carol := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Carol Chen", Lines: tea})
		moveViaAPI(t, tb.base, tb.stage, alicia, "shipped")
		moveViaAPI(t, tb.base, tb.stage, carol, "shipped")

		tb.open("/orders")
		tb.setMarker()
		tb.waitCustomers("Alice Adams", "Alicia Keys", "Bob Brown", "Carol Chen")
		tb.shot("01-all")

		tb.typeInto(`[data-testid=search]`, "ALI") // any case
		tb.waitCustomers("Alice Adams", "Alicia Keys")
		tb.waitLocation(`^/orders\?(.*&)?q=ALI(&|$)`)
		tb.checkNoReload("after typing a search")
		tb.shot("02-search")

		tb.do("pick the status Shipped", chromedp.Evaluate[chromedp.Void](`(() => {
			const s = document.querySelector("[data-testid=status-filter]");
			s.value = "shipped";
			s.dispatchEvent(new Event("change", {bubbles: true}));
		})()`))
		tb.waitCustomers("Alicia Keys")
		tb.waitLocation(`^/orders\?(.*&)?status=shipped(&|$)`)
		if loc := tb.location(); !regexp.MustCompile(`[?&]q=ALI(&|$)`).MatchString(loc) {
			t.Errorf("the location %s lost the search", loc)
		}
		tb.checkNoReload("after picking a status")
		tb.shot("03-status")

		tb.typeInto(`[data-testid=search]`, "x")
		tb.waitJS("the list says nothing matches", `document.querySelector("[data-testid=empty-state]")`)
		if got := tb.text(`[data-testid=empty-state]`); !strings.Contains(got, "No orders match your filters.") {
			t.Errorf("the empty state reads %q", got)
		}
		tb.shot("04-nothing")

		tb.back()
		tb.waitCustomers("Alicia Keys")
		tb.waitLocation(`^/orders\?(.*&)?status=shipped(&|$)`)
		tb.back()
		tb.waitCustomers("Alice Adams", "Alicia Keys")
		tb.waitLocation(`^/orders\?(.*&)?q=ALI(&|$)`)
		if loc := tb.location(); strings.Contains(loc, "status=shipped") {
			t.Errorf("after Back the location %s still filters by status", loc)
		}
		tb.checkNoReload("after Back")
		tb.shot("05-back")
	})
}

// TestDashboardShowsCounts checks the counts per status, the revenue and the
// top customers.
func TestDashboardShowsCounts(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		line := func(qty int, cents int64) []apiLine {
			return []apiLine{{SKU: "SKU-1", Name: "Thing", Quantity: qty, UnitPriceCents: cents}}
		}
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Alice Adams", Lines: line(2, 1250)})
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Alice Adams", Lines: line(1, 500)})
		bob := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Bob Brown", Lines: line(1, 1000)})
		carol := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Carol Chen", Lines: line(3, 500)})
		dan := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Dan Drop", Lines: line(1, 10000)})
		moveViaAPI(t, tb.base, tb.stage, bob, "shipped")
		moveViaAPI(t, tb.base, tb.stage, carol, "shipped")
		moveViaAPI(t, tb.base, tb.stage, carol, "delivered")
		moveViaAPI(t, tb.base, tb.stage, dan, "cancelled")

		tb.open("/orders")
		tb.setMarker()
		tb.click(`[data-testid=nav-dashboard]`)
		tb.waitLocation(`^/dashboard$`)
		tb.waitJS("the dashboard shows", `document.querySelector("[data-testid=revenue]")`)
		tb.checkNoReload("after opening the dashboard")

		for status, want := range map[string]string{"placed": "2", "shipped": "1", "delivered": "1", "cancelled": "1"} {
			tb.expectText(`[data-testid=count-`+status+`] .card-value`, want)
		}
		tb.expectText(`[data-testid=orders-count] .card-value`, "5")
		// Cancelled orders earn nothing: 25 + 5 + 10 + 15.
		tb.expectText(`[data-testid=revenue]`, "$55.00")
		if got := tb.text(`[data-testid=customer-row]:nth-child(1)`); !strings.Contains(got, "Alice Adams") || !strings.Contains(got, "$30.00") {
			t.Errorf("the top customer row reads %q, want Alice Adams with $30.00", got)
		}
		if got := tb.text(`[data-testid=top-customers]`); strings.Contains(got, "Dan Drop") {
			t.Errorf("a customer with only a cancelled order is a top customer: %q", got)
		}
		if got := tb.text(`[data-testid=nav-dashboard]`); got != "Dashboard" || !evalJS[bool](tb, `document.querySelector("[data-testid=nav-dashboard]").getAttribute("aria-current") === "page"`) {
			t.Error("the nav does not mark the dashboard as the current page")
		}
		tb.shot("01-dashboard")
	})
}

// TestDeleteOrderAfterConfirm declines the confirm dialog first (nothing
// happens), then accepts it: the order is gone from the list.
func TestDeleteOrderAfterConfirm(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tea := []apiLine{{SKU: "TEA-01", Name: "Green tea", Quantity: 1, UnitPriceCents: 1250}}
		keep := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Keep Me", Lines: tea})
		id := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Delete Me", Lines: tea})
		apiOrderURL := tb.base + "/api/orders/" + id
		if tb.stage > 0 {
			apiOrderURL = tb.base + "/api/queries/orders/" + id
		}

		tb.open("/orders/" + id)
		tb.setMarker()
		tb.shot("01-detail")

		tb.setDialogHandler(func(string) bool { return false })
		tb.click(`[data-testid=action-delete]`)
		if d := tb.dialogMessages(); len(d) != 1 || d[0] != "Delete this order?" {
			t.Fatalf("dialogs after the first click: %q, want one asking %q", d, "Delete this order?")
		}
		if tb.count(`.htmx-request`) != 0 {
			t.Error("declining the confirm still sent a request")
		}
		if loc := tb.location(); loc != "/orders/"+id {
			t.Errorf("after declining, the location is %s", loc)
		}
		tb.expectText(detailBadge, "Placed")
		if s := apiStatus(t, apiOrderURL); s != http.StatusOK {
			t.Errorf("after declining, GET %s answers %d", apiOrderURL, s)
		}

		tb.setDialogHandler(func(string) bool { return true })
		tb.click(`[data-testid=action-delete]`)
		tb.waitLocation(`^/orders\?done=delete$`)
		tb.waitJS("the list shows", `document.querySelector("[data-testid=orders-results]")`)
		tb.checkNoReload("after deleting")
		tb.expectText(flash, "Order deleted.")
		if tb.count(rowSel(id)) != 0 {
			t.Error("the deleted order is still listed")
		}
		if tb.count(rowSel(keep)) != 1 {
			t.Error("the other order is no longer listed")
		}
		if d := tb.dialogMessages(); len(d) != 2 {
			t.Errorf("dialogs: %q, want two", d)
		}
		waitAPIStatus(t, apiOrderURL, http.StatusNotFound)
		tb.shot("02-deleted")
	})
}

// TestPhoneSizedPages renders the orders list and the new-order form at
// 375×812 and checks nothing overflows sideways.
func TestPhoneSizedPages(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tea := []apiLine{{SKU: "TEA-01", Name: "Green tea", Quantity: 2, UnitPriceCents: 1250}}
		a := placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Alice Adams", Lines: tea})
		placeViaAPI(t, tb.base, tb.stage, apiOrder{Customer: "Bob Brown", Lines: tea})
		moveViaAPI(t, tb.base, tb.stage, a, "shipped")

		tb.do("emulate a phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateTouch))
		noOverflow := `document.documentElement.scrollWidth <= window.innerWidth`
		for _, p := range []struct{ path, ready, step string }{
			{"/orders", `[data-testid=order-row]`, "orders"},
			{"/orders/new", `[data-testid=order-form]`, "new-order"},
		} {
			tb.open(p.path)
			tb.waitJS(p.path+" shows", `document.querySelector(`+jsString(p.ready)+`)`)
			if w := evalJS[int](tb, `window.innerWidth`); w != 375 {
				t.Errorf("the viewport is %d px wide, want 375", w)
			}
			if !evalJS[bool](tb, noOverflow) {
				t.Errorf("%s is wider than the phone: scrollWidth %d", p.path, evalJS[int](tb, `document.documentElement.scrollWidth`))
			}
			tb.shot(p.step)
		}
	})
}

// TestCSPBlocksInlineScriptAndHarnessSeesIt proves the pages run under their
// Content Security Policy and that the harness catches a violation.
func TestCSPBlocksInlineScriptAndHarnessSeesIt(t *testing.T) {
	eachStage(t, func(t *testing.T, tb *tab) {
		tb.open("/orders")
		if p := tb.takeProblems(); len(p) != 0 {
			t.Fatalf("problems on a plain page load: %q", p)
		}
		tb.do("add an inline script", chromedp.Evaluate[chromedp.Void](`(() => {
			const s = document.createElement("script");
			s.textContent = "window.__inline = 1";
			document.body.appendChild(s);
		})()`))
		if evalJS[bool](tb, `window.__inline === 1`) {
			t.Error("an inline script ran: the page has no working CSP")
		}
		var csp bool
		for _, p := range tb.takeProblems() { // taking them also keeps them from failing the test
			t.Logf("seen, as expected: %s", p)
			csp = csp || strings.HasPrefix(p, "CSP violation")
		}
		if !csp {
			t.Error("the harness did not see the CSP violation")
		}
	})
}
