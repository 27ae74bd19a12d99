package acceptance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

func newID() string { return order.NewID().String() }

func tea(qty int) httpapi.Line {
	return httpapi.Line{SKU: "TEA-01", Name: "Green tea", Quantity: qty, UnitPriceCents: 1250}
}

func request(id, customer string, lines ...httpapi.Line) httpapi.OrderRequest {
	if len(lines) == 0 {
		lines = []httpapi.Line{tea(2)}
	}
	return httpapi.OrderRequest{ID: id, Customer: customer, Address: "12 Loop Road, Springfield", Lines: lines}
}

// placed places an order and waits until the read side shows it.
func placed(t *testing.T, e *env, customer string, lines ...httpapi.Line) string {
	t.Helper()
	id := newID()
	r := e.api.place(request(id, customer, lines...))
	if !r.ok() {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	seen(t, e, id, r.version)
	return id
}

// seen waits until a read of the order shows at least version v, and
// returns it.
func seen(t *testing.T, e *env, id string, v int) httpapi.Order {
	t.Helper()
	var o httpapi.Order
	eventually(t, fmt.Sprintf("order %s at version %d", id, v), func() bool {
		got, found := e.api.get(id)
		o = got
		return found && got.Version >= v
	})
	return o
}

func gone(t *testing.T, e *env, id string) {
	t.Helper()
	eventually(t, "order "+id+" deleted", func() bool {
		_, found := e.api.get(id)
		return !found
	})
}

func must(t *testing.T, what string, r result, status int) result {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	return r
}

func TestPlaceAndRead(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := newID()
		req := request(id, "Ada Lovelace", tea(2), httpapi.Line{SKU: "CUP-02", Name: "Cup", Quantity: 1, UnitPriceCents: 800})
		r := e.api.place(req)
		if !r.ok() || r.version != 1 {
			t.Fatalf("place: %d version %d %s", r.status, r.version, r.body)
		}
		o := seen(t, e, id, 1)
		if o.ID != id || o.Customer != "Ada Lovelace" || o.Address != req.Address || o.Status != "placed" ||
			o.Currency != "USD" || o.TotalCents != 3300 || len(o.Lines) != 2 || o.Lines[1].SKU != "CUP-02" {
			t.Fatalf("read back %+v", o)
		}
		if o.CreatedAt.IsZero() || o.UpdatedAt.Before(o.CreatedAt) {
			t.Fatalf("times %v %v", o.CreatedAt, o.UpdatedAt)
		}
	})
}

func TestPlaceIsIdempotent(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := newID()
		req := request(id, "Grace Hopper")
		first := e.api.place(req)
		again := e.api.place(req)
		if !first.ok() || again.status != first.status || again.version != first.version {
			t.Fatalf("first %d v%d, again %d v%d %s", first.status, first.version, again.status, again.version, again.body)
		}
		seen(t, e, id, 1)
		p, _ := e.api.list(url.Values{"q": {"Grace Hopper"}})
		if len(p.ids) != 1 {
			t.Fatalf("list after double place: %v", p.ids)
		}
		other := request(id, "Someone Else")
		r := e.api.place(other)
		if r.status != http.StatusConflict {
			t.Fatalf("same id, other content: %d %s", r.status, r.body)
		}
		if o, _ := e.api.get(id); o.Customer != "Grace Hopper" {
			t.Fatalf("conflicting place changed the order: %+v", o)
		}
	})
}

// TestPlacingTheSameOrderAtOnce: requests racing to place one ID (a double
// click, a retry while the first is in flight) all name the same order;
// none fails on the primary key.
func TestPlacingTheSameOrderAtOnce(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		const racers = 8
		for round := range 3 {
			id := newID()
			body, err := json.Marshal(request(id, "Racing Customer"))
			if err != nil {
				t.Fatal(err)
			}
			statuses := make([]int, racers)
			errs := make([]error, racers)
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range racers {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					req, err := http.NewRequest(http.MethodPost, e.base+e.api.placePath(), bytes.NewReader(body))
					if err != nil {
						errs[i] = err
						return
					}
					req.Header.Set("Content-Type", "application/json")
					res, err := e.client.Do(req)
					if err != nil {
						errs[i] = err
						return
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			start.Done()
			done.Wait()
			for i := range racers {
				if errs[i] != nil || statuses[i] < 200 || statuses[i] > 299 {
					t.Fatalf("round %d: racer %d answered %d (%v); all: %v", round, i, statuses[i], errs[i], statuses)
				}
			}
			seen(t, e, id, 1)
			var n int64
			n, err = e.app.WriteDB.NewSelect().Table("orders").Where("id = ?", id).Count(t.Context())
			if err != nil || n != 1 {
				t.Fatalf("round %d: %d orders with the ID (%v)", round, n, err)
			}
		}
	})
}

