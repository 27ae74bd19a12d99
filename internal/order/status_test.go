package order_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/staircase/staircase/internal/order"
)

// change is one of the commands that change an existing order, run with an
// expected version.
type change struct {
	name      string // as in test names: change_lines, ship, …
	eventType string
	schema    int
	run       func(o *order.Order, expected int) (order.Event, error)
}

// now is the time every change in the status tests happens at.
var now = at(10)

var changes = map[string]change{
	"change_lines": {"change_lines", "OrderLinesChanged", 1, func(o *order.Order, v int) (order.Event, error) {
		return o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: otherLines(), ExpectedVersion: v}, now)
	}},
	"ship": {"ship", "OrderShipped", 1, func(o *order.Order, v int) (order.Event, error) {
		return o.Ship(order.ShipOrder{ID: o.ID, ExpectedVersion: v}, now)
	}},
	"deliver": {"deliver", "OrderDelivered", 1, func(o *order.Order, v int) (order.Event, error) {
		return o.Deliver(order.DeliverOrder{ID: o.ID, ExpectedVersion: v}, now)
	}},
	"cancel": {"cancel", "OrderCancelled", 1, func(o *order.Order, v int) (order.Event, error) {
		return o.Cancel(order.CancelOrder{ID: o.ID, Reason: "  out of stock ", ExpectedVersion: v}, now)
	}},
	"delete": {"delete", "OrderDeleted", 1, func(o *order.Order, v int) (order.Event, error) {
		return o.Delete(order.DeleteOrder{ID: o.ID, ExpectedVersion: v}, now)
	}},
}

