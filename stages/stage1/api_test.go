package stage1_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
)

// stage is what the API tests need of the stage under test (stage_test.go
// says which, and which side its queries read from), run on a fresh
// database per backend (SQLite; PostgreSQL too when STAIRCASE_TEST_POSTGRES
// is set).
type stage interface{ Routes(fiber.Router) }

func newApp(t *testing.T, b sqltest.Backend, mk func(*bun.DB) stage) *fiber.App {
	t.Helper()
	db := sqltest.Open(t, b, migrations.Write)
	app := fiber.New(fiber.Config{ErrorHandler: httpapi.WriteProblem, BodyLimit: httpapi.MaxBody})
	mk(db).Routes(app)
	return app
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t *testing.T, status int, code string) httpapi.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, httpapi.ProblemContentType) {
		t.Fatalf("content type %q, want problem JSON", ct)
	}
	var p httpapi.Problem
	r.json(t, &p)
	if p.Code != code || p.Status != status {
		t.Fatalf("problem %+v, want code %q", p, code)
	}
	return p
}

func do(t *testing.T, app *fiber.App, method, path, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func placeBody(id string) string {
	return `{"id":"` + id + `","customer":"Ada","address":"1 Loop Rd","lines":[{"sku":"A-1","name":"Widget","quantity":2,"unit_price_cents":250}]}`
}

func TestCommandsAndQueries(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) { testCommandsAndQueries(t, b, underTest.source, underTest.new) })
	}
}

