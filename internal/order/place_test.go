package order_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

func TestPlace(t *testing.T) {
	const xss = `<img src=x onerror=alert(1)>`
	tests := []struct {
		name string
		mod  func(*order.PlaceOrder)
		// fields, when set, are the field errors the command must fail with.
		fields []string
		// check, for accepted commands, looks at the placed order.
		check func(t *testing.T, o *order.Order)
	}{
		{name: "valid_order_is_placed_at_version_1", mod: func(*order.PlaceOrder) {}},

		// id
		{name: "missing_id_is_rejected", mod: func(c *order.PlaceOrder) { c.ID = uuid.Nil }, fields: []string{"id"}},

		// customer
		{name: "empty_customer_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "" }, fields: []string{"customer"}},
		{name: "blank_customer_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = " \t\n " }, fields: []string{"customer"}},
		{name: "customer_is_trimmed", mod: func(c *order.PlaceOrder) { c.Customer = "  Ada Lovelace \n" },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Customer", o.Customer, "Ada Lovelace") }},
		{name: "customer_of_200_characters_is_accepted", mod: func(c *order.PlaceOrder) { c.Customer = strings.Repeat("é", 200) }},
		{name: "customer_of_201_characters_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = strings.Repeat("a", 201) }, fields: []string{"customer"}},
		{name: "customer_with_tab_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\tLovelace" }, fields: []string{"customer"}},
		{name: "customer_with_newline_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\nLovelace" }, fields: []string{"customer"}},
		{name: "customer_with_nul_byte_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\x00Lovelace" }, fields: []string{"customer"}},
		{name: "customer_with_escape_sequence_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\x1b[31mLovelace" }, fields: []string{"customer"}},
		{name: "customer_with_delete_character_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\x7f" }, fields: []string{"customer"}},
		{name: "customer_with_c1_control_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\u0085Lovelace" }, fields: []string{"customer"}},
		{name: "customer_with_invalid_utf8_is_rejected", mod: func(c *order.PlaceOrder) { c.Customer = "Ada\xffLovelace" }, fields: []string{"customer"}},
		{name: "customer_with_html_payload_is_accepted_as_plain_text", mod: func(c *order.PlaceOrder) { c.Customer = xss },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Customer", o.Customer, xss) }},
		{name: "customer_with_non_latin_letters_is_accepted", mod: func(c *order.PlaceOrder) { c.Customer = "Ада Лавлейс 艾达" }},

		// address
		{name: "empty_address_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = "" }, fields: []string{"address"}},
		{name: "blank_address_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = "\n\n  " }, fields: []string{"address"}},
		{name: "address_is_trimmed", mod: func(c *order.PlaceOrder) { c.Address = "\n 1 Main St\nSpringfield  \n" },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Address", o.Address, "1 Main St\nSpringfield") }},
		{name: "address_with_newline_is_accepted", mod: func(c *order.PlaceOrder) { c.Address = "1 Main St\nSpringfield" },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Address", o.Address, "1 Main St\nSpringfield") }},
		{name: "address_with_crlf_is_accepted", mod: func(c *order.PlaceOrder) { c.Address = "1 Main St\r\nSpringfield" }},
		{name: "address_with_tab_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = "1 Main St\tSpringfield" }, fields: []string{"address"}},
		{name: "address_with_bell_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = "1 Main St\aSpringfield" }, fields: []string{"address"}},
		{name: "address_of_500_characters_is_accepted", mod: func(c *order.PlaceOrder) { c.Address = strings.Repeat("ß", 500) }},
		{name: "address_of_501_characters_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = strings.Repeat("a", 501) }, fields: []string{"address"}},
		{name: "address_with_invalid_utf8_is_rejected", mod: func(c *order.PlaceOrder) { c.Address = "1 Main St\xc3" }, fields: []string{"address"}},

		// currency
		{name: "empty_currency_defaults_to_usd", mod: func(c *order.PlaceOrder) { c.Currency = "" },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Currency", o.Currency, order.DefaultCurrency) }},
		{name: "blank_currency_defaults_to_usd", mod: func(c *order.PlaceOrder) { c.Currency = "   " },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Currency", o.Currency, "USD") }},
		{name: "lower_case_currency_is_accepted_upper_cased", mod: func(c *order.PlaceOrder) { c.Currency = "eur" },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Currency", o.Currency, "EUR") }},
		{name: "padded_currency_is_trimmed", mod: func(c *order.PlaceOrder) { c.Currency = " gbp " },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Currency", o.Currency, "GBP") }},
		{name: "unknown_currency_is_rejected", mod: func(c *order.PlaceOrder) { c.Currency = "JPY" }, fields: []string{"currency"}},
		{name: "currency_name_is_rejected", mod: func(c *order.PlaceOrder) { c.Currency = "dollars" }, fields: []string{"currency"}},

		// number of lines
		{name: "no_lines_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines = nil }, fields: []string{"lines"}},
		{name: "empty_lines_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines = []order.Line{} }, fields: []string{"lines"}},
		{name: "one_line_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines = nLines(1) }},
		{name: "fifty_lines_are_accepted", mod: func(c *order.PlaceOrder) { c.Lines = nLines(50) }},
		{name: "fifty_one_lines_are_rejected", mod: func(c *order.PlaceOrder) { c.Lines = nLines(51) }, fields: []string{"lines"}},

		// quantity
		{name: "quantity_0_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Quantity = 0 }, fields: []string{"lines[0].quantity"}},
		{name: "negative_quantity_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Quantity = -1 }, fields: []string{"lines[0].quantity"}},
		{name: "quantity_1_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].Quantity = 1 }},
		{name: "quantity_1000_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].Quantity = 1000 }},
		{name: "quantity_1001_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Quantity = 1001 }, fields: []string{"lines[0].quantity"}},
		{name: "bad_quantity_on_second_line_names_lines_1", mod: func(c *order.PlaceOrder) { c.Lines[1].Quantity = 0 }, fields: []string{"lines[1].quantity"}},
		{name: "bad_quantity_on_eleventh_line_names_lines_10", mod: func(c *order.PlaceOrder) { c.Lines = nLines(12); c.Lines[10].Quantity = 1001 }, fields: []string{"lines[10].quantity"}},

		// unit price
		{name: "negative_unit_price_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].UnitPriceCents = -1 }, fields: []string{"lines[0].unit_price_cents"}},
		{name: "zero_unit_price_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].UnitPriceCents = 0 }},
		{name: "largest_unit_price_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].UnitPriceCents = order.MaxUnitPrice }},
		{name: "too_large_unit_price_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[1].UnitPriceCents = order.MaxUnitPrice + 1 }, fields: []string{"lines[1].unit_price_cents"}},

		// SKU
		{name: "empty_sku_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "" }, fields: []string{"lines[0].sku"}},
		{name: "blank_sku_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[1].SKU = "   " }, fields: []string{"lines[1].sku"}},
		{name: "sku_is_trimmed", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "  BOOK-1 " },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Lines[0].SKU", o.Lines[0].SKU, "BOOK-1") }},
		{name: "sku_of_64_characters_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = strings.Repeat("A", 64) }},
		{name: "sku_of_65_characters_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = strings.Repeat("A", 65) }, fields: []string{"lines[0].sku"}},
		{name: "sku_with_letters_digits_dash_underscore_dot_is_accepted", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "aZ09-_." }},
		{name: "sku_with_space_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "BOOK 1" }, fields: []string{"lines[0].sku"}},
		{name: "sku_with_slash_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "BOOK/1" }, fields: []string{"lines[0].sku"}},
		{name: "sku_with_html_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "<b>" }, fields: []string{"lines[0].sku"}},
		{name: "sku_with_non_ascii_letter_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "CAFÉ" }, fields: []string{"lines[0].sku"}},
		{name: "sku_with_non_ascii_digit_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].SKU = "SKU-٣" }, fields: []string{"lines[0].sku"}},
		{name: "duplicate_sku_is_rejected_on_the_later_line", mod: func(c *order.PlaceOrder) { c.Lines[1].SKU = c.Lines[0].SKU }, fields: []string{"lines[1].sku"}},
		{name: "duplicate_sku_in_other_case_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[1].SKU = "book-1" }, fields: []string{"lines[1].sku"}},
		{name: "duplicate_sku_after_trimming_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[1].SKU = " BOOK-1  " }, fields: []string{"lines[1].sku"}},
		{name: "sku_repeated_three_times_is_rejected_twice", mod: func(c *order.PlaceOrder) { c.Lines = nLines(3); c.Lines[1].SKU = "sku-1"; c.Lines[2].SKU = "Sku-1" },
			fields: []string{"lines[1].sku", "lines[2].sku"}},

		// product name
		{name: "empty_product_name_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Name = "" }, fields: []string{"lines[0].name"}},
		{name: "product_name_is_trimmed", mod: func(c *order.PlaceOrder) { c.Lines[1].Name = "\tFountain pen " },
			check: func(t *testing.T, o *order.Order) { wantString(t, "Lines[1].Name", o.Lines[1].Name, "Fountain pen") }},
		{name: "product_name_of_201_characters_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Name = strings.Repeat("n", 201) }, fields: []string{"lines[0].name"}},
		{name: "product_name_with_newline_is_rejected", mod: func(c *order.PlaceOrder) { c.Lines[0].Name = "Fountain\npen" }, fields: []string{"lines[0].name"}},

		// several errors at once
		{name: "every_error_is_reported_in_field_order", mod: func(c *order.PlaceOrder) {
			*c = order.PlaceOrder{Currency: "XXX", Lines: []order.Line{
				{SKU: "", Name: "", Quantity: 0, UnitPriceCents: -5},
				{SKU: "ok", Name: "ok", Quantity: 1, UnitPriceCents: 1},
				{SKU: "OK", Name: "ok", Quantity: 1001, UnitPriceCents: 1},
			}}
		}, fields: []string{
			"id", "customer", "address", "currency",
			"lines[0].sku", "lines[0].name", "lines[0].quantity", "lines[0].unit_price_cents",
			"lines[2].sku", "lines[2].quantity",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := validPlace()
			tc.mod(&cmd)
			o, ev, err := order.Place(cmd, t0)
			if tc.fields != nil {
				wantInvalid(t, err, tc.fields...)
				if o != nil {
					t.Errorf("rejected Place returned an order: %+v", o)
				}
				if !reflect.DeepEqual(ev, order.Event{}) {
					t.Errorf("rejected Place returned an event: %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			checkPlaced(t, cmd, o, ev)
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

// checkPlaced checks what every accepted Place returns.
func checkPlaced(t *testing.T, cmd order.PlaceOrder, o *order.Order, ev order.Event) {
	t.Helper()
	if o.ID != cmd.ID {
		t.Errorf("ID = %v, want %v", o.ID, cmd.ID)
	}
	if o.Status != order.Placed || o.Version != 1 {
		t.Errorf("status %s version %d, want placed version 1", o.Status, o.Version)
	}
	if want := stored(t0); !o.CreatedAt.Equal(want) || !o.UpdatedAt.Equal(want) || o.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt %v UpdatedAt %v, want both %v", o.CreatedAt, o.UpdatedAt, want)
	}
	if o.Customer != strings.TrimSpace(o.Customer) || o.Address != strings.TrimSpace(o.Address) {
		t.Errorf("customer %q / address %q not trimmed", o.Customer, o.Address)
	}
	if len(o.Lines) != len(cmd.Lines) {
		t.Errorf("%d lines, want %d", len(o.Lines), len(cmd.Lines))
	}
	if ev.Type != "OrderPlaced" || ev.SchemaVersion != 2 || ev.OrderVersion != 1 || ev.OrderID != o.ID {
		t.Errorf("event = type %q schema %d version %d order %v", ev.Type, ev.SchemaVersion, ev.OrderVersion, ev.OrderID)
	}
	if ev.ID == uuid.Nil {
		t.Errorf("event has no ID")
	}
	if !ev.OccurredAt.Equal(o.CreatedAt) {
		t.Errorf("event OccurredAt %v, want %v", ev.OccurredAt, o.CreatedAt)
	}
	want := order.OrderPlaced{Customer: o.Customer, Address: o.Address, Currency: o.Currency, Lines: o.Lines}
	if !reflect.DeepEqual(ev.Payload, want) {
		t.Errorf("payload = %#v, want %#v", ev.Payload, want)
	}
}

func wantString(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestPlaceEventIDsAreUnique(t *testing.T) {
	_, a, errA := order.Place(validPlace(), t0)
	_, b, errB := order.Place(validPlace(), t0)
	if errA != nil || errB != nil {
		t.Fatalf("Place: %v / %v", errA, errB)
	}
	if a.ID == b.ID {
		t.Fatalf("two placements share event ID %v", a.ID)
	}
}

func TestCheckLines(t *testing.T) {
	tests := []struct {
		name   string
		lines  []order.Line
		want   []order.Line
		fields []string
	}{
		{name: "valid_lines_are_returned_trimmed",
			lines: []order.Line{{SKU: " A-1 ", Name: " Apple ", Quantity: 3, UnitPriceCents: 50}},
			want:  []order.Line{{SKU: "A-1", Name: "Apple", Quantity: 3, UnitPriceCents: 50}}},
		{name: "no_lines_are_rejected", lines: nil, fields: []string{"lines"}},
		{name: "fifty_one_lines_are_rejected", lines: nLines(51), fields: []string{"lines"}},
		{name: "bad_line_is_named_by_index",
			lines: []order.Line{nLines(1)[0], {SKU: "B", Name: "Bee", Quantity: 0, UnitPriceCents: 1}}, fields: []string{"lines[1].quantity"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := order.CheckLines(tc.lines)
			if tc.fields != nil {
				wantInvalid(t, err, tc.fields...)
				return
			}
			if err != nil {
				t.Fatalf("CheckLines: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("lines = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTotalCents(t *testing.T) {
	tests := []struct {
		name  string
		lines []order.Line
		want  int64
	}{
		{name: "no_lines_total_zero", lines: nil, want: 0},
		{name: "one_line_is_quantity_times_price", lines: []order.Line{{Quantity: 3, UnitPriceCents: 1599}}, want: 4797},
		{name: "lines_add_up", lines: []order.Line{{Quantity: 1, UnitPriceCents: 4200}, {Quantity: 3, UnitPriceCents: 1599}}, want: 8997},
		{name: "largest_line_does_not_overflow", lines: []order.Line{{Quantity: order.MaxQuantity, UnitPriceCents: order.MaxUnitPrice}}, want: 10_000_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := order.TotalCents(tc.lines); got != tc.want {
				t.Errorf("TotalCents = %d, want %d", got, tc.want)
			}
			o := order.Order{Lines: tc.lines}
			if got := o.TotalCents(); got != tc.want {
				t.Errorf("Order.TotalCents = %d, want %d", got, tc.want)
			}
		})
	}
}
