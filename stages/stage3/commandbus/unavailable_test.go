package commandbus_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/messaging"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/migrations"
	"github.com/staircase/staircase/stages/stage3"
)

// TestACommandWhileTheBusIsDownIs503: nothing can be queued, so the API
// says so with 503 and Retry-After (not a 500), and nothing changed.
func TestACommandWhileTheBusIsDownIs503(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := messaging.StartEmbedded(context.Background(), messaging.EmbeddedConfig{Dir: t.TempDir()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := bus.Connect(nats.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b := sqltest.Backends()[0]
	write := sqltest.Open(t, b, migrations.Write)
	s, err := stage3.New(stage3.Config{Write: write, Read: sqltest.Open(t, b, migrations.Read), NATS: nc,
		CommandBus: stage3.CommandBusAsync, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	app := fiber.New(fiber.Config{ErrorHandler: httpapi.WriteProblem})
	s.Routes(app)

	bus.Shutdown()
	id := order.NewID()
	body := `{"id":"` + id.String() + `","customer":"Ada","address":"1 Loop Rd","lines":[{"sku":"A-1","name":"Widget","quantity":1,"unit_price_cents":100}]}`
	req := httptest.NewRequest(http.MethodPost, "/api/commands/place-order", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := app.Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(raw), `"code":"unavailable"`) || strings.Contains(string(raw), "nats") {
		t.Fatalf("%d Retry-After %q: %s", res.StatusCode, res.Header.Get("Retry-After"), raw)
	}
	n, err := write.NewSelect().Table("orders").Count(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("%d orders after a refused command (%v)", n, err)
	}
}
