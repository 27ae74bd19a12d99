package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// FuzzDecodePlaceOrder: any body is either refused with a problem of the
// client's making (4xx, never a 500) or read into a command that can check
// itself.
func FuzzDecodePlaceOrder(f *testing.F) {
	f.Add([]byte(`{"id":"0197a3c4-0000-7000-8000-000000000001","customer":"Ada","address":"1 Loop Rd","lines":[{"sku":"A-1","name":"Widget","quantity":2,"unit_price_cents":250}]}`))
	f.Add([]byte(`{"id":`))
	f.Add([]byte(`{"lines":[{"quantity":1e400}]}`))
	f.Add([]byte(`{"lines":[{"quantity":-9223372036854775809}]} {}`))
	f.Add([]byte(`[{"customer":"\u0000"}]`))
	f.Add([]byte(`{"customer":"a","customer":1,"extra":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req httpapi.OrderRequest
		err := httpapi.Decode(body, &req)
		if err == nil {
			var cmd order.PlaceOrder
			if cmd, err = req.PlaceOrder(); err == nil {
				err = cmd.Validate()
			}
		}
		if err == nil {
			return
		}
		p := httpapi.ProblemFor(err)
		if p.Status < 400 || p.Status >= 500 || p.Status == http.StatusNotFound {
			t.Fatalf("body %q: problem %+v", body, p)
		}
	})
}

// decoders are the command decoders of the modify API, each returning the
// command as the domain's order.Command.
var decoders = []func([]byte) (order.Command, error){
	func(b []byte) (order.Command, error) { return httpapi.DecodePlaceOrder(b) },
	func(b []byte) (order.Command, error) { return httpapi.DecodeChangeOrderLines(b) },
	func(b []byte) (order.Command, error) { return httpapi.DecodeShipOrder(b) },
	func(b []byte) (order.Command, error) { return httpapi.DecodeDeliverOrder(b) },
	func(b []byte) (order.Command, error) { return httpapi.DecodeCancelOrder(b) },
	func(b []byte) (order.Command, error) { return httpapi.DecodeDeleteOrder(b) },
}

// FuzzDecodeCommand: any body for any command is refused with a client
// error, or decodes into a command whose Validate has the last word.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(uint8(1), []byte(`{"id":"0197a3c4-0000-7000-8000-000000000001","lines":[{"sku":"A","name":"B","quantity":1,"unit_price_cents":1}],"expected_version":2}`))
	f.Add(uint8(2), []byte(`{"id":"0197a3c4-0000-7000-8000-000000000001","expected_version":-1}`))
	f.Add(uint8(4), []byte(`{"id":"0197a3c4-0000-7000-8000-000000000001","reason":"\u0000"}`))
	f.Add(uint8(5), []byte(`{"id":"00000000-0000-0000-0000-000000000000"}`))
	f.Add(uint8(3), []byte(`{"id":"x","expected_version":9223372036854775808}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		cmd, err := decoders[int(which)%len(decoders)](body)
		if err == nil {
			if cmd.Target() == (order.ID{}) && cmd.Validate() == nil {
				t.Fatalf("%s: a command for no order is valid", body)
			}
			err = cmd.Validate()
		}
		if err == nil {
			return
		}
		if p := httpapi.ProblemFor(err); p.Status != http.StatusBadRequest && p.Status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: problem %+v", body, p)
		}
	})
}
