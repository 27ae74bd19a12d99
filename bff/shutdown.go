package bff

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
)

// countRequests counts the requests whose handlers are running, for
// Shutdown.
func (s *Server) countRequests(c *fiber.Ctx) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	return c.Next()
}

// quietFor is how long no handler may run before Shutdown stops waiting
// for the connections still open.
const quietFor = time.Second

// Shutdown stops listening and waits up to timeout for the requests in
// flight to finish. fasthttp counts a connection that was opened but has
// not sent its first byte as active until its read timeout: HTTP clients
// dial spare connections that they may never use. So once no handler has
// run for quietFor, what is left open carries no request, and Shutdown
// returns without waiting for it. It fails only when a request was still
// running at the deadline.
func (s *Server) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.app.ShutdownWithContext(ctx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var quietSince time.Time
	for {
		select {
		case err := <-done:
			if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) && s.running.Load() == 0 {
				return nil
			}
			return err
		case now := <-tick.C:
			switch {
			case s.running.Load() > 0:
				quietSince = time.Time{}
			case quietSince.IsZero():
				quietSince = now
			case now.Sub(quietSince) >= quietFor:
				cancel()
			}
		}
	}
}
