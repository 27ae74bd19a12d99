package bench

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/app"
	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/internal/sqlstore/sqltest"
	"github.com/staircase/staircase/stages/stage3"
)

// BenchmarkWriteHeadroom measures, with the same closed-loop client
// (benchClients connections, STAIRCASE_BENCH_SECONDS each), how many
// place-order requests per second
//
//   - a bare Fiber endpoint answers that decodes the same JSON and answers
//     202 (bare-req/s): the ceiling of this machine's HTTP and JSON;
//   - stage 3 with the sync command bus applies (sync-writes/s): the write
//     side's maximum rate;
//   - stage 3 with the async command bus accepts (accepted/s), each
//     command durably on the command stream before its 202, and how fast
//     its command handler applies them (handled/s: the accepted commands
//     over the time from the first send until the last is in the database
//     of record).
//
// accepted/bare is the write headroom; handled/sync whether the async
// handler keeps up with the sync path. Run it with -benchtime 1x.
func BenchmarkWriteHeadroom(b *testing.B) {
	d := runSeconds(b)
	for _, be := range sqltest.Backends() {
		b.Run("db="+be.Name, func(b *testing.B) {
			var bare, sync, accepted, handled float64
			for b.Loop() {
				bare = bareRate(b, d)

				s := startServer(b, 3, be)
				sync = closedLoop(b, benchClients, d, placeWith(s.client)).rate()
				s.stop()

				s = startServerWith(b, 3, be, func(c *app.Config) { c.CommandBus = stage3.CommandBusAsync })
				before := countRows(b, s.app.WriteDB, "orders")
				start := time.Now()
				r := closedLoop(b, benchClients, d, placeWith(s.client))
				accepted = r.rate()
				waitFor(b, "the accepted commands to be applied", 5*time.Minute, func() bool {
					return countRows(b, s.app.WriteDB, "orders") >= before+r.ok
				})
				handled = float64(r.ok) / time.Since(start).Seconds()
				s.stop()
			}
			b.ReportMetric(bare, "bare-req/s")
			b.ReportMetric(sync, "sync-writes/s")
			b.ReportMetric(accepted, "accepted/s")
			b.ReportMetric(handled, "handled/s")
			b.ReportMetric(accepted/bare, "accepted/bare")
			b.ReportMetric(handled/sync, "handled/sync")
		})
	}
}

// placeWith is a closed-loop operation that places an order through c.
func placeWith(c *Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if r := c.Place(ctx); !r.OK() {
			return r.Err
		}
		return nil
	}
}

// bareRate serves place-order from a bare Fiber app that decodes the body
// as stage 3 does (httpapi.DecodePlaceOrder) and answers 202 with the
// order's ID, and measures it with the same client as the app.
func bareRate(b *testing.B, d time.Duration) float64 {
	b.Helper()
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Post("/api/commands/place-order", func(c *fiber.Ctx) error {
		cmd, err := httpapi.DecodePlaceOrder(c.Body())
		if err != nil {
			return c.Status(http.StatusUnprocessableEntity).SendString(err.Error())
		}
		return httpapi.AnswerAccepted(c, order.Ack{ID: cmd.ID, CommandID: order.NewID().String()})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = f.Listener(ln) }()
	defer func() { _ = f.ShutdownWithTimeout(5 * time.Second) }()
	c := NewClient("http://"+ln.Addr().String(), 3, newHTTPClient(16))
	defer c.http.CloseIdleConnections()
	return closedLoop(b, benchClients, d, placeWith(c)).rate()
}