func TestStatusMachine(t *testing.T) {
	tests := []struct {
		name    string
		status  order.Status
		change  string
		allowed bool
		// then is the status after an allowed change.
		then order.Status
	}{
		{"change_lines_of_placed_order_is_allowed", order.Placed, "change_lines", true, order.Placed},
		{"ship_placed_order_is_allowed", order.Placed, "ship", true, order.Shipped},
		{"deliver_placed_order_is_rejected", order.Placed, "deliver", false, ""},
		{"cancel_placed_order_is_allowed", order.Placed, "cancel", true, order.Cancelled},
		{"delete_placed_order_is_allowed", order.Placed, "delete", true, order.Placed},

		{"change_lines_of_shipped_order_is_rejected", order.Shipped, "change_lines", false, ""},
		{"ship_shipped_order_is_rejected", order.Shipped, "ship", false, ""},
		{"deliver_shipped_order_is_allowed", order.Shipped, "deliver", true, order.Delivered},
		{"cancel_shipped_order_is_rejected", order.Shipped, "cancel", false, ""},
		{"delete_shipped_order_is_rejected", order.Shipped, "delete", false, ""},

		{"change_lines_of_delivered_order_is_rejected", order.Delivered, "change_lines", false, ""},
		{"ship_delivered_order_is_rejected", order.Delivered, "ship", false, ""},
		{"deliver_delivered_order_is_rejected", order.Delivered, "deliver", false, ""},
		{"cancel_delivered_order_is_rejected", order.Delivered, "cancel", false, ""},
		{"delete_delivered_order_is_rejected", order.Delivered, "delete", false, ""},

		{"change_lines_of_cancelled_order_is_rejected", order.Cancelled, "change_lines", false, ""},
		{"ship_cancelled_order_is_rejected", order.Cancelled, "ship", false, ""},
		{"deliver_cancelled_order_is_rejected", order.Cancelled, "deliver", false, ""},
		{"cancel_cancelled_order_is_rejected", order.Cancelled, "cancel", false, ""},
		{"delete_cancelled_order_is_allowed", order.Cancelled, "delete", true, order.Cancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, ok := changes[tc.change]
			if !ok {
				t.Fatalf("no change %q", tc.change)
			}
			o := orderIn(t, tc.status)
			before := snapshot(o)

			// The table agrees with Allowed, which the screens use.
			can := order.Allowed(tc.status)
			if got := map[string]bool{"change_lines": can.ChangeLines, "ship": can.Ship, "deliver": can.Deliver,
				"cancel": can.Cancel, "delete": can.Delete}[tc.change]; got != tc.allowed {
				t.Fatalf("Allowed(%s) says %s is %v, want %v", tc.status, tc.change, got, tc.allowed)
			}

			ev, err := ch.run(o, 0)
			if !tc.allowed {
				e := wantConflictCopy(t, err, o, before)
				if !strings.Contains(e.Message, string(tc.status)) {
					t.Errorf("message %q does not name status %s", e.Message, tc.status)
				}
				if !reflect.DeepEqual(ev, order.Event{}) {
					t.Errorf("refused change returned an event: %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.change, err)
			}
			if o.Version != before.Version+1 {
				t.Errorf("version %d, want %d", o.Version, before.Version+1)
			}
			if o.Status != tc.then {
				t.Errorf("status %s, want %s", o.Status, tc.then)
			}
			if want := stored(now); !o.UpdatedAt.Equal(want) || o.UpdatedAt != want {
				t.Errorf("UpdatedAt %v, want %v", o.UpdatedAt, want)
			}
			if o.CreatedAt != before.CreatedAt || o.ID != before.ID || o.Customer != before.Customer ||
				o.Address != before.Address || o.Currency != before.Currency {
				t.Errorf("change touched more than it should: %+v, was %+v", *o, before)
			}
			if ev.Type != ch.eventType || ev.OrderVersion != o.Version || ev.SchemaVersion != ch.schema ||
				ev.SchemaVersion != ev.Payload.SchemaVersion() || ev.Payload.EventType() != ev.Type {
				t.Errorf("event type %q version %d schema %d, want %q %d %d",
					ev.Type, ev.OrderVersion, ev.SchemaVersion, ch.eventType, o.Version, ch.schema)
			}
			if ev.OrderID != o.ID || ev.ID == uuid.Nil || ev.OccurredAt != o.UpdatedAt {
				t.Errorf("event order %v id %v at %v", ev.OrderID, ev.ID, ev.OccurredAt)
			}
			switch p := ev.Payload.(type) {
			case order.OrderLinesChanged:
				if !reflect.DeepEqual(p.Lines, otherLines()) || !reflect.DeepEqual(o.Lines, otherLines()) {
					t.Errorf("lines: payload %+v order %+v, want %+v", p.Lines, o.Lines, otherLines())
				}
			case order.OrderCancelled:
				wantString(t, "Reason", p.Reason, "out of stock")
			default:
				if !reflect.DeepEqual(o.Lines, before.Lines) {
					t.Errorf("%s changed the lines", tc.change)
				}
			}
		})
	}
}

func TestExpectedVersion(t *testing.T) {
	// Each change is tried where its status allows it, on an order that has
	// changed a few times (so a stale version exists on both sides).
	setup := func(t *testing.T, change string) *order.Order {
		t.Helper()
		o := mustPlace(t, validPlace())
		for i := 0; i < 2; i++ {
			if _, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: nLines(i + 1)}, at(i+1)); err != nil {
				t.Fatalf("ChangeLines: %v", err)
			}
		}
		if change == "deliver" {
			if _, err := o.Ship(order.ShipOrder{ID: o.ID}, at(3)); err != nil {
				t.Fatalf("Ship: %v", err)
			}
		}
		return o
	}
	expectations := []struct {
		name     string
		expected func(current int) int
		code     string // "" when the change goes through
	}{
		{"with_version_0_applies_to_any_version", func(int) int { return 0 }, ""},
		{"with_current_version_is_allowed", func(c int) int { return c }, ""},
		{"with_stale_version_is_a_conflict", func(c int) int { return c - 1 }, order.ECONFLICT},
		{"with_version_1_after_changes_is_a_conflict", func(int) int { return 1 }, order.ECONFLICT},
		{"with_future_version_is_a_conflict", func(c int) int { return c + 1 }, order.ECONFLICT},
		{"with_negative_version_is_invalid", func(int) int { return -1 }, order.EINVALID},
	}
	for _, name := range []string{"change_lines", "ship", "deliver", "cancel", "delete"} {
		for _, x := range expectations {
			t.Run(name+"_"+x.name, func(t *testing.T) {
				ch := changes[name]
				o := setup(t, name)
				before := snapshot(o)
				expected := x.expected(o.Version)
				ev, err := ch.run(o, expected)
				switch x.code {
				case "":
					if err != nil {
						t.Fatalf("%s with expected version %d at version %d: %v", name, expected, before.Version, err)
					}
					if o.Version != before.Version+1 || ev.OrderVersion != o.Version {
						t.Fatalf("version %d event version %d, want %d", o.Version, ev.OrderVersion, before.Version+1)
					}
				case order.ECONFLICT:
					e := wantConflictCopy(t, err, o, before)
					want := order.VersionConflict(&before, expected)
					if e.Message != want.Message {
						t.Errorf("message %q, want the version conflict %q", e.Message, want.Message)
					}
					if e.Current.Version != before.Version {
						t.Errorf("Current.Version = %d, want %d", e.Current.Version, before.Version)
					}
				case order.EINVALID:
					wantInvalid(t, err, "expected_version")
					if !reflect.DeepEqual(*o, before) {
						t.Errorf("invalid change modified the order")
					}
				}
			})
		}
	}
}

func TestVersionConflict(t *testing.T) {
	o := orderIn(t, order.Shipped)
	e := order.VersionConflict(o, 1)
	if e.Code != order.ECONFLICT || e.Current != o {
		t.Fatalf("VersionConflict = %+v", e)
	}
	for _, want := range []string{"expected version 1", "version 2"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message %q lacks %q", e.Message, want)
		}
	}
}