func testCommandsAndQueries(t *testing.T, b sqltest.Backend, source string, mk func(*bun.DB) stage) {
	app := newApp(t, b, mk)
	id := order.NewID().String()

	t.Run("place_order_answers_201_with_the_key", func(t *testing.T) {
		for range 2 { // a repeated place-order answers as the first did
			r := do(t, app, "POST", "/api/commands/place-order", placeBody(id))
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if loc := r.header.Get("Location"); loc != "/api/queries/orders/"+id {
				t.Fatalf("Location %q", loc)
			}
			if et := r.header.Get("ETag"); et != `"1"` {
				t.Fatalf("ETag %q", et)
			}
			var body map[string]any
			r.json(t, &body)
			if len(body) != 1 || body["id"] != id {
				t.Fatalf("body %s", r.body)
			}
		}
	})
	t.Run("same_id_other_content_is_a_conflict", func(t *testing.T) {
		body := strings.Replace(placeBody(id), "Ada", "Grace", 1)
		do(t, app, "POST", "/api/commands/place-order", body).problem(t, 409, order.ECONFLICT)
	})
	t.Run("commands_answer_204_with_the_new_version", func(t *testing.T) {
		for i, c := range []struct{ name, body string }{
			{"change-order-lines", `{"id":"` + id + `","expected_version":1,"lines":[{"sku":"B","name":"Bolt","quantity":5,"unit_price_cents":30}]}`},
			{"ship-order", `{"id":"` + id + `"}`},
			{"deliver-order", `{"id":"` + id + `","expected_version":3}`},
		} {
			r := do(t, app, "POST", "/api/commands/"+c.name, c.body)
			if r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("%s: status %d: %s", c.name, r.status, r.body)
			}
			if want := `"` + string(rune('2'+i)) + `"`; r.header.Get("ETag") != want {
				t.Fatalf("%s: ETag %q, want %s", c.name, r.header.Get("ETag"), want)
			}
		}
	})
	t.Run("stale_expected_version_is_409_with_the_current_version", func(t *testing.T) {
		p := do(t, app, "POST", "/api/commands/cancel-order", `{"id":"`+id+`","expected_version":2,"reason":"late"}`).problem(t, 409, order.ECONFLICT)
		if p.CurrentVersion != 4 {
			t.Fatalf("current_version %d, want 4", p.CurrentVersion)
		}
	})
	t.Run("rule_broken_is_409", func(t *testing.T) {
		do(t, app, "POST", "/api/commands/cancel-order", `{"id":"`+id+`"}`).problem(t, 409, order.ECONFLICT)
	})
	t.Run("bad_bodies_are_422", func(t *testing.T) {
		for name, c := range map[string]struct{ cmd, body, field string }{
			"unknown_field": {"ship-order", `{"id":"` + id + `","status":"shipped"}`, "status"},
			"bad_id":        {"cancel-order", `{"id":"nope"}`, "id"},
			"wrong_type":    {"change-order-lines", `{"id":"` + id + `","lines":"many"}`, "lines"},
			"no_lines":      {"change-order-lines", `{"id":"` + id + `"}`, "lines"},
			"place_invalid": {"place-order", `{"id":"` + order.NewID().String() + `","customer":"","address":"x","lines":[]}`, "customer"},
			"place_extra":   {"place-order", `{"id":"` + order.NewID().String() + `","expected_version":1}`, "expected_version"},
		} {
			t.Run(name, func(t *testing.T) {
				p := do(t, app, "POST", "/api/commands/"+c.cmd, c.body).problem(t, 422, order.EINVALID)
				if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
					t.Fatalf("field errors %+v, want %q first", p.Errors, c.field)
				}
			})
		}
	})
	t.Run("unreadable_bodies_are_400", func(t *testing.T) {
		for name, c := range map[string]struct{ cmd, body string }{
			"malformed_json": {"ship-order", `{"id":`},
			"empty_body":     {"deliver-order", ``},
			"not_an_object":  {"cancel-order", `["id"]`},
			"trailing_data":  {"ship-order", `{"id":"` + id + `"} {}`},
		} {
			t.Run(name, func(t *testing.T) {
				do(t, app, "POST", "/api/commands/"+c.cmd, c.body).problem(t, 400, order.EINVALID)
			})
		}
	})
	t.Run("unknown_command_is_404", func(t *testing.T) {
		do(t, app, "POST", "/api/commands/paint-order", `{"id":"`+id+`"}`).problem(t, 404, order.ENOTFOUND)
	})
	t.Run("unknown_order_is_404", func(t *testing.T) {
		do(t, app, "POST", "/api/commands/ship-order", `{"id":"`+order.NewID().String()+`"}`).problem(t, 404, order.ENOTFOUND)
		do(t, app, "GET", "/api/queries/orders/"+order.NewID().String(), "").problem(t, 404, order.ENOTFOUND)
		do(t, app, "GET", "/api/queries/orders/not-a-uuid", "").problem(t, 404, order.ENOTFOUND)
	})
	t.Run("order_query_says_version_and_source", func(t *testing.T) {
		r := do(t, app, "GET", "/api/queries/orders/"+id, "")
		if r.status != 200 || r.header.Get("ETag") != `"4"` {
			t.Fatalf("status %d, ETag %q: %s", r.status, r.header.Get("ETag"), r.body)
		}
		var d httpapi.OrderDetail
		r.json(t, &d)
		if d.ID != id || d.Version != 4 || d.Status != "delivered" || d.TotalCents != 150 || d.Source != source || len(d.Lines) != 1 {
			t.Fatalf("detail %s", r.body)
		}
	})
	t.Run("summaries_and_dashboard", func(t *testing.T) {
		other := order.NewID().String()
		if r := do(t, app, "POST", "/api/commands/place-order", placeBody(other)); r.status != 201 {
			t.Fatalf("place: %d %s", r.status, r.body)
		}
		r := do(t, app, "GET", "/api/queries/order-summaries?limit=1", "")
		var page httpapi.SummaryPage
		r.json(t, &page)
		if r.status != 200 || len(page.Orders) != 1 || page.Orders[0].ID != other || page.Next == "" || page.Source != source {
			t.Fatalf("first page: %s", r.body)
		}
		r = do(t, app, "GET", "/api/queries/order-summaries?limit=1&after="+page.Next, "")
		page = httpapi.SummaryPage{}
		r.json(t, &page)
		if len(page.Orders) != 1 || page.Orders[0].ID != id || page.Orders[0].Version != 4 || page.Orders[0].LineCount != 1 || page.Next != "" {
			t.Fatalf("second page: %s", r.body)
		}
		do(t, app, "GET", "/api/queries/order-summaries?status=lost", "").problem(t, 422, order.EINVALID)

		r = do(t, app, "GET", "/api/queries/dashboard", "")
		var raw map[string]json.RawMessage
		r.json(t, &raw)
		for _, k := range []string{"counts", "orders", "revenue_cents", "top_customers", "source"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("dashboard has no %q: %s", k, r.body)
			}
		}
		var d httpapi.Dashboard
		r.json(t, &d)
		want := map[string]int{"placed": 1, "shipped": 0, "delivered": 1, "cancelled": 0}
		if d.Orders != 2 || len(d.Counts) != 4 || d.Source != source || d.Revenue["USD"] != 150+500 {
			t.Fatalf("dashboard %s", r.body)
		}
		for k, v := range want {
			if d.Counts[k] != v {
				t.Fatalf("counts %v, want %v", d.Counts, want)
			}
		}
		if len(d.TopCustomers) != 1 || d.TopCustomers[0].Customer != "Ada" || d.TopCustomers[0].Orders != 2 {
			t.Fatalf("top customers %+v", d.TopCustomers)
		}
	})
	t.Run("delete_order_acks_with_the_version_it_made", func(t *testing.T) {
		other := order.NewID().String()
		do(t, app, "POST", "/api/commands/place-order", placeBody(other))
		r := do(t, app, "POST", "/api/commands/delete-order", `{"id":"`+other+`","expected_version":1}`)
		if r.status != 204 || r.header.Get("ETag") != `"2"` {
			t.Fatalf("delete: %d %q %s", r.status, r.header.Get("ETag"), r.body)
		}
		do(t, app, "GET", "/api/queries/orders/"+other, "").problem(t, 404, order.ENOTFOUND)
	})
}
