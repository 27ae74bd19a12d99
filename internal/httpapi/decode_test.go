package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
)

// TestUnreadableIsNotInvalid: a body that cannot be read as one JSON object
// is a bad request (400); one that reads but breaks a rule is 422. Both
// keep the code "invalid".
func TestUnreadableIsNotInvalid(t *testing.T) {
	for _, c := range []struct {
		body   string
		status int
	}{
		{``, 400}, {`{"id":`, 400}, {`[1]`, 400}, {`{} {}`, 400}, {`nope`, 400},
		{`{"id":1}`, 422}, {`{"extra":true}`, 422}, {`{"lines":[{"quantity":1e400}]}`, 422},
	} {
		var req httpapi.OrderRequest
		p := httpapi.ProblemFor(httpapi.Decode([]byte(c.body), &req))
		if p.Status != c.status || p.Code != order.EINVALID {
			t.Errorf("%q: %d %s, want %d invalid", c.body, p.Status, p.Code, c.status)
		}
	}
}

// TestABadQueryParameterIsAQueryError: the list's filters are reported as
// the query's problem, not the body's.
func TestABadQueryParameterIsAQueryError(t *testing.T) {
	app := fiber.New(fiber.Config{ErrorHandler: httpapi.WriteProblem})
	app.Get("/list", func(c *fiber.Ctx) error {
		_, err := httpapi.SummaryQueryFrom(c)
		return err
	})
	for _, q := range []string{"limit=abc", "limit=0", "status=lost", "q=%00", "after=x"} {
		res, err := app.Test(httptest.NewRequest(http.MethodGet, "/list?"+q, nil))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		var p httpapi.Problem
		if err := json.Unmarshal(raw, &p); err != nil || res.StatusCode != 422 || p.Detail != "the query is not valid" || len(p.Errors) != 1 {
			t.Errorf("%s: %d %s", q, res.StatusCode, raw)
		}
	}
}