func TestChangeLinesChecksTheLines(t *testing.T) {
	tests := []struct {
		name   string
		lines  []order.Line
		fields []string
	}{
		{"no_lines_are_rejected", nil, []string{"lines"}},
		{"fifty_one_lines_are_rejected", nLines(51), []string{"lines"}},
		{"quantity_0_is_rejected", []order.Line{{SKU: "A", Name: "A", Quantity: 0}}, []string{"lines[0].quantity"}},
		{"duplicate_sku_in_other_case_is_rejected", []order.Line{{SKU: "a", Name: "A", Quantity: 1}, {SKU: "A", Name: "A", Quantity: 1}}, []string{"lines[1].sku"}},
		{"bad_lines_on_shipped_order_are_invalid_before_conflict", []order.Line{{SKU: "", Name: "A", Quantity: 1}}, []string{"lines[0].sku"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status := order.Placed
			if strings.Contains(tc.name, "shipped") {
				status = order.Shipped
			}
			o := orderIn(t, status)
			before := snapshot(o)
			_, err := o.ChangeLines(order.ChangeOrderLines{ID: o.ID, Lines: tc.lines}, now)
			wantInvalid(t, err, tc.fields...)
			if !reflect.DeepEqual(*o, before) {
				t.Errorf("rejected change modified the order")
			}
		})
	}
}

func TestCancelReason(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		want   string
		bad    bool
	}{
		{name: "no_reason_is_accepted", reason: "", want: ""},
		{name: "reason_is_trimmed", reason: "  out of stock \n", want: "out of stock"},
		{name: "reason_of_500_characters_is_accepted", reason: strings.Repeat("ü", 500), want: strings.Repeat("ü", 500)},
		{name: "reason_of_501_characters_is_rejected", reason: strings.Repeat("x", 501), bad: true},
		{name: "reason_with_newline_inside_is_rejected", reason: "out\nof stock", bad: true},
		{name: "reason_with_nul_byte_is_rejected", reason: "out\x00of stock", bad: true},
		{name: "reason_with_invalid_utf8_is_rejected", reason: "out of stock\xff", bad: true},
		{name: "reason_with_html_is_accepted_as_plain_text", reason: `<script>alert(1)</script>`, want: `<script>alert(1)</script>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := orderIn(t, order.Placed)
			before := snapshot(o)
			ev, err := o.Cancel(order.CancelOrder{ID: o.ID, Reason: tc.reason}, now)
			if tc.bad {
				wantInvalid(t, err, "reason")
				if !reflect.DeepEqual(*o, before) {
					t.Errorf("rejected cancel modified the order")
				}
				return
			}
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			if got := ev.Payload.(order.OrderCancelled).Reason; got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		name   string
		status order.Status
		want   order.Can
	}{
		{"placed_order_allows_change_lines_ship_cancel_delete", order.Placed,
			order.Can{ChangeLines: true, Ship: true, Cancel: true, Delete: true}},
		{"shipped_order_allows_only_deliver", order.Shipped, order.Can{Deliver: true}},
		{"delivered_order_allows_nothing", order.Delivered, order.Can{}},
		{"cancelled_order_allows_only_delete", order.Cancelled, order.Can{Delete: true}},
		{"unknown_status_allows_nothing", order.Status("lost"), order.Can{}},
		{"empty_status_allows_nothing", order.Status(""), order.Can{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := order.Allowed(tc.status); got != tc.want {
				t.Errorf("Allowed(%q) = %+v, want %+v", tc.status, got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		status order.Status
		valid  bool
		label  string
	}{
		{"placed_is_valid", order.Placed, true, "Placed"},
		{"shipped_is_valid", order.Shipped, true, "Shipped"},
		{"delivered_is_valid", order.Delivered, true, "Delivered"},
		{"cancelled_is_valid", order.Cancelled, true, "Cancelled"},
		{"upper_case_status_is_not_valid", "PLACED", false, "PLACED"},
		{"unknown_status_is_not_valid", "lost", false, "lost"},
		{"empty_status_is_not_valid", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.status.Valid(); got != tc.valid {
				t.Errorf("Valid = %v, want %v", got, tc.valid)
			}
			if got := tc.status.Label(); got != tc.label {
				t.Errorf("Label = %q, want %q", got, tc.label)
			}
		})
	}
	if want := []order.Status{order.Placed, order.Shipped, order.Delivered, order.Cancelled}; !reflect.DeepEqual(order.Statuses, want) {
		t.Errorf("Statuses = %v, want %v", order.Statuses, want)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"uuid_v7_is_accepted", orderID.String(), true},
		{"upper_case_uuid_is_accepted", strings.ToUpper(orderID.String()), true},
		{"empty_string_is_rejected", "", false},
		{"nil_uuid_is_rejected", uuid.Nil.String(), false},
		{"garbage_is_rejected", "not-a-uuid", false},
		{"truncated_uuid_is_rejected", orderID.String()[:35], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := order.ParseID(tc.in)
			if !tc.ok {
				wantInvalid(t, err, "id")
				if id != uuid.Nil {
					t.Errorf("rejected ID returned %v", id)
				}
				return
			}
			if err != nil || id != orderID {
				t.Errorf("ParseID = %v, %v; want %v", id, err, orderID)
			}
		})
	}
	if a, b := order.NewID(), order.NewID(); a == b || a.Version() != 7 {
		t.Errorf("NewID gave %v and %v, want distinct UUIDv7s", a, b)
	}
}
