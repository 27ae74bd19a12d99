package web

import (
	"testing"
)

func sampleDetail() OrderDetail {
	return OrderDetail{
		ID: "0190a1b2-c3d4", ShortID: "0190a1b2", Customer: "Ada Lovelace", Address: "1 Main St",
		Status: "placed", StatusLabel: "Placed", Version: 3,
		Lines: []LineView{
			{SKU: "A-1", Name: "Widget", Quantity: "2", UnitPrice: "$10.00", Subtotal: "$20.00"},
			{SKU: "B-2", Name: "Gadget", Quantity: "1", UnitPrice: "$5.00", Subtotal: "$5.00"},
		},
		Total: "$25.00", CreatedAt: "2 Jan 2026 10:04", UpdatedAt: "2 Jan 2026 10:09",
		Source: "write model · v3",
	}
}

func allowAll(d OrderDetail) OrderDetail {
	d.CanChangeLines, d.CanShip, d.CanDeliver, d.CanCancel, d.CanDelete = true, true, true, true, true
	return d
}

func TestOrderDetailPage(t *testing.T) {
	t.Run("shows_order_facts_and_lines", func(t *testing.T) {
		doc := render(t, OrderDetailPage(testChrome(), sampleDetail()))

		assertText(t, byTestID(doc, "order-title"), "Order 0190a1b2")
		assertAttr(t, byTestID(doc, "status-badge"), "class", "badge badge-placed")
		assertText(t, byTestID(doc, "source"), "write model · v3")
		assertText(t, byTestID(doc, "customer"), "Ada Lovelace")
		assertText(t, byTestID(doc, "version"), "v3")
		assertTestIDCount(t, doc, "line-row", 2)
		assertText(t, byTestID(doc, "order-total"), "$25.00")
		assertTestIDCount(t, doc, "notice", 0)
		assertTestIDCount(t, doc, "rejection", 0)
		assertTestIDCount(t, doc, "history", 0)
		assertTestIDCount(t, doc, "actions", 0)
		assertCSPSafe(t, doc)
	})

	t.Run("customer_and_lines_markup_render_as_text", func(t *testing.T) {
		d := sampleDetail()
		d.Customer = hostileName
		d.Lines[0].Name = hostileName
		d.History = []HistoryEntry{{At: "now", Text: hostileName}}
		doc := render(t, OrderDetailPage(testChrome(), d))

		assertCount(t, doc, "img", 0)
		assertText(t, byTestID(doc, "customer"), hostileName)
		assertText(t, byTestID(doc, "history-entry").Find(".history-text"), hostileName)
	})

	t.Run("notice_and_rejection_are_alerts", func(t *testing.T) {
		d := sampleDetail()
		d.Notice = "This order changed meanwhile; here is its current state."
		d.Rejection = "Shipping was rejected: the order was cancelled."
		doc := render(t, OrderDetailPage(testChrome(), d))

		assertText(t, byTestID(doc, "notice"), d.Notice)
		assertAttr(t, byTestID(doc, "notice"), "role", "alert")
		assertText(t, byTestID(doc, "rejection"), d.Rejection)
		assertAttr(t, byTestID(doc, "rejection"), "role", "alert")
	})

	t.Run("history_lists_entries_in_order", func(t *testing.T) {
		d := sampleDetail()
		d.History = []HistoryEntry{{At: "10:04", Text: "Placed"}, {At: "10:09", Text: "Lines changed"}}
		doc := render(t, OrderDetailPage(testChrome(), d))

		entries := byTestID(doc, "history-entry")
		if entries.Length() != 2 {
			t.Fatalf("history entries = %d, want 2", entries.Length())
		}
		assertText(t, entries.Eq(1).Find(".history-text"), "Lines changed")
	})
}

func TestOrderDetailActions(t *testing.T) {
	all := []string{"action-edit", "action-ship", "action-deliver", "action-cancel", "action-delete"}
	tests := []struct {
		name  string
		allow func(*OrderDetail)
		want  []string
	}{
		{name: "placed_order_can_change_ship_cancel_delete", allow: func(d *OrderDetail) {
			d.CanChangeLines, d.CanShip, d.CanCancel, d.CanDelete = true, true, true, true
		}, want: []string{"action-edit", "action-ship", "action-cancel", "action-delete"}},
		{name: "shipped_order_can_only_be_delivered", allow: func(d *OrderDetail) { d.CanDeliver = true }, want: []string{"action-deliver"}},
		{name: "delivered_order_has_no_actions", allow: func(*OrderDetail) {}, want: nil},
		{name: "cancelled_order_can_only_be_deleted", allow: func(d *OrderDetail) { d.CanDelete = true }, want: []string{"action-delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDetail()
			tt.allow(&d)
			doc := render(t, OrderDetailPage(testChrome(), d))

			wanted := map[string]bool{}
			for _, id := range tt.want {
				wanted[id] = true
			}
			for _, id := range all {
				assertTestIDCount(t, doc, id, boolCount(wanted[id]))
			}
			assertCSPSafe(t, doc)
		})
	}
}

func TestOrderDetailActionForms(t *testing.T) {
	doc := render(t, OrderDetailPage(testChrome(), allowAll(sampleDetail())))

	assertAttr(t, byTestID(doc, "action-edit"), "href", "/orders/0190a1b2-c3d4/edit")
	forms := []struct {
		name, button, action string
	}{
		{"ship_posts_to_ship", "action-ship", "/orders/0190a1b2-c3d4/ship"},
		{"deliver_posts_to_deliver", "action-deliver", "/orders/0190a1b2-c3d4/deliver"},
		{"cancel_posts_to_cancel", "action-cancel", "/orders/0190a1b2-c3d4/cancel"},
		{"delete_posts_to_delete", "action-delete", "/orders/0190a1b2-c3d4/delete"},
	}
	for _, tt := range forms {
		t.Run(tt.name, func(t *testing.T) {
			form := byTestID(doc, tt.button).Closest("form")
			assertAttr(t, form, "method", "post")
			assertAttr(t, form, "action", tt.action)
			assertAttr(t, form.Find(`input[name="_csrf"]`), "value", "tok-123")
			assertAttr(t, form.Find(`input[name="expected_version"]`), "value", "3")
		})
	}

	t.Run("cancel_has_a_labelled_reason", func(t *testing.T) {
		reason := byTestID(doc, "action-cancel").Closest("form").Find(`input[name="reason"]`)
		id, _ := reason.Attr("id")
		assertCount(t, doc, `label[for="`+id+`"]`, 1)
	})

	t.Run("delete_asks_for_confirmation", func(t *testing.T) {
		assertAttr(t, byTestID(doc, "action-delete"), "data-confirm", "Delete this order?")
	})
}

func TestOrderDetailEscapesIDInActionURLs(t *testing.T) {
	d := allowAll(sampleDetail())
	d.ID = "a/b?c"
	doc := render(t, OrderDetailPage(testChrome(), d))

	assertAttr(t, byTestID(doc, "action-ship").Closest("form"), "action", "/orders/a%2Fb%3Fc/ship")
}
