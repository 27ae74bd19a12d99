package order_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/staircase/staircase/internal/order"
)

func TestErrorHelpers(t *testing.T) {
	invalid := &order.Error{Code: order.EINVALID, Message: "the order is not valid",
		Fields: []order.FieldError{{Field: "customer", Message: "is required"}, {Field: "lines[1].quantity", Message: "must be between 1 and 1000"}}}
	conflict := order.Errorf(order.ECONFLICT, "cannot %s an order that is %s", "ship", order.Shipped)
	notFound := order.NotFound(orderID)
	plain := errors.New("pq: connection refused to 10.0.0.7")

	tests := []struct {
		name    string
		err     error
		code    string
		message string
		fields  []order.FieldError
	}{
		{name: "nil_error_has_no_code", err: nil, code: ""},
		{name: "invalid_error_gives_code_message_and_fields", err: invalid, code: order.EINVALID,
			message: "the order is not valid", fields: invalid.Fields},
		{name: "wrapped_invalid_error_gives_code_message_and_fields", err: fmt.Errorf("place: %w", invalid),
			code: order.EINVALID, message: "the order is not valid", fields: invalid.Fields},
		{name: "twice_wrapped_invalid_error_gives_code_message_and_fields", err: fmt.Errorf("http: %w", fmt.Errorf("store: %w", invalid)),
			code: order.EINVALID, message: "the order is not valid", fields: invalid.Fields},
		{name: "joined_error_gives_the_domain_error", err: errors.Join(plain, conflict),
			code: order.ECONFLICT, message: "cannot ship an order that is shipped"},
		{name: "conflict_error_has_no_fields", err: conflict, code: order.ECONFLICT, message: "cannot ship an order that is shipped"},
		{name: "wrapped_not_found_error_gives_its_code", err: fmt.Errorf("load: %w", notFound), code: order.ENOTFOUND,
			message: "order " + orderID.String() + " not found"},
		{name: "plain_error_is_internal_and_hides_its_text", err: plain, code: order.EINTERNAL, message: "internal error"},
		{name: "plain_error_wrapped_is_internal", err: fmt.Errorf("save: %w", plain), code: order.EINTERNAL, message: "internal error"},
		{name: "error_formatted_with_v_is_not_unwrapped", err: fmt.Errorf("save: %v", invalid), code: order.EINTERNAL, message: "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := order.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if tc.err != nil {
				if got := order.ErrorMessage(tc.err); got != tc.message {
					t.Errorf("ErrorMessage = %q, want %q", got, tc.message)
				}
			}
			if got := order.FieldErrors(tc.err); !reflect.DeepEqual(got, tc.fields) {
				t.Errorf("FieldErrors = %+v, want %+v", got, tc.fields)
			}
			if tc.code == order.EINTERNAL && strings.Contains(order.ErrorMessage(tc.err), "10.0.0.7") {
				t.Errorf("ErrorMessage leaks the internal error text")
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *order.Error
		want string
	}{
		{"error_without_fields_is_its_message", order.Errorf(order.ECONFLICT, "order %d changed", 7), "order 7 changed"},
		{"error_with_one_field_names_it", &order.Error{Code: order.EINVALID, Message: "bad",
			Fields: []order.FieldError{{Field: "customer", Message: "is required"}}}, "bad (customer: is required)"},
		{"error_with_fields_lists_them_in_order", &order.Error{Code: order.EINVALID, Message: "bad",
			Fields: []order.FieldError{{Field: "customer", Message: "is required"}, {Field: "lines[1].sku", Message: "is required"}}},
			"bad (customer: is required; lines[1].sku: is required)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
