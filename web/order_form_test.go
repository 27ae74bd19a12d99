package web

import (
	"strings"
	"testing"
)

func TestNewOrderPage(t *testing.T) {
	t.Run("form_posts_with_csrf_and_id_and_keeps_values", func(t *testing.T) {
		f := OrderForm{
			ID: "0190-new", Action: "/orders", Customer: "Ada", Address: "1 Main St\nLondon",
			Lines:     []LineInput{{SKU: "A-1", Name: "Widget", Quantity: "2", UnitPrice: "12.50"}, {SKU: "B-2"}},
			CancelURL: "/orders",
		}
		doc := render(t, NewOrderPage(testChrome(), f))

		form := byTestID(doc, "order-form")
		assertAttr(t, form, "method", "post")
		assertAttr(t, form, "action", "/orders")
		assertAttr(t, form, "novalidate", "")
		assertAttr(t, form.Find(`input[type="hidden"][name="_csrf"]`), "value", "tok-123")
		assertAttr(t, form.Find(`input[type="hidden"][name="id"]`), "value", "0190-new")
		assertCount(t, doc, `input[name="expected_version"]`, 0)
		assertAttr(t, form.Find(`input[name="customer"]`), "value", "Ada")
		assertText(t, form.Find(`textarea[name="address"]`), "1 Main St\nLondon")
		for _, id := range []string{"customer", "address"} {
			assertCount(t, doc, `label[for="`+id+`"]`, 1)
		}
		assertText(t, byTestID(doc, "submit"), "Place order")
		assertAttr(t, byTestID(doc, "cancel"), "href", "/orders")

		lines := doc.Find("#lines .line")
		if lines.Length() != 2 {
			t.Fatalf("lines = %d, want 2", lines.Length())
		}
		assertAttr(t, lines.Eq(0).Find(`input[name="unit_price"]`), "value", "12.50")
		assertAttr(t, lines.Eq(1).Find(`input[name="sku"]`), "value", "B-2")
		add := byTestID(doc, "add-line")
		assertAttr(t, add, "type", "button")
		assertAttr(t, add, "hx-get", "/orders/new/line")
		assertAttr(t, add, "hx-target", "#lines")
		assertAttr(t, add, "hx-swap", "beforeend")
		assertCSPSafe(t, doc)
	})

	t.Run("field_errors_sit_beside_their_fields", func(t *testing.T) {
		f := OrderForm{
			Customer: hostileName,
			Lines:    []LineInput{{SKU: "A-1", Quantity: "0"}, {SKU: "", UnitPrice: "abc"}},
			Errors: map[string]string{
				"customer":            "Customer is required.",
				"lines":               "Add at least one valid line.",
				"lines[0].quantity":   "Quantity must be at least 1.",
				"lines[1].sku":        "SKU is required.",
				"lines[1].unit_price": "Unit price must be a number like 12.50.",
			},
			FormError: "Please fix the errors below.",
		}
		doc := render(t, NewOrderPage(testChrome(), f))

		assertText(t, byTestID(doc, "form-error"), "Please fix the errors below.")
		assertAttr(t, byTestID(doc, "form-error"), "role", "alert")

		customer := doc.Find(`input[name="customer"]`)
		assertAttr(t, customer, "value", hostileName)
		assertCount(t, doc, "img", 0)
		assertAttr(t, customer, "aria-invalid", "true")
		assertAttr(t, customer, "aria-describedby", "err-customer")
		assertText(t, byTestID(doc, "error-customer"), "Customer is required.")
		assertAttr(t, byTestID(doc, "error-customer"), "id", "err-customer")
		if byTestID(doc, "error-customer").Parent().Find(`input[name="customer"]`).Length() != 1 {
			t.Error("customer error is not beside the customer input")
		}

		address := doc.Find(`textarea[name="address"]`)
		if _, ok := address.Attr("aria-invalid"); ok {
			t.Error("address without error is marked invalid")
		}
		assertTestIDCount(t, doc, "error-address", 0)
		assertText(t, byTestID(doc, "error-lines"), "Add at least one valid line.")

		lines := doc.Find("#lines .line")
		tests := []struct {
			name  string
			line  int
			field string
			want  string
		}{
			{"first_line_quantity", 0, "quantity", "Quantity must be at least 1."},
			{"second_line_sku", 1, "sku", "SKU is required."},
			{"second_line_unit_price", 1, "unit_price", "Unit price must be a number like 12.50."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				line := lines.Eq(tt.line)
				input := line.Find(`input[name="` + tt.field + `"]`)
				errID := lineErrID(tt.line, tt.field)
				assertAttr(t, input, "aria-invalid", "true")
				assertAttr(t, input, "aria-describedby", errID)
				msg := line.Find(`[data-testid="` + lineErrTestID(tt.line, tt.field) + `"]`)
				assertText(t, msg, tt.want)
				assertAttr(t, msg, "id", errID)
			})
		}
		assertCount(t, doc, `#lines [aria-invalid="true"]`, 3)
		assertAttr(t, lines.Eq(1).Find(`input[name="unit_price"]`), "value", "abc")
	})

	t.Run("line_errors_given_on_the_line_are_shown_too", func(t *testing.T) {
		f := OrderForm{Lines: []LineInput{{}, {Name: "x", Errors: map[string]string{"name": "Name is too short."}}}}
		doc := render(t, NewOrderPage(testChrome(), f))

		assertText(t, byTestID(doc, "error-lines-1-name"), "Name is too short.")
		assertAttr(t, doc.Find("#lines .line").Eq(1).Find(`input[name="name"]`), "aria-describedby", "err-lines-1-name")
	})
}