func TestListFilterSearchAndPaging(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		var ids []string
		for i := range 5 {
			ids = append(ids, placed(t, e, fmt.Sprintf("Customer %c", 'A'+i)))
		}
		shipped := ids[1]
		r := must(t, "ship", e.api.ship(shipped, 0), okStatus(e))
		seen(t, e, shipped, r.version)

		// Newest first, in pages of two, every order once.
		var all []string
		q := url.Values{"limit": {"2"}, "q": {"customer "}}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			p, resp := e.api.list(q)
			if resp.status != http.StatusOK || len(p.ids) > 2 {
				t.Fatalf("page: %d %s", resp.status, resp.body)
			}
			all = append(all, p.ids...)
			if p.next == "" {
				break
			}
			q.Set("after", p.next)
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		if !slices.Equal(all, want) {
			t.Fatalf("paged list %v, want newest first %v", all, want)
		}

		p, _ := e.api.list(url.Values{"status": {"shipped"}, "q": {"customer"}})
		if !slices.Equal(p.ids, []string{shipped}) || p.statuses[shipped] != "shipped" {
			t.Fatalf("status filter: %v", p.ids)
		}
		p, _ = e.api.list(url.Values{"q": {"CUSTOMER c"}})
		if !slices.Equal(p.ids, []string{ids[2]}) {
			t.Fatalf("search is not a case-insensitive substring match: %v", p.ids)
		}
		p, _ = e.api.list(url.Values{"q": {"%"}})
		if len(p.ids) != 0 {
			t.Fatalf("a %% in the search is a wildcard: %v", p.ids)
		}
		for _, bad := range []url.Values{{"status": {"lost"}}, {"limit": {"0"}}, {"limit": {"1000"}}, {"limit": {"x"}}, {"after": {"garbage!"}}} {
			_, resp := e.api.list(bad)
			if resp.status != http.StatusUnprocessableEntity {
				t.Fatalf("list %v: %d %s", bad, resp.status, resp.body)
			}
			resp.problem(t)
		}
	})
}

// okStatus is the status of a successful change command in the stage's API.
func okStatus(e *env) int {
	if e.stage == 0 {
		return http.StatusOK
	}
	return http.StatusNoContent
}

func TestOrderLife(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := placed(t, e, "Ada Lovelace")
		r := must(t, "change lines", e.api.changeLines(id, []httpapi.Line{tea(3), {SKU: "JAM-9", Name: "Jam", Quantity: 1, UnitPriceCents: 450}}, 1), okStatus(e))
		if r.version != 2 {
			t.Fatalf("change lines: version %d", r.version)
		}
		o := seen(t, e, id, 2)
		if o.TotalCents != 3*1250+450 || len(o.Lines) != 2 {
			t.Fatalf("after change lines: %+v", o)
		}
		r = must(t, "ship", e.api.ship(id, 2), okStatus(e))
		if o = seen(t, e, id, r.version); o.Status != "shipped" || o.Version != 3 {
			t.Fatalf("after ship: %+v", o)
		}
		r = must(t, "deliver", e.api.deliver(id, 0), okStatus(e))
		if o = seen(t, e, id, r.version); o.Status != "delivered" || o.Version != 4 {
			t.Fatalf("after deliver: %+v", o)
		}
	})
}

func TestCancelAndDelete(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := placed(t, e, "Alan Turing")
		r := must(t, "cancel", e.api.cancel(id, "changed my mind", 0), okStatus(e))
		if o := seen(t, e, id, r.version); o.Status != "cancelled" {
			t.Fatalf("after cancel: %+v", o)
		}
		delOK := http.StatusNoContent
		must(t, "delete cancelled", e.api.remove(id, 0), delOK)
		gone(t, e, id)

		id = placed(t, e, "Alan Turing")
		must(t, "delete placed", e.api.remove(id, 1), delOK)
		gone(t, e, id)
	})
}

