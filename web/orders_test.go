package web

import (
	"testing"
)

const hostileName = `<img src=x onerror=alert(1)>`

func sampleRows() []OrderRow {
	return []OrderRow{
		{ID: "0190a1b2-c3d4", ShortID: "0190a1b2", URL: "/orders/0190a1b2-c3d4", Customer: "Ada Lovelace",
			Status: "placed", StatusLabel: "Placed", Lines: 2, Total: "$25.00", CreatedAt: "2 Jan 2026 10:04", Version: 1},
		{ID: "0190a1b2-ffff", ShortID: "0190ffff", URL: "/orders/0190a1b2-ffff", Customer: "Grace Hopper",
			Status: "shipped", StatusLabel: "Shipped", Lines: 1, Total: "$9.50", CreatedAt: "2 Jan 2026 11:00", Version: 3},
	}
}

func TestOrdersPage(t *testing.T) {
	t.Run("rows_show_order_fields", func(t *testing.T) {
		doc := render(t, OrdersPage(testChrome(), OrdersList{Rows: sampleRows(), Source: "write model · stage 0"}))

		rows := byTestID(doc, "order-row")
		if rows.Length() != 2 {
			t.Fatalf("rows = %d, want 2", rows.Length())
		}
		second := rows.Eq(1)
		assertAttr(t, second, "data-order-id", "0190a1b2-ffff")
		assertAttr(t, second.Find("a"), "href", "/orders/0190a1b2-ffff")
		assertText(t, second.Find("a"), "0190ffff")
		assertText(t, second.Find(`[data-testid="customer"]`), "Grace Hopper")
		assertAttr(t, second.Find(`[data-testid="status-badge"]`), "class", "badge badge-shipped")
		assertText(t, second.Find(`[data-testid="status-badge"]`), "Shipped")
		assertText(t, second.Find(`[data-testid="version"]`), "v3")
		assertText(t, byTestID(doc, "source"), "read from write model · stage 0")
		assertCSPSafe(t, doc)
	})

	t.Run("customer_markup_renders_as_text", func(t *testing.T) {
		rows := sampleRows()
		rows[0].Customer = hostileName
		doc := render(t, OrdersPage(testChrome(), OrdersList{Rows: rows}))

		assertCount(t, doc, "img", 0)
		assertText(t, byTestID(doc, "customer").First(), hostileName)
	})

	t.Run("filter_form_drives_the_results_fragment", func(t *testing.T) {
		vm := OrdersList{Q: "ada", Status: "placed", Statuses: []Option{
			{Value: "", Label: "All"}, {Value: "placed", Label: "Placed", Selected: true},
			{Value: "shipped", Label: "Shipped"}, {Value: "delivered", Label: "Delivered"},
			{Value: "cancelled", Label: "Cancelled"},
		}}
		doc := render(t, OrdersPage(testChrome(), vm))

		form := byTestID(doc, "filters")
		assertAttr(t, form, "method", "get")
		assertAttr(t, form, "action", "/orders")
		assertAttr(t, form, "hx-get", "/orders")
		assertAttr(t, form, "hx-target", "#orders-results")
		assertAttr(t, form, "hx-swap", "outerHTML")
		assertAttr(t, form, "hx-push-url", "true")
		assertAttr(t, byTestID(doc, "search"), "value", "ada")
		assertAttr(t, byTestID(doc, "search"), "name", "q")
		assertAttr(t, byTestID(doc, "status-filter").Find("option[selected]"), "value", "placed")
		assertCount(t, doc, `#filter-status option`, 5)
		for _, id := range []string{"filter-q", "filter-status"} {
			assertCount(t, doc, `label[for="`+id+`"]`, 1)
		}
		assertCount(t, doc, `form[data-testid="filters"] button[type="submit"]`, 1)
		assertCount(t, doc, "#orders-results", 1)
	})

	t.Run("just_placed_order_is_highlighted_and_pending", func(t *testing.T) {
		rows := sampleRows()
		rows[1].Pending = true
		rows[1].Syncing = true
		doc := render(t, OrdersPage(testChrome(), OrdersList{Rows: rows, HighlightID: rows[1].ID}))

		assertCount(t, doc, "tr.highlight", 1)
		assertAttr(t, doc.Find("tr.highlight"), "data-order-id", rows[1].ID)
		assertTestIDCount(t, doc, "pending-badge", 1)
		assertTestIDCount(t, doc, "syncing", 1)
	})
}

func TestOrdersResults(t *testing.T) {
	tests := []struct {
		name          string
		vm            OrdersList
		wantRows      int
		wantEmpty     bool
		wantClear     bool
		wantNext      bool
		wantFirstPage bool
	}{
		{name: "empty_without_filter_invites_a_first_order", vm: OrdersList{}, wantEmpty: true},
		{name: "empty_with_search_offers_to_clear_filters", vm: OrdersList{Q: "nobody"}, wantEmpty: true, wantClear: true},
		{name: "empty_with_status_offers_to_clear_filters", vm: OrdersList{Status: "delivered"}, wantEmpty: true, wantClear: true},
		{name: "single_page_has_no_pagination", vm: OrdersList{Rows: sampleRows()}, wantRows: 2},
		{name: "first_of_many_pages_links_next_only", vm: OrdersList{Rows: sampleRows(), NextURL: "/orders?after=abc&q=a"}, wantRows: 2, wantNext: true},
		{name: "last_page_links_back_to_first_only", vm: OrdersList{Rows: sampleRows(), FirstURL: "/orders?q=a"}, wantRows: 2, wantFirstPage: true},
		{name: "middle_page_links_both_ways", vm: OrdersList{Rows: sampleRows(), NextURL: "/orders?after=x", FirstURL: "/orders"}, wantRows: 2, wantNext: true, wantFirstPage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, OrdersResults(tt.vm))

			root := doc.Find("body > *")
			if root.Length() != 1 || root.AttrOr("id", "") != "orders-results" {
				t.Fatalf("fragment root is not a single #orders-results")
			}
			assertTestIDCount(t, doc, "order-row", tt.wantRows)
			assertTestIDCount(t, doc, "empty-state", boolCount(tt.wantEmpty))
			assertTestIDCount(t, doc, "clear-filters", boolCount(tt.wantClear))
			if tt.wantEmpty && !tt.wantClear {
				assertCount(t, doc, `[data-testid="empty-state"] a[href="/orders/new"]`, 1)
			}
			assertTestIDCount(t, doc, "next-page", boolCount(tt.wantNext))
			assertTestIDCount(t, doc, "first-page", boolCount(tt.wantFirstPage))
			if tt.wantNext {
				next := byTestID(doc, "next-page")
				assertAttr(t, next, "href", tt.vm.NextURL)
				assertAttr(t, next, "hx-get", tt.vm.NextURL)
				assertAttr(t, next, "hx-target", "#orders-results")
				assertAttr(t, next, "hx-push-url", "true")
			}
			assertCSPSafe(t, doc)
		})
	}
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}
