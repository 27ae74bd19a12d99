package order_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
)

func TestDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		payload order.Payload
	}{
		{"order_placed_round_trips", order.OrderPlaced{Customer: "Ada <b>Lovelace</b>", Address: "1 Main St\nSpringfield",
			Currency: "EUR", Lines: validPlace().Lines}},
		{"order_lines_changed_round_trips", order.OrderLinesChanged{Lines: otherLines()}},
		{"order_shipped_round_trips", order.OrderShipped{}},
		{"order_delivered_round_trips", order.OrderDelivered{}},
		{"order_cancelled_with_reason_round_trips", order.OrderCancelled{Reason: "out of stock"}},
		{"order_cancelled_without_reason_round_trips", order.OrderCancelled{}},
		{"order_deleted_round_trips", order.OrderDeleted{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.payload)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := order.Decode(tc.payload.EventType(), tc.payload.SchemaVersion(), data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, tc.payload) {
				t.Fatalf("Decode = %#v, want %#v", got, tc.payload)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	lines := []order.Line{{SKU: "BOOK-1", Name: "Notes", Quantity: 2, UnitPriceCents: 4200}}
	tests := []struct {
		name      string
		eventType string
		schema    int
		data      string
		want      order.Payload // nil: Decode must fail
	}{
		{name: "order_placed_v1_is_upcast_to_default_currency", eventType: "OrderPlaced", schema: 1,
			data: `{"customer":"Ada","address":"1 Main St","lines":[{"sku":"BOOK-1","name":"Notes","quantity":2,"unit_price_cents":4200}]}`,
			want: order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: order.DefaultCurrency, Lines: lines}},
		{name: "order_placed_v2_keeps_its_currency", eventType: "OrderPlaced", schema: 2,
			data: `{"customer":"Ada","address":"1 Main St","currency":"GBP","lines":[{"sku":"BOOK-1","name":"Notes","quantity":2,"unit_price_cents":4200}]}`,
			want: order.OrderPlaced{Customer: "Ada", Address: "1 Main St", Currency: "GBP", Lines: lines}},
		{name: "unknown_fields_are_ignored", eventType: "OrderShipped", schema: 1, data: `{"carrier":"ups"}`, want: order.OrderShipped{}},
		{name: "unknown_event_type_is_an_error", eventType: "OrderExploded", schema: 1, data: `{}`},
		{name: "empty_event_type_is_an_error", eventType: "", schema: 1, data: `{}`},
		{name: "event_type_in_other_case_is_an_error", eventType: "orderplaced", schema: 2, data: `{}`},
		{name: "order_placed_schema_3_is_an_error", eventType: "OrderPlaced", schema: 3, data: `{}`},
		{name: "order_placed_schema_0_is_an_error", eventType: "OrderPlaced", schema: 0, data: `{}`},
		{name: "order_lines_changed_schema_2_is_an_error", eventType: "OrderLinesChanged", schema: 2, data: `{"lines":[]}`},
		{name: "order_shipped_schema_0_is_an_error", eventType: "OrderShipped", schema: 0, data: `{}`},
		{name: "order_delivered_schema_2_is_an_error", eventType: "OrderDelivered", schema: 2, data: `{}`},
		{name: "order_cancelled_schema_2_is_an_error", eventType: "OrderCancelled", schema: 2, data: `{}`},
		{name: "order_deleted_schema_2_is_an_error", eventType: "OrderDeleted", schema: 2, data: `{}`},
		{name: "malformed_json_is_an_error", eventType: "OrderLinesChanged", schema: 1, data: `{"lines":`},
		{name: "malformed_v1_json_is_an_error", eventType: "OrderPlaced", schema: 1, data: `not json`},
		{name: "wrong_json_type_is_an_error", eventType: "OrderCancelled", schema: 1, data: `{"reason":42}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := order.Decode(tc.eventType, tc.schema, []byte(tc.data))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Decode = %#v, want an error", got)
				}
				if got != nil {
					t.Errorf("failed Decode returned payload %#v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode = %#v, want %#v", got, tc.want)
			}
		})
	}
}

// life runs commands on a new order and returns it with the events they made.
type step func(o *order.Order, now int) (order.Event, error)

var (
	changeLinesStep = func(lines []order.Line) step {
		return func(o *order.Order, k int) (order.Event, error) {
			return o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: lines, ExpectedVersion: o.Version}, at(k))
		}
	}
	shipStep step = func(o *order.Order, k int) (order.Event, error) {
		return o.Ship(order.ShipOrder{ID: o.ID, ExpectedVersion: o.Version}, at(k))
	}
	deliverStep step = func(o *order.Order, k int) (order.Event, error) {
		return o.Deliver(order.DeliverOrder{ID: o.ID, ExpectedVersion: o.Version}, at(k))
	}
	cancelStep step = func(o *order.Order, k int) (order.Event, error) {
		return o.Cancel(order.CancelOrder{ID: o.ID, Reason: "no longer needed", ExpectedVersion: o.Version}, at(k))
	}
	deleteStep step = func(o *order.Order, k int) (order.Event, error) {
		return o.Delete(order.DeleteOrder{ID: o.ID, ExpectedVersion: o.Version}, at(k))
	}
)

func live(t *testing.T, steps []step) (*order.Order, []order.Event) {
	t.Helper()
	o, ev, err := order.Place(validPlace(), t0)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	events := []order.Event{ev}
	for i, s := range steps {
		ev, err := s(o, i+1)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		events = append(events, ev)
	}
	return o, events
}

func TestApplyReplaysALife(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"placed_only", nil},
		{"placed_lines_changed_shipped_delivered", []step{changeLinesStep(otherLines()), shipStep, deliverStep}},
		{"placed_lines_changed_twice_then_shipped", []step{changeLinesStep(otherLines()), changeLinesStep(nLines(50)), shipStep}},
		{"placed_cancelled_deleted", []step{cancelStep, deleteStep}},
		{"placed_deleted", []step{deleteStep}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, events := live(t, tc.steps)
			for i, ev := range events {
				if ev.OrderVersion != i+1 {
					t.Fatalf("event %d has version %d", i, ev.OrderVersion)
				}
			}

			t.Run("from_the_events", func(t *testing.T) {
				var got order.Order
				for _, ev := range events {
					if err := got.Apply(ev); err != nil {
						t.Fatalf("Apply %s v%d: %v", ev.Type, ev.OrderVersion, err)
					}
				}
				if !reflect.DeepEqual(got, *want) {
					t.Fatalf("replayed order\n %+v\nwant\n %+v", got, *want)
				}
			})

			t.Run("through_json_and_decode", func(t *testing.T) {
				var got order.Order
				for _, ev := range events {
					data, err := json.Marshal(ev.Payload)
					if err != nil {
						t.Fatalf("Marshal: %v", err)
					}
					p, err := order.Decode(ev.Type, ev.SchemaVersion, data)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					ev.Payload = p
					if err := got.Apply(ev); err != nil {
						t.Fatalf("Apply %s v%d: %v", ev.Type, ev.OrderVersion, err)
					}
				}
				if !reflect.DeepEqual(got, *want) {
					t.Fatalf("replayed order\n %+v\nwant\n %+v", got, *want)
				}
			})
		})
	}
}

func TestApplyRejectsOutOfOrderEvents(t *testing.T) {
	_, events := live(t, []step{changeLinesStep(otherLines()), shipStep, deliverStep})
	unknown := events[1]
	unknown.Payload = nil
	tests := []struct {
		name    string
		applied []order.Event // applied first, successfully
		next    order.Event   // must fail
	}{
		{"gap_in_versions_is_an_error", events[:1], events[2]},
		{"repeated_version_is_an_error", events[:2], events[1]},
		{"repeated_order_placed_is_an_error", events[:1], events[0]},
		{"older_version_is_an_error", events[:3], events[1]},
		{"first_event_with_version_2_is_an_error", nil, events[1]},
		{"unknown_payload_is_an_error", events[:1], unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o order.Order
			for _, ev := range tc.applied {
				if err := o.Apply(ev); err != nil {
					t.Fatalf("Apply %s v%d: %v", ev.Type, ev.OrderVersion, err)
				}
			}
			before := snapshot(&o)
			if err := o.Apply(tc.next); err == nil {
				t.Fatalf("Apply %s v%d on an order at v%d succeeded", tc.next.Type, tc.next.OrderVersion, before.Version)
			}
			if !reflect.DeepEqual(o, before) {
				t.Errorf("failed Apply modified the order: %+v, was %+v", o, before)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	base := order.Fingerprint(validPlace())
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint = %q, want 64 hex digits", base)
	}
	tests := []struct {
		name string
		mod  func(*order.PlaceOrder)
		same bool
	}{
		{"identical_command_is_same", func(*order.PlaceOrder) {}, true},
		{"customer_with_spaces_around_is_same", func(c *order.PlaceOrder) { c.Customer = "  " + c.Customer + "\n" }, true},
		{"address_with_spaces_around_is_same", func(c *order.PlaceOrder) { c.Address = "\t" + c.Address + "  " }, true},
		{"lower_case_currency_is_same", func(c *order.PlaceOrder) { c.Currency = "gbp" }, true},
		{"padded_currency_is_same", func(c *order.PlaceOrder) { c.Currency = " Gbp " }, true},
		{"sku_and_name_with_spaces_around_are_same", func(c *order.PlaceOrder) {
			c.Lines[0].SKU = " " + c.Lines[0].SKU + " "
			c.Lines[1].Name = c.Lines[1].Name + "  "
		}, true},
		{"other_customer_differs", func(c *order.PlaceOrder) { c.Customer = "Charles Babbage" }, false},
		{"customer_in_other_case_differs", func(c *order.PlaceOrder) { c.Customer = strings.ToUpper(c.Customer) }, false},
		{"other_address_differs", func(c *order.PlaceOrder) { c.Address = "1 Main St" }, false},
		{"other_currency_differs", func(c *order.PlaceOrder) { c.Currency = "EUR" }, false},
		{"other_sku_differs", func(c *order.PlaceOrder) { c.Lines[0].SKU = "BOOK-2" }, false},
		{"other_product_name_differs", func(c *order.PlaceOrder) { c.Lines[0].Name = "Sketch" }, false},
		{"other_quantity_differs", func(c *order.PlaceOrder) { c.Lines[0].Quantity++ }, false},
		{"other_unit_price_differs", func(c *order.PlaceOrder) { c.Lines[0].UnitPriceCents++ }, false},
		{"extra_line_differs", func(c *order.PlaceOrder) { c.Lines = append(c.Lines, otherLines()...) }, false},
		{"missing_line_differs", func(c *order.PlaceOrder) { c.Lines = c.Lines[:1] }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := validPlace()
			tc.mod(&cmd)
			got := order.Fingerprint(cmd)
			if (got == base) != tc.same {
				t.Errorf("Fingerprint same = %v, want %v", got == base, tc.same)
			}
		})
	}

	t.Run("empty_currency_is_same_as_default_currency", func(t *testing.T) {
		a, b := validPlace(), validPlace()
		a.Currency, b.Currency = "", order.DefaultCurrency
		if order.Fingerprint(a) != order.Fingerprint(b) {
			t.Errorf("empty currency and %s fingerprint differently", order.DefaultCurrency)
		}
	})
}