func TestRuleViolationsAreConflicts(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		shipped := placed(t, e, "Shipped Customer")
		seen(t, e, shipped, must(t, "ship", e.api.ship(shipped, 0), okStatus(e)).version)
		cancelled := placed(t, e, "Cancelled Customer")
		seen(t, e, cancelled, must(t, "cancel", e.api.cancel(cancelled, "", 0), okStatus(e)).version)
		fresh := placed(t, e, "Placed Customer")

		cases := []struct {
			name string
			do   func() result
		}{
			{"ship_cancelled_order_is_rejected", func() result { return e.api.ship(cancelled, 0) }},
			{"deliver_placed_order_is_rejected", func() result { return e.api.deliver(fresh, 0) }},
			{"cancel_shipped_order_is_rejected", func() result { return e.api.cancel(shipped, "", 0) }},
			{"change_lines_of_shipped_order_is_rejected", func() result { return e.api.changeLines(shipped, []httpapi.Line{tea(1)}, 0) }},
			{"delete_shipped_order_is_rejected", func() result { return e.api.remove(shipped, 0) }},
			{"stale_expected_version_is_rejected", func() result { return e.api.ship(fresh, 7) }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := c.do()
				if r.status != http.StatusConflict {
					t.Fatalf("status %d, want 409: %s", r.status, r.body)
				}
				if p := r.problem(t); p.Code != order.ECONFLICT || p.Detail == "" {
					t.Fatalf("problem %+v", p)
				}
			})
		}
		if p := e.api.ship(fresh, 7).problem(t); p.CurrentVersion != 1 {
			t.Fatalf("a stale version conflict tells the current version: %+v", p)
		}
		for id, status := range map[string]string{shipped: "shipped", cancelled: "cancelled", fresh: "placed"} {
			if o, _ := e.api.get(id); o.Status != status {
				t.Fatalf("a refused command changed %s: %+v", id, o)
			}
		}
		missing := newID()
		for name, r := range map[string]result{
			"ship": e.api.ship(missing, 0), "deliver": e.api.deliver(missing, 0), "cancel": e.api.cancel(missing, "", 0),
			"change lines": e.api.changeLines(missing, []httpapi.Line{tea(1)}, 0), "delete": e.api.remove(missing, 0),
		} {
			if r.status != http.StatusNotFound || r.problem(t).Code != order.ENOTFOUND {
				t.Fatalf("%s of an unknown order: %d %s", name, r.status, r.body)
			}
		}
		if _, found := e.api.get(missing); found {
			t.Fatal("unknown order found")
		}
	})
}

func TestInvalidOrdersAreRefusedWithFieldErrors(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		long := strings.Repeat("x", order.MaxCustomerLen+1)
		many := make([]httpapi.Line, order.MaxLines+1)
		for i := range many {
			many[i] = httpapi.Line{SKU: fmt.Sprintf("SKU-%d", i), Name: "Thing", Quantity: 1, UnitPriceCents: 1}
		}
		cases := []struct {
			name  string
			req   func(r *httpapi.OrderRequest)
			field string
		}{
			{"missing_id", func(r *httpapi.OrderRequest) { r.ID = "" }, "id"},
			{"malformed_id", func(r *httpapi.OrderRequest) { r.ID = "not-a-uuid" }, "id"},
			{"empty_customer", func(r *httpapi.OrderRequest) { r.Customer = "  " }, "customer"},
			{"customer_too_long", func(r *httpapi.OrderRequest) { r.Customer = long }, "customer"},
			{"empty_address", func(r *httpapi.OrderRequest) { r.Address = "" }, "address"},
			{"unknown_currency", func(r *httpapi.OrderRequest) { r.Currency = "XYZ" }, "currency"},
			{"no_lines", func(r *httpapi.OrderRequest) { r.Lines = nil }, "lines"},
			{"too_many_lines", func(r *httpapi.OrderRequest) { r.Lines = many }, "lines"},
			{"zero_quantity", func(r *httpapi.OrderRequest) { r.Lines[0].Quantity = 0 }, "lines[0].quantity"},
			{"quantity_over_limit", func(r *httpapi.OrderRequest) { r.Lines[0].Quantity = 1001 }, "lines[0].quantity"},
			{"negative_price", func(r *httpapi.OrderRequest) { r.Lines[0].UnitPriceCents = -1 }, "lines[0].unit_price_cents"},
			{"empty_sku", func(r *httpapi.OrderRequest) { r.Lines[0].SKU = "" }, "lines[0].sku"},
			{"sku_with_spaces", func(r *httpapi.OrderRequest) { r.Lines[0].SKU = "TEA 01" }, "lines[0].sku"},
			{"empty_product_name", func(r *httpapi.OrderRequest) { r.Lines[0].Name = "" }, "lines[0].name"},
			{"repeated_sku", func(r *httpapi.OrderRequest) { r.Lines = append(r.Lines, tea(1)) }, "lines[1].sku"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				req := request(newID(), "Rule Breaker")
				c.req(&req)
				r := e.api.place(req)
				if r.status != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422: %s", r.status, r.body)
				}
				if p := r.problem(t); p.Code != order.EINVALID || !p.hasField(c.field) {
					t.Fatalf("problem does not name %s: %+v", c.field, p)
				}
			})
		}
		if p, _ := e.api.list(url.Values{"q": {"Rule Breaker"}}); len(p.ids) != 0 {
			t.Fatalf("an invalid order was stored: %v", p.ids)
		}
		id := placed(t, e, "Line Changer")
		r := e.api.changeLines(id, []httpapi.Line{{SKU: "X", Name: "", Quantity: 0}}, 0)
		if r.status != http.StatusUnprocessableEntity || !r.problem(t).hasField("lines[0].quantity") {
			t.Fatalf("invalid lines: %d %s", r.status, r.body)
		}
		if o, _ := e.api.get(id); o.Version != 1 || o.Lines[0] != tea(2) {
			t.Fatalf("invalid lines changed the order: %+v", o)
		}
	})
}