func TestEditLinesPage(t *testing.T) {
	f := OrderForm{
		ID: "0190-abc", Action: "/orders/0190-abc/lines", Customer: hostileName, Address: "1 Main St",
		ExpectedVersion: 3, Lines: []LineInput{{SKU: "A-1", Name: "Widget", Quantity: "1", UnitPrice: "2.00"}},
		Submit: "Save lines",
	}
	doc := render(t, EditLinesPage(testChrome(), f))

	assertAttr(t, byTestID(doc, "order-form"), "action", "/orders/0190-abc/lines")
	assertAttr(t, doc.Find(`input[type="hidden"][name="expected_version"]`), "value", "3")
	assertCount(t, doc, `input[name="customer"], textarea[name="address"]`, 0)
	assertCount(t, doc, "img", 0)
	if got := byTestID(doc, "readonly-customer").Text(); !strings.Contains(got, hostileName) || !strings.Contains(got, "1 Main St") {
		t.Errorf("read-only customer block = %q", got)
	}
	assertText(t, byTestID(doc, "submit"), "Save lines")
	assertCount(t, doc, "#lines .line", 1)
	assertCSPSafe(t, doc)
}

func TestLineFields(t *testing.T) {
	doc := render(t, LineFields(LineInput{Index: 4, SKU: `"><script>x</script>`, Quantity: "3"}))

	line := doc.Find(".line")
	if line.Length() != 1 {
		t.Fatalf(".line rows = %d, want 1", line.Length())
	}
	for _, name := range []string{"sku", "name", "quantity", "unit_price"} {
		input := line.Find(`input[name="` + name + `"]`)
		if input.Length() != 1 {
			t.Errorf("input %s missing", name)
			continue
		}
		if input.Closest("label").Length() != 1 || input.Closest("label").Find(".line-label").Text() == "" {
			t.Errorf("input %s has no label", name)
		}
	}
	assertAttr(t, line.Find(`input[name="sku"]`), "value", `"><script>x</script>`)
	assertCount(t, doc, "script", 0)
	remove := line.Find("button[data-remove-line]")
	assertAttr(t, remove, "type", "button")
	assertAttr(t, remove, "aria-label", "Remove line")
	assertCSPSafe(t, doc)
}
