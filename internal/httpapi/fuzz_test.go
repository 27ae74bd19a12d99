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
