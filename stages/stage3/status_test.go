package stage3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/stages/stage3/commandbus"
)

// queuing is a stage whose commands are all queued (like stage 3's async
// command bus), with canned command statuses.
type queuing struct {
	statuses map[string]commandbus.Status
	down     bool
}

func (q queuing) accept(id order.ID) (order.Ack, error) {
	return order.Ack{ID: id, Accepted: true, CommandID: "0197a3c4-0000-7000-8000-000000000001"}, nil
}
func (q queuing) PlaceOrder(_ context.Context, c order.PlaceOrder) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) ChangeOrderLines(_ context.Context, c order.ChangeOrderLines) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) ShipOrder(_ context.Context, c order.ShipOrder) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) DeliverOrder(_ context.Context, c order.DeliverOrder) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) CancelOrder(_ context.Context, c order.CancelOrder) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) DeleteOrder(_ context.Context, c order.DeleteOrder) (order.Ack, error) {
	return q.accept(c.ID)
}
func (q queuing) OrderSummaries(context.Context, order.SummaryQuery) (order.SummaryPage, error) {
	return order.SummaryPage{}, nil
}
func (q queuing) OrderDetail(_ context.Context, id order.ID) (order.Detail, error) {
	return order.Detail{}, order.NotFound(id)
}
func (q queuing) Dashboard(context.Context) (order.Dashboard, error) { return order.Dashboard{}, nil }
func (q queuing) CommandStatus(_ context.Context, id string) (commandbus.Status, error) {
	if q.down {
		return commandbus.Status{}, errors.New("dial tcp: connection refused")
	}
	if st, ok := q.statuses[id]; ok {
		return st, nil
	}
	return commandbus.Status{}, order.Errorf(order.ENOTFOUND, "no such command")
}

func call(t *testing.T, app *fiber.App, method, path, body string) (*http.Response, []byte) {
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
	return res, b
}

func queuingApp(q queuing) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: httpapi.WriteProblem, BodyLimit: httpapi.MaxBody})
	commandRoutes(app, q)
	queryRoutes(app, q)
	commandbus.StatusRoute(app, q)
	return app
}

func TestQueuedCommands(t *testing.T) {
	const cmdID = "0197a3c4-0000-7000-8000-000000000001"
	id := order.NewID()
	t.Run("a queued command answers 202 with its ID and where its status is", func(t *testing.T) {
		app := queuingApp(queuing{})
		for name, body := range map[string]string{
			"place-order": `{"id":"` + id.String() + `","customer":"Ada","address":"1 Loop Rd","lines":[{"sku":"A-1","name":"Widget","quantity":2,"unit_price_cents":250}]}`,
			"ship-order":  `{"id":"` + id.String() + `"}`,
		} {
			res, b := call(t, app, "POST", "/api/commands/"+name, body)
			var got map[string]string
			if err := json.Unmarshal(b, &got); err != nil || res.StatusCode != http.StatusAccepted {
				t.Fatalf("%s: %d %s", name, res.StatusCode, b)
			}
			if got["id"] != id.String() || got["command_id"] != cmdID || len(got) != 2 {
				t.Fatalf("%s: body %s", name, b)
			}
			if loc := res.Header.Get("Location"); loc != "/api/queries/commands/"+cmdID {
				t.Fatalf("%s: Location %q", name, loc)
			}
			if et := res.Header.Get("ETag"); et != "" {
				t.Fatalf("%s: a queued command made no version yet, ETag %q", name, et)
			}
		}
	})
	t.Run("the status of a rejected command carries its problem", func(t *testing.T) {
		conflict := order.Errorf(order.ECONFLICT, "cannot cancel an order that is shipped")
		conflict.Current = &order.Order{Version: 2}
		app := queuingApp(queuing{statuses: map[string]commandbus.Status{cmdID: {
			CommandID: cmdID, OrderID: id, Type: "CancelOrder", Status: commandbus.CommandRejected, Version: 2, Err: conflict,
		}}})
		res, b := call(t, app, "GET", "/api/queries/commands/"+cmdID, "")
		var got struct {
			CommandID, OrderID, Type, Status string
			Version                          int
			Problem                          httpapi.Problem
		}
		if err := json.Unmarshal(b, &got); err != nil || res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
		if !strings.Contains(string(b), `"order_id"`) || !strings.Contains(string(b), `"command_id"`) {
			t.Fatalf("field names: %s", b)
		}
		if got.Status != "rejected" || got.Version != 2 || got.Problem.Status != 409 || got.Problem.Code != order.ECONFLICT || got.Problem.CurrentVersion != 2 {
			t.Fatalf("status %s", b)
		}
	})
	t.Run("an unknown command is 404", func(t *testing.T) {
		res, b := call(t, queuingApp(queuing{}), "GET", "/api/queries/commands/nope", "")
		if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), httpapi.ProblemContentType) {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
	t.Run("a status that cannot be read is 503 and says why", func(t *testing.T) {
		res, b := call(t, queuingApp(queuing{down: true}), "GET", "/api/queries/commands/"+cmdID, "")
		if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || strings.Contains(string(b), "connection refused") {
			t.Fatalf("%d %v %s", res.StatusCode, res.Header, b)
		}
	})
}
