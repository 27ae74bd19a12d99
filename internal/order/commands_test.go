package order_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/staircase/staircase/internal/order"
)

func TestCommandsValidateThemselves(t *testing.T) {
	id := order.NewID()
	line := []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}
	tests := []struct {
		name   string
		cmd    order.Command
		fields []string // nil: valid
	}{
		{"place_valid", order.PlaceOrder{ID: id, Customer: "Ada", Address: "1 Loop Rd", Lines: line}, nil},
		{"place_everything_missing", order.PlaceOrder{}, []string{"id", "customer", "address", "lines"}},
		{"place_unknown_currency", order.PlaceOrder{ID: id, Customer: "Ada", Address: "x", Currency: "XXX", Lines: line}, []string{"currency"}},
		{"change_lines_valid", order.ChangeOrderLines{ID: id, Lines: line, ExpectedVersion: 3}, nil},
		{"change_lines_bad_line_and_version", order.ChangeOrderLines{ID: id, Lines: []order.Line{{SKU: "", Name: "x", Quantity: 0}}, ExpectedVersion: -1},
			[]string{"lines[0].sku", "lines[0].quantity", "expected_version"}},
		{"change_lines_none", order.ChangeOrderLines{ID: id}, []string{"lines"}},
		{"ship_valid", order.ShipOrder{ID: id}, nil},
		{"ship_without_id", order.ShipOrder{}, []string{"id"}},
		{"deliver_negative_version", order.DeliverOrder{ID: id, ExpectedVersion: -2}, []string{"expected_version"}},
		{"cancel_valid_with_reason", order.CancelOrder{ID: id, Reason: " out of stock "}, nil},
		{"cancel_long_reason", order.CancelOrder{ID: id, Reason: strings.Repeat("r", order.MaxReasonLen+1)}, []string{"reason"}},
		{"cancel_control_in_reason", order.CancelOrder{ID: id, Reason: "a\x00b"}, []string{"reason"}},
		{"delete_without_id", order.DeleteOrder{ExpectedVersion: 1}, []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cmd.Target(); got != id && tt.fields == nil {
				t.Fatalf("target %s, want %s", got, id)
			}
			err := tt.cmd.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("valid command refused: %v", err)
				}
				return
			}
			if order.ErrorCode(err) != order.EINVALID {
				t.Fatalf("error %v, want EINVALID", err)
			}
			var got []string
			for _, f := range order.FieldErrors(err) {
				got = append(got, f.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("fields %v, want %v", got, tt.fields)
			}
		})
	}
}

// TestValidateAgreesWithTheRules: a command the rules refuse as EINVALID on
// an order that allows it is one its Validate refuses too, so a bus can
// refuse bad input before it queues it.
func TestValidateAgreesWithTheRules(t *testing.T) {
	now := time.Now()
	place := order.PlaceOrder{ID: order.NewID(), Customer: "Ada", Address: "1 Loop Rd",
		Lines: []order.Line{{SKU: "A-1", Name: "Widget", Quantity: 1, UnitPriceCents: 100}}}
	for _, bad := range [][]order.Line{nil, {{SKU: "a b", Name: "x", Quantity: 1}}, {{SKU: "A", Name: "x", Quantity: 1001}}} {
		o, _, err := order.Place(place, now)
		if err != nil {
			t.Fatal(err)
		}
		cmd := order.ChangeOrderLines{ID: o.ID, Lines: bad}
		_, ruleErr := o.ChangeLines(cmd, now)
		if order.ErrorCode(ruleErr) != order.EINVALID || !reflect.DeepEqual(order.FieldErrors(ruleErr), order.FieldErrors(cmd.Validate())) {
			t.Fatalf("lines %+v: rules say %v, Validate says %v", bad, ruleErr, cmd.Validate())
		}
	}
	o, _, err := order.Place(place, now)
	if err != nil {
		t.Fatal(err)
	}
	both := order.ChangeOrderLines{ID: o.ID, Lines: []order.Line{{SKU: "a b", Name: "x", Quantity: 1}}, ExpectedVersion: -1}
	if _, ruleErr := o.ChangeLines(both, now); !reflect.DeepEqual(order.FieldErrors(ruleErr), order.FieldErrors(both.Validate())) {
		t.Fatalf("bad lines and version: rules say %v, Validate says %v", ruleErr, both.Validate())
	}
	cancel := order.CancelOrder{ID: o.ID, Reason: "a\x00b", ExpectedVersion: -1}
	if _, ruleErr := o.Cancel(cancel, now); !reflect.DeepEqual(order.FieldErrors(ruleErr), order.FieldErrors(cancel.Validate())) {
		t.Fatalf("bad reason and version: rules say %v, Validate says %v", ruleErr, cancel.Validate())
	}
	bad := place
	bad.Customer = ""
	_, _, ruleErr := order.Place(bad, now)
	if !reflect.DeepEqual(order.FieldErrors(ruleErr), order.FieldErrors(bad.Validate())) {
		t.Fatalf("place: rules say %v, Validate says %v", ruleErr, bad.Validate())
	}
}
