package bff

import (
	"bytes"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/metrics"
)

// metricsRoutes counts every response by status code and serves
// GET /metrics: this process's counters and gauges in Prometheus's text
// format (each instance of the app exposes its own; Prometheus sums them).
//
// It goes before the access log, so that a scrape every few seconds does
// not fill the log, and around it, so that the count sees the status that
// the error handler chose.
func (s *Server) metricsRoutes(app *fiber.App) {
	reg := s.cfg.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
		s.cfg.Metrics = reg // the architecture page's live panel reads it too
	}
	requests := reg.CounterVec(metrics.HTTPRequests, "HTTP requests answered, by status code.", "code")
	reg.GaugeFunc(metrics.StageActive, "The stage now active: 0, 1, 2 or 3.", func() float64 {
		n, _ := s.cfg.Switch.Active()
		return float64(n)
	})
	app.Use(func(c *fiber.Ctx) error {
		err := c.Next()
		requests.With(strconv.Itoa(c.Response().StatusCode())).Inc()
		return err
	})
	app.Use(s.countSides(reg)) // live.go
	app.Get("/metrics", func(c *fiber.Ctx) error {
		var b bytes.Buffer
		if err := reg.WriteText(c.UserContext(), &b); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, metrics.ContentType)
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return c.Send(b.Bytes())
	})
}