func TestBadPayloads(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		id := newID()
		valid := fmt.Sprintf(`{"id":%q,"customer":"Ada","address":"Here","lines":[{"sku":"A","name":"B","quantity":1,"unit_price_cents":1}]}`, id)
		cases := []struct {
			name, contentType, body string
			status                  int
		}{
			{"malformed_json", "application/json", `{"id":`, 400},
			{"not_an_object", "application/json", `[1,2]`, 400},
			{"empty_body", "application/json", ``, 400},
			{"wrong_type", "application/json", strings.Replace(valid, `"quantity":1`, `"quantity":"one"`, 1), 422},
			{"huge_number", "application/json", strings.Replace(valid, `"quantity":1`, `"quantity":1e300`, 1), 422},
			{"number_over_int64", "application/json", strings.Replace(valid, `"unit_price_cents":1`, `"unit_price_cents":99999999999999999999999`, 1), 422},
			{"unknown_field", "application/json", strings.Replace(valid, `"customer"`, `"admin":true,"customer"`, 1), 422},
			{"trailing_data", "application/json", valid + `{}`, 400},
			{"form_content_type", "application/x-www-form-urlencoded", "id=" + id, 415},
			{"text_content_type", "text/plain", valid, 415},
			{"no_content_type", "", valid, 415},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.do(http.MethodPost, e.api.placePath(), c.contentType, c.body)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				r.problem(t)
			})
		}
		if _, found := e.api.get(id); found {
			t.Fatal("a refused payload was stored")
		}
		// The valid body still works: nothing above left state behind.
		t.Run("body_over_limit", func(t *testing.T) {
			// Announce a body over the limit: the server answers 413 from the
			// headers alone. (Sending the body too would race the server's
			// close against the client's write.)
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", e.api.placePath(), httpapi.MaxBody+1)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", res.StatusCode)
			}
		})
		if r := e.do(http.MethodPost, e.api.placePath(), "application/json", valid); r.status >= 300 {
			t.Fatalf("valid body: %d %s", r.status, r.body)
		}
	})
}

func TestMarkupIsStoredAsText(t *testing.T) {
	forEachStage(t, func(t *testing.T, e *env) {
		evil := `<img src=x onerror=alert(1)>`
		id := placed(t, e, evil)
		if o, _ := e.api.get(id); o.Customer != evil {
			t.Fatalf("customer %q", o.Customer)
		}
		r := e.do(http.MethodGet, "/orders/"+id, "", nil)
		if r.status != http.StatusOK || strings.Contains(string(r.body), evil) || !strings.Contains(string(r.body), "&lt;img src=x onerror=alert(1)&gt;") {
			t.Fatalf("detail page does not escape the name: %d", r.status)
		}
	})
}
